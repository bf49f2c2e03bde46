"""DMPRA as a training plug-in: the round loop's search - evaluation - adjustment.

Paper Algorithm 1; docs/dmpra.md, "Rounds". The trainer runs T rounds. Round 0 trains
without weights (``data_weights`` returns None until a search has run). At the end of
every round (``on_round_end``):

1. **space**: ``space="perception"`` (the paper): the real training data as the
   current model perceives it (:func:`modecover.dmpra.perception.perception_space`: a
   GAN's discriminator penultimate features; for other families a real-vs-generated
   classifier kept across rounds and fine-tuned each time); ``space="data"``: the
   training samples themselves (flattened), or with ``components=m`` their first m
   principal components (:func:`modecover.features.pca.fit_components`, fitted once on the
   training data and reused in later rounds), or with ``views=[...]`` several views of the
   training images (``"pca50"``, ``"hog4"``, ...) whose density scores are combined by rank
   (:mod:`modecover.dmpra.views`; the density detector only); ``space="auto"`` (default,
   :func:`searched_space`): for images the data, in the image default's views
   (:func:`modecover.dmpra.views.image_views`: PCA-50 and 4x4 orientation histograms) with
   the density detector; for vectors (the 2-D mixtures) the perception space;
2. **search**: :func:`modecover.dmpra.search` with ``config.search`` (extended
   neighbourhood sampling after LOCI, paper Eq. 4-5) flags the minor-group samples;
3. **evaluation**: :func:`modecover.dmpra.weigh` with ``config.weights``:
   ``weighting="groups"`` (default) raises
   linked groups of flagged samples by their density deficit; ``weighting="paper"`` is
   Eq. 6-7 and Algorithm 1 line 12 as written;
4. **adjustment**: the next round's sampler draws training samples with probability
   proportional to these weights (``data_weights``), continuing from the current model.

Every round writes to its ``out_dir`` (when the trainer gives one):
``dmpra_scores.csv`` (index, score, radius, cv, minority, group, group_deficit, weight,
censored), ``dmpra_scores.npz`` (the same columns as arrays, plus ``proj``, the 2D
projection), ``dmpra_perception.png`` (the projection with minority samples marked,
unless ``plot=False``) and ``dmpra_summary.json`` (the search summary, the groups,
delta-bar, weight range; with ``components``, the ``projection``; with ``views``, each
view's summary). The summary is also
logged, kept in :attr:`DMPRA.history` and returned by ``on_round_end``.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from modecover._checks import (
    TableError,
    check_table_keys,
    dataclass_from_table,
    method_option_error,
    nested_table,
    no_op_error,
    non_negative_int,
    positive_int,
)
from modecover.dmpra.density import DensityConfig, DensityResult, density_weights
from modecover.dmpra.perception import PerceptionClassifier, PerceptionClassifierConfig, perception_space
from modecover.dmpra.search import SearchConfig
from modecover.dmpra.views import check_views, compute_views, image_views, refuse_unused_views, views_density_weights
from modecover.dmpra.weights import WeightingConfig
from modecover.features.pca import fit_components, projection_summary
from modecover.plugins import Plugin

log = logging.getLogger(__name__)

SCORES_CSV = "dmpra_scores.csv"
SCORES_NPZ = "dmpra_scores.npz"
PERCEPTION_PNG = "dmpra_perception.png"
SUMMARY_JSON = "dmpra_summary.json"
ROUND_COLUMNS = ("score", "radius", "cv", "minority", "group", "group_deficit", "weight", "censored")
SPACES = ("auto", "perception", "data")  # auto: the data's views for images, perception for vectors
DETECTORS = ("auto", "loci", "density")  # auto: density for image data, loci for vectors
WHERE = "[[methods]] 'dmpra'"  # how errors name the method's table


# The flat keys of the [[methods]] entry before the search and the weighting had tables of
# their own, and the table each one is in now; still read, with a DeprecationWarning.
MOVED_KEYS = {**dict.fromkeys(("alpha", "n_min", "k_sigma", "two_sided", "max_neighbors", "reference_size"), "search"),
              **dict.fromkeys(("weighting", "min_group", "gamma", "w_max", "outlier_weight", "fine_grained",
                               "informative"), "weights")}


@dataclass
class DMPRAConfig:
    """The space searched, the detector and its settings, and outputs. The LOCI detector's
    search is a whole :class:`modecover.dmpra.SearchConfig` (``[methods.search]``) and its
    weighting a whole :class:`modecover.dmpra.WeightingConfig` (``[methods.weights]``),
    each checked by its own class; the density detector's settings are ``[methods.density]``.

    :meth:`from_table` builds it from a ``[[methods]]`` entry and still reads the flat keys
    of earlier versions (:data:`MOVED_KEYS`)."""

    # "perception" (D's features / real-vs-generated classifier), "data", or "auto" (searched_space: the data's
    # views for images, perception for vectors)
    space: str = "auto"
    # space "data" (or "auto") only: search the first m principal components of the flattened samples (0: the
    # samples as they are)
    components: int = 0
    # space "data" (or "auto") only, density detector: views of the images searched together (modecover.dmpra.views),
    # e.g. ["pca50", "hog4"]; [] searches one space (the samples, or their `components`; with space "auto", images:
    # the default views)
    views: list[str] = field(default_factory=list)
    detector: str = "auto"  # "loci" (search + weights below), "density" (k-NN density ratio), "auto" (by data kind)
    search: SearchConfig = field(default_factory=SearchConfig)  # LOCI: the search (alpha, n_min, k_sigma, ...)
    weights: WeightingConfig = field(default_factory=WeightingConfig)  # LOCI: weights of the flagged samples
    density: DensityConfig = field(default_factory=DensityConfig)  # settings of the density detector
    # outputs
    plot: bool = True  # write the per-round projection PNG
    feature_batch: int = 1024  # batch size of feature extraction and sampling
    classifier: PerceptionClassifierConfig = field(default_factory=PerceptionClassifierConfig)

    def __post_init__(self):
        _check(isinstance(self.space, str) and self.space in SPACES, "space", f"one of {list(SPACES)}", self.space)
        _check(isinstance(self.detector, str) and self.detector in DETECTORS, "detector", f"one of {list(DETECTORS)}",
               self.detector)
        non_negative_int(self.components, f"{WHERE}: 'components'")
        if self.components and self.space == "perception":
            raise no_op_error(WHERE, f"'components' = {self.components}",
                              f"it applies to space = \"data\" only, and space is {self.space!r}",
                              "set space = \"data\", or leave 'components' out")
        self.views = check_views(self.views, f"{WHERE}: 'views'")
        if self.views:
            _check_views_apply(self.space, self.components, self.detector)
        self.search = _table(SearchConfig, self.search, "search")
        self.weights = _table(WeightingConfig, self.weights, "weights")
        self.density = _table(DensityConfig, self.density, "density")
        _check(isinstance(self.plot, bool), "plot", "true or false", self.plot)
        positive_int(self.feature_batch, f"{WHERE}: 'feature_batch'")
        w = self.weights
        if (self.detector != "density" and w.weighting == "groups" and not w.fine_grained
                and w.outlier_weight == 1 and (w.gamma == 0 or w.w_max == 1)):
            which = "'gamma' = 0" if w.gamma == 0 else "'w_max' = 1"
            raise no_op_error(f"{WHERE}.weights", which, "every flagged group gets weight 1, and 'outlier_weight' is 1",
                              "raise it, or leave the method out")
        self.classifier = _table(PerceptionClassifierConfig, self.classifier, "classifier")

    @classmethod
    def from_table(cls, table, where: str = WHERE) -> "DMPRAConfig":
        """The config of a ``[[methods]]`` entry's options (or of ``DMPRA(**kwargs)``): the
        nested tables ``search``, ``weights``, ``density``, ``classifier`` as dicts or
        objects; a flat key of :data:`MOVED_KEYS` is moved into its table with a
        ``DeprecationWarning`` naming its new place, and is an error when given both ways."""
        check_table_keys(cls, table, where, tuple(MOVED_KEYS))
        return dataclass_from_table(cls, nest_moved_keys(table, where), where)


def nest_moved_keys(table: dict[str, Any], where: str = WHERE, *, warn: bool = True) -> dict[str, Any]:
    """``table`` with its flat keys of :data:`MOVED_KEYS` moved into the ``search`` and
    ``weights`` tables (a ``DeprecationWarning`` for each, unless ``warn`` is False); a key
    given flat and in its table too is an error naming both places."""
    values = dict(table)
    for key, section in MOVED_KEYS.items():
        if key not in values:
            continue
        value = values.pop(key)
        if warn:
            warnings.warn(f"{where}: '{key}' is now [methods.{section}] {key} (a flat '{key}' will stop being read)",
                          DeprecationWarning, stacklevel=4)
        nested = values.get(section, {})
        if not isinstance(nested, dict):  # an object, or a non-table that dataclass_from_table names
            given = f"the {type(nested).__name__} given as '{section}'"
            raise TableError(f"{where}: '{key}' is given twice, as a flat key and in {given}; keep [methods.{section}]")
        if key in nested:
            raise TableError(f"{where}: '{key}' is given twice, as a flat key and as [methods.{section}] {key}; "
                             f"keep [methods.{section}] {key}")
        values[section] = {**nested, key: value}
    return values


def _check_views_apply(space: str, components: int, detector: str) -> None:
    """'views' is refused where it would do nothing: another space, beside 'components', or
    with the LOCI detector."""
    if space == "perception":
        raise no_op_error(WHERE, "'views'", f"views are of the training data: they apply to space = \"data\" only, and "
                          f"space is {space!r}", "set space = \"data\", or leave 'views' out")
    refuse_unused_views(WHERE, components=components, loci=detector == "loci")


def _check(ok: bool, key: str, rule: str, value) -> None:
    """A ``ValueError`` naming dmpra and ``key`` unless ``ok``."""
    if not ok:
        raise method_option_error("dmpra", key, rule, value)


def _table(cls: type, value, key: str):
    """``value`` (a dict of the fields of ``cls`` or a ``cls``) as a checked ``cls``; errors
    start with ``[[methods]] 'dmpra'.key``."""
    return nested_table(cls, value, f"{WHERE}.{key}")


def detector_for(detector: str, data: Tensor) -> str:
    """The detector that ``detector`` means for ``data``: "auto" is "density" for images
    (samples of 2 or more dimensions each: (N, C, H, W) or (N, H, W)) and "loci" for vectors."""
    if detector != "auto":
        return detector
    return "density" if data.dim() >= 3 else "loci"


def searched_space(config: DMPRAConfig, data: Tensor) -> tuple[str, list[str]]:
    """(space, views) that ``config`` searches for ``data``. Space "auto" is "data" for images
    (samples of 2 or more dimensions each) or when ``views`` or ``components`` are given, else
    "perception"; and searching images' data with the density detector under "auto", with
    neither views nor components given, means the image default's views
    (:func:`modecover.dmpra.views.image_views`). Space "data" without views is one space."""
    if config.space != "auto" or config.views or config.components:
        return ("data" if config.space == "auto" else config.space), list(config.views)
    if data.dim() < 3:
        return "perception", []
    return "data", image_views(tuple(data.shape)) if detector_for(config.detector, data) == "density" else []


class DMPRA(Plugin):
    """Re-weights the training data between rounds by DMPRA's search and its weights (module docstring)."""

    name = "dmpra"

    def __init__(self, config: DMPRAConfig | None = None, **kwargs):
        """``config``, or the keyword arguments of :meth:`DMPRAConfig.from_table`
        (``DMPRA(search={"k_sigma": 2})``; a flat ``k_sigma=2`` still works, with a warning)."""
        if config is not None and kwargs:
            raise TypeError(f"DMPRA: give a config or keyword arguments, not both (got {sorted(kwargs)})")
        self.config = config if config is not None else DMPRAConfig.from_table(kwargs)
        self.weights: Tensor | None = None  # float64 (n,), None until the first search
        self.rounds_searched = 0
        self.classifier: PerceptionClassifier | None = None  # non-GAN families only
        self.history: list[dict[str, Any]] = []  # one summary per search
        self.projection = None  # space "data" with components: the fitted sklearn PCA, reused in later rounds
        self._views = None  # ((view names, data shape), features, summaries, result) of the views searched, reused

    @property
    def flag_counts(self) -> list[int]:
        """How many samples each search so far flagged (one entry per round end)."""
        return [int(h["n_minority"]) for h in self.history]

    def data_weights(self, n: int) -> Tensor | None:
        if self.weights is None:
            return None
        if n != self.weights.shape[0]:
            raise ValueError(
                f"DMPRA weights were computed for {self.weights.shape[0]} training samples "
                f"but the data set has {n}"
            )
        return self.weights

    def on_round_end(self, model, data: Tensor, round_index: int, out_dir=None) -> dict[str, Any]:
        """Space -> search -> weights for the next round; write the round's files."""
        data = torch.as_tensor(data)
        space, views = searched_space(self.config, data)
        if views:
            features, result, summary = self._views_round(data, views, round_index)
            weights = result.weights
        else:
            features = self._features(model, data, space)
            if detector_for(self.config.detector, data) == "density":
                result = density_weights(features, self.config.density)
                weights, summary = result.weights, density_round_summary(result, round_index)
            else:
                weights, summary, result = self._loci_round(features, round_index)
        if self.config.components:
            summary["projection"] = projection_summary(self.projection)
        summary["space"] = space
        self.weights = torch.from_numpy(weights)
        self.rounds_searched += 1
        self.history.append(summary)
        log.info("DMPRA round %d: %d of %d samples flagged in %d groups, max weight %.4g",
                 round_index, summary["n_minority"], summary["n"], len(summary["groups"]), summary["max_weight"])
        if out_dir is not None:
            write_round(Path(out_dir), result, features, summary, plot=self.config.plot, space=space)
        return summary

    def _features(self, model, data: Tensor, space: str) -> np.ndarray:
        """The one ``space`` searched: the flattened samples (or their ``components``), or the
        perception space of ``model``."""
        if space == "data":
            features = data.reshape(len(data), -1).double().numpy()
            return self._project(features) if self.config.components else features
        if self.classifier is None:  # fitted only if the model has no perception features (not a GAN)
            self.classifier = PerceptionClassifier(tuple(data.shape[1:]), self.config.classifier)
        return perception_space(model, data, self.classifier, batch_size=self.config.feature_batch)

    def _views_round(self, data: Tensor, names: list[str], round_index: int
                     ) -> tuple[np.ndarray, DensityResult, dict[str, Any]]:
        """The density detector over the views ``names`` of the training data
        (:mod:`modecover.dmpra.views`). The views do not depend on the model, so the views and
        their search are computed in the first round and reused while the views and the
        data's shape stay (as the ``components`` projection is); deterministic, so a resumed
        run computes the same. Returns (the first view's features, for the round's
        projection, the result, the round's summary with the views)."""
        key = (tuple(names), tuple(data.shape))
        if self._views is None or self._views[0] != key:  # the data do not change between rounds: searched once
            features, views = compute_views(data.double().numpy(), names, f"{WHERE}: 'views'")
            self._views = (key, features, views, views_density_weights(features, self.config.density, names))
        _, features, views, result = self._views
        summary = density_round_summary(result, round_index)
        summary["views"] = views
        return features[0], result, summary

    def _project(self, features: np.ndarray) -> np.ndarray:
        """The flattened training samples on their first ``components`` principal components:
        the projection is fitted in the first round and reused (the data do not change
        between rounds; refitted if their shape does). Fitting is deterministic, so a resumed
        run fits the same projection and searches the same features."""
        fitted = self.projection
        if fitted is None or (fitted.n_samples_, fitted.n_features_in_) != features.shape:
            self.projection = fit_components(features, self.config.components, f"{WHERE}: 'components' on the "
                                             "training data (flattened)")
        return self.projection.transform(features)

    def _loci_round(self, features: np.ndarray, round_index: int):
        """The LOCI search and its weighting: (weights, summary, (result, weighed))."""
        from modecover.dmpra import delta_bar, search, weigh

        result = search(features, self.config.search)
        weighed = weigh(result, self.config.weights)
        return weighed.weights, round_summary(result, weighed, delta_bar(result), round_index), (result, weighed)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rounds_searched": self.rounds_searched, "history": json.dumps(self.history)}
        if self.weights is not None:
            state["weights"] = self.weights.clone()
        if self.classifier is not None and self.classifier.fits > 0:
            state.update({f"classifier.{k}": v for k, v in self.classifier.checkpoint_state().items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        known = {"rounds_searched", "history", "weights"}
        unknown = sorted(k for k in state if k not in known and not k.startswith("classifier."))
        if unknown or "rounds_searched" not in state:
            raise ValueError(f"DMPRA state: unexpected keys {unknown} or missing 'rounds_searched' "
                             f"(keys {sorted(state)})")
        weights = state.get("weights")
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64).clone()
        if self.weights is not None:
            _check_weights(self.weights.numpy(), self.weights.shape[0])
        self.rounds_searched = int(state["rounds_searched"])
        self.history = json.loads(state.get("history", "[]"))
        classifier_state = {k[len("classifier."):]: v for k, v in state.items() if k.startswith("classifier.")}
        self.classifier = PerceptionClassifier.from_checkpoint_state(classifier_state) if classifier_state else None


def _check_weights(weights: np.ndarray, n: int) -> None:
    if weights.shape != (n,):
        raise ValueError(f"DMPRA weights have shape {weights.shape}, expected ({n},)")
    if not np.isfinite(weights).all() or (weights < 0).any() or not weights.sum() > 0:
        bad = weights[~np.isfinite(weights) | (weights < 0)][:5]
        raise ValueError(f"DMPRA weights must be finite, non-negative and not all zero; got e.g. {bad.tolist()}")


def round_summary(result, weighed, delta: float, round_index: int) -> dict[str, Any]:
    """Plain-JSON summary of one search: its own summary, the groups and weight statistics."""
    from modecover.io import json_safe

    minority = np.asarray(result.minority, dtype=bool)
    weights = weighed.weights
    summary = {
        "round": int(round_index),
        "n": int(minority.size),
        "n_minority": int(minority.sum()),
        "n_censored": int(np.asarray(result.censored, dtype=bool).sum()),
        "delta_bar": float(delta),
        "max_weight": float(weights.max()),
        "mean_minority_weight": float(weights[minority].mean()) if minority.any() else None,
        "groups": [g.as_dict() for g in weighed.groups],
    }
    summary["detector"] = "loci"
    summary["search"] = json_safe(result.summary())
    return summary


def density_round_summary(result: DensityResult, round_index: int) -> dict[str, Any]:
    """Plain-JSON summary of one density search; ``n_minority`` counts the raised samples."""
    from modecover.io import json_safe

    raised = result.raised
    return {
        "round": int(round_index),
        "n": int(raised.size),
        "n_minority": int(raised.sum()),
        "max_weight": float(result.weights.max()),
        "mean_minority_weight": float(result.weights[raised].mean()) if raised.any() else None,
        "groups": result.groups,
        "detector": "density",
        "density": json_safe(result.summary()),
    }


def write_round(out_dir: Path, result, features: np.ndarray, summary: dict, *, plot: bool = True,
                space: str = "perception") -> dict[str, Path]:
    """Write one round's CSV, NPZ, summary JSON and (``plot``) projection PNG; return their paths.
    ``result``: a :class:`DensityResult`, or the LOCI search's (SearchResult, GroupWeights);
    ``space``: the space searched, named in the projection's title."""
    from modecover.dmpra.audit import density_columns, score_columns
    from modecover.io import write_csv
    from modecover.plots import perception_projection, project_2d

    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(result, DensityResult):
        columns = density_columns(result)
        names = tuple(columns)
    else:
        columns, names = score_columns(*result), ROUND_COLUMNS
    proj = project_2d(features)
    n = len(columns["weight"])
    paths = {"csv": out_dir / SCORES_CSV, "npz": out_dir / SCORES_NPZ, "summary": out_dir / SUMMARY_JSON}
    write_csv(paths["csv"], "index", np.arange(n), {k: columns[k] for k in names})
    np.savez_compressed(paths["npz"], index=np.arange(n, dtype=np.int64), proj=proj.astype(np.float32), **columns)
    paths["summary"].write_text(json.dumps(summary, indent=1))
    if plot:
        paths["png"] = perception_projection(
            proj, columns["minority"].astype(bool), out_dir / PERCEPTION_PNG,
            f"{space} space{' (PCA)' if features.shape[1] > 2 else ''}, "
            f"round {summary['round']}: {summary['n_minority']} of {summary['n']} minority",
        )
    return paths


__all__ = ["DETECTORS", "DMPRA", "DMPRAConfig", "density_round_summary", "detector_for", "round_summary",
           "searched_space", "write_round"]
