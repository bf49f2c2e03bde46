"""The engine's inputs: checked point sets and radii, and the float64 distances every answer equals."""

from __future__ import annotations

import numpy as np

from modecover._checks import as_features, real_values

_EXACT_CHUNK_BYTES = 2**21  # float64 scratch for the exact re-check (stays in cache)


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
