"""How often a run plots, logs or checkpoints changes nothing it learns: two runs that
differ only in ``sample_every``, ``log_every`` and ``checkpoint_every`` end with identical
weights, buffers, optimizer and plug-in states and random generators; the benchmark
harness's job and ``modecover train`` of the same config end with identical checkpoints."""

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from helpers import cli
from modecover.config import Run, parse_config
from modecover.plugins import Plugin

QUIET = {"log_every": 0, "sample_every": 0, "checkpoint_every": 0}
BUSY = {"log_every": 1, "sample_every": 9, "checkpoint_every": 7}


class GlobalNoise(Plugin):
    """Jitters the latents with Python's and NumPy's global generators (a plug-in may use
    them): the draws a sample plot makes must not shift the ones training makes."""

    name = "global_noise"

    def latents(self, z):
        noise = np.random.normal(0.0, 0.01, size=tuple(z.shape)) + 0.01 * random.random()
        return z + torch.as_tensor(noise, dtype=z.dtype, device=z.device)


MLP_2D = {"data": {"name": "ring", "n": 300}, "train": {"steps": 60, "batch_size": 32}}
DIGITS = {"data": {"name": "digits", "limit": 160}, "train": {"steps": 24, "batch_size": 16}}
CASES = {
    "gan": (MLP_2D, {"family": "gan", "hidden": 16, "depth": 2, "latent_dim": 4}, [], 1),
    "gan+dmpra": (MLP_2D, {"family": "gan", "hidden": 16, "depth": 2, "latent_dim": 4}, [{"name": "dmpra"}], 2),
    "vae": (MLP_2D, {"family": "vae", "hidden": 16, "depth": 1, "latent_dim": 2, "beta": 0.1}, [], 1),
    "diffusion": (MLP_2D, {"family": "diffusion", "hidden": 16, "depth": 2, "timesteps": 10, "ema_decay": 0.9}, [], 1),
    # batch norm in the generator: sampling must neither use nor move the running statistics
    "dcgan": (DIGITS, {"family": "gan", "arch": "dcgan", "latent_dim": 8, "base_channels": 8, "output": "tanh"},
              [], 1),
}


def train_with(case: str, cadence: dict, out_dir, plugins=()):
    base, model, methods, rounds = CASES[case]
    raw = {"data": base["data"], "model": model, "methods": methods,
           "train": {**base["train"], "rounds": rounds, "seed": 3, **cadence}}
    run = Run.from_config(parse_config(raw, case), plugins=plugins)
    run.train(out_dir, progress=False)
    rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    return run, rng


def assert_same_state(a, b) -> None:
    """Every parameter and buffer, every optimizer's state and groups, every plug-in's state."""
    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    assert list(state_a) == list(state_b)
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), f"model {key}"
    for name, optimizer in a.model.optimizers().items():
        one, other = optimizer.state_dict(), b.model.optimizers()[name].state_dict()
        assert one["param_groups"] == other["param_groups"]
        assert one["state"].keys() == other["state"].keys()
        for pid, entry in one["state"].items():
            for key, value in entry.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other["state"][pid][key])), f"{name} {key}"
    hooks_a, hooks_b = a.hooks.state_dict(), b.hooks.state_dict()
    assert hooks_a.keys() == hooks_b.keys()
    for plugin, entries in hooks_a.items():
        for key, value in entries.items():
            other = hooks_b[plugin][key]
            same = torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other
            assert same, f"plug-in {plugin} {key}"


def assert_same_rng(a, b) -> None:
    assert a[0] == b[0]
    assert a[1][0] == b[1][0] and np.array_equal(a[1][1], b[1][1]) and a[1][2:] == b[1][2:]
    assert torch.equal(a[2], b[2])


@pytest.mark.parametrize("case", list(CASES))
def test_plotting_logging_and_checkpointing_change_nothing_the_run_learns(tmp_path, case):
    plugins = (lambda: [GlobalNoise()]) if case == "gan" else list
    quiet, quiet_rng = train_with(case, QUIET, tmp_path / "quiet", plugins())
    busy, busy_rng = train_with(case, BUSY, tmp_path / "busy", plugins())
    # the busy run did plot, log and checkpoint mid-round; the quiet one only at round ends
    steps = CASES[case][0]["train"]["steps"]
    assert len(list((tmp_path / "busy" / "samples").glob("step*.png"))) == steps // BUSY["sample_every"]
    assert not (tmp_path / "quiet" / "samples").exists()
    assert len((tmp_path / "busy" / "log.csv").read_text().splitlines()) == steps + 1
    assert_same_state(quiet, busy)
    assert_same_rng(quiet_rng, busy_rng)  # so what is drawn after training is the same too
    final_quiet, final_busy = load_file(tmp_path / "quiet" / "final.ckpt"), load_file(tmp_path / "busy" / "final.ckpt")
    assert final_quiet.keys() == final_busy.keys()
    assert all(torch.equal(final_quiet[k], final_busy[k]) for k in final_quiet)


def test_a_process_first_run_equals_its_later_runs(tmp_path):
    """In a fresh process (as ``modecover train`` runs): nothing imported on first use
    during a run (rich's import draws from Python's generator) shifts the run's draws."""
    code = f"""
import sys, random, torch
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_train_cadence import GlobalNoise, QUIET, BUSY, train_with, assert_same_state, assert_same_rng
torch.set_num_threads(1)
first = train_with("gan", BUSY, {str(tmp_path / "first")!r}, [GlobalNoise()])
second = train_with("gan", QUIET, {str(tmp_path / "second")!r}, [GlobalNoise()])
assert_same_state(first[0], second[0])
assert_same_rng(first[1], second[1])
print("same")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "same", done.stderr[-2000:]


def test_the_sample_plot_leaves_generators_and_modes_as_they_were(tmp_path):
    from modecover.plugins import Hooks
    from modecover.train import plot_samples

    run = Run.from_config(parse_config({**DIGITS, "model": CASES["dcgan"][1]}, "dcgan"))
    run.model.train()
    run.model.discriminator.eval()  # a module in another mode than the model keeps it
    before = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    buffers = {k: v.clone() for k, v in run.model.named_buffers()}
    assert plot_samples(run.model, Hooks([GlobalNoise()]), run.data.x, tmp_path / "grid.png", "t") is not None
    assert_same_rng(before, (random.getstate(), np.random.get_state(), torch.get_rng_state()))
    assert all(torch.equal(v, dict(run.model.named_buffers())[k]) for k, v in buffers.items())
    assert run.model.training and run.model.generator.training and not run.model.discriminator.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sample_plots_on_a_cuda_model_leave_its_generator_as_it_was(tmp_path):
    from modecover.models import build_model
    from modecover.plugins import Hooks
    from modecover.train import plot_samples

    model = build_model("gan", {"data_shape": [2], "hidden": 16, "depth": 2, "latent_dim": 4}).cuda()
    before = torch.cuda.get_rng_state()
    plot_samples(model, Hooks(), torch.randn(50, 2), tmp_path / "s.png", "t")
    assert torch.equal(before, torch.cuda.get_rng_state())


def test_a_benchmark_job_and_modecover_train_of_its_config_end_identical(tmp_path):
    """The harness's job (no sample plots, one checkpoint) and ``modecover train`` of the
    same config with plots, logs and checkpoints: the same final checkpoint, tensor for tensor."""
    from modecover.bench.jobs import job_config, run_2d_job

    spec = {"data": {"name": "ring-imbalanced", "n": 300},
            "model": {"family": "gan", "hidden": 16, "depth": 2, "latent_dim": 4},
            "methods": [{"name": "dmpra"}], "train": {"steps": 40, "batch_size": 32, "rounds": 2},
            "n_eval": 200, "seed": 5, "out_dir": str(tmp_path / "bench")}
    threads = torch.get_num_threads()
    try:
        run_2d_job(spec)
        config = job_config(spec).to_dict()
        config["train"].update(log_every=3, sample_every=15, checkpoint_every=10)
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
        result = cli("train", tmp_path / "run.yaml", "--out", tmp_path / "train", "--no-progress")
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "train" / "samples").glob("*.png"))) == 2
    bench, train = load_file(tmp_path / "bench" / "seed5" / "final.ckpt"), load_file(tmp_path / "train" / "final.ckpt")
    assert bench.keys() == train.keys() and any(k.startswith("hooks/dmpra/") for k in bench)
    assert all(torch.equal(bench[k], train[k]) for k in bench)
