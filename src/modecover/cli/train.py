"""``modecover train CONFIG --out DIR``: train a model from a TOML/YAML run config."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import click


@click.command("train")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory: log.csv, samples/, round checkpoints, last.ckpt and final.ckpt.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out (same model family) from its last.ckpt; with no checkpoint there "
                   "it says so and starts from step 0.")
@click.option("--overwrite", is_flag=True, help="Empty --out first when it holds another modecover run.")
@click.option("--steps", type=int, default=None, help="Override [train] steps.")
@click.option("--seed", type=int, default=None, help="Override [train] seed.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads. Default: 1 for small models (under a million parameters: every "
                   "configs/*.toml model), else torch's default (one per core).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def command(config_path: Path, out_dir: Path, resume: bool, overwrite: bool, steps: int | None, seed: int | None,
            threads: int | None, progress: bool) -> None:
    """Train the model of CONFIG with its method plug-ins; write checkpoints to --out.

    Under torchrun (e.g. ``torchrun --nproc_per_node 2 --no-python modecover train ...``)
    the run is data-parallel; rank 0 writes the files.

    --out must be new, empty, or hold this model family's run (with --resume); a folder
    in use by another run is refused at once (docs/training.md, "Run folders").

    Ctrl-C finishes the step under way, saves it to --out/last.ckpt and prints the command
    that resumes from it (a second Ctrl-C stops at once, without saving).
    """
    import torch

    from modecover.checkpoint import CheckpointError
    from modecover.config import ConfigError, Run
    from modecover.distributed import init_distributed
    from modecover.runs import RunFolderError, claim_run_folder
    from modecover.train import default_threads

    if threads is not None:
        torch.set_num_threads(threads)
    ctx = None
    try:
        config = _load_config(config_path)
        overrides = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
        if overrides:
            config.train = dataclasses.replace(config.train, **overrides)
        ctx = init_distributed()
        run = Run.from_config(config)
        if threads is None:
            torch.set_num_threads(default_threads(run.model))
        claim = None
        if ctx.is_main:
            claim = claim_run_folder(out_dir, "train", config.model.family, resume=resume, overwrite=overwrite)
            if resume and not (out_dir / "last.ckpt").is_file():
                click.echo(f"--resume: no checkpoint (last.ckpt) in {out_dir}; starting from step 0", err=True)
        try:
            if resume and (out_dir / "last.ckpt").is_file():
                done = _check_same_run_config(out_dir, config.to_dict())
                if ctx.is_main:
                    click.echo(f"--resume: continuing from step {done} of {config.train.steps} "
                               f"({out_dir / 'last.ckpt'})", err=True)
            if ctx.is_main:
                (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
            result = run.train(out_dir, resume=resume, progress=progress, metadata={"run_config": config.to_dict()})
        finally:
            if claim is not None:
                claim.release()
    except (ConfigError, CheckpointError, RunFolderError, ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    except KeyboardInterrupt as err:  # Ctrl-C (modecover.interrupts): what was saved, and how to go on
        if ctx is None or ctx.is_main:
            click.echo(_interrupted(err, out_dir, resume_command(config_path, out_dir, steps, seed, threads)), err=True)
        raise click.exceptions.Exit(130) from None
    if ctx.is_main:
        click.echo(f"final checkpoint: {result['checkpoint']}")


def _load_config(path: Path):
    """:func:`modecover.config.load_config`, with the ``DeprecationWarning`` of each old key
    of the config (which Python hides by default) on stderr."""
    import warnings

    from modecover.config import load_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        config = load_config(path)
    for warning in caught:
        if issubclass(warning.category, DeprecationWarning):
            click.echo(f"warning: {path}: {warning.message}", err=True)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return config


def resume_command(config_path: Path, out_dir: Path, steps: int | None, seed: int | None,
                   threads: int | None) -> str:
    """The ``modecover train`` command line that resumes this run: the same config and
    overrides (a resume with another config is refused), ``--resume``."""
    words = ["modecover", "train", str(config_path), "--out", str(out_dir), "--resume"]
    for option, value in (("--steps", steps), ("--seed", seed), ("--threads", threads)):
        if value is not None:
            words += [option, str(value)]
    return shlex.join(words)


def _interrupted(err: KeyboardInterrupt, out_dir: Path, command: str) -> str:
    """What Ctrl-C left: the step saved (a second Ctrl-C: the last checkpoint's step, or none)."""
    from modecover.checkpoint import CheckpointError, read_checkpoint
    from modecover.interrupts import TrainingInterrupted

    if isinstance(err, TrainingInterrupted):
        return (f"Interrupted: saved step {err.step} of {err.steps} to {err.checkpoint}.\n"
                f"Resume with: {command}")
    last = out_dir / "last.ckpt"
    try:
        step = read_checkpoint(last).state["step"] if last.is_file() else None
    except CheckpointError:
        step = None
    if step is None:
        return (f"Interrupted before a checkpoint was written in {out_dir}: nothing saved to resume from.\n"
                f"Start again with: {command}")
    return (f"Interrupted without saving the current step: {last} holds step {step}; the steps after it are lost.\n"
            f"Resume with: {command}")


def _check_same_run_config(out_dir: Path, current: dict) -> int:
    """Refuse a --resume whose run config differs from the one the run in ``out_dir`` was
    started with (stored in its last.ckpt; config.json for checkpoints without it), naming
    each differing ``section.key``. No key may differ: the run would not be the run its
    config.json and checkpoints describe. --threads and --progress are not in the config.
    Returns the step last.ckpt holds."""
    from modecover.checkpoint import CheckpointError, config_differences, read_checkpoint
    from modecover.config import current_form

    last = out_dir / "last.ckpt"
    state = read_checkpoint(last).state
    saved = (state.get("metadata") or {}).get("run_config")
    source = last
    if saved is None and (out_dir / "config.json").is_file():
        source = out_dir / "config.json"
        try:
            saved = json.loads(source.read_text())
        except ValueError as err:
            raise CheckpointError(f"{source}: not a run config ({err})") from err
    if saved is None:
        raise CheckpointError(f"{last}: holds no run config and {out_dir} has no config.json; "
                              "cannot check that --resume continues the same run")
    saved = current_form(saved, str(source))  # a run config of an earlier version: read as this one writes it
    diffs = config_differences(_flat(saved), _flat(current), labels=("", ""))
    if diffs:
        raise CheckpointError(f"{out_dir}: --resume with another config than the run's ({source}); differs in "
                              f"{'; '.join(diffs)} (resume with the same config, or --overwrite to start again)")
    return int(state["step"])


def _flat(tree, prefix: str = "") -> dict:
    """``{"section.key": value}`` of a run config (``methods[i].key`` for the methods)."""
    if isinstance(tree, dict):
        pairs = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in tree.items()]
    elif isinstance(tree, list) and tree and all(isinstance(v, dict) for v in tree):
        pairs = [(f"{prefix}[{i}]", v) for i, v in enumerate(tree)]
    else:
        return {prefix: tree}
    return {key: value for k, v in pairs for key, value in _flat(v, k).items()}
