"""Read and validate a demo folder's ``results.json`` (the ``demo`` kind of report).

The layout is documented in ``docs/report.md``. Validation is strict about what is
present (wrong types raise :class:`ResultsError` naming the file and the key path, e.g.
``results.json: runs.gan.metrics.fid: expected a number, got 'abc'``) and lenient about
what is absent: every key except ``runs`` is optional, and a report section whose input
is missing is left out with a note instead of failing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path


class ResultsError(ValueError):
    """``results.json`` (or a file it points to) is malformed; the message names file and key."""


@dataclass(frozen=True)
class Round:
    """One DMPRA round of a run: its metrics and how many samples the search flagged."""

    round: int
    metrics: dict[str, float]
    n_minority: int | None = None


@dataclass(frozen=True)
class Run:
    """One trained model: final metrics, per-mode shares, DMPRA rounds, samples file."""

    name: str
    metrics: dict[str, float]
    per_mode_share: list[float] | None = None
    rounds: list[Round] = field(default_factory=list)
    samples: str | None = None  # path relative to RUN_DIR


@dataclass(frozen=True)
class DataInfo:
    """The training data: its name, the mixture's mode means/weights, minority modes."""

    name: str = "data"
    means: list[list[float]] | None = None
    weights: list[float] | None = None
    minority: list[int] = field(default_factory=list)
    samples: str | None = None  # path relative to RUN_DIR (default data.npy)


@dataclass(frozen=True)
class Results:
    title: str
    data: DataInfo
    runs: dict[str, Run]
    headline: str | None = None  # one paragraph saying what happened, shown first


def _fail(file: str, key: str, message: str):
    raise ResultsError(f"{file}: {key}: {message}")


def _number(value, file: str, key: str) -> float:
    # bool is an int subclass; True as a metric value is almost certainly a bug upstream.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(file, key, f"expected a number, got {value!r}")
    return float(value) if isinstance(value, float) else value


def _mapping(value, file: str, key: str) -> dict:
    if not isinstance(value, dict):
        _fail(file, key, f"expected an object, got {type(value).__name__} {value!r:.60}")
    return value


def _list(value, file: str, key: str) -> list:
    if not isinstance(value, list):
        _fail(file, key, f"expected a list, got {type(value).__name__} {value!r:.60}")
    return value


def _string(value, file: str, key: str) -> str:
    if not isinstance(value, str):
        _fail(file, key, f"expected a string, got {value!r:.60}")
    return value


def _metrics(value, file: str, key: str) -> dict[str, float]:
    return {str(name): _number(v, file, f"{key}.{name}") for name, v in _mapping(value, file, key).items()}


def _numbers(value, file: str, key: str) -> list[float]:
    return [_number(v, file, f"{key}[{i}]") for i, v in enumerate(_list(value, file, key))]


def _data(raw, file: str) -> DataInfo:
    raw = _mapping(raw, file, "data")
    means = None
    if raw.get("means") is not None:
        means = [_numbers(row, file, f"data.means[{i}]")
                 for i, row in enumerate(_list(raw["means"], file, "data.means"))]
        widths = {len(row) for row in means}
        if len(widths) > 1:
            _fail(file, "data.means", f"rows have different lengths {sorted(widths)}")
    weights = _numbers(raw["weights"], file, "data.weights") if raw.get("weights") is not None else None
    if means is not None and weights is not None and len(means) != len(weights):
        _fail(file, "data.weights", f"has {len(weights)} entries but data.means has {len(means)} modes")
    minority = []
    for i, j in enumerate(_list(raw.get("minority", []), file, "data.minority")):
        if isinstance(j, bool) or not isinstance(j, int):
            _fail(file, f"data.minority[{i}]", f"expected a mode index (integer), got {j!r}")
        n_modes = len(means) if means is not None else (len(weights) if weights is not None else None)
        if j < 0 or (n_modes is not None and j >= n_modes):
            _fail(file, f"data.minority[{i}]", f"mode index {j} is out of range for {n_modes} modes")
        minority.append(j)
    name = _string(raw.get("name", "data"), file, "data.name")
    samples = _string(raw["samples"], file, "data.samples") if raw.get("samples") is not None else None
    return DataInfo(name=name, means=means, weights=weights, minority=minority, samples=samples)


def _round(raw, file: str, key: str) -> Round:
    raw = _mapping(raw, file, key)
    if "round" not in raw:
        _fail(file, f"{key}.round", "is missing")
    r = raw["round"]
    if isinstance(r, bool) or not isinstance(r, int):
        _fail(file, f"{key}.round", f"expected an integer, got {r!r}")
    n_minority = raw.get("n_minority")
    if n_minority is not None and (isinstance(n_minority, bool) or not isinstance(n_minority, int) or n_minority < 0):
        _fail(file, f"{key}.n_minority", f"expected a non-negative integer, got {n_minority!r}")
    return Round(round=r, metrics=_metrics(raw.get("metrics", {}), file, f"{key}.metrics"), n_minority=n_minority)


def _run(name: str, raw, file: str, n_modes: int | None) -> Run:
    key = f"runs.{name}"
    raw = _mapping(raw, file, key)
    share = None
    if raw.get("per_mode_share") is not None:
        share = _numbers(raw["per_mode_share"], file, f"{key}.per_mode_share")
        if n_modes is not None and len(share) != n_modes:
            _fail(file, f"{key}.per_mode_share", f"has {len(share)} entries but the data has {n_modes} modes")
    rounds = [_round(r, file, f"{key}.rounds[{i}]")
              for i, r in enumerate(_list(raw.get("rounds", []), file, f"{key}.rounds"))]
    samples = _string(raw["samples"], file, f"{key}.samples") if raw.get("samples") is not None else None
    return Run(
        name=name,
        metrics=_metrics(raw.get("metrics", {}), file, f"{key}.metrics"),
        per_mode_share=share,
        rounds=rounds,
        samples=samples,
    )


def parse_results(raw, file: str = "results.json") -> Results:
    """Validate an already-decoded ``results.json`` object; see ``docs/report.md``."""
    raw = _mapping(raw, file, "(top level)")
    if "runs" not in raw:
        _fail(file, "runs", "is missing (it maps each run name to its metrics)")
    data = _data(raw.get("data", {}), file)
    n_modes = len(data.means) if data.means is not None else (len(data.weights) if data.weights is not None else None)
    runs_raw = _mapping(raw["runs"], file, "runs")
    runs = {str(name): _run(str(name), value, file, n_modes) for name, value in runs_raw.items()}
    title = _string(raw.get("title", "modecover report"), file, "title")
    headline = _string(raw["headline"], file, "headline") if "headline" in raw else None
    return Results(title=title, data=data, runs=runs, headline=headline)


def load_results(path: str | Path) -> Results:
    """Read and validate a ``results.json`` file; raise :class:`ResultsError` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: not found (a run directory needs a results.json; see docs/report.md)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from err
    except UnicodeDecodeError as err:
        raise ResultsError(f"{path}: not UTF-8 text ({err.reason})") from err
    return parse_results(raw, str(path))


def format_number(value: float | int | None) -> str:
    """How the report prints a number: integers in full, floats with 4 significant digits.

    ``None`` (a metric a run does not have) prints as an em dash; NaN as ``nan``.
    """
    if value is None:
        return "\u2014"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"
