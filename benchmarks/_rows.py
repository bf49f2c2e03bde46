"""Result rows shared by several benchmark scripts: one dict per row, written as a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path


def write_rows(path: Path, rows: list[dict]) -> Path:
    """``rows`` (dicts with the keys of the first) as a CSV file at ``path``, its folder made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
