"""Identity extractor: the samples already are feature vectors (2D points, embeddings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import Tensor

from modecover._checks import as_features
from modecover.features.base import as_tensor_batch


@dataclass(frozen=True)
class Identity:
    """Return vectors ``(N, D)`` unchanged as a float numpy array.

    Refuses anything that is not 2-D (use :class:`~modecover.features.pixels.Pixels`
    to flatten images) and non-finite values, naming the problem.
    """

    name: str = "identity"
    checks_output: ClassVar[bool] = True  # as_features on every batch (features.base.extract)

    def __call__(self, x: Tensor) -> np.ndarray:
        x = as_tensor_batch(x, "identity input")
        if x.ndim != 2:
            raise ValueError(
                f"identity extractor: expected vectors (N, D), got shape {tuple(x.shape)}; "
                "use the 'pixels' or 'inception' extractor for images"
            )
        return as_features(x, "identity input")
