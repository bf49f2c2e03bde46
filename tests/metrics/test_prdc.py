"""Precision/recall/density/coverage: identical to the prdc package and to a brute-force reading."""

import contextlib
import io

import numpy as np
import prdc as prdc_package
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modecover.metrics import density_coverage, prdc, precision_recall

pytestmark = pytest.mark.usefixtures("tile_products")  # every test with both product settings


def reference(real, fake, k):
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        out = prdc_package.compute_prdc(real, fake, k)
    return {key: float(v) for key, v in out.items()}


def brute(real, fake, k_pr, k_dc, strict=True, centre_rule=True):
    """The definitions of docs/metrics.md read literally, float64 distances, loops over the definition."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)

    def dists(a, b):
        return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))

    def radii(x, k):
        d = dists(x, x)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    def inside(d, r):
        if strict:
            return (d < r) | ((d == 0) & centre_rule)
        return d <= r

    rf = dists(real, fake)
    r_pr, r_dc, f_pr = radii(real, k_pr), radii(real, k_dc), radii(fake, k_pr)
    in_real_pr = inside(rf, r_pr[:, None])  # [i, j]: fake j in real ball i
    in_real_dc = inside(rf, r_dc[:, None])
    in_fake_pr = inside(rf, f_pr[None, :])  # [i, j]: real i in fake ball j
    return {
        "precision": in_real_pr.any(axis=0).mean(),
        "recall": in_fake_pr.any(axis=1).mean(),
        "density": in_real_dc.sum() / (k_dc * len(fake)),
        "coverage": inside(rf.min(axis=1), r_dc).mean(),
    }


@pytest.mark.parametrize("d", [1, 2, 16, 128])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_identical_to_prdc_package(rng, d, k):
    real = rng.normal(size=(300, d)).astype(np.float32)
    fake = (1.3 * rng.normal(size=(250, d)) + 0.2).astype(np.float32)
    assert prdc(real, fake, k=k) == reference(real, fake, k)


def test_digits_prdc_package_without_ties_exact_definition_with_ties():
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float32)
    noise = np.random.default_rng(0).normal(scale=0.3, size=x[1::2].shape).astype(np.float32)
    real, fake = x[::2], x[1::2] + noise
    assert prdc(real, fake, k=5) == reference(real, fake, 5)
    # integer pixels + half-integer offsets: many distances tie exactly with a radius. The
    # prdc package's float32 distances decide those ties by rounding noise; modecover
    # decides them exactly (docs/metrics.md), i.e. as the float64 definition does.
    fake = x[1::2] + np.float32(0.5) * (np.arange(x.shape[1]) % 2)
    assert prdc(real, fake, k=5) == pytest.approx(brute(real, fake, 5, 5), abs=1e-15)


def test_default_ks_and_split_functions(rng):
    real = rng.normal(size=(200, 8))
    fake = rng.normal(size=(180, 8)) * 0.8
    both = prdc(real, fake)
    assert both == {**precision_recall(real, fake), **density_coverage(real, fake)}
    assert {key: both[key] for key in ("precision", "recall")} == {
        key: reference(real, fake, 3)[key] for key in ("precision", "recall")}
    assert {key: both[key] for key in ("density", "coverage")} == {
        key: reference(real, fake, 5)[key] for key in ("density", "coverage")}
    np.testing.assert_allclose(list(both.values()), list(brute(real, fake, 3, 5).values()), rtol=0, atol=1e-15)


def test_identical_sets_score_one(rng):
    x = rng.normal(size=(100, 4))
    out = prdc(x, x.copy())
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] >= 1.0 / 5


def test_identical_sets_with_duplicates_never_score_zero():
    # every point repeated 6 times: every k<=5 radius is 0
    x = np.repeat(np.arange(10, dtype=np.float64)[:, None], 6, axis=0)
    for strict in (True, False):
        out = prdc(x, x, strict=strict)
        assert out["precision"] == out["recall"] == out["coverage"] == 1.0
        # each fake sits in the 6 zero-radius balls of its copies
        assert out["density"] == pytest.approx(6 / 5, abs=1e-15)
    # a fake next to (not on) such a point is outside the zero ball
    out = prdc(x, x + 0.25)
    assert out == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_strict_vs_inclusive_on_exact_ties():
    grid = np.array([[i, j] for i in range(6) for j in range(6)], dtype=np.float64)
    fake = grid[::2] + np.array([1.0, 0.0])  # fakes land on grid points and at exact radii
    for strict in (True, False):
        got = prdc(grid, fake, k=4, strict=strict)
        want = brute(grid, fake, 4, 4, strict=strict)
        assert got == pytest.approx(want, abs=1e-15)
    assert prdc(grid, fake, k=4, strict=True) != prdc(grid, fake, k=4, strict=False)
    assert prdc(grid, fake, k=4, strict=True) == reference(grid, fake, 4)


def test_separate_k_for_pr_and_dc(rng):
    real = rng.normal(size=(120, 3))
    fake = rng.normal(size=(90, 3)) + 0.5
    got = prdc(real, fake, k_pr=2, k_dc=7)
    assert got == pytest.approx(brute(real, fake, 2, 7), abs=1e-15)


def test_accepts_torch(rng):
    real = rng.normal(size=(80, 5)).astype(np.float32)
    fake = rng.normal(size=(70, 5)).astype(np.float32)
    assert prdc(torch.from_numpy(real), torch.from_numpy(fake)) == prdc(real, fake)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r, f: prdc(r[:3], f, k=3), "real: has 3 points"),
        (lambda r, f: prdc(r, f[:5], k=5), "fake: has 5 points"),
        (lambda r, f: prdc(r, f[:, :2]), "real has 4 feature columns but fake has 2"),
        (lambda r, f: prdc(np.where(r > 1.5, np.inf, r), f), "real: .*non-finite"),
        (lambda r, f: precision_recall(r, f.ravel()), "fake: expected a 2-D"),
        (lambda r, f: density_coverage(r, np.empty((0, 4))), "fake: needs at least 1"),
        (lambda r, f: prdc(r, f, k=0), "positive integer"),
    ],
)
def test_bad_input(call, match):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        call(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r, f: prdc(r, f, k_dc=-1), "k_dc must be a positive integer, got -1"),  # was a negative density
        (lambda r, f: prdc(r, f, k_dc=0), "k_dc must be a positive integer, got 0"),
        (lambda r, f: prdc(r, f, k_dc=-3), "k_dc must be a positive integer, got -3"),
        (lambda r, f: prdc(r, f, k_dc=2.5), "k_dc must be a positive integer, got 2.5"),
        (lambda r, f: prdc(r, f, k_pr=-1), "k_pr must be a positive integer, got -1"),
        (lambda r, f: prdc(r, f, k_pr=True), "k_pr must be a positive integer, got True"),
        (lambda r, f: prdc(r, f, k=True), "k must be a positive integer, got True"),
        (lambda r, f: precision_recall(r, f, k=True), "k must be a positive integer, got True"),
        (lambda r, f: precision_recall(r, f, k=-2), "k must be a positive integer, got -2"),
        (lambda r, f: density_coverage(r, f, k=0), "k must be a positive integer, got 0"),
        (lambda r, f: density_coverage(r, f, k=1.0), "k must be a positive integer, got 1.0"),
    ],
)
def test_every_k_is_a_positive_integer_named_in_the_error(call, match):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        call(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))


def test_density_coverage_needs_no_fake_radius(rng):
    real = rng.normal(size=(40, 2))
    fake = rng.normal(size=(3, 2))
    assert density_coverage(real, fake, k=5) == pytest.approx(
        {key: v for key, v in brute(real, fake, 1, 5).items() if key in ("density", "coverage")}, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    real=hnp.arrays(np.float64, st.tuples(st.integers(4, 20), st.just(2)), elements=st.integers(-2, 2).map(float)),
    fake=hnp.arrays(np.float64, st.tuples(st.integers(4, 20), st.just(2)), elements=st.integers(-2, 2).map(float)),
    k=st.integers(1, 3),
    strict=st.booleans(),
)
def test_property_matches_definition(real, fake, k, strict):
    got = prdc(real, fake, k=k, strict=strict)
    assert got == pytest.approx(brute(real, fake, k, k, strict=strict), abs=1e-15)
