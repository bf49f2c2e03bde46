"""From float32 candidate lists to the exact k nearest neighbours: the candidates a row's
error bound leaves in doubt, re-measured in float64 (after bfloat16 tiles, pruned with
float32 products first) and ordered by (distance, index)."""

from __future__ import annotations

import numpy as np

from modecover.neighbors._bounds import _float32_margins, _row_spread
from modecover.neighbors._inputs import _exact_pair_distances
from modecover.neighbors._precision import _U16
from modecover.neighbors._tiles import _float32_squares, _Float32Points

_EXTRA_CANDIDATES = 8  # top-k keeps k + this many float32 candidates per row
_EXTRA_CANDIDATES_BF16 = 32  # ... with bfloat16 products (a wider error bound: more candidates)
_NARROW_ABOVE = 1.25  # candidates per row, in units of k, above which float32 pruning pays
_LIST_CHUNK_BYTES = 2**22  # scratch for re-measuring whole candidate lists (in cache)


def _extra_candidates(p: _Float32Points) -> int:
    return _EXTRA_CANDIDATES if p.low is None else _EXTRA_CANDIDATES_BF16


def _topk_margin(pa: _Float32Points, pb: _Float32Points, rows: slice, kth: np.ndarray, bounds) -> np.ndarray:
    """How far above its float32 k-th value a row's candidates reach: ``2 E_i`` with the
    bound taken at the k-th squared distance ``kth`` (``bounds``: :func:`_error_bounds` or
    :func:`_full_error_bounds`). For bfloat16 points a pair's error grows by ``u16`` per unit
    of distance from that threshold, which the factor covers (docs/metrics.md, "bfloat16 products")."""
    e = bounds(pa, pb, rows, _row_spread(pa, pb, rows, kth))
    return 2.0 * e * (1.0 + 4.0 * _U16) / (1.0 - _U16)


def _narrowing(pa: _Float32Points, pb: _Float32Points, start: int, k: int):
    """The float32 pruning of :func:`_exact_from_topk` for bfloat16 points, None for float32 ones."""
    return None if pa.low is None else (lambda rows, cols: _narrowed(pa, pb, start, rows, cols, k))


def _narrowed(pa: _Float32Points, pb: _Float32Points, start: int, rows: np.ndarray, cols: np.ndarray, k: int):
    """The candidate pairs (block rows ``rows`` from ``start``, columns ``cols``; each row with
    at least k) that may still be among their row's k nearest after re-measuring them with
    float32 products (:func:`_float32_squares`): within twice the float32 bound of the row's
    k-th float32 value. Used after bfloat16 tiles, whose wider bound lists more candidates."""
    sq = _float32_squares(pa, pb, rows + start, cols)
    order = np.lexsort((sq, rows))
    starts = np.searchsorted(rows[order], np.arange(int(rows.max(initial=-1)) + 1))
    kth = sq[order[np.minimum(starts + k - 1, len(order) - 1)]]
    keep = sq <= kth[rows] + 2.0 * _float32_margins(pa, pb, rows + start) * (1.0 + 1e-6)
    return rows[keep], cols[keep]


def _select_exact(
    a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """From candidate pairs (each row has >= k), the k nearest per row by (float64 distance, index)."""
    dist = _exact_pair_distances(a, b, rows, cols)
    order = np.lexsort((cols, dist, rows))
    rows, cols, dist = rows[order], cols[order], dist[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    pos = np.arange(len(rows)) - starts[rows]
    keep = pos < k
    return dist[keep].reshape(n_rows, k), cols[keep].reshape(n_rows, k).astype(np.int64)


def _exact_from_topk(a_rows, b, vals, idx, thr, dropped, k, full_rows, narrow=None):
    """The exact k nearest of each row from its sorted float32 top list (``vals``, ``idx``).

    The candidates of a row are the listed points with float32 value ``<= thr``: a prefix
    of its list. Rows where a value left out of the list may be under the threshold
    (``dropped``: per row, a lower bound on those values) may have more candidates and go
    through the general path (:func:`_candidates_from_topk`, rescanning ``full_rows``); the
    others are re-measured in float64 as padded (rows, list) arrays.
    ``narrow(rows, cols)`` (bfloat16 tiles) first prunes the candidate pairs with float32
    products (:func:`_narrowed`; a float32 re-measure costs about a fifth of a float64 one,
    so only where the lists hold over ``_NARROW_ABOVE`` times k candidates per row, or rows
    are rescanned); the rest are then re-measured in float64 as pairs.
    """
    n_rows = len(vals)
    counts = (vals <= thr[:, None]).sum(axis=1)
    full = dropped <= thr
    if narrow is not None and (full.any() or counts.sum() > _NARROW_ABOVE * k * n_rows):
        rows, cols = narrow(*_candidates_from_topk(vals, idx, thr, dropped, full_rows))
        return _select_exact(a_rows, b, rows, cols, n_rows, k)
    out_d = np.empty((n_rows, k), dtype=np.float64)
    out_i = np.empty((n_rows, k), dtype=np.int64)
    listed = np.flatnonzero(~full)
    if len(listed):
        width = int(counts[listed].max())
        out_d[listed], out_i[listed] = _select_from_lists(a_rows[listed], b, idx[listed, :width], counts[listed], k)
    if full.any():
        sub = np.flatnonzero(full)
        rows, cols = _candidates_from_topk(vals[sub], idx[sub], thr[sub], dropped[sub], lambda f: full_rows(sub[f]))
        out_d[sub], out_i[sub] = _select_exact(a_rows[sub], b, rows, cols, len(sub), k)
    return out_d, out_i


def _select_from_lists(a_rows: np.ndarray, b: np.ndarray, idx: np.ndarray, counts: np.ndarray, k: int):
    """k nearest per row among its first ``counts[i]`` listed candidates ``idx[i]``, by
    (float64 distance, index). The distance is :func:`exact_distances`' value bit for bit:
    ``b - a`` is the exact negation of ``a - b``, and the squares are summed by the same
    numpy reduction over the last axis."""
    n_rows, width = idx.shape
    d = a_rows.shape[1]
    out_d = np.empty((n_rows, k), dtype=np.float64)
    out_i = np.empty((n_rows, k), dtype=np.int64)
    step = max(1, min(n_rows, _LIST_CHUNK_BYTES // (12 * width * d)))
    gathered = np.empty((step, width, d), dtype=b.dtype)  # reused: no page faults per chunk
    diff = np.empty((step, width, d), dtype=np.float64)
    unused = np.arange(width)[None, :] >= counts[:, None]
    for s in range(0, n_rows, step):
        r = min(step, n_rows - s)
        cols, got, dif = idx[s : s + r], gathered[:r], diff[:r]
        np.take(b, cols, axis=0, out=got)
        np.subtract(got, a_rows[s : s + r, None, :], out=dif, dtype=np.float64)
        np.multiply(dif, dif, out=dif)
        dist = np.sqrt(dif.sum(axis=-1))
        dist[unused[s : s + r]] = np.inf
        order = _order_by_distance_then_index(dist, cols, k)
        out_d[s : s + r] = np.take_along_axis(dist, order, 1)
        out_i[s : s + r] = np.take_along_axis(cols, order, 1)
    return out_d, out_i


def _order_by_distance_then_index(dist: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """Per row, the positions of the k smallest (distance, index) pairs, in that order.

    The rows arrive in float32 order, nearly sorted in float64, where numpy's stable sort
    (timsort) is close to linear; only rows with an exact distance tie among the first
    k + 1 are sorted again with the index as second key."""
    order = np.argsort(dist, axis=-1, kind="stable")[:, : k + 1]
    head = np.take_along_axis(dist, order, 1)
    tied = np.flatnonzero((head[:, 1:] == head[:, :-1]).any(axis=1))
    if len(tied):
        order[tied] = np.lexsort((cols[tied], dist[tied]), axis=-1)[:, : k + 1]
    return order[:, :k]


def _candidates_from_topk(vals, idx, thr, dropped, full_rows):
    """Candidate (row, col) pairs: float32 value <= threshold. Rows where a value left out
    of the list may be below the threshold (``dropped <= thr``) are rescanned:
    ``full_rows(rows)`` gives their values over every column (float64 array, the same
    quantity as ``vals``)."""
    inside = vals <= thr[:, None]
    full = np.flatnonzero(dropped <= thr)
    inside[full] = False
    rows, pos = np.nonzero(inside)
    cols = idx[rows, pos]
    if len(full):
        fr, fc = np.nonzero(full_rows(full) <= thr[full, None])
        rows = np.concatenate([rows, full[fr]])
        cols = np.concatenate([cols, fc])
    return rows, cols.astype(np.int64)
