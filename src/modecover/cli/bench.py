"""``modecover bench SUITE``: run B1, B2, B3 or B4 (docs/RESULTS.md) with several seeds."""

from __future__ import annotations

import json
from pathlib import Path

import click

SUITES = ("B1", "B2", "B3", "B4")
DEFAULT_SEEDS = {"B1": 10, "B2": 10, "B3": 5, "B4": 10}
VALIDATION_SEEDS = 100  # seeds from here on are validation seeds: choices are made on them
BEST_OTHER = "best_other.json"


@click.command("bench")
@click.argument("suite", type=click.Choice(SUITES, case_sensitive=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/bench"),
              show_default=True, help="Results go to OUT/<suite>/...; an OUT holding an earlier bench run resumes it.")
@click.option("--overwrite", is_flag=True,
              help="Empty OUT first when it holds another modecover run (or an earlier bench).")
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Seeds per row (B1, B2 and B4 10, B3 5).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Training steps per run (default: the converged budget of each data set and family).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Parallel processes, one torch thread each.")
@click.option("--dataset", "datasets", multiple=True, help="Only these data sets (e.g. ring); repeatable.")
@click.option("--row", "rows", multiple=True, help="Only these rows (e.g. GAN); repeatable.")
@click.option("--seed-start", type=click.IntRange(min=0), default=0, show_default=True,
              help=f"First seed: test seeds start at 0, validation seeds at {VALIDATION_SEEDS}.")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Change one setting of every job (sections data, model, train; VALUE read as JSON, else as "
                   "text), e.g. --set model.loss=hinge; repeatable. Not the seeds (--seed-start) nor the sample "
                   "and checkpoint cadence, which the harness sets.")
@click.option("--ensemble/--no-ensemble", default=True, show_default=True,
              help="B1/B2: train the seeds of a plain GAN row (no methods) as batched ensembles (docs/training.md).")
def command(suite: str, out_dir: Path, overwrite: bool, seeds: int | None, steps: int | None, workers: int,
            datasets: tuple[str, ...], rows: tuple[str, ...], settings: tuple[str, ...], seed_start: int,
            ensemble: bool) -> None:
    """Run SUITE's jobs (skipping those already done in OUT), then write
    OUT/<suite>/summary.md and summary.csv (mean ± standard error over seeds per row) and
    OUT/<suite>/per_seed.csv (every seed's metrics).

    Every row of a data set trains the same schedule (a suite that does not is refused).
    B1's "DMPRA + best other" row: a validation run (--seed-start 100) chooses the best
    other row and writes OUT/B1/best_other.json; a test run of the same OUT reads it.
    OUT must be new, empty or an earlier bench run's folder, and not in use by another run.
    """
    from modecover.bench import suites
    from modecover.bench.harness import Batching, run_suite, summarise, write_summary
    from modecover.bench.jobs import ensemble_key, run_2d_job, run_2d_jobs
    from modecover.bench.tables import write_per_seed
    from modecover.runs import RunFolderError, claim_run_folder

    suite = suite.upper()
    n_seeds = seeds or DEFAULT_SEEDS[suite]
    jobs, job_fn, metrics = _suite_jobs(suite, n_seeds, steps, seed_start, out_dir)
    for option, asked, known in (("--dataset", datasets, {j.dataset for j in jobs}),
                                 ("--row", rows, {j.row for j in jobs})):
        unknown = [value for value in asked if value not in known]
        if unknown:  # each value on its own: one typo beside a valid value is not dropped silently
            raise click.BadParameter(f"{unknown} not in {suite}; choose from {sorted(known)}", param_hint=option)
    jobs = [j for j in jobs if (not datasets or j.dataset in datasets) and (not rows or j.row in rows)]
    if not jobs:
        raise click.UsageError(f"no {suite} job matches --dataset {list(datasets)} --row {list(rows)}")
    jobs = _with_settings(jobs, settings)
    try:
        suites.check_matched_schedules(jobs)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    order = suites.row_order(jobs)
    kind = "validation" if seed_start >= VALIDATION_SEEDS else "test"
    try:
        claim = claim_run_folder(out_dir, "bench", resume=True, overwrite=overwrite, resumable=False)
    except RunFolderError as err:
        raise click.ClickException(str(err)) from err
    with claim:
        click.echo(f"{suite}: {len(jobs)} jobs ({n_seeds} {kind} seeds from {seed_start}) -> {out_dir / suite}")
        batching = Batching(ensemble_key, run_2d_jobs) if ensemble and job_fn is run_2d_job else None
        records = run_suite(jobs, job_fn, out_dir, workers=workers, batching=batching)
        per_seed = write_per_seed(records, out_dir / suite / "per_seed.csv")
    summary = summarise(records, order)
    title = f"{suite} ({kind} seeds{'; ' + ', '.join(settings) if settings else ''})"
    if suite == "B1":
        if kind == "validation":
            _choose_best_other(summary, out_dir)
        record = _best_other(out_dir)
        if record:
            title += f"; best other row: {record['best_other']} ({record['how']})"
        summary += _published_rows(datasets)
    md, csv_path = write_summary(summary, metrics, out_dir / suite / "summary", title=title)
    click.echo(md.read_text())
    click.echo(f"summary: {md} and {csv_path}; every seed: {per_seed}")


def _suite_jobs(suite: str, n_seeds: int, steps: int | None, seed_start: int, out_dir: Path):
    """SUITE's jobs (B1's with the 'DMPRA + best other' row once chosen), the function that
    runs one, and the metrics its summary shows."""
    from dataclasses import replace

    from modecover.bench import suites
    from modecover.bench.jobs import run_2d_job, run_digits_job

    if suite == "B1":
        jobs = suites.b1_jobs(n_seeds, steps, seed_start=seed_start)
        jobs += _combined_row_jobs(out_dir, n_seeds, steps, seed_start)
        return jobs, run_2d_job, suites.METRICS_2D[:3] + suites.METRICS_2D[5:]
    if suite == "B2":
        return suites.b2_jobs(n_seeds, steps, seed_start=seed_start), run_2d_job, suites.METRICS_2D
    if suite == "B3":
        budget = replace(suites.CONVERGED_DIGITS, steps=steps) if steps else suites.CONVERGED_DIGITS
        return suites.b3_jobs(n_seeds, budget, seed_start=seed_start), run_digits_job, suites.METRICS_DIGITS
    budget = replace(suites.CONVERGED_MNIST, steps=steps) if steps else suites.CONVERGED_MNIST
    return suites.b4_jobs(n_seeds, budget, seed_start=seed_start), run_digits_job, suites.METRICS_DIGITS


_SEEDS = "each job's seed; --seed-start chooses the first"
_HARNESS_KEYS = {  # what modecover.bench.jobs.job_config sets, whatever a spec says
    "data.seed": _SEEDS, "train.seed": _SEEDS,
    "train.sample_every": "0: no sample plots", "train.checkpoint_every": "one checkpoint, at the end",
}


def _with_settings(jobs: list, settings: tuple[str, ...]) -> list:
    """The jobs with every ``SECTION.KEY=VALUE`` of ``settings`` in their specs, each new
    spec checked as ``modecover train`` checks a config (a bad key or value names itself)."""
    from dataclasses import replace

    from modecover.bench.jobs import job_config
    from modecover.config import ConfigError
    from modecover.data.registry import build_dataset

    changes = []
    for text in settings:
        key, equals, value = text.partition("=")
        section, dot, name = key.partition(".")
        if not equals or not dot or not name or section not in ("data", "model", "train"):
            raise click.UsageError(f"--set {text!r}: expected SECTION.KEY=VALUE with SECTION data, model or train")
        if key in _HARNESS_KEYS:
            raise click.UsageError(f"--set {text!r}: the harness sets {key} for every job ({_HARNESS_KEYS[key]})")
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # plain text, e.g. hinge
        changes.append((section, name, value))
    changed: dict[int, dict] = {}
    for job in jobs:
        if id(job.spec) not in changed:
            spec = {**job.spec, **{section: dict(job.spec[section]) for section, _, _ in changes}}
            for section, name, value in changes:
                spec[section][name] = value
            try:
                config = job_config(spec)
                if any(section == "data" for section, _, _ in changes):  # a value only building the data refuses
                    build_dataset(config.data)
            except (ConfigError, ValueError, OSError) as err:
                raise click.UsageError(f"--set {' '.join(settings)}: {err}") from err
            changed[id(job.spec)] = spec
    return [replace(job, spec=changed[id(job.spec)]) for job in jobs]


def _choose_best_other(summary, out_dir: Path) -> None:
    """B1 validation: the best row other than GAN and DMPRA, written to OUT/B1/best_other.json
    for the test run. A row scores, per data set, the share of its modes captured times its
    share of high-quality samples, averaged over the data sets: each data set counts alike
    (the grid's 25 modes do not outweigh the ring's 8) and a row that covers modes with
    off-mode samples scores low."""
    from modecover.data.mixtures import get_mixture

    scores: dict[str, list[float]] = {}
    for r in summary:
        if r.row not in ("GAN", "DMPRA") and not r.row.startswith("DMPRA +"):
            share_of_modes = r.mean.get("modes", 0.0) / len(get_mixture(r.dataset).means)
            scores.setdefault(r.row, []).append(share_of_modes * r.mean.get("hq_percent", 0.0) / 100)
    if not scores:
        return
    score = {row: sum(values) / len(values) for row, values in scores.items()}
    best = max(score, key=score.get)
    record = {"best_other": best,
              "how": "highest (modes captured / modes) x (HQ % / 100), averaged over the data sets, "
                     "on validation seeds",
              "scores": dict(sorted(score.items(), key=lambda item: -item[1]))}
    (out_dir / "B1").mkdir(parents=True, exist_ok=True)
    (out_dir / "B1" / BEST_OTHER).write_text(json.dumps(record, indent=1))
    click.echo(f"B1 validation: best other row is {best} ({record['how']})")


def _best_other(out_dir: Path) -> dict | None:
    """The validation run's choice (OUT/B1/best_other.json), if one was made."""
    path = out_dir / "B1" / BEST_OTHER
    return json.loads(path.read_text()) if path.is_file() else None


def _combined_row_jobs(out_dir: Path, n_seeds: int, steps, seed_start: int) -> list:
    """The 'DMPRA + <best other>' jobs (a row --row can name), once a validation run has
    chosen the best other row."""
    from modecover.bench import suites

    path, record = out_dir / "B1" / BEST_OTHER, _best_other(out_dir)
    if seed_start >= VALIDATION_SEEDS or record is None:
        if seed_start < VALIDATION_SEEDS:
            click.echo(f"B1: no {path} (run the validation seeds first: --seed-start {VALIDATION_SEEDS}); "
                       "the DMPRA + best other row is left out")
        return []
    best = record["best_other"]
    click.echo(f"B1: best other row {best!r}, chosen on validation seeds ({path})")
    return suites.b1_jobs(n_seeds, steps, rows=suites.b1_combined_row(best), seed_start=seed_start)


def _published_rows(datasets):
    from modecover.bench.harness import SummaryRow
    from modecover.bench.suites import PUBLISHED_B1

    return [SummaryRow(ds, row, 0, values, {}, 0.0, source="published")
            for (ds, row), values in PUBLISHED_B1.items() if not datasets or ds in datasets]
