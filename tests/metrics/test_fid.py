"""FID from features: against pytorch-fid's calculate_frechet_distance (scipy sqrtm), and
against an independent exact formula for singular covariances (fewer samples than
dimensions), where sqrtm itself loses accuracy."""

import importlib

import numpy as np
import pytest
import scipy.linalg
import torch

from helpers import reference_missing, references_required, stub_torchvision
from modecover.metrics import feature_stats, fid, frechet_distance
from modecover.metrics.fid import trace_sqrt_product

# pytorch-fid's own sqrtm call warns (scipy deprecation, singular products); not ours.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")]


@pytest.fixture(scope="module")
def reference_fid():
    """pytorch-fid's calculate_frechet_distance, or the same scipy sqrtm formula written
    out here when pytorch-fid is not installed (an error instead where references are
    required: CI=true or MODECOVER_REQUIRE_REFERENCES=1)."""
    mp = pytest.MonkeyPatch()
    stub_torchvision(mp)
    try:
        from pytorch_fid.fid_score import calculate_frechet_distance
    except ImportError as err:
        if references_required():
            reference_missing("pytorch_fid.fid_score", err)

        def calculate_frechet_distance(mu1, s1, mu2, s2):
            covmean = scipy.linalg.sqrtm(s1 @ s2).real
            diff = mu1 - mu2
            return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    finally:
        mp.undo()
    return calculate_frechet_distance


def correlated(rng, n, d, scale=1.0, shift=0.0):
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) * scale + shift) @ mixing


@pytest.mark.parametrize("n, d", [(200, 2), (300, 16), (1000, 128)])
def test_equals_pytorch_fid(reference_fid, n, d):
    rng = np.random.default_rng(d)
    real = correlated(rng, n, d)
    fake = correlated(rng, n + 17, d, scale=1.3, shift=0.2).astype(np.float32)
    mu1, s1 = feature_stats(real)
    mu2, s2 = feature_stats(fake)
    want = float(reference_fid(mu1, s1, mu2, s2))
    assert fid(real, fake) == pytest.approx(want, rel=1e-6)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-6)


def test_one_dimension_closed_form():
    # d = 1: FID = (mu1 - mu2)^2 + (sd1 - sd2)^2 (pytorch-fid's sqrtm call breaks on 1x1
    # with current scipy, so this is the reference)
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(200, 1)), rng.normal(size=(150, 1)) * 2 + 1
    want = (real.mean() - fake.mean()) ** 2 + (real.std(ddof=1) - fake.std(ddof=1)) ** 2
    assert fid(real, fake) == pytest.approx(want, rel=1e-12)


def test_feature_stats_match_numpy_cov():
    x = np.random.default_rng(1).normal(size=(50, 7)).astype(np.float32)
    mu, sigma = feature_stats(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-14)


def nuclear_norm_trace(real, fake):
    """tr sqrt(S1 S2) for sample covariances S1 = X^T X, S2 = Y^T Y (X, Y centred and
    scaled): the eigenvalues of X^T X Y^T Y are the squared singular values of X Y^T, so
    the trace is the nuclear norm of X Y^T. Exact for any rank."""
    x = (real - real.mean(0)) / np.sqrt(len(real) - 1)
    y = (fake - fake.mean(0)) / np.sqrt(len(fake) - 1)
    return np.linalg.svd(x @ y.T, compute_uv=False).sum()


@pytest.mark.parametrize("n1, n2, d", [(10, 12, 40), (3, 50, 30), (40, 5, 30), (60, 60, 30)])
def test_singular_covariances_against_nuclear_norm(n1, n2, d):
    rng = np.random.default_rng(n1 + n2)
    real, fake = correlated(rng, n1, d), correlated(rng, n2, d, 0.7, 1.0)
    mu1, s1 = feature_stats(real)
    mu2, s2 = feature_stats(fake)
    trace = nuclear_norm_trace(real, fake)
    assert trace_sqrt_product(s1, s2) == pytest.approx(trace, rel=1e-9)
    diff = mu1 - mu2
    want = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace
    assert fid(real, fake) == pytest.approx(want, rel=1e-9)


def test_identical_sets_give_zero():
    x = correlated(np.random.default_rng(3), 500, 20)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-9)
    # rank-deficient: more dimensions than samples; the clamp keeps the result finite
    y = correlated(np.random.default_rng(4), 8, 20)
    assert fid(y, y) == pytest.approx(0.0, abs=1e-9)


def test_constant_feature_column_is_fine(reference_fid):
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(100, 6)), rng.normal(size=(120, 6)) + 0.5
    real[:, 2] = 1.0  # zero variance: S1 singular, Cholesky fails, eigh factor is used
    mu1, s1 = feature_stats(real)
    mu2, s2 = feature_stats(fake)
    assert fid(real, fake) == pytest.approx(float(reference_fid(mu1, s1, mu2, s2)), rel=1e-6)


def test_symmetric_in_its_arguments():
    rng = np.random.default_rng(6)
    a, b = correlated(rng, 300, 10), correlated(rng, 200, 10, 2.0)
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-10)


def test_torch_input():
    rng = np.random.default_rng(7)
    a, b = correlated(rng, 100, 5), correlated(rng, 100, 5, 1.5)
    assert fid(torch.from_numpy(a), torch.from_numpy(b).float()) == pytest.approx(fid(a, b.astype(np.float32)))


@pytest.mark.parametrize(
    "real, fake, match",
    [
        (np.ones((1, 3)), np.ones((5, 3)), "real: needs at least 2 rows"),
        (np.ones((5, 3)), np.ones((1, 3)), "fake: needs at least 2 rows"),
        (np.ones((5, 3)), np.ones((5, 4)), "feature columns"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), np.ones((5, 2)), "real: 1 non-finite"),
        (np.ones((5, 2)), np.array([[0.0, np.inf], [1.0, 2.0]]), "fake: 1 non-finite"),
        (np.ones(5), np.ones((5, 1)), "real: expected a 2-D array"),
    ],
)
def test_bad_features(real, fake, match):
    with pytest.raises(ValueError, match=match):
        fid(real, fake)


def test_bad_statistics():
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(mu, s, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="covariance must have shape"):
        frechet_distance(mu, np.eye(4), mu, s)
    with pytest.raises(ValueError, match="second .* covariance holds non-finite"):
        frechet_distance(mu, s, mu, np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="first .* mean holds non-finite"):
        frechet_distance(np.array([0.0, np.inf, 0.0]), s, mu, s)


@pytest.mark.parametrize("block_rows", [0, -1, 1.5, True, "10"])
def test_feature_stats_block_rows_must_be_a_positive_integer(block_rows):
    # -1 gave zeros, 0 "range() arg 3 must not be zero", 1.5 a bare TypeError
    with pytest.raises(ValueError, match=f"block_rows must be a positive integer, got {block_rows!r}"):
        feature_stats(np.ones((5, 3)), block_rows=block_rows)


def test_non_symmetric_covariance_is_refused(reference_fid):
    rng = np.random.default_rng(11)
    mu1, s1 = feature_stats(correlated(rng, 200, 6))
    mu2, s2 = feature_stats(correlated(rng, 200, 6, 1.3))
    skewed = s1 + 0.1 * np.triu(rng.normal(size=(6, 6)), 1)  # sqrtm's answer differs from the symmetric part's
    assert float(reference_fid(mu1, skewed, mu2, s2)) != pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-3)
    with pytest.raises(ValueError, match=r"first .*: sigma1 is not symmetric: sigma1\[\d, \d\] = "):
        frechet_distance(mu1, skewed, mu2, s2)
    with pytest.raises(ValueError, match="second .*: sigma2 is not symmetric"):
        frechet_distance(mu1, s1, mu2, skewed.T)


def test_covariance_with_negative_eigenvalue_is_refused():
    rng = np.random.default_rng(12)
    mu1, s1 = feature_stats(correlated(rng, 200, 6))
    mu2, s2 = feature_stats(correlated(rng, 200, 6, 1.3))
    with pytest.raises(ValueError, match=r"sigma2 \(seen through .*\) is not positive semi-definite: it has the "
                                         r"eigenvalue -"):
        frechet_distance(mu1, s1, mu2, -s2)  # returned 9.40; pytorch-fid raises
    w, v = np.linalg.eigh(s2)
    w[0] = -1e-4 * w.sum()  # one clearly negative eigenvalue: S1 positive definite keeps the sign (congruence)
    with pytest.raises(ValueError, match="sigma2 .* is not positive semi-definite"):
        frechet_distance(mu1, s1, mu2, (v * w) @ v.T)
    w, v = np.linalg.eigh(s1)
    w[0] = -1e-4 * w.sum()  # one clearly negative eigenvalue, the others as they were
    with pytest.raises(ValueError, match="sigma1 is not positive semi-definite"):
        frechet_distance(mu1, (v * w) @ v.T, mu2, s2)


def test_round_off_in_covariances_is_accepted():
    # covariances computed in float32 with fewer rows than dimensions: exact zero eigenvalues
    # come out negative (about -1e-9 tr S) and the products are not quite symmetric
    rng = np.random.default_rng(13)
    real = correlated(rng, 60, 100).astype(np.float32)
    fake = correlated(rng, 50, 100, 1.2, 0.3).astype(np.float32)
    s1, s2 = (torch.cov(torch.from_numpy(x).T).double().numpy() for x in (real, fake))
    s1[0, 1] *= 1 + 1e-9
    assert np.linalg.eigvalsh(s1)[0] < 0 and np.linalg.eigvalsh(s2)[0] < 0
    got = frechet_distance(real.mean(0), s1, fake.mean(0), s2)
    assert got == pytest.approx(fid(real, fake), rel=1e-4)  # float32 covariances


def test_statistics_given_as_tensors_that_require_grad():
    rng = np.random.default_rng(14)
    mu1, s1 = feature_stats(correlated(rng, 100, 4))
    mu2, s2 = feature_stats(correlated(rng, 100, 4, 1.5))
    grad = [torch.tensor(a, requires_grad=True) for a in (mu1, s1, mu2, s2)]
    assert frechet_distance(*grad) == frechet_distance(mu1, s1, mu2, s2)
    with pytest.raises(ValueError, match="mu1: expected real numbers, got dtype complex"):
        frechet_distance(mu1 + 1j, s1, mu2, s2)


def test_feature_stats_blocks_give_the_same_result():
    x = np.random.default_rng(8).normal(size=(103, 9)).astype(np.float32) + 5.0
    mu, sigma = feature_stats(x)
    mu_b, sigma_b = feature_stats(x, block_rows=10)
    np.testing.assert_allclose(mu_b, mu, rtol=1e-13)
    np.testing.assert_allclose(sigma_b, sigma, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(sigma_b, sigma_b.T)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(
    real=arrays(np.float64, st.tuples(st.integers(2, 12), st.integers(1, 6)),
                elements=st.integers(-3, 3).map(float)),
    data=st.data(),
)
def test_property_nonnegative_symmetric_and_exact(real, data):
    # small integer features: duplicates, constant columns and rank deficiency are common
    fake = data.draw(arrays(np.float64, (data.draw(st.integers(2, 12)), real.shape[1]),
                            elements=st.integers(-3, 3).map(float)))
    value = fid(real, fake)
    assert value >= 0.0
    assert value == pytest.approx(fid(fake, real), rel=1e-9, abs=1e-9)
    mu1, s1 = feature_stats(real)
    mu2, s2 = feature_stats(fake)
    diff = mu1 - mu2
    want = max(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * nuclear_norm_trace(real, fake), 0.0)
    assert value == pytest.approx(want, rel=1e-7, abs=1e-7)


# ----------------------------------------------------------------------------- Gram form (wide features)


@pytest.mark.parametrize("n1, n2, d", [(30, 45, 200), (45, 30, 200), (200, 150, 40), (2, 3, 60)])
def test_gram_form_equals_covariance_form(n1, n2, d):
    rng = np.random.default_rng(n1 * d)
    real, fake = correlated(rng, n1, d), correlated(rng, n2, d, 0.8, 0.3)
    fake[:2] = real[:2]  # shared rows
    real[:, 3] = 2.5  # a constant feature
    want = fid(real, fake, route="covariance")
    assert fid(real, fake, route="gram") == pytest.approx(want, rel=1e-9)
    assert fid(real, fake, route="gram") == pytest.approx(fid(fake, real, route="gram"), rel=1e-12)


def test_gram_form_equals_pytorch_fid_when_rows_exceed_dimensions(reference_fid):
    rng = np.random.default_rng(7)
    real, fake = correlated(rng, 400, 24), correlated(rng, 300, 24, 1.2, 0.5)
    mu1, s1 = feature_stats(real)
    mu2, s2 = feature_stats(fake)
    assert fid(real, fake, route="gram") == pytest.approx(float(reference_fid(mu1, s1, mu2, s2)), rel=1e-9)


def test_gram_form_duplicates_and_identical_sets():
    rng = np.random.default_rng(8)
    x = np.repeat(rng.integers(-3, 4, size=(6, 80)).astype(np.float32), 3, axis=0)  # every row 3 times
    assert fid(x, x, route="gram") == pytest.approx(0.0, abs=1e-9)
    y = x[::-1] + 1.0
    assert fid(x, y, route="gram") == pytest.approx(fid(x, y, route="covariance"), rel=1e-9)


def test_auto_route_never_builds_d_by_d_for_wide_features(monkeypatch):
    fid_module = importlib.import_module("modecover.metrics.fid")

    def no_covariance(*args, **kwargs):
        raise AssertionError("feature_stats (d x d) called for wide features")

    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(20, 5000)), rng.normal(size=(25, 5000)) * 1.1
    want = fid(real, fake, route="gram")
    monkeypatch.setattr(fid_module, "feature_stats", no_covariance)
    assert fid(real, fake) == want
    assert fid_module.gram_route_is_cheaper(20, 25, 5000) and not fid_module.gram_route_is_cheaper(10000, 10000, 2048)


def test_too_large_allocation_is_a_clear_error(monkeypatch):
    import modecover._checks as checks

    monkeypatch.setattr(checks, "available_memory_bytes", lambda: 2**30)  # 1 GiB free
    x = np.zeros((50, 20000), dtype=np.float32)
    with pytest.raises(MemoryError, match=r"20000 x 20000 covariance needs 6\.\d GiB .*--no-fid"):
        feature_stats(x, "real")
    with pytest.raises(ValueError, match="Gram form"):  # also a ValueError: the CLI's error path
        fid(np.zeros((12000, 3)), np.zeros((12000, 3)) + 1.0, route="gram")
    # auto falls back to the route that fits: the covariance form of 3-d features
    real = np.random.default_rng(10).normal(size=(12000, 3))
    assert fid(real, real + 1.0) == pytest.approx(3.0, rel=1e-9)
