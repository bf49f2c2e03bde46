"""Machine settings of the engine: worker threads, block and tile sizes, torch's thread count
and float32 matmul precision."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Iterator

import numpy as np
import torch

from modecover._checks import positive_int

_BLOCK_BYTES = 192 * 2**20  # working memory per block (float32 products + masks)
_BIG_WORK = 2e8  # multiply-adds above which all cores are used
_TILE_BYTES = 4 * 2**20  # one float32 tile of squared distances (stays in cache)


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _choose_threads(threads: int | None, work: float) -> int | None:
    """Threads for the products: all cores for big work, the caller's setting otherwise."""
    if threads is not None:
        return positive_int(threads, "threads")
    return available_cores() if work >= _BIG_WORK else None


def _choose_block(block_size: int | None, n_cols: int) -> int:
    """Query rows per block so that the block's buffers take about ``_BLOCK_BYTES``."""
    if block_size is not None:
        return positive_int(block_size, "block_size")
    per_row = 12 * max(n_cols, 1)  # two float32 buffers + boolean masks
    return int(min(8192, max(16, _BLOCK_BYTES // per_row)))


def _tile_size(block_size: int | None) -> int:
    """Rows (and columns) of a square float32 tile of ``_TILE_BYTES``, or ``block_size`` if given."""
    if block_size is not None:
        return positive_int(block_size, "block_size")
    return int(np.sqrt(_TILE_BYTES / 4))


@contextlib.contextmanager
def _torch_settings(threads: int | None) -> Iterator[None]:
    """Set torch's thread count and full-precision float32 matmul; restore both after."""
    old_threads = torch.get_num_threads()
    old_precision = torch.get_float32_matmul_precision()
    try:
        if threads is not None and threads != old_threads:
            torch.set_num_threads(threads)
        torch.set_float32_matmul_precision("highest")
        yield
    finally:
        torch.set_float32_matmul_precision(old_precision)
        if torch.get_num_threads() != old_threads:
            torch.set_num_threads(old_threads)


def _workers(threads: int | None) -> int:
    """Worker threads for the block tasks: the chosen thread count; small work (no count
    chosen) runs in the caller's thread with torch's own setting."""
    return int(threads) if threads is not None else 1


def _run_tasks(fn, tasks, workers: int) -> list:
    """``[fn(t) for t in tasks]`` on ``workers`` Python threads, each running torch and BLAS
    with one thread (torch and numpy release the GIL inside their kernels).

    Independent workers pulling the next block from a queue share no barrier, so a core
    taken by another process delays one block, not every operation of every block (which
    is what one multi-threaded operation at a time suffers on a shared machine).
    """
    if workers <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    with concurrent.futures.ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        return list(pool.map(fn, tasks))
