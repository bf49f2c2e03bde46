"""Ctrl-C during training: finish the step under way, save it, stop (docs/training.md,
"Interrupting and resuming").

While :func:`modecover.train.train` runs its steps, :func:`deferred_interrupt` replaces
Python's SIGINT handler: the first Ctrl-C only records the request, so the step under way
ends whole (model, optimizers, plug-ins and RNG states all after the same step); the trainer
then writes ``last.ckpt`` of that step (atomically, as every checkpoint) and raises
:class:`TrainingInterrupted`, a ``KeyboardInterrupt`` that names the step and the file. A
second Ctrl-C raises a plain ``KeyboardInterrupt`` at once, as without the handler (the
steps since the last checkpoint are then lost).

Nothing changes outside the main thread (signal handlers live there), where another
handler than Python's default is installed (a caller's own), or where the caller turns it
off (the trainer does under ``torchrun``: the ranks would have to agree on the step).
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["InterruptRequest", "TrainingInterrupted", "deferred_interrupt"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C after ``step`` of ``steps`` steps, saved in ``checkpoint``."""

    def __init__(self, step: int, steps: int, checkpoint: Path):
        super().__init__(f"training interrupted after step {step} of {steps}; state saved in {checkpoint}")
        self.step, self.steps, self.checkpoint = int(step), int(steps), Path(checkpoint)

    def __reduce__(self):  # pickles with its fields (worker processes hand errors to their parent)
        return type(self), (self.step, self.steps, self.checkpoint)


@dataclass
class InterruptRequest:
    """Set by the first Ctrl-C while :func:`deferred_interrupt` is active."""

    requested: bool = False
    installed: bool = False  # False: Ctrl-C raises KeyboardInterrupt at once, as usual


WARNING = ("\nCtrl-C: finishing the current step, then saving it to last.ckpt "
           "(press Ctrl-C again to stop at once without saving)\n")


@contextmanager
def deferred_interrupt(enabled: bool = True) -> Iterator[InterruptRequest]:
    """Within the block, the first SIGINT sets ``request.requested`` (and says so on stderr)
    instead of raising; a second raises ``KeyboardInterrupt``. The previous handler is put
    back on exit. Inactive (``installed`` False) when ``enabled`` is false, off the main
    thread, or when SIGINT already has a handler other than Python's default."""
    request = InterruptRequest()
    if not enabled or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield request
        return

    def handler(signum, frame):
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        sys.stderr.write(WARNING)
        sys.stderr.flush()

    previous = signal.signal(signal.SIGINT, handler)
    request.installed = True
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
