"""Exact per-point reductions between query points and a set of balls, in one pass.

:mod:`modecover.neighbors` counts ball memberships; explaining a metric needs the values
behind the counts. For query points ``q_i`` (the fakes) and balls ``(c_j, s_j)`` (the real
samples and their k-NN radii), one pass over the engine's float32 tiles of squared
distances (``|q|^2 + |c|^2 - 2 q.c``, ``_tiles._cross_tile``, the tiles of
its ball counts) gives:

- ``gap[i] = min_j (d(q_i, c_j) - s_j)``: the signed distance to the nearest ball surface
  (negative inside a ball), and ``gap_index[i]``, that ball (ties to the lower index);
- ``realism[i] = max_j t_j / d(q_i, c_j)`` over the balls with ``t_j > 0`` (the realism
  radii; 0 when there is none; ``inf`` when ``q_i`` equals such a centre);
- ``rarity[i] = min {s_j : d(q_i, c_j) < s_j}`` (``<=`` with ``strict=False``), NaN when
  ``q_i`` lies in no ball;
- ``nearest[j]``, ``nearest_index[j]``: each centre's nearest query point (ties to the
  lower index).

Exact, like the engine: every value equals a float64 brute force on the same inputs. The
float32 squared distance of a pair in row i is within ``E_i`` of the exact one (the
engine's bound, plus the rounding of adding ``|q_i|^2``), so its square root is within
``delta_i = min(sqrt(E_i), E_i / d_lo)`` of the exact distance (``d_lo``: a lower bound on
the row's distances in the tile), plus the float32 rounding of the square root and of the
radii. For each reduction, every pair whose bounds do not exclude it from the optimum
found so far is a candidate; candidates are recomputed in float64 from the inputs and
decided there. With bfloat16 tile products (:func:`modecover.neighbors.products`) the bound
takes the product's rounding from each row's largest product in the tile (there is no
single threshold to take it at), a tile's candidates are re-measured with float32
products and marked again, pair by pair, with the float32 bound, and only those left go
to float64.

How it runs: the engine's way (:func:`modecover.neighbors.pair_counts`). Query rows are
cut into blocks, each a task for a worker thread with one torch thread
(``_machine._run_tasks``); a task walks the square tiles of its rows
(cache-sized, ``_machine._tile_size``) and keeps, per row, the best upper
bound of each reduction seen so far, so a later tile adds only the pairs that may still
beat it. Each worker keeps its own running bound on every centre's nearest query: a bound
from any subset of the rows is a bound for all of them, so the candidates never depend on
which worker ran which block, and neither do the answers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from modecover._checks import check_same_dim
from modecover.neighbors._bounds import _error_bounds, _float32_margins
from modecover.neighbors._inputs import _as_radii, _exact_pair_distances, as_points
from modecover.neighbors._machine import _choose_threads, _run_tasks, _tile_size, _torch_settings, _workers
from modecover.neighbors._precision import _MIN_NORMAL, _U32
from modecover.neighbors._tiles import _blocks, _cross_tile, _float32_squares, _prepare

__all__ = ["BallReductions", "ball_reductions"]

_MAX_WEIGHT = 1e30  # float32 cap of 1 / radius (a zero-size ball)


@dataclass(frozen=True)
class BallReductions:
    """What :func:`ball_reductions` computes (module doc); float64 values, int64 indices."""

    gap: np.ndarray  # (n_query,)
    gap_index: np.ndarray  # (n_query,)
    realism: np.ndarray  # (n_query,)
    rarity: np.ndarray  # (n_query,)
    nearest: np.ndarray  # (n_centers,)
    nearest_index: np.ndarray  # (n_centers,)


def _row_first(rows: np.ndarray, key: np.ndarray, cols: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the smallest ``key`` and its column (ties: lower column); every row must occur."""
    order = np.lexsort((cols, key, rows))
    starts = np.searchsorted(rows[order], np.arange(n_rows))
    pick = order[starts]
    return key[pick], cols[pick]


def _up32(x: np.ndarray) -> torch.Tensor:
    """float32 thresholds, each at least its float64 value (rounded up)."""
    x32 = x.astype(np.float32)
    x32 = np.where(x32.astype(np.float64) < x, np.nextafter(x32, np.float32(np.inf)), x32)
    return torch.from_numpy(x32)


@dataclass
class _Balls:
    """The balls in the forms the tiles use: float64 radii ``s`` and realism radii ``t``,
    float32 copies and weights ``1 / t`` (``penalty`` inf where ``t`` is 0), and the
    float32 rounding ``slack`` of a distance minus a radius."""

    s: np.ndarray
    t: np.ndarray
    kept: np.ndarray  # t > 0: the balls of the realism maximum
    s32: torch.Tensor
    weight: torch.Tensor
    weight64: np.ndarray
    penalty: torch.Tensor
    slack: float


def _balls(s: np.ndarray, t: np.ndarray, pq, pc) -> _Balls:
    d_max = (np.sqrt(pq.max_sq) + np.sqrt(pc.max_sq)) * (1 + 1e-6)
    # float32 roundings of d, s, d - s (each also within 2^-126 where it underflows)
    slack = 8.0 * _U32 * (d_max + float(s.max(initial=0.0))) + 4.0 * _MIN_NORMAL
    kept = t > 0
    with np.errstate(over="ignore"):
        inverse = np.where(kept, 1.0 / np.where(kept, t, 1.0), 0.0).clip(max=_MAX_WEIGHT).astype(np.float32)
    return _Balls(s, t, kept, torch.from_numpy(s.astype(np.float32)), torch.from_numpy(inverse),
                  inverse.astype(np.float64), torch.from_numpy(np.where(kept, 0.0, np.inf).astype(np.float32)), slack)


class _Work:
    """One worker's tile buffers and its running upper bound on each centre's nearest query."""

    def __init__(self, rows: int, cols: int, m: int):
        self.dist = torch.empty(rows, cols, dtype=torch.float32)
        self.tmp = torch.empty(rows, cols, dtype=torch.float32)
        self.cand = torch.empty(rows, cols, dtype=torch.bool)
        self.mask = torch.empty(rows, cols, dtype=torch.bool)
        self.col_upper = np.full(m, np.inf)


@dataclass
class _RowBounds:
    """Per row of a block: the best upper bounds seen so far of the gap and of ``d / t``
    (the realism score's inverse), float64."""

    gap: np.ndarray
    realism: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "_RowBounds":
        return cls(np.full(n, np.inf), np.full(n, np.inf))


@dataclass
class _Found:
    """The per-query reductions, filled tile by tile (each row block owns its rows)."""

    gap: np.ndarray
    gap_index: np.ndarray
    realism: np.ndarray
    rarity: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "_Found":
        return cls(np.full(n, np.inf), np.full(n, -1, dtype=np.int64), np.zeros(n), np.full(n, np.inf))


@dataclass
class _Pass:
    """The inputs of one call: original points, their float32 copies, the balls, the rule."""

    q: np.ndarray
    c: np.ndarray
    pq: object
    pc: object
    balls: _Balls
    inside: np.ufunc
    size: int  # tile rows and columns
    found: _Found


def _tile_deltas(err: np.ndarray, nearest: np.ndarray, slack: float) -> np.ndarray:
    """``delta_i`` (module doc) for the tile's rows, from the smallest distance of each (``nearest``)."""
    d_lo2 = np.maximum(nearest**2 * (1 - 1e-6) - err, 0.0)
    far = np.divide(err, np.sqrt(d_lo2), out=np.full(len(err), np.inf), where=d_lo2 > 0)
    return np.minimum(np.sqrt(err), far) + slack


def _mark(p: _Pass, dist: torch.Tensor, err: np.ndarray, cols: slice, work: _Work, bounds: _RowBounds) -> torch.Tensor:
    """The tile's candidate pairs (a boolean view): every pair whose interval (its float32
    value +- ``delta_i``) does not put it out of one of the reductions; the row and column
    upper bounds in ``bounds`` and ``work.col_upper`` are tightened on the way."""
    nb, nc = dist.shape
    b = p.balls
    tmp, cand, mask = work.tmp[:nb, :nc], work.cand[:nb, :nc], work.mask[:nb, :nc]
    delta = _tile_deltas(err, dist.amin(dim=1).double().numpy(), b.slack)
    # gap (within delta of the best upper bound) and rarity (possibly inside: below delta)
    torch.sub(dist, b.s32[cols], out=tmp)
    np.minimum(bounds.gap, tmp.amin(dim=1).double().numpy() + delta, out=bounds.gap)
    torch.le(tmp, _up32(np.maximum(bounds.gap + delta, delta))[:, None], out=cand)
    # each centre's nearest query: the pair's lower bound within the column's upper bound
    col_upper = work.col_upper[cols]  # a view: the worker's bound is tightened in place
    np.minimum(col_upper, dist.amin(dim=0).double().numpy() + float(delta.max()), out=col_upper)
    torch.sub(dist, _up32(delta)[:, None], out=tmp)
    torch.le(tmp, _up32(col_upper)[None, :], out=mask)
    cand |= mask
    if b.kept[cols].any():  # realism: (d - delta) / t_j against the row's best upper bound of d / t
        tmp.mul_(b.weight[cols]).add_(b.penalty[cols])
        best = tmp.argmin(dim=1)
        d_best = dist.gather(1, best[:, None]).double().squeeze(1).numpy()
        pick = best.numpy() + cols.start
        upper = np.where(b.kept[pick], (d_best + delta) * b.weight64[pick] * (1 + 1e-5) + 1e-30, np.inf)
        np.minimum(bounds.realism, upper, out=bounds.realism)
        torch.le(tmp, _up32(bounds.realism)[:, None], out=mask)
        cand |= mask
    return cand


def _decide(p: _Pass, rows: slice, rr: np.ndarray, cc: np.ndarray, exact: np.ndarray) -> None:
    """Decide a tile's candidate pairs (block row ``rr``, ball ``cc``, float64 distance
    ``exact``): the gap's best so far (a tie keeps the earlier, lower column), rarity's
    minimum and realism's maximum."""
    b, f = p.balls, p.found
    rr_abs = rr + rows.start
    s = b.s[cc]
    key = exact - s
    if len(rr):
        order = np.lexsort((cc, key, rr))
        first = order[np.r_[True, rr[order][1:] != rr[order][:-1]]]
        better = key[first] < f.gap[rr_abs[first]]
        won = first[better]
        f.gap[rr_abs[won]], f.gap_index[rr_abs[won]] = key[won], cc[won]
    hit = p.inside(exact, s)
    np.minimum.at(f.rarity, rr_abs[hit], s[hit])
    use = b.kept[cc]
    with np.errstate(divide="ignore"):
        np.maximum.at(f.realism, rr_abs[use], b.t[cc[use]] / exact[use])


def _largest_products(pq, pc, rows: slice, cols: slice, tile: torch.Tensor, tmp: torch.Tensor) -> np.ndarray:
    """Per row of a bfloat16 tile of squared distances ``t = |a|^2 + |b|^2 - 2 c``: a bound on
    its products ``|c|``, from ``max_j ||a_i|^2 + |b_j|^2 - t_ij| / 2`` in float32 (in ``tmp``)
    plus the float32 roundings of forming ``t`` and of this (``16 u (|a_i|^2 + max |b|^2)``,
    as ``|c| <= |a||b|``)."""
    tmp = tmp[: tile.shape[0], : tile.shape[1]]
    torch.sub(tile, pc.sq[cols], out=tmp).sub_(pq.sq[rows, None]).abs_()
    return (tmp.amax(dim=1).double().numpy() + 16.0 * _U32 * (pq.sq64[rows] + pc.max_sq)) / 2.0


def _remarked(p: _Pass, rows: slice, cols: slice, rr: np.ndarray, cc: np.ndarray, work: _Work, bounds: _RowBounds,
              rounding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """After a bfloat16 tile: its candidate pairs (tile rows ``rr``, columns ``cc``) re-measured
    with float32 products (``_tiles._float32_squares``) and marked again with
    the float32 bound, pair by pair, by :func:`_mark`'s rules (the other pairs of the tile are
    already out); the bounds are tightened on the way. Returns the pairs left."""
    b, nb, nc = p.balls, rows.stop - rows.start, cols.stop - cols.start
    centre = cc + cols.start  # the balls of the pairs
    d = np.sqrt(np.maximum(_float32_squares(p.pq, p.pc, rr + rows.start, centre), 0.0))
    nearest = np.full(nb, np.inf)
    np.minimum.at(nearest, rr, d)
    delta = _tile_deltas(_float32_margins(p.pq, p.pc, rows) + rounding, nearest, b.slack)
    # gap and rarity
    key = d - b.s[centre]
    best = np.full(nb, np.inf)
    np.minimum.at(best, rr, key)
    np.minimum(bounds.gap, best + delta, out=bounds.gap)
    keep = key <= np.maximum(bounds.gap + delta, delta)[rr]
    # each centre's nearest query
    col_upper = work.col_upper[cols]
    col_best = np.full(nc, np.inf)
    np.minimum.at(col_best, cc, d)
    np.minimum(col_upper, col_best + float(delta.max()), out=col_upper)
    keep |= d - delta[rr] <= col_upper[cc]
    # realism: (d - delta) / t_j against the row's best upper bound of d / t
    kept = b.kept[centre]
    if kept.any():
        weight = b.weight64[centre]
        upper = np.where(kept, (d + delta[rr]) * weight * (1 + 1e-5) + 1e-30, np.inf)
        np.minimum.at(bounds.realism, rr, upper)
        keep |= kept & ((d - delta[rr]) * weight <= bounds.realism[rr])
    return rr[keep], cc[keep]


def _row_block(p: _Pass, rows: slice, work: _Work) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One task: the block's rows against every column tile. Returns its candidate pairs
    as (column, float64 distance, row) for the centres' nearest queries."""
    rounding = 8.0 * _U32 * (p.pq.sq64[rows] + p.pc.max_sq)
    low = p.pq.low is not None  # bfloat16 tiles
    bounds = _RowBounds.empty(rows.stop - rows.start)
    parts = []
    for cols in _blocks(len(p.c), p.size):
        tile = _cross_tile(p.pq, p.pc, rows, cols, work.dist)
        largest = _largest_products(p.pq, p.pc, rows, cols, tile, work.tmp) if low else None
        err = _error_bounds(p.pq, p.pc, rows, largest=largest) + rounding
        cand = _mark(p, tile.clamp_(min=0).sqrt_(), err, cols, work, bounds)
        rr, cc = (a.numpy() for a in torch.nonzero(cand, as_tuple=True))
        if low:
            rr, cc = _remarked(p, rows, cols, rr, cc, work, bounds, rounding)
        cc = cc + cols.start
        exact = _exact_pair_distances(p.q, p.c, rr + rows.start, cc)
        _decide(p, rows, rr, cc, exact)
        parts.append((cc, exact, rr + rows.start))
    return tuple(np.concatenate(a) for a in zip(*parts))


def ball_reductions(query, centers, radii, *, realism_radii=None, strict: bool = True,
                    block_size: int | None = None, threads: int | None = None) -> BallReductions:
    """The reductions of the module doc for ``query`` (n, d) against balls centred on
    ``centers`` (m, d) with ``radii`` (m,); ``realism_radii`` (m,) default ``radii``
    (0 removes a ball from the realism maximum). ``block_size`` (rows and columns of a
    tile) and ``threads`` (worker threads) override the engine's defaults."""
    q, c = as_points(query, "query"), as_points(centers, "centers")
    check_same_dim(q, c, "query", "centers")
    s = _as_radii(radii, len(c), "radii")
    t = s if realism_radii is None else _as_radii(realism_radii, len(c), "realism_radii")
    return _ball_reductions_unchecked(q, c, s, t, strict, block_size, threads)


def _ball_reductions_unchecked(q: np.ndarray, c: np.ndarray, s: np.ndarray, t: np.ndarray, strict: bool,
                               block_size: int | None = None, threads: int | None = None) -> BallReductions:
    """:func:`ball_reductions` of inputs a public caller has already checked: points from
    :func:`modecover.neighbors.as_points` of equal widths, radii ``s`` and realism radii
    ``t`` finite, non-negative float64 ``(len(c),)``."""
    n, m = len(q), len(c)
    pq, pc = _prepare(q, c)
    size = _tile_size(block_size)
    p = _Pass(q, c, pq, pc, _balls(s, t, pq, pc), np.less if strict else np.less_equal, size, _Found.empty(n))
    n_threads = _choose_threads(threads, float(n) * m * q.shape[1])
    workers = _workers(n_threads)
    local = threading.local()

    def task(rows: slice):
        if not hasattr(local, "work"):
            local.work = _Work(min(size, n), min(size, m), m)
        return _row_block(p, rows, local.work)

    with _torch_settings(1 if workers > 1 else n_threads):
        parts = _run_tasks(task, list(_blocks(n, size)), workers)
    cols, exact, rows_abs = (np.concatenate(a) for a in zip(*parts))
    nearest, nearest_index = _row_first(cols, exact, rows_abs, m)
    f = p.found
    f.rarity[np.isinf(f.rarity)] = np.nan
    return BallReductions(f.gap, f.gap_index, f.realism, f.rarity, nearest, nearest_index)
