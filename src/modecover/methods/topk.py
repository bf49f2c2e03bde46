"""Top-k training (docs/methods.md; Sinha et al., NeurIPS 2020).

The generator loss uses only the k fakes of the batch that the discriminator finds most
real-looking (largest D output). k starts at the batch size b and decays once per epoch,
k <- max(gamma * k, nu * b), gamma = 0.99, nu = 0.5; in closed form at epoch e:
k_e = max(floor(gamma^e * b), ceil(nu * b)), at least 1. Ties in D are broken by lower
batch index. Implemented as per-sample generator weights: b/k on the kept fakes, 0 on
the rest, so a batch-mean loss becomes the mean over the kept k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from modecover._checks import int_in_range, is_real_number, no_op_error, positive_int, real_in_range
from modecover.plugins import GeneratorContext, Plugin


def topk_count(batch_size: int, epoch: int, gamma: float = 0.99, nu: float = 0.5) -> int:
    """k at ``epoch`` (0-based) for a batch of ``batch_size``."""
    positive_int(batch_size, "Top-k: batch_size")
    k = max(math.floor(gamma**epoch * batch_size + 1e-9), math.ceil(nu * batch_size - 1e-9))
    return max(1, min(batch_size, k))


def topk_mask(scores: Tensor, k: int) -> Tensor:
    """Boolean mask of the k largest scores; ties go to the lower index."""
    int_in_range(k, f"Top-k: k (of a batch of {scores.shape[0]})", 1, scores.shape[0])
    order = torch.sort(scores.detach().reshape(-1), descending=True, stable=True).indices
    mask = torch.zeros(scores.shape[0], dtype=torch.bool, device=scores.device)
    mask[order[:k]] = True
    return mask


@dataclass
class TopKConfig:
    steps_per_epoch: int = 100
    gamma: float = 0.99
    nu: float = 0.5

    def __post_init__(self):
        positive_int(self.steps_per_epoch, f"{WHERE}: 'steps_per_epoch'")
        for key in ("gamma", "nu"):
            value = getattr(self, key)
            if is_real_number(value) and value == 1:
                raise no_op_error(WHERE, f"'{key}' = {value!r}", "k stays at the batch size for ever",
                                  "use a value below 1 or leave the method out")
            real_in_range(value, f"{WHERE}: '{key}'", 0, 1, low_open=True, high_open=True)

    def check_schedule(self, train) -> None:
        """Refuse a ``nu`` that keeps k at the run's [train] batch size (called when a run config is read)."""
        if math.ceil(self.nu * train.batch_size - 1e-9) >= train.batch_size:
            raise no_op_error(WHERE, f"'nu' = {self.nu!r}",
                              f"k = ceil(nu * batch_size) stays at [train] batch_size = {train.batch_size}",
                              "lower nu or raise batch_size")


WHERE = "[[methods]] 'topk'"  # how errors name the method's table


class TopK(Plugin):
    """Per-sample generator weights that keep the k most real-looking fakes."""

    name = "topk"

    def __init__(self, config: TopKConfig | None = None, **kwargs):
        self.config = config or TopKConfig(**kwargs)

    def generator_weights(self, ctx: GeneratorContext) -> Tensor:
        b = ctx.d_fake.shape[0]
        k = topk_count(b, ctx.step // self.config.steps_per_epoch, self.config.gamma, self.config.nu)
        ctx.log["topk_k"] = float(k)
        return topk_mask(ctx.d_fake.reshape(b), k).to(ctx.per_sample_loss.dtype) * (b / k)
