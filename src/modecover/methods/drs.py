"""Discriminator rejection sampling (docs/methods.md; Azadi et al., ICLR 2019).

Post-hoc, on a trained GAN. With D~ the discriminator's logit and D~_M its maximum,

    F = D~ - D~_M - log(1 - exp(D~ - D~_M - eps)) - gamma,     accept with sigmoid(F)

D~_M is estimated as the max logit over a burn-in set of fakes and raised whenever a
later batch exceeds it (as in the authors' code), so D~ - D~_M - eps < 0 always and the
log is finite (computed as log(-expm1(.))). gamma is the 95th percentile of the first
three terms of F over each batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from modecover._checks import positive_int, real_in_range


@dataclass
class DRSConfig:
    burn_in: int = 10_000
    batch_size: int = 1000
    percentile: float = 95.0
    eps: float = 1e-6
    max_batches: int = 1000  # stop with an error instead of looping forever

    def __post_init__(self):
        for name in ("burn_in", "batch_size", "max_batches"):
            setattr(self, name, positive_int(getattr(self, name), f"DRS {name}"))
        real_in_range(self.percentile, "DRS percentile", 0, 100)
        real_in_range(self.eps, "DRS eps", 0, low_open=True)


def drs_scores(logits: np.ndarray, max_logit: float, *, eps: float = 1e-6, percentile: float = 95.0) -> np.ndarray:
    """F of each sample of a batch (float64); ``max_logit`` must be >= every logit."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if not np.isfinite(logits).all():
        raise ValueError("DRS: discriminator logits contain NaN or infinite values")
    if (logits > max_logit).any():
        raise ValueError(f"DRS: max_logit={max_logit} is below the largest logit {logits.max()}")
    shifted = logits - max_logit
    raw = shifted - np.log(-np.expm1(shifted - eps))
    return raw - np.percentile(raw, percentile)


def drs_accept_probability(scores: np.ndarray) -> np.ndarray:
    """sigmoid(F), computed without overflow."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(scores, dtype=np.float64)))


def drs_sample(
    generate: Callable[[int], Tensor],
    logit: Callable[[Tensor], Tensor],
    n: int,
    config: DRSConfig | None = None,
    *,
    seed: int = 0,
) -> Tensor:
    """Draw ``n`` samples: ``generate(b)`` makes b fakes, ``logit(x)`` gives D's logits."""
    config = config or DRSConfig()
    n = positive_int(n, "DRS: n")
    rng = np.random.default_rng(seed)

    def batch_logits(x: Tensor) -> np.ndarray:
        out = torch.as_tensor(logit(x)).detach()
        if out.reshape(-1).shape[0] != x.shape[0]:
            raise ValueError(
                f"DRS: logit(x) must give one logit per sample; it gave shape {tuple(out.shape)} for a batch of "
                f"{x.shape[0]} (a PacGAN discriminator scores whole packs; GAN.discriminate gives one score per sample)"
            )
        return out.reshape(-1).cpu().double().numpy()

    with torch.no_grad():
        max_logit = -np.inf
        for start in range(0, config.burn_in, config.batch_size):
            max_logit = max(max_logit, batch_logits(generate(min(config.batch_size, config.burn_in - start))).max())
        kept, total = [], 0
        for _ in range(config.max_batches):
            x = generate(config.batch_size)
            logits = batch_logits(x)
            max_logit = max(max_logit, logits.max())
            accept = rng.random(logits.shape[0]) < drs_accept_probability(
                drs_scores(logits, max_logit, eps=config.eps, percentile=config.percentile)
            )
            kept.append(x[torch.as_tensor(accept, device=x.device)])
            total += int(accept.sum())
            if total >= n:
                return torch.cat(kept)[:n]
    raise ValueError(f"DRS accepted only {total} of {n} samples in max_batches={config.max_batches} batches")
