"""DDPM: schedules against their formulas, the noising step, the ancestral sampler against
an exact Gaussian recursion with the optimal denoiser, EMA, the 2-D ring (what every
family does alike: test_families.py)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import ring_mode_metrics
from modecover.models.diffusion import Diffusion, DiffusionConfig, cosine_betas, linear_betas
from modecover.plugins import Hooks


class GaussianOracle(nn.Module):
    """E[eps | x_t] when the data are N(mu, s^2 I): sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar)."""

    def __init__(self, alpha_bars, mu, s):
        super().__init__()
        self.alpha_bars, self.mu, self.s = alpha_bars, mu, s
        self.anchor = nn.Parameter(torch.zeros((), dtype=mu.dtype))  # the model reads its dtype from a parameter

    def forward(self, x, t):
        abar = self.alpha_bars[t - 1].to(x.dtype)[:, None]
        return (1 - abar).sqrt() * (x - abar.sqrt() * self.mu) / (abar * self.s**2 + 1 - abar)


def exact_sampler_moments(model, mu, s):
    """Mean and variance per coordinate of the samples of Algorithm 2 with the oracle, by
    the linear-Gaussian recursion x_{t-1} = a x_t + b + sigma z (float64, numpy)."""
    betas, abars = model.betas.numpy(), model.alpha_bars.numpy()
    variances = model.posterior_variances.numpy() if model.settings.sampling_variance == "posterior" else betas
    mean, var = 0.0, 1.0
    for i in reversed(range(len(betas))):
        c = math.sqrt(1 - abars[i]) / (abars[i] * s**2 + 1 - abars[i])  # eps = c (x - sqrt(abar) mu)
        k = betas[i] / math.sqrt(1 - abars[i])
        a = (1 - k * c) / math.sqrt(1 - betas[i])
        b = k * c * math.sqrt(abars[i]) * mu / math.sqrt(1 - betas[i])
        mean, var = a * mean + b, a * a * var + (variances[i] if i > 0 else 0.0)
    return mean, var



def test_schedules_match_their_formulas():
    betas = linear_betas(100).numpy()
    np.testing.assert_allclose(betas, np.linspace(1e-3, 0.2, 100), rtol=1e-12)
    T, s = 150, 0.008
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    abar = f / f[0]
    np.testing.assert_allclose(cosine_betas(T).numpy(), np.minimum(1 - abar[1:] / abar[:-1], 0.999), rtol=1e-10)
    assert cosine_betas(T).max() <= 0.999
    for schedule in ("linear", "cosine"):
        model = Diffusion(DiffusionConfig(schedule=schedule, timesteps=100))
        abars = model.alpha_bars.numpy()
        assert np.all(np.diff(abars) < 0) and abars[-1] < 1e-3  # x_T is (almost) pure noise
        np.testing.assert_allclose(abars, np.cumprod(1 - model.betas.numpy()), rtol=1e-12)


def test_noising_step_is_q_of_x_t_given_x0():
    torch.manual_seed(0)
    model = Diffusion(DiffusionConfig(timesteps=50, ema_decay=0.0))
    seen = {}

    class Recorder(nn.Module):
        def forward(self, x, t):
            seen["x"], seen["t"] = x.clone(), t.clone()
            return torch.zeros_like(x)

    model.denoiser = Recorder()
    x0 = torch.randn(64, 2)
    torch.manual_seed(7)
    loss = model.per_sample_loss(x0)
    torch.manual_seed(7)
    index = torch.randint(0, 50, (64,))
    eps = torch.randn_like(x0)
    abar = model.alpha_bars[index].float()[:, None]
    torch.testing.assert_close(seen["t"], index + 1)
    torch.testing.assert_close(seen["x"], abar.sqrt() * x0 + (1 - abar).sqrt() * eps)
    torch.testing.assert_close(loss, eps.square().mean(1))  # a zero prediction costs E[eps^2]
    assert seen["t"].min() >= 1 and seen["t"].max() <= 50


@pytest.mark.parametrize("schedule, variance", [("linear", "posterior"), ("cosine", "posterior"), ("cosine", "beta")])
def test_ancestral_sampler_with_the_optimal_denoiser(schedule, variance):
    mu, s = torch.tensor([2.0, -1.0], dtype=torch.float64), 0.5
    model = Diffusion(DiffusionConfig(schedule=schedule, sampling_variance=variance, timesteps=100, ema_decay=0.0))
    model = model.to(torch.float64)
    model.denoiser = GaussianOracle(model.alpha_bars, mu, s)
    torch.manual_seed(0)
    samples = model.sample(40000).numpy()
    for d in range(2):
        mean, var = exact_sampler_moments(model, mu[d].item(), s)
        assert samples[:, d].mean() == pytest.approx(mean, abs=4 * math.sqrt(var / 40000))
        assert samples[:, d].std() == pytest.approx(math.sqrt(var), rel=0.02)
        # the sampler's own law is close to the data's N(mu, s^2): fixed reverse variances
        # cost a few % of spread at T = 100 (posterior: 0.468 linear, 0.482 cosine) ...
        assert mean == pytest.approx(mu[d].item(), abs=1e-3) and math.sqrt(var) == pytest.approx(s, rel=0.07)
    # ... which vanishes as T grows
    long_chain = Diffusion(DiffusionConfig(schedule=schedule, sampling_variance=variance, timesteps=1000,
                                           ema_decay=0.0))
    mean, var = exact_sampler_moments(long_chain, 2.0, s)
    assert mean == pytest.approx(2.0, abs=1e-4) and math.sqrt(var) == pytest.approx(s, rel=0.01)


def test_step_loss_is_the_mean_and_ema_tracks_the_weights():
    torch.manual_seed(0)
    model = Diffusion(DiffusionConfig(ema_decay=0.9))
    before = [p.detach().clone() for p in model.denoiser.parameters()]
    x = torch.randn(16, 2)
    torch.manual_seed(5)
    per_sample = model.per_sample_loss(x).detach()
    torch.manual_seed(5)
    log = model.train_step(x, Hooks(), 0)
    assert log["loss"] == pytest.approx(per_sample.mean().item(), rel=1e-6)
    for old, new, avg in zip(before, model.denoiser.parameters(), model.ema_denoiser.parameters()):
        torch.testing.assert_close(avg, 0.9 * old + 0.1 * new.detach())
    assert model.sampling_denoiser() is model.ema_denoiser
    optimised = {id(p) for group in model.optimizers()["diffusion"].param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in model.ema_denoiser.parameters())


def ring_metrics(seed):
    """Mode metrics of 2,500 samples after 3,000 steps (batch 256) on the 8-mode ring,
    a function of ``seed`` (spread over seeds: benchmarks/learning_test_margins.py)."""
    return ring_mode_metrics(lambda: Diffusion(DiffusionConfig(lr=2e-3, ema_decay=0.99)), 3000, seed)


def test_learns_the_ring(seed):
    """8 tight modes (sigma 0.01) with a short CPU budget: strict 3-sigma capture of >= 6
    modes and a loose HQ share (>= 5 %; about 25 % at this budget, ~70 % after 10k steps)."""
    result = ring_metrics(seed)
    assert result["modes_captured"] >= 6, result  # seeds 0-7: 8 modes every time
    assert result["hq_percent"] >= 5.0, result  # seeds 0-7: 23.5-31.1 %
