"""DeLiGAN mixture latent (docs/methods.md; Gurumurthy et al., CVPR 2017).

K learnable components (mu_k, sigma_k) in latent space; each latent picks a component
uniformly and becomes z = mu_k + sigma_k * eps with eps ~ N(0, I) the prior draw
(reparametrised, so mu and sigma train with G). mu is initialised U(-1, 1), sigma 0.2.
The regulariser c * mean((1 - sigma)^2) keeps sigma from collapsing to 0 and is added to
the generator loss. (DeLiGAN's paper sums over dimensions; the mean keeps c independent
of K and d.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from modecover._checks import int_in_range, real_in_range
from modecover.plugins import GeneratorContext, Plugin


@dataclass
class DeLiGANConfig:
    latent_dim: int
    components: int = 50  # K (DeLiGAN uses 50)
    sigma_init: float = 0.2
    regulariser: float = 1.0  # c
    seed: int = 0  # initialisation of mu

    def __post_init__(self):
        for key, low, high in (("latent_dim", 1, None), ("components", 1, None), ("seed", 0, 2**64 - 1)):
            setattr(self, key, int_in_range(getattr(self, key), f"{WHERE}: '{key}'", low, high))
        real_in_range(self.sigma_init, f"{WHERE}: 'sigma_init'", 0, low_open=True)
        real_in_range(self.regulariser, f"{WHERE}: 'regulariser'", 0)


WHERE = "[[methods]] 'deligan'"  # how errors name the method's table


class DeLiGAN(Plugin):
    """Gaussian-mixture latent with learnable means and scales."""

    name = "deligan"

    def __init__(self, config: DeLiGANConfig | None = None, **kwargs):
        self.config = config or DeLiGANConfig(**kwargs)
        gen = torch.Generator().manual_seed(self.config.seed)
        k, d = self.config.components, self.config.latent_dim
        self.mu = nn.Parameter(torch.rand(k, d, generator=gen) * 2 - 1)
        self.sigma = nn.Parameter(torch.full((k, d), float(self.config.sigma_init)))

    def to(self, device) -> "DeLiGAN":
        self.mu.data = self.mu.data.to(device)
        self.sigma.data = self.sigma.data.to(device)
        return self

    def parameters(self):
        return [self.mu, self.sigma]

    def latents(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"DeLiGAN expects latents of shape (B, {self.config.latent_dim}), got {tuple(z.shape)}")
        component = torch.randint(self.config.components, (z.shape[0],), device=self.mu.device)
        return self.mu[component] + self.sigma[component] * z.to(self.mu)

    def regulariser(self) -> Tensor:
        return self.config.regulariser * ((1 - self.sigma) ** 2).mean()

    def generator_loss(self, ctx: GeneratorContext) -> Tensor:
        term = self.regulariser()
        ctx.log["deligan_sigma_mean"] = float(self.sigma.detach().abs().mean())
        return term

    def state_dict(self) -> dict[str, Any]:
        return {"mu": self.mu.detach().cpu(), "sigma": self.sigma.detach().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("mu", "sigma"):
            if key not in state:
                raise ValueError(f"DeLiGAN checkpoint state lacks '{key}' (has {sorted(state)})")
            value = torch.as_tensor(state[key])
            if value.shape != getattr(self, key).shape:
                raise ValueError(f"DeLiGAN checkpoint '{key}' has shape {tuple(value.shape)}, "
                                 f"expected {tuple(getattr(self, key).shape)}")
            getattr(self, key).data.copy_(value)
