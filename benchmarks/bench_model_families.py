"""Training speed of the VAE, flow and diffusion families on the 8-mode ring (docs/models.md).

Steps per second of ``train_step`` (batch 256, one torch thread) for each family with the
settings its ring test uses, against a *bare* step
measured in the same process: the family's own per-sample loss, mean, backward and Adam
step on a deep copy, with no input checks, EMA or logging around it. Variants run
interleaved step by step so machine load hits them alike; times are medians. The last
column is the time to draw 2500 samples (diffusion: T = 100 denoiser passes).

    .venv/bin/python benchmarks/bench_model_families.py [--steps 300] [--batch 256]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Callable

import torch

from _machine import write_timings
from modecover.data.mixtures import ring
from modecover.models.diffusion import Diffusion, DiffusionConfig
from modecover.models.flow import Flow, FlowConfig
from modecover.models.vae import VAE, VAEConfig
from modecover.plugins import Hooks

# the configs of tests/test_<family>.py::test_learns_the_ring
FAMILIES: dict[str, Callable[[], torch.nn.Module]] = {
    "vae": lambda: VAE(VAEConfig(beta=0.1, logcosh_alpha=100.0)),
    "flow": lambda: Flow(FlowConfig(coupling_layers=6, hidden=64)),
    "diffusion": lambda: Diffusion(DiffusionConfig(lr=2e-3, ema_decay=0.99)),
}


def bare_loss(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """The family's batch loss with nothing around it."""
    if isinstance(model, VAE):
        return lambda x: model.per_sample_loss(x)[0].mean()
    if isinstance(model, Flow):
        return lambda x: -model.log_prob(x).mean()
    return lambda x: model.per_sample_loss(x).mean()


def bare_step(model) -> Callable[[torch.Tensor, int], None]:
    copy_ = copy.deepcopy(model)
    loss_fn = bare_loss(copy_)
    params = copy_.denoiser.parameters() if isinstance(copy_, Diffusion) else copy_.parameters()
    opt = torch.optim.Adam(params, lr=copy_.settings.lr)

    def run(real: torch.Tensor, step: int) -> None:
        loss = loss_fn(real)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = torch.from_numpy(ring().sample(20_000, seed=0)[0])
    gen = torch.Generator().manual_seed(0)
    batches = [data[torch.randint(len(data), (args.batch,), generator=gen)] for _ in range(args.steps + 10)]
    hooks = Hooks()

    torch.manual_seed(0)
    rows = []
    raw: dict[str, dict] = {}
    for family, make in FAMILIES.items():
        model = make()
        runs = {
            "bare (reference)": bare_step(model),
            "train_step": lambda real, step, m=model: m.train_step(real, hooks, step),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for step, real in enumerate(batches):
            for name, run in runs.items():
                t0 = time.perf_counter()
                run(real, step)
                if step >= 10:  # warm-up
                    times[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model.sample(2500)
        sample_s = time.perf_counter() - t0
        raw[family] = {"step_seconds": times, "sample_2500_seconds": sample_s}
        base = statistics.median(times["bare (reference)"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append((family, name, med, med / base, sample_s if name == "train_step" else None))

    print(f"8-mode ring, batch {args.batch}, {args.steps} timed steps, 1 torch thread\n")
    print("| family | variant | median step (ms) | steps/s | time ratio to bare step | 2500 samples (s) |")
    print("|---|---|---:|---:|---:|---:|")
    for family, name, med, ratio, sample_s in rows:
        sample = "" if sample_s is None else f"{sample_s:.2f}"
        print(f"| {family} | {name} | {med * 1e3:.2f} | {1 / med:.0f} | {ratio:.2f} | {sample} |")
    write_timings("bench_model_families", raw, settings=vars(args))


if __name__ == "__main__":
    main()
