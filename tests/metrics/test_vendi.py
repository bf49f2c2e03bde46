"""The Vendi score against the ``vendi-score`` package; the cosine kernel does not depend
on the scale of the rows, however large or small (the package's own norms overflow)."""

import numpy as np
import pytest

from modecover.metrics.vendi import vendi_score

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the package's scipy.sparse import


@pytest.fixture(scope="module")
def package():
    return pytest.importorskip("vendi_score.vendi")


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


def test_zero_row_is_still_an_error():
    x = np.random.default_rng(2).normal(size=(5, 3))
    x[3] = 0.0
    with pytest.raises(ValueError, match="fake: row 3 is all zeros"):
        vendi_score(x * 1e-300, name="fake")
