"""The principal-component projection DMPRA's data space and ``modecover audit --components`` share."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from modecover.features import project_components
from modecover.features.pca import check_components, fit_components, projection_summary


def correlated(n=40, d=12, seed=0):
    """Features with a decaying spectrum (distinct singular values), off-centre."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ np.diag(np.linspace(3, 0.2, d)) @ rng.normal(size=(d, d)) + 5.0


def svd_reference(x, m):
    """The first m principal-component scores by numpy's SVD of the centred data, and their share of the variance."""
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :m] * s[:m], float((s[:m] ** 2).sum() / (s**2).sum())


@pytest.mark.parametrize("shape, m", [((40, 12), 5), ((40, 12), 12), ((8, 30), 8), ((8, 30), 1)])
def test_projection_is_sklearn_pca_and_the_svd_up_to_sign(shape, m):
    x = correlated(*shape)
    projected, ratio = project_components(x, m)
    assert projected.shape == (shape[0], m) and projected.dtype == np.float64
    pca = PCA(m, svd_solver="full").fit(x)
    np.testing.assert_allclose(projected, pca.transform(x), rtol=0, atol=1e-10)
    assert ratio == pytest.approx(pca.explained_variance_ratio_.sum(), rel=1e-12)
    scores, share = svd_reference(x, m)
    nonzero = np.abs(scores).max(axis=0) > 1e-8  # n <= d samples: the n-th component is 0 after centring
    assert nonzero.sum() == min(m, shape[0] - 1)
    signs = np.sign((projected * scores).sum(axis=0))
    assert (signs[nonzero] != 0).all()
    np.testing.assert_allclose((projected * signs)[:, nonzero], scores[:, nonzero], rtol=0, atol=1e-9)
    assert ratio == pytest.approx(share, rel=1e-12)


def test_projection_is_deterministic_and_float32_input_is_fitted_in_float64():
    x = correlated()
    first, ratio = project_components(x, 4)
    again, ratio_again = project_components(x.copy(), 4)
    np.testing.assert_array_equal(first, again)
    assert ratio == ratio_again
    single, _ = project_components(x.astype(np.float32), 4)
    np.testing.assert_allclose(single, PCA(4, svd_solver="full").fit_transform(x.astype(np.float32).astype(np.float64)),
                               rtol=0, atol=1e-9)


def test_summary_and_features_without_variance():
    pca = fit_components(correlated(), 3)
    expected = PCA(3, svd_solver="full").fit(correlated()).explained_variance_ratio_.sum()
    assert projection_summary(pca) == {"method": "pca", "components": 3, "input_features": 12,
                                       "explained_variance_ratio": pytest.approx(expected, rel=1e-12)}
    projected, ratio = project_components(np.ones((10, 4)), 2)  # nothing to lose: every score 0, ratio 1
    np.testing.assert_array_equal(projected, np.zeros((10, 2)))
    assert ratio == 1.0


@pytest.mark.parametrize("m, message", [
    (13, r"^x: 13 principal components asked for, but 40 samples of 12 feature columns have at most "
         r"min\(40, 12\) = 12$"),
    (0, r"^x: the number of principal components must be a positive integer, got 0$"),
    (True, r"must be a positive integer, got True$"),
    (2.0, r"must be a positive integer, got 2\.0$"),
])
def test_bad_numbers_of_components_are_named(m, message):
    with pytest.raises(ValueError, match=message):
        project_components(correlated(), m, name="x")


def test_more_components_than_samples_names_both():
    with pytest.raises(ValueError, match=r"9 principal components asked for, but 8 samples of 30 feature columns"):
        check_components(9, 8, 30)
    assert check_components(8, 8, 30) == 8
    x = correlated()
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 3, column 2"):
        project_components(x, 2)
