"""Small DDPM (docs/models.md; Ho, Jain & Abbeel 2020; cosine schedule of Nichol & Dhariwal 2021).

Forward process q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), abar_t = prod_{s<=t} (1 - beta_s),
t = 1..T. A network eps_theta(x_t, t) predicts the noise; the per-sample loss is

    loss_i = mean_d (eps_theta(sqrt(abar_t) x_i + sqrt(1 - abar_t) eps, t) - eps)^2,  t ~ U{1..T}

(Ho et al.'s "simple" objective, Eq. 14) and the batch loss is mean_i(loss_i).

Schedules (``schedule``, default cosine):

- ``linear``: beta from 1e-4 to 0.02 at T = 1000 (Ho et al.), rescaled by 1000/T for shorter
  chains (as Nichol & Dhariwal do), so that abar_T stays near 0 with T ~ 100-200;
- ``cosine``: abar_t = f(t)/f(0), f(t) = cos^2(((t/T) + s)/(1 + s) * pi/2), s = 0.008, betas
  clipped at 0.999 (Nichol & Dhariwal, Eq. 17).

Sampling is ancestral (Ho et al., Algorithm 2) from x_T ~ N(0, I):
x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_theta) / sqrt(alpha_t) + sigma_t z, with
sigma_t^2 = beta_t ("beta") or the posterior variance beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)
("posterior", default); no noise at the last step. Samples are stochastic all the way
down, so the family has no deterministic latent map: ``latent_generator()`` is None and
the latents hooks do not apply.

Sampling uses an exponential moving average of the denoiser's weights (``ema_decay``,
Ho et al. use 0.9999 over 800k steps; 0.995 suits the few thousand steps of a CPU run; 0
samples with the trained weights). The average is part of the model's state (checkpoints).

Networks: for vectors an MLP on [x, time embedding]; for images (C, H, W) a small
residual conv net at full resolution with the time embedding added per channel in every
block. The time embedding is sinusoidal (Vaswani et al.) followed by a 2-layer MLP.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor, nn

from modecover._checks import real_in_range
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

SAMPLE_CHUNK = 4096


def linear_betas(timesteps: int) -> Tensor:
    """Ho et al.'s linear schedule (1e-4 .. 0.02 at T = 1000), rescaled by 1000/T. float64 (T,)."""
    scale = 1000.0 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)


def cosine_betas(timesteps: int, s: float = 0.008) -> Tensor:
    """Nichol & Dhariwal's cosine schedule, betas clipped at 0.999. float64 (T,)."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2).square()
    abar = f / f[0]
    return (1.0 - abar[1:] / abar[:-1]).clamp(max=0.999)


SCHEDULES: dict[str, Callable[[int], Tensor]] = {"linear": linear_betas, "cosine": cosine_betas}
SAMPLING_VARIANCES = ("posterior", "beta")


@dataclass
class DiffusionConfig:
    data_shape: tuple[int, ...] = (2,)
    timesteps: int = 100  # T
    schedule: str = "cosine"  # "cosine" or "linear"
    sampling_variance: str = "posterior"  # sigma_t^2: "posterior" (beta~_t) or "beta" (beta_t)
    hidden: int = 128  # MLP width (vectors)
    depth: int = 3  # hidden layers (vectors) / residual blocks (images)
    channels: int = 32  # conv width (images)
    time_embedding: int = 32  # sinusoidal embedding size
    ema_decay: float = 0.995  # exponential moving average of the weights used for sampling; 0 = off
    lr: float = 1e-3
    adam_betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self):
        check_data_shape("diffusion", self.data_shape)
        self.data_shape = tuple(self.data_shape)
        for key in ("hidden", "depth", "channels"):
            require_int(self, "diffusion", key, minimum=1)
        require_int(self, "diffusion", "timesteps", minimum=2)
        require_int(self, "diffusion", "time_embedding", minimum=2)
        if self.time_embedding % 2:
            raise ValueError(
                f"model 'diffusion': config key 'time_embedding' must be even (sin and cos halves), "
                f"got {self.time_embedding!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"model 'diffusion': config key 'schedule' must be one of {sorted(SCHEDULES)}, got {self.schedule!r}"
            )
        if self.sampling_variance not in SAMPLING_VARIANCES:
            raise ValueError(
                f"model 'diffusion': config key 'sampling_variance' must be one of {list(SAMPLING_VARIANCES)}, "
                f"got {self.sampling_variance!r}"
            )
        require_number(self, "diffusion", "lr", minimum=0.0, strict=True)
        real_in_range(self.ema_decay, "model 'diffusion': config key 'ema_decay'", 0.0, 1.0, high_open=True)
        check_adam_betas("diffusion", self.adam_betas)
        self.adam_betas = tuple(float(b) for b in self.adam_betas)


class TimeEmbedding(nn.Module):
    """Integer steps (B,) -> (B, out_dim): sinusoidal features, then Linear-SiLU-Linear."""

    def __init__(self, size: int, out_dim: int):
        super().__init__()
        half = size // 2
        self.register_buffer("frequencies", torch.exp(-math.log(10_000.0) * torch.arange(half) / half))
        self.net = nn.Sequential(nn.Linear(size, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: Tensor) -> Tensor:
        angles = t.to(self.frequencies.dtype)[:, None] * self.frequencies[None, :]
        return self.net(torch.cat([angles.sin(), angles.cos()], dim=1))


class VectorDenoiser(nn.Module):
    """eps_theta for (B, D) vectors: MLP on [x_t, embed(t)]."""

    def __init__(self, dim: int, hidden: int, depth: int, time_embedding: int):
        super().__init__()
        self.embed = TimeEmbedding(time_embedding, hidden)
        self.net = mlp(dim + hidden, dim, hidden, depth, nn.SiLU)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(torch.cat([x, self.embed(t)], dim=1))


class ResidualConvBlock(nn.Module):
    """h + conv(SiLU(conv(SiLU(h)) + time per channel)), GroupNorm before each conv."""

    def __init__(self, channels: int, time_dim: int):
        super().__init__()
        groups = math.gcd(8, channels)
        self.norm1, self.conv1 = nn.GroupNorm(groups, channels), nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(groups, channels), nn.Conv2d(channels, channels, 3, padding=1)
        self.time = nn.Linear(time_dim, channels)
        self.act = nn.SiLU()

    def forward(self, h: Tensor, temb: Tensor) -> Tensor:
        r = self.conv1(self.act(self.norm1(h))) + self.time(temb)[:, :, None, None]
        return h + self.conv2(self.act(self.norm2(r)))


class ConvDenoiser(nn.Module):
    """eps_theta for (B, C, H, W) images: conv in, residual blocks with time, conv out."""

    def __init__(self, in_channels: int, channels: int, depth: int, time_embedding: int):
        super().__init__()
        time_dim = 4 * channels
        self.embed = TimeEmbedding(time_embedding, time_dim)
        self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.ModuleList(ResidualConvBlock(channels, time_dim) for _ in range(depth))
        self.conv_out = nn.Sequential(nn.GroupNorm(math.gcd(8, channels), channels), nn.SiLU(),
                                      nn.Conv2d(channels, in_channels, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        temb = self.embed(t)
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h, temb)
        return self.conv_out(h)


class Diffusion(GenerativeModel):
    """DDPM with eps prediction and ancestral sampling (module docstring)."""

    family = "diffusion"
    hooks_called = frozenset()  # no latents; the denoising loss uses no hook

    def __init__(self, config: DiffusionConfig, plugin_parameters: Iterable[nn.Parameter] = ()):
        super().__init__(dataclasses.asdict(config))
        self.settings = config
        shape = tuple(config.data_shape)
        if len(shape) == 1:
            self.denoiser = VectorDenoiser(shape[0], config.hidden, config.depth, config.time_embedding)
        else:
            self.denoiser = ConvDenoiser(shape[0], config.channels, config.depth, config.time_embedding)
        betas = SCHEDULES[config.schedule](config.timesteps)
        abar = torch.cumprod(1.0 - betas, dim=0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        # index i holds step t = i + 1; buffers are float64 and cast at use
        self.register_buffer("betas", betas)
        self.register_buffer("alpha_bars", abar)
        self.register_buffer("posterior_variances", betas * (1.0 - abar_prev) / (1.0 - abar))
        self.plugin_parameters = list(plugin_parameters)
        self._optimizer = torch.optim.Adam(
            list(self.denoiser.parameters()) + self.plugin_parameters, lr=config.lr, betas=config.adam_betas
        )
        # the averaged weights sample; without averaging the trained denoiser does
        self.ema_denoiser = copy.deepcopy(self.denoiser).requires_grad_(False) if config.ema_decay > 0 else None

    def per_sample_loss(self, x0: Tensor) -> Tensor:
        """mean_d (eps_theta(x_t, t) - eps)^2 per sample, t ~ U{1..T}, (B,)."""
        b = x0.shape[0]
        index = torch.randint(0, self.settings.timesteps, (b,), device=x0.device)
        abar = self.alpha_bars[index].to(x0.dtype).reshape(b, *([1] * (x0.ndim - 1)))
        eps = torch.randn_like(x0)
        x_t = abar.sqrt() * x0 + (1.0 - abar).sqrt() * eps
        return (self.denoiser(x_t, index + 1) - eps).square().flatten(1).mean(dim=1)

    def train_step(self, real: Tensor, hooks: Hooks | None, step: int) -> dict[str, float]:
        """One Adam step on the batch mean of the per-sample loss; the hooks have no say in the denoising loss."""
        self.train()
        x = check_real_batch("diffusion", real, self.settings.data_shape, self._device_dtype())
        loss_i = self.per_sample_loss(x)
        loss = loss_i.mean()
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        self._update_ema()
        return {"loss": loss.item(), "mse": loss_i.mean().item()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema_denoiser is None:
            return
        for averaged, current in zip(self.ema_denoiser.parameters(), self.denoiser.parameters()):
            averaged.lerp_(current, 1.0 - self.settings.ema_decay)

    def sampling_denoiser(self) -> nn.Module:
        """The network ancestral sampling uses: the weight average when ``ema_decay > 0``."""
        return self.denoiser if self.ema_denoiser is None else self.ema_denoiser

    @torch.no_grad()
    def sample(self, n: int, hooks: Hooks | None = None) -> Tensor:
        """Ancestral sampling from x_T ~ N(0, I), (n, *data_shape); ``hooks`` are not used (no latents)."""
        check_sample_count(n)
        device, dtype = self._device_dtype()
        chunks = [self._ancestral(min(SAMPLE_CHUNK, n - start), device, dtype) for start in range(0, n, SAMPLE_CHUNK)]
        return torch.cat(chunks) if chunks else torch.empty(0, *self.settings.data_shape, device=device, dtype=dtype)

    def _ancestral(self, n: int, device, dtype) -> Tensor:
        was_training = self.training
        self.eval()
        variances = self.posterior_variances if self.settings.sampling_variance == "posterior" else self.betas
        x = torch.randn(n, *self.settings.data_shape, device=device, dtype=dtype)
        denoiser = self.sampling_denoiser()
        try:
            for i in reversed(range(self.settings.timesteps)):
                beta, abar = float(self.betas[i]), float(self.alpha_bars[i])
                t = torch.full((n,), i + 1, device=device, dtype=torch.long)
                eps = denoiser(x, t)
                x = (x - beta / math.sqrt(1.0 - abar) * eps) / math.sqrt(1.0 - beta)
                if i > 0:
                    x = x + math.sqrt(float(variances[i])) * torch.randn_like(x)
        finally:
            self.train(was_training)
        return x

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"diffusion": self._optimizer}

    def latent_generator(self):
        return None

    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        p = next(self.denoiser.parameters())
        return p.device, p.dtype


__all__ = ["Diffusion", "DiffusionConfig", "cosine_betas", "linear_betas"]
