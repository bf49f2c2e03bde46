"""The Vendi score against the ``vendi-score`` package; the cosine kernel does not depend
on the scale of the rows, however large or small (the package's own norms overflow), and
is defined on all-zero rows (against the package's ``score_K`` of the kernel built pair by
pair)."""

import numpy as np
import pytest

from helpers import import_reference
from modecover.metrics.vendi import vendi_score, zero_rows

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the package's scipy.sparse import


@pytest.fixture(scope="module")
def package():
    return import_reference("vendi_score.vendi")


@pytest.mark.parametrize("scale", [1.0, 1e160, 1e300, 1e-170, 1e-300])
def test_cosine_score_is_the_package_value_at_any_scale(package, scale):
    # at 1e160 the squared norms overflowed (score 1.0); at 1e-170 they underflowed ("row 0 is all zeros")
    x = np.random.default_rng(0).normal(size=(40, 6))
    want = package.score_dual(x)
    assert vendi_score(x * scale) == pytest.approx(want, rel=1e-10)
    assert vendi_score(x * scale, kernel="cosine") == pytest.approx(package.score_X(x), rel=1e-10)


def test_rows_of_very_different_scales(package):
    x = np.random.default_rng(1).normal(size=(30, 50))  # d > n: the n x n Gram matrix
    scales = 10.0 ** np.linspace(-200, 200, 30)
    assert vendi_score(x * scales[:, None]) == pytest.approx(package.score_dual(x), rel=1e-10)


def naive_cosine_kernel(x):
    """K_ij by its definition, pair by pair: the cosine of rows i and j; 1 for two all-zero
    rows, 0 for an all-zero row and another."""
    n = len(x)
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            zi, zj = not x[i].any(), not x[j].any()
            if zi or zj:
                k[i, j] = float(zi and zj)
            else:
                k[i, j] = x[i] @ x[j] / (np.linalg.norm(x[i]) * np.linalg.norm(x[j]))
    return k


@pytest.mark.parametrize("shape, zero", [((40, 6), [3]), ((40, 6), [0, 7, 39]), ((12, 30), [1, 2, 3, 4, 5, 6])])
def test_all_zero_rows_are_one_shared_sample(package, shape, zero):
    # post-ReLU features have all-zero rows: the kernel is defined on them (it was an error)
    x = np.random.default_rng(2).normal(size=shape)
    x[zero] = 0.0
    want = package.score_K(naive_cosine_kernel(x))
    assert vendi_score(x, name="fake") == pytest.approx(want, rel=1e-10)
    assert vendi_score(x * 1e-300) == pytest.approx(want, rel=1e-10)
    assert zero_rows(x) == len(zero) and zero_rows(x[1:2] + 1) == 0
    # the zero rows are duplicates of one another: as many copies of one new orthogonal direction
    padded = np.concatenate([x, np.zeros((len(x), 1))], axis=1)
    padded[zero, -1] = 5.0
    assert vendi_score(x) == pytest.approx(package.score_dual(padded), rel=1e-10)


def test_collapse_onto_zero_rows_scores_low():
    basis = np.eye(10)
    assert vendi_score(np.zeros((7, 3))) == pytest.approx(1.0)
    # 90 zero rows and 10 orthogonal ones: far below the 10 the orthogonal rows alone score
    collapsed = np.concatenate([np.zeros((90, 10)), basis])
    p = np.array([0.9] + [0.01] * 10)
    assert vendi_score(basis) == pytest.approx(10.0)
    assert vendi_score(collapsed) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert vendi_score(collapsed) < 2.0
