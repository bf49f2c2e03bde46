"""DMPRA search against a slow brute-force reference written from the definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import brute_distances
from modecover.dmpra.search import SearchConfig, _count_within, ladder_sizes, resolve_max_neighbors, search

# Small caps leave some samples unscorable (every level censored); that warning is tested on its own.
pytestmark = pytest.mark.filterwarnings("ignore:DMPRA search.*could not be scored:RuntimeWarning")


def reference(x, *, alpha=0.5, n_min=20, k_sigma=3.0, two_sided=False, max_neighbors=None):
    """Explicit loops over samples, levels and members, straight from the definitions of docs/dmpra.md."""
    n = len(x)
    d = brute_distances(x)
    cap = resolve_max_neighbors(
        SearchConfig(alpha=alpha, n_min=n_min, k_sigma=k_sigma, max_neighbors=max_neighbors), n
    )
    limit = cap if cap < n - 1 else np.inf  # counts above K are censored unless the graph holds everyone
    sizes = ladder_sizes(n_min, cap)
    rows = []
    for s in range(n):
        by_distance = np.sort(d[s])
        best, censored_levels = None, 0
        for j, m in enumerate(sizes):
            r = by_distance[m - 1]
            members = [p for p in range(n) if d[s, p] <= r]
            counts = [int(np.sum(d[p] <= alpha * r)) for p in members]
            if len(members) > limit or max(counts) > limit:
                censored_levels += 1
                continue
            n_hat, sigma = float(np.mean(counts)), float(np.std(counts))
            own = int(np.sum(d[s] <= alpha * r))
            score = (n_hat - own) / sigma if sigma > 0 else 0.0
            if two_sided:
                score = abs(score)
            if best is None or score > best["score"] + 1e-12:  # exact ties: smallest radius
                best = dict(score=score, radius=r, n_hat=n_hat, sigma_hat=sigma, count=own, size=len(members), level=j)
        rows.append((best, censored_levels))
    return rows


def assert_matches(result, rows, k_sigma=3.0):
    for s, (best, censored_levels) in enumerate(rows):
        assert result.n_censored_levels[s] == censored_levels, s
        assert result.censored[s] == (censored_levels > 0)
        if best is None:
            assert np.isnan(result.score[s]) and np.isnan(result.cv[s]) and result.level[s] == -1
            assert not result.minority[s] and result.count[s] == -1
            continue
        assert result.level[s] == best["level"], s
        assert result.score[s] == pytest.approx(best["score"], rel=1e-12, abs=1e-12)
        assert result.radius[s] == best["radius"]
        assert result.n_hat[s] == pytest.approx(best["n_hat"], rel=1e-12)
        assert result.sigma_hat[s] == pytest.approx(best["sigma_hat"], rel=1e-12, abs=1e-12)
        assert result.count[s] == best["count"] and result.neighborhood_size[s] == best["size"]
        if best["n_hat"] > 0:
            assert result.cv[s] == pytest.approx(best["sigma_hat"] / best["n_hat"], rel=1e-12, abs=1e-12)
        if abs(best["score"] - k_sigma) > 1e-9:
            assert result.minority[s] == (best["score"] > k_sigma), s


def blobs(seed, n_big=60, n_small=4, outliers=3):
    rng = np.random.default_rng(seed)
    return np.vstack([
        rng.normal(0, 1.0, (n_big, 3)),
        rng.normal(0, 0.2, (n_big // 2, 3)) + 4,
        rng.normal(0, 0.05, (n_small, 3)) + [8, -8, 0],
        rng.uniform(-10, 10, (outliers, 3)),
    ])


@pytest.mark.parametrize("two_sided", [False, True])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 0.3])
def test_equals_brute_force_on_blobs(alpha, two_sided):
    x = blobs(1)
    cfg = dict(alpha=alpha, n_min=5, two_sided=two_sided)
    result = search(x, SearchConfig(**cfg))
    assert_matches(result, reference(x, **cfg))
    assert result.ladder.sizes == (5, 10, 20, 40, 80) and not result.censored.any()


@pytest.mark.parametrize("max_neighbors", [6, 12, 25])
def test_censored_levels_are_skipped_exactly_as_reference(max_neighbors):
    x = blobs(2)
    cfg = dict(n_min=3, max_neighbors=max_neighbors)
    result = search(x, SearchConfig(**cfg))
    rows = reference(x, **cfg)
    assert_matches(result, rows)
    assert result.censored.any()  # dense blob next to sparse points: some counts exceed K
    summary = result.summary()
    assert summary["n_censored"] == sum(c > 0 for _, c in rows)
    assert sum(summary["censored_per_level"]) == sum(c for _, c in rows)


def test_unscorable_samples_warn_and_are_not_flagged():
    x = blobs(2)
    with pytest.warns(RuntimeWarning, match="could not be scored"):
        result = search(x, SearchConfig(n_min=3, max_neighbors=6))
    unscored = ~result.scored
    assert unscored.any() and not result.minority[unscored].any()
    assert np.isnan(result.score[unscored]).all() and (result.count[unscored] == -1).all()
    assert result.summary()["n_unscored"] == int(unscored.sum())


def test_ties_and_duplicates_on_a_lattice():
    rng = np.random.default_rng(3)
    lattice = rng.integers(0, 4, size=(70, 2)).astype(np.float64)  # many exact duplicates and equal distances
    x = np.vstack([lattice, [[9.0, 9.0], [9.0, 9.0], [-6.0, 0.0]]])
    for cfg in (dict(n_min=4), dict(n_min=4, max_neighbors=16), dict(n_min=7, alpha=1.0, two_sided=True)):
        assert_matches(search(x, SearchConfig(**cfg)), reference(x, **cfg))


@settings(max_examples=40, deadline=None)
@given(
    points=st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=6, max_size=30),
    n_min=st.integers(1, 6),
    cap=st.integers(0, 30),
    alpha=st.sampled_from([0.5, 1.0, 0.25]),
    two_sided=st.booleans(),
)
def test_property_equals_brute_force_with_ties(points, n_min, cap, alpha, two_sided):
    x = np.asarray(points, dtype=np.float64)
    if len(x) < max(n_min, 2):
        return
    cfg = dict(n_min=n_min, alpha=alpha, max_neighbors=max(n_min, cap), two_sided=two_sided)
    assert_matches(search(x, SearchConfig(**cfg)), reference(x, **cfg))


def test_count_within_is_a_right_bisection():
    rng = np.random.default_rng(4)
    dist = np.sort(rng.integers(0, 6, size=(9, 7)).astype(np.float64), axis=1)  # ties
    rows = rng.integers(0, 9, size=200)
    rho = rng.integers(-1, 8, size=200).astype(np.float64)
    counts, censored = _count_within(dist, rows, rho, exact_everywhere=False)
    expect = np.array([np.searchsorted(dist[p], r, side="right") for p, r in zip(rows, rho)]) + 1
    np.testing.assert_array_equal(counts, expect)
    np.testing.assert_array_equal(censored, expect == 8)


def test_isolated_point_beside_a_tight_cluster_is_flagged():
    rng = np.random.default_rng(5)
    x = np.vstack([rng.normal(0, 0.1, (100, 2)), [[5.0, 5.0]]])
    result = search(x, SearchConfig(n_min=20))
    assert result.minority[100]
    # N(s, r) = s + (m - 1) cluster points each counting the whole cluster, n(s, r/2) = 1:
    # score sqrt(m - 1), largest on the top level m = 80 of the ladder 20, 40, 80 (n = 101)
    assert result.score[100] == pytest.approx(np.sqrt(79))
    assert result.count[100] == 1 and result.level[100] == 2 and result.neighborhood_size[100] == 80
    assert result.n_hat[100] == pytest.approx((1 + 79 * 100) / 80)


def test_all_identical_points_have_zero_scores_and_no_minority():
    result = search(np.ones((40, 3)), SearchConfig(n_min=5))
    assert np.all(result.score == 0) and np.all(result.sigma_hat == 0) and np.all(result.cv == 0)
    assert not result.minority.any() and np.all(result.n_hat == 40)


def _nan_at_row_3():
    x = np.random.default_rng(0).normal(size=(30, 2))
    x[3, 1] = np.nan
    return x


@pytest.mark.parametrize("make, message", [
    (lambda: search(np.zeros((19, 2))), "at least 20 rows"),
    (lambda: search(_nan_at_row_3()), "non-finite.*row 3"),
    (lambda: search(np.zeros(30)), "2-D"),
    (lambda: SearchConfig(alpha=0), r"^SearchConfig\.alpha must be a finite number in \(0, 1\], got 0$"),
    (lambda: SearchConfig(alpha=True), r"^SearchConfig\.alpha must be a finite number in \(0, 1\], got True$"),
    (lambda: SearchConfig(n_min=0), r"^SearchConfig\.n_min must be a positive integer, got 0$"),
    (lambda: SearchConfig(n_min=True), r"^SearchConfig\.n_min must be a positive integer, got True$"),
    (lambda: SearchConfig(k_sigma=-1), r"^SearchConfig\.k_sigma must be a finite number > 0, got -1$"),
    (lambda: SearchConfig(n_min=20, max_neighbors=10), "max_neighbors=10 is smaller than n_min=20"),
    (lambda: SearchConfig(max_neighbors=True), r"^SearchConfig\.max_neighbors must be an integer or None, got True$"),
    (lambda: SearchConfig(reference_size=True), r"^SearchConfig\.reference_size must be an integer >= 20, got True$"),
    (lambda: SearchConfig(seed=-1), r"^SearchConfig\.seed must be an integer >= 0, got -1$"),
    (lambda: SearchConfig(seed=False), r"^SearchConfig\.seed must be an integer >= 0, got False$"),
])
def test_bad_inputs_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_numpy_numbers_are_numbers_and_other_types_are_named():
    assert SearchConfig(alpha=np.float32(0.5), k_sigma=np.int64(3)).alpha == 0.5  # numpy numbers are numbers
    with pytest.raises(TypeError, match="config must be a SearchConfig, got dict"):
        search(np.zeros((30, 2)), {"alpha": 0.5})
    from modecover.dmpra import weigh

    with pytest.raises(TypeError, match="expected the SearchResult of dmpra.search, got ndarray"):
        weigh(np.zeros((30, 2)))


def test_default_cap_and_ladder():
    assert resolve_max_neighbors(SearchConfig(), 50_000) == 1024
    assert resolve_max_neighbors(SearchConfig(), 300) == 300
    assert resolve_max_neighbors(SearchConfig(n_min=600), 5000) == 1200
    assert ladder_sizes(20, 1024) == (20, 40, 80, 160, 320, 640)


def test_torch_input_and_summary_is_jsonable():
    import json

    import torch

    x = torch.from_numpy(blobs(6)).float()
    result = search(x, SearchConfig(n_min=5))
    summary = json.loads(json.dumps(result.summary()))
    assert summary["n"] == len(x) and summary["n_minority"] == int(result.minority.sum())
    assert sum(summary["chosen_per_level"]) == len(x)


def test_score_exactly_k_sigma_is_not_flagged():
    # 9 duplicates and one point 10 away, n_min = 10: N(s, 10) = all, counts at 5 are 9 (x9) and 1:
    # score = (8.2 - 1) / 2.4 = 3 exactly; the test is strict (> k_sigma), decided on integers
    x = np.vstack([np.zeros((9, 2)), [[10.0, 0.0]]])
    result = search(x, SearchConfig(n_min=10))
    assert result.score[9] == 3.0 and not result.minority.any()
    assert search(x, SearchConfig(n_min=10, k_sigma=2.999)).minority[9]
    assert search(x, SearchConfig(n_min=10, k_sigma=2.999, two_sided=True)).minority.sum() == 1
