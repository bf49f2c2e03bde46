"""Pixels extractor: flatten each sample (e.g. an image ``(C, H, W)``) into one vector.

The plain pixel space is the simplest perception space; it needs no weights and suits
small images such as the 8x8 digits (the B3 benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import Tensor

from modecover._checks import as_features
from modecover.features.base import as_tensor_batch


@dataclass(frozen=True)
class Pixels:
    """Flatten ``(N, ...)`` to ``(N, prod(...))`` float32, values unchanged."""

    name: str = "pixels"
    checks_output: ClassVar[bool] = True  # as_features on every batch (features.base.extract)

    def __call__(self, x: Tensor) -> np.ndarray:
        x = as_tensor_batch(x, "pixels input")
        flat = x.detach().cpu().reshape(x.shape[0], -1).to(dtype=x.dtype).numpy()
        return as_features(flat.astype(np.float32, copy=False), "pixels input")
