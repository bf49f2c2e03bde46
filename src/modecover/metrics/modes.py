"""Mode metrics for samples of a known Gaussian mixture (docs/metrics.md, "Mode metrics").

The recipe of PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017) on the 2D ring
and grid, extended with the quantities an imbalanced mixture needs:

* each sample is assigned to its **nearest mode** (Euclidean distance to the mode means;
  a tie goes to the lower mode index);
* the sample is **high quality** (HQ) if that distance is ``<= n_sigma * sigma_j`` of its
  nearest mode j (default 3 standard deviations; the boundary counts as inside);
* **modes captured** = modes with at least one HQ sample; ``hq_percent`` = 100 * HQ / n;
* with ``p_j`` = share of the HQ samples assigned to mode j (the HQ mode histogram),
  **reverse KL** = sum_j p_j ln(p_j K) (KL from that histogram to the uniform one over K
  modes, 0 ln 0 = 0), exactly PacGAN's number;
* for imbalanced mixtures: ``generated_shares`` = p, ``data_shares`` = the mixture weights
  normalised to sum 1, ``share_error`` = mean_j |p_j - w_j|, ``reverse_kl_to_weights`` =
  sum_j p_j ln(p_j / w_j) (KL from the HQ histogram to the data's own mode weights), and
  ``minority_captured`` = how many of the given minority modes have an HQ sample.

With no high-quality sample at all the histogram p is undefined: ``generated_shares`` is
then all zeros, ``share_error`` compares those zeros with the weights, and both KL values
are ``nan`` (said here on purpose; nothing else returns NaN). An HQ sample at a mode of
weight 0 makes ``reverse_kl_to_weights`` infinite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from modecover._checks import as_features, check_same_dim, real_in_range, real_values

_BLOCK_ELEMENTS = 1 << 22  # float64 values per block of sample-mode differences (32 MiB)


def nearest_modes(samples, means) -> tuple[np.ndarray, np.ndarray]:
    """Index (int64, ties to the lower index) and Euclidean distance (float64) of each
    sample's nearest mode mean, computed in float64 by differences (no matrix-product
    cancellation), in blocks of rows so memory stays O(block * K)."""
    x = as_features(samples, "samples")
    m = as_features(means, "means")
    check_same_dim(x, m, "samples", "means")
    return nearest_modes_unchecked(x, m)


def nearest_modes_unchecked(samples: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest_modes` of arrays already checked: both from
    :func:`modecover._checks.as_features` (any float dtype), of equal widths.

    No input checks, and not in ``__all__``: for modecover's own callers that have checked
    their inputs already."""
    x = samples.astype(np.float64, copy=False)
    m = means.astype(np.float64, copy=False)
    index = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float64)
    rows = max(1, _BLOCK_ELEMENTS // (m.shape[0] * m.shape[1]))
    for start in range(0, len(x), rows):
        block = x[start : start + rows]
        sq = ((block[:, None, :] - m[None, :, :]) ** 2).sum(axis=2)
        best = sq.argmin(axis=1)
        index[start : start + len(block)] = best
        dist[start : start + len(block)] = np.sqrt(sq[np.arange(len(block)), best])
    return index, dist


def _check_sigmas(sigmas, n_modes: int) -> np.ndarray:
    s = real_values(sigmas, "sigmas")
    if s.ndim == 0:
        s = np.full(n_modes, float(s))
    if s.shape != (n_modes,):
        raise ValueError(f"sigmas: expected shape ({n_modes},) (one per mode) or a scalar, got {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        bad = int(np.flatnonzero(~np.isfinite(s) | (s <= 0))[0])
        raise ValueError(f"sigmas: every mode's sigma must be positive and finite; sigmas[{bad}] = {s[bad]}")
    return s


def _check_weights(weights, n_modes: int) -> np.ndarray:
    if weights is None:
        return np.full(n_modes, 1.0 / n_modes)
    w = real_values(weights, "weights")
    if w.shape != (n_modes,):
        raise ValueError(f"weights: expected shape ({n_modes},) (one per mode), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
        raise ValueError(f"weights: must be non-negative and finite; weights[{bad}] = {w[bad]}")
    total = w.sum()
    if total <= 0:
        raise ValueError("weights: sum to 0; at least one mode needs a positive weight")
    return w / total


def _check_minority(minority: Sequence[int], n_modes: int) -> np.ndarray:
    if isinstance(minority, (str, bytes)) or not isinstance(minority, Iterable):
        raise ValueError(f"minority: expected a sequence of mode indices (integers), got {minority!r}")
    idx = np.asarray(list(minority))
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"minority: expected a sequence of mode indices (integers), got {list(minority)!r}")
    if idx.min() < 0 or idx.max() >= n_modes:
        raise ValueError(f"minority: mode indices must lie in [0, {n_modes - 1}], got {idx.tolist()}")
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"minority: repeated mode index in {idx.tolist()}")
    return idx.astype(np.int64)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """sum_j p_j ln(p_j / q_j) with 0 ln 0 = 0 (p_j > 0 implies q_j > 0 is the caller's job)."""
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def mode_metrics(
    samples,
    means,
    sigmas,
    weights=None,
    minority: Sequence[int] = (),
    n_sigma: float = 3.0,
) -> dict:
    """Mode coverage and quality of ``samples`` (n, d) against a mixture with mode
    ``means`` (K, d), per-mode ``sigmas`` (K,) or one scalar, mixture ``weights`` (K,)
    (default uniform; normalised here) and ``minority`` mode indices.

    Returns a JSON-able dict: ``n_modes``, ``modes_captured``, ``hq_percent`` (0-100),
    ``reverse_kl``, ``reverse_kl_to_weights``, ``generated_shares`` (list of K, among HQ
    samples), ``data_shares`` (list of K), ``share_error``, ``minority_captured``,
    ``n_minority``. See the module docstring for the definitions.
    """
    real_in_range(n_sigma, "n_sigma", 0, low_open=True)
    means = as_features(means, "means")
    n_modes = means.shape[0]
    s = _check_sigmas(sigmas, n_modes)
    w = _check_weights(weights, n_modes)
    minority_idx = _check_minority(minority, n_modes)
    index, dist = nearest_modes(samples, means)

    high_quality = dist <= n_sigma * s[index]
    counts = np.bincount(index[high_quality], minlength=n_modes)
    n_hq = int(counts.sum())
    captured = counts > 0
    if n_hq > 0:
        shares = counts / n_hq
        reverse_kl = _kl(shares, np.full(n_modes, 1.0 / n_modes))
        reverse_kl_to_weights = _kl(shares, w)
    else:
        shares = np.zeros(n_modes)
        reverse_kl = reverse_kl_to_weights = float("nan")
    return {
        "n_modes": n_modes,
        "modes_captured": int(captured.sum()),
        "hq_percent": 100.0 * n_hq / len(index),
        "reverse_kl": reverse_kl,
        "reverse_kl_to_weights": reverse_kl_to_weights,
        "generated_shares": shares.tolist(),
        "data_shares": w.tolist(),
        "share_error": float(np.mean(np.abs(shares - w))),
        "minority_captured": int(captured[minority_idx].sum()),
        "n_minority": int(len(minority_idx)),
    }
