"""Plug-in points of the training loop (docs/methods.md).

A method is a small object implementing only the hooks it needs; every hook of
:class:`Plugin` is a no-op by default. The trainer and the models call the hooks through
:class:`Hooks`, which runs them over every installed plug-in in order, so that the
training loop never branches on which methods are switched on. This module imports no
model (the models import it); a hook's ``model`` is the
:class:`modecover.models.base.GenerativeModel` being trained.

Order of calls in one GAN step (see ``modecover.models.gan``):

1. ``data_weights()``            - once per round, by the trainer, to build the sampler
2. discriminator step:           ``discriminator_loss(ctx)`` terms are added
3. generator step: prior z -> ``latents(z)`` (chained) -> G -> D ->
   ``generator_weights(ctx)`` (multiplied) on the per-sample generator loss,
   then ``generator_loss(ctx)`` terms are added
4. ``on_round_end(model, data)`` - by the trainer between rounds
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor, nn


@dataclass
class GeneratorContext:
    """What a generator-side hook sees in one step (GANs)."""

    step: int
    real: Tensor  # real batch, (B, ...)
    z: Tensor  # latents as fed to G, after the latents hooks
    prior_z: Tensor  # latents as drawn from the prior, before the hooks
    fake: Tensor  # G(z), with gradients
    d_fake: Tensor  # D(fake) per sample, (B,)
    per_sample_loss: Tensor  # the base generator loss per fake, (B,)
    model: nn.Module  # the modecover.models.base.GenerativeModel being trained
    log: dict[str, float] = field(default_factory=dict)  # scalars a hook wants logged


@dataclass
class DiscriminatorContext:
    """What a discriminator-side hook sees in one step (GANs)."""

    step: int
    real: Tensor
    fake: Tensor  # detached
    d_real: Tensor  # (B,)
    d_fake: Tensor  # (B,)
    model: nn.Module  # the modecover.models.base.GenerativeModel being trained
    log: dict[str, float] = field(default_factory=dict)


class Plugin:
    """Base class of every method plug-in: all hooks are no-ops."""

    name: str = "plugin"

    def parameters(self) -> Iterable[nn.Parameter]:
        """Parameters trained together with the generator (CFT layer, DeLiGAN mixture)."""
        return ()

    def prior_dim(self, latent_dim: int) -> int:
        """Dimension of the prior draw that ``latents`` maps to ``latent_dim`` (CFT: fewer)."""
        return latent_dim

    def latents(self, z: Tensor) -> Tensor:
        """Transform a batch of latents on their way to the generator."""
        return z

    def data_weights(self, n: int) -> Tensor | None:
        """Per-training-sample sampling weights (length n), or None for uniform."""
        return None

    def generator_weights(self, ctx: GeneratorContext) -> Tensor | None:
        """Per-sample weights on the base generator loss, (B,), or None."""
        return None

    def generator_loss(self, ctx: GeneratorContext) -> Tensor | None:
        """An extra scalar term added to the generator loss, or None."""
        return None

    def discriminator_loss(self, ctx: DiscriminatorContext) -> Tensor | None:
        """An extra scalar term added to the discriminator loss, or None."""
        return None

    def on_round_end(self, model: nn.Module, data: Tensor, round_index: int, out_dir=None) -> None:
        """Called by the trainer between training rounds (DMPRA re-search)."""

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values to checkpoint; plug-ins with state override both."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"plug-in '{self.name}' has no state but the checkpoint holds keys {sorted(state)}")


def shapes_latents(plugin_cls: type[Plugin]) -> bool:
    """Whether a plug-in class changes what the generator is fed (it overrides ``latents``,
    ``prior_dim`` or ``parameters``), so that sampling a trained model needs it."""
    return any(getattr(plugin_cls, hook) is not getattr(Plugin, hook) for hook in ("latents", "prior_dim", "parameters"))


class Hooks:
    """Runs each hook over an ordered list of plug-ins."""

    def __init__(self, plugins: Sequence[Plugin] = ()):
        names = [p.name for p in plugins]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"plug-in names must be unique; repeated: {sorted(dupes)}")
        self.plugins = list(plugins)

    def parameters(self) -> list[nn.Parameter]:
        return [p for plugin in self.plugins for p in plugin.parameters()]

    def prior_dim(self, latent_dim: int) -> int:
        for plugin in reversed(self.plugins):
            latent_dim = plugin.prior_dim(latent_dim)
        return latent_dim

    def latents(self, z: Tensor) -> Tensor:
        for plugin in self.plugins:
            z = plugin.latents(z)
        return z

    def data_weights(self, n: int) -> Tensor | None:
        weights = None
        for plugin in self.plugins:
            w = plugin.data_weights(n)
            if w is not None:
                weights = w if weights is None else weights * w
        return weights

    def generator_weights(self, ctx: GeneratorContext) -> Tensor | None:
        weights = None
        for plugin in self.plugins:
            w = plugin.generator_weights(ctx)
            if w is not None:
                weights = w if weights is None else weights * w
        return weights

    def generator_loss(self, ctx: GeneratorContext) -> Tensor:
        return _sum_terms(plugin.generator_loss(ctx) for plugin in self.plugins)

    def discriminator_loss(self, ctx: DiscriminatorContext) -> Tensor:
        return _sum_terms(plugin.discriminator_loss(ctx) for plugin in self.plugins)

    def on_round_end(self, model, data, round_index: int, out_dir=None) -> None:
        for plugin in self.plugins:
            plugin.on_round_end(model, data, round_index, out_dir)

    def state_dict(self) -> dict[str, dict[str, Any]]:
        return {plugin.name: plugin.state_dict() for plugin in self.plugins}

    def load_state_dict(self, state: dict[str, dict[str, Any]]) -> None:
        expected = {plugin.name for plugin in self.plugins}
        if set(state) != expected:
            raise ValueError(
                f"checkpoint was written with plug-ins {sorted(state)}, this run has {sorted(expected)}"
            )
        for plugin in self.plugins:
            plugin.load_state_dict(state[plugin.name])


def _sum_terms(terms) -> Tensor:
    total = torch.zeros(())
    for term in terms:
        if term is not None:
            total = total + term
    return total
