"""CFT, mean rescaling and DeLiGAN latent plug-ins."""

import numpy as np
import pytest
import torch
from scipy import stats

from modecover.methods.cft import CFTConfig, CommonFeatureTraining
from modecover.methods.deligan import DeLiGAN
from modecover.methods.mean_rescaling import MeanRescaling
from modecover.plugins import GeneratorContext, Hooks


def test_cft_maps_prior_dim_to_latent_dim_and_trains():
    torch.manual_seed(0)
    cft = CommonFeatureTraining(latent_dim=10, feature_differences=3)
    hooks = Hooks([cft])
    assert hooks.prior_dim(10) == 7
    z = torch.randn(5, 7)
    out = hooks.latents(z)
    assert out.shape == (5, 10)
    torch.testing.assert_close(out, z @ cft.layer.weight.T + cft.layer.bias)
    out.sum().backward()
    assert all(p.grad is not None for p in hooks.parameters())
    assert len(hooks.parameters()) == 2
    clone = CommonFeatureTraining(latent_dim=10, feature_differences=3)
    clone.load_state_dict(cft.state_dict())
    torch.testing.assert_close(clone.latents(z), cft.latents(z))


@pytest.mark.parametrize("make, message", [
    (lambda: CFTConfig(latent_dim=8, feature_differences=0),
     r"^\[\[methods\]\] 'cft': 'feature_differences' must be an integer >= 1, got 0$"),
    (lambda: CFTConfig(latent_dim=8, feature_differences=True),
     r"^\[\[methods\]\] 'cft': 'feature_differences' must be an integer >= 1, got True$"),
    (lambda: CFTConfig(latent_dim=2, feature_differences=2),
     r"^\[\[methods\]\] 'cft': 'latent_dim' must be > 'feature_differences' \(FD\) = 2, got 2$"),
    (lambda: DeLiGAN(latent_dim=2, components=0),
     r"^\[\[methods\]\] 'deligan': 'components' must be an integer >= 1, got 0$"),
    (lambda: DeLiGAN(latent_dim=2, seed=2**64),
     r"^\[\[methods\]\] 'deligan': 'seed' must be an integer in \[0, 18446744073709551615\], "
     r"got 18446744073709551616$"),
    (lambda: DeLiGAN(latent_dim=2, sigma_init=0.0),
     r"^\[\[methods\]\] 'deligan': 'sigma_init' must be a finite number > 0, got 0\.0$"),
    (lambda: DeLiGAN(latent_dim=2, regulariser=-1),
     r"^\[\[methods\]\] 'deligan': 'regulariser' must be a finite number >= 0, got -1$"),
    (lambda: MeanRescaling(low=1.0, high=1.0), "low < high"),
    (lambda: MeanRescaling(low=float("nan")),
     r"^\[\[methods\]\] 'mean_rescaling': 'low' must be a finite number, got nan$"),
])
def test_latent_method_configs_name_the_key_and_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_cft_bad_input():
    cft = CommonFeatureTraining(latent_dim=8)
    with pytest.raises(ValueError, match="latent_dim=8"):
        cft.prior_dim(16)
    with pytest.raises(ValueError, match=r"\(B, 7\)"):
        cft.latents(torch.randn(3, 8))


def test_mean_rescaling_shifts_each_sample_by_a_uniform_mean():
    torch.manual_seed(0)
    z = torch.zeros(4000, 6)
    shifted = MeanRescaling().latents(z)
    per_sample = shifted[:, 0]
    assert torch.equal(shifted, per_sample[:, None].expand_as(shifted))  # one scalar per sample
    assert stats.kstest(per_sample.numpy(), "uniform", args=(-1, 2)).pvalue > 0.01
    per_dim = MeanRescaling(per_dimension=True).latents(z)
    assert (per_dim[:, 0] != per_dim[:, 1]).all()
    assert stats.kstest(per_dim.flatten().numpy(), "uniform", args=(-1, 2)).pvalue > 0.01


def test_cft_then_mean_rescaling_chain():
    torch.manual_seed(0)
    cft = CommonFeatureTraining(latent_dim=4)
    hooks = Hooks([cft, MeanRescaling()])
    z = torch.randn(8, hooks.prior_dim(4))
    out = hooks.latents(z)
    diff = out - cft.latents(z)
    assert out.shape == (8, 4)
    assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-6) and diff.abs().max() <= 1


def test_deligan_mixture_latents_and_regulariser():
    torch.manual_seed(0)
    plugin = DeLiGAN(latent_dim=3, components=4, regulariser=2.0)
    assert plugin.mu.min() >= -1 and plugin.mu.max() <= 1
    assert torch.all(plugin.sigma == 0.2)
    eps = torch.randn(500, 3)
    z = plugin.latents(eps)
    # each latent is mu_k + sigma_k * eps for one k
    recovered = (z[:, None, :] - plugin.mu[None]) / plugin.sigma[None]
    match = torch.isclose(recovered, eps[:, None, :], atol=1e-5).all(dim=2)
    assert (match.sum(dim=1) >= 1).all()
    counts = np.bincount(match.float().argmax(dim=1).numpy(), minlength=4)
    assert stats.chisquare(counts).pvalue > 0.01  # components chosen uniformly
    ctx = GeneratorContext(0, None, z, eps, None, None, None, model=None)
    term = plugin.generator_loss(ctx)
    assert term.item() == pytest.approx(2.0 * 0.8**2, rel=1e-6)
    (term + z.sum()).backward()
    assert plugin.mu.grad is not None and plugin.sigma.grad is not None


def test_deligan_state_and_bad_input():
    a, b = DeLiGAN(latent_dim=2, components=3, seed=1), DeLiGAN(latent_dim=2, components=3, seed=2)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.mu, b.mu)
    with pytest.raises(ValueError, match="shape"):
        DeLiGAN(latent_dim=2, components=5).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        a.latents(torch.randn(4, 3))


def test_latent_plugins_train_with_the_generator_on_the_ring(ring_points, small_gan):
    torch.manual_seed(0)
    data = ring_points
    cft, deligan = CommonFeatureTraining(latent_dim=4, feature_differences=1), DeLiGAN(latent_dim=4, components=3)
    for plugins in ([cft, MeanRescaling()], [deligan]):
        hooks = Hooks(plugins)
        model = small_gan(hooks)
        before = [p.detach().clone() for p in hooks.parameters()]
        for step in range(3):
            model.train_step(data[torch.randint(400, (32,))], hooks, step)
        after = hooks.parameters()
        assert len(after) == len(before) > 0
        assert all(not torch.equal(a, p) for a, p in zip(before, after))  # stepped by G's optimizer
