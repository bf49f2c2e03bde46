"""Precision/recall/density/coverage: modecover vs the prdc package, and vs the matmul floor.

Two parts, each timed in one process on the same data:

1. ``n`` real / ``n`` fake random float32 features of dimension ``d``, ``--repeats``
   interleaved rounds of: modecover's ``prdc(real, fake, k=K)`` with ``--threads`` threads,
   with its default tile products (bfloat16 at this width on a CPU that multiplies bfloat16
   natively) and with float32 products (``neighbors.products("float32")``);
   ``prdc.compute_prdc(real, fake, K)`` with ``n_jobs`` = ``--threads`` (and one BLAS
   thread per job, so both sides run as many threads); ``prdc.compute_prdc`` as shipped
   (``n_jobs=8``, BLAS threads unrestricted); and the *symmetric product floor*: the
   tile products modecover must do, alone (half of each within-set product,
   d(a, b) = d(b, a), plus the whole real x fake product), over the same tiles, in float32
   and in bfloat16. Reported:
   medians (ratio of medians) with the fastest beside them, and whether the four values
   are identical.
2. ``big_n`` / ``big_n`` (run in a child process so its peak resident memory is its own):
   modecover's time against the same product floor measured two ways: *paired* (after each
   tile product inside the run, the same product is repeated into a scratch buffer and
   timed; that time is subtracted from the run's wall time) and as a *separate pass* over
   the same tiles after the run. And the peak RSS.

    .venv/bin/python benchmarks/bench_prdc.py --skip-big --repeats 3   # part 1, n=10k, d=2048
    .venv/bin/python benchmarks/bench_prdc.py --skip-small             # part 2, big_n=50k
    .venv/bin/python benchmarks/bench_prdc.py --quick                  # small sizes, seconds
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

from _inputs import gaussian_features
from _machine import write_timings
from modecover import neighbors
from modecover.metrics.prdc import prdc
from modecover.neighbors import _counts, _precision, _symmetric, _tiles
from modecover.neighbors._machine import _run_tasks, _tile_size, _torch_settings

KEYS = ("precision", "recall", "density", "coverage")


def product_floor(real: np.ndarray, fake: np.ndarray, threads: int, block_size: int | None = None,
                  dtype: torch.dtype = torch.float32) -> float:
    """Seconds for the tile products modecover must do, alone and run the way it runs them
    (row blocks on ``threads`` worker threads of one torch thread each): within each set the
    tiles on and above the diagonal (symmetry), across the sets every tile. ``dtype``:
    float32 (``addmm`` with the norms, as float32 tiles) or bfloat16 (the bare product)."""
    size = _tile_size(block_size)
    total = 0.0
    for a, b, within in ((real, real, True), (fake, fake, True), (real, fake, False)):
        ta, tb = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
        sq = torch.from_numpy(np.einsum("ij,ij->i", b, b))
        blocks = list(_tiles._blocks(len(a), size))

        def row_block(i, ta=ta, tb=tb, sq=sq, blocks=blocks, within=within, b=b):
            rows = blocks[i]
            out = torch.empty(rows.stop - rows.start, min(size, len(b)), dtype=dtype)
            for cols in (blocks[i:] if within else _tiles._blocks(len(b), size)):
                tile = out[:, : cols.stop - cols.start]
                if dtype == torch.float32:
                    torch.addmm(sq[cols], ta[rows], tb[cols].T, alpha=-2.0, out=tile)
                else:
                    torch.mm(ta[rows], tb[cols].T, out=tile)

        with _torch_settings(1 if threads > 1 else threads):
            start = time.perf_counter()
            _run_tasks(row_block, list(range(len(blocks))), threads)
            total += time.perf_counter() - start
    return total


@contextlib.contextmanager
def timed_products(paired: bool = False):
    """Accumulate the time modecover spends inside its tile products (``spent[0]``).

    ``paired``: after each tile product, time a second, identical product into a scratch
    buffer; ``spent[1]`` sums those (a floor measured right next to the real work, under
    the same machine load; the caller subtracts it from the run's wall time).
    """
    spent = [0.0, 0.0]
    original = _tiles._cross_tile
    scratch = {}

    def timed(pa, pb, rows, cols, out):
        start = time.perf_counter()
        tile = original(pa, pb, rows, cols, out)
        spent[0] += time.perf_counter() - start
        if paired:
            buf = scratch.get(tile.shape)
            if buf is None:
                buf = scratch.setdefault(tile.shape, torch.empty_like(tile))
            start = time.perf_counter()
            _tiles._squared_terms(pa, pb, rows, cols, buf)
            spent[1] += time.perf_counter() - start
        return tile

    tiled = (_counts, _symmetric)  # the modules whose tiles PRDC computes (counts, k-NN within a set)
    for module in tiled:
        module._cross_tile = timed
    try:
        yield spent
    finally:
        for module in tiled:
            module._cross_tile = original


def run_modecover(real, fake, k, threads, paired: bool = False):
    """(values, seconds, seconds inside the tile products[, paired floor seconds]).

    The product times are summed over the ``threads`` worker threads, which run side by
    side, so their wall-time share is the sum divided by ``threads``; that is what is
    reported and what the paired repeats add to the run's wall time (and is subtracted).
    """
    with timed_products(paired) as spent:
        start = time.perf_counter()
        values = prdc(real, fake, k=k, threads=threads)
        total = time.perf_counter() - start
    in_run, repeats = spent[0] / threads, spent[1] / threads
    if paired:
        return values, total - repeats, in_run, repeats
    return values, total, in_run


def prdc_package_compute(real, fake, k, n_jobs: int | None = None):
    """``prdc.compute_prdc``; with ``n_jobs`` its sklearn distance calls use that many jobs
    of one BLAS thread each (the package hard-codes ``n_jobs=8``)."""
    import prdc.prdc as package
    import sklearn.metrics
    from threadpoolctl import threadpool_limits

    if n_jobs is None:
        with contextlib.redirect_stdout(io.StringIO()):
            return package.compute_prdc(real, fake, k)
    original = package.compute_pairwise_distance

    def distances(x, y=None):
        return sklearn.metrics.pairwise_distances(x, x if y is None else y, metric="euclidean", n_jobs=n_jobs)

    package.compute_pairwise_distance = distances
    try:
        with threadpool_limits(limits=1, user_api="blas"), contextlib.redirect_stdout(io.StringIO()):
            return package.compute_prdc(real, fake, k)
    finally:
        package.compute_pairwise_distance = original


def part_small(n: int, d: int, k: int, threads: int, repeats: int) -> dict:
    real, fake = gaussian_features(n, d, 0), gaussian_features(n, d, 1, scale=1.05, shift=0.02)
    times = {"modecover": [], "modecover_float32": [], "prdc_same_threads": [], "prdc_shipped": [], "floor": [],
             "floor_bfloat16": []}
    for _ in range(repeats):  # interleaved: the machine may be shared
        start = time.perf_counter()
        values = prdc(real, fake, k=k, threads=threads)
        times["modecover"].append(time.perf_counter() - start)
        with neighbors.products("float32"):
            start = time.perf_counter()
            values_float32 = prdc(real, fake, k=k, threads=threads)
            times["modecover_float32"].append(time.perf_counter() - start)
        start = time.perf_counter()
        expected = prdc_package_compute(real, fake, k, n_jobs=threads)
        times["prdc_same_threads"].append(time.perf_counter() - start)
        start = time.perf_counter()
        shipped = prdc_package_compute(real, fake, k)
        times["prdc_shipped"].append(time.perf_counter() - start)
        times["floor"].append(product_floor(real, fake, threads))
        times["floor_bfloat16"].append(product_floor(real, fake, threads, dtype=torch.bfloat16))
    return {
        "n": n, "d": d, "k": k, "times": times, "values": values, "values_float32": values_float32,
        "bfloat16": _precision._use_bfloat16(d, float(n) * n * d),
        "expected": {key: float(expected[key]) for key in KEYS},
        "shipped": {key: float(shipped[key]) for key in KEYS},
    }


def part_big(n: int, d: int, k: int, threads: int, separate_floor: bool) -> dict:
    real, fake = gaussian_features(n, d, 2), gaussian_features(n, d, 3, scale=1.05, shift=0.02)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    values, total, products, paired_floor = run_modecover(real, fake, k, threads, paired=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    dtype = torch.bfloat16 if _precision._use_bfloat16(d, float(n) * n * d) else torch.float32
    floor = product_floor(real, fake, threads, dtype=dtype) if separate_floor else None
    return {
        "n": n, "d": d, "k": k, "products": str(dtype).removeprefix("torch."), "modecover_s": total,
        "floor_s": floor, "in_run_products_s": products,
        "paired_floor_s": paired_floor,
        "peak_rss_bytes": peak, "rss_after_data_bytes": rss_data, "values": values,
    }


def _stat_row(name: str, runs: list[float]) -> str:
    return f"| {name} | {np.median(runs):.2f} | {min(runs):.2f} |"


def markdown(small: dict | None, big: dict | None, threads: int) -> str:
    lines = [f"threads = {threads}, torch {torch.__version__}", ""]
    if small:
        t = small["times"]
        same = all(small["values"][key] == small["expected"][key] == small["values_float32"][key] for key in KEYS)
        diff = max(abs(small["values"][key] - small["expected"][key]) for key in KEYS)
        ours, ours32 = t["modecover"], t["modecover_float32"]
        floor = t["floor_bfloat16"] if small["bfloat16"] else t["floor"]

        def versus(name, runs):
            return (f"{name}: vs prdc (same threads) **{np.median(t['prdc_same_threads']) / np.median(runs):.2f}x** "
                    f"(fastest {min(t['prdc_same_threads']) / min(runs):.2f}x), vs prdc as shipped "
                    f"**{np.median(t['prdc_shipped']) / np.median(runs):.2f}x** "
                    f"(fastest {min(t['prdc_shipped']) / min(runs):.2f}x)")

        lines += [
            f"**{small['n']:,} real / {small['n']:,} fake, d = {small['d']}, k = {small['k']}**, "
            f"median of {len(ours)} interleaved rounds (fastest beside it)", "",
            "| | median s | fastest s |", "|---|---|---|",
            _stat_row(f"prdc.compute_prdc, n_jobs={threads}, 1 BLAS thread per job", t["prdc_same_threads"]),
            _stat_row("prdc.compute_prdc as shipped (n_jobs=8)", t["prdc_shipped"]),
            _stat_row(f"modecover prdc (default: {'bfloat16' if small['bfloat16'] else 'float32'} tile products)",
                      ours),
            _stat_row("modecover prdc, float32 tile products", ours32),
            _stat_row("symmetric product floor, float32 (addmm)", t["floor"]),
            _stat_row("symmetric product floor, bfloat16 (mm)", t["floor_bfloat16"]),
            "", versus("modecover (default)", ours), "", versus("modecover (float32 products)", ours32), "",
            f"modecover (default) = **{np.median(ours) / np.median(floor):.2f}x** the floor of its own products "
            f"(fastest {min(ours) / min(floor):.2f}x), {np.median(ours) / np.median(t['floor']):.2f}x the float32 "
            f"floor; float32 products = {np.median(ours32) / np.median(t['floor']):.2f}x the float32 floor",
            "", "all times (s): " + "; ".join(f"{key} {[round(v, 2) for v in vals]}" for key, vals in t.items()),
            "", f"values identical to prdc: **{same}** (max abs difference {diff:.3g}); "
            + ", ".join(f"{key} {small['values'][key]:.6g}" for key in KEYS), "",
        ]
    if big:
        lines += [
            f"**{big['n']:,} real / {big['n']:,} fake, d = {big['d']}, k = {big['k']}**, "
            f"{big['products']} tile products", "",
            "| | value |", "|---|---|",
            f"| modecover prdc (wall, paired repeats subtracted) | {big['modecover_s']:.1f} s |",
            f"| tile products inside that run (summed over the workers / {threads}) | "
            f"{big['in_run_products_s']:.1f} s |",
            f"| floor, paired: the same products repeated right after each tile (summed / {threads}) | "
            f"{big['paired_floor_s']:.1f} s |",
            f"| **ratio to the paired floor** | **{big['modecover_s'] / big['paired_floor_s']:.2f}x** |",
        ]
        if big["floor_s"] is not None:
            lines += [
                f"| floor, separate pass over the same tiles | {big['floor_s']:.1f} s |",
                f"| **ratio to the separate-pass floor** | **{big['modecover_s'] / big['floor_s']:.2f}x** |",
            ]
        lines += [
            f"| **peak RSS** | **{big['peak_rss_bytes'] / 2**30:.2f} GiB** "
            f"(after generating the data: {big['rss_after_data_bytes'] / 2**30:.2f} GiB) |",
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
    parser.add_argument("--repeats", type=int, default=3, help="part 1: interleaved rounds (median and fastest)")
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
        big = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                        text=True).stdout.strip().splitlines()[-1])
    print(markdown(small, big, args.threads))
    by_size = {args.n: {"small": small}} if small is not None else {}  # one file per set size
    if big is not None:
        by_size.setdefault(args.big_n, {})["big"] = big
    for n, timings in by_size.items():
        write_timings(f"bench_prdc_{n}", timings, settings=vars(args))


if __name__ == "__main__":
    main()
