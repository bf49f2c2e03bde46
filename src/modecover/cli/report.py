"""``modecover report RUN_DIR``: write the static HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the page (default RUN_DIR/report.html); figures go to <stem>_files/ beside it.")
def command(run_dir: Path, out: Path | None) -> None:
    """Write a static HTML report (one page plus PNGs, opens offline) for RUN_DIR.

    RUN_DIR must hold results.json; its layout is described in docs/report.md.
    """
    from modecover.report import ResultsError, write_report

    try:
        page = write_report(run_dir, out)
    except ResultsError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"wrote {page}")
