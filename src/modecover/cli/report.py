"""``modecover report RUN``: write the static HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the page (default RUN/report.html); figures go to <stem>_files/ beside it.")
def command(run_dir: Path, out: Path | None) -> None:
    """Write a static HTML report (one page plus PNGs, opens offline) of the run folder RUN.

    RUN is a folder written by modecover train, audit, demo or bench, or the folder of an
    evaluate result (its --out JSON file, and its --explain folder when it lies there);
    RUN may also be that JSON file itself. The kind is read from RUN/run.json, else
    recognised by the files. The page opens with a headline saying the result in words;
    what a folder lacks (e.g. no samples/ folder) is said on the page. What each kind
    shows: docs/report.md.
    """
    from modecover.report import ResultsError, write_report

    try:
        page = write_report(run_dir, out)
    except ResultsError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"wrote {page}")
