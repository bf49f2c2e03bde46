"""DMPRA weights: the two readings and the config that chooses between them.

- ``weighting="groups"`` (default): raise minor *groups* by their density deficit
  (:mod:`modecover.dmpra.groups`);
- ``weighting="paper"``: the paper's informative weights, below.

docs/dmpra.md, "Weights", has the measurement that made groups the default: with the
literal Eq. 6-7 a flagged sample's CV is below 1/k_sigma, so the paper's weights come out
below 1 for the samples the search finds.

**The paper's informative weights** (Eq. 6-7 and Algorithm 1 line 12).

With CV(s) = sigma_hat / n_hat at the radius where the score of s peaks (Eq. 6):

- delta_bar = mean CV(minor) / mean CV(main)                          (Eq. 7)
- delta_i   = CV_i / mean CV(minor) * delta_bar = CV_i / mean CV(main)  (Alg. 1 line 12)
- weight 1 for every main-group sample; delta_i for minor sample i, or delta_bar for all
  of them in the ablation without informative weights (``informative=False``).

Documented outcomes instead of NaN:

- no minority sample: every weight is 1 and ``delta_bar`` is 1 (nothing to up-weight);
- samples the search could not score (every ladder level censored, CV NaN) are main
  samples with weight 1 and are left out of mean CV(main);
- mean CV(main) = 0 (every scored main sample has sigma_hat = 0) or no scored main
  sample at all: the ratio of Eq. 7 is undefined, so the minor group's own mean CV is
  the reference instead (delta_bar = 1, delta_i = CV_i / mean CV(minor)) and a
  ``RuntimeWarning`` says so.

A flagged sample always has sigma_hat > 0 and n_hat >= 1, so its CV is positive and
finite, and CV <= sqrt(N - 1) for N counts; with a positive mean CV(main) the ratios
are finite, so weights are finite and positive and never sum to zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from modecover._checks import positive_int, real_in_range
from modecover.dmpra.groups import GroupWeights, describe_groups, group_weights, minor_groups
from modecover.dmpra.search import SearchResult

WEIGHTINGS = ("groups", "paper")


def _group_cvs(result: SearchResult) -> tuple[np.ndarray, np.ndarray]:
    """CVs of the minor samples and of the scored main samples."""
    cv = np.asarray(result.cv, dtype=np.float64)
    minority = np.asarray(result.minority, dtype=bool)
    if cv.shape != minority.shape:
        raise ValueError(f"SearchResult: cv has shape {cv.shape} but minority has shape {minority.shape}")
    minor_cv = cv[minority]
    if not np.all(np.isfinite(minor_cv)) or np.any(minor_cv <= 0):
        bad = np.flatnonzero(minority)[~(np.isfinite(minor_cv) & (minor_cv > 0))][0]
        raise ValueError(f"SearchResult: flagged sample {bad} has CV {cv[bad]!r}; a minor sample's CV must be > 0")
    main_cv = cv[~minority & np.isfinite(cv)]
    return minor_cv, main_cv


def _main_reference(minor_cv: np.ndarray, main_cv: np.ndarray) -> float:
    """mean CV(main), or mean CV(minor) (with a warning) when Eq. 7's denominator is undefined."""
    mean_main = float(main_cv.mean()) if main_cv.size else 0.0
    if mean_main > 0:
        return mean_main
    reason = "no scored main-group sample" if main_cv.size == 0 else "mean CV of the main group is 0"
    warnings.warn(
        f"DMPRA weights: {reason}; delta_bar (Eq. 7) is undefined, using the minor group's mean CV "
        "as the reference (delta_bar = 1)",
        RuntimeWarning,
        stacklevel=3,
    )
    return float(minor_cv.mean())


def delta_bar(result: SearchResult) -> float:
    """mean CV(minor) / mean CV(main) (Eq. 7); 1.0 when nothing is flagged (see module docs)."""
    minor_cv, main_cv = _group_cvs(result)
    if minor_cv.size == 0:
        return 1.0
    return float(minor_cv.mean()) / _main_reference(minor_cv, main_cv)


def informative_weights(result: SearchResult, *, informative: bool = True) -> np.ndarray:
    """Sampling weights (n,) float64: 1 for main samples, delta_i (or delta_bar) for minor ones."""
    minor_cv, main_cv = _group_cvs(result)
    weights = np.ones(result.minority.shape[0], dtype=np.float64)
    if minor_cv.size == 0:
        return weights
    reference = _main_reference(minor_cv, main_cv)
    if informative:
        weights[result.minority] = minor_cv / reference
    else:
        weights[result.minority] = float(minor_cv.mean()) / reference
    if not np.all(np.isfinite(weights)):
        raise ValueError("DMPRA weights: non-finite weight (CV ratio overflowed float64)")
    return weights


@dataclass
class WeightingConfig:
    """How a search result becomes sampling weights (docs/dmpra.md, "Weights").

    ``weighting``: "groups" (default) or "paper". For "groups": ``min_group`` (smallest
    group raised), ``gamma`` (weight = deficit ** gamma), ``w_max`` (cap),
    ``outlier_weight`` (flagged samples outside any group), ``fine_grained`` (scale
    members by CV_i / mean CV of their group). For "paper": ``informative=False`` gives
    every minor sample delta-bar (the paper's ablation).
    """

    weighting: str = "groups"
    min_group: int = 5
    gamma: float = 1.0
    w_max: float = 50.0
    outlier_weight: float = 1.0
    fine_grained: bool = False
    informative: bool = True

    def __post_init__(self):
        if not isinstance(self.weighting, str) or self.weighting not in WEIGHTINGS:
            raise ValueError(f"DMPRA 'weighting' must be one of {list(WEIGHTINGS)}, got {self.weighting!r}")
        positive_int(self.min_group, "DMPRA 'min_group'")
        for key, low, strict in (("gamma", 0, False), ("w_max", 1, False), ("outlier_weight", 0, True)):
            real_in_range(getattr(self, key), f"DMPRA '{key}'", low, low_open=strict)
        for key in ("fine_grained", "informative"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"DMPRA '{key}' must be true or false, got {getattr(self, key)!r}")


def weigh(result: SearchResult, config: WeightingConfig | None = None) -> GroupWeights:
    """Weights (float64 (n,), finite and positive), group labels and groups of one search.

    Groups are reported under both readings; a group's ``weight`` is the mean of its
    members' weights.
    """
    config = WeightingConfig() if config is None else config
    if not isinstance(result, SearchResult):
        raise TypeError(f"weigh: expected the SearchResult of dmpra.search, got {type(result).__name__}")
    if not isinstance(config, WeightingConfig):
        raise TypeError(f"weigh: config must be a WeightingConfig, got {type(config).__name__}")
    if config.weighting == "groups":
        return group_weights(result, min_group=config.min_group, gamma=config.gamma, w_max=config.w_max,
                             outlier_weight=config.outlier_weight, fine_grained=config.fine_grained)
    weights = informative_weights(result, informative=config.informative)
    return describe_groups(result, minor_groups(result), weights, config.min_group)
