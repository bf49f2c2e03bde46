import numpy as np
import pytest
import torch

# Tiny models and small matrices run several times faster on one thread on a 2-core CPU.
torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def ring_points():
    """400 points of the 8-mode ring (the PacGAN protocol), seed 0, as a float32 tensor."""
    from modecover.data.mixtures import ring

    return torch.from_numpy(ring().sample(400, seed=0)[0])


@pytest.fixture
def small_gan():
    """Factory: the project's MLP GAN on 2D points, small, with the plug-ins' parameters in G's optimizer."""
    from modecover.models import build_model

    def make(hooks):
        return build_model("gan", {"data_shape": [2], "latent_dim": 4, "hidden": 32, "depth": 2}, hooks.parameters())

    return make
