"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Definitions as in docs/metrics.md. For a point set, the radius of a point is the distance
to its k-th nearest neighbour in its own set, itself excluded. With real set R (N points) and fake
set F (M points):

- precision = share of fakes inside at least one real ball (radius k = ``k_pr``);
- recall    = share of reals inside at least one fake ball (radius k = ``k_pr``);
- density   = (1 / (k M)) * sum over fakes of the number of real balls containing it
  (k = ``k_dc``); Naeem et al. Eq. (3);
- coverage  = share of reals whose nearest fake lies inside the real's ball (k = ``k_dc``);
  Naeem et al. Eq. (4). "The nearest fake is inside" equals "some fake is inside", which
  is how it is counted here.

Boundary. ``strict=True`` (default) uses ``d < r`` like the ``prdc`` package, and gives the
same values as ``prdc.compute_prdc`` whenever no radius is 0. A radius is 0 only when a
point has at least k exact duplicates in its own set; a strict ball of radius 0 would be
empty, so identical real and fake sets could score 0. Here a ball always contains its own
centre: a zero radius is replaced by the smallest positive float, so the ball holds the
points *equal* to its centre and nothing else. Identical sets therefore always score
precision = recall = coverage = 1. ``strict=False`` uses ``d <= r``.

All counts come from :mod:`modecover.neighbors` (exact: equal to a float64 brute force),
in two passes over block products: one within each set for the radii, one real x fake pass
that gives every count at once (:func:`modecover.neighbors.pair_counts`; for recall only
whether a real lies in some fake ball, so its doubtful pairs stop being re-measured once
it is known to).
"""

from __future__ import annotations

import numpy as np

from modecover._checks import check_k, check_same_dim, positive_int
from modecover.neighbors import as_points, unchecked

__all__ = ["prdc", "precision_recall", "density_coverage"]

SMALLEST_RADIUS = np.nextafter(0.0, 1.0)
"""The radius that replaces a zero radius: the ball holds the points equal to its centre (module doc)."""


def _radii(x: np.ndarray, ks: list[int], strict: bool, block_size, threads) -> dict[int, np.ndarray]:
    """k-th neighbour distance (self excluded) for each k in ``ks``, from one k-NN pass."""
    dist, _ = unchecked.knn(x, None, max(ks), block_size=block_size, threads=threads)
    out = {}
    for k in ks:
        r = dist[:, k - 1].copy()
        if strict:
            r[r == 0.0] = SMALLEST_RADIUS  # a ball contains its centre (module doc)
        out[k] = r
    return out


def _validated(real, fake, k_real: int, k_fake: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Checked arrays; the real set needs k_real + 1 points, the fake set k_fake + 1 (if it has radii)."""
    real = as_points(real, "real")
    fake = as_points(fake, "fake")
    check_same_dim(real, fake, "real", "fake")
    check_k(k_real, len(real), "real")
    if k_fake is not None:
        check_k(k_fake, len(fake), "fake")
    return real, fake


def _compute(real, fake, k_pr: int | None, k_dc: int | None, strict: bool, block_size, threads) -> dict[str, float]:
    ks = [k for k in (k_pr, k_dc) if k is not None]
    real, fake = _validated(real, fake, max(ks), k_pr)
    return prdc_unchecked(real, fake, k_pr, k_dc, strict, block_size, threads)


def prdc_unchecked(real: np.ndarray, fake: np.ndarray, k_pr: int | None, k_dc: int | None, strict: bool,
                   block_size=None, threads=None) -> dict[str, float]:
    """The metrics of arrays already checked as :func:`_validated` does (points from
    :func:`modecover.neighbors.as_points`, equal widths, enough points for each k).

    No input checks, and not in ``__all__``: for modecover's own callers that have checked
    their inputs already; bad input gives wrong answers, not an error naming it."""
    ks = sorted({k for k in (k_pr, k_dc) if k is not None})
    real_r = _radii(real, ks, strict, block_size, threads)
    fake_r = _radii(fake, [k_pr], strict, block_size, threads) if k_pr is not None else {}
    counts = unchecked.pair_counts(real, fake, [real_r[k] for k in ks], list(fake_r.values()), strict, block_size,
                                   threads, a_in_b_any=True)  # recall asks only whether a real lies in some fake ball
    col = dict(zip(ks, range(len(ks))))
    out: dict[str, float] = {}
    if k_pr is not None:
        out["precision"] = float(np.mean(counts.b_in_a_balls[col[k_pr]] > 0))
        out["recall"] = float(np.mean(counts.a_in_b_balls[0] > 0))
    if k_dc is not None:
        # (1/k) * mean count, in prdc's order of operations so the floats agree bit for bit
        out["density"] = float((1.0 / float(k_dc)) * counts.b_in_a_balls[col[k_dc]].mean())
        out["coverage"] = float(np.mean(counts.a_ball_members[col[k_dc]] > 0))
    return out


def prdc(real, fake, *, k: int | None = None, k_pr: int = 3, k_dc: int = 5, strict: bool = True,
         block_size: int | None = None, threads: int | None = None) -> dict[str, float]:
    """Precision, recall (k = ``k_pr``), density and coverage (k = ``k_dc``) of fake vs real features.

    ``k`` overrides both. Inputs are ``(n, d)`` numpy arrays or torch tensors; each set
    needs at least k + 1 points. Returns ``{"precision", "recall", "density", "coverage"}``.
    With ``k_pr == k_dc == k`` the values equal ``prdc.compute_prdc(real, fake, k)``
    (see the module doc for the zero-radius case).
    """
    if k is not None:
        k_pr = k_dc = positive_int(k, "k")
    else:
        k_pr, k_dc = positive_int(k_pr, "k_pr"), positive_int(k_dc, "k_dc")
    res = _compute(real, fake, k_pr, k_dc, strict, block_size, threads)
    return {key: res[key] for key in ("precision", "recall", "density", "coverage")}


def precision_recall(real, fake, k: int = 3, *, strict: bool = True, block_size: int | None = None,
                     threads: int | None = None) -> dict[str, float]:
    """``{"precision", "recall"}`` (Kynkäänniemi et al. 2019) with k-NN radius ``k``."""
    return _compute(real, fake, positive_int(k, "k"), None, strict, block_size, threads)


def density_coverage(real, fake, k: int = 5, *, strict: bool = True, block_size: int | None = None,
                     threads: int | None = None) -> dict[str, float]:
    """``{"density", "coverage"}`` (Naeem et al. 2020) with k-NN radius ``k``."""
    return _compute(real, fake, None, positive_int(k, "k"), strict, block_size, threads)
