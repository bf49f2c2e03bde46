"""What every model family (GAN, VAE, flow, diffusion) does alike: one step and sampling on
images, the registry round trip of config and state, sampling through the latents hooks,
config errors naming the key, and bad batches. Each family's own checks are in its file."""

import json
import re

import numpy as np
import pytest
import torch

from modecover.models import build_model, make_config
from modecover.models.nets import MLPDiscriminator, mlp
from modecover.plugins import Hooks, Plugin

FAMILIES = ("gan", "vae", "flow", "diffusion")
LATENT_FAMILIES = ("gan", "vae", "flow")  # a diffusion model has no latent generator

VECTOR = {  # small models of 2-D points
    "gan": {"data_shape": [2], "hidden": 16, "depth": 2, "latent_dim": 4, "betas": [0.0, 0.9]},
    "vae": {"data_shape": [2], "beta": 0.5},
    "flow": {"data_shape": [2]},
    "diffusion": {"data_shape": [2], "timesteps": 20},
}
IMAGE = {  # small models of 1x8x8 images
    "gan": {"data_shape": [1, 8, 8], "latent_dim": 8, "base_channels": 8, "hidden": 16},
    "vae": {"data_shape": [1, 8, 8], "latent_dim": 4, "channels": 8, "output_activation": "tanh"},
    "flow": {"data_shape": [1, 8, 8], "coupling_layers": 2, "hidden": 32, "dequantize_noise": 1 / 16},
    "diffusion": {"data_shape": [1, 8, 8], "timesteps": 10, "channels": 8, "depth": 1},
}
LOGGED = {
    "gan": {"loss_d", "d_real", "d_fake", "loss_g", "loss_g_total"},
    "vae": {"loss", "reconstruction", "kl"},
    "flow": {"loss", "nll", "bits_per_dim"},
    "diffusion": {"loss", "mse"},
}
OPTIMIZERS = {"gan": {"generator", "discriminator"}, "vae": {"vae"}, "flow": {"flow"}, "diffusion": {"diffusion"}}
IMAGE_LATENT_DIM = {"gan": 8, "vae": 4, "flow": 64, "diffusion": None}  # the flow's latent is the image
TANH_OUTPUT = {"gan", "vae"}  # samples in [-1, 1]
PERCEPTION_DIM = {"gan": 16}  # the discriminator's features; the other families have none


@pytest.mark.parametrize("family", FAMILIES)
def test_image_shaped_step_and_sample(family):
    torch.manual_seed(0)
    model = build_model(family, IMAGE[family])
    log = model.train_step(torch.rand(6, 1, 8, 8) * 2 - 1, Hooks(), 0)
    assert set(log) == LOGGED[family] and all(np.isfinite(v) for v in log.values())
    samples = model.sample(3)
    assert samples.shape == (3, 1, 8, 8) and torch.isfinite(samples).all()
    if family in TANH_OUTPUT:
        assert samples.abs().max() <= 1
    assert model.sample(0).shape == (0, 1, 8, 8)
    latent = model.latent_generator()
    if IMAGE_LATENT_DIM[family] is None:
        assert latent is None
    else:
        g, d = latent
        assert d == IMAGE_LATENT_DIM[family] and g(torch.zeros(2, d)).shape == (2, 1, 8, 8)
    features = model.perception_features(samples)
    if family in PERCEPTION_DIM:
        assert features.shape == (3, PERCEPTION_DIM[family])
    else:
        assert features is None


@pytest.mark.parametrize("family", FAMILIES)
def test_state_dict_round_trip_through_the_registry_and_json(family):
    """A model rebuilt from its JSON-stored config and loaded with its state (weights,
    buffers such as the diffusion model's average, optimizers) samples as the original."""
    torch.manual_seed(0)
    model = build_model(family, VECTOR[family])
    model.train_step(torch.randn(8, 2), Hooks(), 0)
    assert set(model.optimizers()) == OPTIMIZERS[family]
    clone = build_model(family, json.loads(json.dumps(model.config)))
    assert clone.config == model.config
    clone.load_state_dict(model.state_dict())
    for name, optimizer in model.optimizers().items():
        clone.optimizers()[name].load_state_dict(optimizer.state_dict())
    torch.manual_seed(1)
    expected = model.sample(5)
    torch.manual_seed(1)
    torch.testing.assert_close(clone.sample(5), expected)


class Shift(Plugin):
    name = "shift"

    def latents(self, z):
        return z + 10.0


@pytest.mark.parametrize("family", LATENT_FAMILIES)
def test_sampling_goes_through_the_latents_hooks_and_the_latent_generator(family):
    torch.manual_seed(0)
    model = build_model(family, VECTOR[family])
    model.train_step(torch.randn(8, 2), Hooks(), 0)
    model.eval()  # the GAN samples in eval mode
    g, dim = model.latent_generator()
    torch.manual_seed(3)
    samples = model.sample(5)
    torch.manual_seed(3)
    torch.testing.assert_close(samples, g(torch.randn(5, dim)))
    torch.manual_seed(3)
    shifted = model.sample(5, Hooks([Shift()]))
    torch.manual_seed(3)
    torch.testing.assert_close(shifted, g(torch.randn(5, dim) + 10.0))


BAD_CONFIG = {
    "gan": [
        ("loss", "lsgan"),
        ("arch", "resnet"),
        ("latent_dim", 0),
        ("hidden", 2.5),
        ("depth", True),
        ("pack", 0),
        ("d_steps", -1),
        ("lr_g", 0.0),
        ("lr_d", float("nan")),
        ("gp_weight", -1.0),
        ("gp_weight", True),
        ("betas", [0.5]),
        ("betas", [False, 0.9]),  # a bool is no number: false was taken as 0
        ("betas", [0.5, True]),
        ("lr_g", True),
        ("output", "relu"),
        ("data_shape", [0]),
        ("base_channels", 0),
    ],
    "vae": [
        ("latent_dim", 0),
        ("hidden", 2.5),
        ("beta", -1.0),
        ("logcosh_alpha", 0.0),
        ("lr", float("nan")),
        ("output_activation", "relu"),
        ("data_shape", [2, 3]),
        ("adam_betas", [0.9]),
        ("adam_betas", [False, 0.9]),
        ("depth", True),
    ],
    "flow": [
        ("coupling_layers", 0),
        ("hidden", "64"),
        ("dequantize_noise", -0.1),
        ("lr", 0),
        ("data_shape", [1]),
        ("data_shape", [0, 2]),
        ("adam_betas", [0.9, 1.0]),
    ],
    "diffusion": [
        ("timesteps", 1),
        ("schedule", "quadratic"),
        ("sampling_variance", "learned"),
        ("time_embedding", 7),
        ("ema_decay", 1.0),
        ("ema_decay", True),
        ("timesteps", True),
        ("hidden", 0),
        ("lr", -1e-3),
        ("data_shape", [3, 8]),
    ],
}


@pytest.mark.parametrize(
    "family, key, value", [(family, key, value) for family, cases in BAD_CONFIG.items() for key, value in cases]
)
def test_bad_config_names_the_key(family, key, value):
    shown = {repr(value), *([repr(tuple(value))] if key == "data_shape" else [])}  # as given or as read
    with pytest.raises(ValueError, match=f"'{key}'.*got ({'|'.join(map(re.escape, shown))})$"):
        make_config(family, {key: value})


@pytest.mark.parametrize("make, message", [
    (lambda: mlp(2, 2, 4, -1), "^mlp: depth must be an integer >= 0, got -1$"),
    (lambda: mlp(2, 2, 4, True), "^mlp: depth must be an integer >= 0, got True$"),  # was one hidden layer
    (lambda: MLPDiscriminator(2, depth=0),
     r"^MLPDiscriminator: depth \(features come from a hidden layer\) must be an integer >= 1, got 0$"),
])
def test_the_shared_nets_name_a_bad_depth(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_batch_and_sample_size_are_named(family):
    model = build_model(family, VECTOR[family])
    for batch in (torch.randn(4, 3), torch.randn(4, 1, 2)):
        with pytest.raises(ValueError, match="real batch"):
            model.train_step(batch, Hooks(), 0)
    with pytest.raises(ValueError, match="n must be"):
        model.sample(-1)


@pytest.mark.parametrize("family", FAMILIES)
def test_batches_of_other_dtypes_train_as_float32_and_empty_ones_are_named(family):
    model = build_model(family, VECTOR[family])
    for batch in (torch.randn(8, 2).double(), torch.randint(-2, 3, (8, 2)), np.ones((8, 2))):
        log = model.train_step(batch, Hooks(), 0)  # the GAN raised a dtype mismatch from inside torch
        assert all(np.isfinite(v) for v in log.values())
    with pytest.raises(ValueError, match=r"real batch must have shape \(B, 2\) with B >= 1, got \(0, 2\)"):
        model.train_step(torch.empty(0, 2), Hooks(), 0)
    assert tuple(model.sample(np.int64(3)).shape) == (3, 2)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", [[2.7], ["2"], 2, [], [True]])
def test_data_shape_must_be_positive_integers(family, shape):
    with pytest.raises(ValueError, match=f"model '{family}': 'data_shape' must be a list of positive integers"):
        make_config(family, {"data_shape": shape})  # [2.7] was truncated to (2,), ["2"] parsed


@pytest.mark.parametrize("family", FAMILIES)
def test_non_finite_batch_is_named(family):
    model = build_model(family, VECTOR[family])
    with pytest.raises(ValueError, match="real batch holds NaN or infinite values"):
        model.train_step(torch.tensor([[0.0, float("nan")]]), Hooks(), 0)
