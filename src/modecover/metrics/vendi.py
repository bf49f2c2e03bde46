"""The Vendi score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric
for Machine Learning", TMLR), a reference-free diversity number.

For n samples and a positive semi-definite similarity K (n x n) with K_ii = 1, Eq. (1):

    VS = exp(-sum_i lambda_i log lambda_i),   lambda_i the eigenvalues of K / n

(0 log 0 = 0; eigenvalues <= 0 from rounding are left out, as the ``vendi-score``
package does). It is the effective number of distinct samples: 1 when all are equal, n
when all are orthogonal.

Kernels: ``"cosine"`` (default; rows scaled to unit length, K = X X^T; each row is
first divided by its largest absolute value, so that neither its squares overflow nor
underflow and the score does not depend on the rows' scale) and ``"linear"``
(K = X X^T of the rows as given, only meaningful when they have unit length).

An all-zero row (a sample on which no feature fires, ordinary after a ReLU) has no
direction. The cosine kernel gives it similarity 1 with every other all-zero row and 0 with
every other row: the cosine kernel of the rows extended by one coordinate, 1 for an all-zero
row and 0 for the others, so K stays positive semi-definite with K_ii = 1, is the plain
cosine kernel when no row is zero, and the all-zero rows count as one shared sample, as
identical samples do. They are not left out: n stays the number of samples, so a set
that collapsed onto the zero vector scores low instead of scoring like its other rows.

Both kernels are Gram matrices, so the non-zero eigenvalues of X X^T / n equal those of
X^T X / n (the paper's Section 3 "dual" computation): the smaller of the two matrices is
decomposed, exactly (``scipy.linalg.eigvalsh`` in float64). Cost O(n d min(n, d)), memory
O(min(n, d)^2). The value equals ``vendi_score.vendi.score_dual`` / ``score_X`` on the
same inputs when no row is all zeros (the package leaves such a row at zero, K_ii = 0,
which is no Vendi kernel), and ``score_K`` of the kernel above when some are.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from modecover._checks import as_features

__all__ = ["vendi_score", "zero_rows", "KERNELS"]

KERNELS = ("cosine", "linear")


def vendi_score(x, *, kernel: str = "cosine", name: str = "samples") -> float:
    """Vendi score (order q = 1) of the rows of ``x`` (n, d) with a cosine or linear kernel.

    With the cosine kernel the all-zero rows are one shared sample, orthogonal to the
    others (module docstring; :func:`zero_rows` counts them). ``name`` labels errors.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    x = as_features(x, name).astype(np.float64)
    if kernel == "cosine":
        largest = np.abs(x).max(axis=1)
        zero = largest == 0
        if zero.any():  # one more coordinate, 1 on the all-zero rows: unit rows, orthogonal to the others
            x = np.concatenate([x, zero[:, None].astype(np.float64)], axis=1)
            largest[zero] = 1.0
        x = x / largest[:, None]  # entries in [-1, 1], one of them +-1: no overflow or underflow to 0 below
        x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    n, d = x.shape
    gram = (x.T @ x) if d < n else (x @ x.T)
    eigenvalues = scipy.linalg.eigvalsh(gram / n)
    p = eigenvalues[eigenvalues > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def zero_rows(x) -> int:
    """How many rows of ``x`` (n, d) are all zeros: the samples the cosine kernel of
    :func:`vendi_score` takes as one."""
    return int((~np.asarray(x).any(axis=1)).sum())
