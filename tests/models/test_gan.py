"""The GAN family: losses against their formulas, PacGAN packing, hook order, the method
plug-ins through the real model, learning the 8-mode ring, and its own config errors (what
every family does alike: test_families.py)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import ring_data
from modecover.data.mixtures import ring
from modecover.methods.cft import CommonFeatureTraining
from modecover.methods.deligan import DeLiGAN
from modecover.methods.dpm import DPM
from modecover.methods.ldmd import LDMD
from modecover.methods.mean_rescaling import MeanRescaling
from modecover.methods.topk import TopK
from modecover.metrics.modes import mode_metrics
from modecover.models import build_model
from modecover.models.gan import GAN, GANConfig
from modecover.models.losses import Hinge, NonSaturating, WassersteinGP, discriminator_loss, gradient_penalty, make_loss
from modecover.plugins import Hooks, Plugin

SMALL = dict(hidden=16, depth=2, latent_dim=4)


def batches(data, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield data[torch.randint(len(data), (size,), generator=gen)]


def ring_error(model, n=500):
    """Mean distance of samples to the unit circle."""
    return (model.sample(n).norm(dim=1) - 1).abs().mean().item()


# -- losses -------------------------------------------------------------------


def test_objectives_match_their_formulas():
    d_real, d_fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.3, -2.0, 1.5])
    ns = make_loss("ns")
    expected_ns = np.mean([math.log1p(math.exp(-r)) for r in d_real.tolist()]) + np.mean(
        [math.log1p(math.exp(f)) for f in d_fake.tolist()]
    )
    assert discriminator_loss(ns, d_real, d_fake).item() == pytest.approx(expected_ns, rel=1e-6)
    # the non-saturating D loss is binary cross-entropy on logits
    bce = F.binary_cross_entropy_with_logits(d_real, torch.ones(3)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.zeros(3)
    )
    assert discriminator_loss(ns, d_real, d_fake).item() == pytest.approx(bce.item(), rel=1e-6)
    np.testing.assert_allclose(ns.generator_term(d_fake), [math.log1p(math.exp(-f)) for f in d_fake.tolist()],
                               rtol=1e-6)
    hinge = make_loss("hinge")
    expected_hinge = np.mean([max(0, 1 - 2.0), max(0, 1 + 1.0), max(0, 1 - 0.5)]) + np.mean([1.3, 0.0, 2.5])
    assert discriminator_loss(hinge, d_real, d_fake).item() == pytest.approx(expected_hinge)
    np.testing.assert_allclose(hinge.generator_term(d_fake), -d_fake)
    wgan = make_loss("wgan-gp", gp_weight=5.0)
    assert discriminator_loss(wgan, d_real, d_fake).item() == pytest.approx(
        np.mean([-2.0, 1.0, -0.5]) + np.mean([0.3, -2.0, 1.5])
    )
    assert isinstance(ns, NonSaturating) and isinstance(hinge, Hinge) and wgan == WassersteinGP(5.0)
    assert ns.penalty(None, d_real, d_fake) is None and hinge.penalty(None, d_real, d_fake) is None
    with pytest.raises(ValueError, match="'lsgan'"):
        make_loss("lsgan")


def test_gradient_penalty_matches_per_sample_autograd_loop():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real, fake = torch.randn(5, 6), torch.randn(5, 6)
    torch.manual_seed(1)
    penalty = gradient_penalty(lambda x: critic(x).reshape(-1), real, fake)
    torch.manual_seed(1)
    eps = torch.rand(5, 1)
    terms = []
    for i in range(5):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x[None]).sum(), x)
        terms.append((g.norm() - 1) ** 2)
    assert penalty.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)
    # a linear critic has gradient w everywhere: penalty (|w| - 1)^2, differentiable in w
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    linear = gradient_penalty(lambda x: x @ w, torch.randn(7, 2), torch.randn(7, 2))
    assert linear.item() == pytest.approx(16.0)
    linear.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * 4 * np.array([3, 4]) / 5, rtol=1e-6)
    # images: the norm is over all of a row's values
    conv = torch.nn.Conv2d(2, 1, 3)
    gp = gradient_penalty(lambda x: conv(x).sum((1, 2, 3)), torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4))
    assert gp.ndim == 0 and torch.isfinite(gp)
    with pytest.raises(ValueError, match="differ in shape"):
        gradient_penalty(lambda x: x.sum(1), torch.randn(3, 2), torch.randn(4, 2))


# -- model mechanics ---------------------------------------------------------------


class Recorder(Plugin):
    """Records the order of hook calls and what they saw."""

    name = "recorder"

    def __init__(self):
        self.calls, self.seen = [], {}

    def prior_dim(self, latent_dim):
        self.calls.append("prior_dim")
        return latent_dim

    def latents(self, z):
        self.calls.append("latents")
        return z

    def discriminator_loss(self, ctx):
        self.calls.append("discriminator_loss")
        self.seen["dctx"] = ctx
        ctx.log["d_hook"] = 1.0
        return None

    def generator_weights(self, ctx):
        self.calls.append("generator_weights")
        self.seen["d_params_before_g"] = [p.detach().clone() for p in ctx.model.discriminator.parameters()]
        self.seen["d_frozen"] = not any(p.requires_grad for p in ctx.model.discriminator.parameters())
        return None

    def generator_loss(self, ctx):
        self.calls.append("generator_loss")
        self.seen["gctx"] = ctx
        ctx.log["g_hook"] = 2.0
        return None


def test_train_step_calls_hooks_in_order():
    torch.manual_seed(0)
    model = GAN(GANConfig(d_steps=2, **SMALL))
    rec = Recorder()
    real = ring_data(16)
    log = model.train_step(real, Hooks([rec]), step=7)
    d_side = ["prior_dim", "latents", "discriminator_loss"]
    assert rec.calls == d_side + d_side + ["prior_dim", "latents", "generator_weights", "generator_loss"]
    assert log["d_hook"] == 1.0 and log["g_hook"] == 2.0
    dctx = rec.seen["dctx"]  # the second D step
    expected = F.softplus(-dctx.d_real).mean() + F.softplus(dctx.d_fake).mean()
    assert log["loss_d"] == pytest.approx(expected.item(), rel=1e-5)
    gctx = rec.seen["gctx"]
    assert gctx.step == 7 and gctx.z.shape == (16, 4) and gctx.fake.shape == (16, 2)
    assert log["loss_g"] == pytest.approx(F.softplus(-gctx.d_fake).mean().item(), rel=1e-5)
    # the generator step leaves D untouched and restores requires_grad
    assert rec.seen["d_frozen"]
    for before, after in zip(rec.seen["d_params_before_g"], model.discriminator.parameters()):
        assert torch.equal(before, after) and after.requires_grad
    with pytest.raises(ValueError, match=r"real batch must have shape \(B, 2\)"):
        model.train_step(torch.randn(4, 3), Hooks(), 0)


def test_generator_weights_and_loss_terms_reach_the_generator():
    class Zero(Plugin):
        name = "zero"

        def generator_weights(self, ctx):
            return torch.zeros_like(ctx.per_sample_loss)

    torch.manual_seed(0)
    model = GAN(GANConfig(**SMALL))
    before = [p.detach().clone() for p in model.generator.parameters()]
    log = model.train_step(ring_data(8), Hooks([Zero()]), 0)
    assert log["loss_g"] == 0.0
    # zero loss, zero gradient: Adam leaves G where it was
    assert all(torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))


def test_pacgan_packs_consecutive_samples_and_repeats_pack_scores():
    torch.manual_seed(0)
    model = GAN(GANConfig(pack=3, **SMALL))
    x = torch.randn(7, 2)
    packed = model.pack(x)
    assert packed.shape == (3, 6)
    torch.testing.assert_close(packed[0], x[0:3].reshape(-1))
    torch.testing.assert_close(packed[2], torch.cat([x[6], x[0], x[1]]))  # cyclic fill
    scores = model.discriminate(x)
    direct = model.discriminator(packed)
    assert scores.shape == (7,)
    torch.testing.assert_close(scores, direct.repeat_interleave(3)[:7])
    feats = model.perception_features(x)
    assert feats.shape == (7, 16)
    torch.testing.assert_close(feats[1], model.discriminator.features(x[1].repeat(3)[None])[0])
    log = model.train_step(ring_data(12), Hooks(), 0)
    assert np.isfinite(list(log.values())).all()
    assert model.discriminator.body[0].in_features == 6


@pytest.mark.parametrize(
    "loss,shape", [("ns", (1, 8, 8)), ("hinge", (1, 8, 8)), ("wgan-gp", (1, 8, 8)), ("ns", (3, 16, 16)),
                   ("ns", (1, 28, 28)), ("ns", (1, 32, 32))]
)
def test_dcgan_shapes_one_step(loss, shape):
    torch.manual_seed(0)
    model = GAN(GANConfig(data_shape=shape, latent_dim=8, base_channels=8, hidden=16, loss=loss, pack=2))
    assert model.config["arch"] == "dcgan" and model.config["output"] == "tanh"
    real = torch.rand(6, *shape) * 2 - 1
    before = [p.detach().clone() for p in model.generator.parameters()]
    log = model.train_step(real, Hooks(), 0)
    assert np.isfinite(list(log.values())).all()
    assert ("gradient_penalty" in log) == (loss == "wgan-gp")
    assert any(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))
    samples = model.sample(5)
    assert samples.shape == (5, *shape) and samples.abs().max() <= 1
    assert model.perception_features(real).shape == (6, 16)
    assert model.discriminate(real).shape == (6,)


def test_sample_uses_hooks_eval_mode_and_restores_mode():
    torch.manual_seed(0)
    model = GAN(GANConfig(data_shape=(1, 8, 8), latent_dim=6, base_channels=8, hidden=16))
    cft = CommonFeatureTraining(latent_dim=6, feature_differences=2)
    model.train()
    x = model.sample(3, Hooks([cft]))
    assert x.shape == (3, 1, 8, 8) and model.training and not x.requires_grad
    model.eval()
    assert model.sample(0).shape == (0, 1, 8, 8) and not model.training
    # eval mode: batch norm on running statistics, so each sample is a function of its latent
    g, dim = model.latent_generator()
    assert dim == 6
    z = torch.randn(4, 6)
    with torch.no_grad():
        torch.testing.assert_close(g(z)[:2], g(z[:2]))


def test_registry_builds_the_mlp_gan_with_tuple_betas():
    model = build_model("gan", {"data_shape": [2], "hidden": 16, "depth": 2, "betas": [0.0, 0.9]})
    assert isinstance(model, GAN) and model.config["arch"] == "mlp" and model.config["betas"] == (0.0, 0.9)


def test_bad_config_shapes_and_unknown_keys():
    with pytest.raises(ValueError, match="'data_shape'.*dcgan"):
        GANConfig(data_shape=(1, 12, 12))
    with pytest.raises(ValueError, match="'data_shape'.*dcgan"):
        GANConfig(data_shape=(2,), arch="dcgan")
    with pytest.raises(ValueError, match="unknown key.*'hiden'"):
        build_model("gan", {"hiden": 3})


# -- the method plug-ins through the real GAN ------------------------------------------


def _plugins(data):
    return {
        "ldmd": (lambda: [LDMD(data, k=5)], "ldmd_rfi_share"),
        "ldmd-perception": (lambda: [LDMD(data, k=5, features="perception", refresh_every=2)], "ldmd_rfi_share"),
        "dpm": (lambda: [DPM(weight=1.0)], "dpm_penalty"),
        "topk": (lambda: [TopK(steps_per_epoch=1)], "topk_k"),
        "cft+mr": (lambda: [CommonFeatureTraining(latent_dim=4), MeanRescaling()], None),
        "deligan": (lambda: [DeLiGAN(latent_dim=4, components=3)], None),
    }


@pytest.mark.parametrize("name", ["ldmd", "ldmd-perception", "dpm", "topk", "cft+mr", "deligan"])
@pytest.mark.parametrize("pack", [1, 2])
def test_method_plugins_train_through_the_gan(name, pack):
    torch.manual_seed(0)
    data = ring_data(200)
    make, key = _plugins(data)[name]
    hooks = Hooks(make())
    model = GAN(GANConfig(pack=pack, **SMALL), plugin_parameters=hooks.parameters())
    tracked = [*model.generator.parameters(), *hooks.parameters()]
    before = [p.detach().clone() for p in tracked]
    stream = batches(data, 16)
    logs = [model.train_step(next(stream), hooks, step) for step in range(3)]
    assert all(np.isfinite(list(log.values())).all() for log in logs)
    if key is not None:
        assert all(key in log for log in logs)
    changed = [not torch.equal(a, b) for a, b in zip(before, tracked)]
    assert all(changed[len(list(model.generator.parameters())) :])  # plug-in parameters trained too
    assert any(changed)
    assert model.sample(5, hooks).shape == (5, 2)
    assert all(p.requires_grad for p in model.parameters())


# -- learning ----------------------------------------------------------------------


# Each learning run below is a function of its seed ($MODECOVER_TEST_SEED_OFFSET, default
# 0). Another CPU's kernels change a trajectory as another seed does, so every threshold
# sits clearly beyond the spread measured over seeds 0-7 (or 0-15) with
# `benchmarks/learning_test_margins.py`, stated beside it.


def hinge_ring_errors(seed):
    """(ring error before, after 400 hinge steps)."""
    torch.manual_seed(seed)
    data = ring_data(2000, seed)
    model = GAN(GANConfig(loss="hinge", hidden=64, depth=2, latent_dim=4))
    start = ring_error(model)
    stream = batches(data, 64, seed)
    logs = [model.train_step(next(stream), Hooks(), step) for step in range(400)]
    assert all(np.isfinite(list(log.values())).all() for log in logs)
    return start, ring_error(model)


def test_hinge_pulls_samples_onto_the_ring(seed):
    start, end = hinge_ring_errors(seed)
    assert end < 0.75 * start  # seeds 0-7: end / start 0.28-0.59


def wgan_critic_logs(seed):
    """150 steps of a WGAN-GP critic against an all but frozen generator."""
    torch.manual_seed(seed)
    data = ring_data(2000, seed)
    config = GANConfig(loss="wgan-gp", hidden=64, depth=2, latent_dim=4, lr_g=1e-9, lr_d=1e-3, betas=(0.5, 0.9))
    model = GAN(config)
    stream = batches(data, 64, seed)
    return [model.train_step(next(stream), Hooks(), step) for step in range(150)]


def test_wgan_gp_critic_estimates_a_distance_and_its_gradient_norm_goes_to_one(seed):
    """With G all but frozen (lr_g tiny) the critic climbs towards the Wasserstein
    distance between G's samples and the ring: d_real - d_fake grows from about 0 to a
    positive value, while the penalty (||grad|| - 1)^2 falls from its start."""
    logs = wgan_critic_logs(seed)
    gap = [log["d_real"] - log["d_fake"] for log in logs]
    penalty = [log["gradient_penalty"] for log in logs]
    # seeds 0-7: 0.46-0.77 at the end, |gap| <= 0.06 at the start
    assert np.mean(gap[-20:]) > 0.3 > abs(np.mean(gap[:3]))
    assert np.mean(penalty[-20:]) < 0.5 * np.mean(penalty[:3])  # seeds 0-7: end / start 0.010-0.021
    assert logs[-1]["loss_d"] == pytest.approx(-gap[-1], rel=1e-5)  # logged without the penalty


def wgan_ring_errors(seed):
    """(ring error before, after 300 WGAN-GP steps with 5 critic steps each)."""
    torch.manual_seed(seed)
    data = ring_data(2000, seed)
    config = GANConfig(loss="wgan-gp", hidden=64, depth=2, latent_dim=4, d_steps=5, lr_g=1e-4, lr_d=1e-3,
                       betas=(0.5, 0.9))
    model = GAN(config)
    start = ring_error(model)
    stream = batches(data, 64, seed)
    for step in range(300):
        model.train_step(next(stream), Hooks(), step)
    return start, ring_error(model)


def test_wgan_gp_generator_moves_towards_the_ring(seed):
    start, end = wgan_ring_errors(seed)
    assert end < 0.75 * start  # seeds 0-7: end / start 0.45-0.57 (0.55-0.73 after 200 steps)


def ns_gan_ring_metrics(seed):
    """Mode metrics of 2,500 samples of the default MLP GAN after 3,000 steps on the ring."""
    torch.manual_seed(seed)
    mix = ring()
    data = torch.from_numpy(mix.sample(10_000, seed=seed)[0])
    model = GAN(GANConfig())
    stream = batches(data, 64, seed)
    for step in range(3000):
        model.train_step(next(stream), Hooks(), step)
    return mode_metrics(model.sample(2500).numpy(), mix.means, mix.sigmas)


def test_ns_mlp_gan_learns_the_eight_mode_ring(seed):
    """An untrained generator puts no sample within 3 sigma of a mode (0 modes, HQ 0 %).
    Mode dropping and blur vary a lot with the trajectory: seeds 0-15 gave 6-8 modes and
    HQ 23-78 % (median 47 %); another CPU gave HQ 24.7 % for seed 0 (54 % here)."""
    result = ns_gan_ring_metrics(seed)
    assert result["modes_captured"] >= 5, result
    assert result["hq_percent"] >= 15, result


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_post_hoc_samplers_run_on_the_gan(shape):
    """MaGNET's Jacobian volumes (eval-mode batch norm under vmap) and DRS (odd batches
    with PacGAN's cyclic fill) work on the real model."""
    from modecover.methods.drs import DRSConfig, drs_sample
    from modecover.methods.magnet import log_volumes

    torch.manual_seed(0)
    model = GAN(GANConfig(data_shape=shape, latent_dim=3, hidden=16, base_channels=8, pack=2))
    model.train_step(torch.randn(8, *shape).clamp(-1, 1), Hooks(), 0)
    g, dim = model.latent_generator()
    z = torch.randn(5, dim)
    volumes = log_volumes(g, z)
    assert volumes.shape == (5,) and np.isfinite(volumes).all()
    # per-sample autograd Jacobian of the first latent, volume = sum of log singular values
    model.eval()
    jac = torch.autograd.functional.jacobian(lambda v: g(v[None]).reshape(-1), z[0])
    assert volumes[0] == pytest.approx(torch.linalg.svdvals(jac.double()).log().sum().item(), rel=1e-4)
    model.train()
    out = drs_sample(lambda b: model.sample(b), model.discriminate, 7, DRSConfig(burn_in=9, batch_size=9), seed=0)
    assert out.shape == (7, *shape) and model.training
