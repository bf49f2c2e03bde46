"""N seeds of the 2D MLP GAN as one ensemble (``modecover.ensemble``) against N separate runs.

The B1/B2 GAN (MLP 3 x 128, latent 8, non-saturating, batch 256, learning rate decayed
over the last half) on 5,000 points of the ring, ``--steps`` steps in 5 rounds per seed.
Separate: ``Run.from_config`` + ``Run.train`` per seed, one after the other, on one torch
thread (as the benchmark harness runs a job). Ensemble: the same runs built the same way,
trained by ``train_ensemble`` on 1 and on ``--threads`` threads. Floor: the batched
products of an ensemble step alone (recorded from ``train_ensemble``, replayed ``--steps``
times on random tensors of the same shapes and strides), on 1 and ``--threads`` threads;
the ensemble does these and its elementwise work, so its throughput cannot exceed the
floor's. Repeats are interleaved; median and fastest seconds per configuration, the
throughput ratio (N separate runs' time over the configuration's, medians), and the
largest parameter difference between a member and its separate run.

    .venv/bin/python benchmarks/bench_ensemble.py --members 10 --steps 500 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from _machine import write_timings


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


def recorded_products(members: int) -> list:
    """The batched products (``bmm``/``baddbmm``, forward and backward) of one ensemble step:
    operator and argument shapes and strides, recorded from ``train_ensemble``."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from modecover.ensemble import train_ensemble

    products = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten.bmm.default, torch.ops.aten.baddbmm.default):
                products.append((func, [(a.shape, a.stride()) for a in args if isinstance(a, torch.Tensor)]))
            return func(*args, **(kwargs or {}))

    rounds = 5  # build's schedule: one step per round
    with Record():
        train_ensemble([build(seed, rounds) for seed in range(members)])
    assert len(products) % rounds == 0
    return products[: len(products) // rounds]


def products_alone(products: list, steps: int) -> float:
    """Seconds to run the recorded products ``steps`` times on random tensors of the same
    shapes and strides: a floor under the ensemble's time, which does these and more."""
    def tensor(shape, stride):
        return torch.randn(1 + sum((n - 1) * s for n, s in zip(shape, stride))).as_strided(shape, stride)

    calls = [(func, [tensor(*arg) for arg in args]) for func, args in products]
    start = time.perf_counter()
    for _ in range(steps):
        for func, args in calls:
            func(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    products = recorded_products(args.members)

    def floor(members: int, steps: int) -> tuple[float, None]:
        return products_alone(products, steps), None

    configs = {"separate runs, 1 thread": (separate, 1), "ensemble, 1 thread": (ensemble, 1),
               f"ensemble, {args.threads} threads": (ensemble, args.threads),
               "floor: the ensemble's products alone, 1 thread": (floor, 1),
               f"floor: the ensemble's products alone, {args.threads} threads": (floor, args.threads)}
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
          f"torch {torch.__version__}; {len(products)} batched products per ensemble step")
    print("| configuration | median s | fastest s | throughput vs separate runs |")
    print("|---|---|---|---|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f} | {base / median:.2f}x |")
    print(f"largest parameter difference, member vs its separate run: {max(differences):.2e}")
    write_timings("bench_ensemble", {"seconds": seconds, "largest_parameter_difference": max(differences)},
                  settings=vars(args))


if __name__ == "__main__":
    main()
