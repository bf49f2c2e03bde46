"""Frechet distance between Gaussians fitted to two feature sets (docs/metrics.md, "FID").

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

:func:`frechet_distance` refuses covariances that are not one: not symmetric
(max |S - S^T| above ``1e-6 * max |S|``), and :func:`trace_sqrt_product` refuses
products that are not positive semi-definite, from the eigenvalues it computes anyway
(no extra factorisation): S1, when its Cholesky factorisation fails, with an eigenvalue
below ``-1e-6`` times the sum of their absolute values, and S2 when ``A^T S2 A`` has one
(congruent to S2 when S1 is positive definite, so the same inertia; with a singular S1,
S2 is checked on the range of S1, the part that enters FID). Rounding alone stays far
inside both: a covariance computed from n rows is asymmetric by about eps |S| and its zero
eigenvalues move by at most about n eps tr S, in practice far less (1e-9 tr S computed in
float32 at n = 200, d = 512). The eigenvalues that pass are treated as above (negative
ones as 0), and the symmetric part (S + S^T) / 2 of an accepted S is used, so pytorch-fid's
``sqrtm`` on the same matrices agrees to within that tolerance.

Covariances use the unbiased estimate (divide by n - 1) like pytorch-fid and
torch-fidelity, so :func:`fid` equals their value on the same features.

Wide features (d larger than the sample counts): with the centred, scaled feature rows
X = (real - mu1) / sqrt(n1 - 1) and Y = (fake - mu2) / sqrt(n2 - 1), S1 = X^T X and
S2 = Y^T Y, so S1 S2 = X^T (X Y^T Y) and its nonzero eigenvalues are those of
(X Y^T Y) X^T = C C^T with C = X Y^T (n1 x n2): tr sqrt(S1 S2) = sum sqrt(lambda(C C^T)),
the nuclear norm of C. :func:`fid` takes this Gram route, O(n1 n2 d + n^3) time and
O(n1 n2) memory, no d x d matrix, when its cost model says it is cheaper; both routes
estimate their memory first and raise :class:`modecover._checks.AllocationTooLarge`
(naming the size and what avoids it) instead of failing inside numpy.
"""

from __future__ import annotations

import numpy as np
import torch

from modecover._checks import (
    AllocationTooLarge,
    as_features,
    check_allocation,
    check_same_dim,
    positive_int,
    real_values,
)

_AVOID_COVARIANCE = ("call fid(real, fake) on the features (it uses the n x n Gram form when a set has fewer "
                     "rows than dimensions) or skip FID (modecover evaluate --no-fid)")
_AVOID_GRAM = "subsample the feature sets or skip FID (modecover evaluate --no-fid)"
_BLOCK_BYTES = 64 * 2**20  # float64 column blocks of the Gram route


def feature_stats(x, name: str = "features", *, block_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of the rows of ``x`` (n, d), in float64.

    Two passes over blocks of ``block_rows`` rows (mean, then the centred products), so
    memory is O(block_rows * d + d^2) whatever n and the input dtype. Needs at least 2
    rows (the covariance divides by n - 1); ``block_rows`` must be an integer >= 1.
    """
    return _feature_stats_unchecked(as_features(x, name, min_rows=2), name, positive_int(block_rows, "block_rows"))


def _feature_stats_unchecked(arr: np.ndarray, name: str, block_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """:func:`feature_stats` of rows a public caller has already checked
    (:func:`modecover._checks.as_features` with at least 2 rows)."""
    n, d = arr.shape
    check_allocation(_covariance_bytes(d, min(n, block_rows)), f"{name}: the {d} x {d} covariance",
                     _AVOID_COVARIANCE)
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


def _covariance_bytes(d: int, block_rows: int) -> float:
    """Peak float64 bytes of :func:`feature_stats`: sigma, its symmetrised copy and one centred block."""
    return 8.0 * (2 * d * d + 2 * block_rows * d)


_SYMMETRY_TOLERANCE = 1e-6  # relative to max |S|; see the module docstring
_PSD_TOLERANCE = 1e-6  # relative to the sum of |eigenvalues|


def _check_stats(mu, sigma, name: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked float64 (mu, sigma); ``name`` and ``sigma{index}`` appear in the errors."""
    mu = real_values(mu, f"{name}: mu{index}")
    sigma = real_values(sigma, f"{name}: sigma{index}")
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"{name}: mean must be a non-empty 1-D array, got shape {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"{name}: covariance must have shape ({d}, {d}) to match its mean, got {sigma.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"{name}: mean holds non-finite values")
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f"{name}: covariance holds non-finite values")
    s = torch.from_numpy(sigma)
    asymmetry = (s - s.mT).abs_()
    if float(asymmetry.max()) > _SYMMETRY_TOLERANCE * float(s.abs().max()):
        i, j = np.unravel_index(int(asymmetry.argmax()), asymmetry.shape)
        raise ValueError(f"{name}: sigma{index} is not symmetric: sigma{index}[{i}, {j}] = {sigma[i, j]} but "
                         f"sigma{index}[{j}, {i}] = {sigma[j, i]} (a covariance matrix is symmetric)")
    return mu, ((s + s.mT) / 2).numpy()


def _check_semidefinite(eigenvalues: torch.Tensor, what: str) -> None:
    """Refuse eigenvalues of a covariance (or of S1 S2) with one below -1e-6 times the sum
    of their absolute values: beyond rounding (module docstring)."""
    smallest = float(eigenvalues.min())
    if smallest < -_PSD_TOLERANCE * float(eigenvalues.abs().sum()):
        raise ValueError(f"{what} is not positive semi-definite: it has the eigenvalue {smallest:.6g} "
                         f"(sum of |eigenvalues| {float(eigenvalues.abs().sum()):.6g}; a covariance has none below 0)")


def _psd_factor(sigma: torch.Tensor, name: str) -> torch.Tensor:
    """A with A A^T = sigma: Cholesky when sigma is positive definite, else an eigh factor
    (sigma refused, as ``name``, if it has a negative eigenvalue beyond rounding)."""
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return factor
    w, v = torch.linalg.eigh(sigma)
    _check_semidefinite(w, name)
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
    s1 = torch.as_tensor(real_values(sigma1, "sigma1"))
    s2 = torch.as_tensor(real_values(sigma2, "sigma2"))
    d = s1.shape[0]
    check_allocation(8.0 * 5 * d * d, f"tr sqrt(S1 S2) on {d} x {d} covariances (5 float64 d x d buffers)",
                     _AVOID_COVARIANCE)
    a = _psd_factor(s1, "sigma1")
    middle = a.mT @ s2 @ a
    middle = (middle + middle.mT) / 2  # exact symmetry for the symmetric solver
    eigenvalues = torch.linalg.eigvalsh(middle)
    _check_semidefinite(eigenvalues, "sigma2 (seen through the factor of sigma1, A^T sigma2 A)")
    return float(_drop_rounding_noise(eigenvalues).sqrt().sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), float64.

    Raises ``ValueError`` for non-finite or complex values, a covariance whose shape does
    not match its mean, means of different lengths, or a covariance that is not symmetric
    (max |S - S^T| > 1e-6 max |S|) or not positive semi-definite (see the module docstring).
    Torch tensors, also ones that require grad, are read as float64 arrays.
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "first (real) statistics", 1)
    mu2, sigma2 = _check_stats(mu2, sigma2, "second (fake) statistics", 2)
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"the two feature statistics have different dimensions ({mu1.shape[0]} and {mu2.shape[0]}); "
            "they must come from the same feature extractor"
        )
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)


def _column_blocks(n_rows: int, d: int) -> list[slice]:
    width = max(1, int(_BLOCK_BYTES // (8 * max(n_rows, 1))))
    return [slice(s, min(d, s + width)) for s in range(0, d, width)]


def _centred_cross_gram(real: np.ndarray, fake: np.ndarray) -> tuple[torch.Tensor, float, float, float]:
    """C = X Y^T (n1 x n2) with X = (real - mu1) / sqrt(n1 - 1), Y likewise, plus
    tr S1 = ||X||_F^2, tr S2 = ||Y||_F^2 and ||mu1 - mu2||^2; float64, over column blocks
    (no copy of a whole set)."""
    n1, n2 = len(real), len(fake)
    mu1 = real.mean(axis=0, dtype=np.float64)
    mu2 = fake.mean(axis=0, dtype=np.float64)
    cross = torch.zeros(n1, n2, dtype=torch.float64)
    tr1 = tr2 = 0.0
    for cols in _column_blocks(n1 + n2, real.shape[1]):
        x = torch.from_numpy(real[:, cols].astype(np.float64) - mu1[cols])
        y = torch.from_numpy(fake[:, cols].astype(np.float64) - mu2[cols])
        cross.addmm_(x, y.mT)
        tr1 += float(torch.sum(x * x))
        tr2 += float(torch.sum(y * y))
    cross /= np.sqrt((n1 - 1.0) * (n2 - 1.0))
    diff = mu1 - mu2
    return cross, tr1 / (n1 - 1), tr2 / (n2 - 1), float(diff @ diff)


def gram_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID through the Gram form (module docstring): ||mu1 - mu2||^2 + tr S1 + tr S2
    - 2 sum sqrt(lambda(C C^T)), C = X Y^T, with the smaller set on the outside of C C^T.

    Exact for any n and d (no d x d matrix); ``real``/``fake`` are validated (n, d) arrays.
    """
    if len(real) > len(fake):  # FID is symmetric; C C^T is then the smaller square
        real, fake = fake, real
    check_allocation(_gram_bytes(len(real), len(fake)),
                     f"FID's Gram form ({len(real)} x {len(fake)} cross products)", _AVOID_GRAM)
    cross, tr1, tr2, mean_term = _centred_cross_gram(real, fake)
    outer = cross @ cross.mT
    outer = (outer + outer.mT) / 2  # exact symmetry for the symmetric solver
    trace_sqrt = float(_drop_rounding_noise(torch.linalg.eigvalsh(outer)).sqrt().sum())
    return max(mean_term + tr1 + tr2 - 2.0 * trace_sqrt, 0.0)


def _gram_bytes(n_small: int, n_big: int) -> float:
    """Peak float64 bytes of :func:`gram_fid`: C, C C^T with its symmetrised copy and
    eigen workspace, and one column block of both sets."""
    return 8.0 * (n_small * n_big + 3 * n_small * n_small) + 2 * _BLOCK_BYTES


def gram_route_is_cheaper(n1: int, n2: int, d: int) -> bool:
    """Cost model in float64 multiply-adds, the eigen solver weighted by its measured speed
    relative to a matrix product (about 4x per n^3 here):
    covariance route (n1 + n2) d^2 + 6.5 d^3 (two covariances; Cholesky, two products,
    eigvalsh), Gram route n1 n2 d + s^2 b + 4 s^3 (C, C C^T, eigvalsh; s <= b the set sizes)."""
    small, big = min(n1, n2), max(n1, n2)
    covariance = (n1 + n2) * float(d) ** 2 + 6.5 * float(d) ** 3
    gram = float(n1) * n2 * d + float(small) ** 2 * big + 4.0 * float(small) ** 3
    return gram < covariance


def fid(real, fake, *, route: str = "auto") -> float:
    """FID between feature sets ``real`` (n1, d) and ``fake`` (n2, d); each needs >= 2 rows.

    ``route``: ``"covariance"`` (d x d statistics, :func:`frechet_distance`), ``"gram"``
    (:func:`gram_fid`, no d x d matrix) or ``"auto"``: the cheaper by
    :func:`gram_route_is_cheaper`, or the other one when only that one fits in memory.
    """
    if route not in ("auto", "covariance", "gram"):
        raise ValueError(f"route must be 'auto', 'covariance' or 'gram', got {route!r}")
    real = as_features(real, "real", min_rows=2)
    fake = as_features(fake, "fake", min_rows=2)
    check_same_dim(real, fake, "real", "fake")
    if route == "auto":
        route = _auto_route(len(real), len(fake), real.shape[1])
    return _fid_by(route, real, fake)


def _auto_route(n1: int, n2: int, d: int) -> str:
    """The cheaper route that fits in the memory available now (the cheaper one if neither
    does: it then raises with its size)."""
    order = ["gram", "covariance"] if gram_route_is_cheaper(n1, n2, d) else ["covariance", "gram"]
    for route in order:
        try:
            _check_route_memory(route, n1, n2, d)
            return route
        except AllocationTooLarge:
            continue
    return order[0]


def _check_route_memory(route: str, n1: int, n2: int, d: int) -> None:
    if route == "gram":
        check_allocation(_gram_bytes(min(n1, n2), max(n1, n2)), "FID's Gram form", _AVOID_GRAM)
    else:
        check_allocation(_covariance_bytes(d, min(max(n1, n2), 4096)) + 8.0 * 2 * d * d,
                         "FID's covariance form", _AVOID_COVARIANCE)


def _fid_by(route: str, real: np.ndarray, fake: np.ndarray) -> float:
    if route == "gram":
        return gram_fid(real, fake)
    mu1, sigma1 = _feature_stats_unchecked(real, "real")  # both checked by fid()
    mu2, sigma2 = _feature_stats_unchecked(fake, "fake")
    return frechet_distance(mu1, sigma1, mu2, sigma2)
