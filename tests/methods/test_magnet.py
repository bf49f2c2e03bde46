"""MaGNET / polarity sampling: volumes against analytic values, resampling, bad input."""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from modecover.methods.magnet import (
    LatentPool,
    build_pool,
    log_prior,
    log_volumes,
    magnet_sample,
    resample,
    resampling_log_weights,
)


def reference_log_volumes(generator, latents, top_k=None):
    """Per-sample torch.autograd.functional.jacobian loop, float64 SVD."""
    out = []
    for z in latents:
        jac = torch.autograd.functional.jacobian(lambda v: generator(v.unsqueeze(0)).reshape(-1), z)
        s = torch.linalg.svdvals(jac.double())
        out.append(torch.log(s[:top_k] if top_k else s).sum().item())
    return np.array(out)


def test_linear_generator_volume_is_constant_sqrt_det():
    torch.manual_seed(0)
    a, b = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    z = torch.randn(20, 3, dtype=torch.float64)
    vols = log_volumes(lambda v: v @ a.T + b, z)
    expected = 0.5 * np.linalg.slogdet((a.T @ a).numpy())[1]
    np.testing.assert_allclose(vols, expected, rtol=1e-10)
    pool = LatentPool(z.numpy(), vols, log_prior(z))
    probs = np.exp(resampling_log_weights(pool, rho=1.0))
    np.testing.assert_allclose(probs, 1 / 20, rtol=1e-9)  # uniform resampling


def test_elementwise_exp_volume_is_sum_of_latents():
    z = torch.randn(15, 4, dtype=torch.float64)
    np.testing.assert_allclose(log_volumes(torch.exp, z), z.sum(1).numpy(), atol=1e-10)


def test_image_shaped_output_both_sides_match_autograd_loop():
    torch.manual_seed(1)
    wide = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Linear(32, 12),
                               torch.nn.Unflatten(1, (3, 2, 2)))
    tall = torch.nn.Sequential(torch.nn.Linear(9, 16), torch.nn.Softplus(), torch.nn.Linear(16, 4))
    z3, z9 = torch.randn(6, 3), torch.randn(6, 9)
    np.testing.assert_allclose(log_volumes(wide, z3, batch_size=4), reference_log_volumes(wide, z3), rtol=1e-5)
    np.testing.assert_allclose(log_volumes(tall, z9, batch_size=4), reference_log_volumes(tall, z9), rtol=1e-5)
    np.testing.assert_allclose(log_volumes(tall, z9, top_k=2), reference_log_volumes(tall, z9, top_k=2), rtol=1e-5)


def test_default_cpu_batch_keeps_the_largest_batched_tangent_in_cache():
    from modecover.methods.magnet import _CPU_TANGENT_FLOATS, _default_batch_size, _probe

    torch.manual_seed(3)
    # the hidden layer (4096 values) is the largest tensor, not the 12-value output
    net = torch.nn.Sequential(torch.nn.Linear(5, 4096), torch.nn.Tanh(), torch.nn.Linear(4096, 12))
    z = torch.randn(9, 5)
    out, largest = _probe(net, z[:1])
    assert out.shape == (1, 12) and largest == 4096
    assert _probe(torch.exp, z[:1])[1] == 5  # no module runs: the output's size
    cpu = torch.device("cpu")
    assert _default_batch_size(5, largest, cpu) == _CPU_TANGENT_FLOATS // (5 * 4096) == 102
    assert _default_batch_size(64, 12544 * 4, cpu) == 1  # at least one latent
    assert _default_batch_size(64, 12544, torch.device("meta")) == 16  # off the CPU: 1024 columns
    np.testing.assert_allclose(log_volumes(net, z), log_volumes(net, z, batch_size=2), rtol=1e-6)


def test_projection_with_full_rank_p_keeps_the_volume():
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 6))
    z = torch.randn(5, 2)
    # P with orthonormal rows spanning all 6 outputs is an isometry
    np.testing.assert_allclose(log_volumes(net, z, projection_dim=6), log_volumes(net, z), atol=1e-5)
    projected = log_volumes(net, z, projection_dim=3, seed=4)
    assert (projected <= log_volumes(net, z) + 1e-6).all()  # ||PJv|| <= ||Jv||
    np.testing.assert_array_equal(projected, log_volumes(net, z, projection_dim=3, seed=4))


def _curve(t):
    """1D -> 2D: circle arc of radius 1/pi parametrised by arc length s = Phi(t)^2 in [0, 1]."""
    s = torch.special.ndtr(t[:, 0]) ** 2
    r = 1 / math.pi
    return torch.stack([r * torch.cos(s / r), r * torch.sin(s / r)], dim=1)


def _arc_length(x):
    r = 1 / math.pi
    return np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi) * r


def test_curve_log_volume_is_analytic():
    t = torch.linspace(-3, 3, 13, dtype=torch.float64)[:, None]
    analytic = np.log(2) + stats.norm.logcdf(t[:, 0].numpy()) + stats.norm.logpdf(t[:, 0].numpy())
    np.testing.assert_allclose(log_volumes(_curve, t), analytic, atol=1e-9)


def test_magnet_with_prior_correction_is_uniform_in_arc_length():
    samples, z, pool = magnet_sample(_curve, 2000, latent_dim=1, pool_size=20000, rho=1.0, c=1.0, seed=3)
    arc = _arc_length(samples.double().numpy())
    prior_arc = _arc_length(_curve(torch.randn(2000, 1, generator=torch.Generator().manual_seed(5))).numpy())
    assert stats.kstest(arc, "uniform").pvalue > 0.01
    assert stats.kstest(prior_arc, "uniform").pvalue < 1e-6


def test_pool_round_trip_and_instant_resampling(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    path = tmp_path / "pool.npz"
    _, _, pool = magnet_sample(net, 10, latent_dim=2, pool_size=50, pool_path=path)
    loaded = LatentPool.load(path)
    np.testing.assert_array_equal(loaded.log_volumes, pool.log_volumes)
    np.testing.assert_array_equal(loaded.latents, pool.latents)
    np.testing.assert_array_equal(resample(loaded, 0.5, 30, 1), resample(pool, 0.5, 30, 1))
    # rho > 0 favours large volumes: mean log-volume of the draws rises with rho
    means = [pool.log_volumes[resample(pool, rho, 4000, 0)].mean() for rho in (-2.0, 0.0, 2.0)]
    assert means[0] < means[1] < means[2]


def test_resampling_probabilities_match_formula():
    rng = np.random.default_rng(0)
    pool = LatentPool(rng.normal(size=(6, 2)), rng.normal(size=6), rng.normal(size=6))
    rho, c = 1.7, 0.3
    raw = np.exp(rho * pool.log_volumes - c * pool.log_prior)
    np.testing.assert_allclose(np.exp(resampling_log_weights(pool, rho, c)), raw / raw.sum(), rtol=1e-12)
    idx = resample(pool, rho, 6, seed=0, c=c, replace=False)
    assert sorted(idx.tolist()) == list(range(6))


def test_zero_singular_value_gives_zero_weight_not_nan():
    z = torch.randn(4, 2, dtype=torch.float64)
    ignores_second = lambda v: torch.stack([v[:, 0], 2 * v[:, 0]], dim=1)  # noqa: E731
    vols = log_volumes(ignores_second, z)
    assert np.isneginf(vols).all()
    np.testing.assert_allclose(log_volumes(ignores_second, z, top_k=1), 0.5 * np.log(5), rtol=1e-12)
    mixed = LatentPool(z.numpy(), np.array([-np.inf, 0.0, 1.0, 0.5]), log_prior(z))
    probs = np.exp(resampling_log_weights(mixed, 1.0))
    assert probs[0] == 0 and np.isfinite(probs).all() and abs(probs.sum() - 1) < 1e-12
    with pytest.raises(ValueError, match="infinite weight"):
        resampling_log_weights(mixed, -1.0)
    with pytest.raises(ValueError, match="all log-volumes"):
        resampling_log_weights(LatentPool(z.numpy(), np.full(4, -np.inf), log_prior(z)), 1.0)


def test_nan_output_raises_naming_the_latent():
    z = torch.tensor([[1.0, 1.0], [-1.0, 2.0]])
    with pytest.raises(ValueError, match="latent 1"):
        log_volumes(lambda v: torch.sqrt(v), z)


class NoisyGenerator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 3)

    def forward(self, z):
        return torch.tanh(self.linear(z)) * (1 + 0.5 * torch.randn(z.shape[0], 1))


def test_hidden_randomness_warns_and_fixed_noise_is_reproducible():
    torch.manual_seed(0)
    gen, z = NoisyGenerator(), torch.randn(5, 2)
    with pytest.warns(RuntimeWarning, match="hidden randomness"):
        log_volumes(gen, z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = log_volumes(gen, z, fixed_noise=True, seed=7)
        b = log_volumes(gen, z, fixed_noise=True, seed=7)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()


def test_module_is_evaluated_in_eval_mode_and_restored():
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 3))
    net.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dropout is off in eval mode: no hidden-randomness warning
        log_volumes(net, torch.randn(3, 2))
    assert net.training


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"top_k": 0}, "top_k"),
        ({"top_k": 5}, "top_k=5 exceeds"),
        ({"projection_dim": 0}, "projection_dim"),
        ({"projection_dim": 10}, "exceeds the generator's output"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_invalid_hyper_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        log_volumes(lambda v: v @ torch.ones(2, 3), torch.randn(4, 2), **kwargs)


def test_invalid_inputs_are_named():
    with pytest.raises(ValueError, match="latents"):
        log_volumes(torch.tanh, torch.randn(4))
    with pytest.raises(ValueError, match="latents"):
        log_volumes(torch.tanh, torch.tensor([[float("nan"), 1.0]]))
    pool = build_pool(torch.tanh, 2, 5)
    with pytest.raises(ValueError, match="rho"):
        resample(pool, float("nan"), 3)
    with pytest.raises(ValueError, match="without replacement"):
        resample(pool, 1.0, 6, replace=False)
    with pytest.raises(ValueError, match="pool_size"):
        build_pool(torch.tanh, 2, 0)


def test_pool_file_is_reused_only_for_the_same_generator_and_settings(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    other = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    path = tmp_path / "pool.npz"
    _, _, first = magnet_sample(net, 5, latent_dim=2, pool_size=30, pool_path=path)
    stamp = path.stat().st_mtime_ns
    _, _, again = magnet_sample(net, 5, latent_dim=2, pool_size=30, pool_path=path, rho=-1.0, c=0.5)
    assert path.stat().st_mtime_ns == stamp  # rho and c only resample: reused
    np.testing.assert_array_equal(again.log_volumes, first.log_volumes)
    changes = [
        ({"generator": other}, lambda p: not np.array_equal(p.log_volumes, first.log_volumes)),
        ({"pool_size": 40}, lambda p: len(p) == 40),
        ({"top_k": 1}, lambda p: p.meta["top_k"] == 1),
        ({"projection_dim": 2}, lambda p: p.meta["projection_dim"] == 2),
        ({"seed": 4}, lambda p: not np.array_equal(p.latents, first.latents)),
    ]
    for change, rebuilt in changes:
        args = {"generator": net, "n": 5, "latent_dim": 2, "pool_size": 30, "pool_path": path, **change}
        _, _, pool = magnet_sample(**args)
        assert rebuilt(pool) and rebuilt(LatentPool.load(path)), change
        magnet_sample(net, 5, latent_dim=2, pool_size=30, pool_path=path)  # back to the first pool


@pytest.mark.parametrize("options, message", [
    ({"latent_dim": 3}, r"latent_dim=3: the generator fails on latents of shape \(4, 3\)"),
    ({"rho": "1"}, "^rho must be a finite number, got '1'$"),
    ({"rho": float("nan")}, "^rho must be a finite number, got nan$"),
    ({"topk": 1}, r"unknown volume option\(s\) \['topk'\]"),
    ({"top_k": True}, "^top_k must be a positive integer, got True$"),
    ({"pool_size": True}, "^pool_size must be a positive integer, got True$"),
    ({"n": np.bool_(True)}, "^n must be a positive integer, got (np.)?True_?$"),
])
def test_magnet_sample_arguments_are_named(options, message):
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    with pytest.raises(ValueError, match=message):
        magnet_sample(**{"generator": net, "n": 5, "latent_dim": 2, "pool_size": 20, **options})


def test_magnet_sample_takes_numpy_integers():
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    samples, _, pool = magnet_sample(net, np.int64(5), latent_dim=np.int64(2), pool_size=np.int32(20),
                                     top_k=np.int64(1))
    assert samples.shape == (5, 3) and len(pool) == 20
    assert log_volumes(net, torch.randn(3, 2), top_k=np.int64(1), batch_size=np.int16(2)).shape == (3,)
