"""The data audit: DMPRA's search alone on a data set (docs/dmpra.md, "Audit").

"Which of my samples are rare?" - before any training, run the search (extended
neighbourhood sampling) and the weights on the samples' features and write:

- ``audit.csv``: one row per sample, columns ``index`` (feature files) or ``file`` (image
  folders, path relative to the folder), ``score``, ``minority`` (0/1), ``group`` (-1 for
  main samples), ``group_deficit``, ``weight``, then ``radius``, ``cv``, ``censored``
  (0/1), ``rank`` (1 = highest score) and, when asked, ``top`` (1 for the F most isolated
  samples);
- ``summary.json``: how many samples were flagged, the radii they were flagged at
  (min / median / max of the radius of largest score), the groups (size, deficit,
  weight), censored counts, delta-bar, the search's own summary and the settings used;
  when nothing was flagged, a plain-words ``note`` why (highest score, how many scored
  above k_sigma - 1, the largest group the ladder can flag, or that all samples are
  identical);
- ``audit.png``: a 2D projection of the features (raw when 2D, else PCA) with minority
  samples highlighted;
- ``gallery.png`` (images only): the most isolated samples, highest score first.

With ``components`` = m > 0 the features are first projected onto their first m principal
components (:func:`modecover.features.pca.fit_components`), the search runs there and
``summary.json`` records the ``projection``.

The per-sample columns (:func:`score_columns`, :func:`density_columns`) are those of the DMPRA
plug-in's round files too (:mod:`modecover.dmpra.plugin`). The files are written by
:func:`modecover.io.write_csv` and :func:`modecover.io.json_safe`, the drawings by
:func:`modecover.plots.audit_figures`; the data are read by
:func:`modecover.data.files.load_audit_data` (importable from here too).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from modecover._checks import as_features, int_in_range, no_op_error, non_negative_int
from modecover.data.files import AuditData, load_audit_data
from modecover.io import json_safe, write_csv

GALLERY_SIZE = 32  # images in gallery.png
DENSITY_GALLERY_TITLE = "sparsest first (score: log density ratio to the reference; red frame: raised, weight > 1)"
VIEWS_GALLERY_TITLE = ("sparsest first (score: the views' mean Gaussianised rank, to the reference; red frame: raised, "
                       "weight > 1)")


def score_columns(result, weighed) -> dict[str, np.ndarray]:
    """Per-sample columns of a search result and its :class:`modecover.dmpra.GroupWeights`
    (flags as 0/1 integers; ``group`` -1 and ``group_deficit`` NaN for main samples)."""
    return {
        "score": np.asarray(result.score, dtype=np.float64),
        "radius": np.asarray(result.radius, dtype=np.float64),
        "cv": np.asarray(result.cv, dtype=np.float64),
        "minority": np.asarray(result.minority, dtype=bool).astype(np.int8),
        "group": np.asarray(weighed.labels, dtype=np.int64),
        "group_deficit": weighed.group_deficit(),
        "weight": np.asarray(weighed.weights, dtype=np.float64),
        "censored": np.asarray(result.censored, dtype=bool).astype(np.int8),
    }


def density_columns(result) -> dict[str, np.ndarray]:
    """Per-sample columns of a :class:`modecover.dmpra.density.DensityResult`, in order:
    ``score`` (log density ratio to the reference; > 0 is sparser), ``minority`` (0/1: raised,
    weight > 1), ``group`` (-1 unless raised), ``weight``, ``radius`` (k-th neighbour
    distance), ``dim`` (local intrinsic dimension)."""
    return {
        "score": np.asarray(result.score, dtype=np.float64),
        "minority": np.asarray(result.raised, dtype=bool).astype(np.int8),
        "group": np.asarray(result.labels, dtype=np.int64),
        "weight": np.asarray(result.weights, dtype=np.float64),
        "radius": np.asarray(result.radius, dtype=np.float64),
        "dim": np.asarray(result.dim, dtype=np.float64),
    }


@dataclass
class Audit:
    """The outcome of :func:`audit`."""

    result: Any  # modecover.dmpra.SearchResult
    weights: np.ndarray
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)


def audit_summary(result, weighed, delta: float, features=None) -> dict[str, Any]:
    """How many were flagged, at which radii, the groups, censored counts, delta-bar, weight
    range; when nothing was flagged, ``note`` says why in plain words (see
    :func:`nothing_flagged_note`)."""
    weights = weighed.weights
    minority = np.asarray(result.minority, dtype=bool)
    radius = np.asarray(result.radius, dtype=np.float64)[minority]
    radius = radius[np.isfinite(radius)]
    n = int(minority.size)
    summary = {
        "n": n,
        "n_minority": int(minority.sum()),
        "minority_share": float(minority.mean()) if n else 0.0,
        "minority_radius": None if radius.size == 0 else {
            "min": float(radius.min()), "median": float(np.median(radius)), "max": float(radius.max())},
        "n_censored": int(np.asarray(result.censored, dtype=bool).sum()),
        "n_censored_minority": int((np.asarray(result.censored, dtype=bool) & minority).sum()),
        "delta_bar": float(delta),
        "weight": {"min": float(weights.min()), "max": float(weights.max()), "sum": float(weights.sum())},
        "groups": json_safe([g.as_dict() for g in weighed.groups]),
        "search": json_safe(result.summary()),
    }
    sizes, k_sigma = summary["search"].get("ladder_sizes"), summary["search"].get("k_sigma")
    if sizes and k_sigma:
        # a tight group holding a share p of a neighbourhood scores sqrt((1 - p) / p): flagged only
        # if p < 1 / (1 + k_sigma^2), so at the largest ladder size N groups up to N / (1 + k^2)
        summary["largest_flaggable_group"] = int(np.ceil(max(sizes) / (1 + k_sigma**2))) - 1
    if summary["n_minority"] == 0:
        scores = np.asarray(result.score, dtype=np.float64)
        k = float(result.config.k_sigma)
        summary["max_score"] = float(np.nanmax(scores)) if np.isfinite(scores).any() else None
        summary["n_above_k_sigma_minus_1"] = int((scores > k - 1).sum())
        identical = features is not None and not np.ptp(np.asarray(features), axis=0).any()
        summary["note"] = nothing_flagged_note(summary, k, identical)
    return summary


def nothing_flagged_note(summary: dict[str, Any], k_sigma: float, identical: bool) -> str:
    """Plain words for an audit that flagged nothing: why, and what the ranking still gives."""
    n = summary["n"]
    words = ["No sample flagged, so all weights are 1."]
    if identical:
        words.append(f"All {n} samples are identical: there is no rarer region to find.")
    else:
        top = summary.get("max_score")
        words.append(f"A sample is flagged when its score exceeds k_sigma = {k_sigma:g}; the highest score is "
                     f"{'undefined' if top is None else f'{top:.3g}'}, and {summary['n_above_k_sigma_minus_1']} of {n} "
                     f"samples scored above k_sigma - 1 = {k_sigma - 1:g}.")
    if "largest_flaggable_group" in summary and not identical:
        sizes = summary["search"]["ladder_sizes"]
        words.append(f"With neighbourhoods of {min(sizes)} to {max(sizes)} samples, a group of more than about "
                     f"{summary['largest_flaggable_group']} similar samples counts as common, not rare "
                     "(--max-neighbors raises this).")
    words.append("audit.csv still ranks every sample by score (rank 1 = most isolated); --top F marks the F "
                 "most isolated.")
    return " ".join(words)


def audit(features, out_dir, search_config=None, weighting=None, *, names: Sequence[str] | None = None,
          images=None, gallery_size: int = GALLERY_SIZE, plot: bool = True, source: str = "features",
          stage: Callable[[str], None] | None = None, extra_summary: dict | None = None, top: int = 0,
          components: int = 0, views: Sequence[str] = ()) -> Audit:
    """Search ``features`` (n, d), weigh, and write ``audit.csv``, ``summary.json``,
    ``audit.png`` and (with ``images``) ``gallery.png`` into ``out_dir``.

    ``components`` > 0 searches the features' first ``components`` principal components
    instead (at most min(n, d); recorded as ``projection`` in the summary, and drawn in
    ``audit.png``).

    ``views`` (e.g. ``["pca50", "hog4"]``, with the density detector and ``images``) searches
    those views of the images together (:mod:`modecover.dmpra.views`; recorded as ``views``
    in the summary; ``audit.png`` draws the first).

    ``names`` (one per row) replaces the ``index`` column by a ``file`` column. ``stage``
    is called with a short message before each step (for progress display). Every row
    gets its ``rank`` by score (1 = most isolated; ties: lower row first), flagged or not;
    ``top`` > 0 adds a ``top`` column marking the ``top`` most isolated samples (1).
    """
    from modecover.dmpra import SearchConfig, WeightingConfig, search
    from modecover.dmpra.density import DensityConfig

    if non_negative_int(components, "audit: components"):
        features, projection = _project(features, components, source, stage)
        extra_summary = {"projection": projection, **(extra_summary or {})}
    view_features = []
    if views:
        view_features, view_summaries = _views(views, images, search_config, components, stage)
        features, extra_summary = view_features[0], {"views": view_summaries, **(extra_summary or {})}
    if isinstance(search_config, DensityConfig):
        if weighting is not None:
            raise no_op_error("audit", "a WeightingConfig", "the density detector makes its own weights; a "
                              "WeightingConfig applies to the LOCI search (SearchConfig) only", "leave it out")
        return _density_audit(features, out_dir, search_config, names=names, images=images, gallery_size=gallery_size,
                              plot=plot, source=source, stage=stage, extra_summary=extra_summary, top=top,
                              views=view_features)
    config = search_config or SearchConfig()
    weighting = weighting or WeightingConfig()
    step = stage or (lambda message: None)
    x = as_features(features, source, min_rows=int(config.n_min))
    _check_audit_inputs(len(x), names, images, top, source)
    step(f"searching {len(x)} samples of dimension {x.shape[1]}")
    result = search(x, config)
    step("weighing")
    weighed, delta, notes = _weigh_noting_warnings(result, weighting)
    summary = {"source": source, **audit_summary(result, weighed, delta, x),
               "settings": {**json_safe(config), **json_safe(weighting)}, **(extra_summary or {})}
    if notes:
        summary["warnings"] = notes
    if top:
        summary["top"] = int(top)
    step("writing files")
    paths = _write_audit(Path(out_dir), x, _audit_columns(result, weighed, top), summary, names=names, images=images,
                         plot=plot, step=step, source=source, gallery_size=gallery_size)
    return Audit(result, weighed.weights, summary, paths)


def _project(features, components: int, source: str, stage) -> tuple[np.ndarray, dict[str, Any]]:
    """``features`` on their first ``components`` principal components, and the projection's summary."""
    from modecover.features.pca import fit_components, projection_summary

    x = as_features(features, source)
    (stage or (lambda message: None))(f"projecting {len(x)} samples of dimension {x.shape[1]} onto {components} "
                                       "principal components")
    pca = fit_components(x, components, f"audit: components of {source}")
    return pca.transform(x.astype(np.float64, copy=False)), projection_summary(pca)


def check_audit_views(views, images, config, components: int) -> list[str]:
    """``views`` checked (:func:`modecover.dmpra.views.check_views`) and refused where they
    would do nothing: without images, with the LOCI search, beside ``components``."""
    from modecover.dmpra.density import DensityConfig
    from modecover.dmpra.views import check_views, refuse_unused_views

    views = check_views(list(views), "audit: views")
    if images is None:
        raise ValueError("audit: views are computed from images, and this data has none (a feature or points "
                         "file); audit an image folder or an image array (n, H, W) / (n, C, H, W)")
    refuse_unused_views("audit", components=components, loci=not isinstance(config, DensityConfig),
                        beside="components")
    return views


def _views(views, images, config, components: int, stage) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """The features and summaries of ``views`` of ``images`` (:func:`check_audit_views` first)."""
    from modecover.dmpra.views import compute_views

    views = check_audit_views(views, images, config, components)
    (stage or (lambda message: None))(f"computing views {', '.join(views)} of {len(images)} images")
    return compute_views(images, views, "audit: views")


def _density_audit(features, out_dir, config, *, names, images, gallery_size: int, plot: bool, source: str,
                   stage, extra_summary, top: int, views: list[np.ndarray]) -> Audit:
    """:func:`audit` with the k-NN density detector (:mod:`modecover.dmpra.density`): the same
    files, with ``score`` the log density ratio (with several ``views``, their combined
    rank score) and ``minority`` the raised samples."""
    from modecover.dmpra.density import density_weights
    from modecover.dmpra.views import views_density_weights

    step = stage or (lambda message: None)
    x = as_features(features, source, min_rows=config.neighbors + 1)
    _check_audit_inputs(len(x), names, images, top, source)
    step(f"estimating the density of {len(x)} samples of dimension {x.shape[1]}"
         + (f" in {len(views)} views" if views else ""))
    result = views_density_weights(views, config) if views else density_weights(x, config)
    found = result.summary()
    summary = {"source": source, "detector": "density", "n": found["n"], "n_minority": found["n_raised"],
               "minority_share": float(result.raised.mean()),
               "weight": {"min": float(result.weights.min()), "max": float(result.weights.max()),
                          "sum": float(result.weights.sum())},
               **{k: found[k] for k in ("raised_share_of_weight", "median_dimension", "groups")},
               "settings": json_safe(result.config), **(extra_summary or {})}
    if result.note:
        summary["note"] = result.note
    if top:
        summary["top"] = int(top)
    step("writing files")
    columns = _ranked(density_columns(result), top)
    paths = _write_audit(Path(out_dir), x, columns, summary, names=names, images=images, plot=plot, step=step,
                         source=source, gallery_size=gallery_size)
    return Audit(result, result.weights, summary, paths)


def _write_audit(out: Path, x: np.ndarray, columns: dict, summary: dict, *, names, images, plot: bool, step,
                 source: str, gallery_size: int) -> dict[str, Path]:
    """``audit.csv``, the drawings (``plot``) and ``summary.json`` (which lists the files) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    key_name, keys = ("file", list(names)) if names is not None else ("index", range(len(x)))
    paths = {"csv": write_csv(out / "audit.csv", key_name, keys, columns)}
    if plot:
        from modecover.plots import GALLERY_TITLE, audit_figures

        step("drawing")
        density = summary.get("detector") == "density"
        title = GALLERY_TITLE if not density else (  # several views: their combined rank score
            VIEWS_GALLERY_TITLE if len(summary.get("views", ())) > 1 else DENSITY_GALLERY_TITLE)
        paths.update(audit_figures(
            out, x, columns["minority"].astype(bool), columns["score"],
            f"{Path(source).name}: {summary['n_minority']} of {summary['n']} {'raised' if density else 'minority'}",
            images=images, names=names, gallery_size=gallery_size, gallery_title=title))
    summary["files"] = {k: p.name for k, p in paths.items()} | {"summary": "summary.json"}
    (out / "summary.json").write_text(json.dumps(json_safe(summary), indent=1))
    paths["summary"] = out / "summary.json"
    return paths


def _ranked(columns: dict[str, np.ndarray], top: int) -> dict[str, np.ndarray]:
    """``columns`` with every row's ``rank`` by score (1 = highest) and (``top``) the top marks."""
    from modecover.plots import most_isolated

    n = len(columns["score"])
    columns["rank"] = np.empty(n, dtype=np.int64)
    columns["rank"][most_isolated(columns["score"], n)] = np.arange(1, n + 1)
    if top:
        columns["top"] = (columns["rank"] <= top).astype(np.int8)
    return columns


def _check_audit_inputs(n: int, names, images, top, source: str) -> None:
    if names is not None and len(names) != n:
        raise ValueError(f"audit: {len(names)} names for {n} samples of {source}")
    if images is not None and len(images) != n:
        raise ValueError(f"audit: {len(images)} images for {n} samples of {source}")
    int_in_range(top, f"audit: top (at most the {n} samples)", 0, n)


def _weigh_noting_warnings(result, weighting):
    """The weights and delta-bar of ``result``, and the distinct warnings they raised (re-emitted)."""
    from modecover.dmpra import delta_bar, weigh

    with warnings.catch_warnings(record=True) as caught:  # kept in the summary, then re-emitted
        warnings.simplefilter("always")
        weighed = weigh(result, weighting)
        delta = delta_bar(result)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return weighed, delta, notes


def _audit_columns(result, weighed, top: int) -> dict[str, np.ndarray]:
    """The columns of ``audit.csv`` in order: the scores, every row's rank by score and (``top``) the top marks."""
    columns = _ranked(score_columns(result, weighed), top)
    order = ("score", "minority", "group", "group_deficit", "weight", "radius", "cv", "censored", "rank")
    return {c: columns[c] for c in order + (("top",) if top else ())}


__all__ = [
    "GALLERY_SIZE", "Audit", "AuditData", "audit", "audit_summary", "density_columns", "load_audit_data",
    "nothing_flagged_note", "score_columns",
]
