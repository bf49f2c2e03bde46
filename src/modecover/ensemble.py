"""Several seeds of a small MLP GAN trained as one batched ensemble (docs/training.md, "Ensembles").

The members are runs that differ only in their seed and data draw: the same MLP GAN
(:class:`~modecover.models.gan.GAN`, ``arch = "mlp"``, no plug-ins, no gradient penalty),
training sets of the same size, the same :class:`~modecover.train.TrainConfig` schedule
(steps, rounds, batch, learning-rate decay). Their parameters are stacked on a leading
member axis and every linear layer becomes one batched product
(``torch.baddbmm``), so that one step trains every member.

Each member keeps its own random streams exactly as :func:`modecover.train.train` draws
them for its separate run: a ``torch.Generator`` seeded with the run's seed (``train``
re-seeds before its first step) for the latents, and each round's sampler seeded from
(seed, round). The losses are the model's own per-sample terms, averaged per member and
summed over members, so each member's gradients are its separate run's; Adam is
element-wise, so each member's update is its own. A member therefore follows its
separate run's trajectory up to the float reassociation of the batched products
(``tests/test_ensemble.py`` checks the parameters after some steps); over long runs Adam
amplifies that rounding where a gradient is near zero, and members drift from their
separate runs as runs on another CPU do (docs/training.md, "Ensembles").
:func:`train_ensemble` leaves each trained member in its model (parameters, and Adam's
state and learning rates in the model's optimizers) and returns each member's
torch RNG state after training, which is the state its separate run's global RNG would
have (sampling after training then draws the same latents).

What it is worth depends on the machine: ``benchmarks/bench_ensemble.py`` measures N
members against N separate runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch
from torch import Tensor, nn

from modecover.data.samplers import make_sampler
from modecover.models.gan import GAN
from modecover.plugins import Hooks
from modecover.train import TrainConfig, lr_factor, round_bounds, sampler_seed, set_learning_rates

if TYPE_CHECKING:
    from modecover.config import Run

__all__ = ["ensemble_refusal", "train_ensemble"]


def ensemble_refusal(model, hooks: Hooks, config: TrainConfig) -> str | None:
    """Why a run cannot be an ensemble member (None: it can)."""
    if not isinstance(model, GAN):
        return f"only GANs train as ensembles, not the {getattr(model, 'family', type(model).__name__)!r} family"
    settings = model.settings
    if settings.arch != "mlp":
        return f"only MLP GANs train as ensembles, not arch {settings.arch!r}"
    if settings.loss == "wgan-gp":
        return "the gradient penalty of loss 'wgan-gp' is not batched"
    if hooks.plugins:
        return f"plug-ins ({[p.name for p in hooks.plugins]}) act on one run's model; ensembles train plain GANs"
    if config.batch_size % settings.pack:
        return f"PacGAN pack {settings.pack} must divide batch_size {config.batch_size}"
    return None


def _linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


@dataclass
class _Stack:
    """The linear layers of N identical MLPs, stacked: weights (N, in, out), biases (N, 1, out)."""

    weights: list[Tensor]
    biases: list[Tensor]

    @classmethod
    def of(cls, networks: Sequence[nn.Module]) -> "_Stack":
        layers = [_linears(net) for net in networks]
        weights = [torch.stack([member[i].weight.detach().T for member in layers]).contiguous().requires_grad_()
                   for i in range(len(layers[0]))]
        biases = [torch.stack([member[i].bias.detach()[None] for member in layers]).requires_grad_()
                  for i in range(len(layers[0]))]
        return cls(weights, biases)

    def parameters(self) -> list[Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def forward(self, x: Tensor, activation: nn.Module, output: nn.Module | None = None) -> Tensor:
        """Every layer but the last followed by ``activation``; ``output`` after the last."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = activation(x)
        return x if output is None else output(x)

    @torch.no_grad()
    def write_back(self, networks: Sequence[nn.Module], optimizer: torch.optim.Optimizer,
                   member_optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Each member's parameters, and its optimizer's state (Adam's step and moments) and
        learning rates, from their stacked counterparts: a member is then what its separate
        run leaves, ready to train on or to checkpoint."""
        for k, (net, member_optimizer) in enumerate(zip(networks, member_optimizers)):
            for lin, w, b in zip(_linears(net), self.weights, self.biases):
                for param, stacked, member in ((lin.weight, w, lambda t: t[k].T), (lin.bias, b, lambda t: t[k, 0])):
                    param.copy_(member(stacked))
                    member_optimizer.state[param] = {key: (value if key == "step" else member(value)).clone()
                                                     for key, value in optimizer.state[stacked].items()}
            for group, stacked_group in zip(member_optimizer.param_groups, optimizer.param_groups):
                group["lr"] = stacked_group["lr"]


def _check_members(runs: Sequence[Run]) -> None:
    """Every run can be a member and trains what member 0 trains, seed and data draw aside."""
    from modecover.config import Run

    if not isinstance(runs, (list, tuple)) or not all(isinstance(run, Run) for run in runs):
        got = f"a list of {sorted({type(r).__name__ for r in runs})}" if isinstance(runs, (list, tuple)) else \
            type(runs).__name__
        raise TypeError(f"train_ensemble: expected a list of runs built by Run.from_config, got {got}")
    if not runs:
        raise ValueError("train_ensemble: no runs; an ensemble needs at least one")
    first = runs[0]
    for i, run in enumerate(runs):
        config, data = run.config.train, run.data.x
        reason = ensemble_refusal(run.model, run.hooks, config)
        if reason:
            raise ValueError(f"train_ensemble: member {i}: {reason}")
        if {**vars(config), "seed": 0} != {**vars(first.config.train), "seed": 0}:
            raise ValueError(f"train_ensemble: member {i} trains another schedule ({config}) "
                             f"than member 0 ({first.config.train})")
        if run.model.settings != first.model.settings:
            raise ValueError(f"train_ensemble: member {i}'s GAN settings differ from member 0's")
        if data.shape != first.data.x.shape or data.dtype != first.data.x.dtype:
            raise ValueError(f"train_ensemble: member {i}'s data is {data.dtype} {tuple(data.shape)}, "
                             f"member 0's {first.data.x.dtype} {tuple(first.data.x.shape)}")
        if not torch.isfinite(data).all():
            raise ValueError(f"train_ensemble: member {i}'s data holds NaN or infinite values")


def train_ensemble(runs: Sequence[Run]) -> list[Tensor]:
    """Train the runs (built by :meth:`modecover.config.Run.from_config`, not yet trained,
    configs that differ only in their seed) as one ensemble; return each member's torch RNG
    state after training. Each run's model holds its trained parameters and optimizer
    states afterwards; every run must pass :func:`ensemble_refusal`."""
    _check_members(runs)
    models, datasets, configs = [r.model for r in runs], [r.data.x for r in runs], [r.config.train for r in runs]
    config, settings, objective = configs[0], models[0].settings, models[0].objective
    n, batch, pack, latent_dim = len(datasets[0]), config.batch_size, settings.pack, settings.latent_dim
    generators = _Stack.of([m.generator.net.net for m in models])
    discriminators = _Stack.of([m.discriminator for m in models])
    g_output, relu, leaky = models[0].generator.net.output, nn.ReLU(), nn.LeakyReLU(0.2)
    opt_g = torch.optim.Adam(generators.parameters(), settings.lr_g, betas=settings.betas)  # as GAN.__init__
    opt_d = torch.optim.Adam(discriminators.parameters(), settings.lr_d, betas=settings.betas)
    streams = [torch.Generator().manual_seed(c.seed) for c in configs]

    def prior() -> Tensor:
        return torch.stack([torch.randn(batch, latent_dim, generator=g) for g in streams])

    def scores(x: Tensor) -> Tensor:  # (N, B, d) -> (N, B / pack) pack scores (GAN.pack without a remainder)
        return discriminators.forward(x.reshape(x.shape[0], -1, pack * x.shape[2]), leaky).squeeze(-1)

    for r, (start, stop) in enumerate(round_bounds(config.steps, config.rounds)):
        samplers = [make_sampler(None, n, n, sampler_seed(c.seed, r)) for c in configs]
        for step in range(start, stop):
            real = torch.stack([data[s.take(batch)].reshape(batch, -1) for data, s in zip(datasets, samplers)])
            if config.lr_decay:  # as train() decays a separate run's
                set_learning_rates((opt_d, opt_g), lr_factor(step, config.steps, config.lr_decay))
            for _ in range(settings.d_steps):  # GAN._discriminator_step
                with torch.no_grad():
                    fake = generators.forward(prior(), relu, g_output)
                loss = objective.real_term(scores(real)).mean(1) + objective.fake_term(scores(fake)).mean(1)
                opt_d.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt_d.step()
            for p in discriminators.parameters():  # GAN._generator_step: D takes no gradient
                p.requires_grad_(False)
            fake = generators.forward(prior(), relu, g_output)
            loss = objective.generator_term(scores(fake)).mean(1)
            opt_g.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt_g.step()
            for p in discriminators.parameters():
                p.requires_grad_(True)

    generators.write_back([m.generator.net.net for m in models], opt_g, [m.opt_g for m in models])
    discriminators.write_back([m.discriminator for m in models], opt_d, [m.opt_d for m in models])
    return [g.get_state() for g in streams]
