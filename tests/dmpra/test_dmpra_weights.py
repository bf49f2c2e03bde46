"""DMPRA informative weights (Eq. 6-7, Algorithm 1 line 12) against the formulas, edge cases."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from modecover.dmpra import SearchConfig, delta_bar, informative_weights, search


def planted(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(0, 0.05, (6, 2)) + [7, 7], [[-9.0, 3.0]]])


def with_groups(result, cv, minority):
    """The same result with chosen CVs and flags (weights read only these two arrays)."""
    return dataclasses.replace(result, cv=np.asarray(cv, dtype=np.float64), minority=np.asarray(minority, dtype=bool))


@pytest.fixture(scope="module")
def base():
    return search(np.random.default_rng(1).normal(size=(30, 2)), SearchConfig(n_min=5))


def test_weights_follow_eq7_and_algorithm_line_12(base):
    rng = np.random.default_rng(2)
    cv = rng.uniform(0.05, 2.0, 30)
    minority = np.zeros(30, dtype=bool)
    minority[[3, 7, 19]] = True
    result = with_groups(base, cv, minority)
    mean_minor, mean_main = cv[minority].mean(), cv[~minority].mean()
    assert delta_bar(result) == pytest.approx(mean_minor / mean_main, rel=1e-14)
    w = informative_weights(result)
    assert w.dtype == np.float64 and w.shape == (30,)
    np.testing.assert_array_equal(w[~minority], 1.0)
    # Algorithm 1 line 12, literally: CV_i / mean CV(minor) * delta_bar
    np.testing.assert_allclose(w[minority], cv[minority] / mean_minor * delta_bar(result), rtol=1e-14)
    assert w[minority].mean() == pytest.approx(delta_bar(result), rel=1e-14)
    ablation = informative_weights(result, informative=False)
    np.testing.assert_array_equal(ablation[~minority], 1.0)
    np.testing.assert_allclose(ablation[minority], delta_bar(result), rtol=1e-14)


def test_end_to_end_weights_on_planted_minority():
    result = search(planted(), SearchConfig(n_min=20))
    assert result.minority[-7:].all()  # the tight far cluster and the lone point
    w = informative_weights(result)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    # Eq. 7 as written: a far, tight cluster has a *smaller* CV (its neighbourhood's counts are
    # dominated by the dense crowd) than the main group, so delta_bar < 1 here (docs/dmpra.md).
    assert delta_bar(result) < 1
    cv = result.cv
    np.testing.assert_allclose(w[result.minority], cv[result.minority] / cv[~result.minority].mean())


def test_no_minority_gives_all_ones(base):
    result = with_groups(base, base.cv, np.zeros(30, dtype=bool))
    np.testing.assert_array_equal(informative_weights(result), np.ones(30))
    np.testing.assert_array_equal(informative_weights(result, informative=False), np.ones(30))
    assert delta_bar(result) == 1.0


def test_identical_points_give_all_ones():
    result = search(np.zeros((25, 4)), SearchConfig(n_min=5))
    np.testing.assert_array_equal(informative_weights(result), np.ones(25))


def test_zero_main_cv_falls_back_to_minor_mean_with_warning(base):
    cv = np.zeros(30)
    cv[[0, 1]] = [0.5, 1.5]
    minority = np.zeros(30, dtype=bool)
    minority[[0, 1]] = True
    result = with_groups(base, cv, minority)
    with pytest.warns(RuntimeWarning, match="mean CV of the main group is 0"):
        w = informative_weights(result)
    np.testing.assert_allclose(w[:2], [0.5, 1.5])
    np.testing.assert_array_equal(w[2:], 1.0)
    with pytest.warns(RuntimeWarning):
        assert delta_bar(result) == 1.0


def test_everyone_flagged_falls_back_with_warning(base):
    result = with_groups(base, np.full(30, 0.25), np.ones(30, dtype=bool))
    with pytest.warns(RuntimeWarning, match="no scored main-group sample"):
        np.testing.assert_allclose(informative_weights(result), 1.0)


def test_unscored_samples_are_main_with_weight_one_and_left_out_of_the_mean(base):
    cv = np.full(30, 0.2)
    cv[[5, 6]] = np.nan  # every ladder level censored for these two
    cv[0] = 0.8
    minority = np.zeros(30, dtype=bool)
    minority[0] = True
    result = with_groups(base, cv, minority)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = informative_weights(result)
    assert w[0] == pytest.approx(4.0) and np.all(w[1:] == 1.0)


def test_inconsistent_result_is_rejected(base):
    cv = np.full(30, 0.2)
    cv[4] = np.nan
    minority = np.zeros(30, dtype=bool)
    minority[4] = True
    with pytest.raises(ValueError, match="flagged sample 4"):
        informative_weights(with_groups(base, cv, minority))
