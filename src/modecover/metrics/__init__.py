"""Evaluation metrics computed from feature arrays (docs/metrics.md)."""

from modecover.metrics.fid import feature_stats, fid, frechet_distance
from modecover.metrics.inception_score import inception_score
from modecover.metrics.kid import kid
from modecover.metrics.modes import mode_metrics, nearest_modes
from modecover.metrics.prdc import density_coverage, prdc, precision_recall

__all__ = [
    "density_coverage",
    "feature_stats",
    "fid",
    "frechet_distance",
    "inception_score",
    "kid",
    "mode_metrics",
    "nearest_modes",
    "prdc",
    "precision_recall",
]
