"""Readers of the files a run folder holds, each checked for what the report uses.

A file that is present but malformed raises :class:`~.results.ResultsError` naming the
file and the problem (the column, line, key or array); an absent file is the caller's
business (it becomes a note on the page).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .results import ResultsError

SCORES_COLUMNS = ("score", "minority", "weight")  # plus a key column: index (features) or file (images)


def read_json(path: Path) -> dict:
    """A JSON object from ``path``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ResultsError(f"{path}: not found") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(raw, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw


def load_array(path: Path, what: str) -> np.ndarray | None:
    """A finite numeric ``.npy`` array, or None when ``path`` does not exist."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises several types for a bad file
        raise ResultsError(f"{path}: cannot read {what} as a .npy array ({err})") from err
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ResultsError(f"{path}: {what} must be numeric, got dtype {arr.dtype}")
    if arr.size and not np.isfinite(arr).all():
        raise ResultsError(f"{path}: {what} holds {int((~np.isfinite(arr)).sum())} non-finite value(s)")
    return arr


def _parse_flag(text: str, path: Path, line: int) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ResultsError(f"{path}: line {line}: column 'minority' must be 0/1 or true/false, got {text!r}")


def read_scores_csv(path: Path) -> dict[str, np.ndarray]:
    """A DMPRA ``scores.csv`` / ``dmpra_scores.csv`` / ``audit.csv``: a key column ``index``
    (or ``file``, for image folders) and the columns score, minority, weight.

    Returns arrays ``key`` (the key column's text), ``index`` (its integer, or the row
    number for ``file`` keys), ``score``, ``minority`` (bool) and ``weight``.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        found = reader.fieldnames or []
        key = "index" if "index" in found else "file" if "file" in found else None
        missing = ([] if key else ["index"]) + [c for c in SCORES_COLUMNS if c not in found]
        if missing:
            raise ResultsError(f"{path}: missing column(s) {missing}; expected index (or file),"
                               f"{','.join(SCORES_COLUMNS)}, found {found}")
        cols: dict[str, list] = {c: [] for c in ("key", "index", *SCORES_COLUMNS)}
        for line, row in enumerate(reader, start=2):
            try:
                cols["index"].append(int(row["index"]) if key == "index" else line - 2)
                cols["score"].append(float(row["score"]))
                cols["weight"].append(float(row["weight"]))
            except (TypeError, ValueError) as err:
                raise ResultsError(f"{path}: line {line}: {err}") from err
            cols["key"].append(row[key])
            cols["minority"].append(_parse_flag(row["minority"] or "", path, line))
    return {"key": np.asarray(cols["key"], dtype=str), "index": np.asarray(cols["index"], dtype=np.int64),
            "score": np.asarray(cols["score"], dtype=np.float64), "minority": np.asarray(cols["minority"], dtype=bool),
            "weight": np.asarray(cols["weight"], dtype=np.float64)}


def read_projection(npz: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``proj`` (n, 2) and ``minority`` (n,) of a round's ``perception.npz`` / ``dmpra_scores.npz``."""
    try:
        with np.load(npz, allow_pickle=False) as f:
            missing = [k for k in ("proj", "minority") if k not in f.files]
            if missing:
                raise ResultsError(f"{npz}: missing array(s) {missing}; it needs 'proj' (n, 2) and 'minority' (n,)")
            proj, minority = np.asarray(f["proj"], dtype=np.float64), np.asarray(f["minority"])
    except ResultsError:
        raise
    except Exception as err:
        raise ResultsError(f"{npz}: cannot read as .npz ({err})") from err
    if proj.ndim != 2 or proj.shape[1] != 2:
        raise ResultsError(f"{npz}: 'proj' must have shape (n, 2), got {proj.shape}")
    if minority.shape != (len(proj),):
        raise ResultsError(f"{npz}: 'minority' must have shape ({len(proj)},) to match 'proj', got {minority.shape}")
    if not np.isfinite(proj).all():
        raise ResultsError(f"{npz}: 'proj' holds non-finite values")
    return proj, minority.astype(bool)


def read_groups_json(path: Path) -> dict:
    """An ``explain/groups.json`` (modecover.evaluation.explain_files), checked for what the report uses."""
    raw = read_json(path)
    for key in ("n_real", "n_uncovered", "n_missed_groups"):
        if isinstance(raw.get(key), bool) or not isinstance(raw.get(key), int):
            raise ResultsError(f"{path}: {key}: expected an integer, got {raw.get(key)!r}")
    if not isinstance(raw.get("missed_groups"), list):
        raise ResultsError(f"{path}: missed_groups: expected a list, got {raw.get('missed_groups')!r}")
    if "sentence" in raw and not isinstance(raw["sentence"], str):
        raise ResultsError(f"{path}: sentence: expected a string, got {raw['sentence']!r}")
    return raw


def read_number_csv(path: Path, text_columns: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """Rows of a CSV whose cells are numbers (empty cells: None), except ``text_columns``."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ResultsError(f"{path}: empty file (no header line)")
        for line, row in enumerate(reader, start=2):
            parsed: dict[str, object] = {}
            for name, cell in row.items():
                if name is None:
                    raise ResultsError(f"{path}: line {line}: more cells than the header's {len(reader.fieldnames)}")
                if name in text_columns:
                    parsed[name] = cell or ""
                    continue
                try:
                    parsed[name] = None if cell in ("", None) else float(cell)
                except ValueError as err:
                    raise ResultsError(f"{path}: line {line}: column {name!r}: not a number: {cell!r}") from err
            rows.append(parsed)
    return rows
