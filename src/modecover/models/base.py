"""The one small protocol every model family implements (docs/models.md).

A model owns its networks *and* its optimizers, so that the trainer can checkpoint and
resume any family the same way (``state_dict`` of the model and of each optimizer).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from modecover.plugins import Hooks


class GenerativeModel(nn.Module):
    """Base class: GAN, VAE, flow and diffusion models subclass it.

    Subclasses set ``family`` and ``hooks_called`` and implement the four methods below.
    ``config`` holds the constructor arguments (plain JSON values) so that a checkpoint can
    rebuild the model and reject a checkpoint of another model.
    """

    family: ClassVar[str] = "base"
    # the plug-in hooks the model itself calls (``parameters``: where its training gives the
    # plug-in parameters gradients); the trainer calls data_weights and on_round_end for every
    # family. ``modecover.plugins.check_hooks_called`` refuses plug-ins overriding any other.
    hooks_called: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = dict(config)

    def train_step(self, real: Tensor, hooks: Hooks, step: int) -> dict[str, float]:
        """One optimisation step on a real batch; returns scalars to log.

        Every sample of the batch counts alike: the trainer re-weights the data by what it
        samples (the plug-ins' ``data_weights``), never by loss weights.
        """
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, hooks: Hooks | None = None) -> Tensor:
        """Draw n samples from the model (through the latents hooks where it has latents)."""
        raise NotImplementedError

    def perception_features(self, x: Tensor) -> Tensor | None:
        """Features of x as the model perceives them (GAN: D's penultimate layer), or
        None when the family has none and a real-vs-generated classifier must be used."""
        return None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimizers, for checkpointing."""
        raise NotImplementedError

    def latent_generator(self):
        """``(g, latent_dim)`` with ``g`` the deterministic map from latents (B, latent_dim) to
        samples (GAN generator, VAE decoder, flow inverse), for MaGNET; None without latents."""
        return None
