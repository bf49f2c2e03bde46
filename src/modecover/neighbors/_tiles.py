"""Centred float32 (and bfloat16) copies of the point sets, and the float32 squared distances
computed from them: block and tile products, and dot products of single pairs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from modecover.neighbors._inputs import _EXACT_CHUNK_BYTES
from modecover.neighbors._precision import _U32, _use_bfloat16

_MAX_NORM = 2.0**62  # largest centred norm: |a|^2 + |b|^2 + 2|a||b| <= 2^126 stays below float32's 2^128


@dataclass
class _Float32Points:
    """Centred float32 copy of a point set with its squared norms (float32 and float64), and
    for bfloat16 products (:func:`products`) a bfloat16 copy with the norms of its rounding."""

    x: torch.Tensor  # (n, d) float32, centred
    sq: torch.Tensor  # (n,) float32 squared norms of x
    sq64: np.ndarray  # (n,) float64 squared norms of x
    low: torch.Tensor | None = None  # (n, d) bfloat16 copy of x, or None: float32 products
    low_err: np.ndarray | None = None  # (n,) float64 norms |x - low|

    @property
    def max_sq(self) -> float:
        return float(self.sq64.max()) if len(self.sq64) else 0.0


def _centre(*sets: np.ndarray) -> np.ndarray | None:
    """Shared centre, or None when centring would not shrink the error bound enough to pay a copy.

    Float32 inputs are used in place (no copy) unless their mean is large next to their
    spread; other dtypes are cast anyway, so they are always centred on the way.
    """
    total = sum(len(s) for s in sets)
    mean = sum(s.sum(axis=0, dtype=np.float64) for s in sets) / total
    if all(s.dtype == np.float32 for s in sets):
        spread = sum(float(np.square(s[: min(len(s), 2048)], dtype=np.float64).sum(axis=1).mean()) for s in sets)
        if float(mean @ mean) * len(sets) < 0.25 * spread:
            return None
    return mean


def _to_float32(x: np.ndarray, centre: np.ndarray | None, low: bool, which: str) -> _Float32Points:
    with np.errstate(over="ignore"):  # a value beyond float32's range becomes inf, refused below
        if centre is None:
            x32 = x if x.dtype == np.float32 else x.astype(np.float32)
        else:
            x32 = np.empty(x.shape, dtype=np.float32)
            chunk = max(1, (16 * 2**20) // (8 * x.shape[1]))
            for s in range(0, len(x), chunk):
                x32[s : s + chunk] = x[s : s + chunk] - centre
    t = torch.from_numpy(np.ascontiguousarray(x32))
    sq64 = np.empty(len(x32), dtype=np.float64)
    chunk = max(1, (16 * 2**20) // (8 * x.shape[1]))
    for s in range(0, len(x32), chunk):
        part = x32[s : s + chunk].astype(np.float64)
        sq64[s : s + chunk] = np.einsum("ij,ij->i", part, part)
    _check_range(sq64, which)
    points = _Float32Points(t, torch.from_numpy(sq64.astype(np.float32)), sq64)
    return _with_bfloat16(points, chunk) if low else points


def _check_range(sq64: np.ndarray, which: str) -> None:
    """Refuse points so far from the centre that float32 squared distances would overflow
    (they would compare wrongly, not fail); scaling every feature by one constant changes no
    neighbour, count or PRDC value, so the error says to scale."""
    if len(sq64) and not sq64.max() <= _MAX_NORM**2:  # "not <=": inf from the cast fails too
        row = int(np.argmax(sq64))
        raise ValueError(
            f"features too large: row {row}{which} lies {np.sqrt(sq64[row]):.3g} from the points' centre, "
            f"beyond {_MAX_NORM:.3g} (2^62), where float32 squared distances overflow; divide all features "
            "by one constant (neighbours, counts and precision/recall/density/coverage do not change)"
        )


def _with_bfloat16(p: _Float32Points, chunk: int) -> _Float32Points:
    """``p`` with its bfloat16 copy and bounds on the norms of that copy's rounding error
    (``x - low`` is exact in float32; its float32 norm is within ``(d + 4) u`` of the true one)."""
    p.low = p.x.to(torch.bfloat16)
    p.low_err = np.empty(len(p.x), dtype=np.float64)
    slack = 1.0 + (p.x.shape[1] + 4) * _U32
    for s in range(0, len(p.x), chunk):
        part = p.x[s : s + chunk] - p.low[s : s + chunk].float()
        p.low_err[s : s + chunk] = torch.linalg.vector_norm(part, dim=1).double().numpy() * slack
    return p


def _prepare(a: np.ndarray, b: np.ndarray | None, allow_bfloat16: bool = True,
             auto_bfloat16: bool = True) -> tuple[_Float32Points, _Float32Points]:
    """Float32 copies of ``a`` and ``b`` (None: within ``a``), with bfloat16 copies for the
    products where :func:`products` chooses them (``"auto"`` only if ``auto_bfloat16``) and
    ``allow_bfloat16`` (False: the caller multiplies without the engine's tiles)."""
    centre = _centre(a) if b is None else _centre(a, b)
    work = float(len(a)) * (len(a) if b is None else len(b)) * a.shape[1]
    low = allow_bfloat16 and _use_bfloat16(a.shape[1], work if auto_bfloat16 else 0.0)
    pa = _to_float32(a, centre, low, "" if b is None else " of the first set")
    pb = pa if b is None else _to_float32(b, centre, low, " of the second set")
    return pa, pb


def _squared_terms(pa: _Float32Points, pb: _Float32Points, rows, cols: slice, out: torch.Tensor) -> torch.Tensor:
    """``|b_j|^2 - 2 a_i.b_j`` into ``out`` (float32), for the rows ``rows`` and columns ``cols``."""
    if pa.low is None:
        return torch.addmm(pb.sq[cols], pa.x[rows], pb.x[cols].T, alpha=-2.0, out=out)
    return torch.add(pb.sq[cols], torch.mm(pa.low[rows], pb.low[cols].T), alpha=-2.0, out=out)


def _block_keys(pa: _Float32Points, pb: _Float32Points, rows: slice, out: torch.Tensor | None) -> torch.Tensor:
    """``|b_j|^2 - 2 a_i.b_j`` for the block rows (the squared distance minus ``|a_i|^2``)."""
    nb = rows.stop - rows.start
    if out is None or out.shape[0] != nb:
        out = torch.empty(nb, pb.x.shape[0], dtype=torch.float32)
    return _squared_terms(pa, pb, rows, slice(0, len(pb.x)), out)


def _cross_tile(pa: _Float32Points, pb: _Float32Points, rows: slice, cols: slice, out: torch.Tensor) -> torch.Tensor:
    """Float32 ``|a_i|^2 + |b_j|^2 - 2 a_i.b_j`` for i in ``rows``, j in ``cols``."""
    tile = _squared_terms(pa, pb, rows, cols, out[: rows.stop - rows.start, : cols.stop - cols.start])
    tile += pa.sq[rows, None]
    return tile


def _float32_squares(pa: _Float32Points, pb: _Float32Points, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Squared distances of the pairs ``(rows[t], cols[t])`` from float32 dot products of the
    float32 copies, within ``_float32_bounds(...) + 4 u (|a_i|^2 + max |b|^2)`` of the exact
    ones (fewer roundings than a float32 tile); float64, in cache-sized chunks."""
    out = np.empty(len(rows), dtype=np.float64)
    d = pa.x.shape[1]
    chunk = max(1, min(len(rows), _EXACT_CHUNK_BYTES // (4 * d)))
    got_a, got_b = torch.empty(chunk, d), torch.empty(chunk, d)
    dots = torch.empty(chunk)
    for s in range(0, len(rows), chunk):
        r = min(chunk, len(rows) - s)
        torch.index_select(pa.x, 0, torch.from_numpy(rows[s : s + r]), out=got_a[:r])
        torch.index_select(pb.x, 0, torch.from_numpy(cols[s : s + r]), out=got_b[:r])
        torch.sum(got_a[:r].mul_(got_b[:r]), dim=1, out=dots[:r])
        out[s : s + r] = dots[:r].double().numpy()
    return pa.sq64[rows] + pb.sq64[cols] - 2.0 * out


def _blocks(n: int, size: int) -> Iterator[slice]:
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))
