"""Which kind of run folder ``modecover report`` was given.

A folder's ``run.json`` names the command that wrote it (:mod:`modecover.runs`); a
folder without one is recognised by the files its command writes. A folder matching no
kind is refused with one line naming the folder and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .readers import read_json
from .results import ResultsError

KINDS = ("train", "audit", "evaluate", "demo", "bench")
BENCH_SUITES = ("B1", "B2", "B3", "B4")
EXPECTED = ("run.json naming its command, or the files of one: results.json (demo), config.json with log.csv "
            "or a checkpoint (train), audit.csv or summary.json (audit), a JSON file written by evaluate --out "
            "or an explain folder with groups.json (evaluate), B1/B2/B3/B4 folders (bench)")


@dataclass(frozen=True)
class RunFolder:
    """A run folder to report on: its kind, the folder, and (evaluate) the metrics JSON in it."""

    kind: str
    path: Path
    metrics_file: Path | None = None


def is_evaluate_json(path: Path) -> bool:
    """Whether ``path`` is a JSON file written by ``modecover evaluate --out``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    config = raw.get("config") if isinstance(raw, dict) else None
    return isinstance(config, dict) and "n_real" in config and "n_fake" in config


def evaluate_json(folder: Path) -> Path | None:
    """The first (by name) JSON file of ``folder`` that ``evaluate --out`` wrote."""
    return next((p for p in sorted(folder.glob("*.json")) if is_evaluate_json(p)), None)


def explain_folders(folder: Path) -> list[Path]:
    """``folder`` itself when it holds groups.json, else its sub-folders that do, and the
    ``<run>/explain/`` folders of the run layout (docs/report.md)."""
    if (folder / "groups.json").is_file():
        return [folder]
    return sorted({p.parent for pattern in ("*/groups.json", "*/explain/groups.json") for p in folder.glob(pattern)})


def explain_label(directory: Path) -> str:
    """How the page names an explain folder: ``<run>/explain`` by its run, others by their own name."""
    return directory.parent.name if directory.name == "explain" and directory.parent.name else directory.name


def _is_train(folder: Path) -> bool:
    return (folder / "config.json").is_file() and ((folder / "log.csv").is_file() or any(folder.glob("*.ckpt")))


def _is_audit(folder: Path) -> bool:
    return (folder / "audit.csv").is_file() or ((folder / "summary.json").is_file()
                                                 and (folder / "audit.png").is_file())


def _is_bench(folder: Path) -> bool:
    return any((folder / s).is_dir() for s in BENCH_SUITES)


RECOGNISERS: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    ("evaluate", lambda f: evaluate_json(f) is not None),
    ("demo", lambda f: (f / "results.json").is_file()),
    ("train", _is_train),
    ("audit", _is_audit),
    ("bench", _is_bench),
    ("evaluate", lambda f: bool(explain_folders(f))),
)


def _recorded_kind(folder: Path) -> str | None:
    marker = folder / "run.json"
    if not marker.is_file():
        return None
    command = read_json(marker).get("command")
    if command not in KINDS:
        raise ResultsError(f"{marker}: command {command!r} has no report; modecover report reads runs of "
                           f"{', '.join(KINDS)}")
    return command


def find_run(path: Path) -> RunFolder:
    """The kind of run at ``path`` (a folder, or the JSON file ``evaluate --out`` wrote)."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".json" and is_evaluate_json(path):
            return RunFolder("evaluate", path.parent, path)
        raise ResultsError(f"{path}: a file; modecover report reads a run folder (or a JSON file written by "
                           "evaluate --out)")
    if not path.is_dir():
        raise ResultsError(f"{path}: run folder not found")
    kind = _recorded_kind(path) or next((k for k, test in RECOGNISERS if test(path)), None)
    if kind is None:
        raise ResultsError(f"{path}: not a run folder modecover report understands; expected {EXPECTED}")
    return RunFolder(kind, path, evaluate_json(path) if kind == "evaluate" else None)
