"""N seeds of the 2D MLP GAN as one ensemble (``modecover.ensemble``) against N separate runs.

The B1/B2 GAN (MLP 3 x 128, latent 8, non-saturating, batch 256, learning rate decayed
over the last half) on 5,000 points of the ring, ``--steps`` steps in 5 rounds per seed.
Separate: ``Run.from_config`` + ``Run.train`` per seed, one after the other, on one torch
thread (as the benchmark harness runs a job). Ensemble: the same runs built the same way,
trained by ``train_ensemble`` on 1 and on ``--threads`` threads. Repeats are
interleaved; median and fastest seconds per configuration, the throughput ratio (N
separate runs' time over the ensemble's, medians), and the largest parameter difference
between a member and its separate run.

    .venv/bin/python benchmarks/bench_ensemble.py --members 10 --steps 500 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch


def build(seed: int, steps: int):
    from modecover.config import Run, parse_config

    raw = {"data": {"name": "ring", "n": 5000, "seed": seed},
           "model": {"family": "gan", "hidden": 128, "depth": 3, "latent_dim": 8}, "methods": [],
           "train": {"steps": steps, "batch_size": 256, "rounds": 5, "seed": seed, "lr_decay": 0.5,
                     "checkpoint_every": steps, "sample_every": 0}}
    return Run.from_config(parse_config(raw, f"ensemble benchmark (seed {seed})"))


def separate(members: int, steps: int) -> tuple[float, list]:
    runs = [build(seed, steps) for seed in range(members)]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for run in runs:
            run.train(f"{out}/seed{run.config.train.seed}", progress=False)
    return time.perf_counter() - start, runs


def ensemble(members: int, steps: int) -> tuple[float, list]:
    from modecover.ensemble import train_ensemble

    runs = [build(seed, steps) for seed in range(members)]
    start = time.perf_counter()
    train_ensemble(runs)
    return time.perf_counter() - start, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    configs = {"separate runs, 1 thread": (separate, 1), "ensemble, 1 thread": (ensemble, 1),
               f"ensemble, {args.threads} threads": (ensemble, args.threads)}
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    differences = []
    for _ in range(args.repeats):
        trained = {}
        for name, (fn, threads) in configs.items():
            torch.set_num_threads(threads)
            elapsed, trained[name] = fn(args.members, args.steps)
            seconds[name].append(elapsed)
        for a, b in zip(trained["separate runs, 1 thread"], trained["ensemble, 1 thread"]):
            differences.append(max(float((p - q).abs().max()) for p, q in
                                   zip(a.model.state_dict().values(), b.model.state_dict().values())))
    base = statistics.median(seconds["separate runs, 1 thread"])
    print(f"{args.members} seeds x {args.steps} steps of batch 256; {args.repeats} interleaved repeats; "
          f"torch {torch.__version__}")
    print("| configuration | median s | fastest s | throughput vs separate runs |")
    print("|---|---|---|---|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f} | {base / median:.2f}x |")
    print(f"largest parameter difference, member vs its separate run: {max(differences):.2e}")


if __name__ == "__main__":
    main()
