"""LDMD: the RFI / nRFI split and m_j against a brute-force evaluation of Eq. 5."""

import numpy as np
import pytest
import torch

from modecover.methods.ldmd import LDMD, LDMDConfig, LocalManifoldDetector
from modecover.plugins import GeneratorContext


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


@pytest.mark.parametrize("options, message", [
    ({"k": 0}, "'k' must be a positive integer, got 0"),
    ({"k": True}, "'k' must be a positive integer, got True"),
    ({"refresh_every": 0}, "'refresh_every' must be a positive integer, got 0"),
    ({"feature_batch": 2.0}, r"'feature_batch' must be a positive integer, got 2\.0"),
    ({"replay_std": -1.0}, r"'replay_std' must be a finite number >= 0, got -1\.0"),
    ({"replay_mean": float("inf")}, "'replay_mean' must be a finite number, got inf"),
])
def test_config_errors_name_the_key_and_the_value(options, message):
    with pytest.raises(ValueError, match=rf"^\[\[methods\]\] 'ldmd': {message}$"):
        LDMDConfig(**options)


def test_bad_input_is_named(rng):
    with pytest.raises(ValueError, match="memory bank"):
        LocalManifoldDetector(rng.normal(size=(3, 2)), k=3)  # needs k + 1 = 4 points
    detector = LocalManifoldDetector(rng.normal(size=(10, 2)), k=2)
    with pytest.raises(ValueError, match="fake features"):
        detector(rng.normal(size=(4, 3)))
    with pytest.raises(ValueError, match="fake features"):
        detector(np.array([[np.nan, 0.0]]))
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
    return GeneratorContext(step=0, real=real, z=z, prior_z=z, fake=fake, d_fake=d_fake, per_sample_loss=loss,
                            model=model)


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


def test_ldmd_trains_on_the_ring_and_logs_rfi_share(ring_points, small_gan):
    from modecover.plugins import Hooks

    torch.manual_seed(0)
    data = ring_points
    hooks = Hooks([LDMD(data, k=5)])
    model = small_gan(hooks)
    before = [p.detach().clone() for p in model.generator.parameters()]
    shares = [model.train_step(data[torch.randint(400, (32,))], hooks, step)["ldmd_rfi_share"] for step in range(3)]
    assert all(0.0 <= s <= 1.0 for s in shares)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.generator.parameters()))
