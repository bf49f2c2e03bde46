"""GAN objectives as small per-sample callables (the baselines of docs/methods.md).

Every objective gives three element-wise terms on raw discriminator outputs (logits or
critic values):

- ``real_term(d_real)``  per-sample discriminator loss on real samples,
- ``fake_term(d_fake)``  per-sample discriminator loss on fakes,
- ``generator_term(d_fake)`` per-sample generator loss,

and optionally a ``penalty(critic, real, fake)`` regulariser (WGAN-GP). The
discriminator loss is then :func:`discriminator_loss`:

    mean_i(real_term(d_real_i)) + mean_j(fake_term(d_fake_j)) [+ penalty]

- ``ns``: non-saturating GAN (Goodfellow et al. 2014): D minimises softplus(-D(x)) +
  softplus(D(G(z))) (binary cross-entropy on logits), G minimises softplus(-D(G(z))).
- ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z)).
- ``wgan-gp`` (Gulrajani et al. 2017): critic -D(x) + D(G(z)) + lambda * E[(||grad D(x_hat)|| - 1)^2]
  with x_hat = eps * x + (1 - eps) * G(z), eps ~ U(0, 1) per sample; G: -D(G(z)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Critic = Callable[[Tensor], Tensor]


def gradient_penalty(critic: Critic, real: Tensor, fake: Tensor) -> Tensor:
    """mean over samples of (||d critic / d x_hat||_2 - 1)^2 on random interpolates.

    ``real`` and ``fake`` are (B, ...) batches of the critic's inputs (packed, for PacGAN);
    the gradient norm of each row is taken over all of that row's input values.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.reshape(grad.shape[0], -1).norm(dim=1)
    return ((norms - 1) ** 2).mean()


@dataclass(frozen=True)
class NonSaturating:
    """Standard GAN with the non-saturating generator loss."""

    name: str = "ns"

    def real_term(self, d_real: Tensor) -> Tensor:
        return F.softplus(-d_real)

    def fake_term(self, d_fake: Tensor) -> Tensor:
        return F.softplus(d_fake)

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return F.softplus(-d_fake)

    def penalty(self, critic: Critic, real: Tensor, fake: Tensor) -> Tensor | None:
        return None


@dataclass(frozen=True)
class Hinge:
    """Hinge loss for D, -D(G(z)) for G."""

    name: str = "hinge"

    def real_term(self, d_real: Tensor) -> Tensor:
        return F.relu(1 - d_real)

    def fake_term(self, d_fake: Tensor) -> Tensor:
        return F.relu(1 + d_fake)

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return -d_fake

    def penalty(self, critic: Critic, real: Tensor, fake: Tensor) -> Tensor | None:
        return None


@dataclass(frozen=True)
class WassersteinGP:
    """Wasserstein critic with a gradient penalty of weight ``gp_weight`` (lambda, default 10)."""

    gp_weight: float = 10.0
    name: str = "wgan-gp"

    def real_term(self, d_real: Tensor) -> Tensor:
        return -d_real

    def fake_term(self, d_fake: Tensor) -> Tensor:
        return d_fake

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return -d_fake

    def penalty(self, critic: Critic, real: Tensor, fake: Tensor) -> Tensor | None:
        return self.gp_weight * gradient_penalty(critic, real, fake)


GANObjective = NonSaturating | Hinge | WassersteinGP

LOSSES: dict[str, Callable[..., GANObjective]] = {
    "ns": lambda gp_weight: NonSaturating(),
    "hinge": lambda gp_weight: Hinge(),
    "wgan-gp": lambda gp_weight: WassersteinGP(gp_weight),
}


def make_loss(name: str, gp_weight: float = 10.0) -> GANObjective:
    """The objective called ``name`` (one of :data:`LOSSES`)."""
    if name not in LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name](gp_weight)


def discriminator_loss(objective: GANObjective, d_real: Tensor, d_fake: Tensor) -> Tensor:
    """mean(real_term(d_real)) + mean(fake_term(d_fake)); the penalty is added by the caller."""
    return objective.real_term(d_real).mean() + objective.fake_term(d_fake).mean()


__all__ = [
    "GANObjective",
    "Hinge",
    "LOSSES",
    "NonSaturating",
    "WassersteinGP",
    "discriminator_loss",
    "gradient_penalty",
    "make_loss",
]
