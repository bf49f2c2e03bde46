"""``modecover demo --out DIR``: a GAN with and without DMPRA on an imbalanced ring."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/demo", show_default=True,
              help="Run directory; the report lands at OUT/report.html. Must be new or empty (or --overwrite).")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier run in OUT (a folder some modecover command wrote).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Training steps per run (default 12000, batch 256).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Processes: the two runs train in parallel with 2.")
def command(out_dir: str, overwrite: bool, steps: int | None, seed: int, jobs: int) -> None:
    """Train a vanilla GAN and the same GAN with DMPRA (5 rounds, same step budget) on a
    ring of 8 modes whose 2 minority modes have 1/20 of a common mode's weight; evaluate
    both after every round and write OUT/results.json and OUT/report.html, which opens
    with a headline saying what happened; the console ends with that headline too."""
    import json
    from dataclasses import replace
    from pathlib import Path

    from modecover.demo import DemoConfig, run_demo
    from modecover.runs import RunFolderError, claim_run_folder

    try:  # checked before the folder is claimed
        config = DemoConfig(seed=seed, jobs=jobs)
        if steps is not None:
            config = replace(config, steps=steps)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--steps" if steps is not None else None) from err
    try:
        claim = claim_run_folder(out_dir, "demo", overwrite=overwrite, resumable=False)
    except RunFolderError as err:
        raise click.ClickException(str(err)) from err
    with claim:
        page = run_demo(out_dir, config)
    click.echo(f"report: {page}")
    click.echo(json.loads((Path(out_dir) / "results.json").read_text())["headline"])
