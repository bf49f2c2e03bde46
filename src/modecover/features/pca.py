"""Principal components: features projected onto their first m principal components.

DMPRA's data space (``[[methods]] 'dmpra'`` ``components``) and ``modecover audit
--components`` search the projected features instead of the raw ones: on 28x28 MNIST the
density detector raises a rare class more in the first 50 components of the pixels than
in the pixels themselves (docs/dmpra.md, "Images").

The projection is scikit-learn's ``PCA(m, svd_solver="full")`` (centred, not whitened:
the exact SVD by LAPACK, with scikit-learn's sign convention) fitted on the features in
float64 and applied to them, ``(x - mean) @ components.T``: deterministic, so the same
features give the same projection bit for bit (a resumed run searches what an
uninterrupted one did).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from modecover._checks import as_features, positive_int

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sklearn.decomposition import PCA


def check_components(m: int, n_samples: int, n_features: int, name: str = "features") -> int:
    """``m`` as an int if it is a positive integer of at most ``min(n_samples, n_features)``
    (the most principal components data of that shape have), else a ``ValueError`` naming
    ``name`` and the numbers."""
    m = positive_int(m, f"{name}: the number of principal components")
    most = min(n_samples, n_features)
    if m > most:
        raise ValueError(f"{name}: {m} principal components asked for, but {n_samples} samples of {n_features} "
                         f"feature columns have at most min({n_samples}, {n_features}) = {most}")
    return m


def fit_components(features, m: int, name: str = "features") -> PCA:
    """scikit-learn's ``PCA(m, svd_solver="full")`` fitted on ``features`` (n, d) in float64;
    ``m`` is checked by :func:`check_components` and the features by
    :func:`modecover._checks.as_features` (errors name ``name``)."""
    return _fitted(as_features(features, name).astype(np.float64, copy=False), m, name)


def _fitted(x: np.ndarray, m: int, name: str) -> PCA:
    """:func:`fit_components` on features ``x`` already checked."""
    from sklearn.decomposition import PCA

    m = check_components(m, *x.shape, name=name)
    with np.errstate(divide="ignore", invalid="ignore"):  # features without variance: explained_ratio says so
        return PCA(m, svd_solver="full").fit(x)


def explained_ratio(pca: PCA) -> float:
    """The share of the features' variance the fitted ``pca`` keeps: the sum of its explained
    variance ratios, 1.0 for features without variance (the projection loses nothing)."""
    ratio = float(np.sum(pca.explained_variance_ratio_))
    return ratio if np.isfinite(ratio) else 1.0  # no variance: every ratio is 0 / 0


def project_components(features, m: int, name: str = "features") -> tuple[np.ndarray, float]:
    """``features`` (n, d) projected onto their first ``m`` principal components:
    ``(projected (n, m) float64, explained_ratio)`` (:func:`fit_components`, then its
    ``transform``; :func:`explained_ratio`)."""
    x = as_features(features, name).astype(np.float64, copy=False)
    pca = _fitted(x, m, name)
    return pca.transform(x), explained_ratio(pca)


def projection_summary(pca: PCA) -> dict[str, float | int | str]:
    """A fitted projection in plain JSON values, as the summaries record it."""
    return {"method": "pca", "components": int(pca.n_components_), "input_features": int(pca.n_features_in_),
            "explained_variance_ratio": explained_ratio(pca)}


__all__ = ["check_components", "explained_ratio", "fit_components", "project_components", "projection_summary"]
