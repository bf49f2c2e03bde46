"""KID and IS against torch-fidelity's own functions on the same inputs (same subsets and
shuffles through the same seeded RandomState), plus brute-force loops and edge cases."""

import importlib
import math
import types

import numpy as np
import pytest
import torch

from helpers import import_reference, stub_torchvision
from modecover.metrics import inception_score, kid
from modecover.metrics.kid import mmd2_unbiased


@pytest.fixture(scope="module")
def fidelity():
    """torch-fidelity's metric functions; torchvision (imported by torch_fidelity but not
    used by these two functions) is replaced by empty modules while importing."""
    mp = pytest.MonkeyPatch()
    stub_torchvision(mp)
    try:
        metric_kid = import_reference("torch_fidelity.metric_kid")
        metric_isc = import_reference("torch_fidelity.metric_isc")
        yield types.SimpleNamespace(kid=metric_kid.kid_features_to_metric, isc=metric_isc.isc_features_to_metric)
    finally:
        mp.undo()


# ----------------------------------------------------------------------------- KID


@pytest.mark.parametrize(
    "n1, n2, d, subsets, size, seed",
    [(120, 150, 16, 7, 50, 0), (60, 60, 5, 4, 60, 2020), (300, 80, 32, 5, 80, 3)],
)
def test_kid_equals_torch_fidelity(fidelity, n1, n2, d, subsets, size, seed):
    rng = np.random.default_rng(d)
    real = rng.normal(size=(n1, d))
    fake = rng.normal(size=(n2, d)) * 1.2 + 0.1
    want = fidelity.kid(
        torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=subsets, kid_subset_size=size,
        rng_seed=seed, verbose=False,
    )
    mean, std = kid(real, fake, subsets=subsets, subset_size=size, seed=seed)
    assert mean == pytest.approx(want["kernel_inception_distance_mean"], rel=1e-9, abs=1e-12)
    assert std == pytest.approx(want["kernel_inception_distance_std"], rel=1e-9, abs=1e-12)


def test_kid_float32_features_close_to_torch_fidelity(fidelity):
    # torch-fidelity evaluates the kernel in float32 for float32 features, we in float64
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 64)).astype(np.float32)
    fake = (rng.normal(size=(200, 64)) + 0.3).astype(np.float32)
    want = fidelity.kid(torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=5, kid_subset_size=100,
                        rng_seed=7, verbose=False)
    mean, _ = kid(real, fake, subsets=5, subset_size=100, seed=7)
    assert mean == pytest.approx(want["kernel_inception_distance_mean"], rel=1e-4)


def test_kid_custom_kernel_equals_torch_fidelity(fidelity):
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(40, 3)), rng.normal(size=(50, 3)) * 0.5
    want = fidelity.kid(torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=3, kid_subset_size=30,
                        kid_kernel_poly_degree=2, kid_kernel_poly_gamma=0.7, kid_kernel_poly_coef0=0.5,
                        rng_seed=1, verbose=False)
    mean, std = kid(real, fake, subsets=3, subset_size=30, degree=2, gamma=0.7, coef0=0.5, seed=1)
    assert mean == pytest.approx(want["kernel_inception_distance_mean"], rel=1e-9)
    assert std == pytest.approx(want["kernel_inception_distance_std"], rel=1e-9)


def brute_force_mmd2(x, y, degree=3, gamma=None, coef0=1.0):
    gamma = 1 / x.shape[1] if gamma is None else gamma
    k = lambda a, b: (gamma * float(np.dot(a, b)) + coef0) ** degree  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2


def test_mmd2_against_pair_loop():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 4)) + 1
    got = mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y), degree=3, gamma=0.25, coef0=1.0)
    assert got == pytest.approx(brute_force_mmd2(x, y), rel=1e-12)


def test_kid_whole_set_subset_is_one_deterministic_estimate():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(15, 3)), rng.normal(size=(15, 3)) * 2
    mean, std = kid(x, y, subsets=4, subset_size=15)
    # every subset is a permutation of the whole set: the same value, zero spread
    assert mean == pytest.approx(brute_force_mmd2(x, y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_identical_distribution_near_zero_and_can_be_negative():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 8))
    mean, _ = kid(x, x.copy(), subsets=10, subset_size=100)
    assert abs(mean) < 0.05
    far, _ = kid(x, x + 3.0, subsets=10, subset_size=100)
    assert far > 1.0


def test_kid_duplicated_points():
    x = np.repeat(np.eye(3), 4, axis=0)  # 12 rows, each point four times
    mean, std = kid(x, x, subsets=3, subset_size=12)
    assert mean == pytest.approx(brute_force_mmd2(x, x), rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


ONES = np.ones((10, 2))


@pytest.mark.parametrize(
    "real, fake, kwargs, match",
    [
        (ONES, ONES, dict(subset_size=11), "subset_size=11 is larger"),
        (np.ones((10, 2)), np.ones((5, 2)), dict(subset_size=6), "fake: 5 rows"),
        (ONES, ONES, dict(subset_size=1), "^subset_size must be an integer >= 2, got 1$"),
        (ONES, ONES, dict(subset_size=True), "^subset_size must be an integer >= 2, got True$"),
        (ONES, ONES, dict(subset_size=5, subsets=0), "^subsets must be an integer >= 1, got 0$"),
        (ONES, ONES, dict(subset_size=5, subsets=True), "^subsets must be .* got True$"),
        (ONES, ONES, dict(subset_size=5, degree=0), "^degree must be an integer >= 1, got 0$"),
        (ONES, ONES, dict(subset_size=5, degree=True), "^degree must be .* got True$"),
        (np.ones((10, 2)), np.ones((10, 3)), dict(subset_size=5), "feature columns"),
        (np.full((10, 2), np.nan), np.ones((10, 2)), dict(subset_size=5), "real: 20 non-finite"),
        (ONES, ONES, dict(subset_size=5, gamma=float("inf")), "^gamma must be a finite number, got inf$"),
        (ONES, ONES, dict(subset_size=5, gamma="x"), "^gamma must be a finite number, got 'x'$"),
        (ONES, ONES, dict(subset_size=5, gamma=True), "^gamma must be a finite number, got True$"),
        (ONES, ONES, dict(subset_size=5, coef0=None), "^coef0 must be a finite number, got None$"),
        (ONES, ONES, dict(subset_size=5, seed=-1),
         r"^seed must be an integer in \[0, 4294967295\], got -1$"),
        (ONES, ONES, dict(subset_size=5, seed=2**32),
         r"^seed must be an integer in \[0, 4294967295\], got 4294967296$"),
        (ONES, ONES, dict(subset_size=5, seed=1.5), r"^seed must be .* got 1\.5$"),
        (ONES, ONES, dict(subset_size=5, seed=False), r"^seed must be .* got False$"),
    ],
)
def test_kid_bad_input(real, fake, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kid(real, fake, **kwargs)


def test_kid_kernel_overflow_is_a_clear_error():
    # (x.y / d + 1)^3 of features near 1e100 is about 1e600: inf - inf gave (nan, nan)
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(60, 4)) * 1e100, rng.normal(size=(60, 4)) * 1e100
    with pytest.raises(ValueError,
                       match=r"polynomial kernel .*\^3 overflowed float64 for features as large as .*e\+100"):
        kid(real, fake, subsets=2, subset_size=50)
    assert np.isfinite(kid(real * 1e-100, fake * 1e-100, subsets=2, subset_size=50)).all()


# ----------------------------------------------------------------------------- IS


@pytest.mark.parametrize("n, classes, splits, seed", [(100, 10, 10, 0), (103, 7, 4, 2020), (50, 3, 1, 5)])
def test_is_equals_torch_fidelity(fidelity, n, classes, splits, seed):
    logits = np.random.default_rng(n).normal(size=(n, classes)) * 3
    for shuffle in (True, False):
        want = fidelity.isc(torch.from_numpy(logits), splits=splits, shuffle=shuffle, rng_seed=seed)
        mean, std = inception_score(logits, splits=splits, shuffle=shuffle, seed=seed)
        assert mean == pytest.approx(want["inception_score_mean"], rel=1e-12)
        assert std == pytest.approx(want["inception_score_std"], rel=1e-9, abs=1e-12)


def test_is_float32_logits_match_torch_fidelity(fidelity):
    logits = np.random.default_rng(9).normal(size=(64, 5)).astype(np.float32)
    want = fidelity.isc(torch.from_numpy(logits), splits=2, shuffle=True, rng_seed=0)
    assert inception_score(torch.from_numpy(logits), splits=2)[0] == pytest.approx(want["inception_score_mean"],
                                                                                 rel=1e-12)


def test_is_known_values():
    # Confident, evenly spread over C classes: IS = C. All the same class: IS = 1.
    confident = np.eye(4)[np.arange(40) % 4] * 60.0
    assert inception_score(confident, splits=1)[0] == pytest.approx(4.0, rel=1e-12)
    assert inception_score(np.tile([50.0, 0, 0, 0], (40, 1)), splits=2) == pytest.approx((1.0, 0.0))
    # Uniform predictions carry no information: IS = 1.
    assert inception_score(np.zeros((10, 6)), splits=5)[0] == pytest.approx(1.0)


def test_is_underflowing_class_is_finite():
    # exp(-2000) underflows to exactly 0; 0 ln 0 = 0 keeps the score finite (torch-fidelity: NaN)
    logits = np.array([[1000.0, -1000.0, -1000.0], [-1000.0, 1000.0, -1000.0]])
    mean, std = inception_score(logits, splits=1)
    assert mean == pytest.approx(2.0) and std == 0.0
    assert math.isfinite(mean)


def test_is_split_boundaries_against_loop():
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(23, 5))
    scores = []
    for i in range(4):
        chunk = logits[i * 23 // 4 : (i + 1) * 23 // 4]
        p = np.exp(chunk) / np.exp(chunk).sum(1, keepdims=True)
        q = p.mean(0)
        scores.append(math.exp(np.mean([sum(pi * math.log(pi / qi) for pi, qi in zip(row, q)) for row in p])))
    assert inception_score(logits, splits=4, shuffle=False) == pytest.approx((np.mean(scores), np.std(scores)))


@pytest.mark.parametrize(
    "logits, kwargs, match",
    [
        (np.zeros((5, 3)), dict(splits=6), "logits: needs at least 6 rows"),
        (np.zeros((5, 3)), dict(splits=0), "^splits must be an integer >= 1, got 0$"),
        (np.zeros((5, 3)), dict(splits=True), "^splits must be an integer >= 1, got True$"),
        (np.zeros((5, 1)), dict(splits=1), "2 class columns"),
        (np.array([[0.0, np.inf]]), dict(splits=1), "logits: 1 non-finite"),
        (np.zeros(5), dict(splits=1), "logits: expected a 2-D"),
        (np.zeros((5, 3)), dict(splits=1, seed=-1), r"^seed must be an integer in \[0, 4294967295\], got -1$"),
        (np.zeros((5, 3)), dict(splits=1, seed="0"), r"^seed must be an integer in \[0, 4294967295\], got '0'$"),
    ],
)
def test_is_bad_input(logits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        inception_score(logits, **kwargs)


def test_kid_blocked_columns_equal_one_block(monkeypatch):
    # wide features go through float64 column blocks; the sum over blocks is the same kernel
    kid_module = importlib.import_module("modecover.metrics.kid")

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 700)).astype(np.float32), (rng.normal(size=(40, 700)) + 0.2).astype(np.float32)
    whole = kid(x, y, subsets=3, subset_size=30, seed=1)
    monkeypatch.setattr(kid_module, "_BLOCK_BYTES", 8 * 2 * 30 * 64)  # 64 columns per block
    blocked = kid(x, y, subsets=3, subset_size=30, seed=1)
    assert blocked == pytest.approx(whole, rel=1e-10)
    small_x, small_y = x[:12, :50].astype(np.float64), y[:12, :50].astype(np.float64)
    got = mmd2_unbiased(torch.from_numpy(small_x), torch.from_numpy(small_y), degree=3, gamma=0.02, coef0=1.0)
    assert got == pytest.approx(brute_force_mmd2(small_x, small_y, gamma=0.02), rel=1e-10)


def test_kid_too_large_subset_is_a_clear_error(monkeypatch):
    import modecover._checks as checks

    monkeypatch.setattr(checks, "available_memory_bytes", lambda: 2**20)
    x = np.zeros((600, 4))
    with pytest.raises(MemoryError, match="600 x 600 kernel matrices .*smaller subset_size"):
        kid(x, x + 1, subsets=1, subset_size=600)
