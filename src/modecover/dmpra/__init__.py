"""DMPRA (DESIGN.md section 2): search for minor-group samples, informative weights."""

from modecover.dmpra.search import Ladder, SearchConfig, SearchResult, ladder_sizes, search
from modecover.dmpra.weights import delta_bar, informative_weights

__all__ = [
    "Ladder",
    "SearchConfig",
    "SearchResult",
    "delta_bar",
    "informative_weights",
    "ladder_sizes",
    "search",
]
