"""Kernel Inception Distance (Binkowski et al. 2018) with torch-fidelity's conventions
(DESIGN.md section 8).

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
sums above without being kept. A subset size larger than either set is an error, as in
torch-fidelity; pass a smaller ``subset_size``.
"""

from __future__ import annotations

import numpy as np
import torch

from modecover._checks import as_features, check_same_dim


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, *, degree: int, gamma: float, coef0: float) -> torch.Tensor:
    """(gamma x y^T + coef0)^degree."""
    return (x @ y.mT * gamma + coef0) ** degree


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, *, degree: int, gamma: float, coef0: float) -> float:
    """Unbiased MMD^2 estimate between equal-size samples x and y (m rows each) under the
    polynomial kernel; the formula in the module docstring (torch-fidelity's ``mmd2``
    with ``mmd_est="unbiased"``)."""
    m = x.shape[0]
    k_xx = polynomial_kernel(x, x, degree=degree, gamma=gamma, coef0=coef0)
    k_yy = polynomial_kernel(y, y, degree=degree, gamma=gamma, coef0=coef0)
    k_xy = polynomial_kernel(x, y, degree=degree, gamma=gamma, coef0=coef0)
    within = (k_xx.sum() - k_xx.diagonal().sum()) + (k_yy.sum() - k_yy.diagonal().sum())
    return float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


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
    or above either set's size, or non-positive ``subsets``/``degree``.
    """
    subsets = _check_positive_int(subsets, "subsets")
    subset_size = _check_positive_int(subset_size, "subset_size", minimum=2)
    degree = _check_positive_int(degree, "degree")
    real = as_features(real, "real", min_rows=2)
    fake = as_features(fake, "fake", min_rows=2)
    check_same_dim(real, fake, "real", "fake")
    n_real, n_fake = len(real), len(fake)
    if subset_size > min(n_real, n_fake):
        raise ValueError(
            f"KID subset_size={subset_size} is larger than the feature sets (real: {n_real} rows, "
            f"fake: {n_fake} rows); pass subset_size <= {min(n_real, n_fake)}"
        )
    if gamma is None:
        gamma = 1.0 / real.shape[1]
    if not np.isfinite(gamma) or not np.isfinite(coef0):
        raise ValueError(f"gamma and coef0 must be finite, got gamma={gamma}, coef0={coef0}")

    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)  # subsets go to float64 one at a time
    rng = np.random.RandomState(seed)
    estimates = np.empty(subsets)
    for i in range(subsets):
        pick_real = torch.from_numpy(rng.choice(n_real, subset_size, replace=False))
        pick_fake = torch.from_numpy(rng.choice(n_fake, subset_size, replace=False))
        estimates[i] = mmd2_unbiased(
            real_t[pick_real].double(), fake_t[pick_fake].double(), degree=degree, gamma=gamma, coef0=coef0
        )
    return float(estimates.mean()), float(estimates.std())
