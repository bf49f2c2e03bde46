"""Benchmark inputs shared by several scripts (NumPy only, so any tree's script can use them)."""

from __future__ import annotations

import numpy as np


def gaussian_features(n: int, d: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """float32 N(shift, scale^2) features of shape (n, d), drawn in chunks of 4,096 rows (no
    float64 copy of the whole set); the same seed gives the same array in every script."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 4096):
        part = out[s : s + 4096]
        rng.standard_normal(part.shape, dtype=np.float32, out=part)
        part *= scale
        part += shift
    return out
