"""LDMD: the RFI / nRFI split and m_j against a brute-force evaluation of Eq. 5."""

import sys
import types

import numpy as np
import pytest
import torch

try:  # the neighbour engine; a brute-force stand-in until it lands
    import modecover.neighbors  # noqa: F401
except ModuleNotFoundError:  # pragma: no cover - temporary
    def _knn(query, data=None, k=1, **_):
        q = np.asarray(query, dtype=np.float64)
        d = q if data is None else np.asarray(data, dtype=np.float64)
        dist = np.sqrt(((q[:, None, :] - d[None, :, :]) ** 2).sum(-1))
        if data is None:
            np.fill_diagonal(dist, np.inf)
        idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(dist, idx, 1), idx

    _stub = types.ModuleType("modecover.neighbors")
    _stub.knn = _knn
    _stub.kth_distances = lambda x, k: _knn(x, None, k)[0][:, -1]
    sys.modules["modecover.neighbors"] = _stub

from modecover.methods.ldmd import LDMD, LDMDConfig, LocalManifoldDetector  # noqa: E402
from modecover.plugins import GeneratorContext  # noqa: E402


def brute_force_eq5(bank, fakes, k):
    """Eq. 5 straight from its definition, with Python loops and float64."""
    bank, fakes = np.asarray(bank, np.float64), np.asarray(fakes, np.float64)
    n = len(bank)
    radii = []
    for i in range(n):
        d = sorted(np.linalg.norm(bank[i] - bank[j]) for j in range(n) if j != i)
        radii.append(d[k - 1])
    m = []
    for f in fakes:
        d = np.array([np.linalg.norm(f - b) for b in bank])
        neighbours = sorted(range(n), key=lambda i: (d[i], i))[:k]
        m.append(sum(d[i] < radii[i] for i in neighbours))
    m = np.array(m)
    return m >= 1, m


def test_hand_built_line():
    bank = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])  # radii (k=1): 1, 1, 1, 1, 7
    fakes = np.array([[0.5], [20.0], [5.0], [7.0], [1.0]])
    reliable, m = LocalManifoldDetector(bank, k=1)(fakes)
    # 0.5: nearest 0 (tie with 1 -> lower index), 0.5 < 1. 20: 10 away from 10 > 7.
    # 5: nearest 3 at 2 > 1. 7: nearest 10 at 3 < 7. 1.0 on a real point: 0 < 1.
    np.testing.assert_array_equal(reliable, [True, False, False, True, True])
    np.testing.assert_array_equal(m, [1, 0, 0, 1, 1])
    np.testing.assert_allclose(LocalManifoldDetector(bank, k=1).radii, [1, 1, 1, 1, 7])


@pytest.mark.parametrize("k", [1, 3, 5])
def test_random_sets_match_brute_force(k, rng):
    bank = rng.normal(size=(60, 4))
    fakes = np.concatenate([rng.normal(size=(30, 4)), 3 + rng.normal(size=(10, 4))])
    reliable, m = LocalManifoldDetector(bank, k=k)(fakes)
    ref_reliable, ref_m = brute_force_eq5(bank, fakes, k)
    np.testing.assert_array_equal(m, ref_m)
    np.testing.assert_array_equal(reliable, ref_reliable)
    assert 0 < reliable.sum() < len(fakes)  # both groups occur


def test_ties_and_duplicates_match_brute_force(rng):
    bank = rng.integers(0, 3, size=(40, 2)).astype(float)  # many duplicates, many equal distances
    fakes = np.concatenate([bank[:10], rng.integers(-1, 4, size=(20, 2)).astype(float)])
    for k in (1, 2, 4):
        reliable, m = LocalManifoldDetector(bank, k=k)(fakes)
        ref_reliable, ref_m = brute_force_eq5(bank, fakes, k)
        np.testing.assert_array_equal(m, ref_m)
        np.testing.assert_array_equal(reliable, ref_reliable)


def test_bad_input_is_named(rng):
    with pytest.raises(ValueError, match="memory bank"):
        LocalManifoldDetector(rng.normal(size=(3, 2)), k=3)  # needs k + 1 = 4 points
    detector = LocalManifoldDetector(rng.normal(size=(10, 2)), k=2)
    with pytest.raises(ValueError, match="fake features"):
        detector(rng.normal(size=(4, 3)))
    with pytest.raises(ValueError, match="fake features"):
        detector(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="k must"):
        LDMDConfig(k=0)
    with pytest.raises(ValueError, match="replay_std"):
        LDMDConfig(replay_std=-1.0)
    with pytest.raises(ValueError, match="refresh_every"):
        LDMD(torch.randn(10, 2), features="perception")
    with pytest.raises(ValueError, match="memory bank"):
        LDMD(torch.randn(3, 2), k=5)


class ToyGAN(torch.nn.Module):
    """The few pieces of the GAN interface LDMD uses."""

    family = "gan"

    def __init__(self):
        super().__init__()
        self.generator = torch.nn.Linear(2, 2)
        self.disc = torch.nn.Linear(2, 1)
        self.calls = 0

    def discriminate(self, x):
        self.calls += 1
        return self.disc(x).reshape(-1)

    @staticmethod
    def generator_loss_per_sample(d_fake):
        return torch.nn.functional.softplus(-d_fake)


def _context(model, real, z):
    fake = model.generator(z)
    d_fake = model.discriminate(fake)
    loss = model.generator_loss_per_sample(d_fake)
    return GeneratorContext(step=0, real=real, z=z, prior_z=z, fake=fake, d_fake=d_fake, per_sample_loss=loss, model=model)


def test_plugin_reuse_weights_and_replay(rng):
    torch.manual_seed(0)
    model = ToyGAN()
    real = torch.randn(50, 2)
    plugin = LDMD(real, k=3, replay_std=0.0)
    z = torch.randn(16, 2)
    ctx = _context(model, real, z)
    loss = plugin.generator_loss(ctx)
    reliable, m = brute_force_eq5(real.numpy(), ctx.fake.detach().numpy(), 3)
    assert ctx.log["ldmd_rfi_share"] == pytest.approx(reliable.mean())
    base = ctx.per_sample_loss.detach().numpy()
    w = 1 + 1 / (1 + np.exp(-m))
    # replay_std = 0: the replayed latent is z itself, so its loss is the base loss
    expected = (reliable * w * base).sum() / 16 + ((~reliable) * base).sum() / 16
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert model.generator.weight.grad is not None and model.generator.weight.grad.abs().sum() > 0


class RingGAN(torch.nn.Module):
    """A tiny non-saturating GAN on 2D points calling the hooks in plugins.py's order.

    Stands in for modecover.models.gan in the wiring tests of the method plug-ins.
    """

    family = "gan"

    def __init__(self, hooks, latent_dim=4):
        super().__init__()
        self.config = {"latent_dim": latent_dim}
        self.hooks = hooks
        self.generator = torch.nn.Sequential(torch.nn.Linear(latent_dim, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        self.body = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.LeakyReLU(0.2))
        self.head = torch.nn.Linear(32, 1)
        self.opt_g = torch.optim.Adam([*self.generator.parameters(), *hooks.parameters()], 1e-3)
        self.opt_d = torch.optim.Adam([*self.body.parameters(), *self.head.parameters()], 1e-3)

    def discriminate(self, x):
        return self.head(self.body(x)).reshape(-1)

    def perception_features(self, x):
        return self.body(x)

    @staticmethod
    def generator_loss_per_sample(d_fake):
        return torch.nn.functional.softplus(-d_fake)

    def train_step(self, real, step):
        from modecover.plugins import DiscriminatorContext

        sp = torch.nn.functional.softplus
        b, hooks = real.shape[0], self.hooks
        with torch.no_grad():
            fake = self.generator(hooks.latents(torch.randn(b, hooks.prior_dim(self.config["latent_dim"]))))
        d_real, d_fake = self.discriminate(real), self.discriminate(fake)
        dctx = DiscriminatorContext(step, real, fake, d_real, d_fake, self)
        loss_d = sp(-d_real).mean() + sp(d_fake).mean() + hooks.discriminator_loss(dctx)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        prior = torch.randn(b, hooks.prior_dim(self.config["latent_dim"]))
        z = hooks.latents(prior)
        fake = self.generator(z)
        d_fake = self.discriminate(fake)
        per_sample = self.generator_loss_per_sample(d_fake)
        ctx = GeneratorContext(step, real, z, prior, fake, d_fake, per_sample, self)
        w = hooks.generator_weights(ctx)
        loss_g = (per_sample if w is None else per_sample * w).mean() + hooks.generator_loss(ctx)
        self.opt_g.zero_grad(set_to_none=True)
        d_before = [p.detach().clone() for p in self.head.parameters()]
        loss_g.backward()
        self.opt_g.step()
        assert all(torch.equal(a, p) for a, p in zip(d_before, self.head.parameters()))  # G step leaves D
        return ctx.log


def ring(n=400, seed=0):
    gen = torch.Generator().manual_seed(seed)
    angles = torch.randint(8, (n,), generator=gen) * (2 * np.pi / 8)
    return torch.stack([angles.cos(), angles.sin()], 1) + 0.01 * torch.randn(n, 2, generator=gen)


def test_ldmd_trains_on_the_ring_and_logs_rfi_share():
    from modecover.plugins import Hooks

    torch.manual_seed(0)
    data = ring()
    model = RingGAN(Hooks([LDMD(data, k=5)]))
    before = [p.detach().clone() for p in model.generator.parameters()]
    shares = [model.train_step(data[torch.randint(400, (32,))], step)["ldmd_rfi_share"] for step in range(3)]
    assert all(0.0 <= s <= 1.0 for s in shares)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.generator.parameters()))
