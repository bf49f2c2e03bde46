"""The ``bench`` kind: a folder written by ``modecover bench`` (OUT/B1|B2|B3|B4/ with
summary.csv, summary.md, per_seed.csv and one seed<k>.json per finished job).

Per suite: the summary table (mean ± standard error over seeds), a bar chart per data set,
which modes each row's samples missed in how many seeds (from the ``explain`` key of the
seed<k>.json files, when they have one), and every seed's numbers. A suite still running
(no summary.csv yet) is summarised from per_seed.csv, else from the seed<k>.json files that
have landed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from .. import plots
from ..labels import label, lower_is_better
from .kinds import BENCH_SUITES, RunFolder
from .page import Figures, Page, Section, figure, slug, table
from .readers import read_number_csv
from .results import ResultsError, format_number

TEXT_COLUMNS = ("dataset", "row", "source")


@dataclass(frozen=True)
class BenchRow:
    """One row of a suite's summary: mean and standard error of each metric over seeds."""

    dataset: str
    row: str
    source: str  # "measured", or e.g. "published" (numbers quoted from a paper)
    n_seeds: int
    mean: dict[str, float]
    sem: dict[str, float]


def _from_summary_csv(path: Path) -> tuple[list[BenchRow], list[str]]:
    rows = read_number_csv(path, TEXT_COLUMNS)
    header = list(rows[0]) if rows else []
    missing = [c for c in ("dataset", "row", "n_seeds") if rows and c not in header]
    if missing:
        raise ResultsError(f"{path}: missing column(s) {missing}")
    metrics = [c for c in header if f"{c}_sem" in header]
    out = [BenchRow(str(r["dataset"]), str(r["row"]), str(r.get("source") or "measured"), int(r["n_seeds"] or 0),
                    {m: r[m] for m in metrics if r[m] is not None}, {m: r[f"{m}_sem"] for m in metrics
                                                                     if r[f"{m}_sem"] is not None}) for r in rows]
    return out, metrics


def _from_records(records: list[dict]) -> tuple[list[BenchRow], list[str]]:
    from modecover.bench.harness import summarise

    rows = [BenchRow(s.dataset, s.row, s.source, s.n_seeds, s.mean, s.sem) for s in summarise(records)]
    return rows, sorted({m for r in records for m in r["metrics"]})


def read_suite(suite_dir: Path) -> tuple[list[BenchRow], list[str], str]:
    """The suite's rows and metrics, and which file they came from."""
    from modecover.bench.tables import collect, read_per_seed

    if (suite_dir / "summary.csv").is_file():
        return (*_from_summary_csv(suite_dir / "summary.csv"), "summary.csv")
    try:
        if (suite_dir / "per_seed.csv").is_file():
            return (*_from_records(read_per_seed(suite_dir / "per_seed.csv")), "per_seed.csv (no summary.csv)")
        records = collect(suite_dir)
    except ValueError as err:  # the bench readers name the file
        raise ResultsError(str(err)) from err
    return (*_from_records(records), "seed*.json files (no summary.csv or per_seed.csv)") if records else ([], [], "")


def best_rows(rows: list[BenchRow], metrics: list[str]) -> dict[str, BenchRow]:
    """Per metric, the measured row with the best mean (largest, or smallest for
    :func:`~modecover.labels.lower_is_better`)."""
    best = {}
    for m in metrics:
        have = [r for r in rows if r.source == "measured" and m in r.mean and r.mean[m] == r.mean[m]]  # not NaN
        if have:
            pick = min if lower_is_better(m) else max
            best[m] = pick(have, key=lambda r: r.mean[m])
    return best


def _cell(row: BenchRow, metric: str) -> str:
    if metric not in row.mean:
        return "\u2014"
    if row.source != "measured":
        return format_number(row.mean[metric])
    return f"{format_number(row.mean[metric])} ± {format_number(row.sem.get(metric))}"


def _bars(section: Section, suite: str, rows: list[BenchRow], metrics: list[str], figures: Figures) -> None:
    for dataset in dict.fromkeys(r.dataset for r in rows):
        mine = [r for r in rows if r.dataset == dataset and r.source == "measured"]
        shown = [m for m in metrics if any(m in r.mean for r in mine)]
        if not mine or not shown:
            continue
        path, href = figures.path(f"bench_{suite}_{dataset}")
        plots.bench_bars([r.row for r in mine], {m: [r.mean.get(m) for r in mine] for m in shown},
                         {m: [r.sem.get(m) for r in mine] for m in shown}, path)
        section.body.append(figure(href, f"{suite}, {dataset}: mean of each metric over seeds, one bar per row; "
                                         "error bars: standard error."))


def missed_modes(records: list[dict]) -> dict[tuple[str, str], tuple[int, dict[int, int]]]:
    """Per (data set, row): how many seeds have an explain summary, and per mode in how many
    of them it was missed."""
    out: dict[tuple[str, str], tuple[int, dict[int, int]]] = {}
    for r in records:
        said = r.get("explain")
        if not isinstance(said, dict) or not isinstance(said.get("missed_modes"), list):
            continue
        n, counts = out.get((r["dataset"], r["row"]), (0, {}))
        for mode in said["missed_modes"]:
            counts[int(mode)] = counts.get(int(mode), 0) + 1
        out[(r["dataset"], r["row"])] = (n + 1, counts)
    return out


def _missed(section: Section, suite: str, suite_dir: Path, rows: list[BenchRow]) -> None:
    """Which modes each row missed in how many seeds (the seed files' explain summaries)."""
    from modecover.bench.tables import collect

    try:
        found = missed_modes(collect(suite_dir))
    except ValueError as err:  # the bench reader names the file
        raise ResultsError(str(err)) from err
    if not found:
        return
    order = [(r.dataset, r.row) for r in rows] + sorted(k for k in found if k not in {(r.dataset, r.row) for r in rows})
    body = []
    for key in order:
        if key in found:
            n, counts = found[key]
            said = ", ".join(f"{m} ({c} of {n})" for m, c in sorted(counts.items())) or "none"
            body.append([key[0], key[1], str(n), said])
    section.text("Modes (classes, for digits) missed (at least half of a mode's real points uncovered by the samples; "
                 "modecover.explain.explain): each mode with the number of seeds that missed it, of the seeds "
                 "whose result file has an explain summary:")
    section.body.append(table(f"missed-{suite}", ["dataset", "row", "n_explained", "missed_modes"], body,
                              text_columns=2))


def _per_seed(section: Section, suite: str, path: Path) -> None:
    if not path.is_file():
        section.note(f"{path}: not found: no per-seed table.")
        return
    records = read_number_csv(path, ("dataset", "row"))
    if not records:
        return
    keys = list(records[0])
    rows = [[str(r["dataset"])] + [str(r[k]) if k == "row" else format_number(r[k]) for k in keys[1:]]
            for r in records]
    section.body.append(f"<details><summary>Every seed ({len(records)} runs, {html.escape(path.name)})</summary>")
    section.body.append(table(f"per-seed-{suite}", keys, rows, text_columns=2))
    section.body.append("</details>")


def suite_section(suite: str, suite_dir: Path, figures: Figures) -> tuple[Section, list[BenchRow], list[str]]:
    section = Section(f"suite-{slug(suite)}", f"Suite {suite}")
    rows, metrics, source = read_suite(suite_dir)
    if not rows:
        section.note(f"{suite_dir}: no summary.csv, per_seed.csv or seed*.json yet: no results to show.")
        return section, rows, metrics
    section.text(f"Mean ± standard error over seeds (from {source}); published rows quote the paper.")
    body = [[r.dataset, r.row, str(r.n_seeds) if r.source == "measured" else r.source] + [_cell(r, m) for m in metrics]
            for r in rows]
    section.body.append(table(f"bench-{suite}", ["dataset", "row", "n_seeds"] + metrics, body, text_columns=2))
    _bars(section, suite, rows, metrics, figures)
    _missed(section, suite, suite_dir, rows)
    _per_seed(section, suite, suite_dir / "per_seed.csv")
    return section, rows, metrics


def _seeds(rows: list[BenchRow]) -> str:
    counts = sorted({r.n_seeds for r in rows})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}\u2013{counts[-1]}"


def suite_headline(suite: str, rows: list[BenchRow], metrics: list[str]) -> str:
    """Rows × seeds per data set and the best measured row per metric."""
    measured = [r for r in rows if r.source == "measured"]
    if not measured:
        return f"{suite}: no measured rows yet."
    said = []
    for dataset in dict.fromkeys(r.dataset for r in measured):
        mine = [r for r in measured if r.dataset == dataset]
        best = best_rows(mine, metrics)
        said.append(f"{suite} on {dataset}: {len(mine)} rows × {_seeds(mine)} seeds. Best row: "
                    + ", ".join(f"{label(m)} {r.row} ({format_number(r.mean[m])})" for m, r in best.items()) + ".")
    quoted = len(rows) - len(measured)
    return " ".join(said) + (f" ({quoted} published rows quoted for comparison.)" if quoted else "")


def build(run: RunFolder, figures: Figures) -> Page:
    """The page of a ``modecover bench`` folder."""
    folder = run.path
    suites = [s for s in BENCH_SUITES if (folder / s).is_dir()]
    sections, said = [], []
    for suite in suites:
        section, rows, metrics = suite_section(suite, folder / suite, figures)
        sections.append(section)
        said.append(suite_headline(suite, rows, metrics))
    if not suites:
        sections.append(Section("suites", "Suites"))
        sections[0].note(f"{folder}: no B1, B2, B3 or B4 folder yet: no suite has run here.")
        said.append("No suite has run in this folder yet.")
    return Page(f"modecover bench: {folder.name}", " ".join(said), f"Bench folder: {folder}; suites: "
                + (", ".join(suites) or "none"), sections)
