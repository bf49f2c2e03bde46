"""Write the report of a run folder: one static HTML page plus PNG figures.

:func:`write_report` finds the folder's kind (:mod:`.kinds`), lets that kind's module
build the page's sections and headline, and writes the page. Each kind's module says
plainly on the page what it could not find; files that are present but malformed raise
:class:`~.results.ResultsError` naming the file. What each kind shows: ``docs/report.md``.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Callable

from . import audit, bench, demo, evaluate, train
from .kinds import RunFolder, find_run
from .page import Figures, Page, render_page

BUILDERS: dict[str, Callable[[RunFolder, Figures], Page]] = {
    "train": train.build,
    "audit": audit.build,
    "evaluate": evaluate.build,
    "demo": lambda run, figures: demo.build(run.path, figures),
    "bench": bench.build,
}


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (default ``<run folder>/report.html``).

    ``run_dir`` is a run folder of any kind in :data:`.kinds.KINDS` (or the JSON file
    ``modecover evaluate --out`` wrote). Figures go to ``<out stem>_files/`` next to the
    page. Returns the page's path. Raises :class:`~.results.ResultsError` when the folder
    is of no known kind or a file it holds is malformed.
    """
    run = find_run(Path(run_dir))
    out = Path(out) if out is not None else run.path / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = Figures(out.parent / f"{out.stem}_files", urllib.parse.quote(f"{out.stem}_files"))
    figures.directory.mkdir(exist_ok=True)
    for old in figures.directory.glob("[0-9][0-9]_*.png"):  # figures of an earlier report of this page
        old.unlink()
    page = BUILDERS[run.kind](run, figures)
    out.write_text(render_page(page), encoding="utf-8")
    return out
