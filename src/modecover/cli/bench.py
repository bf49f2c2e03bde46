"""``modecover bench SUITE``: run B1, B2 or B3 (DESIGN.md §9) with several seeds."""

from __future__ import annotations

from pathlib import Path

import click

SUITES = ("B1", "B2", "B3")


@click.command("bench")
@click.argument("suite", type=click.Choice(SUITES, case_sensitive=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/bench"),
              show_default=True, help="Results go to OUT/<suite>/...; an OUT holding an earlier bench run resumes it.")
@click.option("--overwrite", is_flag=True, help="Empty OUT first when it holds another modecover run (or an earlier bench).")
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Seeds per row (B1 10, B2 5, B3 3).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Training steps per run (default 3000, batch 64).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Parallel processes, one torch thread each.")
@click.option("--dataset", "datasets", multiple=True, help="Only these data sets (e.g. ring); repeatable.")
@click.option("--row", "rows", multiple=True, help="Only these rows (e.g. GAN); repeatable.")
def command(suite: str, out_dir: Path, overwrite: bool, seeds: int | None, steps: int | None, workers: int,
            datasets: tuple[str, ...], rows: tuple[str, ...]) -> None:
    """Run SUITE's jobs (skipping those already done in OUT), then write
    OUT/<suite>/summary.md and summary.csv: mean ± standard error over seeds per row.

    OUT must be new, empty or an earlier bench run's folder, and not in use by another run."""
    from dataclasses import replace

    from modecover.bench import suites
    from modecover.bench.harness import run_suite, summarise, write_summary
    from modecover.bench.jobs import run_2d_job, run_digits_job
    from modecover.runs import RunFolderError, claim_run_folder

    suite = suite.upper()
    defaults = {"B1": (10, suites.Budget(steps=3000)), "B2": (5, suites.Budget(steps=3000)),
                "B3": (3, suites.Budget(steps=3000, n_eval=1000))}
    n_seeds, budget = defaults[suite]
    n_seeds = seeds or n_seeds
    budget = replace(budget, steps=steps) if steps else budget
    if suite == "B1":
        jobs, job_fn, metrics = suites.b1_jobs(n_seeds, budget), run_2d_job, suites.METRICS_2D[:3] + suites.METRICS_2D[5:]
    elif suite == "B2":
        jobs, job_fn, metrics = suites.b2_jobs(n_seeds, budget), run_2d_job, suites.METRICS_2D
    else:
        jobs, job_fn, metrics = suites.b3_jobs(n_seeds, budget), run_digits_job, suites.METRICS_DIGITS
    jobs = [j for j in jobs if (not datasets or j.dataset in datasets) and (not rows or j.row in rows)]
    if not jobs:
        raise click.UsageError(f"no {suite} job matches --dataset {list(datasets)} --row {list(rows)}")
    order = suites.row_order(jobs)
    try:
        claim = claim_run_folder(out_dir, "bench", resume=True, overwrite=overwrite, resumable=False)
    except RunFolderError as err:
        raise click.ClickException(str(err)) from err
    with claim:
        click.echo(f"{suite}: {len(jobs)} jobs ({n_seeds} seeds, {budget.steps} steps each) -> {out_dir / suite}")
        records = run_suite(jobs, job_fn, out_dir, workers=workers)
        if suite == "B1" and not rows:
            records += _combined_row(records, budget, n_seeds, datasets, out_dir, workers, order)
    summary = summarise(records, order)
    if suite == "B1":
        summary += _published_rows(datasets)
    md, csv_path = write_summary(summary, metrics, out_dir / suite / "summary", title=f"{suite} ({budget.steps} steps)")
    click.echo(md.read_text())
    click.echo(f"summary: {md} and {csv_path}")


def _combined_row(records, budget, n_seeds, datasets, out_dir, workers, order) -> list[dict]:
    """B1's last row: DMPRA with the best other row (most modes, then HQ %, over all data sets)."""
    from modecover.bench import suites
    from modecover.bench.harness import run_suite, summarise
    from modecover.bench.jobs import run_2d_job

    others = [r for r in summarise(records) if r.row not in ("GAN", "DMPRA")]
    if not others:
        return []
    score: dict[str, list[float]] = {}
    for r in others:
        score.setdefault(r.row, []).append(r.mean.get("modes", 0.0) + 1e-3 * r.mean.get("hq_percent", 0.0))
    best = max(score, key=lambda row: sum(score[row]) / len(score[row]))
    extra = suites.b1_jobs(n_seeds, budget, datasets=datasets or ("ring", "grid"), rows=suites.b1_combined_row(best))
    order.extend(suites.row_order(extra))
    click.echo(f"B1: best other row is {best}; running DMPRA + {best}")
    return run_suite(extra, run_2d_job, out_dir, workers=workers)


def _published_rows(datasets):
    from modecover.bench.harness import SummaryRow
    from modecover.bench.suites import PUBLISHED_B1

    return [SummaryRow(ds, row, 0, values, {}, 0.0, source="published")
            for (ds, row), values in PUBLISHED_B1.items() if not datasets or ds in datasets]
