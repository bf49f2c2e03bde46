"""The density detector over several views (modecover.dmpra.views): the rank combination
against a direct computation, one view as the detector itself, a group sparse in every view
raised above the tails that are sparse in one, the plug-in's views rounds, and the errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import norm

from modecover.dmpra.density import DensityConfig, density_weights, smoothed_score
from modecover.dmpra.plugin import DMPRA
from modecover.dmpra.views import (
    check_views,
    compute_views,
    gaussianised_ranks,
    image_views,
    view_features,
    views_density_weights,
)
from modecover.features.orientations import orientation_histograms
from modecover.features.pca import project_components


def test_gaussianised_ranks_match_a_direct_computation_with_ties_and_duplicates():
    score = np.array([0.3, -1.0, 2.0, 0.3, -np.inf, 5.0])
    finite = [0.3, -1.0, 2.0, 0.3, 5.0]  # ranks 2.5, 1, 4, 2.5, 5 of n = 5
    ranks = np.array([2.5, 1, 4, 2.5, 5])
    expected = norm.ppf((ranks - 0.5) / len(finite))
    got = gaussianised_ranks(score)
    np.testing.assert_allclose(got[np.isfinite(score)], expected, rtol=1e-12)
    assert got[4] == -np.inf and got[0] == got[3]
    assert (gaussianised_ranks(np.full(3, -np.inf)) == -np.inf).all()


def planted_views(seed: int = 0):
    """Two views of 400 samples: a group of 12 sparse in both, and in each view a different
    set of 40 common samples pushed into the tails."""
    rng = np.random.default_rng(seed)
    n, d = 400, 6
    rare = np.zeros(n, bool)
    rare[:12] = True
    views = []
    for tails in (slice(12, 52), slice(52, 92)):
        x = rng.normal(size=(n, d))
        x[rare] = 3.5 + 1.6 * rng.normal(size=(12, d))  # a loose group away from the bulk
        x[tails] *= 2.6
        views.append(x)
    return views, rare


def test_one_view_is_the_density_detector_itself():
    views, _ = planted_views()
    config = DensityConfig(gamma=1.5, w_max=30.0)
    one, plain = views_density_weights(views[:1], config), density_weights(views[0], config)
    np.testing.assert_array_equal(one.weights, plain.weights)
    np.testing.assert_array_equal(one.score, plain.score)
    np.testing.assert_array_equal(one.labels, plain.labels)


def test_several_views_weigh_the_mean_gaussianised_rank_by_step_5():
    views, _ = planted_views()
    config = DensityConfig(smooth=3, quantile=0.85, gamma=3.0, w_max=20.0)
    z = np.mean([gaussianised_ranks(smoothed_score(v, config).score) for v in views], axis=0)
    expected = np.clip(np.exp(3.0 * (z - np.quantile(z, 0.85))), 1.0, 20.0)
    result = views_density_weights(views, config)
    np.testing.assert_allclose(result.weights, expected, rtol=1e-12)
    assert (result.raised == (expected > 1)).all() and result.radius.shape == (400,)


def test_a_group_sparse_in_every_view_gains_over_any_one_view():
    """Each view alone raises its own 40 tail samples beside the group; their mean rank keeps
    the group on top and lets each view's tails fall back (over 8 seeds the group's share of
    the weight: 0.32-0.36 combined, at most 0.29 in one view, ranked or not)."""
    config = DensityConfig(gamma=3.0, w_max=20.0)
    for seed in range(8):
        views, rare = planted_views(seed)
        share = lambda w: w[rare].sum() / w.sum()  # noqa: E731
        both = share(views_density_weights(views, config).weights)
        alone = [share(views_density_weights([v], config).weights) for v in views]
        ranked_alone = [share(np.clip(np.exp(3.0 * (g - np.quantile(g, 0.9))), 1, 20))
                        for g in (gaussianised_ranks(smoothed_score(v, config).score) for v in views)]
        assert both > 1.1 * max(ranked_alone + alone), (seed, both, ranked_alone, alone)
        assert min(alone) > 3 * rare.mean()


def test_view_features_are_the_features_they_name():
    images = np.random.default_rng(2).normal(size=(60, 1, 8, 8))
    flat = images.reshape(60, -1)
    pixels, summary = view_features(images, "pixels")
    np.testing.assert_array_equal(pixels, flat)
    assert summary == {"view": "pixels", "columns": 64}
    pca, summary = view_features(images, "pca5")
    np.testing.assert_array_equal(pca, project_components(flat, 5)[0])
    assert summary["columns"] == 5 and 0 < summary["explained_variance_ratio"] < 1
    hog, summary = view_features(images, "hog2")
    np.testing.assert_array_equal(hog, orientation_histograms(images, 2))
    assert summary == {"view": "hog2", "columns": 36}


def test_bad_views_are_refused_naming_them():
    for bad in (["pca0"], ["hog"], ["hog4x4"], [3]):
        with pytest.raises(ValueError, match="unknown view"):
            check_views(bad, "where")
    with pytest.raises(ValueError, match="a list of view names"):
        check_views("pca50", "where")
    with pytest.raises(ValueError, match="name a view twice"):
        check_views(["hog4", "hog4"], "where")
    with pytest.raises(ValueError, match=r"view 'hog4' needs images .* got data of shape \(50, 6\)"):
        view_features(np.zeros((50, 6)), "hog4")
    with pytest.raises(ValueError, match="different numbers of samples"):
        views_density_weights([np.random.default_rng(0).normal(size=(50, 3)), np.zeros((40, 3))])
    with pytest.raises(ValueError, match="no views"):
        views_density_weights([])
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[7, 1] = np.nan
    with pytest.raises(ValueError, match="view 1 of the density search.*row 7"):
        views_density_weights([np.random.default_rng(1).normal(size=(50, 3)), x])


def test_identical_images_in_every_view_get_weight_one_with_a_note():
    result = views_density_weights([np.ones((30, 4)), np.ones((30, 2))])
    assert (result.weights == 1).all() and "identical" in result.note


def test_the_plugin_searches_its_views_each_round_and_says_which(tmp_path):
    rng = np.random.default_rng(3)
    images = torch.from_numpy(rng.normal(size=(120, 1, 8, 8)))
    images[:8] += 2.5  # a small group brighter everywhere
    plugin = DMPRA(space="data", views=["pca6", "hog2"], density={"gamma": 3.0, "w_max": 20.0}, plot=False)
    summary = plugin.on_round_end(None, images, 1, tmp_path)
    expected = views_density_weights([view_features(images.numpy(), v)[0] for v in ("pca6", "hog2")],
                                      DensityConfig(gamma=3.0, w_max=20.0))
    np.testing.assert_array_equal(plugin.weights.numpy(), expected.weights)
    assert [v["view"] for v in summary["views"]] == ["pca6", "hog2"] and summary["detector"] == "density"
    assert json.loads((tmp_path / "dmpra_summary.json").read_text())["views"] == summary["views"]
    assert plugin.on_round_end(None, images, 2)["n_minority"] == summary["n_minority"]  # deterministic rounds


@pytest.mark.parametrize("options,match", [
    ({"space": "perception", "views": ["pca50"]}, "apply to space = \"data\" only"),
    ({"space": "data", "components": 10, "views": ["hog4"]}, "'components' beside views would do nothing"),
    ({"space": "data", "detector": "loci", "views": ["hog4"]}, r"views would do nothing \(the LOCI search"),
    ({"space": "data", "views": ["hog4", "surf"]}, "unknown view 'surf'"),
])
def test_the_plugin_refuses_views_that_would_do_nothing(options, match):
    with pytest.raises(ValueError, match=match):
        DMPRA(**options)


def test_a_degenerate_first_view_does_not_speak_for_a_view_that_ranks():
    """The first view holds one point repeated, the second a sparse group: the weights come
    from the second view's ranks and no note says that nothing could be raised."""
    views, rare = planted_views()
    result = views_density_weights([np.ones((400, 3)), views[1]], DensityConfig(gamma=3.0, w_max=20.0))
    assert result.note is None and result.raised.any()
    assert result.weights[rare].mean() > 2 * result.weights[~rare].mean()


@pytest.mark.parametrize("shape,views", [
    ((5000, 1, 28, 28), ["pca50", "hog4"]),
    ((40, 3, 16, 20), ["pca40", "hog4"]),  # at most n components; cells of 4 pixels
    ((1632, 8, 8), ["pca50"]),  # 4x4 cells of 2 pixels: no histograms
    ((200, 1, 15, 40), ["pca50"]),
    ((200, 1, 6, 5), ["pca30"]),  # at most the pixels of an image
])
def test_the_image_default_views_are_cut_to_what_the_images_allow(shape, views):
    assert image_views(shape) == views
    images = np.random.default_rng(0).normal(size=shape)
    computed, _ = compute_views(images, views)  # every default view can be computed
    assert [c.shape[0] for c in computed] == [shape[0]] * len(views)


def test_two_views_weigh_at_their_own_step_5_defaults_and_one_view_at_one_space_s():
    views, _ = planted_views()
    config = DensityConfig(smooth=3)
    np.testing.assert_array_equal(views_density_weights(views, config).weights,
                                  views_density_weights(views, DensityConfig(smooth=3, gamma=3.0, w_max=20.0)).weights)
    np.testing.assert_array_equal(views_density_weights(views[:1], config).weights,
                                  density_weights(views[0], DensityConfig(smooth=3, gamma=2.0, w_max=50.0)).weights)
    assert views_density_weights(views, DensityConfig(gamma=1.5)).config.w_max == 20.0  # a key given keeps the other


def rare_group_images(seed: int = 3, n: int = 160):
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.normal(size=(n, 1, 16, 16)))
    images[:8] += 2.5  # a small group brighter everywhere
    return images


def test_the_plugin_s_default_searches_images_in_the_image_views_and_vectors_in_perception(tmp_path):
    """DMPRA() on images (space "auto") gives the weights that the views pca50 and hog4 with
    gamma 3 and w_max 20, spelled out, give (the setting B4 measured before it was the default);
    no classifier is fitted; explicit space "data" searches the pixels alone."""
    images = rare_group_images()
    default = DMPRA(plot=False)
    summary = default.on_round_end(None, images, 1, tmp_path)
    spelled = DMPRA(space="data", views=["pca50", "hog4"], density={"gamma": 3.0, "w_max": 20.0}, plot=False)
    spelled.on_round_end(None, images, 1)
    np.testing.assert_array_equal(default.weights.numpy(), spelled.weights.numpy())
    assert [v["view"] for v in summary["views"]] == ["pca50", "hog4"] and summary["space"] == "data"
    assert default.classifier is None and summary["density"]["settings"]["gamma"] == 3.0
    pixels = DMPRA(space="data", plot=False)
    assert "views" not in pixels.on_round_end(None, images, 1)
    np.testing.assert_array_equal(pixels.weights.numpy(), density_weights(images.reshape(160, -1).numpy()).weights)
    small = DMPRA(plot=False)  # images too small for the histograms: their 50 principal components alone,
    small.on_round_end(None, images[:, :, :8, :8], 1)  # weighed as one space (gamma 2, w_max 50)
    components = DMPRA(space="data", components=50, plot=False)
    components.on_round_end(None, images[:, :, :8, :8], 1)
    np.testing.assert_array_equal(small.weights.numpy(), components.weights.numpy())
    assert small.history[0]["density"]["settings"]["w_max"] == 50.0


@pytest.mark.parametrize("options,space,views", [
    ({}, "perception", []),  # vectors: the paper's perception space
    ({"components": 2}, "data", []),
    ({"views": ["pixels"]}, "data", ["pixels"]),
])
def test_auto_space_for_vectors_is_perception_unless_the_data_s_own_features_are_named(options, space, views):
    from modecover.dmpra.plugin import DMPRAConfig, searched_space

    assert searched_space(DMPRAConfig(**options), torch.zeros(50, 2)) == (space, views)
    images = torch.zeros(50, 1, 8, 8)
    assert searched_space(DMPRAConfig(detector="loci"), images) == ("data", [])  # LOCI searches one space
    assert searched_space(DMPRAConfig(space="perception"), images) == ("perception", [])


def test_too_few_images_for_the_default_views_are_an_error_naming_the_view_and_the_count():
    with pytest.raises(ValueError, match=r"view 'pca15' of the density search: needs at least 21 rows, got 15"):
        DMPRA(plot=False).on_round_end(None, torch.randn(15, 1, 16, 16), 1)


def test_the_views_and_their_search_are_computed_once_and_again_for_other_data(monkeypatch):
    from modecover.dmpra import plugin as plugin_module

    calls = []
    original = plugin_module.compute_views
    monkeypatch.setattr(plugin_module, "compute_views", lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    images = rare_group_images()
    dmpra = DMPRA(plot=False)
    first = dmpra.on_round_end(None, images, 1)
    weights = dmpra.weights.clone()
    second = dmpra.on_round_end(None, images, 2)
    assert len(calls) == 1 and torch.equal(dmpra.weights, weights)
    assert (first["round"], second["round"]) == (1, 2) and first["n_minority"] == second["n_minority"]
    fresh = DMPRA(plot=False)
    fresh.on_round_end(None, images, 2)  # a resumed run searches again, to the same weights
    assert torch.equal(fresh.weights, weights)
    dmpra.on_round_end(None, images[:100], 3)  # other data: searched again
    assert len(calls) == 3 and dmpra.weights.shape == (100,)
