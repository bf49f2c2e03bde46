"""Can any setting of the density detector meet the MNIST audit's aim in one space? A grid search.

The aim (docs/dmpra.md, "Images"): on every one of the six validation pairs (one class of
the 5,000 MNIST images cut to 25, class 3 or 5, data seeds 100-102) the rare class gets at
least 3x its share of the weight while the common classes' mean weight stays at most 1.5.
``dmpra_image_spaces.py`` measures each space at two settings; this script sweeps the
weighting's settings in one space: ``smooth`` (5, 10), ``quantile`` (0.85-0.98), ``gamma``
(1-6) and ``w_max`` (10-200), 288 settings. The k-NN graph and the smoothed score depend
only on the space and ``smooth``, so each pair's score is computed once per ``smooth`` and
the weights follow from it (step 5 of the detector).

    .venv/bin/python benchmarks/dmpra_image_sweep.py --space hog4 --out results/dmpra-images

writes ``sweep_<space>.csv`` (one row per setting: the rare ratio's min and mean over the
pairs, the largest common mean weight) and prints the settings with the best worst pair
among those that keep the common mean weight at most 1.5.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from _rows import write_rows
from dmpra_image_spaces import space, validation_pairs
from modecover.dmpra.density import DensityConfig, density_weights

SMOOTH = (5, 10)
QUANTILES = (0.85, 0.9, 0.93, 0.95, 0.97, 0.98)
GAMMAS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
W_MAX = (10.0, 20.0, 50.0, 200.0)
COMMON_MAX = 1.5


def weights_at(score: np.ndarray, quantile: float, gamma: float, w_max: float) -> np.ndarray:
    """Step 5 of the density detector on an unreferenced smoothed score (-inf: weight 1)."""
    finite = np.isfinite(score)
    with np.errstate(over="ignore"):
        return np.clip(np.exp(gamma * (score - np.quantile(score[finite], quantile))), 1.0, w_max)


def rare_ratio(weights: np.ndarray, rare: np.ndarray) -> float:
    """The rare class's share of the total weight over its share of the data."""
    return weights[rare].sum() / weights.sum() / rare.mean()


def over_pairs(scores: list[tuple[np.ndarray, np.ndarray]], quantile: float, gamma: float, w_max: float) -> dict:
    """Step 5 at one setting on every pair's (score, rare mask): the rare class's share of the
    weight over its share of the data (worst pair and mean) and the largest common mean weight."""
    ratios, commons = [], []
    for score, rare in scores:
        w = weights_at(score, quantile, gamma, w_max)
        ratios.append(rare_ratio(w, rare))
        commons.append(w[~rare].mean())
    return {"rare_ratio_min": min(ratios), "rare_ratio_mean": float(np.mean(ratios)), "common_mean_max": max(commons)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--space", default="hog4", help="a space of dmpra_image_spaces.py (pixels, blur1, hog7, hog4)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102])
    parser.add_argument("--classes", nargs="+", type=int, default=[3, 5])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pairs = [(space(data.x.numpy(), args.space, seed), data.labels.numpy() == rare_class)
             for rare_class, seed, data in validation_pairs(args.classes, args.seeds)]
    rows = []
    for smooth in SMOOTH:
        # the score is the smoothed score less a constant, which the reference quantile below takes out again
        scores = [(density_weights(features, DensityConfig(smooth=smooth)).score, rare)
                  for features, rare in pairs]
        for quantile, gamma, w_max in itertools.product(QUANTILES, GAMMAS, W_MAX):
            rows.append({"space": args.space, "smooth": smooth, "quantile": quantile, "gamma": gamma, "w_max": w_max,
                         **over_pairs(scores, quantile, gamma, w_max)})
    write_rows(args.out / f"sweep_{args.space}.csv", rows)
    within = sorted((r for r in rows if r["common_mean_max"] <= COMMON_MAX), key=lambda r: -r["rare_ratio_min"])
    print(f"{len(rows)} settings in {args.space}; {len(within)} keep the common mean weight <= {COMMON_MAX}; "
          "best worst pairs:")
    for r in within[:5]:
        print(", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
