"""Independent tasks in worker processes, one torch thread each (the benchmark harness, the demo).

A :class:`Task` is a name and a function ``fn(report)``: it does its work, calls
``report(done)`` to say how far it is, and returns a picklable result. :func:`run_tasks`
runs ``workers`` tasks at a time in forked processes (spawned where fork does not exist),
or one after the other in this process when ``workers <= 1``, and tells the caller about
progress and results through callbacks, so that the caller owns the display.

Small models train fastest on one torch thread per process (docs/training.md, "Threads"):
every task runs with ``torch.set_num_threads(1)`` (restored afterwards in this process).
When a task fails, no further task starts; the running ones finish, then
:class:`TaskFailed` names the task and carries its traceback (in this process the task's
own exception propagates).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["Task", "TaskFailed", "run_tasks"]

Report = Callable[[int], None]


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(report)`` returns the task's result (picklable when it runs in a worker)."""

    name: str
    fn: Callable[[Report], Any]


class TaskFailed(RuntimeError):
    """A task that raised in a worker process; the message names it and holds its traceback."""


def run_tasks(tasks: Sequence[Task], workers: int, *, on_progress: Callable[[str, int], None] | None = None,
              on_done: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """Run every task, ``workers`` at a time; return ``{name: result}`` in the order of ``tasks``.

    ``on_progress(name, done)`` is called for every ``report(done)`` of a task and
    ``on_done(name, result)`` when a task has finished.
    """
    names = [task.name for task in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    on_progress = on_progress or (lambda name, done: None)
    on_done = on_done or (lambda name, result: None)
    if workers <= 1:
        results = {}
        for task in tasks:
            results[task.name] = _on_one_thread(task, lambda done, name=task.name: on_progress(name, done))
            on_done(task.name, results[task.name])
        return results
    results = _in_processes(tasks, workers, on_progress, on_done)
    return {name: results[name] for name in names}


def _on_one_thread(task: Task, report: Report) -> Any:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return task.fn(report)
    finally:
        torch.set_num_threads(threads)


def _worker(task: Task, events) -> None:
    """Process entry point: run the task, send its progress and its result (or its error) to the parent."""
    try:
        result = _on_one_thread(task, lambda done: events.put(("progress", task.name, done)))
        events.put(("done", task.name, result))
    except BaseException as err:  # the parent raises it
        events.put(("error", task.name, f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def _in_processes(tasks: Sequence[Task], workers: int, on_progress, on_done) -> dict[str, Any]:
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    events = ctx.Queue()
    pending, running = list(tasks), {}
    results: dict[str, Any] = {}
    failures: list[str] = []
    while running or (pending and not failures):
        while pending and not failures and len(running) < workers:
            task = pending.pop(0)
            running[task.name] = ctx.Process(target=_worker, args=(task, events), daemon=True)
            running[task.name].start()
        try:
            kind, name, payload = events.get(timeout=1.0)
        except queue.Empty:
            dead = [name for name, proc in running.items() if not proc.is_alive()]
            if dead:
                codes = [running[name].exitcode for name in dead]
                raise TaskFailed(f"task(s) {dead} exited without a result (exit codes {codes})") from None
            continue
        if kind == "progress":
            on_progress(name, payload)
            continue
        running.pop(name).join()
        if kind == "error":
            failures.append(f"task {name!r} failed: {payload}")
        else:
            results[name] = payload
            on_done(name, payload)
    if failures:
        raise TaskFailed("\n".join(failures))
    return results
