"""Ctrl-C during training (modecover.interrupts): the step under way finishes, last.ckpt holds
it, and a resumed run ends with the same weights as an uninterrupted one. The interrupt is
a real SIGINT sent to this process at a chosen step, as a terminal's Ctrl-C is."""

import os
import pickle
import shlex
import signal

import pytest
import torch
from click.testing import CliRunner

from helpers import ring_data
from modecover.checkpoint import read_checkpoint
from modecover.interrupts import TrainingInterrupted, deferred_interrupt
from modecover.models import build_model
from modecover.plugins import Hooks, Plugin
from modecover.train import TrainConfig, train

GAN = {"data_shape": [2], "hidden": 16, "depth": 1, "latent_dim": 4}
CONFIG = TrainConfig(steps=24, batch_size=16, rounds=2, seed=3, log_every=4, checkpoint_every=5)


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


class Reweigh(Plugin):
    """Re-weighs the data at each round end (state that a resume must restore); sends Ctrl-C
    during the round end of ``interrupt_round``."""

    name = "reweigh_interrupt"

    def __init__(self, interrupt_round=None):
        self.weights, self.interrupt_round = None, interrupt_round

    def data_weights(self, n):
        return self.weights

    def on_round_end(self, model, data, round_index, out_dir=None):
        with torch.no_grad():
            centre = model.sample(64, None).mean(0)
        self.weights = (data - centre).norm(dim=1).double()
        if round_index == self.interrupt_round:
            ctrl_c()

    def state_dict(self):
        return {"weights": self.weights}

    def load_state_dict(self, state):
        self.weights = state["weights"]


def run(out_dir, *, ctrl_c_at=(), interrupt_round=None, resume=False):
    torch.manual_seed(CONFIG.seed)
    hooks = Hooks([Reweigh(interrupt_round)])
    model = build_model("gan", GAN, hooks.parameters())

    def on_step(done):
        for _ in range(ctrl_c_at.count(done)):
            ctrl_c()

    train(model, ring_data(300), hooks, CONFIG, out_dir, resume=resume, progress=False, on_step=on_step)
    return model


def assert_same_state(a, b):
    for x, y in zip(a.parameters(), b.parameters()):
        assert torch.equal(x, y)
    for name, opt in a.optimizers().items():
        other = b.optimizers()[name].state_dict()["state"]
        for pid, s in opt.state_dict()["state"].items():
            assert all(torch.equal(torch.as_tensor(v), torch.as_tensor(other[pid][k])) for k, v in s.items())


@pytest.fixture(autouse=True)
def ctrl_c_reaches_python():
    """A terminal's Ctrl-C reaches Python's default handler; a shell that starts the tests in
    the background without job control (``pytest ... &``) makes the process ignore SIGINT,
    and training then rightly leaves it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return run(tmp_path_factory.mktemp("ref") / "run")


@pytest.mark.parametrize("step", [7, 12, 13])  # mid round 1, the end of round 1 (before its round end), round 2
def test_ctrl_c_saves_the_step_and_resume_reaches_the_same_weights(tmp_path, reference, step):
    with pytest.raises(TrainingInterrupted) as stopped:
        run(tmp_path, ctrl_c_at=[step])
    assert (stopped.value.step, stopped.value.steps, stopped.value.checkpoint) == (step, 24, tmp_path / "last.ckpt")
    copy = pickle.loads(pickle.dumps(stopped.value))
    assert (copy.step, copy.steps, copy.checkpoint, str(copy)) == (step, 24, tmp_path / "last.ckpt", str(stopped.value))
    assert read_checkpoint(tmp_path / "last.ckpt").state["step"] == step  # not 5 or 10, the periodic ones
    assert not (tmp_path / "final.ckpt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler put back
    assert max(int(line.split(",")[0]) for line in (tmp_path / "log.csv").read_text().splitlines()[1:]) <= step
    assert_same_state(reference, run(tmp_path, resume=True))


def test_ctrl_c_during_a_round_end_stops_after_its_checkpoints(tmp_path, reference):
    with pytest.raises(TrainingInterrupted) as stopped:
        run(tmp_path, interrupt_round=0)
    assert stopped.value.step == 12
    state = read_checkpoint(tmp_path / "last.ckpt").state
    assert (state["step"], state["rounds_finished"]) == (12, 1)
    assert_same_state(reference, run(tmp_path, resume=True))


def test_a_second_ctrl_c_stops_at_once_without_saving(tmp_path):
    with pytest.raises(KeyboardInterrupt) as stopped:
        run(tmp_path, ctrl_c_at=[7, 7])
    assert not isinstance(stopped.value, TrainingInterrupted)
    assert read_checkpoint(tmp_path / "last.ckpt").state["step"] == 5  # the last periodic checkpoint
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred_interrupt_leaves_another_handler_alone():
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGINT, mine)
    try:
        with deferred_interrupt() as request:
            assert not request.installed and signal.getsignal(signal.SIGINT) is mine
        with deferred_interrupt(enabled=False) as request:
            assert not request.installed
    finally:
        signal.signal(signal.SIGINT, previous)


TINY = """
[data]
name = "ring"
n = 200
seed = 0

[model]
family = "gan"
latent_dim = 4
hidden = 16
depth = 1

[train]
steps = 20
batch_size = 16
rounds = 2
seed = 1
log_every = 5
checkpoint_every = 8
"""


def test_cli_ctrl_c_names_the_step_and_the_command_that_resumes(tmp_path, monkeypatch):
    from modecover.checkpoint import load_checkpoint
    from modecover.cli import main
    from modecover.config import Run

    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    runner = CliRunner()
    done = runner.invoke(main, ["train", str(config), "--out", str(tmp_path / "ref"), "--no-progress", "--seed", "2"])
    assert done.exit_code == 0, done.output

    plain_train = Run.train
    monkeypatch.setattr(Run, "train", lambda self, out, **kw: plain_train(
        self, out, **kw, on_step=lambda step: step == 11 and ctrl_c()))
    cut = tmp_path / "a run"  # a space: the printed command quotes it
    stopped = runner.invoke(main, ["train", str(config), "--out", str(cut), "--no-progress", "--seed", "2"])
    assert stopped.exit_code == 130 and "Aborted" not in stopped.output
    assert f"Interrupted: saved step 11 of 20 to {cut / 'last.ckpt'}." in stopped.output
    command = stopped.output.split("Resume with: ")[1].strip()
    args = shlex.split(command)
    assert args[:2] == ["modecover", "train"] and "--resume" in args and args[args.index("--out") + 1] == str(cut)

    monkeypatch.setattr(Run, "train", plain_train)
    resumed = runner.invoke(main, args[1:] + ["--no-progress"])
    assert resumed.exit_code == 0, resumed.output
    assert f"--resume: continuing from step 11 of 20 ({cut / 'last.ckpt'})" in resumed.output
    a, b = load_checkpoint(tmp_path / "ref" / "final.ckpt"), load_checkpoint(cut / "final.ckpt")
    assert_same_state(a.model, b.model)
