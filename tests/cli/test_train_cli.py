"""``modecover train`` and ``modecover sample`` end to end (CliRunner) on a tiny run config."""

import numpy as np
import torch

from helpers import cli as invoke
from modecover.checkpoint import read_checkpoint


def cli(*args):
    return invoke(*args, catch_exceptions=False)


TINY = """
[data]
name = "ring"
n = 300

[model]
family = "{family}"
{model}

[[methods]]
name = "{method}"

[train]
steps = 8
batch_size = 16
log_every = 4
checkpoint_every = 3
"""


def tiny_config(tmp_path, family="gan", model="hidden = 16\ndepth = 1\nlatent_dim = 4", method="cft"):
    path = tmp_path / f"{family}.toml"
    path.write_text(TINY.format(family=family, model=model, method=method))
    return path


def test_cli_train_writes_final_checkpoint_and_resume_is_a_no_op_when_done(tmp_path):
    config = tiny_config(tmp_path)
    result = cli("train", config, "--out", tmp_path / "run", "--no-progress", "--threads", "1")
    assert result.exit_code == 0, result.output
    final = tmp_path / "run" / "final.ckpt"
    assert f"final checkpoint: {final}" in result.output
    ckpt = read_checkpoint(final)
    assert ckpt.state["step"] == 8 and [p["name"] for p in ckpt.plugins] == ["cft"]
    # every field of the typed config, latent_dim from the model
    methods = ckpt.state["metadata"]["run_config"]["methods"]
    assert methods == [{"name": "cft", "latent_dim": 4, "feature_differences": 1}]
    again = cli("train", config, "--out", tmp_path / "run", "--resume", "--no-progress")
    assert again.exit_code == 0, again.output
    assert all(torch.equal(a, b)
               for a, b in zip(ckpt.model_state.values(), read_checkpoint(final).model_state.values()))
    other = cli("train", config, "--out", tmp_path / "run", "--resume", "--steps", "9", "--no-progress")
    assert other.exit_code == 1 and "differs in train.steps: 8 vs 9" in other.output


def test_cli_train_resume_with_another_run_config_is_refused_and_changes_no_file(tmp_path):
    config = tiny_config(tmp_path)
    assert cli("train", config, "--out", tmp_path / "run", "--no-progress").exit_code == 0
    files = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file() and p.name != ".modecover.lock"}
    text = config.read_text()
    changed = text.replace("n = 300", "n = 200").replace("batch_size = 16", "batch_size = 8\nlr_decay = 0.5")
    config.write_text(changed.replace('name = "cft"', 'name = "cft"\nfeature_differences = 2'))
    refused = cli("train", config, "--out", tmp_path / "run", "--resume", "--seed", 3, "--no-progress")
    assert refused.exit_code == 1
    for diff in ("data.n: 300 vs 200", "methods[0].feature_differences: 1 vs 2", "train.batch_size: 16 vs 8",
                 "train.lr_decay: 0.0 vs 0.5", "train.seed: 0 vs 3"):
        assert diff in refused.output
    assert f"({tmp_path / 'run' / 'last.ckpt'})" in refused.output
    assert "data.name" not in refused.output and "train.steps" not in refused.output
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file() and p.name != ".modecover.lock"}
    assert after == files  # config.json still describes the run


def test_cli_train_reports_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.format(family="gan", model="hiden = 3", method="cft"))
    result = cli("train", bad, "--out", tmp_path / "run")
    assert result.exit_code == 1 and "unknown key(s) ['hiden']" in result.output
    assert not (tmp_path / "run").exists()


def test_cli_train_prints_the_warning_of_an_old_flat_dmpra_key(tmp_path):
    config = tmp_path / "old.toml"
    config.write_text(TINY.format(family="gan", model="hidden = 16\ndepth = 1", method="dmpra")
                      .replace('name = "dmpra"', 'name = "dmpra"\ngamma = 2.0\nplot = false'))
    result = cli("train", config, "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"warning: {config}: [[methods]] 'dmpra': 'gamma' is now [methods.weights] gamma" in result.output
    nested = tmp_path / "new.toml"
    nested.write_text(config.read_text().replace("gamma = 2.0", "weights = { gamma = 2.0 }"))
    result = cli("train", nested, "--out", tmp_path / "run2", "--no-progress")
    assert result.exit_code == 0 and "warning" not in result.output
    assert read_checkpoint(tmp_path / "run2" / "final.ckpt").plugins[0]["config"]["weights"]["gamma"] == 2.0
    # the run of the old config resumes with the new one: the same run
    resumed = cli("train", nested, "--out", tmp_path / "run", "--resume", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert "--resume: continuing from step 8 of 8" in resumed.output


def test_cli_sample_prior_uses_the_latent_plugins(tmp_path):
    from modecover.checkpoint import load_checkpoint
    from modecover.methods.registry import sampling_hooks

    cli("train", tiny_config(tmp_path), "--out", tmp_path / "run", "--no-progress")
    out = tmp_path / "s.npy"
    result = cli("sample", tmp_path / "run" / "final.ckpt", "-n", 50, "--out", out, "--seed", 3)
    assert result.exit_code == 0, result.output
    samples = np.load(out)
    ckpt = load_checkpoint(tmp_path / "run" / "final.ckpt")
    hooks = sampling_hooks(ckpt)
    assert [p.name for p in hooks.plugins] == ["cft"]
    torch.manual_seed(3)
    expected = ckpt.model.eval().sample(50, hooks).numpy()
    assert samples.shape == (50, 2) and np.array_equal(samples, expected)


def test_cli_sample_magnet_saves_the_pool_and_reuses_it_for_another_rho(tmp_path):
    from modecover.methods.magnet import LatentPool

    cli("train", tiny_config(tmp_path), "--out", tmp_path / "run", "--no-progress")
    ckpt, out = tmp_path / "run" / "final.ckpt", tmp_path / "m.npy"
    first = cli("sample", ckpt, "-n", 40, "--out", out, "--sampler", "magnet", "--pool", 200, "--rho", 1)
    assert first.exit_code == 0, first.output
    pool_file = tmp_path / "m.pool.npz"
    assert str(pool_file) in first.output
    pool = LatentPool.load(pool_file)
    assert len(pool) == 200 and np.isfinite(pool.log_volumes).all()
    magnet = np.load(out)
    stamp = pool_file.stat().st_mtime_ns
    second = cli("sample", ckpt, "-n", 40, "--out", out, "--sampler", "magnet", "--pool", 200, "--rho", -2)
    assert second.exit_code == 0, second.output
    assert pool_file.stat().st_mtime_ns == stamp  # reused, not recomputed
    assert magnet.shape == np.load(out).shape == (40, 2) and not np.array_equal(magnet, np.load(out))


def test_cli_sample_refuses_non_finite_rho_and_c_before_writing_any_file(tmp_path):
    cli("train", tiny_config(tmp_path), "--out", tmp_path / "run", "--no-progress")
    out = tmp_path / "m.npy"
    for option, value in (("--rho", "nan"), ("--c", "inf"), ("--rho", "-inf")):
        bad = cli("sample", tmp_path / "run" / "final.ckpt", "-n", 10, "--out", out, "--sampler", "magnet",
                  "--pool", 50, option, value)
        assert bad.exit_code == 2 and f"Invalid value for '{option}': must be a finite number" in bad.output
        assert not (tmp_path / "m.pool.npz").exists() and not out.exists()


def test_cli_sample_refuses_magnet_options_without_sampler_magnet(tmp_path):
    out = tmp_path / "x.npy"
    result = cli("sample", tmp_path / "any.ckpt", "-n", 5, "--out", out, "--rho", 2, "--top-k", 1, "--c", 0)
    assert result.exit_code == 2
    assert "--rho, --c, --top-k: MaGNET option(s), used only with --sampler magnet" in result.output
    assert not out.exists()


def test_cli_sample_of_a_file_that_is_no_checkpoint_says_so(tmp_path):
    (tmp_path / "data.csv").write_text("x,y\n0.5,1.5\n1.0,2.0\n")
    result = cli("sample", tmp_path / "data.csv", "-n", 5, "--out", tmp_path / "x.npy")
    assert result.exit_code == 1 and "data.csv: not a modecover checkpoint (not a safetensors file)" in result.output


def test_cli_sample_errors(tmp_path):
    cli("train", tiny_config(tmp_path, "diffusion", "hidden = 16\ndepth = 1\ntimesteps = 5", "dmpra"),
        "--out", tmp_path / "run", "--no-progress")
    ckpt = tmp_path / "run" / "final.ckpt"
    result = cli("sample", ckpt, "-n", 5, "--out", tmp_path / "x.npy", "--sampler", "magnet")
    assert result.exit_code == 1 and "needs a model with a latent generator" in result.output
    assert "'diffusion' model" in result.output
    assert cli("sample", ckpt, "-n", 5, "--out", tmp_path / "x.csv").exit_code == 1
    prior = cli("sample", ckpt, "-n", 5, "--out", tmp_path / "x.npy")
    assert prior.exit_code == 0 and np.load(tmp_path / "x.npy").shape == (5, 2)
    (tmp_path / "broken.ckpt").write_bytes(ckpt.read_bytes()[:200])
    broken = cli("sample", tmp_path / "broken.ckpt", "-n", 5, "--out", tmp_path / "y.npy")
    assert broken.exit_code == 1 and "broken.ckpt" in broken.output and not (tmp_path / "y.npy").exists()
