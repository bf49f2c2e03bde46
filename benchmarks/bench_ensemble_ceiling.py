"""How much could training N small 2D GANs as one batched ensemble gain on this CPU?

Before building an ensemble trainer (N seeds of the B1/B2 MLP GAN stacked on a leading
axis, one batched matrix product per layer), measure its ceiling: the time of one
``GAN.train_step`` (the project GAN: MLP 3 x 128, latent 8, non-saturating, batch 256) on
one thread, against one step of N such GANs written as stacked ``torch.baddbmm`` layers
with the same losses and Adam (the ensemble's arithmetic, without its bookkeeping), on 1
and on ``--threads`` threads. Repeats are interleaved; medians and fastest are printed,
with the work per step in GFLOP/s, and the throughput ratio against N separate steps.

    .venv/bin/python benchmarks/bench_ensemble_ceiling.py --members 10 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def separate_step_seconds(steps: int) -> float:
    from modecover.models.gan import GAN, GANConfig
    from modecover.plugins import Hooks

    model, hooks, batch = GAN(GANConfig()), Hooks(), torch.randn(256, 2)
    for step in range(10):
        model.train_step(batch, hooks, step)
    start = time.perf_counter()
    for step in range(steps):
        model.train_step(batch, hooks, step)
    return (time.perf_counter() - start) / steps


def stacked_mlp(sizes: list[int], members: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [((torch.randn(members, i, o) / i**0.5).requires_grad_(), torch.zeros(members, 1, o, requires_grad=True))
            for i, o in zip(sizes[:-1], sizes[1:])]


def forward(layers, x: torch.Tensor, activation) -> torch.Tensor:
    for k, (w, b) in enumerate(layers):
        x = torch.baddbmm(b, x, w)
        if k < len(layers) - 1:
            x = activation(x)
    return x


def stacked_step_seconds(members: int, steps: int) -> float:
    generator = stacked_mlp([8, 128, 128, 128, 2], members)
    discriminator = stacked_mlp([2, 128, 128, 128, 1], members)
    opt_g = torch.optim.Adam([p for layer in generator for p in layer], 1e-3, betas=(0.5, 0.999))
    d_params = [p for layer in discriminator for p in layer]
    opt_d = torch.optim.Adam(d_params, 1e-3, betas=(0.5, 0.999))
    real = torch.randn(members, 256, 2)
    leaky = lambda v: F.leaky_relu(v, 0.2)  # noqa: E731

    def step() -> None:
        with torch.no_grad():
            fake = forward(generator, torch.randn(members, 256, 8), torch.relu)
        loss = (F.softplus(-forward(discriminator, real, leaky)) + F.softplus(forward(discriminator, fake, leaky)))
        opt_d.zero_grad(set_to_none=True)
        loss.mean(dim=(1, 2)).sum().backward()
        opt_d.step()
        for p in d_params:
            p.requires_grad_(False)  # as GAN._generator_step: D takes no gradient in G's step
        loss = F.softplus(-forward(discriminator, forward(generator, torch.randn(members, 256, 8), torch.relu), leaky))
        opt_g.zero_grad(set_to_none=True)
        loss.mean(dim=(1, 2)).sum().backward()
        opt_g.step()
        for p in d_params:
            p.requires_grad_(True)

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


# multiply-adds of one step of one GAN at batch 256 (MLP 3 x 128, latent 8): D step = G forward
# + D forward on real and fake + their backward (about twice the forward); G step = G and D
# forward + D's input gradients + G's backward
def flops_per_step(batch: int = 256, hidden: int = 128) -> float:
    g = 8 * hidden + 2 * hidden * hidden + hidden * 2
    d = 2 * hidden + 2 * hidden * hidden + hidden
    macs = batch * ((g + 2 * d + 2 * 2 * d) + (g + d + d + 2 * g))
    return 2.0 * macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"separate, 1 thread": [], "stacked, 1 thread": [],
                                    f"stacked, {args.threads} threads": []}
    for _ in range(args.repeats):
        torch.set_num_threads(1)
        runs["separate, 1 thread"].append(separate_step_seconds(args.steps) * args.members)
        runs["stacked, 1 thread"].append(stacked_step_seconds(args.members, args.steps // 2))
        torch.set_num_threads(args.threads)
        runs[f"stacked, {args.threads} threads"].append(stacked_step_seconds(args.members, args.steps // 2))
    base = statistics.median(runs["separate, 1 thread"])
    print(f"{args.members} members, one step each: median / fastest ms, GFLOP/s at the median, "
          f"throughput against {args.members} separate steps on one thread")
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        gflops = flops_per_step() * args.members / median / 1e9
        print(f"{name:22s} {median * 1e3:8.1f} {min(seconds) * 1e3:8.1f} ms  {gflops:6.1f} GFLOP/s  {base / median:5.2f}x")


if __name__ == "__main__":
    main()
