"""DMPRA search vs PyOD's LOCI on the same data, in the same process (docs/dmpra.md, "Benchmarks").

Data: a few big Gaussian clusters with small, distant micro-clusters planted beside them
(:func:`planted_clusters`). For each n, every computation is timed in this process (wall
and CPU seconds, no cache): ``modecover.dmpra.search`` (its geometric ladder of
neighbourhood sizes), our search over the *dense* ladder (every size m = 20 .. n, no cap:
the computation closest to PyOD's scan of every critical radius) and
``pyod.models.loci.LOCI().fit``; PyOD's time over each of ours is the speed-up. Beside the
times, how far the flags agree: ours (max score > 3) against PyOD's two flag rules, its
score > 3 (LOCI's k-sigma rule, PyOD's early-stop test) and its ``labels_`` (the top
``contamination`` share of scores); precision/recall of each against the planted
micro-clusters, and the Spearman correlation of the scores.

    .venv/bin/python benchmarks/bench_loci.py --n 500 1000
    .venv/bin/python benchmarks/bench_loci.py --scale --n 2000 50000 --d 64

``--scale`` runs only our search (PyOD's LOCI is O(n^3) or worse and needs the n x n
distance matrix) on n points of dimension d, reporting wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import resource
import time

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr

from _machine import write_timings
from modecover.dmpra import SearchConfig, search


def planted_clusters(n: int, *, d: int = 2, seed: int = 0, n_big: int = 3, n_small: int = 3,
                     small_share: float = 0.05, spread: float = 6.0, small_sigma: float = 0.15):
    """Big N(c, I) clusters and small N(c', small_sigma^2 I) micro-clusters far from them.

    Big centres on a circle of radius ``spread`` (first two coordinates), micro-cluster
    centres on a circle of radius 2 * spread between them. Returns (points float64 (n, d),
    is_planted bool (n,)); the micro-clusters together hold ``small_share`` of the points.
    """
    rng = np.random.default_rng(seed)
    n_small_total = int(round(small_share * n))
    small_sizes = np.full(n_small, n_small_total // n_small)
    small_sizes[: n_small_total - small_sizes.sum()] += 1
    big_sizes = np.full(n_big, (n - n_small_total) // n_big)
    big_sizes[: n - n_small_total - big_sizes.sum()] += 1

    def centre(radius, angle):
        c = np.zeros(d)
        c[0], c[1] = radius * np.cos(angle), radius * np.sin(angle)
        return c

    parts, truth = [], []
    for i, size in enumerate(big_sizes):
        parts.append(rng.normal(size=(size, d)) + centre(spread, 2 * np.pi * i / n_big))
        truth.append(np.zeros(size, dtype=bool))
    for i, size in enumerate(small_sizes):
        angle = 2 * np.pi * (i + 0.5) / n_small
        parts.append(small_sigma * rng.normal(size=(size, d)) + centre(2 * spread, angle))
        truth.append(np.ones(size, dtype=bool))
    return np.vstack(parts), np.concatenate(truth)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.sum(a | b)
    return float(np.sum(a & b) / union) if union else 1.0


def precision_recall(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = float(np.sum(flags & truth))
    return (hits / flags.sum() if flags.sum() else float("nan")), hits / truth.sum()


def dense_ladder_search(x: np.ndarray, config: SearchConfig):
    """Our search scanning *every* neighbourhood size m = n_min .. n (no cap): a diagnostic that
    removes the geometric ladder's gaps and the cap, to separate them from PyOD's other choices."""
    search_module = importlib.import_module("modecover.dmpra.search")
    geometric = search_module.ladder_sizes
    search_module.ladder_sizes = lambda n_min, cap: tuple(range(n_min, cap + 1))
    try:
        return search(x, dataclasses.replace(config, max_neighbors=len(x)))
    finally:
        search_module.ladder_sizes = geometric


def loci_rule_flags(x: np.ndarray, points: np.ndarray, *, alpha: float = 0.5, k: float = 3.0,
                    min_n_hat: float = 20.0, strict_alpha_counts: bool = True) -> np.ndarray:
    """LOCI's k-sigma rule over PyOD's radii, brute force, for the given points (a diagnostic).

    Radii: every distance d(s, q) > 0 and d(s, q) / alpha; N(s, r) with ``<=``; the alpha
    counts with ``<`` (``strict_alpha_counts``, PyOD's choice) or ``<=`` (modecover's);
    a radius counts only where n_hat >= ``min_n_hat`` (PyOD's minimum-neighbourhood rule).
    Written from the LOCI definitions to tell which of PyOD's choices a flag depends on.
    """
    dist = cdist(x, x)
    flags = np.zeros(len(points), dtype=bool)
    for i, s in enumerate(points):
        ds = dist[s]
        for r in np.sort(np.concatenate([ds[ds > 0], ds[ds > 0] / alpha])):
            members = dist[ds <= r]
            counts = (members < alpha * r if strict_alpha_counts else members <= alpha * r).sum(axis=1)
            own = int((ds < alpha * r).sum() if strict_alpha_counts else (ds <= alpha * r).sum())
            n_hat, sigma = counts.mean(), counts.std()
            if n_hat >= min_n_hat and sigma > 0 and n_hat - own > k * sigma:
                flags[i] = True
                break
    return flags


def timed(fn, *args):
    """``fn(*args)`` with its wall and CPU seconds (this process)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def pyod_loci(x: np.ndarray):
    from pyod.models.loci import LOCI

    return LOCI(alpha=0.5, k=3).fit(x)


def compare(n: int, d: int, seed: int) -> dict:
    x, truth = planted_clusters(n, d=d, seed=seed)
    ours, t_ours, c_ours = timed(search, x, SearchConfig())
    dense, t_dense, c_dense = timed(dense_ladder_search, x, SearchConfig())
    print(f"<!-- n={n}: ours {t_ours:.2f} s wall, dense ladder {t_dense:.2f} s; PyOD LOCI running -->", flush=True)
    model, t_pyod, c_pyod = timed(pyod_loci, x)
    pyod_scores = np.asarray(model.decision_scores_, dtype=np.float64)
    flags = {  # name -> (flags, wall s, CPU s); PyOD's two rules come from one fit
        "ours (score > 3)": (ours.minority, t_ours, c_ours),
        "ours, dense ladder: every m = 20..n": (dense.minority, t_dense, c_dense),
        "PyOD score > 3": (pyod_scores > 3, t_pyod, c_pyod),
        "PyOD labels_ (contamination 0.1)": (model.labels_.astype(bool), t_pyod, c_pyod),
    }
    rows = []
    for name, (f, wall, cpu) in flags.items():
        p, r = precision_recall(f, truth)
        rows.append({
            "flags": name, "wall": wall, "cpu": cpu, "flagged": int(f.sum()), "precision": p, "recall": r,
            "jaccard_vs_ours": jaccard(f, ours.minority),
            "both": int(np.sum(f & ours.minority)), "only_this": int(np.sum(f & ~ours.minority)),
            "only_ours": int(np.sum(~f & ours.minority)),
        })
    pyod_only = (pyod_scores > 3) & ~ours.minority
    only_idx = np.flatnonzero(pyod_only)
    strict_rule = loci_rule_flags(x, only_idx)
    le_rule = loci_rule_flags(x, only_idx, strict_alpha_counts=False)
    rho = spearmanr(ours.score, pyod_scores, nan_policy="omit").statistic
    return {"n": n, "d": d, "seed": seed, "t_pyod": t_pyod, "c_pyod": c_pyod, "rows": rows,
            "spearman": float(rho), "planted": int(truth.sum()), "summary": ours.summary(),
            "pyod_nan": int(np.isnan(pyod_scores).sum()),
            "pyod_only_planted": int(np.sum(pyod_only & truth)),
            "pyod_only_dense": int(np.sum(pyod_only & dense.minority)), "pyod_only": int(pyod_only.sum()),
            "pyod_only_rule_strict": int(strict_rule.sum()), "pyod_only_rule_le": int(le_rule.sum()),
            "pyod_only_our_max_score": float(np.max(ours.score[pyod_only])) if pyod_only.any() else None}


SCALE_HEADER = ("| n | d | K | wall s | CPU s (user+sys) | k-NN graph wall s | ladder wall s | peak RSS GB | flagged "
                "| censored | unscored | precision | recall |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def timed_neighbor_graph():
    """Time the search's k-NN graphs: yields a dict whose ``"knn"`` entry receives the seconds
    of every call (the reference subsample's graph and the other rows' queries against it)."""
    search_module = importlib.import_module("modecover.dmpra.search")
    graph, timing = search_module._neighbor_graph, {"knn": 0.0}

    def timed_graph(query, reference, k):
        t0 = time.perf_counter()
        out = graph(query, reference, k)
        timing["knn"] += time.perf_counter() - t0
        return out

    search_module._neighbor_graph = timed_graph
    try:
        yield timing
    finally:
        search_module._neighbor_graph = graph


def scale_run(n: int, d: int, seed: int) -> dict:
    """One Markdown row: our search alone on n points in d dimensions (planted micro-clusters);
    returns its timings."""
    x, truth = planted_clusters(n, d=d, seed=seed, n_big=8, n_small=8, small_share=0.01)
    x = x.astype(np.float32)
    with timed_neighbor_graph() as timing:
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        result = search(x, SearchConfig())
        total, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    p, r = precision_recall(result.minority, truth)
    s = result.summary()
    print(f"| {n} | {d} | {s['max_neighbors']} | {total:.1f} | {cpu:.1f} | {timing['knn']:.1f} "
          f"| {total - timing['knn']:.1f} | {peak_gb:.2f} | {s['n_minority']} | {s['n_censored']} "
          f"| {s['n_unscored']} | {p:.3f} | {r:.3f} |", flush=True)
    return {"n": n, "d": d, "wall_s": total, "cpu_s": cpu, "knn_s": timing["knn"], "peak_rss_gb": peak_gb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--d", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", action="store_true", help="time our search alone (no PyOD)")
    args = parser.parse_args()
    if args.scale:
        print(SCALE_HEADER)
        runs = [scale_run(n, args.d, args.seed) for n in args.n]
        write_timings("bench_loci_scale", {"runs": runs}, settings=vars(args))
        return
    print("| n | d | flags | s wall / CPU | faster than PyOD's LOCI, wall / CPU | flagged | precision | recall "
          "| Jaccard vs ours | both | only these | only ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes, raw = [], []
    for n in args.n:
        res = compare(n, args.d, args.seed)
        raw.append({"n": n, "pyod_wall_s": res["t_pyod"], "pyod_cpu_s": res["c_pyod"], "rows": res["rows"]})
        for i, row in enumerate(res["rows"]):
            speed = "—" if row["flags"].startswith("PyOD") else \
                f"{res['t_pyod'] / row['wall']:.3g}x / {res['c_pyod'] / row['cpu']:.3g}x"
            print(f"| {n if i == 0 else ''} | {args.d if i == 0 else ''} | {row['flags']} "
                  f"| {row['wall']:.2f} / {row['cpu']:.2f} | {speed} | {row['flagged']} | {row['precision']:.3f} "
                  f"| {row['recall']:.3f} | {row['jaccard_vs_ours']:.3f} | {row['both']} | {row['only_this']} "
                  f"| {row['only_ours']} |", flush=True)
        notes.append(f"n={n}: {res['planted']} planted; Spearman(ours, PyOD scores) = {res['spearman']:.3f}; "
                     f"PyOD NaN scores: {res['pyod_nan']}; our flags per level {res['summary']['flagged_per_level']} "
                     f"(ladder {res['summary']['ladder_sizes']}); flagged by PyOD only: {res['pyod_only']} "
                     f"({res['pyod_only_planted']} planted, {res['pyod_only_dense']} also by the dense ladder, "
                     f"our largest score among them {res['pyod_only_our_max_score']}); of these, the LOCI rule over "
                     f"PyOD's radii flags {res['pyod_only_rule_strict']} with PyOD's strict alpha-counts and "
                     f"{res['pyod_only_rule_le']} with <= counts")
    print()
    for line in notes:
        print("- " + line)
    write_timings("bench_loci", {"runs": raw}, settings=vars(args))


if __name__ == "__main__":
    main()
