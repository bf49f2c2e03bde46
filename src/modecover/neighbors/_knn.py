"""Exact k nearest neighbours: :func:`knn` and :func:`kth_distances`."""

from __future__ import annotations

import threading

import numpy as np
import torch

from modecover._checks import check_k, check_same_dim
from modecover.neighbors._bounds import _error_bounds
from modecover.neighbors._faiss import _knn_faiss
from modecover.neighbors._inputs import as_points
from modecover.neighbors._machine import (
    _choose_block,
    _choose_threads,
    _run_tasks,
    _tile_size,
    _torch_settings,
    _workers,
)
from modecover.neighbors._select import _exact_from_topk, _extra_candidates, _narrowing, _topk_margin
from modecover.neighbors._symmetric import _knn_torch_symmetric, _symmetric_pays
from modecover.neighbors._tiles import _block_keys, _blocks, _prepare

BACKENDS = ("auto", "torch", "faiss")

_BF16_MAX_K = 32  # "auto": k-NN with a larger k keeps float32 products (k = 255 at 6,000 x 2048: slower)


def knn(query, data=None, k: int = 1, *, backend: str = "auto", block_size: int | None = None,
        threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of each query row among ``data`` rows.

    Returns ``(dist, idx)``: float64 ``(n, k)`` distances ascending and int64 ``(n, k)``
    indices into ``data``; ties are ordered by index. With ``data=None`` the neighbours are
    searched within ``query`` and each point itself is excluded by index (an exact
    duplicate of it still counts, at distance 0). Inputs are numpy arrays or torch tensors
    of any float dtype. ``backend`` is ``"auto"``/``"torch"`` or ``"faiss"``; ``block_size``
    (query rows per block) and ``threads`` override the machine-derived defaults.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    within = data is None
    q = as_points(query, "query")
    x = q if within else as_points(data, "data")
    if not within:
        check_same_dim(q, x, "query", "data")
    check_k(k, len(x), "query" if within else "data", self_excluded=within)
    return _knn_unchecked(q, None if within else x, k, backend=backend, block_size=block_size, threads=threads)


def _knn_unchecked(q: np.ndarray, x: np.ndarray | None, k: int, *, backend: str = "auto",
                   block_size: int | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`knn` of inputs a public caller has already checked: ``q`` (and ``x``, ``None``
    for within ``q``) from :func:`as_points` with equal widths, ``k`` by
    :func:`modecover._checks.check_k`, ``backend`` in :data:`BACKENDS`."""
    within = x is None
    x = q if within else x
    k = int(k)
    # by default bfloat16 only for short lists: long ones are mostly re-measuring, which its bound adds to
    pa, pb = _prepare(q, None if within else x, allow_bfloat16=backend != "faiss", auto_bfloat16=k <= _BF16_MAX_K)
    block = _choose_block(block_size, len(x))
    n_threads = _choose_threads(threads, float(len(q)) * len(x) * q.shape[1])
    if backend == "faiss":
        with _torch_settings(n_threads):
            return _knn_faiss(q, x, pa, pb, k, within, block, n_threads)
    workers = _workers(n_threads)
    with _torch_settings(1 if workers > 1 else n_threads):
        if within and _symmetric_pays(q.shape[1], k + _extra_candidates(pa), len(q)):
            return _knn_torch_symmetric(q, pa, k, _tile_size(block_size), workers)
        return _knn_torch(q, x, pa, pb, k, within, block, workers)


def kth_distances(x, k: int, **kw) -> np.ndarray:
    """Float64 ``(n,)`` distance of each row of ``x`` to its k-th nearest *other* row (exact).

    Keyword arguments go to :func:`knn` (``backend``, ``block_size``, ``threads``).
    """
    dist, _ = knn(x, None, k, **kw)
    return dist[:, -1].copy()


def _knn_torch(a, b, pa, pb, k, exclude_self, block, workers):
    n, m = len(a), len(b)
    kk = min(k + _extra_candidates(pa) + int(exclude_self), m)
    out_d = np.empty((n, k), dtype=np.float64)
    out_i = np.empty((n, k), dtype=np.int64)
    local = threading.local()

    def task(rows: slice) -> None:
        keys = local.buf = _block_keys(pa, pb, rows, getattr(local, "buf", None))
        nb = keys.shape[0]
        if exclude_self:
            r = torch.arange(nb)
            keys[r, r + rows.start] = float("inf")
        vals, idx = torch.topk(keys, kk, dim=1, largest=False, sorted=True)
        kth = vals[:, k - 1].double().numpy()
        dropped = vals[:, -1].double().numpy() if kk < m else np.full(nb, np.inf)  # the rest are >= the last
        thr = kth + _topk_margin(pa, pb, rows, kth + pa.sq64[rows], _error_bounds)
        out_d[rows], out_i[rows] = _exact_from_topk(
            a[rows], b, vals.double().numpy(), idx.numpy(), thr, dropped, k,
            lambda full: keys[torch.from_numpy(full)].double().numpy(), _narrowing(pa, pb, rows.start, k))

    _run_tasks(task, list(_blocks(n, block)), workers)
    return out_d, out_i
