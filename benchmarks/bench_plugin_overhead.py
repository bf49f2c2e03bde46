"""Training-step overhead of each method plug-in against the vanilla step.

Digits DCGAN (8x8, scikit-learn's bundled digits, 1,797 samples), batch 64, one torch
thread. For each plug-in: median time of a full GAN step (D step + G step) with the
plug-in installed, divided by the vanilla step's median, interleaved in one process on
the same model weights and batches. Also the LDMD detector alone (bank of all digits,
k = 5) as a share of the vanilla step.

    python benchmarks/bench_plugin_overhead.py [--steps 60] [--batch 64] [--model auto|project|local]

``--model project`` uses modecover.models.gan; ``local`` a DCGAN written here that calls
the hooks in the order plugins.py documents (used while the project GAN is absent);
``auto`` picks the project GAN when it imports.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from modecover.methods.cft import CommonFeatureTraining
from modecover.methods.deligan import DeLiGAN
from modecover.methods.dpm import DPM
from modecover.methods.edge import EdgeLoss
from modecover.methods.ldmd import LDMD
from modecover.methods.mean_rescaling import MeanRescaling
from modecover.methods.topk import TopK
from modecover.models.base import GenerativeModel
from modecover.plugins import DiscriminatorContext, GeneratorContext, Hooks

LATENT = 32


class LocalDigitsDCGAN(GenerativeModel):
    """Non-saturating DCGAN for 1x8x8 images, following plugins.py's call order."""

    family = "gan"

    def __init__(self, latent_dim: int = LATENT, extra_generator_params=()):
        super().__init__({"latent_dim": latent_dim})
        self.generator = nn.Sequential(
            nn.Linear(latent_dim, 128 * 2 * 2), nn.Unflatten(1, (128, 2, 2)), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
        )
        self.features = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten()
        )
        self.head = nn.Linear(128 * 2 * 2, 1)
        self.opt_g = torch.optim.Adam([*self.generator.parameters(), *extra_generator_params], 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam([*self.features.parameters(), *self.head.parameters()], 2e-4, betas=(0.5, 0.999))

    def discriminate(self, x):
        return self.head(self.features(x)).reshape(-1)

    def perception_features(self, x):
        return self.features(x)

    @staticmethod
    def generator_loss_per_sample(d_fake):
        return F.softplus(-d_fake)

    def train_step(self, real, hooks, step, weights=None):
        b = real.shape[0]
        prior = torch.randn(b, hooks.prior_dim(self.config["latent_dim"]))
        with torch.no_grad():
            fake = self.generator(hooks.latents(prior))
        d_real, d_fake = self.discriminate(real), self.discriminate(fake)
        dctx = DiscriminatorContext(step, real, fake, d_real, d_fake, self)
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean() + hooks.discriminator_loss(dctx)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        prior = torch.randn(b, hooks.prior_dim(self.config["latent_dim"]))
        z = hooks.latents(prior)
        fake = self.generator(z)
        d_fake = self.discriminate(fake)
        per_sample = self.generator_loss_per_sample(d_fake)
        gctx = GeneratorContext(step, real, z, prior, fake, d_fake, per_sample, self)
        w = hooks.generator_weights(gctx)
        loss_g = (per_sample if w is None else per_sample * w).mean() + hooks.generator_loss(gctx)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.detach().item(), **gctx.log}


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


def build_model(kind: str, plugins):
    extra = [p for plugin in plugins for p in plugin.parameters()]
    if kind == "local":
        return LocalDigitsDCGAN(extra_generator_params=extra)
    raise SystemExit("--model project: wire modecover.models.gan here once it exists")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--model", choices=["auto", "project", "local"], default="auto")
    args = parser.parse_args()
    torch.set_num_threads(1)
    kind = args.model
    if kind == "auto":
        try:
            import modecover.models.gan  # noqa: F401

            kind = "project"
        except ModuleNotFoundError:
            kind = "local"
    data = digits()
    factories = plugin_factories(data)
    runs = {}
    for name, make in factories.items():
        torch.manual_seed(0)
        plugins = make()
        runs[name] = (build_model(kind, plugins), Hooks(plugins), [])
    gen = torch.Generator().manual_seed(1)
    batches = [data[torch.randint(len(data), (args.batch,), generator=gen)] for _ in range(args.steps + 5)]
    for step, real in enumerate(batches):
        for name, (model, hooks, times) in runs.items():  # interleaved: same load for every variant
            t0 = time.perf_counter()
            model.train_step(real, hooks, step)
            if step >= 5:  # warm-up (LDMD builds its bank at step 0)
                times.append(time.perf_counter() - t0)
    base = statistics.median(runs["vanilla"][2])
    print(f"model: {kind} digits DCGAN (1x8x8, latent {LATENT}), batch {args.batch}, {args.steps} timed steps, 1 thread")
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


if __name__ == "__main__":
    main()
