"""Kernel Inception Distance (Binkowski et al. 2018) with torch-fidelity's conventions
(docs/metrics.md).

KID is the unbiased estimate of the squared MMD between the two feature distributions
under the polynomial kernel k(x, y) = (gamma x.y + coef0)^degree, gamma = 1/d by default:

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m(m-1)) + sum_{i != j} k(y_i, y_j) / (m(m-1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

averaged over ``subsets`` random subsets of ``subset_size`` rows drawn from each set
without replacement. The draws follow torch-fidelity exactly: one
``np.random.RandomState(seed)``; for each subset, first ``choice(n_real, m,
replace=False)`` then ``choice(n_fake, m, replace=False)``. The result is the mean and the
population standard deviation (``np.std``) of the per-subset estimates, so
``kid(real, fake, seed=s)`` gives torch-fidelity's ``kid_features_to_metric`` with
``rng_seed=s`` (its default seed is 2020, ours 0).

Differences: kernels are evaluated in float64 (torch-fidelity uses the features' own
dtype, float32 for Inception features), and the kernel matrices are reduced to the three
sums above without being kept. Only m x m matrices are built (never d x d): the dot
products x.y are accumulated in float64 over blocks of feature columns, so a subset of
very wide features is never copied to float64 whole (memory O(m^2 + m * block)), and the
m x m buffers are estimated before they are allocated. A subset size larger than either set is an error, as in
torch-fidelity; pass a smaller ``subset_size``.
"""

from __future__ import annotations

import numpy as np
import torch

from modecover._checks import as_features, check_allocation, check_same_dim, int_in_range, real_in_range

_BLOCK_BYTES = 32 * 2**20  # float64 column block of both subsets


def _check_seed(seed) -> int:
    """A seed ``np.random.RandomState`` takes: an integer in [0, 2**32 - 1], not a bool."""
    return int_in_range(seed, "seed", 0, 2**32 - 1)


def dot_products(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float64 x x^T, y y^T, x y^T (each m x m), accumulated over blocks of columns so
    that only one float64 column block of each input exists at a time."""
    m, d = x.shape
    width = max(1, _BLOCK_BYTES // (8 * 2 * m))
    xx = torch.zeros(m, m, dtype=torch.float64)
    yy, xy = torch.zeros_like(xx), torch.zeros_like(xx)
    for start in range(0, d, width):
        xb, yb = x[:, start : start + width].double(), y[:, start : start + width].double()
        xx.addmm_(xb, xb.mT)
        yy.addmm_(yb, yb.mT)
        xy.addmm_(xb, yb.mT)
    return xx, yy, xy


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, *, degree: int, gamma: float, coef0: float) -> float:
    """Unbiased MMD^2 estimate between equal-size samples x and y (m rows each) under the
    polynomial kernel; the formula in the module docstring (torch-fidelity's ``mmd2``
    with ``mmd_est="unbiased"``). Kernels in float64 from :func:`dot_products`."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = ((dots * gamma + coef0) ** degree for dots in dot_products(x, y))
    within = (k_xx.sum() - k_xx.diagonal().sum()) + (k_yy.sum() - k_yy.diagonal().sum())
    value = float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))
    if not np.isfinite(value):  # finite inputs: only an overflow makes inf or nan here
        largest = float(max(x.abs().max(), y.abs().max()))
        raise ValueError(
            f"KID: the polynomial kernel (gamma x.y + coef0)^{degree} overflowed float64 for features "
            f"as large as {largest:.3g} (gamma={gamma:.3g}); KID depends on the feature scale, so pass "
            "features of the size the feature extractor gives, or scale both sets down by the same factor"
        )
    return value


def kid(
    real,
    fake,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (mean, std) over ``subsets`` random subsets of ``subset_size`` rows of ``real``
    (n1, d) and ``fake`` (n2, d); see the module docstring for the conventions.

    Raises ``ValueError`` for bad features, mismatched dimensions, a subset size below 2
    or above either set's size, non-positive ``subsets``/``degree``, a ``gamma``/``coef0``
    that is not a finite number, a ``seed`` outside [0, 2**32 - 1], or features so large
    that the kernel overflows float64.
    """
    subsets = int_in_range(subsets, "subsets", 1)
    subset_size = int_in_range(subset_size, "subset_size", 2)
    degree = int_in_range(degree, "degree", 1)
    seed = _check_seed(seed)
    coef0 = real_in_range(coef0, "coef0")
    real = as_features(real, "real", min_rows=2)
    fake = as_features(fake, "fake", min_rows=2)
    check_same_dim(real, fake, "real", "fake")
    n_real, n_fake = len(real), len(fake)
    if subset_size > min(n_real, n_fake):
        raise ValueError(
            f"KID subset_size={subset_size} is larger than the feature sets (real: {n_real} rows, "
            f"fake: {n_fake} rows); pass subset_size <= {min(n_real, n_fake)}"
        )
    gamma = 1.0 / real.shape[1] if gamma is None else real_in_range(gamma, "gamma")

    check_allocation(8.0 * 4 * subset_size**2 + 2 * _BLOCK_BYTES + 2.0 * subset_size * real.shape[1] * real.itemsize,
                     f"KID's {subset_size} x {subset_size} kernel matrices", "pass a smaller subset_size")
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)  # column blocks go to float64 one at a time
    rng = np.random.RandomState(seed)
    estimates = np.empty(subsets)
    for i in range(subsets):
        pick_real = torch.from_numpy(rng.choice(n_real, subset_size, replace=False))
        pick_fake = torch.from_numpy(rng.choice(n_fake, subset_size, replace=False))
        estimates[i] = mmd2_unbiased(real_t[pick_real], fake_t[pick_fake], degree=degree, gamma=gamma, coef0=coef0)
    return float(estimates.mean()), float(estimates.std())
