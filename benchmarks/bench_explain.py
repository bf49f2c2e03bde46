"""explain() against plain PRDC on the same data: wall time and peak memory.

``n`` real and ``n`` fake random float32 features of dimension ``d``: the fakes shifted and
scaled a little as in ``bench_prdc.py`` (in 2048 dimensions that leaves almost every real
uncovered and every fake outside), or with ``--same`` drawn from the reals' distribution
(about half of each side inside, many pairs near a ball's boundary).
Each measurement runs in its own child process, so its peak resident memory (``ru_maxrss``)
is its own; the two alternate ``--repeats`` times and the fastest of each is reported (the
machine is shared; each record holds the 1-minute load average when the call started and
ended). Both use the same k and the neighbour engine's default threads.

    .venv/bin/python benchmarks/bench_explain.py --n 10000            # d = 2048
    .venv/bin/python benchmarks/bench_explain.py --n 50000 --repeats 1
    .venv/bin/python benchmarks/bench_explain.py --quick              # n = 2000, d = 256
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _inputs import gaussian_features  # the same chunked float32 Gaussian features as bench_prdc
from _machine import write_timings


def child(which: str, n: int, d: int, k: int, same: bool) -> dict:
    """Time one call in this process; report its peak RSS."""
    real = gaussian_features(n, d, 0)
    fake = gaussian_features(n, d, 1) if same else gaussian_features(n, d, 1, scale=1.05, shift=0.02)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    if which == "prdc":
        from modecover.metrics.prdc import prdc

        out = prdc(real, fake, k=k)
    else:
        from modecover.explain import explain

        e = explain(real, fake, k=k)
        out = {"coverage": e.coverage, "precision": e.precision, "missed_groups": len(e.missed_groups),
               "off_manifold_groups": len(e.off_manifold_groups)}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"which": which, "seconds": seconds, "peak_rss_gib": peak / 2**20, "data_gib": 2 * real.nbytes / 2**30,
            "peak_above_start_gib": (peak - base) / 2**20, "load_1min": [load_start, os.getloadavg()[0]], **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--same", action="store_true", help="fakes from the reals' distribution")
    parser.add_argument("--child", choices=("prdc", "explain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.n, args.d = 2000, 256
    if args.child:
        print(json.dumps(child(args.child, args.n, args.d, args.k, args.same)))
        return
    runs: dict[str, list[dict]] = {"prdc": [], "explain": []}
    for _ in range(args.repeats):
        for which in runs:
            cmd = [sys.executable, __file__, "--child", which, "--n", str(args.n), "--d", str(args.d),
                   "--k", str(args.k)] + ["--same"] * args.same
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            runs[which].append(res)
            print(json.dumps(res), flush=True)
    best = {w: min(r, key=lambda x: x["seconds"]) for w, r in runs.items()}
    assert best["explain"]["coverage"] == best["prdc"]["coverage"]
    assert best["explain"]["precision"] == best["prdc"]["precision"]
    print(f"n = {args.n}, d = {args.d}, k = {args.k}: prdc {best['prdc']['seconds']:.1f} s "
          f"({best['prdc']['peak_rss_gib']:.2f} GiB peak), explain {best['explain']['seconds']:.1f} s "
          f"({best['explain']['peak_rss_gib']:.2f} GiB peak): "
          f"{best['explain']['seconds'] / best['prdc']['seconds']:.2f}x")
    write_timings(f"bench_explain_n{args.n}", {"runs": runs}, settings=vars(args))


if __name__ == "__main__":
    main()
