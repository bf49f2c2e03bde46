"""How well the DMPRA search finds planted minority groups (docs/dmpra.md, "Benchmarks").

Precision and recall of the minority flags against the planted truth, mean +- standard
error over seeds, with the default search (alpha 1/2, n_min 20, k_sigma 3):

- ``planted-2d`` / ``planted-16d``: 3 big Gaussian clusters and 3 small, distant
  micro-clusters holding 5% of the points (``bench_loci.planted_clusters``), n = 2000.
- ``digits``: scikit-learn's bundled 8x8 digits with one class cut to 1.5% of the set (a
  random subset of it per seed), in a fixed feature space: PCA with 32 components fitted
  on all 1797 digits (pixel values / 16), the same for every seed.

Also reported: the weight DMPRA gives (Eq. 7: delta_bar and the mean informative weight
of the flagged true-minority samples), how many samples had a censored level, and the
ROC AUC of the score itself as a detector of the planted samples (threshold-free: how
well the score ranks them, whatever k_sigma).

    .venv/bin/python benchmarks/bench_dmpra_quality.py --seeds 5
    .venv/bin/python benchmarks/bench_dmpra_quality.py --seeds 5 --k-sigma 2
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from bench_loci import planted_clusters, precision_recall
from modecover.dmpra import SearchConfig, delta_bar, informative_weights, search


def digits_rare(seed: int, rare_class: int = 8, share: float = 0.015, components: int = 32):
    """Digits in a fixed PCA-32 space with ``rare_class`` reduced to ``share`` of the set."""
    digits = load_digits()
    features = PCA(n_components=components, random_state=0).fit_transform(digits.data / 16.0)
    rng = np.random.default_rng(seed)
    common = np.flatnonzero(digits.target != rare_class)
    rare_all = np.flatnonzero(digits.target == rare_class)
    n_rare = max(1, int(round(share * len(common) / (1 - share))))
    keep = np.concatenate([common, rng.choice(rare_all, size=n_rare, replace=False)])
    return features[keep], digits.target[keep] == rare_class


DATASETS = {
    "planted-2d": lambda seed: planted_clusters(2000, d=2, seed=seed),
    "planted-16d": lambda seed: planted_clusters(2000, d=16, seed=seed),
    "digits (8 at 1.5%, PCA-32)": digits_rare,
}


def mean_se(values) -> str:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return "n/a"
    se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
    return f"{v.mean():.3f} ± {se:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--two-sided", action="store_true")
    parser.add_argument("--k-sigma", type=float, default=3.0)
    args = parser.parse_args()
    config = SearchConfig(two_sided=args.two_sided, k_sigma=args.k_sigma)
    print(f"k_sigma = {config.k_sigma}, two_sided = {config.two_sided}, {args.seeds} seeds, mean ± s.e.\n")
    print("| data | n | planted | flagged | precision | recall | score ROC AUC | delta_bar "
          "| mean weight, flagged planted | censored samples |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, make in DATASETS.items():
        stats = {key: [] for key in ("n", "planted", "flagged", "p", "r", "auc", "dbar", "w", "cens")}
        for seed in range(args.seeds):
            x, truth = make(seed)
            result = search(x, config)
            p, r = precision_recall(result.minority, truth)
            weights = informative_weights(result)
            hit = result.minority & truth
            stats["n"].append(len(x))
            stats["planted"].append(truth.sum())
            stats["flagged"].append(result.minority.sum())
            stats["p"].append(p)
            stats["r"].append(r)
            scored = result.scored
            stats["auc"].append(roc_auc_score(truth[scored], result.score[scored]))
            stats["dbar"].append(delta_bar(result))
            stats["w"].append(weights[hit].mean() if hit.any() else np.nan)
            stats["cens"].append(result.censored.sum())
        print(f"| {name} | {int(np.mean(stats['n']))} | {np.mean(stats['planted']):.1f} "
              f"| {mean_se(stats['flagged'])} | {mean_se(stats['p'])} | {mean_se(stats['r'])} "
              f"| {mean_se(stats['auc'])} | {mean_se(stats['dbar'])} | {mean_se(stats['w'])} "
              f"| {mean_se(stats['cens'])} |", flush=True)


if __name__ == "__main__":
    main()
