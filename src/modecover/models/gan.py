"""The GAN family: MLP (vectors) or DCGAN-style (8x8 to 32x32 images) networks, the
non-saturating, hinge and WGAN-GP objectives, and PacGAN packing (docs/models.md).

One :meth:`GAN.train_step` calls the plug-in hooks in the order fixed by ``plugins.py``:

1. ``d_steps`` discriminator steps, each on the same real batch and fresh fakes
   (prior -> ``hooks.latents`` -> G, without gradients): loss =
   mean(real_term(D(x))) + mean(fake_term(D(G(z)))) [+ gradient penalty]
   + ``hooks.discriminator_loss(ctx)``.
2. one generator step: prior z of ``hooks.prior_dim(latent_dim)`` -> ``hooks.latents`` -> G
   -> D -> per-sample generator loss, times ``hooks.generator_weights(ctx)`` (if any),
   batch mean, plus ``hooks.generator_loss(ctx)``. Only G and the plug-in parameters
   step; D's parameters take no gradient from this step.

The scalars the hooks put in ``ctx.log`` are merged into the returned log.

**PacGAN** (Lin et al. 2018), ``pack = m > 1``: D sees packs of m samples concatenated
along the feature (vectors) or channel (images) axis. A batch of B samples is cut into
consecutive packs ``[0..m-1], [m..2m-1], ...``; when B is not a multiple of m the last pack
is filled up cyclically with the batch's first samples (those copies' scores are dropped).
The *per-sample* score that :meth:`GAN.discriminate` returns, and that the hooks see as
``d_real`` / ``d_fake``, is the score of the sample's pack, repeated for each member; so the
batch mean of a per-sample loss equals the mean over packs, and a generator weight acts on the whole pack's
loss through that member's copy. :meth:`GAN.perception_features` of a single sample packs
it with m - 1 copies of itself (D's features of the pack ``(x, x, ..., x)``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import torch
from torch import Tensor, nn

from modecover._checks import is_integer, is_real_number, positive_int, real_in_range
from modecover.plugins import DiscriminatorContext, GeneratorContext, Hooks

from .base import GenerativeModel
from .common import check_real_batch, check_sample_count
from .losses import LOSSES, discriminator_loss, make_loss
from .nets import IMAGE_SIZES, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator

ARCHES = ("auto", "mlp", "dcgan")
OUTPUTS: dict[str, type[nn.Module]] = {"identity": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
SAMPLE_CHUNK = 4096


@dataclass
class GANConfig:
    """Hyper-parameters of a GAN; only JSON-able fields (stored in checkpoints).

    ``arch`` "auto" resolves to "mlp" for 1-D ``data_shape`` and "dcgan" for
    (channels, size, size) with size in 8, 16, 28, 32; ``output`` "auto" to "identity" (mlp)
    or "tanh" (dcgan: scale images to [-1, 1]). ``hidden``/``depth``: width and number of
    hidden layers of the MLPs, and the width of the DCGAN discriminator's feature layer;
    ``base_channels``: DCGAN channel width at full resolution. ``d_steps``:
    discriminator steps per generator step; ``pack``: PacGAN degree (1 = no packing).
    """

    data_shape: tuple[int, ...] = (2,)
    arch: str = "auto"
    latent_dim: int = 8
    hidden: int = 128
    depth: int = 3
    base_channels: int = 32
    output: str = "auto"
    loss: str = "ns"
    gp_weight: float = 10.0
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1
    pack: int = 1

    def __post_init__(self):
        shape = tuple(self.data_shape) if isinstance(self.data_shape, (list, tuple)) else None
        if not shape or not all(is_integer(s) and s >= 1 for s in shape):
            raise ValueError(f"GAN config 'data_shape' must be a non-empty list of positive integers, "
                             f"got {self.data_shape!r}")
        self.data_shape = tuple(int(s) for s in shape)
        if self.arch not in ARCHES:
            raise ValueError(f"GAN config 'arch' must be one of {ARCHES}, got {self.arch!r}")
        if self.arch == "auto":
            self.arch = "mlp" if len(shape) == 1 else "dcgan"
        if self.arch == "dcgan" and (len(shape) != 3 or shape[1] != shape[2] or shape[1] not in IMAGE_SIZES):
            raise ValueError(
                f"GAN config 'data_shape' {list(shape)} does not fit arch 'dcgan': "
                f"needs [channels, size, size] with size in {IMAGE_SIZES}"
            )
        if self.output not in ("auto", *OUTPUTS):
            raise ValueError(f"GAN config 'output' must be one of {['auto', *OUTPUTS]}, got {self.output!r}")
        if self.output == "auto":
            self.output = "identity" if self.arch == "mlp" else "tanh"
        for key in ("latent_dim", "hidden", "depth", "base_channels", "d_steps", "pack"):
            setattr(self, key, positive_int(getattr(self, key), f"GAN config '{key}'"))
        if self.loss not in LOSSES:
            raise ValueError(f"GAN config 'loss' must be one of {sorted(LOSSES)}, got {self.loss!r}")
        for key in ("lr_g", "lr_d"):
            real_in_range(getattr(self, key), f"GAN config '{key}'", 0, low_open=True)
        real_in_range(self.gp_weight, "GAN config 'gp_weight'", 0)
        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else ()
        if len(betas) != 2 or not all(is_real_number(b) and 0 <= b < 1 for b in betas):
            raise ValueError(f"GAN config 'betas' must be two numbers in [0, 1), got {self.betas!r}")
        self.betas = tuple(float(b) for b in betas)


def build_networks(config: GANConfig) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for a resolved config; D's input holds ``pack`` samples."""
    output = OUTPUTS[config.output]()
    if config.arch == "mlp":
        dim = 1
        for s in config.data_shape:
            dim *= s
        generator = MLPGenerator(config.latent_dim, dim, config.hidden, config.depth, output)
        discriminator = MLPDiscriminator(dim * config.pack, config.hidden, config.depth)
        return generator, discriminator
    channels, size, _ = config.data_shape
    generator = DCGANGenerator(config.latent_dim, config.data_shape, config.base_channels, output)
    packed_shape = (channels * config.pack, size, size)
    discriminator = DCGANDiscriminator(packed_shape, config.base_channels, config.hidden)
    return generator, discriminator


class _Reshape(nn.Module):
    """Generator wrapper giving outputs the configured ``data_shape`` (MLPs emit flat vectors)."""

    def __init__(self, net: nn.Module, shape: tuple[int, ...]):
        super().__init__()
        self.net = net
        self.shape = shape

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(z)
        return out.reshape(out.shape[0], *self.shape)


class _FrozenModule:
    """Context manager: no parameter of ``module`` takes gradients inside the block."""

    def __init__(self, module: nn.Module):
        self.params = [p for p in module.parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)


class GAN(GenerativeModel):
    """A GAN behind the :class:`GenerativeModel` protocol (see the module docstring).

    Attributes the method plug-ins use: ``generator`` (latents -> samples),
    ``discriminator`` (packed samples -> scores), :meth:`discriminate`,
    :meth:`generator_loss_per_sample`, :meth:`perception_features`, ``config["latent_dim"]``.
    """

    family = "gan"
    hooks_called = frozenset({"parameters", "prior_dim", "latents", "discriminator_loss", "generator_weights",
                              "generator_loss"})

    def __init__(self, config: GANConfig | None = None, plugin_parameters: Iterable[nn.Parameter] = ()):
        config = config or GANConfig()
        super().__init__(asdict(config))
        self.settings = config
        self.objective = make_loss(config.loss, config.gp_weight)
        generator, self.discriminator = build_networks(config)
        self.generator = _Reshape(generator, config.data_shape) if config.arch == "mlp" else generator
        plugin_parameters = list(plugin_parameters)
        self.opt_g = torch.optim.Adam([*self.generator.parameters(), *plugin_parameters], config.lr_g,
                                      betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), config.lr_d, betas=config.betas)

    # -- packing -------------------------------------------------------------------
    def pack(self, x: Tensor) -> Tensor:
        """(B, *data_shape) -> (ceil(B/m), m * first axis, ...) packs of m consecutive samples."""
        m = self.settings.pack
        b = x.shape[0]
        packs = -(-b // m)
        if packs * m != b:
            x = x[torch.arange(packs * m, device=x.device) % b]
        return x.reshape(packs, m * x.shape[1], *x.shape[2:])

    def _per_sample(self, pack_scores: Tensor, batch: int) -> Tensor:
        return pack_scores.repeat_interleave(self.settings.pack)[:batch]

    # -- what plug-ins call ------------------------------------------------------
    def discriminate(self, x: Tensor) -> Tensor:
        """D's raw output per sample, (B,) (PacGAN: the pack's score for each member)."""
        return self._per_sample(self.discriminator(self.pack(x)), x.shape[0])

    def generator_loss_per_sample(self, d_fake: Tensor) -> Tensor:
        """The objective's generator term on each score, (B,)."""
        return self.objective.generator_term(d_fake)

    def perception_features(self, x: Tensor) -> Tensor:
        """D's penultimate activations, (B, hidden) (PacGAN: of the self-pack (x, ..., x))."""
        return self.discriminator.features(torch.cat([x] * self.settings.pack, dim=1))

    def latent_generator(self):
        return self.generator, self.settings.latent_dim

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    # -- training ------------------------------------------------------------------
    def _prior(self, n: int, hooks: Hooks, device) -> Tensor:
        return torch.randn(n, hooks.prior_dim(self.settings.latent_dim), device=device)

    def _discriminator_step(self, real: Tensor, hooks: Hooks, step: int) -> dict[str, float]:
        b = real.shape[0]
        with torch.no_grad():
            fake = self.generator(hooks.latents(self._prior(b, hooks, real.device), self.settings.latent_dim))
        packed_real, packed_fake = self.pack(real), self.pack(fake)
        d_real = self._per_sample(self.discriminator(packed_real), b)
        d_fake = self._per_sample(self.discriminator(packed_fake), b)
        ctx = DiscriminatorContext(step, real, fake, d_real, d_fake, self)
        loss = discriminator_loss(self.objective, d_real, d_fake)
        log = {"loss_d": float(loss.detach())}
        penalty = self.objective.penalty(self.discriminator, packed_real, packed_fake)
        if penalty is not None:
            loss = loss + penalty
            log["gradient_penalty"] = float(penalty.detach())
        loss = loss + hooks.discriminator_loss(ctx).to(loss.device)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        log.update(d_real=float(d_real.detach().mean()), d_fake=float(d_fake.detach().mean()), **ctx.log)
        return log

    def _generator_step(self, real: Tensor, hooks: Hooks, step: int) -> dict[str, float]:
        prior = self._prior(real.shape[0], hooks, real.device)
        with _FrozenModule(self.discriminator):
            z = hooks.latents(prior, self.settings.latent_dim)
            fake = self.generator(z)
            d_fake = self.discriminate(fake)
            per_sample = self.generator_loss_per_sample(d_fake)
            ctx = GeneratorContext(step, real, z, prior, fake, d_fake, per_sample, self)
            weights = hooks.generator_weights(ctx)
            base = (per_sample if weights is None else per_sample * weights).mean()
            loss = base + hooks.generator_loss(ctx).to(base.device)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        self.opt_g.step()
        return {"loss_g": float(base.detach()), "loss_g_total": float(loss.detach()), **ctx.log}

    def train_step(self, real: Tensor, hooks: Hooks | None, step: int) -> dict[str, float]:
        """One GAN step (module docstring)."""
        hooks = hooks if hooks is not None else Hooks()
        weight = next(self.discriminator.parameters())  # the batch in D's dtype on D's device, like the other families
        real = check_real_batch("gan", real, self.settings.data_shape, (weight.device, weight.dtype))
        self.train()
        log: dict[str, float] = {}
        for _ in range(self.settings.d_steps):
            log.update(self._discriminator_step(real, hooks, step))
        log.update(self._generator_step(real, hooks, step))
        return log

    @torch.no_grad()
    def sample(self, n: int, hooks: Hooks | None = None) -> Tensor:
        """n samples G(hooks.latents(z)), in eval mode (batch norm on running stats)."""
        check_sample_count(n)
        hooks = hooks if hooks is not None else Hooks()
        device = next(self.generator.parameters()).device
        was_training = self.training
        self.eval()
        try:
            chunks = [
                self.generator(hooks.latents(self._prior(min(SAMPLE_CHUNK, n - start), hooks, device),
                                             self.settings.latent_dim))
                for start in range(0, n, SAMPLE_CHUNK)
            ]
        finally:
            self.train(was_training)
        if not chunks:
            return torch.empty(0, *self.settings.data_shape, device=device)
        return torch.cat(chunks)


__all__ = ["GAN", "GANConfig", "build_networks"]
