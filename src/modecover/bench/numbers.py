"""Numbers in prose, computed from the per-seed CSVs: the comparisons of docs/RESULTS.md and README.md.

A sentence carries a number as ``<!-- num KIND ARGS -->TEXT<!-- /num -->`` (the comment is
invisible in rendered Markdown); ARGS are shell-quoted words, and a *side* is three of
them, ``CSV DATA ROW``:

- ``mean METRIC CSV DATA ROW``: the row's mean ± standard error over seeds, ``96.5 ± 0.24``;
- ``diff METRIC SIDE_A SIDE_B``: A − B ± its standard error, ``−0.84 ± 0.12``: paired by
  seed (the standard error of the per-seed differences) when both sides ran the same
  seeds, else the two standard errors combined (sqrt(se_A² + se_B²));
- ``z METRIC SIDE_A SIDE_B``: that difference over its standard error, ``7.0``;
- ``ratio METRIC SIDE_A SIDE_B``: A's mean over B's, ``1.84×``;
- ``seeds METRIC SIDE_A OP SIDE_B``: in how many of the seeds both sides ran A OP B holds,
  ``9 of 10`` ("higher in 9 of 10 seeds");
- ``count METRIC CSV DATA ROW OP VALUE``: how many seeds have METRIC OP VALUE (OP one of
  ``< <= > >= ==``), ``7 of 10``.

CSV names a per-seed CSV under ``results/``: ``B2`` is ``results/B2/per_seed.csv``,
``B2-validation/grid_recipes`` is ``results/B2-validation/grid_recipes_per_seed.csv``.
Mean and difference are rounded where their standard error's second significant digit
is (``88.4 ± 2.6``, ``0.0370 ± 0.0045``); a negative number takes the minus sign −.
:func:`update_numbers` rewrites every span from the CSVs, :func:`check_numbers` names
every span whose text differs from what the CSVs give.
"""

from __future__ import annotations

import math
import operator
import re
import shlex
from pathlib import Path
from typing import Callable, Sequence

from .tables import read_per_seed

SPAN = re.compile(r"<!-- num (?P<args>[^\n]*?) -->(?P<text>.*?)<!-- /num -->", re.S)
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
KINDS = {"mean": 4, "diff": 7, "z": 7, "ratio": 7, "count": 6, "seeds": 8}  # words after the kind


def csv_path(root: Path, name: str) -> Path:
    """``results/<name>/per_seed.csv`` if ``<name>`` is a folder of results/, else
    ``results/<name>_per_seed.csv``."""
    folder = Path(root) / "results" / name
    return folder / "per_seed.csv" if folder.is_dir() else folder.parent / f"{folder.name}_per_seed.csv"


class Source:
    """Per-seed values of the CSVs under ``root/results``, read once each."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._records: dict[str, list[dict]] = {}

    def values(self, metric: str, csv_name: str, dataset: str, row: str) -> dict[int, float]:
        """``{seed: value}`` of one metric of one (data set, row) of one CSV."""
        if csv_name not in self._records:
            path = csv_path(self.root, csv_name)
            if not path.is_file():
                raise ValueError(f"CSV {csv_name!r}: no file {path.relative_to(self.root)}")
            self._records[csv_name] = read_per_seed(path)
        records = self._records[csv_name]
        mine = [r for r in records if r["dataset"] == dataset and r["row"] == row]
        if not mine:
            rows = sorted({r["row"] for r in records if r["dataset"] == dataset})
            if not rows:
                datasets = sorted({r["dataset"] for r in records})
                raise ValueError(f"CSV {csv_name!r} has no data set {dataset!r} (it has {datasets})")
            raise ValueError(f"CSV {csv_name!r}, data set {dataset!r}: no row {row!r} (rows: {rows})")
        out = {r["seed"]: r["metrics"][metric] for r in mine if metric in r["metrics"]}
        if not out:
            raise ValueError(f"CSV {csv_name!r}, {dataset} / {row}: no metric {metric!r} "
                             f"(metrics: {sorted(mine[0]['metrics'])})")
        return out


def _mean_sem(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def difference(a: dict[int, float], b: dict[int, float]) -> tuple[float, float, bool]:
    """(mean of a − mean of b, its standard error, paired): paired by seed when both have
    the same seeds (at least two), else the two standard errors combined."""
    if set(a) == set(b) and len(a) > 1:
        return (*_mean_sem([a[s] - b[s] for s in sorted(a)]), True)
    (ma, sa), (mb, sb) = _mean_sem(list(a.values())), _mean_sem(list(b.values()))
    return ma - mb, math.hypot(sa, sb), False


def _minus(text: str) -> str:
    return text.replace("-", "−")


def format_estimate(value: float, sem: float, signed: bool = False) -> str:
    """``value ± sem``, the s.e. to two significant digits and the value to the same place;
    with ``sem`` 0 the value to three significant digits."""
    if sem == 0 or not math.isfinite(sem):
        number = f"{value:+.3g}" if signed else f"{value:.3g}"
        return _minus(number) + " ± 0"
    places = max(0, 1 - math.floor(math.log10(sem)))
    number = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
    if float(number) == 0:
        number = number.lstrip("+-")
    return f"{_minus(number)} ± {sem:.{places}f}"


def _comparison(kind: str, op: str) -> Callable[[float, float], bool]:
    if op not in COMPARE:
        raise ValueError(f"{kind}: unknown comparison {op!r} (one of {sorted(COMPARE)})")
    return COMPARE[op]


def render(args: Sequence[str], source: Source) -> str:
    """The text of one span from its words (``KIND ...``, see the module docstring)."""
    if not args or args[0] not in KINDS:
        raise ValueError(f"unknown kind {args[0] if args else ''!r} (one of {sorted(KINDS)})")
    kind, rest = args[0], list(args[1:])
    if len(rest) != KINDS[kind]:
        raise ValueError(f"{kind!r} takes {KINDS[kind]} words after it, got {len(rest)}: {rest}")
    metric = rest[0]
    if kind == "mean":
        return format_estimate(*_mean_sem(list(source.values(metric, *rest[1:4]).values())))
    if kind == "count":
        compare, threshold = _comparison(kind, rest[4]), rest[5]
        try:
            limit = float(threshold)
        except ValueError:
            raise ValueError(f"count: the threshold must be a number, got {threshold!r}") from None
        values = source.values(metric, *rest[1:4]).values()
        return f"{sum(compare(v, limit) for v in values)} of {len(values)}"
    if kind == "seeds":
        a, compare, b = source.values(metric, *rest[1:4]), _comparison(kind, rest[4]), source.values(metric, *rest[5:8])
        common = sorted(set(a) & set(b))
        if not common:
            raise ValueError(f"seeds: the two sides ran no seed in common ({sorted(a)} and {sorted(b)})")
        return f"{sum(compare(a[s], b[s]) for s in common)} of {len(common)}"
    if kind == "ratio":
        (mean_a, _), (mean_b, _) = (_mean_sem(list(source.values(metric, *side).values()))
                                    for side in (rest[1:4], rest[4:7]))
        if mean_b == 0:
            raise ValueError("ratio: the second side's mean is 0")
        return _minus(f"{mean_a / mean_b:.2f}×")
    diff, sem, _ = difference(source.values(metric, *rest[1:4]), source.values(metric, *rest[4:7]))
    if kind == "diff":
        return format_estimate(diff, sem, signed=True)
    if sem == 0:
        raise ValueError("z: the difference has standard error 0")
    return _minus(f"{diff / sem:.1f}")


def _words(args: str) -> list[str]:
    try:
        return shlex.split(args)
    except ValueError as err:  # an unclosed quote
        raise ValueError(f"cannot split the words: {err}") from None


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def check_numbers(doc: Path, root: Path, source: Source | None = None) -> list[str]:
    """Problems: every span of ``doc`` whose text differs from what the CSVs give, or that
    names a CSV, row or metric that does not exist (``doc:line: ...``)."""
    source = source or Source(root)
    text = Path(doc).read_text()
    problems = []
    for match in SPAN.finditer(text):
        where = f"{doc}:{_line(text, match.start())}"
        try:
            want = render(_words(match["args"]), source)
        except ValueError as err:
            problems.append(f"{where}: <!-- num {match['args']} -->: {err}")
            continue
        if match["text"] != want:
            problems.append(f"{where}: <!-- num {match['args']} --> says {match['text']!r}, the CSVs give "
                            f"{want!r} (run scripts/results_tables.py)")
    return problems


def count_numbers(doc: Path) -> int:
    """How many spans ``doc`` holds."""
    return sum(1 for _ in SPAN.finditer(Path(doc).read_text()))


def update_numbers(doc: Path, root: Path, source: Source | None = None) -> int:
    """Rewrite every span of ``doc`` from the CSVs; returns how many there are. A span
    that cannot be computed is an error naming its line, and nothing is written."""
    source = source or Source(root)
    text = Path(doc).read_text()
    parts, last = [], 0
    for match in SPAN.finditer(text):
        try:
            want = render(_words(match["args"]), source)
        except ValueError as err:
            raise ValueError(f"{doc}:{_line(text, match.start())}: <!-- num {match['args']} -->: {err}") from None
        parts += [text[last:match.start("text")], want]
        last = match.end("text")
    Path(doc).write_text("".join(parts) + text[last:])
    return len(parts) // 2


__all__ = ["Source", "check_numbers", "count_numbers", "csv_path", "difference", "format_estimate", "render",
           "update_numbers"]
