"""Log-cosh VAE (docs/models.md; the DMPRA paper's LogcoshVAE baseline, Chen et al. 2018).

Per sample, the loss is the negative ELBO with a log-cosh reconstruction term:

    loss_i = sum_d (1/a) log cosh(a (x_hat_id - x_id)) + beta * KL(q(z|x_i) || N(0, I))

``a`` is ``logcosh_alpha`` (default 10; public reimplementations use 10 or 100): the term is ~ a r^2 / 2 for small
residuals r and ~ |r| for large ones. ``beta`` weighs the KL term (beta = 1 is the plain
ELBO; sharp 2-D mixtures such as the ring need a small beta, see docs/models.md).
The batch loss is ``mean_i(loss_i)``.

Networks: an MLP encoder/decoder for vectors (``data_shape=(D,)``) and a small
strided-conv encoder with a transposed-conv decoder for images (``data_shape=(C, H, W)``).
Sampling draws the prior, passes it through the latents hooks (CFT, mean rescaling, ...)
and returns the decoder's mean, without observation noise. ``latent_generator()`` is the
decoder, for MaGNET. The ELBO does not pass through the prior path, so plug-in parameters
(a CFT layer) sit in the optimizer but only move if some loss reaches them.

The small helpers at the bottom (config checks, batch checks, the weighted mean) are
shared with the flow and diffusion families.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modecover.models.base import GenerativeModel
from modecover.models.common import (
    check_adam_betas,
    check_data_shape,
    check_real_batch,
    check_sample_count,
    require_int,
    require_number,
)
from modecover.models.nets import mlp
from modecover.plugins import Hooks

OUTPUT_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "none": nn.Identity,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
SAMPLE_CHUNK = 4096  # samples drawn per decoder call


@dataclass
class VAEConfig:
    data_shape: tuple[int, ...] = (2,)
    latent_dim: int = 2
    hidden: int = 128  # MLP width (vectors)
    depth: int = 2  # hidden layers per MLP (vectors)
    channels: int = 32  # first conv width (images); doubles at each halving
    beta: float = 1.0  # KL weight
    logcosh_alpha: float = 10.0  # a in (1/a) log cosh(a r)
    output_activation: str = "none"  # "none", "tanh" (data in [-1, 1]) or "sigmoid" (data in [0, 1])
    lr: float = 1e-3
    adam_betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self):
        check_data_shape("vae", self.data_shape)
        self.data_shape = tuple(self.data_shape)
        for key in ("latent_dim", "hidden", "depth", "channels"):
            require_int(self, "vae", key, minimum=1)
        require_number(self, "vae", "beta", minimum=0.0)
        require_number(self, "vae", "logcosh_alpha", minimum=0.0, strict=True)
        require_number(self, "vae", "lr", minimum=0.0, strict=True)
        check_adam_betas("vae", self.adam_betas)
        self.adam_betas = tuple(float(b) for b in self.adam_betas)
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"model 'vae': config key 'output_activation' must be one of {sorted(OUTPUT_ACTIVATIONS)}, "
                f"got {self.output_activation!r}"
            )


def logcosh(residual: Tensor, alpha: float) -> Tensor:
    """(1/alpha) log cosh(alpha r), elementwise, without overflow: |t| + log(1 + e^{-2|t|}) - log 2."""
    t = (alpha * residual).abs()
    return (t + F.softplus(-2.0 * t) - math.log(2.0)) / alpha


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample, (B,)."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


def halvings(height: int, width: int, smallest: int = 4) -> int:
    """How many stride-2 halvings keep both sides even and at least ``smallest``."""
    n = 0
    while height % 2 == 0 and width % 2 == 0 and height // 2 >= smallest and width // 2 >= smallest:
        height, width, n = height // 2, width // 2, n + 1
    return n


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_dim): a 3x3 conv, then stride-2 4x4 convs doubling the width."""

    def __init__(self, data_shape: tuple[int, int, int], channels: int, out_dim: int):
        super().__init__()
        c, h, w = data_shape
        n = halvings(h, w)
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        width = channels
        for _ in range(n):
            layers += [nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            width *= 2
        layers.append(nn.Flatten())
        layers.append(nn.Linear(width * (h >> n) * (w >> n), out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """(B, latent_dim) -> (B, C, H, W): mirror of :class:`ConvEncoder` with transposed convs."""

    def __init__(self, data_shape: tuple[int, int, int], channels: int, latent_dim: int, output: nn.Module):
        super().__init__()
        c, h, w = data_shape
        n = halvings(h, w)
        width = channels * 2**n
        self.start_shape = (width, h >> n, w >> n)
        self.project = nn.Linear(latent_dim, width * (h >> n) * (w >> n))
        layers: list[nn.Module] = [nn.LeakyReLU(0.2)]
        for _ in range(n):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            width //= 2
        layers += [nn.Conv2d(width, c, 3, padding=1), output]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).reshape(-1, *self.start_shape))


class VectorDecoder(nn.Module):
    """(B, latent_dim) -> (B, D) MLP with the configured output activation."""

    def __init__(self, latent_dim: int, dim: int, hidden: int, depth: int, output: nn.Module):
        super().__init__()
        self.net = nn.Sequential(mlp(latent_dim, dim, hidden, depth, nn.SiLU), output)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class VAE(GenerativeModel):
    """Log-cosh VAE with a diagonal Gaussian posterior and a standard normal prior."""

    family = "vae"
    hooks_called = frozenset({"prior_dim", "latents"})  # in sample() only; the ELBO uses no hook

    def __init__(self, config: VAEConfig, plugin_parameters: Iterable[nn.Parameter] = ()):
        super().__init__(dataclasses.asdict(config))
        self.settings = config
        shape = tuple(config.data_shape)
        output = OUTPUT_ACTIVATIONS[config.output_activation]()
        if len(shape) == 1:
            self.encoder = mlp(shape[0], 2 * config.latent_dim, config.hidden, config.depth, nn.SiLU)
            self.decoder = VectorDecoder(config.latent_dim, shape[0], config.hidden, config.depth, output)
        else:
            self.encoder = ConvEncoder(shape, config.channels, 2 * config.latent_dim)
            self.decoder = ConvDecoder(shape, config.channels, config.latent_dim, output)
        self.plugin_parameters = list(plugin_parameters)
        self._optimizer = torch.optim.Adam(
            list(self.parameters()) + self.plugin_parameters, lr=config.lr, betas=config.adam_betas
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def per_sample_loss(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(loss, reconstruction, kl), each (B,), with one reparametrised posterior draw."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        reconstruction = logcosh(self.decoder(z) - x, self.settings.logcosh_alpha).flatten(1).sum(dim=1)
        kl = gaussian_kl(mu, logvar)
        return reconstruction + self.settings.beta * kl, reconstruction, kl

    def train_step(self, real: Tensor, hooks: Hooks | None, step: int) -> dict[str, float]:
        """One Adam step on the batch mean of the per-sample loss; the hooks have no say in the ELBO."""
        self.train()
        x = check_real_batch("vae", real, self.settings.data_shape, self._device_dtype())
        loss_i, reconstruction, kl = self.per_sample_loss(x)
        loss = loss_i.mean()
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        return {"loss": loss.item(), "reconstruction": reconstruction.mean().item(), "kl": kl.mean().item()}

    @torch.no_grad()
    def sample(self, n: int, hooks: Hooks | None = None) -> Tensor:
        """Decoder means of prior draws passed through ``hooks.latents``, (n, *data_shape)."""
        check_sample_count(n)
        device, dtype = self._device_dtype()
        hooks = hooks if hooks is not None else Hooks()
        chunks = []
        for start in range(0, n, SAMPLE_CHUNK):
            z = torch.randn(min(SAMPLE_CHUNK, n - start), hooks.prior_dim(self.settings.latent_dim), device=device,
                            dtype=dtype)
            chunks.append(self.decoder(hooks.latents(z, self.settings.latent_dim).to(device, dtype)))
        return torch.cat(chunks) if chunks else torch.empty(0, *self.settings.data_shape, device=device, dtype=dtype)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self._optimizer}

    def latent_generator(self):
        return self.decoder, self.settings.latent_dim

    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        p = next(self.parameters())
        return p.device, p.dtype


# ---------------------------------------------------------------------------------------
# Shared by the VAE, flow and diffusion families.
