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

:class:`Hooks` checks what each plug-in returns and raises a ``ValueError`` naming the
plug-in and the hook for a value the training step could not use as meant: weights
((B,) or (n,), finite, >= 0), loss terms (a scalar tensor; one that carries no gradient
must be exactly zero), latents (2-D, the batch size, dtype and device of their input, and
``latent_dim`` wide at the end when the caller passes it), ``prior_dim`` (a positive int). Which hooks each model
family calls is its ``hooks_called``; :func:`check_hooks_called` refuses plug-ins that
override a hook their family never calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor, nn

from modecover._checks import no_op_error, positive_int


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
        """Dimension (a positive int) of the prior draw that ``latents`` maps to ``latent_dim`` (CFT: fewer)."""
        return latent_dim

    def latents(self, z: Tensor) -> Tensor:
        """Transform a batch of latents (B, width) on their way to the generator; keep B, dtype and device."""
        return z

    def data_weights(self, n: int) -> Tensor | None:
        """Per-training-sample sampling weights, a tensor (n,) (finite, >= 0, not all 0), or None for uniform."""
        return None

    def generator_weights(self, ctx: GeneratorContext) -> Tensor | None:
        """Per-sample weights on the base generator loss, a tensor (B,) (finite, >= 0), or None."""
        return None

    def generator_loss(self, ctx: GeneratorContext) -> Tensor | None:
        """An extra scalar tensor added to the generator loss (with gradient, or exactly 0), or None."""
        return None

    def discriminator_loss(self, ctx: DiscriminatorContext) -> Tensor | None:
        """An extra scalar tensor added to the discriminator loss (with gradient, or exactly 0), or None."""
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
    return bool({"latents", "prior_dim", "parameters"} & set(overridden_hooks(plugin_cls)))


HOOKS = ("parameters", "prior_dim", "latents", "data_weights", "generator_weights", "generator_loss",
         "discriminator_loss", "on_round_end")
TRAINER_HOOKS = frozenset({"data_weights", "on_round_end"})  # train() calls them for every model family


def overridden_hooks(plugin_cls: type) -> list[str]:
    """The hooks of :data:`HOOKS` that ``plugin_cls`` overrides (defines other than :class:`Plugin` does)."""
    return [hook for hook in HOOKS if getattr(plugin_cls, hook, None) not in (None, getattr(Plugin, hook))]


def check_hooks_called(hooks: Hooks | None, model) -> None:
    """A ValueError naming the plug-in, the hooks and the family when a plug-in of ``hooks``
    overrides a hook that neither ``model``'s family (its class attribute ``hooks_called``)
    nor the trainer (:data:`TRAINER_HOOKS`) ever calls: that part of the method would
    silently do nothing. ``model`` is a :class:`modecover.models.base.GenerativeModel`
    (instance or class)."""
    called = TRAINER_HOOKS | model.hooks_called
    for plugin in hooks.plugins if hooks is not None else ():
        never = [hook for hook in overridden_hooks(type(plugin)) if hook not in called]
        if never:
            calls = ", ".join(hook for hook in HOOKS if hook in model.hooks_called) or "no hook"
            them = "it" if len(never) == 1 else "them"
            raise no_op_error(f"plug-in '{plugin.name}'", f"overriding {', '.join(never)}",
                              f"the '{model.family}' model family never calls {them}: it calls {calls}; the trainer "
                              "calls data_weights and on_round_end", f"use the plug-in with a family that calls {them}")


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
        width = latent_dim
        for plugin in reversed(self.plugins):
            d = plugin.prior_dim(width)
            width = positive_int(d, f"plug-in '{plugin.name}': what prior_dim({width}) returns")
        return width

    def latents(self, z: Tensor, latent_dim: int | None = None) -> Tensor:
        """The prior draws ``z`` through every plug-in's ``latents``; with ``latent_dim`` (what the
        generator takes), a chain that does not end that wide is an error naming the plug-ins."""
        for plugin in self.plugins:
            out = plugin.latents(z)
            if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != z.shape[0] or out.dtype != z.dtype \
                    or out.device != z.device:
                raise ValueError(f"plug-in '{plugin.name}': latents must return a tensor (B={z.shape[0]}, width) of "
                                 f"{z.dtype} on {z.device}, like its input; got {_describe(out)}")
            z = out
        if latent_dim is not None and z.ndim == 2 and z.shape[1] != latent_dim:
            names = [p.name for p in self.plugins if {"prior_dim", "latents"} & set(overridden_hooks(type(p)))]
            raise ValueError(f"plug-ins {names}: prior_dim and latents give latents of width {z.shape[1]}, "
                             f"but the model's latent_dim is {latent_dim}")
        return z

    def data_weights(self, n: int) -> Tensor | None:
        weights, given = None, []
        for plugin in self.plugins:
            w = plugin.data_weights(n)
            if w is not None:
                _check_weights(w, n, plugin, "data_weights", "data weights from the plug-ins")
                if not bool((w != 0).any()):
                    raise ValueError(f"data weights from the plug-ins: all {n} weights are zero; nothing can be drawn "
                                     f"(plug-in '{plugin.name}', hook data_weights)")
                weights = w if weights is None else weights * w
                given.append(plugin.name)
        if len(given) > 1 and not bool((weights != 0).any()):
            raise ValueError(f"data weights from the plug-ins: the product of the weights of {given} is zero for "
                             f"every sample; nothing can be drawn")
        return weights

    def generator_weights(self, ctx: GeneratorContext) -> Tensor | None:
        weights = None
        for plugin in self.plugins:
            w = plugin.generator_weights(ctx)
            if w is not None:
                _check_weights(w, ctx.per_sample_loss.shape[0], plugin, "generator_weights", "generator weights")
                weights = w if weights is None else weights * w
        return weights

    def generator_loss(self, ctx: GeneratorContext) -> Tensor:
        return _sum_terms(_loss_term(plugin.generator_loss(ctx), plugin, "generator_loss") for plugin in self.plugins)

    def discriminator_loss(self, ctx: DiscriminatorContext) -> Tensor:
        return _sum_terms(_loss_term(plugin.discriminator_loss(ctx), plugin, "discriminator_loss")
                          for plugin in self.plugins)

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


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)} on {value.device}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _check_weights(w, size: int, plugin: Plugin, hook: str, what: str) -> None:
    """A ValueError starting with ``what`` and naming the plug-in and hook unless ``w`` is a
    real tensor of shape (size,) with finite, non-negative entries."""
    source = f"(plug-in '{plugin.name}', hook {hook})"
    if not isinstance(w, Tensor) or w.is_complex() or tuple(w.shape) != (size,):
        raise ValueError(f"{what}: expected None or a real tensor of shape ({size},), got {_describe(w)} {source}")
    if not bool((torch.isfinite(w) & (w >= 0)).all()):  # one check (one sync) when all is well
        for bad, kind in ((~torch.isfinite(w), "NaN or infinite"), (w < 0, "negative")):
            if bad.any():
                i = int(bad.nonzero()[0])
                raise ValueError(f"{what}: {int(bad.sum())} {kind} weight(s); "
                                 f"first is {float(w[i])} at index {i} {source}")


def _loss_term(term, plugin: Plugin, hook: str) -> Tensor | None:
    """``term`` as a 0-dim tensor (None stays None), or a ValueError naming the plug-in and
    hook: it must be a floating tensor with one element, and while gradients are enabled it
    must carry one, unless it is exactly zero (nothing to add this step, like None)."""
    if term is None:
        return None
    if not isinstance(term, Tensor) or not term.is_floating_point() or term.numel() != 1:
        raise ValueError(f"plug-in '{plugin.name}': {hook} must return None or a scalar floating tensor, "
                         f"got {_describe(term)}")
    if torch.is_grad_enabled() and not term.requires_grad and bool(term != 0):
        raise ValueError(f"plug-in '{plugin.name}': {hook} returned {float(term)}, a tensor without gradient: it would "
                         f"change the logged loss and train nothing (compute it from the model's outputs or "
                         f"parameters, or return None when there is nothing to add)")
    return term.reshape(())
