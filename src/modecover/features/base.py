"""The feature-extractor protocol shared by the metrics, DMPRA and the CLI.

A feature extractor maps a batch of samples (a torch tensor ``(N, ...)``) to one
feature vector per sample, returned as a 2-D numpy float array ``(N, D)``. The metrics
(docs/metrics.md) and DMPRA's perception space work on these arrays only, so any
callable with a ``name`` and this signature plugs in. An extractor whose output already
went through :func:`modecover._checks.as_features` (the built-in ones) says so with a
class attribute ``checks_output = True``; :func:`extract` then does not scan it again.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from modecover._checks import as_features, positive_int


@runtime_checkable
class FeatureExtractor(Protocol):
    """Anything with a ``name`` that turns a batch ``(N, ...)`` into features ``(N, D)``."""

    name: str

    def __call__(self, x: Tensor) -> np.ndarray:  # pragma: no cover - protocol
        ...


def as_tensor_batch(x, name: str = "batch") -> Tensor:
    """Return ``x`` (tensor or array) as a float tensor with a leading batch axis.

    Raises ``ValueError`` naming ``name`` for a 0-d input, an empty batch or a
    non-numeric array.
    """
    if not isinstance(x, Tensor):
        arr = np.asarray(x)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(arr))
    if x.ndim == 0:
        raise ValueError(f"{name}: expected a batch (N, ...), got a scalar")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty (shape {tuple(x.shape)})")
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)
    return x


def extract(extractor: FeatureExtractor, x, *, batch_size: int = 256, name: str = "samples") -> np.ndarray:
    """Run ``extractor`` over ``x`` in batches of ``batch_size`` under ``torch.no_grad``.

    Returns the concatenated features as a checked 2-D float array (finite values,
    one row per sample); the error message names ``name`` and the extractor.
    """
    batch_size = positive_int(batch_size, "batch_size")
    x = as_tensor_batch(x, name)
    parts = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            parts.append(np.asarray(extractor(x[start:start + batch_size])))
    feats = np.concatenate(parts, axis=0)
    if getattr(extractor, "checks_output", False):  # every batch already went through as_features
        return feats
    return as_features(feats, f"{name} ({extractor.name} features)")
