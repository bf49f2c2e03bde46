"""Did DMPRA raise the rare digits class in B3 (or B4, ``--suite B4``)? (docs/RESULTS.md, B3)

Reads a finished B3 or B4 run folder (``modecover bench B3 --out OUT``) and prints, per DMPRA row
and seed, after every round (``OUT/B3/<data>/<row>/seed<k>/round<r>/dmpra_scores.npz``):
the median weight of the rare class's training images, the rare class's share of the
total weight (its share of the images when nothing is raised) and how many images of any
class the search raised (weight > 1).

    .venv/bin/python benchmarks/b3_rare_class_weights.py runs/bench [--csv results/B3/rare_class_weights.csv]
    .venv/bin/python benchmarks/b3_rare_class_weights.py runs/bench --suite B4 --csv results/B4/rare_class_weights.csv

``--csv`` also writes one row per DMPRA row, seed and round (the evidence committed beside
the per-seed results).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _rows import write_rows
from _runs import finished_seeds


def main() -> None:
    from modecover.bench.suites import b3_jobs, b4_jobs
    from modecover.data.registry import build_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--csv", type=Path, default=None, help="also write every row, seed and round here")
    parser.add_argument("--suite", choices=["B3", "B4"], default="B3")
    args = parser.parse_args()
    table = []
    for job in (b3_jobs if args.suite == "B3" else b4_jobs)(seeds=1):
        if not any(m["name"] == "dmpra" for m in job.spec["methods"]):
            continue
        row_dir = job.result_path(args.out).parent
        rare = job.spec["data"]["rare_classes"]
        for seed in finished_seeds(row_dir):
            labels = build_dataset({**job.spec["data"], "seed": seed}).labels.numpy()
            is_rare = np.isin(labels, rare)
            rounds = sorted((p for p in (row_dir / f"seed{seed}").glob("round*") if p.is_dir()),
                            key=lambda p: int(p.name[5:]))
            per_round = []
            for round_dir in rounds:
                w = np.load(round_dir / "dmpra_scores.npz")["weight"]
                per_round.append({"median_rare_weight": round(float(np.median(w[is_rare])), 2),
                                  "rare_weight_share": round(float(w[is_rare].sum() / w.sum()), 4),
                                  "raised": int((w > 1).sum())})
            print(json.dumps({"row": job.row, "seed": seed, "rare_images": int(is_rare.sum()), "rounds": per_round}))
            table += [{"row": job.row, "seed": seed, "round": int(d.name[5:]), "rare_images": int(is_rare.sum()), **r}
                      for d, r in zip(rounds, per_round)]
    if args.csv is not None and table:
        write_rows(args.csv, table)


if __name__ == "__main__":
    main()
