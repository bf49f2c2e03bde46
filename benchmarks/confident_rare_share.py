"""How many of the generated rare-class digits does the judge call that class with confidence? (B3 / B4)

A rare share counts every generated digit the judge labels with the rare class, ambiguous
ones included. This script reads a finished B3 or B4 run folder (``modecover bench B4 --out
OUT``), draws ``--n`` samples from each seed's final model and writes, per row and seed, the
share the judge labels with the rare class (as the rare share, from a new draw) and the
share it gives that class a probability of at least 0.9 and 0.99; the same for the real
training images of that seed and for the judge's balanced set, as the reference of what
confident labels look like on real digits.

    .venv/bin/python benchmarks/confident_rare_share.py runs/bench --suite B4 --csv results/B4/confident_rare_share.csv
"""

from __future__ import annotations

import numpy as np

from _rows import write_rows
from _runs import final_samples, finished_seeds, sampled_run

THRESHOLDS = (0.9, 0.99)


def shares(probabilities: np.ndarray, rare: list[int]) -> dict[str, float]:
    """The share labelled rare (argmax) and the shares with a rare probability of at least each threshold."""
    p_rare = probabilities[:, rare].sum(axis=1)
    labelled = np.isin(probabilities.argmax(axis=1), rare)
    return {"labelled": float(labelled.mean()),
            **{f"p>={t:g}": float((p_rare >= t).mean()) for t in THRESHOLDS}}


def main() -> None:
    from modecover.bench.digits import judge_for, reference_set
    from modecover.bench.jobs import job_config
    from modecover.config import Run

    args, jobs = sampled_run(__doc__.splitlines()[0], "B4")
    source = jobs[0].spec["data"]["name"]
    judge = judge_for(source)

    real, labels = reference_set(source)
    rare = list(jobs[0].spec["data"]["rare_classes"])
    table = [{"row": "real balanced set", "seed": "", **shares(judge.class_probabilities(real), rare),
              "true_share": float(np.isin(labels, rare).mean())}]
    training_done = set()
    for job in jobs:
        row_dir = job.result_path(args.out).parent
        for seed in finished_seeds(row_dir):
            if seed not in training_done:
                data = Run.from_config(job_config({**job.spec, "seed": seed})).data
                judged = shares(judge.class_probabilities(data.x.numpy()), rare)
                table.append({"row": "real training images", "seed": seed, **judged,
                              "true_share": float(np.isin(data.labels.numpy(), rare).mean())})
                training_done.add(seed)
            samples = final_samples(row_dir, seed, args.n)
            table.append({"row": job.row, "seed": seed, **shares(judge.class_probabilities(samples), rare),
                          "true_share": ""})
            print(table[-1], flush=True)
    if args.csv is not None:
        write_rows(args.csv, table)


if __name__ == "__main__":
    main()
