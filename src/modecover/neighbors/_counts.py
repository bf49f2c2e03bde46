"""Exact ball-membership counts between point sets: :func:`pair_counts`,
:func:`radius_counts`, :func:`ball_counts`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from modecover._checks import check_same_dim
from modecover.neighbors._bounds import _column_spread, _float32_margins, _full_error_bounds, _row_spread
from modecover.neighbors._inputs import _as_radii, _exact_pair_distances, as_points
from modecover.neighbors._machine import _choose_threads, _run_tasks, _tile_size, _torch_settings, _workers
from modecover.neighbors._tiles import _blocks, _cross_tile, _float32_squares, _prepare


@dataclass
class PairCounts:
    """Ball-membership counts between point sets A (rows) and B (columns).

    For each radius vector given for A (``a_radii[t]``, one radius per A point):
    ``a_ball_members[t][i] = #{j : d(a_i, b_j) < r_i}`` and
    ``b_in_a_balls[t][j] = #{i : d(a_i, b_j) < r_i}``.
    For each radius vector given for B (``b_radii[t]``):
    ``b_ball_members[t][j] = #{i : d(a_i, b_j) < s_j}`` and
    ``a_in_b_balls[t][i] = #{j : d(a_i, b_j) < s_j}``. (``<=`` when ``strict=False``.)
    """

    a_ball_members: list[np.ndarray]
    b_in_a_balls: list[np.ndarray]
    b_ball_members: list[np.ndarray]
    a_in_b_balls: list[np.ndarray]


def pair_counts(a, b, *, a_radii: Sequence = (), b_radii: Sequence = (), strict: bool = True,
                block_size: int | None = None, threads: int | None = None) -> PairCounts:
    """All ball-membership counts between ``a`` and ``b`` in one pass over the block products.

    Each entry of ``a_radii`` is an ``(len(a),)`` radius vector centred on the A points and
    each entry of ``b_radii`` an ``(len(b),)`` vector centred on the B points; see
    :class:`PairCounts` for what is counted. Exact (equals a float64 brute force).
    """
    a_np, b_np = as_points(a, "a"), as_points(b, "b")
    check_same_dim(a_np, b_np, "a", "b")
    ra = [_as_radii(r, len(a_np), f"a_radii[{t}]") for t, r in enumerate(_radius_vectors(a_radii, "a_radii"))]
    rb = [_as_radii(r, len(b_np), f"b_radii[{t}]") for t, r in enumerate(_radius_vectors(b_radii, "b_radii"))]
    return _pair_counts(a_np, b_np, ra, rb, strict, block_size, threads)


def radius_counts(query, data, radii, *, strict: bool = True, block_size: int | None = None,
                  threads: int | None = None) -> np.ndarray:
    """int64 ``(nq,)``: ``#{j : d(query_i, data_j) < radii_i}`` (``<=`` if ``strict=False``), exact."""
    q, x = as_points(query, "query"), as_points(data, "data")
    check_same_dim(q, x, "query", "data")
    res = _pair_counts(q, x, [_as_radii(radii, len(q), "radii")], [], strict, block_size, threads)
    return res.a_ball_members[0]


def ball_counts(query, centers, radii, *, strict: bool = True, block_size: int | None = None,
                threads: int | None = None) -> np.ndarray:
    """int64 ``(nq,)``: ``#{c : d(query_i, centers_c) < radii_c}`` (``<=`` if ``strict=False``), exact."""
    q, c = as_points(query, "query"), as_points(centers, "centers")
    check_same_dim(q, c, "query", "centers")
    res = _pair_counts(q, c, [], [_as_radii(radii, len(c), "radii")], strict, block_size, threads)
    return res.a_in_b_balls[0]


def _capped_squares(r: np.ndarray, cap: float) -> np.ndarray:
    """Squared radii, capped above every possible squared distance (so float32 never overflows)."""
    clipped = np.minimum(r, np.sqrt(cap))
    return np.minimum(clipped * clipped, cap)


def _radius_vectors(radii, name: str) -> Sequence:
    """A list or tuple of radius vectors, or the rows of a 2-D array; one vector alone is
    refused (iterating it would give one scalar radius per point: as many counts)."""
    if isinstance(radii, (np.ndarray, torch.Tensor)) and radii.ndim != 2:
        raise ValueError(f"{name}: expected a list of radius vectors (or a 2-D array, one vector per row), "
                         f"got an array of shape {tuple(radii.shape)}; for one vector r pass [r]")
    return radii


class _TileCounter:
    """Counts of one kind of ball membership over tiles of full float32 squared distances.

    A pair is certainly inside when its float32 value is below ``lo`` and certainly outside
    above ``hi`` (threshold -/+ the error bound); the certain members are counted with
    float32 matrix-vector products of the 0/1 mask (exact: integers below 2^24), and the
    rows whose ``<= hi`` count differs hold the undecided pairs, returned for the float64
    re-check. Masks are written as float32 directly (vectorised compares, no bool pass).
    """

    def __init__(self, rows: int, cols: int):
        self.certain = torch.empty(rows, cols, dtype=torch.float32)
        self.maybe = torch.empty(rows, cols, dtype=torch.float32)
        self.ones_cols = torch.ones(cols, dtype=torch.float32)
        self.ones_rows = torch.ones(rows, dtype=torch.float32)

    def count(self, tile: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, row_counts: np.ndarray,
              col_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add the certain members to ``row_counts`` (tile rows) and ``col_counts`` (tile
        columns); return the undecided (row, col) pairs of the tile. ``lo``/``hi`` broadcast
        against the tile (a column of row thresholds or a row of column thresholds)."""
        nr, nc = tile.shape
        certain, maybe = self.certain[:nr, :nc], self.maybe[:nr, :nc]
        torch.lt(tile, lo, out=certain)
        torch.le(tile, hi, out=maybe)
        inside = torch.mv(certain, self.ones_cols[:nc])
        row_counts += inside.numpy().astype(np.int64)
        col_counts += torch.mv(certain.T, self.ones_rows[:nr]).numpy().astype(np.int64)
        rows = torch.nonzero(torch.mv(maybe, self.ones_cols[:nc]) != inside).flatten()
        if len(rows) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        sub = torch.nonzero(maybe[rows] != certain[rows]).numpy()
        return rows.numpy()[sub[:, 0]].astype(np.int64), sub[:, 1].astype(np.int64)


def _pair_counts(pa_np, pb_np, ra, rb, strict, block_size, threads, a_in_b_any: bool = False) -> PairCounts:
    """:func:`pair_counts` of checked inputs. ``a_in_b_any``: the B-radius counts need only tell
    each A point's zero from non-zero (``a_in_b_balls > 0``, as recall does): a pair in doubt
    is not re-measured once its A point has a member, so ``a_in_b_balls`` and
    ``b_ball_members`` are lower bounds, exact where ``a_in_b_balls`` is 0."""
    pa, pb = _prepare(pa_np, pb_np)
    cap = 8.0 * (pa.max_sq + pb.max_sq) + 1.0
    ra2 = [_capped_squares(r, cap) for r in ra]
    rb2 = [_capped_squares(r, cap) for r in rb]
    n, m = len(pa_np), len(pb_np)
    out = PairCounts(
        [np.zeros(n, np.int64) for _ in ra], [np.zeros(m, np.int64) for _ in ra],
        [np.zeros(m, np.int64) for _ in rb], [np.zeros(n, np.int64) for _ in rb],
    )
    if not ra and not rb:
        return out
    inside = np.less if strict else np.less_equal
    size = _tile_size(block_size)
    local = threading.local()
    col_spreads = [_column_spread(pa, pb, s2) for s2 in rb2]

    def row_block(rows: slice) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Counts of one row block against every column tile; its column counts are returned
        (summed by the caller), its row counts written in place (rows are disjoint)."""
        if not hasattr(local, "counter"):
            local.counter = _TileCounter(min(size, n), min(size, m))
            local.buf = torch.empty(min(size, n), min(size, m), dtype=torch.float32)
        b_in_a = [np.zeros(m, np.int64) for _ in ra]
        b_members = [np.zeros(m, np.int64) for _ in rb]
        bounds = [_full_error_bounds(pa, pb, rows, _row_spread(pa, pb, rows, r2[rows])) for r2 in ra2]
        row_lo = [torch.from_numpy((r2[rows] - e).astype(np.float32)[:, None]) for r2, e in zip(ra2, bounds)]
        row_hi = [torch.from_numpy((r2[rows] + e).astype(np.float32)[:, None]) for r2, e in zip(ra2, bounds)]
        # column thresholds share the block's largest row bound
        col_bounds = [float(_full_error_bounds(pa, pb, rows, spread(rows)).max()) for spread in col_spreads]
        for cols in _blocks(m, size):
            tile = _cross_tile(pa, pb, rows, cols, local.buf)
            for t in range(len(ra2)):
                counts = (out.a_ball_members[t][rows], b_in_a[t][cols])
                rr, cc = local.counter.count(tile, row_lo[t], row_hi[t], *counts)
                _recheck(pa, pb, pa_np, pb_np, rows, cols, rr, cc, ra[t][rows][rr], inside, *counts)
            for t, (s2, col_bound) in enumerate(zip(rb2, col_bounds)):
                lo = torch.from_numpy((s2[cols] - col_bound).astype(np.float32)[None, :])
                hi = torch.from_numpy((s2[cols] + col_bound).astype(np.float32)[None, :])
                counts = (out.a_in_b_balls[t][rows], b_members[t][cols])
                rr, cc = local.counter.count(tile, lo, hi, *counts)
                if a_in_b_any:
                    no_member_yet = counts[0][rr] == 0
                    rr, cc = rr[no_member_yet], cc[no_member_yet]
                _recheck(pa, pb, pa_np, pb_np, rows, cols, rr, cc, rb[t][cols][cc], inside, *counts)
        return b_in_a, b_members

    n_threads = _choose_threads(threads, float(n) * m * pa_np.shape[1])
    workers = _workers(n_threads)
    with _torch_settings(1 if workers > 1 else n_threads):
        for b_in_a, b_members in _run_tasks(row_block, list(_blocks(n, size)), workers):
            for total, part in zip(out.b_in_a_balls + out.b_ball_members, b_in_a + b_members):
                total += part
    return out


def _recheck(pa, pb, a, b, rows, cols, rr, cc, radii, inside, row_counts, col_counts) -> None:
    """Decide undecided pairs (tile coordinates ``rr``, ``cc``) in float64 and count the members.
    After bfloat16 tiles, float32 products (:func:`_float32_squares`) decide most of them first."""
    if len(rr) == 0:
        return
    rr_abs, cc_abs = rr + rows.start, cc + cols.start
    member, undecided = np.zeros(len(rr), dtype=bool), np.ones(len(rr), dtype=bool)
    if pa.low is not None:
        sq = _float32_squares(pa, pb, rr_abs, cc_abs)
        e = _float32_margins(pa, pb, rr_abs) * (1.0 + 1e-6)
        r2 = radii * radii
        member = sq + e < r2 * (1.0 - 1e-15)
        undecided = ~member & ~(sq - e > r2 * (1.0 + 1e-15))
    exact = _exact_pair_distances(a, b, rr_abs[undecided], cc_abs[undecided])
    member[undecided] = inside(exact, radii[undecided])
    np.add.at(row_counts, rr[member], 1)
    np.add.at(col_counts, cc[member], 1)
