"""Run folders: ownership (run.json), refusal messages, --overwrite, --resume without a
checkpoint, and the lock (real processes: a second run fails at once, a killed run's lock
does not block --overwrite replacing it with another family's run)."""

import json
import os
import subprocess
import sys
import time

import pytest

from helpers import cli
from modecover.runs import LOCK_FILE, RUN_FILE, RunFolderError, RunOwner, claim_run_folder, read_owner

TINY = """
[data]
name = "ring"
n = 200

[model]
family = "{family}"
hidden = 16
depth = 1

[train]
steps = {steps}
batch_size = 16
log_every = 0
checkpoint_every = {checkpoint_every}
"""


def config(tmp_path, family="gan", steps=6, checkpoint_every=3):
    path = tmp_path / f"{family}-{steps}.toml"
    path.write_text(TINY.format(family=family, steps=steps, checkpoint_every=checkpoint_every))
    return path


def modecover(*args, **kwargs):
    """The command line in its own process."""
    return subprocess.Popen([sys.executable, "-m", "modecover", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


# -- the rules, in process ---------------------------------------------------------------


def test_new_folder_is_claimed_and_recorded(tmp_path):
    with claim_run_folder(tmp_path / "a" / "run", "train", "gan") as claim:
        assert not claim.resumed
        record = json.loads((tmp_path / "a" / "run" / RUN_FILE).read_text())
        assert record["command"] == "train" and record["kind"] == "gan"
        assert read_owner(tmp_path / "a" / "run") == RunOwner("train", "gan")
        assert f"pid {os.getpid()}" in (tmp_path / "a" / "run" / LOCK_FILE).read_text()


def test_own_run_resumes_only_when_asked_and_others_are_refused(tmp_path):
    run = tmp_path / "run"
    claim_run_folder(run, "train", "gan").release()
    (run / "last.ckpt").write_text("x")
    with pytest.raises(RunFolderError, match=f"{run}: holds an earlier 'train' run of a 'gan' model; "
                                             "pass --resume to continue it or --overwrite to replace it"):
        claim_run_folder(run, "train", "gan")
    with claim_run_folder(run, "train", "gan", resume=True) as claim:
        assert claim.resumed and (run / "last.ckpt").exists()
    with pytest.raises(RunFolderError, match="holds a 'train' run of a 'gan' model, not a 'train' run of a 'vae'"):
        claim_run_folder(run, "train", "vae", resume=True)
    with pytest.raises(RunFolderError, match="holds a 'train' run of a 'gan' model, not a 'demo' run.*--overwrite"):
        claim_run_folder(run, "demo", resumable=False)
    with pytest.raises(RunFolderError, match="pass one"):
        claim_run_folder(run, "train", "gan", resume=True, overwrite=True)
    with claim_run_folder(run, "demo", overwrite=True, resumable=False) as claim:
        assert not claim.resumed and sorted(os.listdir(run)) == [LOCK_FILE, RUN_FILE]
        assert read_owner(run) == RunOwner("demo")


def test_a_folder_no_run_wrote_is_never_emptied(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match=rf"{tmp_path}: not empty \(notes.txt\) and no modecover run wrote it"):
            claim_run_folder(tmp_path, "train", "gan", overwrite=overwrite)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]  # untouched, not even a lock file
    (tmp_path / "file").write_text("")
    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        claim_run_folder(tmp_path / "file", "bench")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / RUN_FILE).write_text("{")
    with pytest.raises(RunFolderError, match="unreadable run record"):
        claim_run_folder(tmp_path / "bad", "bench")


def test_run_folders_from_before_run_json_are_recognised(tmp_path):
    train, bench, demo = tmp_path / "train", tmp_path / "bench", tmp_path / "demo"
    train.mkdir()
    (train / "config.json").write_text(json.dumps({"model": {"family": "flow"}}))
    (train / "final.ckpt").write_text("x")
    assert read_owner(train) == RunOwner("train", "flow")
    with pytest.raises(RunFolderError, match="holds a 'train' run of a 'flow' model, not a 'train' run of a 'gan'"):
        claim_run_folder(train, "train", "gan", resume=True)
    (bench / "B2" / "ring").mkdir(parents=True)
    assert read_owner(bench) == RunOwner("bench")
    with claim_run_folder(bench, "bench", resume=True) as claim:
        assert claim.resumed and (bench / "B2" / "ring").is_dir()
    demo.mkdir()
    (demo / "results.json").write_text(json.dumps({"title": "modecover demo: GAN vs GAN + DMPRA"}))
    assert read_owner(demo) == RunOwner("demo")
    (demo / "results.json").write_text(json.dumps({"precision": 1.0}))  # e.g. evaluate's results
    assert read_owner(demo) is None


def test_train_cli_refuses_foreign_runs_and_says_when_resume_finds_no_checkpoint(tmp_path):
    gan, vae = config(tmp_path), config(tmp_path, "vae")
    fresh = cli("train", gan, "--out", tmp_path / "new", "--resume", "--no-progress")
    assert fresh.exit_code == 0, fresh.output
    assert f"--resume: no checkpoint (last.ckpt) in {tmp_path / 'new'}; starting from step 0" in fresh.output
    again = cli("train", gan, "--out", tmp_path / "new", "--no-progress")
    assert again.exit_code == 1 and "pass --resume to continue it or --overwrite to replace it" in again.output
    other = cli("train", vae, "--out", tmp_path / "new", "--resume", "--no-progress")
    assert other.exit_code == 1 and "holds a 'train' run of a 'gan' model, not a 'train' run of a 'vae'" in other.output
    assert json.loads((tmp_path / "new" / "config.json").read_text())["model"]["family"] == "gan"  # not replaced


def test_bench_and_demo_refuse_a_train_folder(tmp_path):
    claim_run_folder(tmp_path / "run", "train", "gan").release()
    (tmp_path / "run" / "final.ckpt").write_text("x")
    bench = cli("bench", "B1", "--out", tmp_path / "run", "--row", "GAN", "--dataset", "ring", "--seeds", "1")
    assert bench.exit_code == 1 and "holds a 'train' run of a 'gan' model, not a 'bench' run" in bench.output
    demo = cli("demo", "--out", tmp_path / "run", "--steps", "5")
    assert demo.exit_code == 1 and "not a 'demo' run; choose another --out, or pass --overwrite" in demo.output
    assert (tmp_path / "run" / "final.ckpt").exists()


# -- real processes ----------------------------------------------------------------------


def test_a_run_in_use_refuses_a_second_at_once_and_a_killed_runs_lock_does_not_block_overwrite(tmp_path):
    out = tmp_path / "run"
    long_run = config(tmp_path, steps=10**7, checkpoint_every=0)
    first = modecover("train", long_run, "--out", out, "--no-progress", "--threads", "1")
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_FILE).exists() or "pid" not in (out / LOCK_FILE).read_text():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.2)
        second = modecover("train", long_run, "--out", out, "--resume", "--no-progress")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 1
        assert f"{out}: in use by another modecover run (pid {first.pid}, modecover train" in err
        assert first.poll() is None  # the first run goes on
    finally:
        first.kill()  # SIGKILL: no clean-up runs, the lock file stays behind
        first.wait()
    assert (out / LOCK_FILE).exists()
    (out / "round9.ckpt").write_text("left over")
    refused = cli("train", config(tmp_path, "vae"), "--out", out, "--no-progress")
    assert refused.exit_code == 1
    assert f"{out}: holds a 'train' run of a 'gan' model, not a 'train' run of a 'vae' model" in refused.output
    replaced = modecover("train", config(tmp_path, "vae"), "--out", out, "--overwrite", "--no-progress")
    _, err = replaced.communicate(timeout=120)
    assert replaced.returncode == 0, err
    assert not (out / "round9.ckpt").exists()
    assert read_owner(out) == RunOwner("train", "vae")
    from modecover.checkpoint import read_checkpoint

    assert read_checkpoint(out / "final.ckpt").family == "vae"
