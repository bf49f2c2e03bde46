"""LDMD: local data-manifold detector, divide-and-conquer GAN training (docs/methods.md).

Memory bank S of real features; rho_i = distance from real i to its k-th nearest real
(self excluded). For fake j, N_k(j) are its k nearest reals. Real i in N_k(j) *meets
Eq. 5* when d(fake j, real i) < rho_i; m_j is how many do, and fake j is a reliable fake
image (RFI) iff m_j >= 1, otherwise non-reliable (nRFI).

Eq. 5's second line, d(x_i, x^_j) < D_max(N_k^j), is read as "i is one of the k nearest
reals of j" (the paper's prose); taken literally with '<' it would always exclude the
k-th neighbour itself. Ties in N_k(j) go to the lower bank index (the neighbour engine's
rule).

Generator step only (D is unchanged), two extra terms, each normalised by the batch
size b like the base loss (so a fake's term weighs as much as its base term):

* RFI reuse (Eq. 6-7): (1/b) sum_{j in RFI} w_j * l_G(D(G(z_j))), w_j = 1 + sigmoid(m_j).
  The paper's log(1 - w * D) is undefined once w * D >= 1; the per-sample generator loss
  is weighted instead.
* nRFI replay (Eq. 8): (1/b) sum_{j in nRFI} l_G(D(G(z_j + delta_j))),
  delta ~ N(mu_delta, sigma_delta^2 I), defaults mu_delta = 0, sigma_delta = 0.5 (the
  paper calls 0.5 both a mean and a variance; both are configurable). Replayed once, as
  a full batch through G and D (nRFI rows perturbed, RFI rows unchanged but not counted)
  so that batch-norm layers see batch statistics like those of the normal step.

The share of reliable fakes is logged per step as ``ldmd_rfi_share``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from modecover._checks import check_k, check_same_dim, positive_int, real_in_range
from modecover.plugins import GeneratorContext, Plugin

FeatureFn = Callable[[Tensor], Tensor]


class LocalManifoldDetector:
    """Bank of real features with their k-NN radii; splits fakes into RFI / nRFI (Eq. 5)."""

    def __init__(self, bank, k: int = 5):
        from modecover.neighbors import as_points, unchecked

        self.bank = as_points(bank, "LDMD memory bank")
        check_k(k, self.bank.shape[0], "LDMD memory bank")
        self.k = int(k)
        dist, _ = unchecked.knn(self.bank, None, self.k)  # checked above
        self.radii = np.asarray(dist[:, -1], dtype=np.float64).copy()

    def __call__(self, fake_features) -> tuple[np.ndarray, np.ndarray]:
        """(reliable bool (B,), m int64 (B,)) for a batch of fake features."""
        from modecover.neighbors import as_points, unchecked

        fake = as_points(fake_features, "LDMD fake features")
        check_same_dim(fake, self.bank, "LDMD fake features", "LDMD memory bank")
        dist, idx = unchecked.knn(fake, self.bank, self.k)  # the bank has k + 1 points or more
        m = (np.asarray(dist) < self.radii[np.asarray(idx)]).sum(axis=1).astype(np.int64)
        return m >= 1, m


def flatten_features(x: Tensor) -> Tensor:
    """Default LDMD feature extractor: the raw sample, flattened."""
    return x.reshape(x.shape[0], -1)


@dataclass
class LDMDConfig:
    k: int = 5
    replay_mean: float = 0.0  # mu_delta
    replay_std: float = 0.5  # sigma_delta
    refresh_every: int | None = None  # rebuild the bank every N steps (model-dependent features)
    feature_batch: int = 1024

    def __post_init__(self):
        for key in ("k", "refresh_every", "feature_batch"):
            value = getattr(self, key)
            if not (key == "refresh_every" and value is None):
                positive_int(value, f"{WHERE}: '{key}'")
        real_in_range(self.replay_mean, f"{WHERE}: 'replay_mean'")
        real_in_range(self.replay_std, f"{WHERE}: 'replay_std'", 0)


WHERE = "[[methods]] 'ldmd'"  # how errors name the method's table


class LDMD(Plugin):
    """RFI reuse + nRFI replay on the generator step.

    ``real``: the training samples (N, ...) the bank is built from. ``features``: a
    callable x -> (B, f), default the flattened sample; the string ``"perception"`` uses
    ``model.perception_features`` (the discriminator's features), in which case the bank
    is rebuilt every ``refresh_every`` steps (required) because D changes as it trains.
    """

    name = "ldmd"

    def __init__(self, real: Tensor, config: LDMDConfig | None = None, features: FeatureFn | str | None = None,
                 **kwargs):
        self.config = config or LDMDConfig(**kwargs)
        self.real = torch.as_tensor(real)
        check_k(self.config.k, self.real.shape[0], "LDMD memory bank (real samples)")
        if features == "perception" and self.config.refresh_every is None:
            raise ValueError("LDMD with features='perception' needs refresh_every (the discriminator changes)")
        if isinstance(features, str) and features != "perception":
            raise ValueError(f"LDMD features must be a callable, None or 'perception', got {features!r}")
        self.features = features
        self.detector: LocalManifoldDetector | None = None
        self.built_at: int | None = None

    def _extract(self, model, x: Tensor) -> Tensor:
        if self.features == "perception":
            out = model.perception_features(x)
            if out is None:
                raise ValueError(f"LDMD: model family '{model.family}' gives no perception features")
            return out
        return (self.features or flatten_features)(x)

    def _bank_features(self, model, device) -> np.ndarray:
        chunks = []
        with torch.no_grad():
            for start in range(0, self.real.shape[0], self.config.feature_batch):
                batch = self.real[start : start + self.config.feature_batch].to(device)
                chunks.append(self._extract(model, batch).reshape(batch.shape[0], -1).cpu())
        return torch.cat(chunks).numpy()

    def detector_for(self, model, step: int, device) -> LocalManifoldDetector:
        stale = self.detector is None or (
            self.config.refresh_every is not None and step - self.built_at >= self.config.refresh_every
        )
        if stale:
            self.detector = LocalManifoldDetector(self._bank_features(model, device), self.config.k)
            self.built_at = step
        return self.detector

    def split(self, ctx: GeneratorContext) -> tuple[np.ndarray, np.ndarray]:
        detector = self.detector_for(ctx.model, ctx.step, ctx.fake.device)
        with torch.no_grad():
            fake_features = self._extract(ctx.model, ctx.fake.detach())
        return detector(fake_features.reshape(ctx.fake.shape[0], -1))

    def generator_loss(self, ctx: GeneratorContext) -> Tensor:
        reliable, m = self.split(ctx)
        b = ctx.fake.shape[0]
        ctx.log["ldmd_rfi_share"] = float(reliable.mean())
        device = ctx.per_sample_loss.device
        reliable_t = torch.as_tensor(reliable, device=device)
        weights = 1 + torch.sigmoid(torch.as_tensor(m, dtype=ctx.per_sample_loss.dtype, device=device))
        reuse = (ctx.per_sample_loss * weights * reliable_t).sum() / b
        if reliable.all():
            return reuse
        # The whole batch goes through G again (nRFI rows perturbed, the rest as they were)
        # so that batch-norm statistics match the normal step; only nRFI rows count.
        z = ctx.z.detach()
        delta = self.config.replay_mean + self.config.replay_std * torch.randn_like(z)
        nrfi = ~reliable_t.reshape((-1,) + (1,) * (z.ndim - 1))
        replayed = ctx.model.generator(torch.where(nrfi, z + delta, z))
        replay = ctx.model.generator_loss_per_sample(ctx.model.discriminate(replayed))
        return reuse + (replay * ~reliable_t).sum() / b

    def state_dict(self) -> dict[str, Any]:
        return {}
