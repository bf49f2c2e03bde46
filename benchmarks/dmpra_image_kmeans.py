"""Balanced hierarchical k-means (Vo et al. 2024) as a rare-class weighting, on the MNIST audit.

Vo et al. curate data by clustering an embedding with k-means, clustering the centroids
again (levels fine to coarse), and sampling each level's clusters equally. The sampling
probability that induces at each image (1 / (top-level clusters) x 1 / (children of each
chosen node) x 1 / (images in its leaf cluster)) is a weight without labels: an image in a
small cluster, under a node with few children, is drawn more often. This script measures
that weight on the audit's six validation pairs (one class of the 5,000 MNIST images cut to
25, class 3 or 5, data seeds 100-102) in two spaces: the pixels' first 50 principal
components and gradient-orientation histograms in 4x4 cells (``dmpra_image_spaces.py``):

- as it is (the rare class's share of the weight against its share of the data), and
- as a score, -log p, put through the density detector's step 5 (``dmpra_image_sweep.py``'s
  quantile / gamma / w_max grid), keeping the setting with the best worst pair among those
  with the common classes' mean weight at most 1.5.

    .venv/bin/python benchmarks/dmpra_image_kmeans.py --out results/dmpra-images

writes ``kmeans.csv`` (a row per space and level list). scikit-learn's ``KMeans``
(k-means++, 3 initialisations, seed 0) clusters every level.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from _rows import write_rows
from dmpra_image_spaces import space, validation_pairs
from dmpra_image_sweep import COMMON_MAX, GAMMAS, QUANTILES, W_MAX, over_pairs, rare_ratio

LEVELS = ((25,), (50,), (100,), (200,), (100, 20), (200, 50), (200, 50, 10), (400, 100, 20))


def balanced_log_probability(features: np.ndarray, levels: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """log of each row's probability under balanced sampling of a k-means hierarchy with
    ``levels`` clusters per level (fine to coarse): the leaf cluster's rows equally, each
    node's children equally, the top level's clusters equally."""
    from sklearn.cluster import KMeans

    leaf = KMeans(levels[0], n_init=3, random_state=seed).fit(features)
    log_p = -np.log(np.bincount(leaf.labels_, minlength=levels[0])[leaf.labels_])
    centres, node = leaf.cluster_centers_, leaf.labels_  # node: each row's node at the current level
    for k in levels[1:]:
        parent = KMeans(k, n_init=3, random_state=seed).fit(centres)
        log_p -= np.log(np.bincount(parent.labels_, minlength=k)[parent.labels_])[node]
        centres, node = parent.cluster_centers_, parent.labels_[node]
    return log_p - np.log(levels[-1])


def measure(pairs: list[tuple[np.ndarray, np.ndarray]], levels: tuple[int, ...]) -> dict:
    scores = [(-balanced_log_probability(features, levels), rare) for features, rare in pairs]
    as_is = [rare_ratio(np.exp(score - score.max()), rare) for score, rare in scores]  # the sampling weights
    best = {"rare_ratio_min": -np.inf}  # stays so where no setting keeps the common classes' weight low enough
    for quantile, gamma, w_max in itertools.product(QUANTILES, GAMMAS, W_MAX):
        measured = over_pairs(scores, quantile, gamma, w_max)
        if measured["common_mean_max"] <= COMMON_MAX and measured["rare_ratio_min"] > best["rare_ratio_min"]:
            best = {**measured, "quantile": quantile, "gamma": gamma, "w_max": w_max}
    return {"balanced_rare_ratio_min": min(as_is), "balanced_rare_ratio_mean": float(np.mean(as_is)),
            "balanced_rare_ratio_max": max(as_is),
            **{f"step5_{k}": v for k, v in best.items()}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--spaces", nargs="+", default=["pca50", "hog4"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102])
    parser.add_argument("--classes", nargs="+", type=int, default=[3, 5])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.spaces:
        pairs = [(space(data.x.numpy(), name, seed), data.labels.numpy() == rare_class)
                 for rare_class, seed, data in validation_pairs(args.classes, args.seeds)]
        for levels in LEVELS:
            rows.append({"space": name, "levels": "-".join(map(str, levels)), **measure(pairs, levels)})
            print(", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
    print(f"rows: {write_rows(args.out / 'kmeans.csv', rows)}")


if __name__ == "__main__":
    main()
