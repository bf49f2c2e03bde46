"""Exact per-point reductions between query points and a set of balls, in one pass.

:mod:`modecover.neighbors` counts ball memberships; explaining a metric needs the values
behind the counts. For query points ``q_i`` (the fakes) and balls ``(c_j, s_j)`` (the real
samples and their k-NN radii), one pass over the engine's blocked float32 products
(``|q|^2 + |c|^2 - 2 q.c``, :func:`modecover.neighbors._block_keys`) gives:

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
the row's distances), plus the float32 rounding of the square root and of the radii. For
each reduction, every pair whose bounds do not exclude it from the optimum is a
candidate; candidates are recomputed in float64 from the inputs and decided there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modecover._checks import check_same_dim
from modecover.neighbors import (
    _U32,
    _as_radii,
    _block_keys,
    _blocks,
    _choose_block,
    _choose_threads,
    _error_bounds,
    _exact_pair_distances,
    _prepare,
    _torch_settings,
    as_points,
)

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


@dataclass
class _Balls:
    """The balls in the forms the block loop uses: float64 radii ``s`` and realism radii
    ``t``, float32 copies and weights ``1 / t`` (``penalty`` inf where ``t`` is 0), and the
    float32 rounding ``slack`` of a distance minus a radius."""

    s: np.ndarray
    t: np.ndarray
    kept: np.ndarray  # t > 0: the balls of the realism maximum
    s32: torch.Tensor
    weight: torch.Tensor
    penalty: torch.Tensor
    slack: float


def _balls(s: np.ndarray, t: np.ndarray, pq, pc) -> _Balls:
    d_max = (np.sqrt(pq.max_sq) + np.sqrt(pc.max_sq)) * (1 + 1e-6)
    slack = 8.0 * _U32 * (d_max + float(s.max(initial=0.0)) + 1.0)  # float32 roundings of d, s, d - s
    kept = t > 0
    with np.errstate(over="ignore"):
        inverse = np.where(kept, 1.0 / np.where(kept, t, 1.0), 0.0).clip(max=_MAX_WEIGHT)
    return _Balls(s, t, kept, torch.from_numpy(s.astype(np.float32)), torch.from_numpy(inverse.astype(np.float32)),
                  torch.from_numpy(np.where(kept, 0.0, np.inf).astype(np.float32)), slack)


def _mark_candidates(balls: _Balls, pq, pc, rows: slice, dist: torch.Tensor, tmp: torch.Tensor, cand: torch.Tensor,
                     mask: torch.Tensor, col_upper: torch.Tensor) -> torch.Tensor:
    """Turn the block's float32 squared-distance keys ``dist`` into distances and set
    ``cand`` on every pair that the error bounds do not exclude from one of the reductions;
    ``tmp`` and ``mask`` are work buffers. Returns the updated running upper bound of each
    centre's nearest query."""
    nb = dist.shape[0]
    err = _error_bounds(pq, pc, rows) + 8.0 * _U32 * (pq.sq64[rows] + pc.max_sq)
    dist.add_(torch.from_numpy(pq.sq64[rows].astype(np.float32))[:, None]).clamp_(min=0).sqrt_()
    d_lo2 = np.maximum(dist.amin(dim=1).double().numpy() ** 2 * (1 - 1e-6) - err, 0.0)
    delta = np.minimum(np.sqrt(err), np.divide(err, np.sqrt(d_lo2), out=np.full(nb, np.inf),
                                               where=d_lo2 > 0)) + balls.slack
    delta32 = torch.from_numpy(delta.astype(np.float32) * np.float32(1 + 1e-6))[:, None]
    # nearest ball surface: within 2 delta of the row's float32 minimum
    torch.sub(dist, balls.s32, out=tmp)
    thr = tmp.amin(dim=1, keepdim=True) + 2.0 * delta32
    torch.le(tmp, thr, out=cand)
    # rarity: every ball the point may lie in
    torch.lt(tmp, delta32, out=mask)
    cand |= mask
    # each centre's nearest query: within the running upper bound of its column
    torch.sub(dist, delta32, out=tmp)
    col_upper = torch.minimum(col_upper, dist.amin(dim=0).double() + float(delta.max()))
    torch.le(tmp, col_upper.float()[None, :] * (1 + 1e-6) + 1e-30, out=mask)
    cand |= mask
    # realism: d / t_j bounded below by (d - delta) / t_j; the row's best upper bound
    tmp.mul_(balls.weight).add_(balls.penalty)
    _, best = tmp.min(dim=1)
    d_best = dist.gather(1, best[:, None]).double().squeeze(1).numpy()
    upper = (d_best + delta) * balls.weight.double().numpy()[best.numpy()] * (1 + 1e-5) + 1e-30
    upper[~balls.kept[best.numpy()]] = np.inf
    torch.le(tmp, torch.from_numpy(upper.astype(np.float32))[:, None], out=mask)
    if balls.kept.any():
        cand |= mask
    return col_upper


@dataclass
class _RowReductions:
    """The per-query reductions, filled block by block."""

    gap: np.ndarray
    gap_index: np.ndarray
    realism: np.ndarray
    rarity: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "_RowReductions":
        return cls(np.empty(n), np.empty(n, dtype=np.int64), np.zeros(n), np.full(n, np.inf))

    def update(self, balls: _Balls, rows: slice, nb: int, rr: np.ndarray, cc: np.ndarray, exact: np.ndarray,
               inside) -> None:
        """Decide the block's candidate pairs (block row ``rr``, ball ``cc``, float64 distance ``exact``)."""
        s, t = balls.s, balls.t
        rr_abs = rr + rows.start
        self.gap[rows], self.gap_index[rows] = _row_first(rr, exact - s[cc], cc, nb)
        hit = inside(exact, s[cc])
        np.minimum.at(self.rarity, rr_abs[hit], s[cc[hit]])
        use = balls.kept[cc]
        with np.errstate(divide="ignore"):
            np.maximum.at(self.realism, rr_abs[use], t[cc[use]] / exact[use])


def ball_reductions(query, centers, radii, *, realism_radii=None, strict: bool = True,
                    block_size: int | None = None, threads: int | None = None) -> BallReductions:
    """The reductions of the module doc for ``query`` (n, d) against balls centred on
    ``centers`` (m, d) with ``radii`` (m,); ``realism_radii`` (m,) default ``radii``
    (0 removes a ball from the realism maximum)."""
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
    balls = _balls(s, t, pq, pc)
    inside = np.less if strict else np.less_equal
    found = _RowReductions.empty(n)
    col_upper = torch.full((m,), float("inf"), dtype=torch.float64)
    col_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    block = min(_choose_block(block_size, m), n)
    with _torch_settings(_choose_threads(threads, float(n) * m * q.shape[1])):
        buf = None
        work = torch.empty(block, m, dtype=torch.float32)
        cand_buf = torch.empty(block, m, dtype=torch.bool)
        mask_buf = torch.empty(block, m, dtype=torch.bool)
        for rows in _blocks(n, block):
            dist = buf = _block_keys(pq, pc, rows, buf)
            nb = dist.shape[0]
            cand = cand_buf[:nb]
            col_upper = _mark_candidates(balls, pq, pc, rows, dist, work[:nb], cand, mask_buf[:nb], col_upper)
            rr, cc = (a.numpy() for a in torch.nonzero(cand, as_tuple=True))
            exact = _exact_pair_distances(q, c, rr + rows.start, cc)
            found.update(balls, rows, nb, rr, cc, exact, inside)
            col_parts.append((cc, exact, rr + rows.start))
    cols, exact, rows_abs = (np.concatenate(p) for p in zip(*col_parts))
    nearest, nearest_index = _row_first(cols, exact, rows_abs, m)
    found.rarity[np.isinf(found.rarity)] = np.nan
    return BallReductions(found.gap, found.gap_index, found.realism, found.rarity, nearest, nearest_index)
