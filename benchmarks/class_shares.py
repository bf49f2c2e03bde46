"""Which classes does DMPRA raise, and which does the trained model then draw? (B3 / B4)

A rare share says how many of the rare class a model draws, not where the rest of its
samples went. This script reads a finished B3 or B4 run folder (``modecover bench B3 --out
OUT``) and writes, per row and seed, one line per class:

- ``weight_share``: the class's share of DMPRA's weights after round 0 (``round0/dmpra_scores.npz``,
  the weights of round 1; empty for rows without DMPRA), beside ``data_share``, its share
  of the training images;
- ``sample_share``: the share of ``--n`` samples of the seed's final model that the judge
  labels with the class.

    .venv/bin/python benchmarks/class_shares.py runs/bench --suite B3 --csv results/B3/class_shares.csv
"""

from __future__ import annotations

import numpy as np

from _rows import write_rows
from _runs import final_samples, finished_seeds, sampled_run


def class_shares(weights: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Each class's share of the total of ``weights`` (one per sample, labelled ``labels``)."""
    return np.bincount(labels, weights=weights, minlength=classes) / weights.sum()


def main() -> None:
    from modecover.bench.digits import judge_for
    from modecover.data.registry import build_dataset

    args, jobs = sampled_run(__doc__.splitlines()[0], "B3")
    judge = judge_for(jobs[0].spec["data"]["name"])
    table = []
    for job in jobs:
        row_dir = job.result_path(args.out).parent
        for seed in finished_seeds(row_dir):
            labels = build_dataset({**job.spec["data"], "seed": seed}).labels.numpy()
            classes = 10  # the judge's digit classes
            data_share = class_shares(np.ones(len(labels)), labels, classes)
            scores = row_dir / f"seed{seed}" / "round0" / "dmpra_scores.npz"
            weight_share = class_shares(np.load(scores)["weight"], labels, classes) if scores.exists() else None
            sample_share = judge.class_shares(final_samples(row_dir, seed, args.n))
            for c in range(classes):
                table.append({"row": job.row, "seed": seed, "class": c, "data_share": round(float(data_share[c]), 4),
                              "weight_share": "" if weight_share is None else round(float(weight_share[c]), 4),
                              "sample_share": round(float(sample_share[c]), 4)})
            print(job.row, seed, "sample shares", np.round(sample_share, 3), flush=True)
    if args.csv is not None:
        write_rows(args.csv, table)


if __name__ == "__main__":
    main()
