"""Training-step overhead of each method plug-in against the vanilla step.

Digits DCGAN (8x8, scikit-learn's bundled digits, 1,797 samples), batch 64, one torch
thread. For each plug-in: median time of a full GAN step (D step + G step) with the
plug-in installed, divided by the vanilla step's median, interleaved in one process on
the same model weights and batches. Also the LDMD detector alone (bank of all digits,
k = 5) as a share of the vanilla step.

    python benchmarks/bench_plugin_overhead.py [--steps 60] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

from _machine import write_timings
from modecover.methods.cft import CommonFeatureTraining
from modecover.methods.deligan import DeLiGAN
from modecover.methods.dpm import DPM
from modecover.methods.edge import EdgeLoss
from modecover.methods.ldmd import LDMD
from modecover.methods.mean_rescaling import MeanRescaling
from modecover.methods.topk import TopK
from modecover.models.gan import GAN, GANConfig
from modecover.plugins import Hooks

LATENT = 32


def digits() -> torch.Tensor:
    x = load_digits().images.astype(np.float32) / 16.0 * 2 - 1
    return torch.from_numpy(x).unsqueeze(1)


def plugin_factories(data):
    return {
        "vanilla": lambda: [],
        "ldmd": lambda: [LDMD(data, k=5)],
        "dpm": lambda: [DPM(weight=1.0)],
        "cft": lambda: [CommonFeatureTraining(latent_dim=LATENT)],
        "mean_rescaling": lambda: [MeanRescaling()],
        "deligan": lambda: [DeLiGAN(latent_dim=LATENT)],
        "edge": lambda: [EdgeLoss(weight=1.0)],
        "topk": lambda: [TopK(steps_per_epoch=28)],
    }


def build_model(plugins):
    """The project's digits DCGAN (as configs/gan-digits.toml), plug-in parameters in G's optimizer."""
    extra = [p for plugin in plugins for p in plugin.parameters()]
    config = GANConfig(data_shape=(1, 8, 8), arch="dcgan", latent_dim=LATENT, output="tanh", lr_g=2e-4, lr_d=2e-4)
    return GAN(config, plugin_parameters=extra)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = digits()
    factories = plugin_factories(data)
    runs = {}
    for name, make in factories.items():
        torch.manual_seed(0)
        plugins = make()
        runs[name] = (build_model(plugins), Hooks(plugins), [])
    gen = torch.Generator().manual_seed(1)
    batches = [data[torch.randint(len(data), (args.batch,), generator=gen)] for _ in range(args.steps + 5)]
    for step, real in enumerate(batches):
        for name, (model, hooks, times) in runs.items():  # interleaved: same load for every variant
            t0 = time.perf_counter()
            model.train_step(real, hooks, step)
            if step >= 5:  # warm-up (LDMD builds its bank at step 0)
                times.append(time.perf_counter() - t0)
    base = statistics.median(runs["vanilla"][2])
    print(f"model: modecover.models.gan digits DCGAN (1x8x8, latent {LATENT}), batch {args.batch}, "
          f"{args.steps} timed steps, 1 thread")
    print(f"{'plug-in':16s} {'median step (ms)':>17s} {'ratio to vanilla':>17s}")
    for name, (_, _, times) in runs.items():
        med = statistics.median(times)
        print(f"{name:16s} {med * 1e3:17.2f} {med / base:17.2f}")

    ldmd = runs["ldmd"][1].plugins[0]
    model = runs["ldmd"][0]
    detector = ldmd.detector_for(model, 0, "cpu")
    fakes = [model.generator(torch.randn(args.batch, LATENT)).detach() for _ in range(20)]
    t_det = []
    for fake in fakes:
        t0 = time.perf_counter()
        detector(fake.reshape(args.batch, -1))
        t_det.append(time.perf_counter() - t0)
    det = statistics.median(t_det)
    print(f"LDMD detector alone (bank {detector.bank.shape[0]} x {detector.bank.shape[1]}, k={detector.k}): "
          f"{det * 1e3:.3f} ms = {det / base:.1%} of a vanilla step")
    write_timings("bench_plugin_overhead", {"step_seconds": {name: times for name, (_, _, times) in runs.items()},
                                            "ldmd_detector_seconds": t_det}, settings=vars(args))


if __name__ == "__main__":
    main()
