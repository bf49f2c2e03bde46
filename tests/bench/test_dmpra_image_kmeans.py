"""benchmarks/dmpra_image_kmeans.py: the sampling probability of a balanced k-means hierarchy."""

import numpy as np
import pytest

from helpers import load_benchmark


@pytest.fixture(scope="module")
def script():
    return load_benchmark("dmpra_image_kmeans")


def blobs(sizes, centres, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + 0.01 * rng.standard_normal((n, 2)) for n, c in zip(sizes, centres)])


def test_one_level_is_one_over_clusters_times_size(script):
    sizes = [10, 20, 30, 40]
    x = blobs(sizes, [(0, 0), (10, 0), (0, 10), (10, 10)])
    p = np.exp(script.balanced_log_probability(x, (4,)))
    np.testing.assert_allclose(p, np.repeat([1 / (4 * n) for n in sizes], sizes))


def test_two_levels_share_each_parent_between_its_children(script):
    # two far groups of two near blobs: each group 1/2, each blob of a group 1/4, each point 1/(4 size)
    sizes = [5, 25, 30, 40]
    x = blobs(sizes, [(0, 0), (1, 0), (100, 0), (101, 0)])
    p = np.exp(script.balanced_log_probability(x, (4, 2)))
    np.testing.assert_allclose(p, np.repeat([1 / (4 * n) for n in sizes], sizes))
    # uneven children: a parent with one child gives it all of its half
    sizes = [5, 25, 30]
    x = blobs(sizes, [(0, 0), (1, 0), (100, 0)])
    p = np.exp(script.balanced_log_probability(x, (3, 2)))
    np.testing.assert_allclose(p, np.repeat([1 / (4 * 5), 1 / (4 * 25), 1 / (2 * 30)], sizes))


@pytest.mark.parametrize("levels", [(7,), (12, 4), (12, 5, 2)])
def test_probabilities_sum_to_one(script, levels):
    x = np.random.default_rng(1).standard_normal((300, 3))
    assert np.exp(script.balanced_log_probability(x, levels)).sum() == pytest.approx(1.0)
