"""Instance selection (docs/methods.md; DeVries et al., 2020).

Fit one Gaussian (mean, covariance) to the features of the training set, score every
sample by its log-likelihood under it, and keep the top ``retention`` ratio
(round(retention * n) samples, at least 1; ties go to the lower index). Used as a
plug-in through ``data_weights``: 1 for kept samples, 0 for dropped ones, so the sampler
never draws them.

A ridge ``ridge * mean(diag cov) * I`` is added to the covariance so that fewer samples
than dimensions (or constant features) still give a finite likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import multivariate_normal
from torch import Tensor

from modecover._checks import as_features, is_real_number, no_op_error, real_in_range
from modecover.plugins import Plugin


def gaussian_log_likelihood(features, *, ridge: float = 1e-6) -> np.ndarray:
    """Log-density of each row under the Gaussian fitted to all rows (float64)."""
    x = as_features(features, "instance selection features", min_rows=2).astype(np.float64)
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    cov = cov + ridge * max(float(np.mean(np.diag(cov))), 1e-12) * np.eye(x.shape[1])
    return multivariate_normal(mean=x.mean(axis=0), cov=cov).logpdf(x).reshape(-1)


def selection_mask(scores: np.ndarray, retention: float) -> np.ndarray:
    """Boolean mask keeping the round(retention * n) highest scores (ties: lower index)."""
    real_in_range(retention, "instance selection retention ratio", 0, 1, low_open=True)
    scores = np.asarray(scores, dtype=np.float64)
    keep = max(1, int(round(retention * scores.shape[0])))
    order = np.argsort(-scores, kind="stable")
    mask = np.zeros(scores.shape[0], dtype=bool)
    mask[order[:keep]] = True
    return mask


@dataclass
class InstanceSelectionConfig:
    retention: float = 0.5
    ridge: float = 1e-6

    def __post_init__(self):
        if is_real_number(self.retention) and self.retention == 1:
            raise no_op_error(WHERE, f"'retention' = {self.retention!r}", "every sample is kept",
                              "use a ratio below 1 or leave the method out")
        real_in_range(self.retention, f"{WHERE}: 'retention'", 0, 1, low_open=True, high_open=True)
        real_in_range(self.ridge, f"{WHERE}: 'ridge'", 0)


WHERE = "[[methods]] 'instance_selection'"  # how errors name the method's table


class InstanceSelection(Plugin):
    """Zero data weight on the samples with the lowest Gaussian log-likelihood."""

    name = "instance_selection"

    def __init__(self, features, config: InstanceSelectionConfig | None = None, **kwargs):
        self.config = config or InstanceSelectionConfig(**kwargs)
        self.scores = gaussian_log_likelihood(features, ridge=self.config.ridge)
        self.kept = selection_mask(self.scores, self.config.retention)
        if self.kept.all():
            raise no_op_error(WHERE, f"'retention' = {self.config.retention!r}",
                              f"it keeps all {self.kept.size} samples: round({self.config.retention!r} * "
                              f"{self.kept.size})", "use a lower ratio or leave the method out")

    def data_weights(self, n: int) -> Tensor:
        if n != self.kept.shape[0]:
            raise ValueError(
                f"instance selection was fitted on {self.kept.shape[0]} samples but the data set has {n}"
            )
        return torch.as_tensor(self.kept, dtype=torch.float32)
