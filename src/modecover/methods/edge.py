"""Edge loss (docs/methods.md; Song & Kim 2023, Eq. 3).

E(x) is the Sobel gradient magnitude of each channel of an image batch (B, C, H, W),
sqrt(gx^2 + gy^2 + eps) with the 3x3 Sobel kernels and edge-replicating borders (which,
for a 1-pixel border, is scipy.ndimage's default 'reflect' mode). eps = 1e-12 keeps the
gradient of the square root finite on flat regions.

The paper adds sum (G(z) - x)^2 of edges inside V(D, G); that term depends only on G,
so here it is a generator term weight * mean((E(G(z)) - E(x))^2):

* ``pairing="batch"`` (default): fake j is compared with real j of the batch;
* ``pairing="stats"``: the batch-mean edge maps are compared instead, since a fake and
  a real at the same batch position are not related.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from modecover._checks import is_real_number, method_option_error, no_op_error, real_in_range
from modecover.plugins import GeneratorContext, Plugin

Pairing = Literal["batch", "stats"]

_SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def sobel_magnitude(images: Tensor, eps: float = 1e-12) -> Tensor:
    """Per-channel Sobel gradient magnitude of (B, C, H, W) images, same shape."""
    if images.ndim != 4:
        raise ValueError(f"edge loss: expected images of shape (B, C, H, W), got shape {tuple(images.shape)}")
    b, c, h, w = images.shape
    if h < 2 or w < 2:
        raise ValueError(f"edge loss: images must be at least 2x2 pixels, got {h}x{w}")
    kx = _SOBEL_X.to(images)
    kernels = torch.stack([kx, kx.T]).unsqueeze(1)  # (2, 1, 3, 3)
    flat = F.pad(images.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(flat, kernels)  # (B*C, 2, H, W)
    return torch.sqrt((grads * grads).sum(dim=1) + eps).reshape(b, c, h, w)


def edge_loss(fake: Tensor, real: Tensor, *, pairing: Pairing = "batch") -> Tensor:
    """mean((E(fake) - E(real))^2), paired by batch position or by batch-mean maps."""
    if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"edge loss: fake images {tuple(fake.shape)} and real images {tuple(real.shape)} "
                         "differ in shape")
    edges_fake, edges_real = sobel_magnitude(fake), sobel_magnitude(real.to(fake))
    if pairing == "batch":
        if fake.shape[0] != real.shape[0]:
            raise ValueError(
                f"edge loss with pairing='batch' needs equal batch sizes, got {fake.shape[0]} fakes and "
                f"{real.shape[0]} reals; use pairing='stats'"
            )
        return ((edges_fake - edges_real) ** 2).mean()
    if pairing == "stats":
        return ((edges_fake.mean(0) - edges_real.mean(0)) ** 2).mean()
    raise ValueError(f"edge loss pairing must be 'batch' or 'stats', got {pairing!r}")


@dataclass
class EdgeLossConfig:
    weight: float = 1.0  # lambda
    pairing: Pairing = "batch"

    def __post_init__(self):
        if is_real_number(self.weight) and self.weight == 0:
            raise no_op_error("[[methods]] 'edge'", f"'weight' (lambda) = {self.weight!r}",
                              "its loss term is multiplied by 0", "leave the method out")
        real_in_range(self.weight, "[[methods]] 'edge': 'weight'", 0, low_open=True)
        if not (isinstance(self.pairing, str) and self.pairing in ("batch", "stats")):
            raise _refused("pairing", "'batch' or 'stats'", self.pairing)


def _refused(key: str, rule: str, value) -> ValueError:
    return method_option_error("edge", key, rule, value)


class EdgeLoss(Plugin):
    """Adds weight * edge_loss(G(z), x) to the generator loss."""

    name = "edge"

    def __init__(self, config: EdgeLossConfig | None = None, **kwargs):
        self.config = config or EdgeLossConfig(**kwargs)

    def generator_loss(self, ctx: GeneratorContext) -> Tensor:
        loss = edge_loss(ctx.fake, ctx.real, pairing=self.config.pairing)
        ctx.log["edge_loss"] = float(loss.detach())
        return self.config.weight * loss
