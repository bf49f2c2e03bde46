"""The training loop (docs/training.md, "The loop").

:func:`train` reads top to bottom:

1. seed (or, with ``resume``, restore model, optimizers, plug-ins, RNG and sampler states
   from ``DIR/last.ckpt``);
2. for each round ``r`` (steps split evenly across rounds): the plug-ins' data weights
   ``hooks.data_weights(n)`` give the sampler (None: uniform shuffled epochs; otherwise
   drawn with replacement, probability proportional to the weight); each step takes a
   batch from it and calls ``model.train_step(batch, hooks, step)``; losses and hook logs
   go to ``DIR/log.csv`` every ``log_every`` steps, sample plots to ``DIR/samples/`` every
   ``sample_every`` steps, ``DIR/last.ckpt`` every ``checkpoint_every`` steps;
3. after every round ``hooks.on_round_end(model, data, r, DIR/round{r})`` (DMPRA re-searches
   here; after the last round its search is the final audit), then ``DIR/round{r}.ckpt`` and
   ``DIR/last.ckpt``;
4. at the end ``DIR/final.ckpt``.

The loop never asks which methods are installed: everything a method does happens in its
hooks. Checkpoints are written atomically (:mod:`modecover.checkpoint`).

Distributed data parallel (under ``torchrun``): each rank takes its share of one global
sampler draw; before every optimizer step the gradients of that optimizer's parameters
are averaged across ranks with one ``all_reduce`` (an optimizer step pre-hook, so it works
for any model that owns its optimizers and steps them itself, however many times per
``train_step``); parameters start equal (broadcast from rank 0), the round's data weights
are rank 0's, buffers (batch-norm statistics) are broadcast from rank 0 before every
checkpoint; only rank 0 writes files.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor

from modecover._checks import int_in_range, positive_int, real_in_range
from modecover.checkpoint import restore_checkpoint, save_checkpoint
from modecover.data.samplers import make_sampler
from modecover.distributed import (
    DistributedContext,
    average_gradients_before_each_step,
    broadcast_from_main,
    init_distributed,
    same_on_every_rank,
)
from modecover.interrupts import InterruptRequest, TrainingInterrupted, deferred_interrupt
from modecover.io import write_atomic
from modecover.models.base import GenerativeModel
from modecover.plugins import Hooks, check_hooks_called

if TYPE_CHECKING:
    from modecover.data.registry import TrainingSet

__all__ = ["TrainConfig", "train", "round_bounds", "seed_everything", "default_threads", "aside_from_training",
           "DistributedContext", "init_distributed"]


@dataclass
class TrainConfig:
    """Training schedule. ``steps`` in total, split evenly across ``rounds``; ``batch_size``
    per rank; ``lr_decay``: the share of the steps, at the end, over which every
    optimizer's learning rate falls linearly towards 0 (0: constant); ``*_every`` in steps
    (0 switches the periodic action off)."""

    steps: int
    batch_size: int
    rounds: int = 1
    seed: int = 0
    lr_decay: float = 0.0
    log_every: int = 50
    sample_every: int = 0
    checkpoint_every: int = 500

    def __post_init__(self):
        for name in ("steps", "batch_size", "rounds"):
            setattr(self, name, positive_int(getattr(self, name), f"train.{name}"))
        for name in ("log_every", "sample_every", "checkpoint_every"):
            setattr(self, name, int_in_range(getattr(self, name), f"train.{name} (0 = never)", 0))
        self.seed = int_in_range(self.seed, "train.seed", 0)
        real_in_range(self.lr_decay, "train.lr_decay", 0, 1)
        if self.rounds > self.steps:
            raise ValueError(f"train.rounds={self.rounds} exceeds train.steps={self.steps}; every round needs a step")


SMALL_MODEL_PARAMETERS = 1_000_000


def default_threads(model: torch.nn.Module) -> int:
    """torch CPU threads for training ``model``: 1 when it has fewer than
    :data:`SMALL_MODEL_PARAMETERS` parameters (its steps are too short to gain from splitting
    work across threads, and lose to their synchronisation, more so on a loaded machine:
    ``benchmarks/bench_threads.py``, docs/training.md "Threads"), else torch's current setting."""
    n_params = sum(p.numel() for p in model.parameters())
    return 1 if n_params < SMALL_MODEL_PARAMETERS else torch.get_num_threads()


def round_bounds(steps: int, rounds: int) -> list[tuple[int, int]]:
    """``[(start, stop)]`` step ranges of each round; the first ``steps % rounds`` rounds get one extra step."""
    base, extra = divmod(steps, rounds)
    bounds, start = [], 0
    for r in range(rounds):
        stop = start + base + (1 if r < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


# ----------------------------------------------------------------------------- seeds and RNG states


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8) for s in state["cuda"]])


@contextmanager
def aside_from_training(model: torch.nn.Module):
    """Run something inside a training run (a sample plot, an evaluation between rounds)
    without changing what the run learns: afterwards every random generator (Python's,
    NumPy's, torch's CPU one and each CUDA device's) is back where it was, and inside the
    model is in eval mode (batch norm uses its running statistics and leaves them as they
    are; dropout off), each module returning to its own mode after."""
    state = rng_state()
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
        set_rng_state(state)


def lr_factor(step: int, steps: int, lr_decay: float) -> float:
    """Learning-rate factor of 0-based ``step``: 1, then linear to 1 / decay_steps at the last step."""
    decay_steps = int(round(lr_decay * steps))
    if decay_steps == 0:
        return 1.0
    return min(1.0, (steps - step) / decay_steps)


def set_learning_rates(optimizers: Iterable[torch.optim.Optimizer], factor: float) -> None:
    """Every optimizer group's lr = factor x its ``initial_lr`` (recorded on first use, saved
    with the optimizer state, so a resumed run decays from the same base)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


def sampler_seed(seed: int, round_index: int) -> int:
    """The seed of round ``round_index``'s sampler (the ensemble's rounds draw the same)."""
    return int(np.random.SeedSequence([seed, round_index]).generate_state(1)[0])


# ----------------------------------------------------------------------------- logs and plots


class CsvLog:
    """``log.csv`` rows (step, round, then sorted loss / hook-log names); rewritten
    atomically on every flush so that a new column or a resume never garbles it."""

    def __init__(self, path: Path, keep_until_step: int | None = None):
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if keep_until_step is not None and path.is_file():
            with open(path, newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if int(row["step"]) <= keep_until_step]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        fixed = ["step", "round", "seconds"]
        names = fixed + sorted({k for r in self.rows for k in r} - set(fixed))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=names)
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(self.path, text.getvalue())


def _mean_logs(logs: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for log in logs for k in log})
    return {k: float(np.mean([log[k] for log in logs if k in log])) for k in keys}


def plot_samples(model: GenerativeModel, hooks: Hooks, data: Tensor, path: Path, title: str,
                 n: int = 512) -> Path | None:
    """Scatter of 2D samples over the data, or an image grid; None for other shapes.
    Drawn and plotted :func:`aside_from_training`, so plotting never changes the training run."""
    from modecover.plots import image_grid, scatter_against_data

    shape = tuple(data.shape[1:])
    if shape != (2,) and not (len(shape) == 3 and shape[0] in (1, 3)):
        return None
    with aside_from_training(model):
        with torch.no_grad():
            samples = model.sample(n if shape == (2,) else 64, hooks).detach().cpu().numpy()
        if shape == (2,):
            return scatter_against_data(samples, data.cpu().numpy(), None, [], path, title)
        return image_grid(samples, path, title)


# ----------------------------------------------------------------------------- the loop


def _device_of(model: GenerativeModel) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@dataclass
class _Start:
    """Where a run starts: step, first unfinished round, sampler state, unlogged step logs."""

    step: int = 0
    round: int = 0
    sampler: dict | None = None
    pending: list = field(default_factory=list)


def _start(model, hooks: Hooks, config: TrainConfig, last: Path, resume: bool, rank: int) -> _Start:
    """Seed, or restore the state of an interrupted run from ``last``."""
    if not (resume and last.is_file()):
        seed_everything(config.seed + rank)
        return _Start()
    state = restore_checkpoint(last, model, hooks)
    if state["steps"] != config.steps or state["rounds"] != config.rounds:
        raise ValueError(
            f"{last}: run was for steps={state['steps']}, rounds={state['rounds']}; "
            f"this run asks for steps={config.steps}, rounds={config.rounds} (use the same schedule to resume)"
        )
    set_rng_state(state["rng"])
    if rank > 0:  # rank 0's RNG streams are in the checkpoint; others get fresh distinct ones
        torch.manual_seed(sampler_seed(config.seed + rank, state["step"]))
    # pending_logs: step logs not yet averaged into a log.csv row
    return _Start(state["step"], state["rounds_finished"], state["sampler"], state["pending_logs"])


class _Checkpoints:
    """Writes ``DIR/<name>.ckpt`` with the trainer's state (rank 0; buffers from rank 0 first)."""

    def __init__(self, model, hooks: Hooks, config: TrainConfig, out_dir: Path, dist_ctx: DistributedContext,
                 metadata: dict[str, Any] | None):
        self.model, self.hooks, self.config, self.out_dir = model, hooks, config, out_dir
        self.dist_ctx, self.metadata = dist_ctx, metadata

    def __call__(self, name: str, step: int, rounds_finished: int, sampler=None, pending_logs=()) -> None:
        if self.dist_ctx.active:
            broadcast_from_main(list(self.model.buffers()))
        if not self.dist_ctx.is_main:
            return
        state = {
            "step": step,
            "rounds_finished": rounds_finished,
            "steps": self.config.steps,
            "rounds": self.config.rounds,
            "seed": self.config.seed,
            "rng": rng_state(),
            "sampler": None if sampler is None else sampler.state_dict(),
            "pending_logs": list(pending_logs),
            "metadata": self.metadata,
        }
        save_checkpoint(self.out_dir / f"{name}.ckpt", self.model, self.hooks, state)


@dataclass
class _Loop:
    """What the step loop of every round shares."""

    model: GenerativeModel
    data: Tensor
    hooks: Hooks
    config: TrainConfig
    device: torch.device
    log: CsvLog | None
    checkpoint: _Checkpoints
    after_step: Callable[[int, dict[str, Any] | None], None]  # (steps done, the log row written or None)
    sample_plot: Callable[[int], None] | None
    started: float
    interrupt: InterruptRequest = field(default_factory=InterruptRequest)  # Ctrl-C: save the step, stop


def _train_round(loop: _Loop, r: int, start: int, stop: int, first_step: int, sampler, pending: list) -> dict:
    """Steps ``first_step .. stop - 1`` of round ``r``; returns the last log row written."""
    config, row = loop.config, {}
    for step in range(first_step, stop):
        batch = loop.data[sampler.take(config.batch_size)].to(loop.device)
        if config.lr_decay:
            set_learning_rates(loop.model.optimizers().values(), lr_factor(step, config.steps, config.lr_decay))
        done = step + 1
        pending.append(_finite_losses(loop.model.train_step(batch, loop.hooks, step), done, loop.hooks))
        written = None
        if done == stop or (config.log_every and done % config.log_every == 0):
            row = written = {"step": done, "round": r, "seconds": round(time.perf_counter() - loop.started, 3),
                             **_mean_logs(pending)}
            if loop.log is not None:
                loop.log.append(row)
            pending.clear()
        if loop.sample_plot is not None and config.sample_every and done % config.sample_every == 0:
            loop.sample_plot(done)
        if config.checkpoint_every and done % config.checkpoint_every == 0 and done != stop:
            loop.checkpoint("last", done, r, sampler, pending)
        loop.after_step(done, written)
        if loop.interrupt.requested:
            _save_and_stop(loop, done, r, sampler, pending)
    return row


def _save_and_stop(loop: _Loop, done: int, rounds_finished: int, sampler=None, pending=()) -> None:
    """After Ctrl-C (:mod:`modecover.interrupts`): ``last.ckpt`` of step ``done`` (resumable as
    any), then :class:`TrainingInterrupted` naming it."""
    if sampler is not None:
        loop.checkpoint("last", done, rounds_finished, sampler, pending)
    raise TrainingInterrupted(done, loop.config.steps, loop.checkpoint.out_dir / "last.ckpt")


class _ProgressBar:
    """A rich progress bar over the steps (off when ``show`` is false), plus ``on_step``."""

    def __init__(self, steps: int, done: int, show: bool, on_step: Callable[[int], None] | None):
        # rich is imported with this module, not here: its import draws from Python's global
        # generator (rich.style), which after the run's seeding would shift the run's draws
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), disable=not show)
        self.task = self.bar.add_task("training", total=steps, completed=done, losses="")
        self.on_step = on_step

    def __enter__(self) -> "_ProgressBar":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def round(self, r: int, rounds: int) -> None:
        self.bar.update(self.task, description=f"round {r + 1}/{rounds}")

    def after_step(self, done: int, row: dict[str, Any] | None) -> None:
        if row is not None:
            self.bar.update(self.task, losses=" ".join(f"{k}={v:.3g}" for k, v in list(row.items())[3:7]))
        self.bar.advance(self.task)
        if self.on_step is not None:
            self.on_step(done)


def _finite_losses(log: dict[str, float], done: int, hooks: Hooks) -> dict[str, float]:
    """A step's log, or an error if a loss is NaN or infinite: the parameters are lost from
    there on, so the run stops (its last checkpoint is before this step) instead of training on."""
    bad = [f"{key} = {value}" for key, value in log.items() if key.startswith("loss") and not math.isfinite(value)]
    if bad:
        plugins = f" (plug-ins: {[p.name for p in hooks.plugins]})" if hooks.plugins else ""
        raise ValueError(f"step {done}: {', '.join(bad)}{plugins}; training stopped, no final checkpoint written "
                         "(a lower learning rate, or a plug-in term that stays finite, avoids it)")
    return log


def _checked_data(data) -> Tensor:
    from modecover.data.registry import TrainingSet

    data = torch.as_tensor(data.x if isinstance(data, TrainingSet) else data)  # build_run(...).data: its tensor
    if data.ndim < 2 or data.shape[0] == 0:
        raise ValueError(f"training data: expected a non-empty tensor (N, ...), got shape {tuple(data.shape)}")
    if data.is_floating_point():
        finite = torch.isfinite(data.reshape(len(data), -1)).all(dim=1)
        if not finite.all():
            rows = torch.nonzero(~finite).flatten()
            raise ValueError(f"training data: {len(rows)} row(s) hold NaN or infinite values, the first is row "
                             f"{int(rows[0])}")
    return data


@contextmanager
def _ranks_in_step(model: GenerativeModel, hooks: Hooks, dist_ctx: DistributedContext):
    """Under torchrun: rank 0's parameters on every rank, gradients averaged before every
    optimizer step, and at the end (not after an error) the averaging removed and the ranks
    met at a barrier. Nothing for a single process."""
    if not dist_ctx.active:
        yield
        return
    import torch.distributed as dist

    broadcast_from_main([*model.state_dict().values(), *hooks.parameters()])
    grad_hooks = average_gradients_before_each_step(model, dist_ctx.world_size)
    yield
    for handle in grad_hooks:
        handle.remove()
    dist.barrier()


def _loop(model, data: Tensor, hooks: Hooks, config: TrainConfig, out_dir: Path, dist_ctx: DistributedContext,
          checkpoint: _Checkpoints, bar: _ProgressBar, begin: _Start) -> _Loop:
    """What every round's steps share; rank 0 keeps ``log.csv`` (up to the resumed step) and plots samples."""

    def sample_plot(done: int) -> None:
        plot_samples(model, hooks, data, out_dir / "samples" / f"step{done:07d}.png", f"step {done}")

    log = CsvLog(out_dir / "log.csv", keep_until_step=begin.step) if dist_ctx.is_main else None
    return _Loop(model, data, hooks, config, _device_of(model), log, checkpoint, bar.after_step,
                 sample_plot if dist_ctx.is_main else None, time.perf_counter())


def _round_sampler(hooks: Hooks, config: TrainConfig, r: int, start: int, begin: _Start, n: int,
                   dist_ctx: DistributedContext):
    """Round ``r``'s sampler over the plug-ins' data weights (rank 0's on every rank) and the
    step logs not yet written; a resumed round continues the interrupted sampler and logs."""
    weights = same_on_every_rank(hooks.data_weights(n), n)
    sampler = make_sampler(weights, n, n, sampler_seed(config.seed, r), dist_ctx.rank, dist_ctx.world_size)
    resuming = begin.sampler is not None and begin.step > start
    if resuming:
        sampler.load_state_dict(begin.sampler)
    return sampler, begin.pending if resuming else []


def train(
    model: GenerativeModel,
    data: Tensor | TrainingSet,
    hooks: Hooks,
    config: TrainConfig,
    out_dir,
    *,
    resume: bool = False,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` (N, ...) (a tensor, or the
    :class:`~modecover.data.registry.TrainingSet` of :func:`modecover.config.build_run`,
    whose ``x`` is used) with the plug-ins of ``hooks``; write logs,
    plots and checkpoints under ``out_dir``; return the final log row (with the path of
    ``final.ckpt`` under ``"checkpoint"``).

    ``resume=True`` continues from ``out_dir/last.ckpt`` when it exists (same config,
    same plug-ins; see :func:`modecover.checkpoint.restore_checkpoint`) and reaches the
    same final state as an uninterrupted run with the same seed; without a checkpoint the
    run starts from scratch. The caller seeds before building the model
    (:meth:`modecover.config.Run.from_config` does).
    ``metadata`` (plain JSON values, e.g. the run config) is stored in every checkpoint's
    state under ``"metadata"``. ``on_step(steps_done)``, when given, is called after every
    step (a caller's own progress display, e.g. the demo's two parallel runs).
    Ctrl-C lets the step under way finish, writes ``last.ckpt`` of it and raises
    :class:`modecover.interrupts.TrainingInterrupted` (a ``KeyboardInterrupt``); a second
    Ctrl-C stops at once without saving (not under torchrun: there Ctrl-C stops at once).
    """
    out_dir, dist_ctx = Path(out_dir), DistributedContext.current()
    check_hooks_called(hooks, model)  # a plug-in hook this family never calls would silently do nothing
    data = _checked_data(data)
    if dist_ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    # 1. seeds, or the state of an interrupted run; under torchrun every rank starts from rank 0's parameters
    begin = _start(model, hooks, config, out_dir / "last.ckpt", resume, dist_ctx.rank)
    checkpoint = _Checkpoints(model, hooks, config, out_dir, dist_ctx, metadata)
    final_row: dict[str, Any] = {"step": begin.step}
    with _ranks_in_step(model, hooks, dist_ctx):
        with _ProgressBar(config.steps, begin.step, progress and dist_ctx.is_main, on_step) as bar, \
                deferred_interrupt(enabled=not dist_ctx.active) as interrupt:  # under torchrun: as before
            loop = _loop(model, data, hooks, config, out_dir, dist_ctx, checkpoint, bar, begin)
            loop.interrupt = interrupt

            # 2. rounds of steps; after each, the plug-ins adjust (DMPRA searches), then round checkpoints
            for r, (start, stop) in enumerate(round_bounds(config.steps, config.rounds)):
                if r < begin.round:
                    continue
                sampler, pending = _round_sampler(hooks, config, r, start, begin, len(data), dist_ctx)
                bar.round(r, config.rounds)
                final_row = _train_round(loop, r, start, stop, max(start, begin.step), sampler, pending) or final_row
                hooks.on_round_end(model, data, r, out_dir / f"round{r}" if dist_ctx.is_main else None)
                checkpoint(f"round{r}", stop, r + 1)
                checkpoint("last", stop, r + 1)
                if interrupt.requested and r + 1 < config.rounds:  # Ctrl-C in on_round_end: last.ckpt is this
                    _save_and_stop(loop, stop, r + 1)

        # 3. the final checkpoint
        checkpoint("final", config.steps, config.rounds)
    return {**final_row, "checkpoint": str(out_dir / "final.ckpt")}
