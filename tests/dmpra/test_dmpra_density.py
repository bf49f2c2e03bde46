"""The density detector (k-NN density-ratio weights) against a brute-force reference, its
invariances, edge cases and errors, and its use by the DMPRA plug-in and the audit."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from helpers import brute_distances
from modecover.dmpra.density import DensityConfig, density_weights, local_dimension
from modecover.dmpra.plugin import DMPRA, DMPRAConfig, detector_for


def reference_weights(x: np.ndarray, config: DensityConfig) -> np.ndarray:
    """The module docstring's five steps with explicit loops over samples on the full float64
    distance matrix (ties broken by index, as the engine does)."""
    n, width = x.shape
    d = brute_distances(x, x)
    order = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        order.append(sorted(others, key=lambda j: (d[i, j], j)))
    L = config.dim_neighbors
    raw_dim = np.full(n, np.nan)
    for i in range(n):
        t = [d[i, j] for j in order[i][:L]]
        if t[-1] > 0 and all(v > 0 for v in t[:-1]):
            total = sum(np.log(t[-1] / v) for v in t[:-1])
            if total > 0:
                raw_dim[i] = (L - 2) / total
    dim = np.empty(n)
    for i in range(n):
        pool = [raw_dim[i]] + [raw_dim[j] for j in order[i][: L // 2]]
        pool = [v for v in pool if np.isfinite(v)]
        dim[i] = min(np.median(pool) if pool else np.nanmedian(raw_dim), width)
    radius = np.array([d[i, order[i][config.k - 1]] for i in range(n)])
    r_med = np.median(radius[radius > 0])
    s = np.array([dim[i] * np.log(radius[i] / r_med) if radius[i] > 0 else -np.inf for i in range(n)])
    smooth = np.array([np.mean([s[i]] + [s[j] for j in order[i][: config.smooth]]) for i in range(n)])
    ref = np.quantile(smooth[np.isfinite(smooth)], config.quantile)
    gamma = 2.0 if config.gamma is None else config.gamma  # one space's defaults: gamma 2, w_max 50
    w_max = 50.0 if config.w_max is None else config.w_max
    return np.array([min(max(np.exp(gamma * (v - ref)), 1.0), w_max) if np.isfinite(v) else 1.0 for v in smooth])


def clusters(rng, sizes, dim, spread, centres_scale=6.0):
    centres = rng.normal(scale=centres_scale, size=(len(sizes), dim))
    x = np.concatenate([c + rng.normal(scale=s, size=(m, dim)) for c, m, s in zip(centres, sizes, spread)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return x, labels


@pytest.mark.parametrize("config", [DensityConfig(), DensityConfig(k=3, dim_neighbors=6, smooth=0, quantile=0.5),
                                    DensityConfig(k=7, dim_neighbors=9, smooth=3, quantile=0.9, gamma=2.0, w_max=4.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_weights_equal_the_brute_force_reference(config, seed):
    rng = np.random.default_rng(seed)
    x, _ = clusters(rng, [60, 40, 8], 5, [1.0, 0.5, 0.3])
    result = density_weights(x, config)
    np.testing.assert_allclose(result.weights, reference_weights(x, config), rtol=1e-10, atol=0)
    assert (result.raised == (result.weights > 1)).all()
    assert result.weights.min() >= 1 and result.weights.max() <= config.resolved().w_max


def test_duplicates_and_lattice_ties_match_the_reference():
    rng = np.random.default_rng(3)
    lattice = rng.integers(0, 4, size=(70, 3)).astype(float)  # many exact ties and duplicates
    config = DensityConfig(k=4, dim_neighbors=5, smooth=2)
    result = density_weights(lattice, config)
    np.testing.assert_allclose(result.weights, reference_weights(lattice, config), rtol=1e-10)
    assert np.isfinite(result.weights).all()


def test_local_dimension_of_uniform_cubes():
    rng = np.random.default_rng(0)
    for true_dim in (2, 5):
        x = rng.uniform(size=(3000, true_dim))
        dist = np.sort(brute_distances(x[:300], x), axis=1)[:, 1:21]
        assert abs(np.median(local_dimension(dist, 20)) - true_dim) < 0.25 * true_dim


def test_weights_ignore_units_and_position():
    rng = np.random.default_rng(1)
    x, _ = clusters(rng, [80, 50, 10], 12, [1.0, 1.0, 0.4])
    base = density_weights(x).weights
    np.testing.assert_allclose(density_weights(x * 1e4 + 7.0).weights, base, rtol=1e-8)


def cubes(rng, sizes, dim, width):
    """Uniform cubes of one size (a smaller count is a sparser cube) on a ``dim``-dimensional
    subspace of ``width`` dimensions, as images on their manifold."""
    x = np.concatenate([c + rng.uniform(-1, 1, size=(m, dim))
                        for c, m in zip(rng.normal(scale=10, size=(3, dim)), sizes)])
    return x @ rng.normal(size=(dim, width)), np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_rare_group_in_high_dimension_is_raised_and_a_lone_outlier_is_not(seed):
    rng = np.random.default_rng(seed)
    x, labels = cubes(rng, [400, 400, 40], 5, 40)  # the rare cube is 10x sparser
    x = np.vstack([x, x[0] + 1.5 * (x[0] - x[labels == 0].mean(0))])  # a lone point beyond a common cube
    labels = np.append(labels, 0)
    result = density_weights(x)
    rare = labels == 2
    assert result.weights[rare].sum() / result.weights.sum() > 4 * rare.mean()
    assert result.weights[~rare].mean() < 1.1
    assert result.weights[-1] < np.median(result.weights[rare])


def test_identical_and_equidistant_samples_give_ones_with_a_note():
    same = density_weights(np.ones((40, 3)))
    assert (same.weights == 1).all() and "identical" in same.note
    grid = np.arange(30, dtype=float)[:, None] * np.ones((1, 2))  # a line of equal steps: ends are sparser
    assert np.isfinite(density_weights(grid).weights).all()


@pytest.mark.parametrize("key, value, rule", [
    ("k", 0, "an integer >= 1"), ("k", True, "an integer >= 1"), ("k", 2.0, "an integer >= 1"),
    ("dim_neighbors", 2, "an integer >= 3"), ("smooth", -1, "an integer >= 0"), ("smooth", False, "an integer >= 0"),
    ("quantile", 1.0, r"a finite number in \[0, 1\)"), ("quantile", "0.5", r"a finite number in \[0, 1\)"),
    ("gamma", 0, "a finite number > 0"), ("gamma", float("inf"), "a finite number > 0"),
    ("w_max", 1, "a finite number > 1"), ("w_max", True, "a finite number > 1"),
])
def test_density_settings_name_the_key_the_rule_and_the_value(key, value, rule):
    with pytest.raises(ValueError, match=rf"^density '{key}' must be {rule}, got {re.escape(repr(value))}$"):
        DensityConfig(**{key: value})


def test_bad_input_and_settings_are_named():
    with pytest.raises(ValueError, match="at least 21 rows"):
        density_weights(np.random.default_rng(0).normal(size=(20, 3)))
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7, column 1"):
        density_weights(x)
    with pytest.raises(TypeError, match="DensityConfig"):
        density_weights(x, {"k": 3})


def test_auto_detector_is_density_for_images_and_loci_for_vectors():
    assert detector_for("auto", torch.zeros(5, 1, 8, 8)) == "density"
    assert detector_for("auto", torch.zeros(5, 8, 8)) == "density"
    assert detector_for("auto", torch.zeros(5, 2)) == "loci"
    assert detector_for("loci", torch.zeros(5, 1, 8, 8)) == "loci"


def test_plugin_round_with_the_density_detector_writes_its_columns(tmp_path):
    x, labels = cubes(np.random.default_rng(4), [150, 150, 30], 4, 16)
    images = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), 1, 4, 4)
    plugin = DMPRA(space="data", plot=False)
    summary = plugin.on_round_end(None, images, 0, tmp_path)
    expected = density_weights(images.reshape(len(x), -1).double().numpy())
    np.testing.assert_array_equal(plugin.data_weights(len(x)).numpy(), expected.weights)
    assert summary["detector"] == "density" and summary["n_minority"] == int(expected.raised.sum())
    header = (tmp_path / "dmpra_scores.csv").read_text().splitlines()[0]
    assert header == "index,score,minority,group,weight,radius,dim"
    saved = json.loads((tmp_path / "dmpra_summary.json").read_text())
    assert saved["density"]["settings"]["k"] == 10
    rare = labels == 2
    assert plugin.weights.numpy()[rare].mean() > 2 * plugin.weights.numpy()[~rare].mean()


def test_plugin_data_space_with_components_searches_the_principal_components(tmp_path):
    """components = m: the round's weights are the density detector's on the first m principal
    components of the flattened samples (scikit-learn's PCA, computed here); the projection is
    fitted once and reused, a fresh plug-in fits the same one, the checkpoint state is as before."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(5)
    x, _ = cubes(rng, [150, 150, 30], 4, 16)
    x = x + rng.normal(scale=0.5, size=x.shape)  # off the 4-D subspace: 3 components drop some of the variance
    images = torch.as_tensor(x, dtype=torch.float32).reshape(len(x), 1, 4, 4)
    flat = images.reshape(len(x), -1).double().numpy()
    pca = PCA(3, svd_solver="full").fit(flat)
    expected = density_weights(pca.transform(flat))
    plugin = DMPRA(space="data", components=3, plot=False)
    summary = plugin.on_round_end(None, images, 0, tmp_path)
    np.testing.assert_allclose(plugin.weights.numpy(), expected.weights, rtol=1e-10, atol=0)
    assert not np.array_equal(expected.weights, density_weights(flat).weights)  # another space than the pixels
    ratio = pca.explained_variance_ratio_.sum()
    assert 0.5 < ratio < 0.999
    assert summary["projection"] == {"method": "pca", "components": 3, "input_features": 16,
                                     "explained_variance_ratio": pytest.approx(ratio, rel=1e-12)}
    assert json.loads((tmp_path / "dmpra_summary.json").read_text())["projection"] == summary["projection"]
    fitted = plugin.projection
    plugin.on_round_end(None, images, 1, None)  # the data do not change between rounds: no refit
    assert plugin.projection is fitted and plugin.history[1]["projection"] == summary["projection"]
    fresh = DMPRA(space="data", components=3, plot=False)  # a resumed run fits the same projection
    fresh.on_round_end(None, images, 1, None)
    np.testing.assert_array_equal(fresh.projection.transform(flat), fitted.transform(flat))
    np.testing.assert_array_equal(fresh.weights.numpy(), plugin.weights.numpy())
    assert set(plugin.state_dict()) == {"rounds_searched", "history", "weights"}


@pytest.mark.parametrize("shape, m, numbers", [
    ((330, 1, 4, 4), 17, r"17 principal components asked for, but 330 samples of 16 feature columns have at most "
                         r"min\(330, 16\) = 16"),
    ((30, 1, 8, 8), 31, r"31 principal components asked for, but 30 samples of 64 feature columns have at most "
                        r"min\(30, 64\) = 30"),
])
def test_plugin_components_beyond_the_data_is_an_error_naming_both(shape, m, numbers):
    images = torch.as_tensor(np.random.default_rng(0).normal(size=shape), dtype=torch.float32)
    plugin = DMPRA(space="data", components=m, plot=False)
    with pytest.raises(ValueError, match=r"^\[\[methods\]\] 'dmpra': 'components' on the training data "
                                         r"\(flattened\): " + numbers + "$"):
        plugin.on_round_end(None, images, 0, None)
    assert plugin.weights is None and plugin.rounds_searched == 0


def test_plugin_config_reads_the_density_table():
    config = DMPRAConfig(detector="density", density={"k": 5, "quantile": 0.5})
    assert config.density == DensityConfig(k=5, quantile=0.5)
    given = DensityConfig(k=7)
    assert DMPRAConfig(density=given).density is given


@pytest.mark.parametrize("options, message", [
    ({"density": {"kk": 5}}, r"^\[\[methods\]\] 'dmpra'\.density: unknown key\(s\) \['kk'\]; known keys: \[.*'k'"),
    ({"density": {"quantile": 2}}, r"^\[\[methods\]\] 'dmpra'\.density: density 'quantile' must be"),
    ({"density": "k=5"}, r"^\[\[methods\]\] 'dmpra'\.density: expected a table of key = value pairs, got str"),
    ({"detector": "lof"}, r"^\[\[methods\]\] 'dmpra': 'detector' must be one of \['auto', 'loci', 'density'\]"),
])
def test_plugin_config_errors_name_the_density_table_and_key(options, message):
    with pytest.raises(ValueError, match=message):
        DMPRAConfig(**options)
