"""Exact nearest-neighbour engine shared by DMPRA, LDMD and the metrics (docs/metrics.md, "Neighbour engine").

Every answer here equals a float64 brute force on the same inputs: the distance between
two points is ``sqrt(sum((a - b) ** 2))`` evaluated by numpy in float64 from the inputs
(:func:`exact_distances`), k-NN lists are ordered by that distance and then by index, and
a point is inside a ball of radius ``r`` when that distance is ``< r`` (``<= r`` with
``strict=False``).

How it is fast and still exact (docs/metrics.md, "Neighbour engine"):

1. The points are centred (shared centre) and cast to float32; squared distances come
   from blocked matrix products ``|a|^2 + |b|^2 - 2 a.b`` (``torch.addmm``): square tiles
   for the counts and for k-NN within one set (where d(a, b) = d(b, a) lets one tile serve
   two row blocks, so half the products are done), blocks of query rows against all data
   rows otherwise; memory is O(block x n), never n x n. Row blocks are tasks for worker
   threads with one torch thread each.
2. The float32 value of every squared distance is within a rigorous bound ``E_i`` of the
   exact one: ``E_i = (d + 16) u (|a_i|^2 + max_j |b_j|^2) + 32 u (max|a|^2 + max|b|^2)
   + 16 (d + 16) m`` with ``u = 2^-24``: the worst-case error of a length-d float32 dot
   product in any summation order, ``gamma_d sum|a_k b_k| <= d u |a||b|`` (Higham, Accuracy
   and Stability of Numerical Algorithms, eq. 3.5), doubled by the factor -2 and bounded by
   ``|a|^2 + |b|^2``, plus the roundings of the norms, of the sum, of the float32 cast of
   the inputs and of the thresholds (the ``+16`` and the second term). Underflow adds at
   most ``m = 2^-126`` (float32's and bfloat16's smallest normal) to each of those
   roundings, even where denormals are flushed to zero: the last term, doubled and with
   room to spare (a flushed input ``a_k`` errs by ``m |b_k| <= m (1 + |b_k|^2)``, whose
   relative part the second term absorbs). No term depends on the data's unit, so
   features of size 1e-6 are settled as those of size 1 are.
3. Every comparison the bound cannot decide (a k-NN candidate within ``2 E_i`` of the
   k-th float32 value; a pair within ``E_i`` of a radius) is recomputed in float64 from the
   original inputs and decided there.
4. bfloat16 products (:func:`products`; by default for wide, large sets on CPUs that
   multiply bfloat16 natively, about 4 times the float32 rate): the float32 copies are
   rounded to bfloat16 (``a' = a - e_a``), the products are summed in float32 and rounded to
   bfloat16. ``E_i`` then adds ``2 (|a_i||e_b| + |e_a||b| + |e_a||e_b|)`` (Cauchy-Schwarz,
   maxima over the columns) and the product's rounding ``2 u16 |c|``, ``u16 = 2^-8``. A
   comparison with a threshold ``T`` can only go wrong for pairs near ``T``, where
   ``2 c = |a|^2 + |b|^2 - t`` is within the row's spread ``M_i = max_j ||a_i|^2 +
   |b_j|^2 - T|`` (plus the bound), so the rounding term is ``u16 (M_i + ...)`` rather than
   ``u16 |a||b|``; a pair further from ``T`` gains ``u16`` of error per unit of distance
   and one unit of room, so it cannot cross. The wider bound puts more pairs in doubt;
   those are re-measured with float32 dot products first (bound as in step 2) and only
   the pairs still in doubt in float64.

Backends: ``"torch"`` (default) and ``"faiss"`` (``faiss-cpu``, for :func:`knn` and
:func:`kth_distances`; its candidate lists go through the same float64 re-check, so the
answers are the same). Counting functions always use the torch block products.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from modecover._checks import as_features, check_k, check_same_dim, positive_int, real_values

__all__ = [
    "knn",
    "kth_distances",
    "radius_counts",
    "ball_counts",
    "pair_counts",
    "PairCounts",
    "exact_distances",
    "as_points",
    "available_cores",
    "products",
    "BACKENDS",
    "PRODUCTS",
]

BACKENDS = ("auto", "torch", "faiss")

_U32 = 2.0**-24  # float32 unit roundoff
_U16 = 2.0**-8  # bfloat16 unit roundoff
_MIN_NORMAL = 2.0**-126  # float32's and bfloat16's smallest normal: the most underflow adds to a rounding
_LOW_MIN_DIM = 512  # bfloat16 products from this width on (where the products dominate) ...
_LOW_MIN_WORK = 4e10  # ... and this many multiply-adds (n_a n_b d): below, float32 is as fast
_BLOCK_BYTES = 192 * 2**20  # working memory per block (float32 products + masks)
_EXTRA_CANDIDATES = 8  # top-k keeps k + this many float32 candidates per row
_EXTRA_CANDIDATES_BF16 = 32  # ... with bfloat16 products (a wider error bound: more candidates)
_NARROW_ABOVE = 1.25  # candidates per row, in units of k, above which float32 pruning pays
_BF16_MAX_K = 32  # "auto": k-NN with a larger k keeps float32 products (k = 255 at 6,000 x 2048: slower)
_BIG_WORK = 2e8  # multiply-adds above which all cores are used
_EXACT_CHUNK_BYTES = 2**21  # float64 scratch for the exact re-check (stays in cache)
_LIST_CHUNK_BYTES = 2**22  # scratch for re-measuring whole candidate lists (in cache)
_MAX_NORM = 2.0**62  # largest centred norm: |a|^2 + |b|^2 + 2|a||b| <= 2^126 stays below float32's 2^128


# --------------------------------------------------------------------------- inputs


def as_points(x, name: str, *, min_rows: int = 1) -> np.ndarray:
    """Validated 2-D float numpy array from numpy or torch (float16/bfloat16 widened exactly to float32).

    Errors (``ValueError``) name ``name``: not 2-D, too few rows, NaN/inf values.
    """
    return _widened(as_features(x, name, min_rows=min_rows))


def _widened(arr: np.ndarray) -> np.ndarray:
    """A checked feature array (:func:`modecover._checks.as_features`) in a dtype the engine
    computes in: float16 widened exactly to float32, long double narrowed to float64."""
    if arr.dtype == np.float16 or arr.dtype == np.longdouble:
        arr = arr.astype(np.float64 if arr.dtype == np.longdouble else np.float32)
    return arr


def _as_radii(radii, n: int, name: str) -> np.ndarray:
    r = real_values(radii, name)
    if r.ndim == 0:
        r = np.full(n, float(r))
    if r.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {r.shape}")
    if not np.isfinite(r).all():
        bad = int(np.flatnonzero(~np.isfinite(r))[0])
        raise ValueError(f"{name}: non-finite radius {r[bad]} at index {bad}")
    if (r < 0).any():
        bad = int(np.flatnonzero(r < 0)[0])
        raise ValueError(f"{name}: negative radius {r[bad]} at index {bad}")
    return r


def exact_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise float64 Euclidean distances ``|a_i - b_i|`` — the reference every answer equals.

    ``sqrt(sum((a - b) ** 2))`` with numpy's summation along the last axis, in float64.
    """
    diff = a.astype(np.float64)  # a fresh copy, so the in-place steps below touch no input
    np.subtract(diff, b, out=diff)
    np.multiply(diff, diff, out=diff)
    return np.sqrt(diff.sum(axis=-1))


def _exact_pair_distances(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Float64 distances of the pairs ``(a[rows[t]], b[cols[t]])``, in cache-sized chunks:
    :func:`exact_distances`' arithmetic, gathered with ``np.take`` into reused buffers (fresh
    large arrays would cost a page fault per 4 KiB)."""
    out = np.empty(len(rows), dtype=np.float64)
    d = a.shape[1]
    chunk = max(1, min(len(rows), _EXACT_CHUNK_BYTES // (8 * d)))
    got_a, got_b = np.empty((chunk, d), a.dtype), np.empty((chunk, d), b.dtype)
    diff = np.empty((chunk, d), np.float64)
    for s in range(0, len(rows), chunk):
        r = min(chunk, len(rows) - s)
        np.take(a, rows[s : s + r], axis=0, out=got_a[:r])
        np.take(b, cols[s : s + r], axis=0, out=got_b[:r])
        np.subtract(got_a[:r], got_b[:r], out=diff[:r], dtype=np.float64)
        np.multiply(diff[:r], diff[:r], out=diff[:r])
        out[s : s + r] = np.sqrt(diff[:r].sum(axis=-1))
    return out


# --------------------------------------------------------------------------- machine settings


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


# --------------------------------------------------------------------------- product precision

PRODUCTS = ("auto", "float32", "bfloat16")
_products_setting = "auto"


@contextlib.contextmanager
def products(kind: str) -> Iterator[None]:
    """Precision of the engine's tile products inside the ``with`` block (answers are exact either way).

    ``"float32"``; ``"bfloat16"`` (inputs rounded to bfloat16, products accumulated in
    float32 and rounded to bfloat16: about 4 times the float32 rate on CPUs with AVX512-BF16
    or AMX, far slower without); ``"auto"`` (default): bfloat16 for points of width >= 512
    and at least 4e10 multiply-adds (10,000 x 10,000 points of width 512) on a CPU with
    native bfloat16 products, float32 otherwise, and float32 for k-NN with k > 32 (long
    lists are mostly re-measuring, which the wider bound adds to). The FAISS backend always
    multiplies in float32. The error bound grows with the rounding (module doc, step 4),
    so more pairs are re-measured (float32, then float64).
    """
    global _products_setting
    if kind not in PRODUCTS:
        raise ValueError(f"products must be one of {PRODUCTS}, got {kind!r}")
    old, _products_setting = _products_setting, kind
    try:
        yield
    finally:
        _products_setting = old


@functools.cache
def _native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (x86 flags ``avx512_bf16`` or ``amx_bf16``)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def _bfloat16_sums_in_float32() -> bool:
    """Whether this torch build sums bfloat16 products in float32 and rounds only the result
    (module doc, step 4 assumes it): 1,024 terms of 2^-6 between 512 of +1 and 512 of -1 sum
    to exactly 16 that way; partial sums rounded to bfloat16 (8 bits) would lose them."""
    terms = torch.full((2048,), 2.0**-6)
    terms[0::4], terms[2::4] = 1.0, -1.0
    row = terms.to(torch.bfloat16)[None, :].repeat(32, 1)
    return bool((torch.mm(row, torch.ones(2048, 32, dtype=torch.bfloat16)) == 16.0).all())


def _use_bfloat16(d: int, work: float) -> bool:
    """Whether products of width ``d``, ``work`` multiply-adds in all, run in bfloat16 (:func:`products`)."""
    if _products_setting == "float32":
        return False
    if _products_setting == "auto" and not (d >= _LOW_MIN_DIM and work >= _LOW_MIN_WORK and _native_bfloat16()):
        return False
    if not _bfloat16_sums_in_float32():
        if _products_setting == "bfloat16":
            raise RuntimeError("products('bfloat16'): this torch build does not sum bfloat16 products in "
                               "float32 (the error bound assumes it); use products('float32')")
        return False
    return True


# --------------------------------------------------------------------------- float32 copies


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


def _error_bounds(pa: _Float32Points, pb: _Float32Points, rows: slice, spread: np.ndarray | None = None,
                  largest: np.ndarray | None = None) -> np.ndarray:
    """Bound ``E_i`` on |float32 key - exact| of the squared distances of block rows (module doc, step 2).

    For bfloat16 points the bound adds the rounding of the inputs and of each product. The
    product ``c = a.b`` is rounded to within ``u16 |c|`` and ``2 c = |a|^2 + |b|^2 - t`` for
    the squared distance ``t``; a comparison of ``t`` with a threshold ``T`` can only go wrong
    for pairs near ``T``, so given ``spread`` (per row, ``M_i >= |a_i|^2 + |b_j|^2 - T|`` over
    the row's pairs) the bound holds for every pair within it of ``T``, and a pair further
    out cannot cross ``T`` (its error grows by ``u16`` per unit of distance from ``T``, the
    room by one; module doc, step 4). Given ``largest`` instead (per row, a bound on the
    bfloat16 products ``|c|`` of one tile), the bound holds for that tile's pairs. Without
    either, ``|c| <= |a||b|`` for every pair.
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
    """:func:`_error_bounds` of float32 products (module doc, step 2), for block rows ``rows``."""
    c = (pa.x.shape[1] + 16) * _U32
    return c * (pa.sq64[rows] + pb.max_sq) + 32.0 * _U32 * (pa.max_sq + pb.max_sq) + 16.0 * c * _MIN_NORMAL / _U32


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


def _float32_margins(pa: _Float32Points, pb: _Float32Points, rows) -> np.ndarray:
    """The error bound of :func:`_float32_squares` for the rows ``rows``."""
    return _float32_bounds(pa, pb, rows) + 4.0 * _U32 * (pa.sq64[rows] + pb.max_sq)


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


def _row_spread(pa: _Float32Points, pb: _Float32Points, rows: slice, thresholds: np.ndarray) -> np.ndarray:
    """``max_j | |a_i|^2 + |b_j|^2 - T_i |`` for row thresholds ``T_i`` (squared distances)."""
    a = pa.sq64[rows] - thresholds
    return np.maximum(np.abs(a + pb.max_sq), np.abs(a + float(pb.sq64.min())))


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


def _blocks(n: int, size: int) -> Iterator[slice]:
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


# --------------------------------------------------------------------------- k nearest neighbours


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


# Within one set, d(a, b) = d(b, a): each tile product x_I x_J^T (J >= I) serves the rows
# of I and, transposed, the rows of J, so only half of the n x n products are computed.
# Worth it when the products dominate (wide points, short candidate lists).
_SYMMETRIC_MIN_DIM = 64
_SYMMETRIC_MAX_CANDIDATES = 64
_TILE_BYTES = 4 * 2**20  # one float32 tile of squared distances (stays in cache)


def _full_error_bounds(pa: _Float32Points, pb: _Float32Points, rows: slice, spread: np.ndarray | None = None) -> np.ndarray:
    """Bound on |float32 full squared distance - exact| for ``|a_i|^2 + (|b_j|^2 - 2 a_i.b_j)``:
    :func:`_error_bounds` plus the rounding of that addition and of the float32 ``|a_i|^2``
    (both below ``4 u (|a_i|^2 + max |b|^2)``, since the sum is at most ``2 (|a_i|^2 + |b_j|^2)``)."""
    return _error_bounds(pa, pb, rows, spread) + 4.0 * _U32 * (pa.sq64[rows] + pb.max_sq)


def _topk_margin(pa: _Float32Points, pb: _Float32Points, rows: slice, kth: np.ndarray, bounds) -> np.ndarray:
    """How far above its float32 k-th value a row's candidates reach: ``2 E_i`` with the
    bound taken at the k-th squared distance ``kth`` (``bounds``: :func:`_error_bounds` or
    :func:`_full_error_bounds`). For bfloat16 points a pair's error grows by ``u16`` per unit
    of distance from that threshold, which the factor covers (module doc, step 4)."""
    e = bounds(pa, pb, rows, _row_spread(pa, pb, rows, kth))
    return 2.0 * e * (1.0 + 4.0 * _U16) / (1.0 - _U16)


def _tile_distances(p: _Float32Points, rows: slice, cols: slice, out: torch.Tensor) -> torch.Tensor:
    """Float32 ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` for i in ``rows``, j in ``cols`` (diagonal tiles: self = inf)."""
    tile = _cross_tile(p, p, rows, cols, out)
    if rows == cols:
        tile.fill_diagonal_(float("inf"))
    return tile


_TILE_TOPK = 16  # values a tile's top-k takes per row, unless k is more (torch.topk is 2-3x slower above 16)


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
    """Exact k-NN within one set from half the tile products (see the note above).

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


def _knn_faiss(a, b, pa, pb, k, exclude_self, block, threads):
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("backend='faiss' needs the faiss-cpu package: pip install faiss-cpu") from err
    old_threads = faiss.omp_get_max_threads()
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    try:
        return _faiss_search(faiss, a, b, pa, pb, k, exclude_self, block)
    finally:
        faiss.omp_set_num_threads(old_threads)


def _faiss_search(faiss, a, b, pa, pb, k, exclude_self, block):
    index = faiss.IndexFlatL2(pb.x.shape[1])
    index.add(pb.x.numpy())
    n, m = len(a), len(b)
    kk = min(k + _EXTRA_CANDIDATES + int(exclude_self), m)
    out_d = np.empty((n, k), dtype=np.float64)
    out_i = np.empty((n, k), dtype=np.int64)
    for rows in _blocks(n, block):
        sq, idx = index.search(pa.x[rows].numpy(), kk)
        nb = sq.shape[0]
        sq = sq.astype(np.float64)
        if exclude_self:
            self_idx = np.arange(rows.start, rows.stop)[:, None]
            sq[idx == self_idx] = np.inf
            order = np.argsort(sq, axis=1, kind="stable")
            sq, idx = np.take_along_axis(sq, order, 1), np.take_along_axis(idx, order, 1)
        # faiss computes the norms in float32 too: twice the torch keys' error bound
        torch_bound = _error_bounds(pa, pb, rows)
        bound = 2.0 * torch_bound
        thr = sq[:, k - 1] + 2.0 * bound
        inside = sq <= thr[:, None]
        # every listed point (self aside) under the threshold: more may lie beyond the list
        listed_all = inside.sum(axis=1) == np.isfinite(sq).sum(axis=1)
        full = np.flatnonzero(listed_all) if kk < m else np.empty(0, dtype=np.int64)
        inside[full] = False
        cr, pos = np.nonzero(inside)
        cc = idx[cr, pos].astype(np.int64)
        if len(full):  # rescan those rows with torch keys (threshold shifted by |a_i|^2)
            sub_rows = np.arange(rows.start, rows.stop)[full]
            keys = torch.addmm(pb.sq, pa.x[torch.from_numpy(sub_rows)], pb.x.T, alpha=-2.0).double().numpy()
            if exclude_self:
                keys[np.arange(len(full)), sub_rows] = np.inf
            limit = sq[full, k - 1] + bound[full] + torch_bound[full] - pa.sq64[sub_rows]
            fr, fc = np.nonzero(keys <= limit[:, None])
            cr, cc = np.concatenate([cr, full[fr]]), np.concatenate([cc, fc.astype(np.int64)])
        d_blk, i_blk = _select_exact(a[rows], b, cr, cc, nb, k)
        out_d[rows], out_i[rows] = d_blk, i_blk
    return out_d, out_i


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


def _symmetric_pays(d: int, listed: int, n: int) -> bool:
    """Half the products (symmetric tiles) pay for their second top-k when the points are
    wide and the candidate lists (``listed`` per row) short."""
    return d >= _SYMMETRIC_MIN_DIM and listed <= _SYMMETRIC_MAX_CANDIDATES and n > 1


def _narrowing(pa: _Float32Points, pb: _Float32Points, start: int, k: int):
    """The float32 pruning of :func:`_exact_from_topk` for bfloat16 points, None for float32 ones."""
    return None if pa.low is None else (lambda rows, cols: _narrowed(pa, pb, start, rows, cols, k))


def _extra_candidates(p: _Float32Points) -> int:
    return _EXTRA_CANDIDATES if p.low is None else _EXTRA_CANDIDATES_BF16


def kth_distances(x, k: int, **kw) -> np.ndarray:
    """Float64 ``(n,)`` distance of each row of ``x`` to its k-th nearest *other* row (exact).

    Keyword arguments go to :func:`knn` (``backend``, ``block_size``, ``threads``).
    """
    dist, _ = knn(x, None, k, **kw)
    return dist[:, -1].copy()


# --------------------------------------------------------------------------- radius counting


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


def _capped_squares(r: np.ndarray, cap: float) -> np.ndarray:
    """Squared radii, capped above every possible squared distance (so float32 never overflows)."""
    clipped = np.minimum(r, np.sqrt(cap))
    return np.minimum(clipped * clipped, cap)


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


def _cross_tile(pa: _Float32Points, pb: _Float32Points, rows: slice, cols: slice, out: torch.Tensor) -> torch.Tensor:
    """Float32 ``|a_i|^2 + |b_j|^2 - 2 a_i.b_j`` for i in ``rows``, j in ``cols``."""
    tile = _squared_terms(pa, pb, rows, cols, out[: rows.stop - rows.start, : cols.stop - cols.start])
    tile += pa.sq[rows, None]
    return tile


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


def _column_spread(pa: _Float32Points, pb: _Float32Points, thresholds: np.ndarray):
    """For column thresholds ``T_j``: rows -> ``max_j | |a_i|^2 + |b_j|^2 - T_j |`` (see :func:`_error_bounds`)."""
    h = pb.sq64 - thresholds
    hi, lo = float(h.max()), float(h.min())
    return lambda rows: np.maximum(np.abs(pa.sq64[rows] + hi), np.abs(pa.sq64[rows] + lo))


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


def _tile_size(block_size: int | None) -> int:
    """Rows (and columns) of a square float32 tile of ``_TILE_BYTES``, or ``block_size`` if given."""
    if block_size is not None:
        return positive_int(block_size, "block_size")
    return int(np.sqrt(_TILE_BYTES / 4))


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
