"""Result tables from per-seed CSV files: the committed numbers behind docs/RESULTS.md.

A per-seed CSV (``per_seed.csv``) has one row per (data set, row, seed) job with every
metric; :func:`render` turns the rows of chosen data sets into a Markdown table of mean ±
standard error over seeds (sample standard deviation / sqrt(n)), and for
``minority_captured`` also how many seeds captured all / some / none of the minority
modes. ``docs/RESULTS.md`` holds each table between ``<!-- table NAME -->`` and
``<!-- /table -->`` markers; :func:`update` rewrites those blocks from the CSVs and
:func:`check` reports every block that differs from what the CSVs give.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from modecover.labels import label

from .harness import summarise

PER_SEED_KEYS = ("dataset", "row", "seed")


def write_per_seed(records: Sequence[dict], path: Path) -> Path:
    """One CSV row per job record: data set, row, seed, seconds, then every metric (sorted)."""
    metrics = sorted({m for r in records for m in r["metrics"]})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(records, key=lambda r: (r["dataset"], r["row"], int(r["seed"])))
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*PER_SEED_KEYS, "seconds", *metrics])
        for r in ordered:
            writer.writerow([r["dataset"], r["row"], int(r["seed"]), r.get("seconds", ""),
                             *[repr(float(r["metrics"][m])) if m in r["metrics"] else "" for m in metrics]])
    return path


def collect(suite_dir: Path) -> list[dict]:
    """Every job record (``seed*.json``) under a suite's result folder, e.g. ``runs/bench/B2``:
    the results that have landed so far, also while the suite is still running."""
    from .harness import load_record

    return [load_record(p) for p in sorted(Path(suite_dir).rglob("seed*.json"))]


def read_per_seed(path: Path) -> list[dict]:
    """Job records (dataset, row, seed, seconds, metrics) from a per-seed CSV."""
    with Path(path).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not set(PER_SEED_KEYS) <= set(rows[0]):
        raise ValueError(f"{path}: a per-seed CSV needs the columns {list(PER_SEED_KEYS)}")
    records = []
    for row in rows:
        metrics = {k: float(v) for k, v in row.items() if k not in (*PER_SEED_KEYS, "seconds") and v != ""}
        records.append({"dataset": row["dataset"], "row": row["row"], "seed": int(row["seed"]),
                        "seconds": float(row["seconds"] or 0), "metrics": metrics})
    return records


@dataclass(frozen=True)
class TableSpec:
    """A table of docs/RESULTS.md: which CSV, which data sets and rows (in order), which metrics."""

    name: str
    csv: str  # path relative to the repository root
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[str, ...] = ()  # empty: every row, in the CSV's order of first appearance
    n_minority: int | None = None  # show all / some / none counts of minority_captured


def _captured_counts(records: list[dict], n_minority: int) -> str:
    values = [r["metrics"]["minority_captured"] for r in records if "minority_captured" in r["metrics"]]
    if not values:  # a balanced data set has no minority modes
        return "—"
    every = sum(v >= n_minority for v in values)
    none = sum(v == 0 for v in values)
    return f"{every} / {len(values) - every - none} / {none}"


def render(spec: TableSpec, records: list[dict]) -> str:
    """The Markdown table of ``spec`` from per-seed records."""
    chosen = [r for r in records if r["dataset"] in spec.datasets and (not spec.rows or r["row"] in spec.rows)]
    order = list(spec.rows) or list(dict.fromkeys(r["row"] for r in chosen))
    header = ["data", "row", "seeds", *[label(m) for m in spec.metrics]]
    if spec.n_minority:
        header.append("seeds with all / some / no minority modes")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for summary in summarise(chosen, order):
        cells = [summary.dataset, summary.row, str(summary.n_seeds)]
        cells += [f"{summary.mean[m]:.3g} ± {summary.sem[m]:.2g}" if m in summary.mean else "—" for m in spec.metrics]
        if spec.n_minority:
            mine = [r for r in chosen if (r["dataset"], r["row"]) == (summary.dataset, summary.row)]
            cells.append(_captured_counts(mine, spec.n_minority))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_BLOCK = re.compile(r"(<!-- table (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(\n?<!-- /table -->)", re.S)


def _tables(root: Path, specs: Sequence[TableSpec]) -> dict[str, str]:
    cache: dict[str, list[dict]] = {}
    out = {}
    for spec in specs:
        if spec.csv not in cache:
            cache[spec.csv] = read_per_seed(root / spec.csv)
        out[spec.name] = render(spec, cache[spec.csv])
    return out


def update(doc: Path, root: Path, specs: Sequence[TableSpec]) -> list[str]:
    """Rewrite every marked table of ``doc`` from the CSVs; returns the names rewritten."""
    tables = _tables(root, specs)
    text = Path(doc).read_text()
    names = []

    def swap(match: re.Match) -> str:
        name = match["name"]
        if name not in tables:
            return match.group(0)
        names.append(name)
        return match.group(1) + tables[name] + "\n<!-- /table -->"

    Path(doc).write_text(_BLOCK.sub(swap, text))
    return names


def check(doc: Path, root: Path, specs: Sequence[TableSpec]) -> list[str]:
    """Problems: a table missing from ``doc``, or a block that differs from what the CSVs give."""
    tables = _tables(root, specs)
    found = {m["name"]: m["body"] for m in _BLOCK.finditer(Path(doc).read_text())}
    problems = []
    for name, table in tables.items():
        if name not in found:
            problems.append(f"{doc}: no block <!-- table {name} -->")
        elif found[name].strip() != table.strip():
            problems.append(f"{doc}: table {name} differs from its per-seed CSV (run scripts/results_tables.py)")
    return problems


__all__ = ["TableSpec", "check", "collect", "read_per_seed", "render", "update", "write_per_seed"]
