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
    with pytest.raises(ConfigError, match=r"'mode_seeking' works with the gan family only \(it is a generator loss"):
        parse_config(_raw(family="vae"))


def test_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="method name 'dmpra' is taken"):
        register_method("dmpra", ModeSeekingConfig)(ModeSeeking)
    assert register_method("mode_seeking", ModeSeekingConfig)(ModeSeeking) is ModeSeeking  # the same class again
