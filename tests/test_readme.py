"""The README's "Python API" section runs as written: its Python code blocks, in order, in
one namespace, on tiny built-in data. The preamble defines the README's placeholders
(``features``, ``real_features``, ``fake_features``, ``data``, ``model``, ``round_index``,
``out_dir`` and the config file ``run.toml``) and nothing else."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import ring_data

README = Path(__file__).resolve().parents[1] / "README.md"

RUN_TOML = """
[data]
name = "ring"
n = 400
[model]
family = "gan"
latent_dim = 4
hidden = 16
depth = 2
[train]
steps = 6
batch_size = 32
log_every = 3
sample_every = 6
checkpoint_every = 6
"""


def python_api_blocks() -> list[str]:
    """The ```python blocks of the README's "## Python API" section."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Python API\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_python_api_section_runs_as_written(tmp_path, monkeypatch):
    from modecover.dmpra.plugin import DMPRA
    from modecover.metrics import fid, prdc
    from modecover.models import build_model

    blocks = python_api_blocks()
    assert len(blocks) >= 2, "the README's Python API section lost its code blocks"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text(RUN_TOML)
    torch.manual_seed(0)
    points, modes = ring_data(600, seed=1, labels=True)
    real, fake = points[:300].numpy(), points[300:][modes[300:] != 3].numpy()  # the fakes miss mode 3
    namespace = {
        "features": ring_data(400, seed=2, imbalanced=True).numpy(),
        "real_features": real,
        "fake_features": fake,
        "data": ring_data(400, seed=3),
        "model": build_model("gan", {"data_shape": [2], "latent_dim": 4, "hidden": 16, "depth": 2}),
        "round_index": 0,
        "out_dir": tmp_path / "own_loop",
    }
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)

    # what the comments promise
    assert f"{prdc(real, fake)} {fid(real, fake)}" in printed.getvalue()
    assert namespace["weighed"].weights.shape == (400,)
    assert namespace["e"].missed_groups, "the fakes miss mode 3: some real samples are uncovered"
    hooks = namespace["hooks"]
    dmpra = next(p for p in hooks.plugins if isinstance(p, DMPRA))
    assert namespace["w"] is None and torch.equal(hooks.data_weights(400), dmpra.weights)  # after the round end
    assert Path(namespace["final"]["checkpoint"]) == Path("runs/mine/final.ckpt")
    assert (tmp_path / "runs/mine/final.ckpt").is_file() and namespace["final"]["step"] == 6
    assert tuple(namespace["samples"].shape) == (1000, 2)


def test_train_takes_the_training_set_of_build_run(tmp_path):
    # build_run(...).data is a TrainingSet: train() used to fail on it ("Could not infer dtype")
    from modecover.config import Run, load_config
    from modecover.train import train

    (tmp_path / "run.toml").write_text(RUN_TOML)
    config = load_config(tmp_path / "run.toml")
    by_set, by_tensor = Run.from_config(config), Run.from_config(config)
    assert len(by_set.data) == 400 == len(by_set.data.x)
    a = train(by_set.model, by_set.data, by_set.hooks, config.train, tmp_path / "a", progress=False)
    b = train(by_tensor.model, by_tensor.data.x, by_tensor.hooks, config.train, tmp_path / "b", progress=False)
    assert {k: v for k, v in a.items() if k not in ("seconds", "checkpoint")} == \
        {k: v for k, v in b.items() if k not in ("seconds", "checkpoint")}
    for p, q in zip(by_set.model.parameters(), by_tensor.model.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match=r"training data: expected a non-empty tensor"):
        train(by_set.model, np.zeros((0, 2)), by_set.hooks, config.train, tmp_path / "c", progress=False)
