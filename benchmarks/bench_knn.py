"""Exact k-NN with long lists (the DMPRA search's K-nearest-neighbour graph): time, the
share of the float64 re-check, and the whole search, against another engine version.

Data: ``planted_clusters`` of ``bench_loci.py`` (8 big clusters, 8 micro-clusters of 1 %),
float32, the input of ``bench_loci.py --scale``.

1. ``knn(x, None, k)`` timed ``--repeats`` times, interleaved with the ``--baseline`` engine
   (a single-file ``neighbors.py`` of a version before the engine became a package, e.g.
   ``git show 7eb0d79:src/modecover/neighbors.py``) when given;
   median and fastest. The re-check share is the time spent selecting the exact k nearest
   from the float32 candidate lists (float64 distances, sorting), summed over the worker
   threads, over the workers' total time (workers x wall).
2. ``--search``: ``modecover.dmpra.search`` on the same data, one child process per engine
   (so each peak RSS is its own): wall time, time in the k-NN graph, peak RSS; default
   settings, or every sample a reference with ``--no-subsample``.

    .venv/bin/python benchmarks/bench_knn.py --n 50000 --d 64 --k 1023 --baseline /tmp/neighbors_main.py
    .venv/bin/python benchmarks/bench_knn.py --search --n 50000 --d 64 --baseline /tmp/neighbors_main.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from modecover import neighbors
from modecover.neighbors import _knn, _symmetric, unchecked

sys.path.insert(0, str(Path(__file__).parent))
from _machine import write_timings  # noqa: E402
from bench_loci import planted_clusters, timed_neighbor_graph  # noqa: E402

# functions of each engine version that select the exact neighbours from the candidates, as
# (module, name): the current engine selects in its block and its symmetric k-NN
RECHECK = {"current": ((_knn, "_exact_from_topk"), (_symmetric, "_exact_from_topk")),
           "baseline": ((None, "_candidates_from_topk"), (None, "_select_exact"))}


def load_engine(path: str | None):
    """The current ``modecover.neighbors``, or the module in ``path``."""
    if path is None:
        return neighbors
    spec = importlib.util.spec_from_file_location("baseline_neighbors", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


class Recheck:
    """Sum of wall time inside the re-check functions of an engine, over all threads
    (``targets``: (module, name) pairs; module None: the engine's own module)."""

    def __init__(self, engine, targets):
        self.spent, self.lock = 0.0, threading.Lock()
        self.original = {(module or engine, name): getattr(module or engine, name) for module, name in targets}

    def __enter__(self):
        for (module, name), fn in self.original.items():
            setattr(module, name, self._timed(fn))
        return self

    def __exit__(self, *exc):
        for (module, name), fn in self.original.items():
            setattr(module, name, fn)

    def _timed(self, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.spent += time.perf_counter() - start
        return wrapper


def data(n: int, d: int, seed: int) -> np.ndarray:
    x, _ = planted_clusters(n, d=d, seed=seed, n_big=8, n_small=8, small_share=0.01)
    return x.astype(np.float32)


def part_knn(args) -> None:
    x = data(args.n, args.d, args.seed)
    engines = {"current": neighbors}
    if args.baseline:
        engines["baseline"] = load_engine(args.baseline)
    runs = {name: [] for name in engines}
    results = {}
    for _ in range(args.repeats):
        for name, engine in engines.items():
            with Recheck(engine, RECHECK[name]) as recheck:
                start = time.perf_counter()
                results[name] = engine.knn(x, None, args.k, threads=args.threads)
                wall = time.perf_counter() - start
            workers = args.threads if name == "current" else 1  # the baseline re-checks in one thread
            runs[name].append((wall, recheck.spent / (workers * wall)))
    print(f"knn(x, None, k={args.k}), n = {args.n}, d = {args.d}, threads = {args.threads}, "
          f"median of {args.repeats} interleaved runs (fastest beside it)\n")
    print("| engine | median s | fastest s | re-check share of the workers' time (median) |")
    print("|---|---|---|---|")
    for name, values in runs.items():
        walls = [w for w, _ in values]
        print(f"| {name} | {np.median(walls):.1f} | {min(walls):.1f} | {np.median([s for _, s in values]):.0%} |")
    if "baseline" in results:
        same = all(np.array_equal(a, b) for a, b in zip(results["current"], results["baseline"]))
        print(f"\nidentical lists and distances: {same}; speed-up (median): "
              f"{np.median([w for w, _ in runs['baseline']]) / np.median([w for w, _ in runs['current']]):.2f}x")
    print("\nall runs (s, share): " + "; ".join(f"{k} {[(round(w, 1), round(s, 2)) for w, s in v]}"
                                              for k, v in runs.items()))
    write_timings(f"bench_knn_n{args.n}_k{args.k}", {"knn_wall_s_recheck_share": runs}, settings=vars(args))


def search_child(args) -> None:
    """One search in this process; prints a JSON line (wall s, knn s, peak RSS GB, flagged)."""
    from modecover.dmpra import SearchConfig, search

    if args.baseline:
        unchecked.knn = load_engine(args.baseline).knn  # the search looks it up at call time
    x = data(args.n, args.d, args.seed)
    with timed_neighbor_graph() as timing:
        start = time.perf_counter()
        result = search(x, SearchConfig(reference_size=None) if args.no_subsample else SearchConfig())
        wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"wall": wall, "knn": timing["knn"], "peak_gb": peak,
                      "flagged": int(result.summary()["n_minority"])}))


def part_search(args) -> None:
    settings = "every sample a reference (reference_size=None)" if args.no_subsample else "default settings"
    print(f"modecover.dmpra.search, n = {args.n}, d = {args.d}, {settings}, one child process each\n")
    print("| engine | wall s | k-NN graph s | peak RSS GB | flagged |")
    print("|---|---|---|---|---|")
    rows = {}
    for name, baseline in (("current", None), ("baseline", args.baseline)):
        if name == "baseline" and not baseline:
            continue
        cmd = [sys.executable, __file__, "--search-child", "--n", str(args.n), "--d", str(args.d),
               "--seed", str(args.seed)] + (["--baseline", baseline] if baseline else []) + \
              (["--no-subsample"] if args.no_subsample else [])
        row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(f"| {name} | {row['wall']:.1f} | {row['knn']:.1f} | {row['peak_gb']:.2f} | {row['flagged']} |",
              flush=True)
        rows[name] = row
    reference = "all" if args.no_subsample else "subsample"
    write_timings(f"bench_knn_search_n{args.n}_{reference}", {"search": rows}, settings=vars(args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=1023)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=neighbors.available_cores())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="another neighbors.py to compare with")
    parser.add_argument("--search", action="store_true", help="time the DMPRA search instead")
    parser.add_argument("--no-subsample", action="store_true",
                        help="--search with every sample a reference (reference_size=None), "
                             "the count before the subsample")
    parser.add_argument("--search-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_child:
        search_child(args)
    elif args.search:
        part_search(args)
    else:
        part_knn(args)


if __name__ == "__main__":
    main()
