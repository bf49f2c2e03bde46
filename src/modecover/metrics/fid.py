"""Frechet distance between Gaussians fitted to two feature sets (DESIGN.md section 8).

FID = ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 sum_i sqrt(lambda_i(S1 S2))    (Heusel et al. 2017)

The term tr sqrt(S1 S2) is the sum of the square roots of the eigenvalues of S1 S2. That
product is not symmetric, so pytorch-fid takes a general matrix square root (``sqrtm``, a
complex Schur decomposition) and discards an imaginary part. Here the same eigenvalues
come from a symmetric matrix instead: with a factor S1 = A A^T, the matrix A^T S2 A is
symmetric positive semi-definite and similar in spectrum to S1 S2 (the nonzero
eigenvalues of A A^T S2 and A^T S2 A coincide), so ``eigvalsh`` gives them in real float64
arithmetic.

* A is the Cholesky factor of S1 (LAPACK ``potrf``, the cheap path). When S1 is singular
  (fewer samples than dimensions, constant features) Cholesky fails and A = V diag(sqrt w)
  from ``eigh(S1)`` is used, with eigenvalues w clamped at 0.
* Eigenvalues (of S1 on the eigh path, and of A^T S2 A) below d * eps * the largest one
  are set to 0 before the square root, negative ones included. They are rounding noise
  around the exact zeros of a singular product (fewer samples than dimensions), and the
  square root would magnify that noise of order 1e-16 * ||S1|| ||S2|| into an error of
  order 1e-8 * sqrt(||S1|| ||S2||) per zero eigenvalue. A true eigenvalue that small would
  change the result by at most sqrt(d * eps * largest) each.
* The result is clamped at 0 (a squared distance; identical statistics can otherwise
  give a rounding-level negative number).

Covariances use the unbiased estimate (divide by n - 1) like pytorch-fid and
torch-fidelity, so :func:`fid` equals their value on the same features.
"""

from __future__ import annotations

import numpy as np
import torch

from modecover._checks import as_features, check_same_dim


def feature_stats(x, name: str = "features", *, block_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of the rows of ``x`` (n, d), in float64.

    Two passes over blocks of ``block_rows`` rows (mean, then the centred products), so
    memory is O(block_rows * d + d^2) whatever n and the input dtype. Needs at least 2
    rows (the covariance divides by n - 1).
    """
    arr = as_features(x, name, min_rows=2)
    n, d = arr.shape
    blocks = [slice(start, start + block_rows) for start in range(0, n, block_rows)]
    mu = np.zeros(d)
    for block in blocks:
        mu += arr[block].sum(axis=0, dtype=np.float64)
    mu /= n
    sigma = np.zeros((d, d))
    for block in blocks:
        centred = arr[block].astype(np.float64) - mu
        sigma += centred.T @ centred
    sigma /= n - 1
    return mu, (sigma + sigma.T) / 2


def _check_stats(mu, sigma, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"{name}: mean must be a non-empty 1-D array, got shape {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"{name}: covariance must have shape ({d}, {d}) to match its mean, got {sigma.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"{name}: mean holds non-finite values")
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f"{name}: covariance holds non-finite values")
    return mu, sigma


def _psd_factor(sigma: torch.Tensor) -> torch.Tensor:
    """A with A A^T = sigma: Cholesky when sigma is positive definite, else an eigh factor."""
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return factor
    w, v = torch.linalg.eigh(sigma)
    return v * _drop_rounding_noise(w).sqrt()


def _drop_rounding_noise(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Set to 0 the eigenvalues of a PSD matrix that lie within rounding error of 0
    (below d * eps * largest), negative ones included; see the module docstring."""
    largest = eigenvalues.max().clamp_min(0.0)
    tolerance = eigenvalues.shape[0] * torch.finfo(eigenvalues.dtype).eps * largest
    return torch.where(eigenvalues > tolerance, eigenvalues, torch.zeros_like(eigenvalues))


def trace_sqrt_product(sigma1, sigma2) -> float:
    """tr sqrt(S1 S2) = sum of square roots of the eigenvalues of S1 S2 (both PSD), from the
    symmetric matrix A^T S2 A with S1 = A A^T (see the module docstring).

    The float64 linear algebra runs in torch (LAPACK/BLAS of the torch build, MKL on x86),
    which is markedly faster than the OpenBLAS that ships with scipy for these three steps.
    """
    s1 = torch.as_tensor(np.asarray(sigma1, dtype=np.float64))
    s2 = torch.as_tensor(np.asarray(sigma2, dtype=np.float64))
    a = _psd_factor(s1)
    middle = a.mT @ s2 @ a
    middle = (middle + middle.mT) / 2  # exact symmetry for the symmetric solver
    eigenvalues = torch.linalg.eigvalsh(middle)
    return float(_drop_rounding_noise(eigenvalues).sqrt().sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), float64.

    Raises ``ValueError`` for non-finite values, a covariance whose shape does not match
    its mean, or means of different lengths.
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "first (real) statistics")
    mu2, sigma2 = _check_stats(mu2, sigma2, "second (fake) statistics")
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"the two feature statistics have different dimensions ({mu1.shape[0]} and {mu2.shape[0]}); "
            "they must come from the same feature extractor"
        )
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)


def fid(real, fake) -> float:
    """FID between feature sets ``real`` (n1, d) and ``fake`` (n2, d); each needs >= 2 rows."""
    real = as_features(real, "real", min_rows=2)
    fake = as_features(fake, "fake", min_rows=2)
    check_same_dim(real, fake, "real", "fake")
    mu1, sigma1 = feature_stats(real, "real")
    mu2, sigma2 = feature_stats(fake, "fake")
    return frechet_distance(mu1, sigma1, mu2, sigma2)
