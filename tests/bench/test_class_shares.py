"""benchmarks/class_shares.py: a class's share of the weights, against a direct sum."""

import numpy as np

from helpers import load_benchmark


def test_class_shares_are_each_class_s_part_of_the_total_weight():
    script = load_benchmark("class_shares")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 50)
    labels[:3] = 5  # a class with samples beside classes with none (4) and a last class (5)
    weights = rng.uniform(1, 20, 50)
    shares = script.class_shares(weights, labels, 7)
    expected = [weights[labels == c].sum() / weights.sum() for c in range(7)]
    np.testing.assert_allclose(shares, expected, rtol=1e-12)
    assert shares[4] == shares[6] == 0 and np.isclose(shares.sum(), 1)
    np.testing.assert_allclose(script.class_shares(np.ones(50), labels, 7), np.bincount(labels, minlength=7) / 50)
