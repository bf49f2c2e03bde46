"""What Hooks checks in the plug-ins' return values, and check_hooks_called: a plug-in
whose hooks its model family never calls is refused instead of silently doing nothing."""

import re

import numpy as np
import pytest
import torch

from modecover.methods.registry import METHODS, BuildContext, build_plugin
from modecover.models import build_model
from modecover.plugins import HOOKS, TRAINER_HOOKS, GeneratorContext, Hooks, Plugin, check_hooks_called

FAMILIES = ("gan", "vae", "flow", "diffusion")
SMALL = {
    "gan": {"data_shape": [2], "hidden": 8, "depth": 1, "latent_dim": 2},
    "vae": {"data_shape": [2], "hidden": 8, "depth": 1, "latent_dim": 2},
    "flow": {"data_shape": [2], "hidden": 8},
    "diffusion": {"data_shape": [2], "hidden": 8, "timesteps": 5},
}
B = 8


def model(family="gan"):
    torch.manual_seed(0)
    return build_model(family, SMALL[family])


def one(hook, fn, name="bad"):
    """A plug-in overriding only ``hook``, which returns ``fn(argument)``."""
    return type("One", (Plugin,), {"name": name, hook: lambda self, arg: fn(arg)})()


# -- 1. hooks the family never calls -------------------------------------------------
class Recorder(Plugin):
    """Overrides every hook and records which ones are called."""

    name = "recorder"

    def __init__(self):
        self.called = set()

    def __getattribute__(self, attr):
        if attr in HOOKS:
            object.__getattribute__(self, "called").add(attr)
        return object.__getattribute__(self, attr)

    def prior_dim(self, latent_dim):
        return latent_dim

    def latents(self, z):
        return z

    def generator_weights(self, ctx):
        return None

    def generator_loss(self, ctx):
        return None

    def discriminator_loss(self, ctx):
        return None


@pytest.mark.parametrize("family", FAMILIES)
def test_hooks_called_is_what_the_family_calls(family):
    """A step and sampling call exactly the family's hooks_called (``parameters``: the GAN
    alone trains them, through the generator loss)."""
    m, recorder = model(family), Recorder()
    m.train_step(torch.randn(B, 2), Hooks([recorder]), 0)
    m.sample(3, Hooks([recorder]))
    assert recorder.called == type(m).hooks_called - {"parameters"}
    assert ("parameters" in type(m).hooks_called) == (family == "gan")


BUILT_IN = sorted(name for name, spec in METHODS.items() if spec.module.startswith("modecover."))


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_methods_pass_on_their_families(name):
    torch.manual_seed(0)
    data, labels = torch.randn(40, 2), torch.arange(40) % 4
    families = METHODS[name].families or FAMILIES
    for family in families:
        m = model(family)
        context = BuildContext(data, {**m.config, "latent_dim": 2}, labels, family)
        check_hooks_called(Hooks([build_plugin(name, {}, context)]), m)


@pytest.mark.parametrize(("family", "hook"), [
    ("vae", "generator_loss"), ("flow", "generator_weights"), ("diffusion", "discriminator_loss"),
    ("diffusion", "latents"), ("diffusion", "prior_dim"), ("vae", "parameters"),
])
def test_a_hook_the_family_never_calls_is_refused(family, hook):
    plugin = one(hook, lambda arg: None, name="mine")
    with pytest.raises(ValueError, match=rf"^plug-in 'mine': overriding {hook} would do nothing \(the '{family}' model "
                                         rf"family never calls it: it calls .*\); use the plug-in with a family that "
                                         "calls it$"):
        check_hooks_called(Hooks([plugin]), model(family))
    check_hooks_called(Hooks([plugin]), model("gan"))  # the GAN calls every hook


def test_check_hooks_called_names_every_unused_hook_and_takes_the_class():
    from modecover.methods.deligan import DeLiGAN
    from modecover.models.diffusion import Diffusion

    with pytest.raises(ValueError, match=r"overriding parameters, latents, generator_loss would do nothing \(the "
                                         r"'diffusion' model family never calls them: it calls no hook; the trainer "
                                         r"calls data_weights and on_round_end\); use the plug-in with a family that "
                                         "calls them$"):
        check_hooks_called(Hooks([DeLiGAN(latent_dim=2)]), Diffusion)
    for family in FAMILIES:  # trainer hooks and an empty Hooks are fine everywhere
        check_hooks_called(Hooks([one(h, lambda arg: None, h) for h in TRAINER_HOOKS]), model(family))
        check_hooks_called(Hooks(), model(family))
        check_hooks_called(None, model(family))


# -- 2. generator_weights ------------------------------------------------------------
@pytest.mark.parametrize(("weights", "message"), [
    (lambda b: torch.ones(b, 1), r"shape \(8,\), got a float32 tensor of shape \(8, 1\)"),
    (lambda b: torch.ones(b + 1), r"got a float32 tensor of shape \(9,\)"),
    (lambda b: torch.tensor(1.0), r"got a float32 tensor of shape \(\)"),
    (lambda b: torch.ones(1), r"got a float32 tensor of shape \(1,\)"),
    (lambda b: [1.0] * b, r"got list \[1.0"),
    (lambda b: np.ones(b), r"got ndarray"),
    (lambda b: torch.full((b,), float("nan")), r"8 NaN or infinite weight\(s\); first is nan at index 0"),
    (lambda b: torch.arange(b) - 2.0, r"2 negative weight\(s\); first is -2.0 at index 0"),
])
def test_bad_generator_weights_are_refused(weights, message):
    plugin = one("generator_weights", lambda ctx: weights(ctx.per_sample_loss.shape[0]))
    with pytest.raises(ValueError, match=rf"generator weights: .*{message}.*\(plug-in 'bad', hook generator_weights\)"):
        model().train_step(torch.randn(B, 2), Hooks([plugin]), 0)


def test_good_generator_weights_pass():
    for w in (torch.zeros(B), torch.arange(B, dtype=torch.float32), torch.ones(B, dtype=torch.float64)):
        model().train_step(torch.randn(B, 2), Hooks([one("generator_weights", lambda ctx: w)]), 0)


# -- 3. loss terms -------------------------------------------------------------------
@pytest.mark.parametrize("hook", ["generator_loss", "discriminator_loss"])
@pytest.mark.parametrize(("term", "message"), [
    (lambda ctx: ctx.d_fake, r"must return None or a scalar floating tensor, got a float32 tensor of shape \(8,\)"),
    (lambda ctx: 3.0, r"must return None or a scalar floating tensor, got float 3.0"),
    (lambda ctx: torch.tensor(1), r"must return None or a scalar floating tensor, got a int64 tensor"),
    (lambda ctx: torch.tensor(5.0), r"returned 5.0, a tensor without gradient"),
    (lambda ctx: ctx.d_fake.detach().mean() + 1, r"returned .*, a tensor without gradient"),
])
def test_bad_loss_terms_are_refused(hook, term, message):
    with pytest.raises(ValueError, match=rf"plug-in 'bad': {hook} {message}"):
        model().train_step(torch.randn(B, 2), Hooks([one(hook, term)]), 0)


@pytest.mark.parametrize("hook", ["generator_loss", "discriminator_loss"])
def test_none_zero_and_one_element_terms_pass(hook):
    for term in (lambda ctx: None, lambda ctx: torch.tensor(0.0), lambda ctx: ctx.d_fake.mean().reshape(1, 1)):
        model().train_step(torch.randn(B, 2), Hooks([one(hook, term)]), 0)


def test_a_term_without_gradient_is_fine_while_gradients_are_off():
    ctx = GeneratorContext(0, torch.zeros(2, 2), *[torch.zeros(2, 2)] * 3, torch.zeros(2), torch.zeros(2), None)
    hooks = Hooks([one("generator_loss", lambda ctx: torch.tensor([2.0]))])
    with torch.no_grad():
        assert hooks.generator_loss(ctx).shape == () and float(hooks.generator_loss(ctx)) == 2.0
    with pytest.raises(ValueError, match="without gradient"):
        hooks.generator_loss(ctx)


# -- 4. latents and prior_dim --------------------------------------------------------
@pytest.mark.parametrize(("latents", "message"), [
    (lambda z: z[: z.shape[0] // 2], r"got a float32 tensor of shape \(4, 2\)"),
    (lambda z: torch.cat([z, z]), r"got a float32 tensor of shape \(16, 2\)"),
    (lambda z: z[:, None], r"got a float32 tensor of shape \(8, 1, 2\)"),
    (lambda z: z.double(), r"got a float64 tensor"),
    (lambda z: z.numpy(), r"got ndarray"),
])
@pytest.mark.parametrize("family", ["gan", "vae", "flow"])
def test_latents_keep_batch_dims_and_dtype(family, latents, message):
    hooks = Hooks([one("latents", latents)])
    with pytest.raises(ValueError, match=rf"plug-in 'bad': latents must return a tensor \(B=8, width\) .*{message}"):
        model(family).sample(B, hooks)
    if family == "gan":
        with pytest.raises(ValueError, match="plug-in 'bad': latents"):
            model().train_step(torch.randn(B, 2), hooks, 0)


@pytest.mark.parametrize("family", ["gan", "vae", "flow"])
def test_latents_must_end_latent_dim_wide(family):
    wide = Hooks([one("latents", lambda z: torch.cat([z, z], dim=1), "wide")])
    with pytest.raises(ValueError, match=r"plug-ins \['wide'\]: prior_dim and latents give latents of width 4, "
                                         r"but the model's latent_dim is 2"):
        model(family).sample(3, wide)
    narrow = Hooks([one("prior_dim", lambda d: 1, "narrow")])  # a smaller prior that no latents hook widens
    with pytest.raises(ValueError, match=r"plug-ins \['narrow'\]: .* latents of width 1, but the model's latent_dim"):
        model(family).sample(3, narrow)


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "2", None])
def test_prior_dim_must_be_a_positive_int(value):
    hooks = Hooks([one("prior_dim", lambda d: value)])
    with pytest.raises(ValueError, match=rf"^plug-in 'bad': what prior_dim\(2\) returns must be a positive integer, "
                                         rf"got {re.escape(repr(value))}$"):
        model().sample(3, hooks)


def test_a_latent_source_of_another_width_passes():
    """CFT-like: a smaller prior widened back to latent_dim by the latents hook."""

    class Widen(Plugin):
        name = "widen"

        def prior_dim(self, latent_dim):
            return np.int64(latent_dim - 1)

        def latents(self, z):
            return torch.cat([z, z[:, :1]], dim=1)

    for family in ("gan", "vae", "flow"):
        assert model(family).sample(5, Hooks([Widen()])).shape == (5, 2)
    model().train_step(torch.randn(B, 2), Hooks([Widen()]), 0)


# -- 5. data_weights -----------------------------------------------------------------
@pytest.mark.parametrize(("weights", "message"), [
    (lambda n: [1.0] * n, r"expected None or a real tensor of shape \(10,\), got list"),
    (lambda n: "abc", r"got str 'abc'"),
    (lambda n: np.ones(n), r"got ndarray"),
    (lambda n: torch.ones(n, 1), r"got a float32 tensor of shape \(10, 1\)"),
    (lambda n: torch.ones(n + 3), r"got a float32 tensor of shape \(13,\)"),
    (lambda n: torch.full((n,), float("inf")), r"10 NaN or infinite weight\(s\)"),
    (lambda n: -torch.ones(n), r"10 negative weight\(s\); first is -1.0 at index 0"),
    (lambda n: torch.zeros(n), r"all 10 weights are zero"),
])
def test_bad_data_weights_name_the_plug_in(weights, message):
    with pytest.raises(ValueError,
                       match=rf"data weights from the plug-ins: (.* )?{message}.*\(plug-in 'bad', hook data_weights\)"):
        Hooks([one("data_weights", weights)]).data_weights(10)


def test_data_weights_multiply_and_disjoint_ones_are_refused():
    half = one("data_weights", lambda n: (torch.arange(n) < n // 2).double(), "first_half")
    other = one("data_weights", lambda n: (torch.arange(n) >= n // 2).float(), "second_half")
    ints = one("data_weights", lambda n: torch.full((n,), 2), "twos")
    assert torch.equal(Hooks([half, ints]).data_weights(4), torch.tensor([2.0, 2.0, 0.0, 0.0], dtype=torch.float64))
    assert Hooks([one("data_weights", lambda n: None)]).data_weights(4) is None
    with pytest.raises(ValueError, match=r"the product of the weights of \['first_half', 'second_half'\] is zero"):
        Hooks([half, other]).data_weights(4)


def test_train_refuses_a_plugin_its_family_never_calls(tmp_path):
    from modecover.methods.topk import TopK
    from modecover.train import TrainConfig, train

    with pytest.raises(ValueError, match=r"^plug-in 'topk': overriding generator_weights would do nothing \(the 'vae' "
                                         "model family never calls it"):
        train(model("vae"), torch.randn(64, 2), Hooks([TopK()]), TrainConfig(steps=2, batch_size=8), tmp_path / "run",
              progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything is written
