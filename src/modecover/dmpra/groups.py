"""Minor *groups*: the flagged samples linked into groups, and the weights that raise them.

docs/dmpra.md, "Weights". The paper's informative weights (Eq. 6-7, :mod:`.weights`)
cannot raise what the search finds: a flagged sample has n_hat - n(s, alpha r) >
k_sigma sigma_hat, so its CV = sigma_hat / n_hat is below 1 / k_sigma, under the CV of
typical samples. And raising every flag is not right either: LOCI also flags single tail
points of large modes. This reading raises groups, not single outliers:

1. two flagged samples are linked when one is among the other's ``n_min`` nearest
   (reference) samples (the search's own k-NN graph); the connected components of the
   flagged samples are the candidate groups;
2. a component smaller than ``min_group`` is a set of outliers: weight ``outlier_weight``;
3. a group g has deficit D_g = median over its members of n_hat / n(s, alpha r) at each
   member's peak level: how many times denser its surroundings are than itself;
4. its weight is clip(D_g ** gamma, 1, w_max), so a rare mode is drawn about as often as
   its neighbours; with ``fine_grained`` each member is further scaled by CV_i / mean CV(g)
   (Algorithm 1 line 12's fine-grained term, within the group).

Main samples keep weight 1. Every weight is finite and positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modecover.dmpra.search import SearchResult
from modecover.graph import linked_groups


@dataclass(frozen=True)
class MinorGroup:
    """One group of linked flagged samples (JSON-able through ``as_dict``)."""

    label: int
    size: int
    deficit: float
    weight: float  # the mean weight of its members
    outliers: bool  # smaller than min_group: left at the outlier weight

    def as_dict(self) -> dict:
        return {"group": self.label, "size": self.size, "deficit": self.deficit, "weight": self.weight,
                "outliers": self.outliers}


def minor_groups(result: SearchResult) -> np.ndarray:
    """Group label of every sample (int64 (n,)): -1 for unflagged samples, else 0, 1, ...
    by decreasing group size (ties by smallest member index)."""
    return linked_groups(result.minority, result.neighbors)


def deficits(result: SearchResult) -> np.ndarray:
    """n_hat / n(s, alpha r) at each sample's peak level (float64 (n,), NaN where unscored)."""
    count = np.asarray(result.count, dtype=np.float64)
    return np.divide(result.n_hat, count, out=np.full(count.shape, np.nan), where=count > 0)


@dataclass(frozen=True)
class GroupWeights:
    """The weights of every sample, its group label (-1: main) and the groups, largest first."""

    weights: np.ndarray
    labels: np.ndarray
    groups: list[MinorGroup]

    def group_deficit(self) -> np.ndarray:
        """Per sample: its group's deficit D_g (NaN for main samples)."""
        table = np.array([g.deficit for g in self.groups] + [np.nan], dtype=np.float64)
        return table[self.labels]  # label -1 picks the trailing NaN


def describe_groups(result: SearchResult, labels: np.ndarray, weights: np.ndarray, min_group: int) -> GroupWeights:
    """The :class:`GroupWeights` of given weights: each group's size, deficit D_g and mean weight."""
    ratio = deficits(result)
    groups = []
    for label in range(int(labels.max(initial=-1)) + 1):
        members = labels == label
        size = int(members.sum())
        groups.append(MinorGroup(label, size, float(np.median(ratio[members])), float(weights[members].mean()),
                                 size < min_group))
    return GroupWeights(weights, labels, groups)


def group_weights(result: SearchResult, *, min_group: int = 5, gamma: float = 1.0, w_max: float = 50.0,
                  outlier_weight: float = 1.0, fine_grained: bool = False) -> GroupWeights:
    """Steps 1-4 of the module docstring. Parameters are validated by the caller's config
    (:class:`modecover.dmpra.weights.WeightingConfig`)."""
    labels = minor_groups(result)
    ratio = deficits(result)
    cv = np.asarray(result.cv, dtype=np.float64)
    weights = np.ones(labels.shape[0], dtype=np.float64)
    for label in range(int(labels.max(initial=-1)) + 1):
        members = np.flatnonzero(labels == label)
        if members.size < min_group:
            weights[members] = float(outlier_weight)
            continue
        weight = float(np.clip(float(np.median(ratio[members])) ** gamma, 1.0, w_max))
        weights[members] = weight * (cv[members] / cv[members].mean() if fine_grained else 1.0)
    return describe_groups(result, labels, weights, min_group)


__all__ = ["GroupWeights", "MinorGroup", "deficits", "describe_groups", "group_weights", "minor_groups"]
