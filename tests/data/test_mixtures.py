"""2D mixtures: geometry, weights, sampling statistics, and bad input."""

import numpy as np
import pytest
from scipy import stats

from modecover.data.mixtures import (
    MIXTURES,
    Mixture,
    get_mixture,
    grid,
    imbalanced,
    imbalanced_grid,
    imbalanced_ring,
    ring,
)


def test_ring_geometry():
    mix = ring()
    assert mix.n_modes == 8 and mix.name == "ring"
    np.testing.assert_allclose(np.linalg.norm(mix.means, axis=1), 1.0)
    np.testing.assert_allclose(mix.means[0], [1, 0], atol=1e-12)
    np.testing.assert_allclose(mix.means[2], [0, 1], atol=1e-12)
    angles = np.sort(np.mod(np.arctan2(mix.means[:, 1], mix.means[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 8)
    np.testing.assert_array_equal(mix.sigmas, 0.01)
    np.testing.assert_allclose(mix.weights, 1 / 8)
    assert mix.minority == ()


def test_grid_geometry_matches_brute_force_product():
    mix = grid()
    assert mix.n_modes == 25
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(p) for p in mix.means.tolist()} == expected
    np.testing.assert_array_equal(mix.means[0], [-4, -4])
    np.testing.assert_array_equal(mix.means[1], [-2, -4])  # x fastest
    np.testing.assert_array_equal(mix.means[24], [4, 4])
    np.testing.assert_array_equal(mix.sigmas, 0.05)
    np.testing.assert_allclose(mix.weights, 1 / 25)


@pytest.mark.parametrize("base,minority", [(ring(), (1, 5)), (grid(), (0, 6, 12, 18, 24)), (ring(), (3,))])
def test_imbalanced_minority_weight_is_ratio_of_common(base, minority):
    mix = imbalanced(base, minority, ratio=1 / 20)
    common = [i for i in range(base.n_modes) if i not in minority]
    assert mix.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(mix.weights[list(minority)], mix.weights[common[0]] / 20)
    np.testing.assert_allclose(mix.weights[common], mix.weights[common[0]])
    # closed form: common weight = 1 / (K - m + m/20)
    k, m = base.n_modes, len(minority)
    assert mix.weights[common[0]] == pytest.approx(1 / (k - m + m / 20))
    assert mix.minority == tuple(sorted(minority))
    np.testing.assert_array_equal(mix.means, base.means)


def test_named_imbalanced_defaults_and_registry():
    assert imbalanced_ring().minority == (1, 5)
    assert imbalanced_grid().minority == (0, 6, 12, 18, 24)
    assert set(MIXTURES) == {"ring", "grid", "ring-imbalanced", "grid-imbalanced"}
    for name, make in MIXTURES.items():
        assert make().name == name
        assert get_mixture(name).name == name
    with pytest.raises(ValueError, match="'rng'.*choose one of"):
        get_mixture("rng")


def test_sample_dtypes_seed_and_statistics():
    mix = imbalanced_ring()
    pts, labels = mix.sample(40000, seed=3)
    assert pts.shape == (40000, 2) and pts.dtype == np.float32 and labels.dtype == np.int64
    again, labels2 = mix.sample(40000, seed=3)
    np.testing.assert_array_equal(pts, again)
    np.testing.assert_array_equal(labels, labels2)
    assert not np.array_equal(mix.sample(100, seed=4)[0], pts[:100])
    counts = np.bincount(labels, minlength=8)
    assert stats.chisquare(counts, 40000 * mix.weights).pvalue > 1e-3
    # each mode's offsets are N(0, sigma^2) per coordinate
    for j in (0, 1):
        off = (pts[labels == j] - mix.means[j]) / mix.sigmas[j]
        assert stats.kstest(off.ravel(), "norm").pvalue > 1e-3
    gen = np.random.default_rng(7)
    a = mix.sample(10, gen)[0]
    b = mix.sample(10, gen)[0]
    assert not np.array_equal(a, b)  # a Generator is advanced, not reseeded
    empty, empty_labels = mix.sample(0)
    assert empty.shape == (0, 2) and empty_labels.shape == (0,)


def test_mixture_is_immutable():
    mix = ring()
    with pytest.raises(ValueError):
        mix.means[0, 0] = 5.0
    with pytest.raises(AttributeError):
        mix.name = "other"


def _means():
    return np.zeros((2, 2))


@pytest.mark.parametrize("make, message", [
    (lambda: Mixture("m", _means(), np.ones(2), np.array([0.5, 0.6])), "weights must sum to 1"),
    (lambda: Mixture("m", _means(), np.array([1.0, 0.0]), np.array([0.5, 0.5])), "sigmas must be > 0"),
    (lambda: Mixture("m", np.zeros((2, 3)), np.ones(2), np.array([0.5, 0.5])), r"means must have shape \(K, 2\)"),
    (lambda: Mixture("m", _means(), np.ones(2), np.array([1.0])), "weights must have shape"),
    (lambda: Mixture("m", np.array([[0.0, np.nan], [1, 1]]), np.ones(2), np.array([0.5, 0.5])), "non-finite"),
    (lambda: Mixture("m", _means(), np.ones(2), np.array([0.5, 0.5]), minority=(2,)), r"minority mode indices \[2\]"),
    (lambda: imbalanced(ring(), (8,)), "outside 0..7"),
    (lambda: imbalanced(ring(), (1, 1)), "repeat"),
    (lambda: imbalanced(ring(), (1,), ratio=0), r"^imbalanced: ratio must be a finite number in \(0, 1\], got 0$"),
    (lambda: imbalanced(ring(), (1,), ratio="x"), r"^imbalanced: ratio must be a finite number in \(0, 1\], got 'x'$"),
    (lambda: imbalanced(ring(), (1,), ratio=True),
     r"^imbalanced: ratio must be a finite number in \(0, 1\], got True$"),
    (lambda: imbalanced(ring(2), (0, 1)), "every mode"),
    (lambda: ring().sample(-1), "n must be"),
    (lambda: ring(0), "^ring: n_modes must be a positive integer, got 0$"),
    (lambda: ring(True), "^ring: n_modes must be a positive integer, got True$"),
    (lambda: ring(radius=0), "^ring: radius must be a finite number > 0, got 0$"),
    (lambda: ring(radius=True), "^ring: radius must be a finite number > 0, got True$"),  # was taken as 1
    (lambda: grid(0), "^grid: side must be a positive integer, got 0$"),
    (lambda: grid(spacing=float("inf")), "^grid: spacing must be a finite number > 0, got inf$"),
])
def test_bad_input_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("minority, message", [
    ("12", "must be an integer or a list of integers, got '12'"),
    ((1.7,), "must be integers, got 1.7"),
    ((True,), "must be integers, got True"),
    (np.array([1.0]), "must be integers, got an array of dtype float64"),
])
def test_imbalanced_refuses_non_integer_minority_instead_of_coercing(minority, message):
    with pytest.raises(ValueError, match=r"imbalanced: minority mode indices " + message):
        imbalanced(ring(), minority)


def test_imbalanced_takes_one_int_and_checks_the_ratio_type():
    assert imbalanced(ring(), 3).minority == (3,)
    assert imbalanced(ring(), np.array([1, 5])).minority == (1, 5)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "a"])
def test_sample_names_a_bad_seed(seed):
    with pytest.raises(ValueError, match=r"mixture 'ring': seed must be a non-negative integer"):
        ring().sample(10, seed=seed)
