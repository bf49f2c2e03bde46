"""Training time per step of the flow with affine against spline couplings (docs/training.md, "Flow").

Builds the B2 ring flow (6 couplings, MLP 2 x 64; ``modecover.bench.suites.B2_FAMILIES``) once
with each coupling (the spline with ``--bins`` bins on [-``--tail-bound``, ``--tail-bound``]),
then alternates blocks of ``--steps`` training steps at batch 256 on ring points between the
two (interleaved, so machine load hits both alike), on one torch thread. Prints the median
ms/step over ``--repeats`` blocks and the ratio.

    .venv/bin/python benchmarks/bench_flow_coupling.py [--steps 50] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from _machine import write_timings
from modecover.bench.suites import B2_FAMILIES
from modecover.data.mixtures import MIXTURES
from modecover.models import build_model
from modecover.plugins import Hooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per coupling")
    parser.add_argument("--bins", type=int, default=8)
    parser.add_argument("--tail-bound", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, _ = MIXTURES["ring"]().sample(5000, seed=0)
    x = torch.from_numpy(x).float()
    base = {k: v for k, v in B2_FAMILIES["Flow"].items() if k != "family"}
    changes = {"affine": {"coupling": "affine"},
               "spline": {"coupling": "spline", "bins": args.bins, "tail_bound": args.tail_bound}}
    models, times = {}, {name: [] for name in changes}
    for name, change in changes.items():
        torch.manual_seed(0)
        models[name] = build_model("flow", {**base, **change, "data_shape": [2]})
    gen = torch.Generator().manual_seed(0)
    hooks = Hooks()

    def run(name: str, n: int) -> None:
        for step in range(n):
            models[name].train_step(x[torch.randint(len(x), (256,), generator=gen)], hooks, step)

    for name in changes:
        run(name, 5)  # warm-up
    for _ in range(args.repeats):
        for name in changes:
            start = time.perf_counter()
            run(name, args.steps)
            times[name].append((time.perf_counter() - start) / args.steps)
    med = {name: 1e3 * statistics.median(v) for name, v in times.items()}
    for name in changes:
        params = sum(p.numel() for p in models[name].parameters())
        print(f"{name:7s} {params:7d} parameters  {med[name]:7.2f} ms/step")
    print(f"spline / affine: {med['spline'] / med['affine']:.2f}x")
    write_timings("bench_flow_coupling", {"seconds_per_step": times}, settings=vars(args))


if __name__ == "__main__":
    main()
