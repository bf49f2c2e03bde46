"""Inception Score (Salimans et al. 2016) with torch-fidelity's conventions (docs/metrics.md).

From classifier logits (n, C): p(y|x) = softmax(logits) in float64; the rows are shuffled
by ``np.random.RandomState(seed).permutation(n)`` (torch-fidelity's ``samples_shuffle``),
cut into ``splits`` consecutive chunks ``[i n // splits, (i + 1) n // splits)``, and per
chunk

    IS = exp( mean_x KL(p(y|x) || p(y)) ),   p(y) = mean of p(y|x) over the chunk.

The result is the mean and the population standard deviation (``np.std``) over the
chunks: ``inception_score(logits, seed=s)`` equals torch-fidelity's
``isc_features_to_metric(logits, splits, shuffle, rng_seed=s)`` (its default seed is 2020,
ours 0). The inputs must be *logits* (torch-fidelity's ``logits_unbiased`` layer), not
probabilities. Terms with p(y|x) = 0 count as 0 (0 ln 0 = 0), so logits extreme enough
to underflow a class to exactly 0 give a finite score where torch-fidelity gives NaN.
"""

from __future__ import annotations

import numpy as np
import scipy.special

from modecover._checks import as_features, int_in_range
from modecover.metrics.kid import _check_seed


def inception_score(logits, *, splits: int = 10, shuffle: bool = True, seed: int = 0) -> tuple[float, float]:
    """IS (mean, std) over ``splits`` chunks of ``logits`` (n, C); see the module docstring.

    Raises ``ValueError`` for bad logits, fewer than 2 classes, fewer rows than splits
    (an empty chunk has no score), or a ``seed`` outside [0, 2**32 - 1].
    """
    splits = int_in_range(splits, "splits", 1)
    seed = _check_seed(seed)
    x = as_features(logits, "logits", min_rows=int(splits)).astype(np.float64, copy=False)
    n, n_classes = x.shape
    if n_classes < 2:
        raise ValueError(f"logits: needs at least 2 class columns, got {n_classes}")
    if shuffle:
        x = x[np.random.RandomState(seed).permutation(n)]
    log_p = scipy.special.log_softmax(x, axis=1)
    p = np.exp(log_p)
    scores = np.empty(splits)
    for i in range(splits):
        chunk = slice(i * n // splits, (i + 1) * n // splits)
        with np.errstate(divide="ignore", invalid="ignore"):  # a class absent from the chunk: 0 ln 0 = 0
            log_marginal = np.log(p[chunk].mean(axis=0))
            terms = np.where(p[chunk] > 0, p[chunk] * (log_p[chunk] - log_marginal), 0.0)
        kl = terms.sum(axis=1)
        scores[i] = np.exp(kl.mean())
    return float(scores.mean()), float(scores.std())
