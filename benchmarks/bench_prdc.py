"""Precision/recall/density/coverage: modecover vs the prdc package, and vs the matmul floor.

Two parts (issue 2, "Benchmarks"), each timed in one process on the same data:

1. ``n`` real / ``n`` fake random float32 features of dimension ``d``: modecover's
   ``prdc(real, fake, k=K)`` against ``prdc.compute_prdc(real, fake, K)``; speed-up and
   whether the four values are identical.
2. ``big_n`` / ``big_n`` (run in a child process so its peak resident memory is its own):
   modecover's time as a ratio to the float32 matrix-product floor, i.e. the time spent in
   the blocked distance products themselves (real x real, fake x fake, real x fake),
   measured right next to the real work: after each block product the same product is
   repeated into a scratch buffer and timed (and its time is subtracted from modecover's),
   so both see the same machine load; ``--separate-floor`` also times the products alone
   in a second pass. And the peak RSS.

    .venv/bin/python benchmarks/bench_prdc.py                  # n=10k, big_n=50k, d=2048
    .venv/bin/python benchmarks/bench_prdc.py --quick          # small sizes, seconds
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from modecover import neighbors
from modecover.metrics.prdc import prdc

KEYS = ("precision", "recall", "density", "coverage")


def features(n: int, d: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """Gaussian float32 features, generated in chunks (no float64 copy of the whole set)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 4096):
        part = out[s : s + 4096]
        rng.standard_normal(part.shape, dtype=np.float32, out=part)
        part *= scale
        part += shift
    return out


def product_floor(real: np.ndarray, fake: np.ndarray, threads: int) -> float:
    """Seconds for the float32 distance products alone, blocked exactly as the engine blocks them."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        total = 0.0
        for a, b in ((real, real), (fake, fake), (real, fake)):
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            block = min(neighbors._choose_block(None, len(b)), len(a))
            out = torch.empty(block, len(b), dtype=torch.float32)
            sq = torch.from_numpy(np.einsum("ij,ij->i", b, b))
            start = time.perf_counter()
            for s in range(0, len(a), block):
                rows = slice(s, min(len(a), s + block))
                torch.addmm(sq, ta[rows], tb.T, alpha=-2.0, out=out[: rows.stop - rows.start])
            total += time.perf_counter() - start
        return total
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def timed_products(paired: bool = False):
    """Accumulate the time modecover spends inside its block products (for the in-run share).

    ``paired``: after each block product, time a second, identical product into a scratch
    buffer; ``spent[1]`` sums those (a floor measured right next to the real work, under
    the same machine load; the caller subtracts it from the run's wall time).
    """
    spent = [0.0, 0.0]
    original = neighbors._block_keys
    scratch = {}

    def timed(pa, pb, rows, out):
        start = time.perf_counter()
        keys = original(pa, pb, rows, out)
        spent[0] += time.perf_counter() - start
        if paired:
            buf = scratch.get(keys.shape)
            if buf is None:
                buf = scratch.setdefault(keys.shape, torch.empty_like(keys))
            start = time.perf_counter()
            torch.addmm(pb.sq, pa.x[rows], pb.x.T, alpha=-2.0, out=buf)
            spent[1] += time.perf_counter() - start
        return keys

    neighbors._block_keys = timed
    try:
        yield spent
    finally:
        neighbors._block_keys = original


def run_modecover(real, fake, k, threads, paired: bool = False):
    """(values, seconds, seconds inside the block products[, paired floor seconds])."""
    with timed_products(paired) as spent:
        start = time.perf_counter()
        values = prdc(real, fake, k=k, threads=threads)
        total = time.perf_counter() - start
    if paired:
        return values, total - spent[1], spent[0], spent[1]
    return values, total, spent[0]


def part_small(n: int, d: int, k: int, threads: int, repeats: int) -> dict:
    real, fake = features(n, d, 0), features(n, d, 1, scale=1.05, shift=0.02)
    ours, ref, products = [], [], []
    for _ in range(repeats):  # interleaved, best of: the machine may be shared
        values, total, in_run = run_modecover(real, fake, k, threads)
        ours.append(total)
        products.append(in_run)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            expected = prdc_package_compute(real, fake, k)
        ref.append(time.perf_counter() - start)
    floor = product_floor(real, fake, threads)
    return {
        "n": n, "d": d, "k": k, "modecover_s": min(ours), "prdc_s": min(ref), "floor_s": floor,
        "in_run_products_s": products[int(np.argmin(ours))],
        "values": values, "expected": {key: float(expected[key]) for key in KEYS},
    }


def prdc_package_compute(real, fake, k):
    import prdc as prdc_package

    return prdc_package.compute_prdc(real, fake, k)


def part_big(n: int, d: int, k: int, threads: int, separate_floor: bool) -> dict:
    real, fake = features(n, d, 2), features(n, d, 3, scale=1.05, shift=0.02)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    values, total, products, paired_floor = run_modecover(real, fake, k, threads, paired=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    floor = product_floor(real, fake, threads) if separate_floor else None
    return {
        "n": n, "d": d, "k": k, "modecover_s": total, "floor_s": floor, "in_run_products_s": products,
        "paired_floor_s": paired_floor,
        "peak_rss_bytes": peak, "rss_after_data_bytes": rss_data, "values": values,
    }


def markdown(small: dict | None, big: dict | None, threads: int) -> str:
    lines = [f"threads = {threads}, torch {torch.__version__}", ""]
    if small:
        same = all(small["values"][key] == small["expected"][key] for key in KEYS)
        diff = max(abs(small["values"][key] - small["expected"][key]) for key in KEYS)
        lines += [
            f"**{small['n']:,} real / {small['n']:,} fake, d = {small['d']}, k = {small['k']}**", "",
            "| | seconds | ratio |", "|---|---|---|",
            f"| prdc.compute_prdc | {small['prdc_s']:.2f} | 1.00 |",
            f"| modecover prdc | {small['modecover_s']:.2f} | **{small['prdc_s'] / small['modecover_s']:.2f}x faster** |",
            f"| float32 products inside the modecover run | {small['in_run_products_s']:.2f} | modecover = {small['modecover_s'] / small['in_run_products_s']:.2f}x these |",
            f"| float32 products alone, separate pass | {small['floor_s']:.2f} | modecover = {small['modecover_s'] / small['floor_s']:.2f}x these |",
            "", f"values identical to prdc: **{same}** (max abs difference {diff:.3g}); "
            + ", ".join(f"{key} {small['values'][key]:.6g}" for key in KEYS), "",
        ]
    if big:
        lines += [
            f"**{big['n']:,} real / {big['n']:,} fake, d = {big['d']}, k = {big['k']}**", "",
            "| | value |", "|---|---|",
            f"| modecover prdc | {big['modecover_s']:.1f} s |",
            f"| float32 distance products inside that run | {big['in_run_products_s']:.1f} s |",
            f"| ratio to those products | {big['modecover_s'] / big['in_run_products_s']:.2f}x |",
            f"| floor: the same products repeated right after each block (paired) | {big['paired_floor_s']:.1f} s |",
            f"| **ratio to the paired floor** | **{big['modecover_s'] / big['paired_floor_s']:.2f}x** |",
        ]
        if big["floor_s"] is not None:
            lines += [
                f"| float32 products alone, separate pass | {big['floor_s']:.1f} s |",
                f"| ratio to the separate-pass floor | {big['modecover_s'] / big['floor_s']:.2f}x |",
            ]
        lines += [
            f"| **peak RSS** | **{big['peak_rss_bytes'] / 2**30:.2f} GiB** (after generating the data: {big['rss_after_data_bytes'] / 2**30:.2f} GiB) |",
            "", ", ".join(f"{key} {big['values'][key]:.6g}" for key in KEYS), "",
        ]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="points per set, part 1 (vs prdc)")
    parser.add_argument("--big-n", type=int, default=50_000, help="points per set, part 2 (vs floor, RSS)")
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threads", type=int, default=neighbors.available_cores())
    parser.add_argument("--repeats", type=int, default=1, help="part 1: best of this many interleaved runs")
    parser.add_argument("--quick", action="store_true", help="n=2000, big-n=6000, d=256")
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--separate-floor", action="store_true",
                        help="part 2: also time the products alone in a second pass (doubles its time)")
    parser.add_argument("--part", choices=["big"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.big_n, args.d = 2000, 6000, 256
    if args.part == "big":
        print(json.dumps(part_big(args.big_n, args.d, args.k, args.threads, args.separate_floor)))
        return
    small = None if args.skip_small else part_small(args.n, args.d, args.k, args.threads, args.repeats)
    big = None
    if not args.skip_big:
        cmd = [sys.executable, __file__, "--part", "big", "--big-n", str(args.big_n), "--d", str(args.d),
               "--k", str(args.k), "--threads", str(args.threads)] + ["--separate-floor"] * args.separate_floor
        big = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    print(markdown(small, big, args.threads))


if __name__ == "__main__":
    main()
