"""Top-k, DRS and instance selection: their selection rules on hand-made scores."""

import numpy as np
import pytest
import torch
from scipy import stats

from modecover.methods.drs import DRSConfig, drs_accept_probability, drs_sample, drs_scores
from modecover.methods.instance_selection import (
    InstanceSelection,
    gaussian_log_likelihood,
    selection_mask,
)
from modecover.methods.topk import TopK, topk_count, topk_mask
from modecover.plugins import GeneratorContext


def test_topk_schedule_is_the_recurrence():
    b, k = 64, 64.0
    for epoch in range(200):
        expected = max(1, min(b, max(int(np.floor(k + 1e-9)), int(np.ceil(0.5 * b)))))
        assert topk_count(b, epoch) == expected
        k = max(0.99 * k, 0.5 * b)
    assert topk_count(64, 0) == 64 and topk_count(64, 1) == 63 and topk_count(64, 10_000) == 32
    assert topk_count(3, 500) == 2  # ceil(nu * b)


def test_topk_mask_keeps_largest_scores_ties_to_lower_index():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.9, -1.0, 0.5])
    np.testing.assert_array_equal(topk_mask(scores, 2).numpy(), [0, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(topk_mask(scores, 3).numpy(), [0, 1, 1, 1, 0, 0])


def test_topk_plugin_weights():
    d_fake = torch.tensor([3.0, -1.0, 2.0, 0.0])
    ctx = GeneratorContext(250, None, None, None, None, d_fake, torch.zeros(4), None)
    w = TopK(steps_per_epoch=1).generator_weights(ctx)  # epoch 250: k = max(floor(.99^250 * 4), 2) = 2
    np.testing.assert_allclose(w.numpy(), [2.0, 0.0, 2.0, 0.0])  # mean over the kept two
    assert ctx.log["topk_k"] == 2


@pytest.mark.parametrize("make, message", [
    (lambda: topk_mask(torch.zeros(6), 7), r"^Top-k: k \(of a batch of 6\) must be an integer in \[1, 6\], got 7$"),
    (lambda: topk_mask(torch.zeros(6), True),
     r"^Top-k: k \(of a batch of 6\) must be an integer in \[1, 6\], got True$"),
    (lambda: topk_count(0, 3), r"^Top-k: batch_size must be a positive integer, got 0$"),
    (lambda: TopK(gamma=1.5), r"^\[\[methods\]\] 'topk': 'gamma' must be a finite number in \(0, 1\), got 1\.5$"),
    (lambda: DRSConfig(percentile=101), r"^DRS percentile must be a finite number in \[0, 100\], got 101$"),
    (lambda: DRSConfig(percentile=True), r"^DRS percentile must be a finite number in \[0, 100\], got True$"),
    (lambda: DRSConfig(eps=float("inf")), r"^DRS eps must be a finite number > 0, got inf$"),
    (lambda: DRSConfig(burn_in=0), r"^DRS burn_in must be a positive integer, got 0$"),
    (lambda: selection_mask(np.ones(5), 0.0),
     r"^instance selection retention ratio must be a finite number in \(0, 1\], got 0\.0$"),
    (lambda: selection_mask(np.ones(5), True),
     r"^instance selection retention ratio must be a finite number in \(0, 1\], got True$"),
])
def test_bad_settings_name_the_option_and_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def reference_drs(logits, max_logit, eps, pct):
    f = []
    for x in logits:
        f.append(x - max_logit - np.log(1 - np.exp(x - max_logit - eps)))
    f = np.array(f)
    return f - np.percentile(f, pct)


def test_drs_scores_formula_and_percentile(rng):
    logits = rng.normal(size=50)
    m = logits.max()
    scores = drs_scores(logits, m, eps=1e-3, percentile=95)
    np.testing.assert_allclose(scores, reference_drs(logits, m, 1e-3, 95), rtol=1e-10, atol=1e-12)
    assert np.mean(scores > 0) == pytest.approx(0.04, abs=0.021)  # 5% above the 95th percentile
    probs = drs_accept_probability(scores)
    np.testing.assert_allclose(probs, 1 / (1 + np.exp(-scores)))
    assert np.all(np.diff(probs[np.argsort(logits)]) >= 0)  # higher logit, likelier accepted
    assert np.isfinite(drs_accept_probability(np.array([-1e4, 1e4]))).all()


def test_drs_bad_input():
    with pytest.raises(ValueError, match="max_logit"):
        drs_scores(np.array([0.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        drs_scores(np.array([np.nan]), 1.0)


def test_drs_sample_favours_high_logits():
    gen = torch.Generator().manual_seed(0)
    generate = lambda b: torch.randn(b, 1, generator=gen)  # noqa: E731
    out = drs_sample(generate, lambda x: x[:, 0], 300, DRSConfig(burn_in=1000, batch_size=500), seed=0)
    assert out.shape == (300, 1)
    assert stats.ttest_1samp(out[:, 0].numpy(), 0.0).pvalue < 1e-6 and out.mean() > 0.5
    with pytest.raises(ValueError, match="accepted only"):
        drs_sample(generate, lambda x: x[:, 0], 10_000, DRSConfig(burn_in=10, batch_size=10, max_batches=2))


def test_drs_logits_of_another_length_are_named():
    generate = lambda b: torch.randn(b, 2)  # noqa: E731
    config = DRSConfig(burn_in=20, batch_size=10)
    with pytest.raises(ValueError, match=r"one logit per sample; it gave shape \(3,\) for a batch of 10"):
        drs_sample(generate, lambda x: x[:3, 0], 5, config)
    with pytest.raises(ValueError, match=r"gave shape \(10, 2\) for a batch of 10"):
        drs_sample(generate, lambda x: x, 5, config)
    assert drs_sample(generate, lambda x: x[:, :1], 5, config).shape == (5, 2)  # (B, 1) is one per sample


def test_drs_counts_take_numpy_integers_and_refuse_bools():
    config = DRSConfig(burn_in=np.int64(20), batch_size=np.int32(10), max_batches=np.int64(50))
    assert type(config.batch_size) is int
    assert drs_sample(lambda b: torch.randn(b, 1), lambda x: x[:, 0], np.int64(5), config).shape == (5, 1)
    for bad in ({"percentile": True}, {"batch_size": True}, {"eps": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            DRSConfig(**bad)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        drs_sample(lambda b: torch.randn(b, 1), lambda x: x[:, 0], True, config)


def test_instance_selection_matches_scipy_and_keeps_top_ratio(rng):
    x = rng.normal(size=(40, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 2.0]])
    ll = gaussian_log_likelihood(x, ridge=0.0)
    ref = stats.multivariate_normal(x.mean(0), np.cov(x, rowvar=False)).logpdf(x)
    np.testing.assert_allclose(ll, ref, rtol=1e-10)
    plugin = InstanceSelection(x, retention=0.25, ridge=0.0)
    w = plugin.data_weights(40).numpy()
    assert w.sum() == 10 and set(np.unique(w)) == {0.0, 1.0}
    assert ll[w == 1].min() >= ll[w == 0].max()
    with pytest.raises(ValueError, match="fitted on 40"):
        plugin.data_weights(41)


def test_selection_mask_ties_and_edges():
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    np.testing.assert_array_equal(selection_mask(scores, 0.4), [0, 1, 1, 0, 0])
    assert selection_mask(scores, 0.01).sum() == 1  # at least one kept
    assert selection_mask(scores, 1.0).all()


def test_instance_selection_degenerate_features_stay_finite():
    x = np.zeros((5, 4))
    x[:, 0] = np.arange(5)  # constant columns: singular covariance, ridge keeps it finite
    assert np.isfinite(gaussian_log_likelihood(x)).all()
    with pytest.raises(ValueError, match="instance selection features"):
        gaussian_log_likelihood(np.array([[np.inf, 1.0], [0.0, 1.0]]))


def test_topk_gradient_comes_only_from_kept_fakes(ring_points, small_gan):
    from modecover.plugins import Hooks

    torch.manual_seed(0)
    fake = torch.randn(8, 2, requires_grad=True)
    d_fake = fake.sum(1)
    per_sample = torch.nn.functional.softplus(-d_fake)
    ctx = GeneratorContext(10_000, None, None, None, fake, d_fake, per_sample, None)
    w = TopK(steps_per_epoch=1).generator_weights(ctx)  # k = 4 of 8
    (per_sample * w).mean().backward()
    kept = topk_mask(d_fake, 4)
    assert (fake.grad[~kept] == 0).all() and (fake.grad[kept] != 0).all()
    hooks = Hooks([TopK(steps_per_epoch=1)])
    model = small_gan(hooks)
    logs = [model.train_step(ring_points[:32], hooks, step) for step in range(3)]
    assert [log["topk_k"] for log in logs] == [32, 31, 31]  # floor(.99 * 32) = 31, floor(.99^2 * 32) = 31
