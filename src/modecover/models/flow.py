"""RealNVP-style normalizing flow (docs/models.md; Dinh, Sohl-Dickstein & Bengio 2017).

A stack of coupling layers f = f_L o ... o f_1 maps data x (flattened to D values)
to z with exact log-likelihood

    log p(x) = log N(f(x); 0, I) + sum_l log |det d f_l / d y_{l-1}|.

Coupling layer l keeps the coordinates with ``mask_l = 1`` and transforms the others:

    y = m * x + (1 - m) * (x * exp(s) + t),    (s, t) = net_l(m * x),
    s = scale_l * tanh(raw_s)                   (tanh-bounded log-scales, learnable scale_l)

with log-det sum((1 - m) * s) (``coupling = "affine"``, the default), or, with ``coupling = "spline"``,

    y = m * x + (1 - m) * g(x; theta),          theta = net_l(m * x),

g a monotone rational-quadratic spline of each free coordinate (Durkan et al. 2019; ``bins``
bins on [-tail_bound, tail_bound], the identity outside: ``modecover.models.splines``) with
log-det sum over the free coordinates of log g'. Masks alternate between the two parities of the sum of a
coordinate's indices: (d,) -> d mod 2 for vectors, (c, h, w) -> (c + h + w) mod 2 for images
(a checkerboard), so that neighbouring pixels condition each other.

Training minimises mean_i(nll_i) with nll_i = -log p(x_i). Images are flattened; for discrete pixel
values set ``dequantize_noise`` to the width of one quantisation bin in the data's units
(e.g. 1/256 for 8-bit images scaled to [0, 1]): uniform noise of that width is added to
every training value (Theis et al. 2016), so the model fits a continuous density.
Sampling draws z ~ N(0, I_D) (through the latents hooks, like a generator's latents) and
applies the exact inverse; ``latent_generator()`` is that inverse, for MaGNET.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable

import torch
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
from modecover.models.splines import MAX_BINS, identity_derivative_parameter, rational_quadratic_spline
from modecover.plugins import Hooks

SAMPLE_CHUNK = 4096


@dataclass
class FlowConfig:
    data_shape: tuple[int, ...] = (2,)
    coupling_layers: int = 8
    hidden: int = 128  # width of each coupling network
    depth: int = 2  # hidden layers of each coupling network
    dequantize_noise: float = 0.0  # width of uniform noise added to training values (0: continuous data)
    coupling: str = "affine"  # "affine" (RealNVP) or "spline" (monotone rational-quadratic, Durkan et al. 2019)
    bins: int = 8  # spline coupling: bins K on [-tail_bound, tail_bound]
    tail_bound: float = 3.0  # spline coupling: B; the map is the identity outside [-B, B]
    lr: float = 1e-3
    adam_betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self):
        check_data_shape("flow", self.data_shape)
        self.data_shape = tuple(self.data_shape)
        for key in ("coupling_layers", "hidden", "depth", "bins"):
            require_int(self, "flow", key, minimum=1)
        if self.coupling not in COUPLINGS:
            raise ValueError(
                f"model 'flow': config key 'coupling' must be one of {sorted(COUPLINGS)}, got {self.coupling!r}"
            )
        if self.bins > MAX_BINS:
            raise ValueError(f"model 'flow': config key 'bins' must be an integer <= {MAX_BINS}, got {self.bins!r}")
        require_number(self, "flow", "tail_bound", minimum=0.0, strict=True)
        if math.prod(self.data_shape) < 2:
            raise ValueError(
                f"model 'flow': config key 'data_shape' must hold at least 2 values for coupling layers, "
                f"got {self.data_shape!r}"
            )
        require_number(self, "flow", "dequantize_noise", minimum=0.0)
        require_number(self, "flow", "lr", minimum=0.0, strict=True)
        check_adam_betas("flow", self.adam_betas)
        self.adam_betas = tuple(float(b) for b in self.adam_betas)


def parity_mask(data_shape: tuple[int, ...]) -> Tensor:
    """(prod(data_shape),) float mask: 1 where the sum of a coordinate's indices is even."""
    grids = torch.meshgrid(*[torch.arange(s) for s in data_shape], indexing="ij")
    return (sum(grids) % 2 == 0).to(torch.float32).reshape(-1)


class AffineCoupling(nn.Module):
    """One affine coupling layer with a fixed binary mask (module docstring)."""

    def __init__(self, mask: Tensor, hidden: int, depth: int):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.clone())
        self.net = mlp(dim, 2 * dim, hidden, depth, nn.SiLU)
        nn.init.zeros_(self.net[-1].weight)  # start at the identity map
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def _shift_and_log_scale(self, kept: Tensor) -> tuple[Tensor, Tensor]:
        raw_s, t = self.net(kept).chunk(2, dim=1)
        free = 1.0 - self.mask
        return t * free, self.scale * torch.tanh(raw_s) * free

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x -> (y, log|det|) with log|det| (B,)."""
        t, s = self._shift_and_log_scale(x * self.mask)
        return x * s.exp() + t, s.sum(dim=1)

    def inverse(self, y: Tensor) -> Tensor:
        t, s = self._shift_and_log_scale(y * self.mask)  # kept coordinates are unchanged by forward
        return (y - t) * (-s).exp()


class SplineCoupling(nn.Module):
    """One monotone rational-quadratic spline coupling layer (Durkan et al. 2019) with a fixed binary mask:

        y = m * x + (1 - m) * g(x; theta),    theta = net(m * x),

    g the elementwise spline of ``modecover.models.splines`` (K bins on [-B, B], the identity
    outside), log-det = sum over the free coordinates of log g'(x). The net's last layer starts
    at the parameters of the identity map, like the affine coupling's."""

    def __init__(self, mask: Tensor, hidden: int, depth: int, bins: int, tail_bound: float):
        super().__init__()
        dim = mask.numel()
        self.bins = bins
        self.tail_bound = float(tail_bound)
        self.register_buffer("mask", mask.clone())
        self.register_buffer("free", torch.nonzero(mask == 0).reshape(-1))  # the transformed coordinates
        self.net = mlp(dim, len(self.free) * (3 * bins - 1), hidden, depth, nn.SiLU)
        nn.init.zeros_(self.net[-1].weight)
        with torch.no_grad():  # equal bins, slope 1 at every knot: g is the identity
            bias = self.net[-1].bias.view(len(self.free), 3 * bins - 1)
            bias.zero_()
            bias[:, 2 * bins:] = identity_derivative_parameter()

    def _transform(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        raw = self.net(x * self.mask).view(x.shape[0], len(self.free), 3 * self.bins - 1)
        widths, heights, derivatives = raw.split([self.bins, self.bins, self.bins - 1], dim=-1)
        y, log_det = rational_quadratic_spline(x[:, self.free], widths, heights, derivatives, self.tail_bound,
                                               inverse=inverse)
        return x.index_copy(1, self.free, y), log_det.sum(dim=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x -> (y, log|det|) with log|det| (B,)."""
        return self._transform(x, inverse=False)

    def inverse(self, y: Tensor) -> Tensor:
        return self._transform(y, inverse=True)[0]  # kept coordinates are unchanged by forward


COUPLINGS = {"affine", "spline"}


class RealNVP(nn.Module):
    """Alternating-mask coupling stack on flattened vectors: ``forward`` x -> (z, log|det|), ``inverse`` z -> x.

    ``coupling`` picks the layer: ``"affine"`` (RealNVP) or ``"spline"`` (rational-quadratic, with
    ``bins`` and ``tail_bound``)."""

    def __init__(self, data_shape: tuple[int, ...], layers: int, hidden: int, depth: int,
                 coupling: str = "affine", bins: int = 8, tail_bound: float = 3.0):
        super().__init__()
        mask = parity_mask(data_shape)

        def layer(m: Tensor) -> nn.Module:
            if coupling == "spline":
                return SplineCoupling(m, hidden, depth, bins, tail_bound)
            return AffineCoupling(m, hidden, depth)

        self.layers = nn.ModuleList(layer(mask if i % 2 == 0 else 1.0 - mask) for i in range(layers))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_det = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x, layer_log_det = layer(x)
            log_det = log_det + layer_log_det
        return x, log_det

    def inverse(self, z: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


class _Inverse(nn.Module):
    """z (B, D) -> x (B, *data_shape): the flow's inverse as a module (for MaGNET's Jacobians)."""

    def __init__(self, flow: RealNVP, data_shape: tuple[int, ...]):
        super().__init__()
        self.flow = flow
        self.data_shape = tuple(data_shape)

    def forward(self, z: Tensor) -> Tensor:
        return self.flow.inverse(z).reshape(-1, *self.data_shape)


class Flow(GenerativeModel):
    """RealNVP flow trained by weighted exact maximum likelihood."""

    family = "flow"
    hooks_called = frozenset({"prior_dim", "latents"})  # in sample() only; the likelihood uses no hook

    def __init__(self, config: FlowConfig, plugin_parameters: Iterable[nn.Parameter] = ()):
        super().__init__(dataclasses.asdict(config))
        self.settings = config
        self.dim = math.prod(config.data_shape)
        self.flow = RealNVP(tuple(config.data_shape), config.coupling_layers, config.hidden, config.depth,
                            config.coupling, config.bins, config.tail_bound)
        self.plugin_parameters = list(plugin_parameters)
        self._optimizer = torch.optim.Adam(
            list(self.parameters()) + self.plugin_parameters, lr=config.lr, betas=config.adam_betas
        )

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density of x (B, *data_shape), (B,), in nats."""
        z, log_det = self.flow(x.reshape(x.shape[0], -1))
        log_base = -0.5 * (z.square().sum(dim=1) + self.dim * math.log(2.0 * math.pi))
        return log_base + log_det

    def train_step(self, real: Tensor, hooks: Hooks | None, step: int) -> dict[str, float]:
        """One Adam step on mean_i(nll_i); dequantisation noise is added here when configured."""
        self.train()
        x = check_real_batch("flow", real, self.settings.data_shape, self._device_dtype())
        if self.settings.dequantize_noise > 0:
            x = x + self.settings.dequantize_noise * torch.rand_like(x)
        nll = -self.log_prob(x)
        loss = nll.mean()
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        return {"loss": loss.item(), "nll": nll.mean().item(),
                "bits_per_dim": nll.mean().item() / (self.dim * math.log(2.0))}

    @torch.no_grad()
    def sample(self, n: int, hooks: Hooks | None = None) -> Tensor:
        """Inverse flow of z ~ N(0, I_D) passed through ``hooks.latents``, (n, *data_shape)."""
        check_sample_count(n)
        device, dtype = self._device_dtype()
        hooks = hooks if hooks is not None else Hooks()
        generator = _Inverse(self.flow, self.settings.data_shape)
        chunks = []
        for start in range(0, n, SAMPLE_CHUNK):
            z = torch.randn(min(SAMPLE_CHUNK, n - start), hooks.prior_dim(self.dim), device=device, dtype=dtype)
            chunks.append(generator(hooks.latents(z, self.dim).to(device, dtype)))
        return torch.cat(chunks) if chunks else torch.empty(0, *self.settings.data_shape, device=device, dtype=dtype)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"flow": self._optimizer}

    def latent_generator(self):
        return _Inverse(self.flow, self.settings.data_shape), self.dim

    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        p = next(self.parameters())
        return p.device, p.dtype


__all__ = ["AffineCoupling", "Flow", "FlowConfig", "RealNVP", "SplineCoupling", "parity_mask"]
