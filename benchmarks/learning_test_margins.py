"""Spread over seeds of the quantities the learning tests assert (tests/models/test_gan.py,
test_vae.py, test_flow.py, test_diffusion.py, tests/test_train.py).

Each learning test is a function of its seed (``MODECOVER_TEST_SEED_OFFSET``, default 0);
its threshold must hold with a margin over seeds, and with any thread count, since
another CPU's kernels change a training trajectory the way another seed does. This runs
the tests' own helpers for seeds ``0 .. N-1`` and prints min / median / max of every
asserted quantity (JSON lines of every run go to ``--jsonl``).

    .venv/bin/python benchmarks/learning_test_margins.py --seeds 8 --threads 1 --workers 2
    .venv/bin/python benchmarks/learning_test_margins.py --seeds 4 --threads 2 --workers 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def _measure(job: tuple[str, int, int]) -> dict:
    name, seed, threads = job
    sys.path[:0] = [str(TESTS), str(TESTS / "models")]
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    if name == "gan_ns":
        import test_gan

        r = test_gan.ns_gan_ring_metrics(seed)
        values = {"modes_captured": r["modes_captured"], "hq_percent": r["hq_percent"]}
    elif name == "gan_hinge":
        import test_gan

        start, end = test_gan.hinge_ring_errors(seed)
        values = {"end_over_start": end / start}
    elif name == "gan_wgan_critic":
        import test_gan

        logs = test_gan.wgan_critic_logs(seed)
        gap = [log["d_real"] - log["d_fake"] for log in logs]
        penalty = [log["gradient_penalty"] for log in logs]
        values = {"gap_last20": float(np.mean(gap[-20:])), "gap_first3_abs": float(abs(np.mean(gap[:3]))),
                  "penalty_last20_over_first3": float(np.mean(penalty[-20:]) / np.mean(penalty[:3]))}
    elif name == "gan_wgan_generator":
        import test_gan

        start, end = test_gan.wgan_ring_errors(seed)
        values = {"end_over_start": end / start}
    elif name in ("vae", "flow", "diffusion"):
        module = __import__(f"test_{name}")
        r = module.ring_metrics(seed)
        values = {"modes_captured": r["modes_captured"], "hq_percent": r["hq_percent"]}
    elif name == "flow_spline":
        import test_flow

        r = test_flow.spline_ring_metrics(seed)
        values = {"modes_captured": r["modes_captured"], "hq_percent": r["hq_percent"]}
    elif name == "trainer_gan":
        import test_train

        with tempfile.TemporaryDirectory() as tmp:
            captured, near = test_train.trainer_gan_ring_capture(seed, Path(tmp))
        values = {"modes_captured": captured, "near_share": near}
    else:
        raise ValueError(f"unknown test {name!r}")
    return {"test": name, "seed": seed, "threads": threads, **{k: float(v) for k, v in values.items()}}


NAMES = ("gan_ns", "gan_hinge", "gan_wgan_critic", "gan_wgan_generator", "vae", "flow", "flow_spline", "diffusion",
         "trainer_gan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--workers", type=int, default=2, help="runs in parallel")
    parser.add_argument("--only", nargs="*", choices=NAMES, default=list(NAMES))
    parser.add_argument("--jsonl", type=Path, default=None)
    args = parser.parse_args()
    jobs = [(name, seed, args.threads) for name in args.only
            for seed in range(args.first_seed, args.first_seed + args.seeds)]
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(_measure, jobs):
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
    print(f"\nseeds {args.first_seed}..{args.first_seed + args.seeds - 1}, {args.threads} torch thread(s)")
    for name in args.only:
        mine = [r for r in rows if r["test"] == name]
        for key in [k for k in mine[0] if k not in ("test", "seed", "threads")]:
            vals = [r[key] for r in mine]
            print(f"{name:20s} {key:28s} min {min(vals):9.4g}  median {statistics.median(vals):9.4g}  "
                  f"max {max(vals):9.4g}")


if __name__ == "__main__":
    main()
