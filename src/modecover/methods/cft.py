"""Common Feature Training (docs/methods.md; Song & Kim 2023, section 3.1, Eq. 1).

The prior draws z ~ N(0, I_n) and a learnable Linear(n, n + FD) maps it to the
generator's latent, trained together with G (its parameters are returned by
``parameters()``, which the model adds to the generator's optimizer). With a generator of
latent size ``latent_dim``, the prior therefore has ``latent_dim - FD`` dimensions
(``prior_dim``). FD >= 1, default 1 (the paper starts at 1 and raises it while training
is unstable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from modecover._checks import int_in_range, method_option_error
from modecover.plugins import Plugin


@dataclass
class CFTConfig:
    latent_dim: int  # the generator's latent size, n + FD
    feature_differences: int = 1  # FD

    def __post_init__(self):
        for key, low in (("feature_differences", 1), ("latent_dim", 2)):
            setattr(self, key, int_in_range(getattr(self, key), f"[[methods]] 'cft': '{key}'", low))
        if self.latent_dim <= self.feature_differences:
            raise _refused("latent_dim", f"> 'feature_differences' (FD) = {self.feature_differences}", self.latent_dim)


def _refused(key: str, rule: str, value) -> ValueError:
    return method_option_error("cft", key, rule, value)


class CommonFeatureTraining(Plugin):
    """z (n) -> Linear(n, n + FD) -> generator latent (latent_dim = n + FD)."""

    name = "cft"

    def __init__(self, config: CFTConfig | None = None, **kwargs):
        self.config = config or CFTConfig(**kwargs)
        n = self.config.latent_dim - self.config.feature_differences
        self.layer = nn.Linear(n, self.config.latent_dim)

    def to(self, device) -> "CommonFeatureTraining":
        self.layer.to(device)
        return self

    def parameters(self):
        return list(self.layer.parameters())

    def prior_dim(self, latent_dim: int) -> int:
        if latent_dim != self.config.latent_dim:
            raise ValueError(f"CFT was built for latent_dim={self.config.latent_dim}, the model asks for {latent_dim}")
        return latent_dim - self.config.feature_differences

    def latents(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.layer.in_features:
            raise ValueError(
                f"CFT expects prior latents of shape (B, {self.layer.in_features}), got {tuple(z.shape)}"
            )
        return self.layer(z.to(self.layer.weight))

    def state_dict(self) -> dict[str, Any]:
        return {k: v.detach().cpu() for k, v in self.layer.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.layer.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
