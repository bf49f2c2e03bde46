"""Rigorous bounds on the error of the float32 squared distances (derived in docs/metrics.md,
"Neighbour engine"), and the spreads the bfloat16 bound is taken at."""

from __future__ import annotations

import numpy as np

from modecover.neighbors._precision import _MIN_NORMAL, _U16, _U32
from modecover.neighbors._tiles import _Float32Points


def _error_bounds(pa: _Float32Points, pb: _Float32Points, rows: slice, spread: np.ndarray | None = None,
                  largest: np.ndarray | None = None) -> np.ndarray:
    """Bound ``E_i`` on |float32 key - exact| of the squared distances of block rows
    (docs/metrics.md, "The error bound").

    For bfloat16 points the bound adds the rounding of the inputs and of each product. The
    product ``c = a.b`` is rounded to within ``u16 |c|`` and ``2 c = |a|^2 + |b|^2 - t`` for
    the squared distance ``t``; a comparison of ``t`` with a threshold ``T`` can only go wrong
    for pairs near ``T``, so given ``spread`` (per row, ``M_i >= |a_i|^2 + |b_j|^2 - T|`` over
    the row's pairs) the bound holds for every pair within it of ``T``, and a pair further
    out cannot cross ``T`` (its error grows by ``u16`` per unit of distance from ``T``, the
    room by one; docs/metrics.md, "bfloat16 products"). Given ``largest`` instead (per row,
    a bound on the bfloat16 products ``|c|`` of one tile), the bound holds for that tile's
    pairs. Without either, ``|c| <= |a||b|`` for every pair.
    """
    bound = _float32_bounds(pa, pb, rows)
    if pa.low is None:
        return bound
    c = (pa.x.shape[1] + 16) * _U32
    # rounded points a' = a - e_a, b' = b - e_b: |a.b - a'.b'| <= |a||e_b| + |e_a||b| + |e_a||e_b|
    # (Cauchy-Schwarz); the float32 sum of the exact bfloat16 products as for float32 points
    # (|a'| <= (1 + 2^-8) |a|: 1 % more of the bound above covers it); all doubled by -2
    na, nb = np.sqrt(pa.sq64[rows]), np.sqrt(pb.max_sq)
    ea, eb = pa.low_err[rows], float(pb.low_err.max(initial=0.0))
    inputs = 1.01 * bound + 2.0 * (na * eb + ea * nb + ea * eb)
    if largest is not None:  # the product's rounding, 2 u16 |c'| with |c'| <= |fl(c')| / (1 - u16)
        return (inputs + 2.0 * _U16 * largest / (1.0 - _U16)) * (1.0 + 1e-6)
    if spread is None:  # ... with |c'| <= |a'||b'| (1 + gamma_d)
        return (inputs + 2.0 * _U16 * (na + ea) * (nb + eb) * (1.0 + c)) * (1.0 + 1e-6)
    # 2 u16 |c'| <= u16 (|a|^2 + |b|^2 - t + inputs) <= u16 (spread + |t - T| + inputs)
    return (inputs + _U16 * (spread + inputs)) * (1.0 + 4.0 * _U16)


def _float32_bounds(pa: _Float32Points, pb: _Float32Points, rows) -> np.ndarray:
    """:func:`_error_bounds` of float32 products (docs/metrics.md, "The error bound"), for block rows ``rows``."""
    c = (pa.x.shape[1] + 16) * _U32
    return c * (pa.sq64[rows] + pb.max_sq) + 32.0 * _U32 * (pa.max_sq + pb.max_sq) + 16.0 * c * _MIN_NORMAL / _U32


def _float32_margins(pa: _Float32Points, pb: _Float32Points, rows) -> np.ndarray:
    """The error bound of :func:`_float32_squares` for the rows ``rows``."""
    return _float32_bounds(pa, pb, rows) + 4.0 * _U32 * (pa.sq64[rows] + pb.max_sq)


def _full_error_bounds(pa: _Float32Points, pb: _Float32Points, rows: slice,
                       spread: np.ndarray | None = None) -> np.ndarray:
    """Bound on |float32 full squared distance - exact| for ``|a_i|^2 + (|b_j|^2 - 2 a_i.b_j)``:
    :func:`_error_bounds` plus the rounding of that addition and of the float32 ``|a_i|^2``
    (both below ``4 u (|a_i|^2 + max |b|^2)``, since the sum is at most ``2 (|a_i|^2 + |b_j|^2)``)."""
    return _error_bounds(pa, pb, rows, spread) + 4.0 * _U32 * (pa.sq64[rows] + pb.max_sq)


def _row_spread(pa: _Float32Points, pb: _Float32Points, rows: slice, thresholds: np.ndarray) -> np.ndarray:
    """``max_j | |a_i|^2 + |b_j|^2 - T_i |`` for row thresholds ``T_i`` (squared distances)."""
    a = pa.sq64[rows] - thresholds
    return np.maximum(np.abs(a + pb.max_sq), np.abs(a + float(pb.sq64.min())))


def _column_spread(pa: _Float32Points, pb: _Float32Points, thresholds: np.ndarray):
    """For column thresholds ``T_j``: rows -> ``max_j | |a_i|^2 + |b_j|^2 - T_j |`` (see :func:`_error_bounds`)."""
    h = pb.sq64 - thresholds
    hi, lo = float(h.max()), float(h.min())
    return lambda rows: np.maximum(np.abs(pa.sq64[rows] + hi), np.abs(pa.sq64[rows] + lo))
