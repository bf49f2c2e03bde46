"""DMPRA's constants on validation seeds: B2 ring jobs with other DMPRA options (docs/dmpra.md).

Runs the B2 GAN row of a data set with each given set of DMPRA options (JSON objects),
on validation seeds only (100 on), through the benchmark harness (resumable, results
under OUT/B2/<data>/<label>/), and prints the per-seed result lines and a summary: how
many seeds captured all / some / none of the minority modes, mean minority modes and HQ %.

    .venv/bin/python benchmarks/b2_dmpra_constants.py runs/val-constants \
        '{"weights": {"gamma": 1.5}}' '{"weights": {"min_group": 20}}'

(The row label, and so the result folder, is the JSON text as given: results of earlier
flat options such as '{"gamma": 1.5}' resume when given that text again.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from modecover.bench.harness import Job, run_suite
    from modecover.bench.jobs import run_2d_job
    from modecover.bench.suites import B2_FAMILIES, _spec, converged_budget

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("options", nargs="+", help="DMPRA options as JSON objects, one row each")
    parser.add_argument("--dataset", default="ring-imbalanced")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed-start", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.seed_start < 100:
        parser.error("constants are chosen on validation seeds (100 on), never on test seeds")
    budget = converged_budget(args.dataset)
    jobs = []
    for text in args.options:
        options = json.loads(text)
        label = "GAN + DMPRA " + json.dumps(options, sort_keys=True)
        spec = _spec(args.dataset, B2_FAMILIES["GAN"], [{"name": "dmpra", **options}], budget, budget.rounds)
        jobs += [Job("B2", args.dataset, label, seed, spec)
                 for seed in range(args.seed_start, args.seed_start + args.seeds)]
    records = run_suite(jobs, run_2d_job, args.out, workers=args.workers)
    rows: dict[str, list] = {}
    for r in records:
        m = r["metrics"]
        print(json.dumps({"row": r["row"], "seed": r["seed"], "minority_captured": m["minority_captured"],
                          "modes": m["modes"], "hq_percent": round(m["hq_percent"], 1)}))
        rows.setdefault(r["row"], []).append(m)
    for row, ms in rows.items():
        captured = [m["minority_captured"] for m in ms]
        print(f"{row}: {len(ms)} seeds; minority modes {sum(captured) / len(ms):.2f}; "
              f"HQ {sum(m['hq_percent'] for m in ms) / len(ms):.1f} %; captured per seed {captured}")


if __name__ == "__main__":
    main()
