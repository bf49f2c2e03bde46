"""DMPRA's search for high-dimensional data: k-NN density-ratio weights.

In the 2-D mixtures the LOCI test of :func:`modecover.dmpra.search` finds every rare mode,
but in image spaces it flags nothing: a coherent group holding a share p of a
neighbourhood scores at most sqrt((1 - p) / p), and in high dimension the common samples
around a rare class differ so much in density that sigma-hat swamps its deficit
(docs/dmpra.md, "Images"). The distance to a sample's k-th neighbour still ranks a rare
class well; what it needs is the right exponent and protection against lone outliers.
So for images the search estimates each sample's density from its k-NN graph and raises
the sparse *regions*:

1. **Radius.** r_i = distance from sample i to its ``k``-th nearest other sample.
2. **Local intrinsic dimension** (Levina and Bickel 2005, the MLE with MacKay and
   Ghahramani's (L - 2) normalisation): m_i = (L - 2) / sum_{j < L} log(T_L(i) / T_j(i)),
   T_j(i) the distance to the j-th neighbour, L = ``dim_neighbors``; then
   d_i = median of m over i and its ``dim_neighbors`` // 2 nearest neighbours, at most the
   number of feature columns.
3. **Log inverse density.** The k-NN density estimate (Loftsgaarden and Quesenberry 1965)
   is k / (n V_d r_i^d), so s_i = d_i log(r_i / r_med) is -log density up to a constant
   (r_med: the median of the positive radii, so that the weights do not depend on units).
4. **Smoothing over the neighbourhood.** s-bar_i = mean of s over i and its ``smooth``
   nearest neighbours: the members of a rare group all sit among sparse neighbours and
   keep their deficit; a lone tail point of a common class sits among dense ones and
   loses most of it.
5. **Weights.** w_i = clip(exp(gamma (s-bar_i - s_ref)), 1, ``w_max``), with s_ref the
   ``quantile`` of s-bar over the data: a sample whose surroundings are X times sparser
   than that reference is drawn X^gamma times as often; every sample at least as dense
   keeps weight 1.

A sample with weight > 1 is *raised*; the raised samples linked by the k-NN graph (one
among the other's ``smooth`` nearest) form the reported groups. Exact duplicates are
dense (r_i = 0 gives weight 1); when every sample has the same k-th distance there is no
sparser region and every weight is 1, with a note saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from modecover._checks import as_features, int_in_range, real_in_range
from modecover.graph import linked_groups

# Step 5's defaults by the score it weighs: one space's log density ratio (chosen on the digits' validation
# pairs, docs/dmpra.md, "Images") or several views' mean Gaussianised rank, a unit of its own (chosen on
# MNIST's validation pairs, docs/dmpra.md, "Two views of the images"; modecover.dmpra.views).
STEP5_DEFAULTS = {"one space": {"gamma": 2.0, "w_max": 50.0}, "views": {"gamma": 3.0, "w_max": 20.0}}


@dataclass
class DensityConfig:
    """Settings of :func:`density_weights` (module docstring; defaults chosen on validation
    data, docs/dmpra.md, "Images")."""

    k: int = 10  # r_i: distance to the k-th nearest other sample
    dim_neighbors: int = 20  # L of the Levina-Bickel local dimension
    smooth: int = 5  # s-bar: mean over the sample and its `smooth` nearest neighbours
    quantile: float = 0.9  # s_ref: this quantile of s-bar keeps weight 1
    # weight = (density ratio) ** gamma, at most w_max; None: the default of the score weighed, gamma 2 and w_max 50
    # for one space's log density ratio, gamma 3 and w_max 20 for several views' mean rank (STEP5_DEFAULTS)
    gamma: float | None = None
    w_max: float | None = None

    def __post_init__(self):
        for key, low in (("k", 1), ("dim_neighbors", 3), ("smooth", 0)):
            int_in_range(getattr(self, key), f"density '{key}'", low)
        real_in_range(self.quantile, "density 'quantile'", 0, 1, high_open=True)
        if self.gamma is not None:
            real_in_range(self.gamma, "density 'gamma'", 0, low_open=True)
        if self.w_max is not None:
            real_in_range(self.w_max, "density 'w_max'", 1, low_open=True)

    def resolved(self, score: str = "one space") -> "DensityConfig":
        """This config with ``gamma`` and ``w_max`` set: those left None take the defaults of
        ``score``, a key of :data:`STEP5_DEFAULTS` ("one space" or "views")."""
        defaults = STEP5_DEFAULTS[score]
        return replace(self, gamma=defaults["gamma"] if self.gamma is None else self.gamma,
                       w_max=defaults["w_max"] if self.w_max is None else self.w_max)

    @property
    def neighbors(self) -> int:
        """How many nearest neighbours the one k-NN graph holds."""
        return max(self.k, self.dim_neighbors, self.smooth, 1)


@dataclass
class DensityResult:
    """The outcome of :func:`density_weights`: per-sample arrays (length n) and a summary."""

    weights: np.ndarray  # float64, >= 1, <= w_max
    score: np.ndarray  # float64, s-bar_i - s_ref: log of the density ratio (> 0: sparser than the reference)
    radius: np.ndarray  # float64, r_i
    dim: np.ndarray  # float64, d_i (NaN where no estimate exists)
    raised: np.ndarray  # bool, weight > 1
    labels: np.ndarray  # int64, group of a raised sample (0 = largest), -1 otherwise
    config: DensityConfig = field(default_factory=DensityConfig)
    note: str | None = None  # why nothing was raised, when nothing was

    @property
    def groups(self) -> list[dict]:
        """Each linked group of raised samples: size, median and largest weight."""
        out = []
        for g in range(int(self.labels.max()) + 1 if self.labels.size else 0):
            members = self.weights[self.labels == g]
            out.append({"group": g, "size": int(members.size), "median_weight": float(np.median(members)),
                        "max_weight": float(members.max())})
        return out

    def summary(self) -> dict:
        n = int(self.weights.size)
        finite_dim = self.dim[np.isfinite(self.dim)]
        return {
            "n": n,
            "n_raised": int(self.raised.sum()),
            "raised_share_of_weight": float(self.weights[self.raised].sum() / self.weights.sum()),
            "max_weight": float(self.weights.max()),
            "mean_weight": float(self.weights.mean()),
            "median_dimension": float(np.median(finite_dim)) if finite_dim.size else None,
            "groups": self.groups,
            "settings": {k: getattr(self.config, k) for k in DensityConfig.__dataclass_fields__},
            "note": self.note,
        }


def local_dimension(dist: np.ndarray, neighbors: int) -> np.ndarray:
    """Levina-Bickel MLE of the intrinsic dimension at each row of a sorted k-NN distance
    matrix, from its first ``neighbors`` columns: (L - 2) / sum_{j < L} log(T_L / T_j).
    NaN where it is undefined (T_L = 0, a distance 0 below T_L, or all L distances equal)."""
    t = dist[:, :neighbors]
    last = t[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(last / t[:, :-1])
        total = logs.sum(axis=1)
        dim = (neighbors - 2) / total
    bad = ~np.isfinite(total) | ~(total > 0) | ~(last[:, 0] > 0)
    dim[bad] = np.nan
    return dim


def _smoothed_dimension(dim: np.ndarray, idx: np.ndarray, width: int, cap: int) -> np.ndarray:
    """d_i: median of the finite estimates over i and its ``width`` nearest neighbours,
    else the median of all finite estimates; at most ``cap`` (the number of columns)."""
    pool = np.concatenate([dim[:, None], dim[idx[:, :width]]], axis=1)
    finite = np.isfinite(pool)
    overall = np.nanmedian(dim) if np.isfinite(dim).any() else np.nan
    out = np.full(len(dim), overall)
    rows = finite.any(axis=1)
    if rows.any():
        out[rows] = np.nanmedian(np.where(finite[rows], pool[rows], np.nan), axis=1)
    return np.minimum(out, cap)


@dataclass
class SmoothedScore:
    """Steps 1-4 of the density detector on one feature space (module docstring)."""

    score: np.ndarray  # float64, s-bar_i, unreferenced; -inf for exact duplicates, all 0 with a note
    radius: np.ndarray  # float64, r_i
    dim: np.ndarray  # float64, d_i (NaN where no estimate exists)
    neighbors: np.ndarray  # int64 (n, config.neighbors), the k-NN graph, nearest first
    note: str | None = None  # set when no region is sparser than another (every weight 1)


def smoothed_score(features, config: DensityConfig, name: str = "density search features") -> SmoothedScore:
    """Steps 1-4 (radius, local dimension, log inverse density, smoothing) on ``features``
    (n, d): needs more than ``config.neighbors`` samples; NaN or infinite features are an
    error naming ``name`` and the row."""
    from modecover.neighbors import knn

    x = as_features(features, name, min_rows=config.neighbors + 1)
    dist, idx = knn(x, None, k=config.neighbors)
    radius = dist[:, config.k - 1].astype(np.float64)
    dim = _smoothed_dimension(local_dimension(dist, config.dim_neighbors), idx, config.dim_neighbors // 2, x.shape[1])
    n = len(x)
    if not np.isfinite(dim).any() or not (radius > 0).any() or np.ptp(radius) == 0:
        note = (f"All {n} samples are identical: there is no sparser region to raise." if not (radius > 0).any()
                else f"Every sample has the same distance to its {config.k}-th neighbour (or no neighbourhood has a "
                     "dimension estimate): no region is sparser than another, so every weight is 1.")
        return SmoothedScore(np.zeros(n), radius, dim, idx, note)  # one constant score: every weight 1
    with np.errstate(divide="ignore"):  # radii relative to their median: the weights do not depend on units
        log_radius = np.log(radius / np.median(radius[radius > 0]))  # -inf for duplicates: dense, weight 1
    s = np.where(radius > 0, np.nan_to_num(dim, nan=np.nanmedian(dim)) * log_radius, -np.inf)
    if config.smooth:
        s = np.concatenate([s[:, None], s[idx[:, :config.smooth]]], axis=1).mean(axis=1)
    return SmoothedScore(s, radius, dim, idx)


def referenced(score: np.ndarray, quantile: float) -> np.ndarray:
    """Step 5's s-bar - s_ref: ``score`` less its ``quantile`` over the finite entries
    (-inf stays -inf; all -inf when no entry is finite)."""
    finite = np.isfinite(score)
    if not finite.any():
        return np.full(len(score), -np.inf)
    return np.where(finite, score - np.quantile(score[finite], quantile), -np.inf)


def density_weights(features, config: DensityConfig | None = None) -> DensityResult:
    """Sampling weights that raise the sparse regions of ``features`` (n, d) (module docstring).

    Needs more than ``config.neighbors`` samples; NaN or infinite features are an error
    naming the row. Returns a :class:`DensityResult` whose weights are finite, >= 1 and
    <= ``w_max``.
    """
    config = check_config(config)
    smoothed = smoothed_score(features, config)
    return density_result(referenced(smoothed.score, config.quantile), smoothed, config, smoothed.note)


def check_config(config: DensityConfig | None, score: str = "one space") -> DensityConfig:
    """``config`` (the defaults for None) resolved for ``score`` (:meth:`DensityConfig.resolved`);
    anything else is a TypeError."""
    config = DensityConfig() if config is None else config
    if not isinstance(config, DensityConfig):
        raise TypeError(f"density_weights: config must be a DensityConfig, got {type(config).__name__}")
    return config.resolved(score)


def density_result(score: np.ndarray, smoothed: SmoothedScore, config: DensityConfig,
                   note: str | None = None) -> DensityResult:
    """Step 5 on a referenced ``score`` (s-bar - s_ref), with the radius, dimension and k-NN
    graph (for the groups) of ``smoothed``; ``note`` says why nothing is raised (when no
    score is positive and no note is given, that no sample is sparser than the reference)."""
    if note is None and not (score > 0).any():
        note = "No sample is sparser than the reference quantile: every weight is 1."
    with np.errstate(over="ignore"):
        weights = np.clip(np.exp(config.gamma * score), 1.0, config.w_max)
    raised = weights > 1.0
    labels = linked_groups(raised, smoothed.neighbors[:, : max(config.smooth, 1)])
    return DensityResult(weights.astype(np.float64), np.asarray(score, np.float64), smoothed.radius, smoothed.dim,
                         raised, labels, config, note)


__all__ = ["STEP5_DEFAULTS", "DensityConfig", "DensityResult", "SmoothedScore", "check_config", "density_result",
           "density_weights", "local_dimension", "referenced", "smoothed_score"]
