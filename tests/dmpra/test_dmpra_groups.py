"""Minor groups and their weights, the reference subsample of the search, and the weighting config."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from helpers import brute_distances
from modecover.data.mixtures import MIXTURES, imbalanced
from modecover.dmpra import SearchConfig, WeightingConfig, minor_groups, search, weigh
from modecover.dmpra.groups import deficits
from modecover.dmpra.search import _reference_rows, ladder_sizes, resolve_max_neighbors


def components(flagged: np.ndarray, neighbors: np.ndarray) -> list[set[int]]:
    """Connected components of the flagged samples, linked when one lists the other (plain BFS)."""
    flagged_set = set(np.flatnonzero(flagged).tolist())
    adjacency = {i: set() for i in flagged_set}
    for i in flagged_set:
        for j in neighbors[i].tolist():
            if j in flagged_set:
                adjacency[i].add(j)
                adjacency[j].add(i)
    seen, groups = set(), []
    for i in sorted(flagged_set):
        if i in seen:
            continue
        group, todo = set(), [i]
        while todo:
            v = todo.pop()
            if v not in group:
                group.add(v)
                todo.extend(adjacency[v] - group)
        seen |= group
        groups.append(group)
    return sorted(groups, key=lambda g: (-len(g), min(g)))


def planted_groups(seed=0):
    """A wide crowd, two tight far clusters (15 and 8 samples) and two lone points."""
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, (400, 2)), rng.normal(0, 0.05, (15, 2)) + [3.5, 0],
                      rng.normal(0, 0.05, (8, 2)) + [0, -3.5], [[-4.0, 4.0], [4.5, 4.5]]])


@pytest.fixture(scope="module")
def planted_result():
    return search(planted_groups(), SearchConfig(n_min=10))


def test_groups_are_the_components_of_the_flag_graph(planted_result):
    labels = minor_groups(planted_result)
    expected = components(planted_result.minority, planted_result.neighbors)
    assert [set(np.flatnonzero(labels == g).tolist()) for g in range(labels.max() + 1)] == expected
    assert (labels[~planted_result.minority] == -1).all()


def test_planted_clusters_are_raised_by_their_deficit(planted_result):
    result = planted_result
    assert result.minority[400:423].all()
    out = weigh(result)
    labels = out.labels
    big, small = labels[400], labels[415]
    assert (labels[400:415] == big).all() and (labels[415:423] == small).all() and big != small
    ratio = result.n_hat / result.count
    for planted, label in ((15, big), (8, small)):
        members = labels == label
        deficit = float(np.median(ratio[members]))
        group = out.groups[label]
        # the cluster, plus at most a few tail points of the crowd linked to it
        assert planted <= group.size == members.sum() <= planted + 3 and not group.outliers
        assert deficit > 5
        assert group.deficit == pytest.approx(deficit, rel=1e-12)
        np.testing.assert_allclose(out.weights[members], np.clip(deficit, 1, 50), rtol=1e-12)
        np.testing.assert_allclose(out.group_deficit()[members], deficit, rtol=1e-12)
    lone = np.flatnonzero(result.minority & (np.bincount(labels[labels >= 0])[np.maximum(labels, 0)] < 5))
    assert set(lone.tolist()) >= {423, 424}  # the lone points are outliers: weight 1
    np.testing.assert_array_equal(out.weights[lone], 1.0)
    np.testing.assert_array_equal(out.weights[~result.minority], 1.0)
    assert np.isnan(out.group_deficit()[~result.minority]).all()


def test_gamma_cap_outlier_weight_and_fine_grained(planted_result):
    result = planted_result
    base = weigh(result)
    labels = base.labels
    members = labels == labels[400]
    deficit = base.groups[labels[400]].deficit
    squared = weigh(result, WeightingConfig(gamma=2.0, w_max=1e9))
    np.testing.assert_allclose(squared.weights[members], deficit ** 2, rtol=1e-12)
    capped = weigh(result, WeightingConfig(w_max=2.0))
    np.testing.assert_array_equal(capped.weights[members], 2.0)
    outliers = weigh(result, WeightingConfig(min_group=100, outlier_weight=0.5))
    np.testing.assert_array_equal(outliers.weights[result.minority], 0.5)
    assert all(g.outliers for g in outliers.groups)
    fine = weigh(result, WeightingConfig(fine_grained=True))
    cv = result.cv[members]
    np.testing.assert_allclose(fine.weights[members], base.weights[members] * cv / cv.mean(), rtol=1e-12)


def test_paper_weighting_is_eq7_with_the_same_groups(planted_result):
    from modecover.dmpra import informative_weights

    paper = weigh(planted_result, WeightingConfig(weighting="paper"))
    np.testing.assert_array_equal(paper.weights, informative_weights(planted_result))
    np.testing.assert_array_equal(paper.labels, minor_groups(planted_result))


def _with_flags(result, minority):
    return dataclasses.replace(result, minority=np.asarray(minority, dtype=bool))


@pytest.mark.parametrize("case", ["none", "all", "one_small_group", "duplicates", "one_giant_group"])
def test_weights_stay_finite_and_positive(case, planted_result):
    if case == "duplicates":
        x = np.vstack([np.repeat([[0.0, 0.0]], 30, axis=0), np.random.default_rng(0).normal(0, 1, (200, 2)),
                       np.repeat([[6.0, 6.0]], 6, axis=0)])
        result = search(x, SearchConfig(n_min=10))
    elif case == "one_giant_group":
        x = np.vstack([np.random.default_rng(1).normal(0, 1, (300, 2)),
                       np.random.default_rng(2).normal(0, 0.01, (30, 2)) + [5, 5]])
        result = search(x, SearchConfig(n_min=10))
        assert len({int(g) for g in minor_groups(result)[300:]}) == 1
    else:
        result = planted_result
        flags = {"none": np.zeros(425, bool), "all": result.scored.copy(),
                 "one_small_group": np.isin(np.arange(425), [415, 416, 417])}[case]
        result = _with_flags(result, flags)
    for weighting in ("groups", "paper"):
        out = weigh(result, WeightingConfig(weighting=weighting))
        assert out.weights.shape == (len(result.score),)
        assert np.isfinite(out.weights).all() and (out.weights > 0).all(), weighting
    if case == "none":
        np.testing.assert_array_equal(weigh(result).weights, 1.0)
    if case == "one_small_group":
        out = weigh(result)
        assert len(out.groups) == 1 and out.groups[0].outliers
        np.testing.assert_array_equal(out.weights, 1.0)


@pytest.mark.parametrize("options", [{"weighting": "inverse"}, {"min_group": 0}, {"min_group": True},
                                     {"gamma": -0.5}, {"w_max": 0.9}, {"w_max": float("inf")},
                                     {"outlier_weight": 0}, {"fine_grained": 1}, {"informative": None}])
def test_weighting_config_errors_name_the_key(options):
    (key,) = options
    with pytest.raises(ValueError, match=f"'{key}'"):
        WeightingConfig(**options)


def test_deficits_are_the_density_ratio_at_the_peak(planted_result):
    r = planted_result
    np.testing.assert_allclose(deficits(r)[r.scored], r.n_hat[r.scored] / r.count[r.scored], rtol=1e-15)


# --- the reference subsample --------------------------------------------------------------


def subsample_reference(x, ref_rows, *, alpha=0.5, n_min=5, k_sigma=3.0, max_neighbors=None):
    """Brute force of the search with counts taken in the reference rows (module docstring
    of modecover.dmpra.search): per sample, per level, explicit loops."""
    d = brute_distances(x)
    ref = np.asarray(ref_rows)
    m = len(ref)
    cap = resolve_max_neighbors(SearchConfig(n_min=n_min, max_neighbors=max_neighbors), m)
    sizes = ladder_sizes(n_min, cap)
    in_ref = np.isin(np.arange(len(x)), ref)
    out = []
    for s in range(len(x)):
        to_ref = d[s, ref]
        if in_ref[s]:
            by_distance, limit = np.sort(to_ref), (cap if cap < m - 1 else np.inf)
        else:
            by_distance, limit = np.sort(np.concatenate([[0.0], to_ref])), (cap if cap < m else np.inf)
        best = None
        for j, size in enumerate(sizes):
            r = by_distance[size - 1]
            members = [int(p) for p in ref if d[s, p] <= r and p != s]
            own = int(np.sum(to_ref <= alpha * r)) + (0 if in_ref[s] else 1)
            counts = [own] + [int(np.sum(d[p, ref] <= alpha * r)) for p in members]
            ref_limit = cap if cap < m - 1 else np.inf
            if len(members) + 1 > limit or max(counts[1:], default=0) > ref_limit:
                continue
            n_hat, sigma = float(np.mean(counts)), float(np.std(counts))
            score = (n_hat - own) / sigma if sigma > 0 else 0.0
            if best is None or score > best[0] + 1e-12:
                best = (score, n_hat, own, j)
        out.append(best)
    return out


@pytest.mark.filterwarnings("ignore:DMPRA search.*could not be scored:RuntimeWarning")
@pytest.mark.parametrize("max_neighbors", [None, 12])
def test_reference_subsample_matches_brute_force(max_neighbors):
    x = planted_groups(3)[::4]  # 107 samples
    config = SearchConfig(n_min=5, reference_size=60, seed=7, max_neighbors=max_neighbors)
    ref_rows = _reference_rows(len(x), config)
    assert len(ref_rows) == 60 and len(set(ref_rows.tolist())) == 60
    result = search(x, config)
    assert result.ladder.reference_size == 60
    expected = subsample_reference(x, ref_rows, n_min=5, max_neighbors=max_neighbors)
    for s, best in enumerate(expected):
        if best is None:
            assert result.level[s] == -1, s
            continue
        score, n_hat, own, level = best
        assert result.level[s] == level, s
        assert result.score[s] == pytest.approx(score, rel=1e-12, abs=1e-12), s
        assert result.n_hat[s] == pytest.approx(n_hat, rel=1e-12) and result.count[s] == own
    assert np.isin(result.neighbors, ref_rows).all()


def test_reference_subsample_is_seeded_and_none_means_every_sample():
    x = planted_groups(4)
    a = search(x, SearchConfig(n_min=10, reference_size=200, seed=1))
    b = search(x, SearchConfig(n_min=10, reference_size=200, seed=1))
    np.testing.assert_array_equal(a.score, b.score)
    full = search(x, SearchConfig(n_min=10, reference_size=None))
    assert full.ladder.reference_size == len(x)


@pytest.mark.parametrize("n", [2000, 10000])
def test_a_rare_ring_mode_is_found_at_any_size(n):
    """The default search finds both rare modes of the imbalanced ring (1/20 of a common
    mode's weight) whatever n is: above 5,000 samples the counts come from a subsample."""
    mixture = imbalanced(MIXTURES["ring"](), MIXTURES["ring-imbalanced"]().minority, 0.05)
    x, labels = mixture.sample(n, seed=5)
    result = search(x)
    rare = np.isin(labels, mixture.minority)
    assert result.minority[rare].mean() > 0.95
    out = weigh(result)
    for mode in mixture.minority:
        members = labels == mode
        assert np.median(out.weights[members]) > 5
