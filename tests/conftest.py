import numpy as np
import pytest
import torch

# Tiny models and small matrices run several times faster on one thread on a 2-core CPU.
torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
