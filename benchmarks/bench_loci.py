"""DMPRA search vs PyOD's LOCI on the same data, in the same process (docs/dmpra.md, "Benchmarks").

Data: a few big Gaussian clusters with small, distant micro-clusters planted beside them
(:func:`planted_clusters`). For each n: wall time of ``modecover.dmpra.search`` and of
``pyod.models.loci.LOCI().fit`` (their ratio), and how far the flags agree: ours
(max score > 3 over the radius ladder) against PyOD's two flag rules, its score > 3
(LOCI's k-sigma rule, PyOD's early-stop test) and its ``labels_`` (the top
``contamination`` share of scores). Also precision/recall of each against the planted
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
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr

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


def run_pyod(x: np.ndarray, cache: Path | None, key: str) -> dict:
    """PyOD LOCI scores, labels, wall and CPU seconds (from ``cache/key.npz`` when saved there)."""
    from pyod.models.loci import LOCI

    path = cache / f"{key}.npz" if cache else None
    if path is not None and path.exists():
        saved = np.load(path)
        return {name: saved[name] for name in saved.files} | {"cached": True}
    c0, t0 = time.process_time(), time.perf_counter()
    model = LOCI(alpha=0.5, k=3).fit(x)
    out = {"scores": np.asarray(model.decision_scores_, dtype=np.float64), "labels": model.labels_.astype(bool),
           "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out)
    return out | {"cached": False}


def compare(n: int, d: int, seed: int, cache: Path | None = None) -> dict:
    x, truth = planted_clusters(n, d=d, seed=seed)
    c0, t0 = time.process_time(), time.perf_counter()
    ours = search(x, SearchConfig())
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    print(f"<!-- n={n}: ours {t_ours:.2f} s wall, {c_ours:.2f} s CPU, {int(ours.minority.sum())} flagged; "
          "PyOD LOCI running -->", flush=True)
    pyod = run_pyod(x, cache, f"loci_n{n}_d{d}_seed{seed}")
    pyod_scores = pyod["scores"]
    dense = dense_ladder_search(x, SearchConfig())
    flags = {
        "ours (score > 3)": ours.minority,
        "PyOD score > 3": pyod_scores > 3,
        "PyOD labels_ (contamination 0.1)": pyod["labels"],
        "ours, dense ladder: every m = 20..n (diagnostic)": dense.minority,
    }
    rows = []
    for name, f in flags.items():
        p, r = precision_recall(f, truth)
        rows.append({
            "flags": name, "flagged": int(f.sum()), "precision": p, "recall": r,
            "jaccard_vs_ours": jaccard(f, ours.minority),
            "both": int(np.sum(f & ours.minority)), "only_this": int(np.sum(f & ~ours.minority)),
            "only_ours": int(np.sum(~f & ours.minority)),
        })
    pyod_only = (pyod_scores > 3) & ~ours.minority
    only_idx = np.flatnonzero(pyod_only)
    strict_rule = loci_rule_flags(x, only_idx)
    le_rule = loci_rule_flags(x, only_idx, strict_alpha_counts=False)
    rho = spearmanr(ours.score, pyod_scores, nan_policy="omit").statistic
    return {"n": n, "d": d, "seed": seed, "t_ours": t_ours, "t_pyod": float(pyod["wall"]), "c_ours": c_ours,
            "c_pyod": float(pyod["cpu"]), "cached": pyod["cached"], "rows": rows,
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


def scale_run(n: int, d: int, seed: int) -> None:
    """One Markdown row: our search alone on n points in d dimensions (planted micro-clusters)."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--d", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", action="store_true", help="time our search alone (no PyOD)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="save PyOD's scores and times here, and reuse them on a later run")
    args = parser.parse_args()
    if args.scale:
        print(SCALE_HEADER)
        for n in args.n:
            scale_run(n, args.d, args.seed)
        return
    print("| n | d | ours s wall / CPU | PyOD LOCI s wall / CPU | speed-up wall / CPU | flags | flagged | precision "
          "| recall | Jaccard vs ours | both | only these | only ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    for n in args.n:
        res = compare(n, args.d, args.seed, args.cache)
        for i, row in enumerate(res["rows"]):
            lead = (f"| {n} | {args.d} | {res['t_ours']:.2f} / {res['c_ours']:.2f} | {res['t_pyod']:.0f} / "
                    f"{res['c_pyod']:.0f} | {res['t_pyod'] / res['t_ours']:.0f}x / {res['c_pyod'] / res['c_ours']:.0f}x "
                    if i == 0 else "| | | | | ")
            print(lead + f"| {row['flags']} | {row['flagged']} | {row['precision']:.3f} | {row['recall']:.3f} "
                  f"| {row['jaccard_vs_ours']:.3f} | {row['both']} | {row['only_this']} | {row['only_ours']} |",
                  flush=True)
        notes.append(f"n={n}: {res['planted']} planted; Spearman(ours, PyOD scores) = {res['spearman']:.3f}; "
                     f"PyOD NaN scores: {res['pyod_nan']}; our flags per level {res['summary']['flagged_per_level']} "
                     f"(ladder {res['summary']['ladder_sizes']}); flagged by PyOD only: {res['pyod_only']} "
                     f"({res['pyod_only_planted']} planted, {res['pyod_only_dense']} also by the dense ladder, "
                     f"our largest score among them {res['pyod_only_our_max_score']}); of these, the LOCI rule over "
                     f"PyOD's radii flags {res['pyod_only_rule_strict']} with PyOD's strict alpha-counts and "
                     f"{res['pyod_only_rule_le']} with <= counts"
                     + ("; PyOD times from the cache" if res["cached"] else ""))
    print()
    for line in notes:
        print("- " + line)


if __name__ == "__main__":
    main()
