"""Run a benchmark suite: many (row, data set, seed) jobs, in parallel, resumable.

A *job* is one training run plus its evaluation, described by a plain JSON spec; its
result is one JSON file ``OUT/<suite>/<dataset>/<row>/seed<k>.json`` holding its metrics
and, when the job gives a :class:`JobResult`, further keys beside them (e.g. ``explain``:
what the samples missed, which is no metric and is not averaged). A suite that was
interrupted resumes by skipping every job whose result file exists (files are written
atomically, so a killed job leaves none; the training jobs of ``modecover.bench.jobs``
then continue from the job folder's last checkpoint). With a :class:`Batching`, jobs of one key run
together as one task (B1/B2: the seeds of a plain GAN row as one ensemble,
``modecover.bench.jobs.run_2d_jobs``), each still writing its own result file. The
summary groups results by data set and row
and gives mean ± standard error over seeds (Markdown and CSV), keeping every row.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

from modecover.io import write_atomic
from modecover.parallel import Task, run_tasks


@dataclass(frozen=True)
class JobResult:
    """What a job may return instead of its bare metrics: the metrics and ``extra`` keys for
    its result record (names other than the record's own: suite, dataset, row, seed,
    metrics, seconds, spec)."""

    metrics: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


JobFn = Callable[[dict[str, Any]], "dict[str, float] | JobResult"]
RECORD_KEYS = ("suite", "dataset", "row", "seed", "metrics", "seconds", "spec")


@dataclass(frozen=True)
class Job:
    suite: str
    dataset: str
    row: str
    seed: int
    spec: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def result_path(self, out_dir: Path) -> Path:
        return Path(out_dir) / self.suite / self.dataset / _safe(self.row) / f"seed{self.seed}.json"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass(frozen=True)
class Batching:
    """Jobs that may run together: those with the same non-None ``key(spec)`` run as batches
    of at most ``size`` through ``run(specs) -> results`` (e.g. seeds trained as one ensemble)."""

    key: Callable[[dict[str, Any]], str | None]
    run: Callable[[list[dict[str, Any]]], list]
    size: int = 10


def _spec_of(job: Job, out_dir: str) -> dict[str, Any]:
    return dict(job.spec, seed=job.seed, out_dir=str(job.result_path(Path(out_dir)).parent))


def _write_record(job: Job, out, seconds: float, out_dir: str) -> dict:
    """Write a job's result file (atomically); return the record."""
    metrics, extra = (out.metrics, out.extra) if isinstance(out, JobResult) else (out, {})
    clash = [k for k in extra if k in RECORD_KEYS]
    if clash:
        raise ValueError(f"{job.result_path(Path(out_dir))}: the job's extra keys {clash} "
                         "would replace the record's own")
    record = {"suite": job.suite, "dataset": job.dataset, "row": job.row, "seed": job.seed,
              "metrics": metrics, "seconds": round(seconds, 2), "spec": job.spec, **extra}
    write_atomic(job.result_path(Path(out_dir)), json.dumps(record, indent=1))
    return record


def _run_one(job_fn: JobFn, job: Job, out_dir: str, report=None) -> dict:
    """Run one job and write its result file; return the record."""
    start = time.perf_counter()
    out = job_fn(_spec_of(job, out_dir))
    return _write_record(job, out, time.perf_counter() - start, out_dir)


def _run_batch(batch_fn, jobs: list[Job], out_dir: str, report=None) -> list[dict]:
    """Run jobs as one batch and write each result file (seconds: the batch's share per job)."""
    start = time.perf_counter()
    outs = batch_fn([_spec_of(job, out_dir) for job in jobs])
    seconds = (time.perf_counter() - start) / len(jobs)
    return [_write_record(job, out, seconds, out_dir) for job, out in zip(jobs, outs)]


def _tasks(jobs: list[Job], job_fn: JobFn, out_dir: str, workers: int, batching: Batching | None) -> list[Task]:
    """One task per job, or per batch of jobs with one batching key (batches no larger than
    keeps every worker busy)."""
    groups: dict[str, list[Job]] = {}
    tasks = []
    for job in jobs:
        key = batching.key(job.spec) if batching is not None else None
        if key is None:
            tasks.append(Task(str(job.result_path(Path(out_dir))), partial(_run_one, job_fn, job, out_dir)))
        else:
            groups.setdefault(key, []).append(job)
    for group in groups.values():
        size = max(1, min(batching.size, -(-len(group) // workers)))
        for start in range(0, len(group), size):
            batch = group[start:start + size]
            name = f"{batch[0].result_path(Path(out_dir))} (+{len(batch) - 1} seeds)"
            tasks.append(Task(name, partial(_run_batch, batching.run, batch, out_dir)))
    return tasks


def run_suite(jobs: Sequence[Job], job_fn: JobFn, out_dir: str | Path, *, workers: int = 2,
              progress: bool = True, batching: Batching | None = None) -> list[dict]:
    """Run every job whose result file is missing (``workers`` processes, one torch thread
    each: :func:`modecover.parallel.run_tasks`), jobs of one ``batching`` key together;
    return all records."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out_dir = Path(out_dir)
    todo = [job for job in jobs if not job.result_path(out_dir).exists()]
    unique = list({str(job.result_path(out_dir)): job for job in todo}.values())  # a job listed twice runs once
    tasks = _tasks(unique, job_fn, str(out_dir), workers, batching)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress) as bar:
        task = bar.add_task(f"{len(jobs) - len(todo)} done before, running", total=len(jobs),
                            completed=len(jobs) - len(todo))
        run_tasks(tasks, workers, on_done=lambda name, out: bar.advance(task, len(out) if isinstance(out, list) else 1))
    return [load_record(job.result_path(out_dir)) for job in jobs]


def load_record(path: Path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: unreadable benchmark result ({err}); delete it to re-run the job") from err
    for key in ("dataset", "row", "seed", "metrics"):
        if key not in record:
            raise ValueError(f"{path}: benchmark result lacks key {key!r}; delete it to re-run the job")
    return record


@dataclass
class SummaryRow:
    dataset: str
    row: str
    n_seeds: int
    mean: dict[str, float]
    sem: dict[str, float]
    seconds: float
    source: str = "measured"


def summarise(records: Sequence[dict], row_order: Sequence[str] | None = None) -> list[SummaryRow]:
    """Mean ± standard error (sample std / sqrt(n); 0 for one seed) per (data set, row)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        groups.setdefault((record["dataset"], record["row"]), []).append(record)
    order = {name: i for i, name in enumerate(row_order or [])}
    rows = []
    for (dataset, row), recs in sorted(groups.items(),
                                       key=lambda kv: (kv[0][0], order.get(kv[0][1], len(order)), kv[0][1])):
        names = sorted({m for r in recs for m in r["metrics"]})
        mean, sem = {}, {}
        for name in names:
            values = [float(r["metrics"][name]) for r in recs if name in r["metrics"]]
            mean[name] = sum(values) / len(values)
            if len(values) > 1:
                var = sum((v - mean[name]) ** 2 for v in values) / (len(values) - 1)
                sem[name] = math.sqrt(var / len(values))
            else:
                sem[name] = 0.0
        seconds = sum(float(r.get("seconds", 0.0)) for r in recs) / len(recs)
        rows.append(SummaryRow(dataset, row, len(recs), mean, sem, seconds))
    return rows


def write_summary(rows: Sequence[SummaryRow], metrics: Sequence[str], out_stem: Path,
                  title: str = "") -> tuple[Path, Path]:
    """Write ``<stem>.md`` (mean ± s.e.) and ``<stem>.csv`` (mean and s.e. columns)."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"### {title}", ""] if title else []
    lines.append("| data | row | seeds | " + " | ".join(metrics) + " | s/run |")
    lines.append("|---|---|---|" + "---|" * len(metrics) + "---|")
    for r in rows:
        cells = [_pm(r.mean.get(m), r.sem.get(m), r.source) for m in metrics]
        seeds = str(r.n_seeds) if r.source == "measured" else r.source
        secs = f"{r.seconds:.0f}" if r.source == "measured" else ""
        lines.append(f"| {r.dataset} | {r.row} | {seeds} | " + " | ".join(cells) + f" | {secs} |")
    md = out_stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n")
    csv_path = out_stem.with_suffix(".csv")
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "row", "source", "n_seeds", *[c for m in metrics for c in (m, f"{m}_sem")],
                         "seconds"])
        for r in rows:
            writer.writerow([r.dataset, r.row, r.source, r.n_seeds,
                             *[c for m in metrics for c in (r.mean.get(m, ""), r.sem.get(m, ""))], round(r.seconds, 2)])
    return md, csv_path


def _pm(mean: float | None, sem: float | None, source: str) -> str:
    if mean is None:
        return "—"
    if source != "measured":
        return f"{mean:.3g}"
    return f"{mean:.3g} ± {sem:.2g}"


__all__ = ["Batching", "Job", "JobResult", "SummaryRow", "load_record", "run_suite", "summarise", "write_summary"]
