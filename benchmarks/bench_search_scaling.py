"""Does the default search find a rare mode at every data size? (docs/dmpra.md, "A ladder that scales")

The imbalanced ring (8 modes, modes 1 and 5 at 1/20 of a common mode's weight) at n
samples; the default search (reference subsample of 5,000 above that size, K = 1,024) and,
for comparison, the search with every sample a reference (``--no-subsample``, the cap K
fixed: the old default). Reported per n: rare-mode samples flagged / all rare-mode
samples, other samples flagged, the median weight of each rare mode (groups weighting),
wall time and peak RSS of the search alone. Each n runs in its own process (clean peak RSS).

    .venv/bin/python benchmarks/bench_search_scaling.py --sizes 5000,20000,100000
    .venv/bin/python benchmarks/bench_search_scaling.py --sizes 20000 --no-subsample
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time

from _machine import write_timings


def one_size(n: int, subsample: bool, seed: int) -> dict:
    import numpy as np

    from modecover.data.mixtures import MIXTURES, imbalanced
    from modecover.dmpra import SearchConfig, search, weigh

    mixture = imbalanced(MIXTURES["ring"](), MIXTURES["ring-imbalanced"]().minority, 1 / 20)
    x, labels = mixture.sample(n, seed=seed)
    config = SearchConfig() if subsample else SearchConfig(reference_size=None)
    start = time.perf_counter()
    result = search(x, config)
    seconds = time.perf_counter() - start
    weights = weigh(result).weights
    rare = np.isin(labels, mixture.minority)
    return {
        "n": n, "subsample": subsample, "seconds": round(seconds, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "rare_flagged": int((result.minority & rare).sum()), "rare": int(rare.sum()),
        "other_flagged": int((result.minority & ~rare).sum()),
        "rare_mode_median_weight": [round(float(np.median(weights[labels == m])), 1) for m in mixture.minority],
    }


def _child(n, subsample, seed, queue):
    queue.put(one_size(n, subsample, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,5000,20000,100000")
    parser.add_argument("--no-subsample", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    runs = []
    for n in (int(s) for s in args.sizes.split(",")):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(n, not args.no_subsample, args.seed, queue))
        proc.start()
        runs.append(queue.get())
        print(json.dumps(runs[-1]), flush=True)
        proc.join()
    write_timings("bench_search_scaling", {"runs": runs}, settings=vars(args))


if __name__ == "__main__":
    main()
