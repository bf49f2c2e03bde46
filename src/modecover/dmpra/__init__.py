"""DMPRA: search for minor-group samples, weigh them, re-train in rounds (docs/dmpra.md)."""

from modecover.dmpra.groups import GroupWeights, MinorGroup, group_weights, minor_groups
from modecover.dmpra.search import Ladder, SearchConfig, SearchResult, ladder_sizes, search
from modecover.dmpra.weights import WEIGHTINGS, WeightingConfig, delta_bar, informative_weights, weigh

__all__ = [
    "GroupWeights",
    "Ladder",
    "MinorGroup",
    "SearchConfig",
    "SearchResult",
    "WEIGHTINGS",
    "WeightingConfig",
    "delta_bar",
    "group_weights",
    "informative_weights",
    "ladder_sizes",
    "minor_groups",
    "search",
    "weigh",
]
