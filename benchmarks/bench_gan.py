"""GAN training speed on the 8-mode ring (docs/models.md, "GAN").

Steps per second of ``GAN.train_step`` (one D step + one G step, batch 64, one torch
thread) for the default MLP config with each objective and PacGAN degree, against a
*bare* non-saturating step written here in plain PyTorch on the same networks (no hooks,
no contexts, no packing): the reference measured in the same process. Variants run
interleaved step by step so machine load hits them alike; times are medians.

    .venv/bin/python benchmarks/bench_gan.py [--steps 300] [--batch 64]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from _machine import write_timings
from modecover.data.mixtures import ring
from modecover.models.gan import GAN, GANConfig
from modecover.plugins import Hooks


class BareStep:
    """The non-saturating GAN step with nothing around it: the reference."""

    def __init__(self, model: GAN):
        self.g = copy.deepcopy(model.generator)
        self.d = copy.deepcopy(model.discriminator)
        cfg = model.settings
        self.latent_dim = cfg.latent_dim
        self.opt_g = torch.optim.Adam(self.g.parameters(), cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), cfg.lr_d, betas=cfg.betas)

    def __call__(self, real: torch.Tensor) -> None:
        b = real.shape[0]
        with torch.no_grad():
            fake = self.g(torch.randn(b, self.latent_dim))
        loss_d = F.softplus(-self.d(real)).mean() + F.softplus(self.d(fake)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        loss_g = F.softplus(-self.d(self.g(torch.randn(b, self.latent_dim)))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()


VARIANTS = {
    "ns": {},
    "hinge": {"loss": "hinge"},
    "wgan-gp": {"loss": "wgan-gp"},
    "ns, pack 2": {"pack": 2},
    "ns, pack 4": {"pack": 4},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = torch.from_numpy(ring().sample(10_000, seed=0)[0])
    gen = torch.Generator().manual_seed(0)
    batches = [data[torch.randint(len(data), (args.batch,), generator=gen)] for _ in range(args.steps + 10)]

    torch.manual_seed(0)
    models = {name: GAN(GANConfig(**kw)) for name, kw in VARIANTS.items()}
    bare = BareStep(models["ns"])
    hooks = Hooks()
    runs = {"bare PyTorch (reference)": lambda real, step: bare(real)}
    runs.update({name: (lambda real, step, m=m: m.train_step(real, hooks, step)) for name, m in models.items()})
    times: dict[str, list[float]] = {name: [] for name in runs}
    for step, real in enumerate(batches):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run(real, step)
            if step >= 10:  # warm-up
                times[name].append(time.perf_counter() - t0)

    base = statistics.median(times["bare PyTorch (reference)"])
    cfg = models["ns"].settings
    print(
        f"8-mode ring, MLP G/D (hidden {cfg.hidden}, depth {cfg.depth}, latent {cfg.latent_dim}), "
        f"batch {args.batch}, {args.steps} timed steps, 1 torch thread\n"
    )
    print("| variant | median step (ms) | steps/s | time ratio to bare step |")
    print("|---|---:|---:|---:|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med * 1e3:.2f} | {1 / med:.0f} | {med / base:.2f} |")
    write_timings("bench_gan", {"step_seconds": times}, settings=vars(args))


if __name__ == "__main__":
    main()
