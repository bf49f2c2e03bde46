"""Exact k-NN within one set from half the tile products.

Within one set, d(a, b) = d(b, a): each tile product x_I x_J^T (J >= I) serves the rows
of I and, transposed, the rows of J, so only half of the n x n products are computed.
Worth it when the products dominate (wide points, short candidate lists).
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from modecover.neighbors._bounds import _full_error_bounds
from modecover.neighbors._machine import _run_tasks
from modecover.neighbors._select import _exact_from_topk, _extra_candidates, _narrowing, _topk_margin
from modecover.neighbors._tiles import _blocks, _cross_tile, _Float32Points, _squared_terms

_SYMMETRIC_MIN_DIM = 64
_SYMMETRIC_MAX_CANDIDATES = 64
_TILE_TOPK = 16  # values a tile's top-k takes per row, unless k is more (torch.topk is 2-3x slower above 16)


def _symmetric_pays(d: int, listed: int, n: int) -> bool:
    """Half the products (symmetric tiles) pay for their second top-k when the points are
    wide and the candidate lists (``listed`` per row) short."""
    return d >= _SYMMETRIC_MIN_DIM and listed <= _SYMMETRIC_MAX_CANDIDATES and n > 1


def _tile_distances(p: _Float32Points, rows: slice, cols: slice, out: torch.Tensor) -> torch.Tensor:
    """Float32 ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` for i in ``rows``, j in ``cols`` (diagonal tiles: self = inf)."""
    tile = _cross_tile(p, p, rows, cols, out)
    if rows == cols:
        tile.fill_diagonal_(float("inf"))
    return tile


class _RunningTopk:
    """The ``kk`` smallest float32 values (and their columns) seen so far for every row, and
    ``dropped``: per row, a lower bound on every value seen but not kept (inf: none)."""

    def __init__(self, n: int, kk: int, k: int):
        self.vals = torch.full((n, kk), float("inf"), dtype=torch.float32)
        self.idx = torch.full((n, kk), -1, dtype=torch.int64)
        self.dropped = torch.full((n,), float("inf"), dtype=torch.float32)
        self.kk = kk
        self.per_tile = max(k, min(kk, _TILE_TOPK))  # at least k: the k-th listed value is finite

    def merge(self, rows: slice, tile: torch.Tensor, col_start: int) -> None:
        """Merge the smallest values of each row of ``tile`` (columns offset by ``col_start``):
        ``per_tile`` of them; the tile's other values are at least the largest taken."""
        take = min(self.per_tile, tile.shape[1])
        vals, idx = torch.topk(tile, take, dim=1, largest=False, sorted=False)
        if take < tile.shape[1]:
            torch.minimum(self.dropped[rows], vals.amax(dim=1), out=self.dropped[rows])
        both_vals = torch.cat([self.vals[rows], vals], dim=1)
        both_idx = torch.cat([self.idx[rows], idx + col_start], dim=1)
        self._keep(rows, both_vals, both_idx)

    def merge_lists(self, other: "_RunningTopk") -> None:
        """Merge another running list of the same rows into this one."""
        rows = slice(0, len(self.vals))
        torch.minimum(self.dropped, other.dropped, out=self.dropped)
        self._keep(rows, torch.cat([self.vals, other.vals], dim=1), torch.cat([self.idx, other.idx], dim=1))

    def _keep(self, rows: slice, vals: torch.Tensor, idx: torch.Tensor) -> None:
        keep = min(self.kk + 1, vals.shape[1])
        best, pos = torch.topk(vals, keep, dim=1, largest=False, sorted=True)
        if keep > self.kk:
            torch.minimum(self.dropped[rows], best[:, self.kk], out=self.dropped[rows])
        self.vals[rows] = best[:, : self.kk]
        self.idx[rows] = torch.gather(idx, 1, pos[:, : self.kk])


def _knn_torch_symmetric(a, p, k, tile_rows, workers):
    """Exact k-NN within one set from half the tile products (module doc).

    Phase 1: each row block I computes its tiles (I, J >= I) and merges them into its
    worker's own running lists (rows of I, and rows of J through the transpose); phase 2
    merges the workers' lists and picks the exact neighbours per row block.
    """
    n = len(a)
    kk = min(k + _extra_candidates(p), n - 1)
    blocks = list(_blocks(n, tile_rows))
    local = threading.local()
    tops: list[_RunningTopk] = []
    lock = threading.Lock()

    def tiles(bi: int) -> None:
        if not hasattr(local, "top"):
            local.top = _RunningTopk(n, kk, k)
            local.buf = torch.empty(tile_rows, tile_rows, dtype=torch.float32)
            local.buf_t = torch.empty(tile_rows, tile_rows, dtype=torch.float32)
            with lock:
                tops.append(local.top)
        rows = blocks[bi]
        for cols in blocks[bi:]:
            tile = _tile_distances(p, rows, cols, local.buf)
            local.top.merge(rows, tile, cols.start)
            if cols != rows:
                tile_t = local.buf_t[: tile.shape[1], : tile.shape[0]]
                tile_t.copy_(tile.T)
                local.top.merge(cols, tile_t, rows.start)

    _run_tasks(tiles, list(range(len(blocks))), workers)
    top = tops[0]
    for other in tops[1:]:
        top.merge_lists(other)
    out_d = np.empty((n, k), dtype=np.float64)
    out_i = np.empty((n, k), dtype=np.int64)

    def select(rows: slice) -> None:
        vals = top.vals[rows].double().numpy()
        thr = vals[:, k - 1] + _topk_margin(p, p, rows, vals[:, k - 1], _full_error_bounds)
        out_d[rows], out_i[rows] = _exact_from_topk(a[rows], a, vals, top.idx[rows].numpy(), thr,
                                                    top.dropped[rows].double().numpy(), k,
                                                    lambda full: _full_rows(p, rows, full),
                                                    _narrowing(p, p, rows.start, k))

    _run_tasks(select, blocks, workers)
    return out_d, out_i


def _full_rows(p: _Float32Points, rows: slice, full: np.ndarray) -> np.ndarray:
    """Float32 full squared distances of the block rows ``full`` to every point (self = inf), as float64."""
    sel = torch.from_numpy(full + rows.start)
    vals = _squared_terms(p, p, sel, slice(0, len(p.x)), torch.empty(len(full), len(p.x)))
    vals += p.sq[sel, None]
    vals[torch.arange(len(full)), sel] = float("inf")
    return vals.double().numpy()
