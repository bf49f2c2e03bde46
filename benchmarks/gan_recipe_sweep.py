"""Which GAN training recipe covers a 2D mixture's modes best? Validation seeds only (docs/training.md).

Each recipe (a JSON object of ``model``, ``train`` and ``data`` overrides) trains two jobs
per seed through the benchmark harness (resumable, results under
OUT/<suite>/<data>/<recipe>/): the plain GAN on the balanced ring or grid over B1's vanilla
GAN (modes, HQ %) and GAN + DMPRA on its imbalanced variant over B2's converged recipe
(rare modes captured); ``--data grid`` for
the grid, ``--suite B1`` for one of the two. Prints one summary line per
recipe and data set. Seeds start at 100: recipes are chosen on validation seeds, never on
the seeds the tables report.

    .venv/bin/python benchmarks/gan_recipe_sweep.py runs/recipes '{}' '{"train": {"steps": 12000}}' \\
        '{"model": {"hidden": 256}}' --seeds 8 --workers 16
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def recipe_jobs(recipe: dict, seeds: range, data: str = "ring", suites=("B1", "B2")) -> list:
    from modecover.bench.harness import Job
    from modecover.bench.suites import B1_BUDGET, GAN_2D, _spec, converged_budget

    unknown = set(recipe) - {"model", "train", "data"}
    if unknown:
        raise SystemExit(f"recipe {json.dumps(recipe)}: unknown section(s) {sorted(unknown)}; use model, train, data")
    label = "GAN " + json.dumps(recipe, sort_keys=True)
    jobs = []
    protocols = {"B1": (data, [], B1_BUDGET),
                 "B2": (f"{data}-imbalanced", [{"name": "dmpra"}], converged_budget(data))}
    for suite, (dataset, methods, budget) in ((s, protocols[s]) for s in suites):
        spec = _spec(dataset, GAN_2D, methods, budget, budget.rounds)
        for section in ("model", "train", "data"):
            spec[section] = {**spec[section], **recipe.get(section, {})}
        jobs += [Job(suite, dataset, label, seed, spec) for seed in seeds]
    return jobs


def summary_line(row: str, dataset: str, metrics: list[dict]) -> str:
    hq = [m["hq_percent"] for m in metrics]
    line = (f"{dataset:16s} {row}: {len(metrics)} seeds; modes {statistics.mean(m['modes'] for m in metrics):.2f}; "
            f"HQ {statistics.mean(hq):.1f} ± {statistics.stdev(hq) / len(hq) ** 0.5 if len(hq) > 1 else 0:.1f} %")
    if dataset.endswith("imbalanced"):
        captured = [int(m["minority_captured"]) for m in metrics]
        line += f"; both / one / none rare {captured.count(2)} / {captured.count(1)} / {captured.count(0)}"
    return line


def main() -> None:
    from modecover.bench.harness import run_suite
    from modecover.bench.jobs import run_2d_job

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("recipes", nargs="+", help="recipes as JSON objects, one row each")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed-start", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", choices=["ring", "grid"], default="ring")
    parser.add_argument("--suite", choices=["B1", "B2"], action="append",
                        help="B1 (plain GAN, balanced) and/or B2 (GAN + DMPRA, imbalanced); both by default")
    args = parser.parse_args()
    if args.seed_start < 100:
        parser.error("recipes are chosen on validation seeds (100 on), never on test seeds")
    seeds = range(args.seed_start, args.seed_start + args.seeds)
    jobs = [job for text in args.recipes
            for job in recipe_jobs(json.loads(text), seeds, args.data, args.suite or ("B1", "B2"))]
    records = run_suite(jobs, run_2d_job, args.out, workers=args.workers)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(records, key=lambda r: (r["dataset"], r["row"], r["seed"])):
        groups.setdefault((r["dataset"], r["row"]), []).append(r["metrics"])
    for (dataset, row), metrics in groups.items():
        print(summary_line(row, dataset, metrics))


if __name__ == "__main__":
    main()
