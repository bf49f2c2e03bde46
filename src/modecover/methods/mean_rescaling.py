"""Mean rescaling (docs/methods.md; Song & Kim 2023, section 3.2, Eq. 2).

z' = z + mu with mu ~ U(-1, 1): one scalar per sample by default (every latent gets its
own mean), or one value per sample and dimension (``per_dimension=True``). The paper
applies it after CFT, so install it after :class:`CommonFeatureTraining` in the plug-in
list. It is part of the latent distribution, so sampling applies it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from modecover._checks import method_option_error, real_in_range
from modecover.plugins import Plugin


@dataclass
class MeanRescalingConfig:
    low: float = -1.0
    high: float = 1.0
    per_dimension: bool = False

    def __post_init__(self):
        for key in ("low", "high"):
            real_in_range(getattr(self, key), f"[[methods]] 'mean_rescaling': '{key}'")
        if not self.low < self.high:
            raise ValueError(f"[[methods]] 'mean_rescaling': needs 'low' < 'high' (low < high), got low={self.low!r}, "
                             f"high={self.high!r}")
        if not isinstance(self.per_dimension, bool):
            raise _refused("per_dimension", "true or false", self.per_dimension)


def _refused(key: str, rule: str, value) -> ValueError:
    return method_option_error("mean_rescaling", key, rule, value)


class MeanRescaling(Plugin):
    """Adds a random mean mu ~ U(low, high) to each latent."""

    name = "mean_rescaling"

    def __init__(self, config: MeanRescalingConfig | None = None, **kwargs):
        self.config = config or MeanRescalingConfig(**kwargs)

    def latents(self, z: Tensor) -> Tensor:
        shape = z.shape if self.config.per_dimension else (z.shape[0],) + (1,) * (z.ndim - 1)
        mu = torch.rand(shape, dtype=z.dtype, device=z.device)
        return z + self.config.low + (self.config.high - self.config.low) * mu
