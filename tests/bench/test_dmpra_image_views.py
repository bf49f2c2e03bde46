"""benchmarks/dmpra_image_views.py: the sweep weighs what the library's views search weighs."""

import numpy as np
import pytest

from helpers import load_benchmark
from modecover.dmpra.density import DensityConfig, smoothed_score
from modecover.dmpra.views import views_density_weights


@pytest.fixture(scope="module")
def script():
    return load_benchmark("dmpra_image_views")


@pytest.mark.parametrize("n_views", [1, 2, 3])
def test_the_sweeps_combined_score_gives_the_librarys_weights(script, n_views):
    rng = np.random.default_rng(n_views)
    views = [rng.standard_normal((300, 4)) * rng.uniform(0.5, 3, 4) for _ in range(n_views)]
    config = DensityConfig(smooth=5, quantile=0.9, gamma=3.0, w_max=20.0)
    score = script.combined([smoothed_score(v, config).score for v in views])
    sweep = load_benchmark("dmpra_image_sweep").weights_at(score, config.quantile, config.gamma, config.w_max)
    np.testing.assert_allclose(sweep, views_density_weights(views, config).weights, rtol=1e-12)


def test_dmpras_image_default_is_the_chosen_setting(script):
    """DMPRA's default on MNIST-sized images searches the chosen views at the chosen step 5."""
    import torch

    from modecover.dmpra.plugin import DMPRAConfig, searched_space

    space, views = searched_space(DMPRAConfig(), torch.zeros(5000, 1, 28, 28))
    assert (space, views) == ("data", script.CHOSEN["views"])
    resolved = DMPRAConfig().density.resolved("views")
    assert {k: getattr(resolved, k) for k in script.CHOSEN["density"]} == script.CHOSEN["density"]
