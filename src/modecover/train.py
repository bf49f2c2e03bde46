"""The training loop (DESIGN.md sections 1-2; issue 4).

:func:`train` reads top to bottom:

1. seed (or, with ``resume``, restore model, optimizers, plug-ins, RNG and sampler states
   from ``DIR/last.ckpt``);
2. for each round ``r`` (steps split evenly across rounds): the plug-ins' data weights
   ``hooks.data_weights(n)`` give the sampler (None: uniform shuffled epochs; otherwise
   drawn with replacement, probability proportional to the weight); each step takes a
   batch from it and calls ``model.train_step(batch, hooks, step)``; losses and hook logs
   go to ``DIR/log.csv`` every ``log_every`` steps, sample plots to ``DIR/samples/`` every
   ``sample_every`` steps, ``DIR/last.ckpt`` every ``checkpoint_every`` steps;
3. between rounds ``hooks.on_round_end(model, data, r, DIR/round{r})`` (DMPRA re-searches
   here), then ``DIR/round{r}.ckpt`` and ``DIR/last.ckpt``;
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
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from modecover.checkpoint import restore_checkpoint, save_checkpoint
from modecover.data.samplers import make_sampler
from modecover.io import write_atomic
from modecover.models.base import GenerativeModel
from modecover.plugins import Hooks

__all__ = ["TrainConfig", "train", "round_bounds", "seed_everything", "default_threads", "DistributedContext",
           "init_distributed"]


@dataclass
class TrainConfig:
    """Training schedule. ``steps`` in total, split evenly across ``rounds``; ``batch_size``
    per rank; ``*_every`` in steps (0 switches the periodic action off)."""

    steps: int
    batch_size: int
    rounds: int = 1
    seed: int = 0
    log_every: int = 50
    sample_every: int = 0
    checkpoint_every: int = 500

    def __post_init__(self):
        for name in ("steps", "batch_size", "rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{name} must be a positive integer, got {value!r}")
        for name in ("log_every", "sample_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"train.{name} must be an integer >= 0 (0 = never), got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"train.seed must be an integer >= 0, got {self.seed!r}")
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


def _sampler_seed(seed: int, round_index: int) -> int:
    return int(np.random.SeedSequence([seed, round_index]).generate_state(1)[0])


# ----------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @classmethod
    def current(cls) -> "DistributedContext":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()


def init_distributed() -> DistributedContext:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1): NCCL when
    CUDA is available, gloo otherwise. A no-op for a single process."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return DistributedContext.current()


def _average_gradients_before_each_step(model: GenerativeModel, world_size: int) -> list:
    """Register, on every optimizer of the model, a step pre-hook that averages the
    gradients of its parameters across ranks in one flat ``all_reduce``.

    A parameter without a gradient on every rank stays without one; with a gradient on
    some ranks only, the others count as zeros.
    """
    import torch.distributed as dist

    def hook(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if not params:
            return
        flags = torch.tensor([p.grad is not None for p in params], dtype=params[0].dtype, device=params[0].device)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([flags] + [g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = len(params)
        for p, had, g in zip(params, flat[: len(params)], grads):
            n = g.numel()
            if had > 0:
                p.grad = flat[offset : offset + n].view_as(p).div_(world_size).clone()
            offset += n

    return [opt.register_step_pre_hook(hook) for opt in model.optimizers().values()]


def _broadcast_from_main(tensors) -> None:
    import torch.distributed as dist

    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)


def _shared_weights(weights: Tensor | None, n: int, ctx: DistributedContext, device) -> Tensor | None:
    """Rank 0's data weights on every rank (plug-ins that sample may disagree across ranks)."""
    if not ctx.active:
        return weights
    import torch.distributed as dist

    buf = torch.full((n + 1,), -1.0, dtype=torch.float64, device=device)
    if weights is not None:
        buf[0] = 1.0
        buf[1:] = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)[:n].to(device)
    dist.broadcast(buf, src=0)
    return None if buf[0] < 0 else buf[1:].cpu()


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


def plot_samples(model: GenerativeModel, hooks: Hooks, data: Tensor, path: Path, title: str, n: int = 512) -> Path | None:
    """Scatter of 2D samples over the data, or an image grid; None for other shapes.
    Uses a forked RNG, so plotting never changes the training run."""
    from modecover.report.plots import image_grid, scatter_against_data

    shape = tuple(data.shape[1:])
    if shape != (2,) and not (len(shape) == 3 and shape[0] in (1, 3)):
        return None
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        samples = model.sample(n if shape == (2,) else 64, hooks).detach().cpu().numpy()
    if shape == (2,):
        return scatter_against_data(samples, data.cpu().numpy(), None, [], path, title)
    return image_grid(samples, path, title)


# ----------------------------------------------------------------------------- the loop


def _device_of(model: GenerativeModel) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def train(
    model: GenerativeModel,
    data: Tensor,
    hooks: Hooks,
    config: TrainConfig,
    out_dir,
    *,
    resume: bool = False,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` (N, ...) with the plug-ins of ``hooks``; write logs,
    plots and checkpoints under ``out_dir``; return the final log row (with the path of
    ``final.ckpt`` under ``"checkpoint"``).

    ``resume=True`` continues from ``out_dir/last.ckpt`` when it exists (same config,
    same plug-ins; see :func:`modecover.checkpoint.restore_checkpoint`) and reaches the
    same final state as an uninterrupted run with the same seed; without a checkpoint the
    run starts from scratch. The caller seeds before building the model (the CLI does).
    ``metadata`` (plain JSON values, e.g. the run config) is stored in every checkpoint's
    state under ``"metadata"``. ``on_step(steps_done)``, when given, is called after every
    step (a caller's own progress display, e.g. the demo's two parallel runs).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    out_dir = Path(out_dir)
    dist_ctx = DistributedContext.current()
    data = torch.as_tensor(data)
    if data.ndim < 2 or data.shape[0] == 0:
        raise ValueError(f"training data: expected a non-empty tensor (N, ...), got shape {tuple(data.shape)}")
    n, device = data.shape[0], _device_of(model)
    bounds = round_bounds(config.steps, config.rounds)
    if dist_ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    # 1. seeds, or the state of an interrupted run
    start_step, first_round, sampler_state, pending = 0, 0, None, []
    last = out_dir / "last.ckpt"
    if resume and last.is_file():
        state = restore_checkpoint(last, model, hooks)
        if state["steps"] != config.steps or state["rounds"] != config.rounds:
            raise ValueError(
                f"{last}: run was for steps={state['steps']}, rounds={state['rounds']}; "
                f"this run asks for steps={config.steps}, rounds={config.rounds} (use the same schedule to resume)"
            )
        start_step, first_round, sampler_state = state["step"], state["rounds_finished"], state["sampler"]
        pending = state["pending_logs"]  # step logs not yet averaged into a log.csv row
        set_rng_state(state["rng"])
        if dist_ctx.rank > 0:  # rank 0's RNG streams are in the checkpoint; others get fresh distinct ones
            torch.manual_seed(_sampler_seed(config.seed + dist_ctx.rank, start_step))
    else:
        seed_everything(config.seed + dist_ctx.rank)

    if dist_ctx.active:
        _broadcast_from_main([*model.state_dict().values(), *hooks.parameters()])
        grad_hooks = _average_gradients_before_each_step(model, dist_ctx.world_size)

    log = CsvLog(out_dir / "log.csv", keep_until_step=start_step) if dist_ctx.is_main else None
    sample_dir = out_dir / "samples"

    def checkpoint(path: Path, step: int, rounds_finished: int, sampler, pending_logs=()) -> None:
        if dist_ctx.active:
            _broadcast_from_main(list(model.buffers()))
        if dist_ctx.is_main:
            state = {
                "step": step,
                "rounds_finished": rounds_finished,
                "steps": config.steps,
                "rounds": config.rounds,
                "seed": config.seed,
                "rng": rng_state(),
                "sampler": None if sampler is None else sampler.state_dict(),
                "pending_logs": list(pending_logs),
                "metadata": metadata,
            }
            save_checkpoint(path, model, hooks, state)

    final_row: dict[str, Any] = {"step": start_step}
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"), disable=not (progress and dist_ctx.is_main),
    ) as bar:
        task = bar.add_task("training", total=config.steps, completed=start_step, losses="")

        # 2. rounds of steps
        for r in range(first_round, config.rounds):
            start, stop = bounds[r]
            weights = _shared_weights(hooks.data_weights(n), n, dist_ctx, device)
            sampler = make_sampler(weights, n, n, _sampler_seed(config.seed, r), dist_ctx.rank, dist_ctx.world_size)
            if sampler_state is not None and start_step > start:
                sampler.load_state_dict(sampler_state)
            else:
                pending = []
            bar.update(task, description=f"round {r + 1}/{config.rounds}")
            for step in range(max(start, start_step), stop):
                batch = data[sampler.take(config.batch_size)].to(device)
                pending.append(model.train_step(batch, hooks, step))
                done = step + 1
                if done == stop or (config.log_every and done % config.log_every == 0):
                    final_row = {"step": done, "round": r, "seconds": round(time.perf_counter() - started, 3),
                                 **_mean_logs(pending)}
                    if log is not None:
                        log.append(final_row)
                    pending = []
                    bar.update(task, losses=" ".join(f"{k}={v:.3g}" for k, v in list(final_row.items())[3:7]))
                if dist_ctx.is_main and config.sample_every and done % config.sample_every == 0:
                    plot_samples(model, hooks, data, sample_dir / f"step{done:07d}.png", f"step {done}")
                if config.checkpoint_every and done % config.checkpoint_every == 0 and done != stop:
                    checkpoint(last, done, r, sampler, pending)
                bar.advance(task)
                if on_step is not None:
                    on_step(done)

            # 3. between rounds: the plug-ins adjust (DMPRA searches), then round checkpoints
            if r < config.rounds - 1:
                hooks.on_round_end(model, data, r, out_dir / f"round{r}" if dist_ctx.is_main else None)
            checkpoint(out_dir / f"round{r}.ckpt", stop, r + 1, None)
            checkpoint(last, stop, r + 1, None)

    # 4. the final checkpoint
    final = out_dir / "final.ckpt"
    checkpoint(final, config.steps, config.rounds, None)
    if dist_ctx.active:
        for handle in grad_hooks:
            handle.remove()
        import torch.distributed as dist

        dist.barrier()
    return {**final_row, "checkpoint": str(final)}
