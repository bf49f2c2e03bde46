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
(K = X X^T of the rows as given, only meaningful when they have unit length). Both are
Gram matrices, so the non-zero eigenvalues of X X^T / n equal those of X^T X / n (the
paper's Section 3 "dual" computation): the smaller of the two matrices is decomposed,
exactly (``scipy.linalg.eigvalsh`` in float64). Cost O(n d min(n, d)), memory
O(min(n, d)^2). The value equals ``vendi_score.vendi.score_dual`` / ``score_X`` on the
same inputs.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from modecover._checks import as_features

__all__ = ["vendi_score", "KERNELS"]

KERNELS = ("cosine", "linear")


def vendi_score(x, *, kernel: str = "cosine", name: str = "samples") -> float:
    """Vendi score (order q = 1) of the rows of ``x`` (n, d) with a cosine or linear kernel.

    A zero row has no direction: with the cosine kernel it is an error naming ``name``.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    x = as_features(x, name).astype(np.float64)
    if kernel == "cosine":
        largest = np.abs(x).max(axis=1)
        if (largest == 0).any():
            raise ValueError(f"{name}: row {int(np.flatnonzero(largest == 0)[0])} is all zeros; "
                             "the cosine kernel needs a direction for every sample")
        x = x / largest[:, None]  # entries in [-1, 1], one of them +-1: no overflow or underflow to 0 below
        x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    n, d = x.shape
    gram = (x.T @ x) if d < n else (x @ x.T)
    eigenvalues = scipy.linalg.eigvalsh(gram / n)
    p = eigenvalues[eigenvalues > 0]
    return float(np.exp(-(p * np.log(p)).sum()))
