"""DPM: diversity penalty module (docs/methods.md; Pan et al., AAAI 2021, abstract).

For a batch of latents Z and features F = phi(G(Z)) the normalized Gram matrices (cosine
similarities) are G_F = F^ F^T and G_Z = Z^ Z^T. Two forms:

* ``relu`` (default): mean over pairs i != j of relu(G_F[i,j] - G_Z[i,j]); zero unless two
  outputs are more alike than their latents.
* ``ratio`` (a published re-implementation): mean over pairs i != j of
  sigmoid(s * G_F[i,j]) / sigmoid(s * G_Z[i,j]), s = 5. Its minimum is not 0; it only
  pushes the output similarities down relative to the latent ones.

The only paper text is the abstract, so both forms are readings of "the normalized Gram
matrix is used to measure the similarity"; the diagonal (each sample with itself) is
left out because it is 1 in both matrices and carries no information.

:class:`DPM` adds ``weight * penalty`` to the generator loss. phi defaults to the model's
perception features (a GAN's discriminator penultimate layer); any callable may be given.
Gradients flow *through* phi into G, but phi's own parameters (the model's, or those of
an ``nn.Module`` phi) are frozen while the features are computed, so this term never
leaves gradients on the discriminator.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from modecover._checks import is_real_number, method_option_error, no_op_error, real_in_range
from modecover.plugins import GeneratorContext, Plugin

Form = Literal["relu", "ratio"]


def normalized_gram(x: Tensor) -> Tensor:
    """Cosine-similarity matrix of the rows of x flattened to (B, -1)."""
    x = x.reshape(x.shape[0], -1)
    x = F.normalize(x, dim=1, eps=1e-12)
    return x @ x.T


def diversity_penalty(features: Tensor, latents: Tensor, *, form: Form = "relu", scale: float = 5.0) -> Tensor:
    """DPM penalty of a batch (scalar tensor); see the module docstring for the forms."""
    if features.shape[0] != latents.shape[0]:
        raise ValueError(
            f"DPM: features have {features.shape[0]} rows but latents have {latents.shape[0]}; they must pair up"
        )
    b = features.shape[0]
    if b < 2:
        raise ValueError(f"DPM: needs a batch of at least 2 samples to compare pairs, got {b}")
    gram_f = normalized_gram(features)
    gram_z = normalized_gram(latents).to(gram_f.dtype)
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=gram_f.device)
    if form == "relu":
        values = torch.relu(gram_f - gram_z)
    elif form == "ratio":
        values = torch.sigmoid(scale * gram_f) / torch.sigmoid(scale * gram_z)
    else:
        raise ValueError(f"DPM form must be 'relu' or 'ratio', got {form!r}")
    return values[off_diagonal].mean()


@contextmanager
def frozen_parameters(module: torch.nn.Module):
    """Temporarily stop gradients into ``module``'s parameters (inputs still get them)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class DPMConfig:
    weight: float = 1.0  # lambda
    form: Form = "relu"
    scale: float = 5.0  # s of the ratio form

    def __post_init__(self):
        if is_real_number(self.weight) and self.weight == 0:
            raise no_op_error("[[methods]] 'dpm'", f"'weight' (lambda) = {self.weight!r}",
                              "its loss term is multiplied by 0", "leave the method out")
        real_in_range(self.weight, "[[methods]] 'dpm': 'weight'", 0, low_open=True)
        if not (isinstance(self.form, str) and self.form in ("relu", "ratio")):
            raise _refused("form", "'relu' or 'ratio'", self.form)
        real_in_range(self.scale, "[[methods]] 'dpm': 'scale'", 0, low_open=True)


def _refused(key: str, rule: str, value) -> ValueError:
    return method_option_error("dpm", key, rule, value)


class DPM(Plugin):
    """Adds lambda * diversity_penalty(phi(G(z)), z) to the generator loss."""

    name = "dpm"

    def __init__(self, config: DPMConfig | None = None, features: Callable[[Tensor], Tensor] | None = None, **kwargs):
        self.config = config or DPMConfig(**kwargs)
        self.features = features

    def generator_loss(self, ctx: GeneratorContext) -> Tensor:
        frozen = self.features if isinstance(self.features, torch.nn.Module) else ctx.model
        with frozen_parameters(frozen):
            phi = self.features(ctx.fake) if self.features is not None else ctx.model.perception_features(ctx.fake)
        if phi is None:
            raise ValueError(
                f"DPM: model family '{ctx.model.family}' gives no perception features; pass features=<callable>"
            )
        penalty = diversity_penalty(phi, ctx.z, form=self.config.form, scale=self.config.scale)
        ctx.log["dpm_penalty"] = float(penalty.detach())
        return self.config.weight * penalty
