"""Training speed with one torch thread against torch's default thread count, for every
example config (docs/training.md, "Threads"; ``modecover train``'s default).

For each config the model is built once per thread setting, then blocks of ``--steps``
training steps alternate between the two settings (interleaved, so machine load hits both
alike); the time per step is the median over ``--repeats`` blocks. Prints the parameter
count, both medians and the speed-up of one thread.

    .venv/bin/python benchmarks/bench_threads.py [--steps 20] [--repeats 5] [--configs gan-ring vae-digits]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from _machine import write_timings
from modecover.config import build_run, load_config
from modecover.train import seed_everything

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def stepper(config_path: Path):
    """A function running ``n`` training steps of the config's model on its data."""
    config = load_config(config_path)
    seed_everything(0)
    run = build_run(config)
    data, batch = run.data.x, config.train.batch_size
    gen = torch.Generator().manual_seed(0)
    step = [0]

    def steps(n: int) -> None:
        for _ in range(n):
            run.model.train_step(data[torch.randint(len(data), (batch,), generator=gen)], run.hooks, step[0])
            step[0] += 1

    n_params = sum(p.numel() for p in run.model.parameters())
    return steps, n_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per thread setting")
    parser.add_argument("--configs", nargs="*", default=sorted(p.stem for p in CONFIGS.glob("*.toml")))
    args = parser.parse_args()
    default = torch.get_num_threads()
    settings = sorted({1, default})
    print(f"torch {torch.__version__}, default threads {default}; {args.repeats} interleaved blocks of "
          f"{args.steps} steps, median ms/step")
    print(f"{'config':18s} {'params':>9s} " + " ".join(f"{f'{t} thr':>9s}" for t in settings) + "  1-thread speed-up")
    raw = {}
    for name in args.configs:
        runners = {}
        for t in settings:
            torch.set_num_threads(t)
            runners[t] = stepper(CONFIGS / f"{name}.toml")
            runners[t][0](3)  # warm-up
        times = {t: [] for t in settings}
        for _ in range(args.repeats):
            for t in settings:
                torch.set_num_threads(t)
                start = time.perf_counter()
                runners[t][0](args.steps)
                times[t].append((time.perf_counter() - start) / args.steps)
        med = {t: 1e3 * statistics.median(v) for t, v in times.items()}
        raw[name] = {"parameters": runners[1][1], "seconds_per_step_by_threads": times}
        print(f"{name:18s} {runners[1][1]:9d} " + " ".join(f"{med[t]:9.2f}" for t in settings)
              + f"  {med[default] / med[1]:.2f}x")
    write_timings("bench_threads", raw, settings=vars(args))


if __name__ == "__main__":
    main()
