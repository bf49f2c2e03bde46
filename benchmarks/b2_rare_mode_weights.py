"""Which of space, weights or training is at fault where DMPRA misses a rare mode? (docs/dmpra.md)

Reads a finished B2 run folder (``modecover bench B2 --out OUT``) and prints, per seed, the
rare modes the DMPRA row and the oracle row captured, and the median DMPRA weight of each
rare mode's training samples after every round (``OUT/B2/<data>/<row>/seed<k>/round<r>/
dmpra_scores.npz``). A weight near 1 means the search did not raise that mode in that
round (the space or the search is at fault); a weight near the imbalance (about 20) with
the mode still missed means the weights were right and training did not follow.
``--csv PATH`` also writes one row per seed and round: the samples the search flagged, how
many of them lie in rare modes, the rare modes' share of the weight against their share of
the data, and each rare mode's median weight (the evidence files under results/B2*).

    .venv/bin/python benchmarks/b2_rare_mode_weights.py runs/bench --dataset ring-imbalanced --row "GAN + DMPRA"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _rows import write_rows


def main() -> None:
    from modecover.bench.harness import Job
    from modecover.data.registry import build_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--dataset", default="ring-imbalanced")
    parser.add_argument("--row", default="GAN + DMPRA")
    parser.add_argument("--oracle", default="GAN + oracle")
    parser.add_argument("--n", type=int, default=5000, help="training points of the run (B2: 5000)")
    parser.add_argument("--csv", type=Path, help="also write the per-round rows here")
    args = parser.parse_args()
    rows = []
    row_dir = Job("B2", args.dataset, args.row, 0).result_path(args.out).parent
    for result in sorted(row_dir.glob("seed*.json"), key=lambda p: int(p.stem[4:])):
        seed = int(result.stem[4:])
        data = build_dataset({"name": args.dataset, "n": args.n, "seed": seed})
        labels = data.labels.numpy()
        rare = data.mixture.minority
        weights = []
        rounds = [p for p in (row_dir / f"seed{seed}").glob("round*") if p.is_dir()]
        oracle = Job("B2", args.dataset, args.oracle, seed).result_path(args.out)
        oracle_captured = json.loads(oracle.read_text())["metrics"]["minority_captured"] if oracle.is_file() else None
        captured = json.loads(result.read_text())["metrics"]["minority_captured"]
        for round_dir in sorted(rounds, key=lambda p: int(p.name[5:])):
            scores = np.load(round_dir / "dmpra_scores.npz")
            w, flagged, mode = scores["weight"], scores["minority"].astype(bool), labels[scores["index"]]
            in_rare = np.isin(mode, rare)
            weights.append([round(float(np.median(w[mode == m])), 1) for m in rare])
            rows.append({"dataset": args.dataset, "row": args.row, "seed": seed, "round": int(round_dir.name[5:]),
                         "captured": captured, "flagged": int(flagged.sum()),
                         "flagged_in_rare_modes": int((flagged & in_rare).sum()),
                         "rare_weight_share": round(float(w[in_rare].sum() / w.sum()), 4),
                         "rare_data_share": round(float(in_rare.mean()), 4),
                         **{f"median_weight_mode{m}": weights[-1][i] for i, m in enumerate(rare)}})
        print(json.dumps({"seed": seed, "rare_modes": list(rare), "captured": captured,
                          "oracle_captured": oracle_captured, "median_weight_per_round": weights}))
    if args.csv and rows:
        print(f"per-round rows: {write_rows(args.csv, rows)}")


if __name__ == "__main__":
    main()
