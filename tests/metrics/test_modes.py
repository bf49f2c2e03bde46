"""Mode metrics (docs/metrics.md): hand-made samples with known counts, and a
brute-force per-sample loop on random mixtures."""

import math

import numpy as np
import pytest
import torch

from modecover.metrics import mode_metrics, nearest_modes

RING = np.array([[math.cos(2 * math.pi * j / 8), math.sin(2 * math.pi * j / 8)] for j in range(8)])


def brute_force(samples, means, sigmas, weights, minority, n_sigma):
    """One sample at a time, plain Python: the reading of docs/metrics.md."""
    k = len(means)
    sigmas = np.broadcast_to(np.asarray(sigmas, dtype=float), (k,))
    weights = np.ones(k) / k if weights is None else np.asarray(weights, float) / np.sum(weights)
    counts = [0] * k
    for x in samples:
        d = [math.dist(map(float, x), map(float, m)) for m in means]
        j = min(range(k), key=lambda i: (d[i], i))
        if d[j] <= n_sigma * sigmas[j]:
            counts[j] += 1
    n_hq = sum(counts)
    p = [c / n_hq for c in counts]
    rkl = sum(pj * math.log(pj * k) for pj in p if pj > 0)
    rkl_w = sum(pj * math.log(pj / wj) for pj, wj in zip(p, weights) if pj > 0)
    return {
        "n_modes": k,
        "modes_captured": sum(c > 0 for c in counts),
        "hq_percent": 100 * n_hq / len(samples),
        "reverse_kl": rkl,
        "reverse_kl_to_weights": rkl_w,
        "generated_shares": p,
        "data_shares": list(weights),
        "share_error": sum(abs(a - b) for a, b in zip(p, weights)) / k,
        "minority_captured": sum(counts[i] > 0 for i in minority),
        "n_minority": len(minority),
    }


def assert_same(got, want):
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, list):
            np.testing.assert_allclose(got[key], value, rtol=1e-12, atol=1e-15, err_msg=key)
        elif isinstance(value, int):
            assert got[key] == value, key
            assert isinstance(got[key], int), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_hand_made_ring_exact_counts():
    sigma = 0.01
    samples = np.concatenate(
        [
            np.repeat(RING[[0]], 6, axis=0),  # 6 exactly at mode 0
            RING[[1]] + [[0.02, 0.0]],  # 2 sigma away: HQ, mode 1
            RING[[2]] + [[0.0, 0.05]],  # 5 sigma away: not HQ
            np.zeros((2, 2)),  # the centre: far from every mode
        ]
    )
    out = mode_metrics(samples, RING, sigma, minority=(1, 5))
    assert out["n_modes"] == 8
    assert out["modes_captured"] == 2
    assert out["hq_percent"] == pytest.approx(100 * 7 / 10)
    shares = [6 / 7, 1 / 7] + [0.0] * 6
    assert out["generated_shares"] == pytest.approx(shares)
    assert out["reverse_kl"] == pytest.approx(6 / 7 * math.log(6 / 7 * 8) + 1 / 7 * math.log(8 / 7))
    assert out["data_shares"] == pytest.approx([1 / 8] * 8)
    assert out["share_error"] == pytest.approx(sum(abs(s - 1 / 8) for s in shares) / 8)
    assert out["minority_captured"] == 1 and out["n_minority"] == 2


def test_uniform_over_all_modes_has_zero_reverse_kl():
    samples = np.repeat(RING, 5, axis=0)
    out = mode_metrics(samples, RING, 0.01)
    assert out["modes_captured"] == 8 and out["hq_percent"] == 100.0
    assert out["reverse_kl"] == pytest.approx(0.0, abs=1e-15)
    assert out["share_error"] == pytest.approx(0.0, abs=1e-15)


def test_single_mode_collapse_has_reverse_kl_ln_k():
    out = mode_metrics(np.repeat(RING[[3]], 4, axis=0), RING, 0.01)
    assert out["modes_captured"] == 1
    assert out["reverse_kl"] == pytest.approx(math.log(8))


def test_boundary_at_exactly_n_sigma_counts_as_high_quality():
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    # distances 3.0 (== 3 sigma, inside), 3.0000001 (outside) from mode 0 with sigma 1
    samples = np.array([[3.0, 0.0], [0.0, -3.0], [3.0000001, 0.0]])
    out = mode_metrics(samples, means, [1.0, 1.0])
    assert out["hq_percent"] == pytest.approx(200 / 3)
    assert out["generated_shares"] == [1.0, 0.0]


def test_tie_between_modes_goes_to_lower_index():
    means = np.array([[1.0, 0.0], [-1.0, 0.0]])
    index, dist = nearest_modes(np.array([[0.0, 0.0], [0.0, 5.0]]), means)
    assert index.tolist() == [0, 0]
    np.testing.assert_allclose(dist, [1.0, math.sqrt(26)])


def test_nearest_mode_decides_even_if_a_farther_mode_is_wider():
    # Sample is nearest to the narrow mode 0 (outside its 3 sigma) but would be inside the
    # wide mode 1's 3 sigma: by the recipe it is not high quality.
    means = np.array([[0.0, 0.0], [1.0, 0.0]])
    out = mode_metrics(np.array([[0.4, 0.0]]), means, [0.01, 1.0])
    assert out["hq_percent"] == 0.0


def test_weights_are_normalised_and_used_for_share_error():
    means = RING[:4]
    samples = np.concatenate([np.repeat(means[[0]], 3, axis=0), means[[1]]])
    out = mode_metrics(samples, means, 0.01, weights=[6, 2, 1, 1], minority=(2, 3))
    assert out["data_shares"] == pytest.approx([0.6, 0.2, 0.1, 0.1])
    assert out["share_error"] == pytest.approx((0.15 + 0.05 + 0.1 + 0.1) / 4)
    assert out["reverse_kl_to_weights"] == pytest.approx(0.75 * math.log(0.75 / 0.6) + 0.25 * math.log(0.25 / 0.2))
    assert out["minority_captured"] == 0 and out["n_minority"] == 2


def test_no_high_quality_sample_gives_documented_nan_kl():
    out = mode_metrics(np.zeros((3, 2)), RING, 0.01, minority=(0,))
    assert out["hq_percent"] == 0.0 and out["modes_captured"] == 0
    assert math.isnan(out["reverse_kl"]) and math.isnan(out["reverse_kl_to_weights"])
    assert out["generated_shares"] == [0.0] * 8
    assert out["share_error"] == pytest.approx(1 / 8)


@pytest.mark.parametrize("seed", range(4))
def test_against_brute_force_on_random_imbalanced_grid(seed):
    rng = np.random.default_rng(seed)
    grid = np.array([[x, y] for x in range(-4, 5, 2) for y in range(-4, 5, 2)], dtype=float)
    sigmas = rng.uniform(0.03, 0.3, len(grid))
    weights = rng.uniform(0.1, 1, len(grid))
    minority = tuple(rng.choice(len(grid), 5, replace=False).tolist())
    modes = rng.choice(len(grid), 300, p=weights / weights.sum())
    samples = grid[modes] + rng.normal(size=(300, 2)) * sigmas[modes, None] * rng.uniform(0.5, 4, (300, 1))
    samples = np.concatenate([samples, rng.uniform(-5, 5, (50, 2))]).astype(np.float32)
    got = mode_metrics(samples, grid, sigmas, weights, minority, n_sigma=2.5)
    assert_same(got, brute_force(samples, grid, sigmas, weights, minority, 2.5))


def test_blocks_and_torch_input_give_the_same_answer(monkeypatch):
    import modecover.metrics.modes as modes

    rng = np.random.default_rng(5)
    samples = RING[rng.integers(0, 8, 1000)] + rng.normal(scale=0.02, size=(1000, 2))
    whole = mode_metrics(samples, RING, 0.01)
    monkeypatch.setattr(modes, "_BLOCK_ELEMENTS", 8 * 2 * 7)  # 7 rows per block
    assert mode_metrics(torch.from_numpy(samples), torch.from_numpy(RING), 0.01) == whole


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(samples=np.zeros((3, 3))), "feature columns"),
        (dict(samples=np.array([[np.nan, 0.0]])), "samples"),
        (dict(samples=np.zeros((0, 2))), "samples"),
        (dict(sigmas=[0.1] * 7), "sigmas"),
        (dict(sigmas=[0.0] + [0.1] * 7), r"sigmas\[0\]"),
        (dict(weights=[1.0] * 7), "weights"),
        (dict(weights=[-1.0] + [1.0] * 7), r"weights\[0\]"),
        (dict(weights=[0.0] * 8), "sum to 0"),
        (dict(minority=(8,)), "minority"),
        (dict(minority=(1, 1)), "repeated"),
        (dict(minority=(0.5,)), "minority"),
        (dict(n_sigma=0.0), r"^n_sigma must be a finite number > 0, got 0\.0$"),
        (dict(n_sigma="3"), "^n_sigma must be a finite number > 0, got '3'$"),
        (dict(n_sigma=True), "^n_sigma must be a finite number > 0, got True$"),
        (dict(minority=2), "minority: expected a sequence of mode indices .* got 2"),
        (dict(minority="12"), "minority: expected a sequence of mode indices .* got '12'"),
        (dict(sigmas="0.1"), "sigmas: expected real numbers, got '0.1'"),
        (dict(sigmas=True), "sigmas: expected real numbers, got True"),
        (dict(weights=["1"] * 8), "weights: expected real numbers"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    args = dict(samples=np.zeros((3, 2)), means=RING, sigmas=0.01)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mode_metrics(**args)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

_coords = st.integers(-6, 6).map(lambda v: v / 2)  # half-integers: exact ties and boundary hits


@settings(max_examples=60, deadline=None)
@given(
    samples=arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)), elements=_coords),
    means=arrays(np.float64, st.tuples(st.integers(1, 5), st.just(2)), elements=_coords),
    sigma=st.sampled_from([0.1, 0.5, 1 / 3, 1.0]),
    data=st.data(),
)
def test_property_against_brute_force(samples, means, sigma, data):
    k = len(means)
    weights = data.draw(st.lists(st.integers(1, 5), min_size=k, max_size=k))
    minority = data.draw(st.lists(st.integers(0, k - 1), unique=True, max_size=k))
    got = mode_metrics(samples, means, sigma, weights, minority)
    want_counts_hq = brute_force(samples, means, sigma, weights, minority, 3.0) if got["hq_percent"] > 0 else None
    if want_counts_hq is None:
        assert math.isnan(got["reverse_kl"]) and got["modes_captured"] == 0
    else:
        assert_same(got, want_counts_hq)
    assert 0 <= got["minority_captured"] <= got["n_minority"] == len(minority)
    assert 0 <= got["modes_captured"] <= k
