"""A method defined in one file (this one, as in docs/methods.md) trains through a run config."""

import csv
from dataclasses import dataclass

import pytest

from modecover.checkpoint import read_checkpoint
from modecover.config import ConfigError, Run, parse_config
from modecover.methods.registry import register_method
from modecover.plugins import Plugin


# --- the example of docs/methods.md, "A new method in one file" ------------------------------
@dataclass
class ModeSeekingConfig:
    weight: float = 1.0  # scale of the term
    eps: float = 1e-5  # keeps the ratio and its inverse finite

    def __post_init__(self):
        if not self.weight >= 0:
            raise ValueError(f"mode_seeking weight must be >= 0, got {self.weight!r}")


@register_method("mode_seeking", ModeSeekingConfig, families=("gan",), why="it is a generator loss term")
class ModeSeeking(Plugin):
    """Mode seeking (after Mao et al. 2019): reward fakes that lie far apart when their latents do."""

    name = "mode_seeking"

    def __init__(self, config: ModeSeekingConfig | None = None, **options):
        self.config = config or ModeSeekingConfig(**options)

    def generator_loss(self, ctx):
        half = ctx.fake.shape[0] // 2
        if half == 0:
            return None
        fake, z = ctx.fake.flatten(1), ctx.z
        d_fake = (fake[:half] - fake[half : 2 * half]).abs().mean(dim=1)
        d_z = (z[:half] - z[half : 2 * half]).abs().mean(dim=1)
        ratio = (d_fake / (d_z + self.config.eps)).mean()
        ctx.log["mode_seeking_ratio"] = float(ratio.detach())
        return self.config.weight / (ratio + self.config.eps)
# ----------------------------------------------------------------------------------------------


def _raw(family="gan", **options):
    return {"data": {"name": "ring", "n": 200}, "model": {"family": family, "hidden": 16},
            "methods": [{"name": "mode_seeking", **options}],
            "train": {"steps": 6, "batch_size": 16, "rounds": 2, "log_every": 2, "checkpoint_every": 0}}


def test_a_method_registered_in_its_own_file_trains_through_a_config(tmp_path):
    config = parse_config(_raw(weight=0.5))
    run = Run.from_config(config)
    assert [type(p) for p in run.hooks.plugins] == [ModeSeeking] and run.hooks.plugins[0].config.weight == 0.5
    result = run.train(tmp_path, progress=False)
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 3, 4, 6] and all(float(r["mode_seeking_ratio"]) > 0 for r in rows)
    assert [p["name"] for p in read_checkpoint(result["checkpoint"]).plugins] == ["mode_seeking"]


def test_its_options_and_families_are_checked_when_the_config_is_read():
    with pytest.raises(ConfigError, match=r"'mode_seeking': unknown key\(s\) \['wieght'\]"):
        parse_config(_raw(wieght=1.0))
    with pytest.raises(ConfigError, match="mode_seeking weight must be >= 0"):
        parse_config(_raw(weight=-1.0))
    with pytest.raises(ConfigError, match=r"'mode_seeking': the method would do nothing \(the model family is 'vae'; "
                                          r"it works with the gan family only: it is a generator loss"):
        parse_config(_raw(family="vae"))


def test_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="method name 'dmpra' is taken"):
        register_method("dmpra", ModeSeekingConfig)(ModeSeeking)
    assert register_method("mode_seeking", ModeSeekingConfig)(ModeSeeking) is ModeSeeking  # the same class again


# --- a method that an installed package declares under the entry-point group -------------------
_SHIFT_METHOD = '''
from dataclasses import dataclass

from modecover.methods.registry import register_method
from modecover.plugins import Plugin


@dataclass
class LatentShiftConfig:
    shift: float = 3.0


@register_method("latent_shift", LatentShiftConfig, families=("gan",), why="it shifts a generator's latents")
class LatentShift(Plugin):
    name = "latent_shift"

    def __init__(self, config=None):
        self.config = config or LatentShiftConfig()

    def latents(self, z):
        return z + self.config.shift
'''


def _installed_package(root):
    """A package folder as pip leaves it: the module and its dist-info with entry points
    (``latent_shift`` registers its method; ``hollow`` names a module that registers none)."""
    root.mkdir()
    (root / "shift_method.py").write_text(_SHIFT_METHOD)
    info = root / "shift_method-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shift-method\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[modecover.methods]\nlatent_shift = shift_method\nhollow = json\n")
    return root


def test_an_installed_package_provides_its_method_to_train_and_sample(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    import numpy as np
    import torch

    from modecover.checkpoint import load_checkpoint
    from modecover.methods import registry
    from modecover.methods.registry import sampling_hooks
    from modecover.plugins import Hooks

    package = _installed_package(tmp_path / "site")
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))  # the registration stays in this test
    with pytest.raises(ConfigError, match="unknown method 'latent_shift'.*entry-point group 'modecover.methods'"):
        parse_config(_raw() | {"methods": [{"name": "latent_shift"}]})
    monkeypatch.syspath_prepend(str(package))
    with pytest.raises(ConfigError, match="'json' was imported but registers no method 'hollow'"):
        parse_config(_raw() | {"methods": [{"name": "hollow"}]})
    run = Run.from_config(parse_config(_raw() | {"methods": [{"name": "latent_shift", "shift": 2.5}]}))
    assert type(run.hooks.plugins[0]).__module__ == "shift_method" and run.hooks.plugins[0].config.shift == 2.5
    checkpoint = run.train(tmp_path / "run", progress=False)["checkpoint"]

    def sample_command(pythonpath):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
        return subprocess.run([sys.executable, "-m", "modecover", "sample", str(checkpoint), "-n", "40",
                               "--out", str(tmp_path / "s.npy")], env=env, capture_output=True, text=True)

    assert sample_command([str(package)]).returncode == 0  # a fresh process finds the method by its entry point
    loaded = load_checkpoint(checkpoint)
    torch.manual_seed(0)
    want = loaded.model.eval().sample(40, sampling_hooks(loaded)).numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), want)
    torch.manual_seed(0)
    assert not np.allclose(loaded.model.sample(40, Hooks()).numpy(), want)  # the shift shapes the samples
    refused = sample_command([])
    assert refused.returncode != 0
    assert "trained with plug-in 'latent_shift', which shapes the generator's latents" in refused.stderr


def test_sampling_skips_unknown_training_only_plugins_and_refuses_unknown_latent_ones(tmp_path):
    from modecover.checkpoint import load_checkpoint, save_checkpoint
    from modecover.methods.registry import sampling_hooks
    from modecover.models import build_model
    from modecover.plugins import Hooks

    class LocalLoss(Plugin):  # never registered: the checkpoint alone says what it touches
        name = "local_loss"

        def generator_loss(self, ctx):
            return None

    class LocalShift(Plugin):
        name = "local_shift"

        def latents(self, z):
            return z + 1

    model = build_model("gan", {"data_shape": [2], "hidden": 8, "depth": 1})
    save_checkpoint(tmp_path / "loss.ckpt", model, Hooks([LocalLoss()]), {"step": 0})
    assert sampling_hooks(load_checkpoint(tmp_path / "loss.ckpt")).plugins == []
    save_checkpoint(tmp_path / "shift.ckpt", model, Hooks([LocalShift()]), {"step": 0})
    with pytest.raises(ValueError, match=r"shift.ckpt: trained with plug-in 'local_shift', which shapes the "
                                         r"generator's latents.*model.sample\(n, hooks\)"):
        sampling_hooks(load_checkpoint(tmp_path / "shift.ckpt"))
