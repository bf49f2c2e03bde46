import json
import os

import numpy as np
import pytest
import torch

from modecover.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from modecover.methods.cft import CommonFeatureTraining
from modecover.models import build_model
from modecover.plugins import Hooks, Plugin

SMALL = {"data_shape": [2], "hidden": 16, "depth": 1, "latent_dim": 4}


def trained_gan(config=SMALL, hooks=None, steps=3, seed=0):
    torch.manual_seed(seed)
    hooks = hooks or Hooks()
    model = build_model("gan", config, hooks.parameters())
    for step in range(steps):
        model.train_step(torch.randn(16, 2), hooks, step)
    return model, hooks


class Counter(Plugin):
    """A plug-in with state: a tensor, a numpy array and plain values."""

    name = "counter"

    def __init__(self):
        self.seen = torch.zeros(3)
        self.extra = {"array": np.arange(4, dtype=np.uint32), "when": (1, 2.5, "x"), 7: None}

    def state_dict(self):
        return {"seen": self.seen, "extra": self.extra}

    def load_state_dict(self, state):
        self.seen, self.extra = state["seen"], state["extra"]


def test_round_trip_restores_model_optimizers_plugins_and_state(tmp_path):
    plugin = Counter()
    plugin.seen += torch.tensor([1.0, 2.0, 3.0])
    model, hooks = trained_gan(hooks=Hooks([plugin]))
    rng = np.random.RandomState(3).get_state()
    state = {"step": 3, "rng": {"numpy": rng, "torch": torch.get_rng_state()}, "nested": [1, {"a": None}]}
    path = save_checkpoint(tmp_path / "a.ckpt", model, hooks, state)

    fresh = Counter()
    ckpt = load_checkpoint(path, "gan", hooks=Hooks([fresh]))
    for (k, a), (_, b) in zip(model.state_dict().items(), ckpt.model.state_dict().items()):
        assert torch.equal(a, b), k
    for name, opt in model.optimizers().items():
        saved, loaded = opt.state_dict(), ckpt.model.optimizers()[name].state_dict()
        assert saved["param_groups"] == loaded["param_groups"]
        for pid, entry in saved["state"].items():
            for key, value in entry.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded["state"][pid][key]))
    assert torch.equal(fresh.seen, plugin.seen)
    assert fresh.extra["when"] == (1, 2.5, "x") and fresh.extra[7] is None
    assert fresh.extra["array"].dtype == np.uint32 and np.array_equal(fresh.extra["array"], np.arange(4))
    assert ckpt.state["step"] == 3 and ckpt.state["nested"] == [1, {"a": None}]
    restored = ckpt.state["rng"]["numpy"]
    assert restored[0] == rng[0] and np.array_equal(restored[1], rng[1]) and restored[1].dtype == rng[1].dtype
    assert restored[2:] == rng[2:]
    assert torch.equal(ckpt.state["rng"]["torch"], state["rng"]["torch"])
    assert ckpt.plugins == [{"name": "counter", "config": None, "shapes_latents": False}]


def test_continuing_from_a_loaded_checkpoint_matches_continuing_in_memory(tmp_path):
    cft = CommonFeatureTraining(latent_dim=4)
    model, hooks = trained_gan(hooks=Hooks([cft]))
    save_checkpoint(tmp_path / "m.ckpt", model, hooks, {})
    torch.manual_seed(0)
    copy_hooks = Hooks([CommonFeatureTraining(latent_dim=4)])
    copy = load_checkpoint(tmp_path / "m.ckpt", hooks=copy_hooks).model
    batch = torch.randn(16, 2)
    for m, h in ((model, hooks), (copy, copy_hooks)):
        torch.manual_seed(5)
        m.train_step(batch, h, 3)
    for a, b in zip([*model.parameters(), *hooks.parameters()], [*copy.parameters(), *copy_hooks.parameters()]):
        assert torch.equal(a, b)


def test_loading_without_hooks_gives_the_weights_for_sampling(tmp_path):
    model, hooks = trained_gan()
    save_checkpoint(tmp_path / "m.ckpt", model, hooks, {})
    ckpt = load_checkpoint(tmp_path / "m.ckpt")
    torch.manual_seed(1)
    a = ckpt.model.sample(8)
    torch.manual_seed(1)
    assert torch.equal(a, model.sample(8))


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    model, hooks = trained_gan()
    path = save_checkpoint(tmp_path / "x.ckpt", model, hooks, {"step": 1})
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, hooks, {"step": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ckpt"]


def test_file_is_plain_safetensors_with_json_metadata(tmp_path):
    from safetensors import safe_open

    model, hooks = trained_gan()
    path = save_checkpoint(tmp_path / "x.ckpt", model, hooks, {"step": 1})
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["modecover"])
        assert meta["family"] == "gan" and meta["model_config"]["hidden"] == 16
        assert any(k.startswith("model/") for k in f.keys())


@pytest.mark.parametrize("cut", [4, 100, -10])
def test_truncated_file_is_named_and_nothing_is_overwritten(tmp_path, cut):
    model, hooks = trained_gan()
    path = save_checkpoint(tmp_path / "t.ckpt", model, hooks, {})
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    other, other_hooks = trained_gan(seed=1)
    before = [p.detach().clone() for p in other.parameters()]
    with pytest.raises(CheckpointError, match="t.ckpt.*(truncated|corrupt)"):
        restore_checkpoint(path, other, other_hooks)
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters()))
    assert path.read_bytes() == data[:cut]


def test_flipped_byte_in_tensor_data_is_corruption(tmp_path):
    model, hooks = trained_gan()
    path = save_checkpoint(tmp_path / "c.ckpt", model, hooks, {})
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.ckpt: corrupt checkpoint"):
        read_checkpoint(path)


def test_not_a_checkpoint_and_missing_file(tmp_path):
    (tmp_path / "junk.ckpt").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(CheckpointError, match="junk.ckpt: not a modecover checkpoint"):
        read_checkpoint(tmp_path / "junk.ckpt")
    with pytest.raises(CheckpointError, match="not found.*nope.ckpt"):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_checkpoint_of_another_family_or_config_names_what_differs(tmp_path):
    model, hooks = trained_gan()
    path = save_checkpoint(tmp_path / "g.ckpt", model, hooks, {})
    with pytest.raises(CheckpointError, match="'gan' model, expected a 'vae' model"):
        load_checkpoint(path, "vae")
    other, other_hooks = trained_gan({**SMALL, "hidden": 8})
    before = [p.detach().clone() for p in other.parameters()]
    with pytest.raises(CheckpointError, match="hidden: checkpoint 16 vs this run 8"):
        restore_checkpoint(path, other, other_hooks)
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters()))


def test_checkpoint_with_other_plugins_is_refused(tmp_path):
    model, hooks = trained_gan(hooks=Hooks([Counter()]))
    path = save_checkpoint(tmp_path / "p.ckpt", model, hooks, {})
    other, other_hooks = trained_gan()
    with pytest.raises(CheckpointError, match=r"plug-ins \['counter'\], this run has \[\]"):
        restore_checkpoint(path, other, other_hooks)


def test_changed_byte_in_the_header_document_is_corruption(tmp_path):
    model, hooks = trained_gan()
    path = save_checkpoint(tmp_path / "h.ckpt", model, hooks, {"step": 1, "rounds": 7})
    data = path.read_bytes()
    assert data.count(b'\\"rounds\\": 7') == 1
    path.write_bytes(data.replace(b'\\"rounds\\": 7', b'\\"rounds\\": 9'))
    with pytest.raises(CheckpointError, match="h.ckpt: corrupt checkpoint \\(header checksum mismatch\\)"):
        read_checkpoint(path)


def test_checkpoint_written_before_the_header_digest_still_loads(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    model, hooks = trained_gan()
    path = save_checkpoint(tmp_path / "new.ckpt", model, hooks, {"step": 1})
    with safe_open(str(path), "pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "modecover_sha256"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, tmp_path / "old.ckpt", metadata=meta)
    assert read_checkpoint(tmp_path / "old.ckpt").state == {"step": 1}


def test_safetensors_of_no_modecover_run_and_other_files_are_named(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, tmp_path / "list.safetensors", metadata={"modecover": "[1]"})
    with pytest.raises(CheckpointError, match="list.safetensors: not a modecover checkpoint .*not a JSON object"):
        read_checkpoint(tmp_path / "list.safetensors")
    (tmp_path / "data.csv").write_text("x,y\n0.5,1.5\n1.0,2.0\n")
    with pytest.raises(CheckpointError, match="data.csv: not a modecover checkpoint \\(not a safetensors file\\)"):
        read_checkpoint(tmp_path / "data.csv")
