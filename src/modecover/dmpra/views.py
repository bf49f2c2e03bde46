"""The density detector over several views of the same images, combined by rank.

On 28x28 MNIST no single space lets the density detector (:mod:`modecover.dmpra.density`)
give a rare class 3x its share of the weight on every validation pair while the common
classes stay near weight 1: the pixels' principal components and the histograms of
gradient orientation each rank the rare class well, but each lets a different set of
common images look as sparse. Averaged, the two rankings cancel much of each other's
noise: PCA-50 with 4x4-cell histograms gives the rare class 3.4-6.1x its share on the
validation pairs and 4.8-6.8x on fresh ones, at a common mean weight of 1.37 (docs/dmpra.md,
"Two views of the images"). So a *view* is one feature space of the images:

- ``pixels``: the flattened images;
- ``pca<m>`` (e.g. ``pca50``): their first m principal components
  (:func:`modecover.features.pca.project_components`, exact and deterministic);
- ``hog<c>`` (e.g. ``hog4``): histograms of gradient orientation in c x c cells
  (:func:`modecover.features.orientations.orientation_histograms`).

and with views V_1 ... V_K the search is:

1. steps 1-4 of the density detector in each view: the smoothed log inverse density s-bar_i^(v);
2. each view's scores as Gaussianised ranks, z_i^(v) = Phi^-1((rank_i - 1/2) / n) (ties
   share their mean rank; duplicates, s-bar = -inf, stay -inf): the views' units and
   dimensions differ, their orders do not;
3. z-bar_i = the mean of z_i^(v) over the views;
4. step 5 of the detector on z-bar: w_i = clip(exp(gamma (z-bar_i - z_ref)), 1, w_max),
   z_ref the ``quantile`` of z-bar (``gamma`` now acts per standard deviation of rank,
   not per unit of log density: left unset, gamma is 3 and w_max 20 here, where one
   space's defaults are 2 and 50; :data:`modecover.dmpra.density.STEP5_DEFAULTS`).

With one view it is that view's density detector, unchanged. The result's radius,
dimension and groups are those of the first view.

**The image default.** :func:`image_views` gives the views that DMPRA's rounds
(``space = "auto"``) and ``modecover audit`` search in images when none are named:
``pca50`` and ``hog4`` (:data:`IMAGE_VIEWS`), each cut to what the images allow (images
under 16 pixels a side, such as 8x8 digits, get the principal components alone).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from modecover.dmpra.density import (
    DensityConfig,
    DensityResult,
    check_config,
    density_result,
    referenced,
    smoothed_score,
)

VIEW_PATTERN = re.compile(r"pixels|pca[1-9][0-9]*|hog[1-9][0-9]*")


# The image default: chosen on the MNIST audit's validation pairs (classes 3 and 5 cut to 25 images, data
# seeds 100-102) among five spaces alone, in pairs and in threes (docs/dmpra.md, "Two views of the images").
IMAGE_VIEWS = ("pca50", "hog4")
# The histograms join the default only where their cells hold at least this many pixels a side: on 8x8 digits
# (cells of 2 pixels) they raise unusual 8s beside the rare class, and on B3's validation seeds 100-102 the GAN
# trained with them had 1.64x the plain GAN's FID, with PCA-50 alone 1.10x (docs/dmpra.md, "Two views of the images").
MIN_CELL_PIXELS = 4


def image_views(shape: Sequence[int]) -> list[str]:
    """The default views (:data:`IMAGE_VIEWS`) for images of ``shape`` (n, H, W) or (n, C, H, W),
    each cut to what they allow: ``pca<m>`` keeps at most min(n, pixels per image) components,
    and ``hog<c>`` is left out of images whose c x c cells would be under
    :data:`MIN_CELL_PIXELS` pixels a side (under 16 pixels for ``hog4``: the 8x8 digits are
    searched in their principal components alone)."""
    n, pixels, side = int(shape[0]), int(np.prod(shape[1:])), min(shape[-2:])
    views = []
    for name in IMAGE_VIEWS:
        size = int(name[3:])
        if name.startswith("pca"):
            views.append(f"pca{min(size, n, pixels)}")
        elif side >= MIN_CELL_PIXELS * size:
            views.append(name)
    return views


def check_view(name, where: str = "views") -> str:
    """``name`` if it names a view (``pixels``, ``pca<m>`` or ``hog<c>`` with m, c >= 1),
    else a ``ValueError`` naming ``where`` and the value."""
    if not (isinstance(name, str) and VIEW_PATTERN.fullmatch(name)):
        raise ValueError(f"{where}: unknown view {name!r}; a view is 'pixels', 'pca<m>' (the first m principal "
                         "components of the pixels, e.g. 'pca50') or 'hog<c>' (gradient orientation histograms in "
                         "c x c cells, e.g. 'hog4')")
    return name


def check_views(names, where: str = "views") -> list[str]:
    """A list of distinct view names (:func:`check_view`), else a ``ValueError``."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ValueError(f"{where}: a list of view names, e.g. [\"pca50\", \"hog4\"], got {names!r}")
    names = [check_view(name, where) for name in names]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: views {names} name a view twice")
    return names


def view_features(images, name: str, where: str = "views") -> tuple[np.ndarray, dict[str, Any]]:
    """The features of view ``name`` of ``images`` (n, ...) as float64 (n, d), and a summary
    (the view, its columns; for ``pca<m>`` the share of the variance kept)."""
    from modecover.features.orientations import orientation_histograms
    from modecover.features.pca import project_components

    images = np.asarray(images, dtype=np.float64)
    kind = check_view(name, where)
    flat = images.reshape(len(images), -1)
    if kind.startswith("pca"):
        features, kept = project_components(flat, int(kind[3:]), f"{where}: view {kind!r}")
        return features, {"view": kind, "columns": features.shape[1], "explained_variance_ratio": kept}
    if kind.startswith("hog"):
        if images.ndim not in (3, 4):
            raise ValueError(f"{where}: view {kind!r} needs images (n, H, W) or (n, C, H, W), got data of shape "
                             f"{images.shape}")
        features = orientation_histograms(images, int(kind[3:]), name=f"{where}: view {kind!r}")
        return features, {"view": kind, "columns": features.shape[1]}
    return flat, {"view": kind, "columns": flat.shape[1]}


def compute_views(images, names: Sequence[str], where: str = "views") -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """:func:`view_features` of every view in ``names``: (the features, the summaries)."""
    computed = [view_features(images, name, where) for name in names]
    return [features for features, _ in computed], [summary for _, summary in computed]


def refuse_unused_views(where: str, *, components: int, loci: bool, beside: str = "'components'") -> None:
    """Views would do nothing beside a projected space (``components``) or with the LOCI
    search, which searches one space: a ``ValueError`` naming ``where``."""
    from modecover._checks import no_op_error

    if components:
        raise no_op_error(where, f"{beside} beside views", "the views replace the one projected space",
                          "name the projection as a view (\"pca50\") and leave it out")
    if loci:
        raise no_op_error(where, "views", "the LOCI search searches one space", "use the density detector")


def gaussianised_ranks(score: np.ndarray) -> np.ndarray:
    """Phi^-1((rank - 1/2) / n) of the finite entries of ``score`` (ties: their mean rank);
    -inf entries stay -inf and n counts the finite ones."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    score = np.asarray(score, dtype=np.float64)
    finite = np.isfinite(score)
    out = np.full(score.shape, -np.inf)
    if finite.any():
        out[finite] = ndtri((rankdata(score[finite]) - 0.5) / finite.sum())
    return out


def views_density_weights(views: Sequence, config: DensityConfig | None = None,
                          names: Sequence[str] | None = None) -> DensityResult:
    """Sampling weights from the density detector in every one of ``views`` (a sequence of
    (n, d_v) feature arrays of the same n samples), combined as the module docstring says.
    One view: :func:`modecover.dmpra.density.density_weights` on it. ``names`` (one per view)
    name the views in errors."""
    if not len(views):
        raise ValueError("views_density_weights: no views given")
    config = check_config(config, "views" if len(views) > 1 else "one space")
    labels = [f"view {name!r}" for name in names] if names is not None else [f"view {v}" for v in range(len(views))]
    smoothed = [smoothed_score(features, config, f"{label} of the density search") for label, features in
                zip(labels, views)]
    sizes = {len(s.score) for s in smoothed}
    if len(sizes) > 1:
        raise ValueError(f"views_density_weights: the views hold different numbers of samples {sorted(sizes)}")
    if len(smoothed) == 1:
        return density_result(referenced(smoothed[0].score, config.quantile), smoothed[0], config, smoothed[0].note)
    combined = np.mean([gaussianised_ranks(s.score) for s in smoothed], axis=0)
    note = smoothed[0].note if all(s.note for s in smoothed) else None  # a view without a note still ranks
    return density_result(referenced(combined, config.quantile), smoothed[0], config, note)


__all__ = ["IMAGE_VIEWS", "MIN_CELL_PIXELS", "check_view", "check_views", "compute_views", "gaussianised_ranks",
           "image_views", "refuse_unused_views", "view_features", "views_density_weights"]
