"""Benchmark suites: every job's spec is a valid run config; a job trains and evaluates."""

import dataclasses
import json
import re

import numpy as np
import pytest

from modecover.bench import suites
from modecover.bench.jobs import run_2d_job, run_digits_job
from modecover.config import parse_config


def _all_jobs():
    return [*suites.b1_jobs(1), *suites.b2_jobs(1), *suites.b3_jobs(1), *suites.b4_jobs(1),
            *suites.b1_jobs(1, rows=suites.b1_combined_row("PacGAN4"))]


def test_every_suite_spec_parses_as_a_run_config():
    for job in _all_jobs():
        spec = job.spec
        raw = {"data": spec["data"], "model": spec["model"], "methods": spec["methods"], "train": spec["train"]}
        config = parse_config(raw, f"{job.suite}/{job.dataset}/{job.row}")
        assert config.train.rounds == 5  # every row of every suite: matched schedules


def test_suite_rows_are_complete():
    b1_rows = suites.row_order(suites.b1_jobs(1))
    assert b1_rows == ["GAN", "PacGAN2", "PacGAN4", "Top-k", "DPM", "LDMD", "CFT+MR", "DeLiGAN", "DMPRA"]
    b2_rows = suites.row_order(suites.b2_jobs(1))
    assert len(b2_rows) == 20 and "Diffusion + DMPRA (paper weights)" in b2_rows and "VAE + oracle" in b2_rows
    assert {j.seed for j in suites.b1_jobs(4)} == {0, 1, 2, 3}
    assert {j.seed for j in suites.b2_jobs(3, seed_start=100)} == {100, 101, 102}
    b4_rows = ["GAN", "GAN + DMPRA", "GAN + DMPRA (discriminator space)", "GAN + DMPRA (data space)",
               "GAN + DMPRA (data space, PCA-50)", "GAN + oracle", "VAE", "VAE + DMPRA",
               "VAE + DMPRA (classifier space)", "VAE + oracle"]
    b3_rows = [*b4_rows[:2], "GAN + DMPRA (PCA-50 + HOG)", *b4_rows[2:8], "VAE + DMPRA (PCA-50 + HOG)", *b4_rows[8:]]
    assert suites.row_order(suites.b3_jobs(1)) == b3_rows
    assert suites.row_order(suites.b4_jobs(1)) == b4_rows
    assert {j.seed for j in suites.b4_jobs(2, seed_start=100)} == {100, 101}


def test_rows_share_one_schedule_per_family_and_data_set_and_a_mismatch_is_refused():
    """Every row of a family on a data set trains the same steps, rounds, batch and decay;
    families each train to their own plateau."""
    for jobs in (suites.b1_jobs(1), suites.b2_jobs(1), suites.b3_jobs(1), suites.b4_jobs(1)):
        suites.check_matched_schedules(jobs)
    for dataset in ("ring-imbalanced", "grid-imbalanced"):
        for family in ("gan", "vae", "flow", "diffusion"):
            schedules = {tuple(sorted(j.spec["train"].items())) for j in suites.b2_jobs(1, datasets=(dataset,))
                         if j.spec["model"]["family"] == family}
            assert len(schedules) == 1
            assert dict(schedules.pop())["rounds"] == 5
    jobs = suites.b1_jobs(1, datasets=("ring",))
    odd = dataclasses.replace(jobs[1], spec={**jobs[1].spec, "train": {**jobs[1].spec["train"], "rounds": 1}})
    with pytest.raises(ValueError, match=r"B1 ring \(gan\): rows .* train different schedules"):
        suites.check_matched_schedules([jobs[0], odd])


def test_b1_best_other_row_comes_from_validation_seeds(tmp_path):
    from modecover.bench.harness import SummaryRow
    from modecover.cli.bench import _choose_best_other, _combined_row_jobs

    assert _combined_row_jobs(tmp_path, 2, None, 0) == []  # no validation run yet
    # Top-k has the most modes summed over the data sets, at a low HQ %; DPM wins on the
    # share of modes times the share of HQ samples, with the ring and the grid counting alike
    summary = [SummaryRow("ring", "GAN", 5, {"modes": 8, "hq_percent": 90}, {}, 1.0),
               SummaryRow("ring", "Top-k", 5, {"modes": 6, "hq_percent": 80}, {}, 1.0),
               SummaryRow("grid", "Top-k", 5, {"modes": 25, "hq_percent": 60}, {}, 1.0),
               SummaryRow("ring", "DPM", 5, {"modes": 8, "hq_percent": 95}, {}, 1.0),
               SummaryRow("grid", "DPM", 5, {"modes": 20, "hq_percent": 90}, {}, 1.0)]
    _choose_best_other(summary, tmp_path)
    scores = json.loads((tmp_path / "B1" / "best_other.json").read_text())["scores"]
    assert scores == pytest.approx({"DPM": (0.95 + 0.8 * 0.9) / 2, "Top-k": (0.75 * 0.8 + 0.6) / 2})
    jobs = _combined_row_jobs(tmp_path, 2, None, 0)
    assert {j.row for j in jobs} == {"DMPRA + DPM"} and {j.seed for j in jobs} == {0, 1}
    assert {j.dataset for j in jobs} == {"ring", "grid"}
    assert _combined_row_jobs(tmp_path, 2, None, 100) == []  # never on validation seeds


def test_set_changes_one_setting_of_every_job_and_refuses_a_bad_one():
    import click

    from modecover.cli.bench import _with_settings

    jobs = suites.b2_jobs(2, datasets=("grid-imbalanced",))
    gan = [j for j in jobs if j.spec["model"]["family"] == "gan"]
    changed = _with_settings(gan, ("model.loss=ns", "train.steps=12000"))
    assert [(j.row, j.seed) for j in changed] == [(j.row, j.seed) for j in gan]
    assert {(j.spec["model"]["loss"], j.spec["train"]["steps"]) for j in changed} == {("ns", 12000)}
    assert all(j.spec["model"] == {**g.spec["model"], "loss": "ns"} and j.spec["methods"] == g.spec["methods"]
               for j, g in zip(changed, gan))
    assert gan[0].spec["model"]["loss"] == "hinge"  # the suite's own specs are left as they were
    for bad, message in [("model.loss=hing", "'loss' must be one of"), ("loss=hinge", "SECTION.KEY=VALUE"),
                         ("optim.lr=1", "SECTION.KEY=VALUE"),
                         ("model.losss=hinge", r"unknown key\(s\) \['losss'\]")]:
        with pytest.raises(click.UsageError, match=message):
            _with_settings(gan, (bad,))
    with pytest.raises(click.UsageError, match="model 'vae': unknown key"):  # a GAN setting on a VAE row
        _with_settings(jobs, ("model.loss=ns",))
    for harness_key in ("train.seed=7", "data.seed=7", "train.sample_every=3", "train.checkpoint_every=5"):
        with pytest.raises(click.UsageError, match=f"the harness sets {harness_key.split('=')[0]} for every job"):
            _with_settings(gan, (harness_key,))  # job_config overwrote them: the setting did nothing
    # found building the data, not by a worker after the folder is claimed
    with pytest.raises(click.UsageError, match=r"ratio must be a finite number in \(0, 1\], got 0"):
        _with_settings(gan, ("data.ratio=0",))


def test_bench_and_demo_options_are_checked_before_any_folder_is_claimed(tmp_path):
    from click.testing import CliRunner

    from modecover.cli import main

    for args, message in [(["bench", "B1", "--row", "GAN", "--row", "Bogus"], r"--row: \['Bogus'\] not in B1; choose"),
                          (["bench", "B1", "--dataset", "ring", "--dataset", "nosuch"], r"\['nosuch'\] not in B1"),
                          (["demo", "--steps", "3"], "--steps.*must be at least rounds"),
                          (["demo", "--seed", "-1"], "--seed")]:
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2 and re.search(message, result.output), result.output
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("row", ["GAN", "GAN + DMPRA", "GAN + oracle"])
def test_a_2d_job_trains_and_returns_the_2d_metrics(tmp_path, row):
    job = next(j for j in suites.b2_jobs(1, steps=40, datasets=("ring-imbalanced",)) if j.row == row)
    spec = dict(job.spec, seed=0, out_dir=str(tmp_path), n_eval=300)
    spec["data"] = dict(spec["data"], n=400)
    spec["train"] = dict(spec["train"], batch_size=64)
    result = run_2d_job(spec)
    metrics, said = result.metrics, result.extra["explain"]
    assert set(suites.METRICS_2D) <= set(metrics)
    assert 0 <= metrics["minority_captured"] <= 2 and 0 <= metrics["modes"] <= 8
    assert (tmp_path / "seed0" / "final.ckpt").is_file()
    # the explain summary measures the same samples against the same real draw as PRDC
    assert said["n_real"] == 300 and sum(said["real_per_mode"]) == 300
    assert metrics["coverage"] == (300 - said["n_uncovered"]) / 300
    assert sum(said["uncovered_per_mode"]) == said["n_uncovered"]
    assert said["missed_modes"] == [j for j, (u, n) in enumerate(zip(said["uncovered_per_mode"],
                                                                     said["real_per_mode"])) if n and u >= n / 2]


@pytest.mark.parametrize("row", ["GAN", "GAN + DMPRA"])
def test_a_job_stopped_after_training_is_evaluated_from_its_checkpoint_to_the_same_metrics(tmp_path, monkeypatch,
                                                                                           row):
    from modecover.bench import jobs
    from modecover.models.gan import GAN

    job = next(j for j in suites.b2_jobs(1, steps=40, datasets=("ring-imbalanced",)) if j.row == row)
    spec = dict(job.spec, seed=0, n_eval=300, data=dict(job.spec["data"], n=400),
                train=dict(job.spec["train"], batch_size=64))
    whole = run_2d_job(dict(spec, out_dir=str(tmp_path / "whole")))
    stopped = dict(spec, out_dir=str(tmp_path / "stopped"))
    jobs._train(stopped)  # trained, then stopped before the evaluation wrote a result

    def no_step(*args, **kwargs):
        raise AssertionError("a finished job trained again")

    monkeypatch.setattr(GAN, "train_step", no_step)
    same = json.dumps(run_2d_job(stopped).metrics, sort_keys=True)  # NaN (no mode reached) equals NaN here
    assert same == json.dumps(whole.metrics, sort_keys=True)


def test_the_explain_summary_leaves_the_metrics_as_they_were(tmp_path, monkeypatch):
    from modecover.evaluation import points

    job = next(j for j in suites.b1_jobs(1, steps=30, datasets=("ring",)) if j.row == "GAN")
    spec = dict(job.spec, seed=0, n_eval=200, data=dict(job.spec["data"], n=300),
                train=dict(job.spec["train"], batch_size=64))
    with_explain = run_2d_job(dict(spec, out_dir=str(tmp_path / "a")))
    monkeypatch.setattr(points, "explain_summary", lambda *a, **kw: {})
    without = run_2d_job(dict(spec, out_dir=str(tmp_path / "b")))
    assert with_explain.metrics == without.metrics and with_explain.extra["explain"]


@pytest.mark.parametrize("family", ["gan", "vae", "flow", "diffusion"])
@pytest.mark.parametrize("data", ["ring", "grid"])
def test_the_2d_configs_carry_the_converged_recipe(family, data):
    """configs/<family>-<data>.toml trains the model and schedule the benchmarks converge with."""
    from pathlib import Path

    from modecover.config import load_config
    from modecover.models import make_config

    config = load_config(Path(__file__).parents[2] / "configs" / f"{family}-{data}.toml")
    budget = suites.converged_budget(data, family=family)
    assert (config.train.steps, config.train.batch_size, config.train.lr_decay) == \
        (budget.steps, budget.batch_size, budget.lr_decay)
    assert config.model.config == \
        make_config(family, {**suites.family_model(family, data), "data_shape": [2]})


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_the_digits_configs_carry_the_b3_budget_and_model(family):
    from pathlib import Path

    from modecover.config import load_config
    from modecover.models import make_config

    config = load_config(Path(__file__).parents[2] / "configs" / f"{family}-digits.toml")
    budget = suites.CONVERGED_DIGITS
    assert (config.train.steps, config.train.batch_size, config.train.lr_decay) == \
        (budget.steps, budget.batch_size, budget.lr_decay)
    assert config.model.config == \
        make_config(family, {**suites.digits_model(family), "data_shape": [1, 8, 8]})


def test_the_class_explain_summary_names_the_class_a_fake_set_lacks():
    """Fakes that are the real digits of every class but 3 (slightly moved): class 3 is the
    one missed class and the largest missed group is made of 3s."""
    import numpy as np
    from sklearn.datasets import load_digits

    from modecover.evaluation.points import class_explain_summary

    digits = load_digits()
    real = digits.data / 16.0
    rng = np.random.default_rng(0)
    fake = real[digits.target != 3] + rng.normal(0, 0.01, (int((digits.target != 3).sum()), real.shape[1]))
    summary = class_explain_summary(fake, real, digits.target)
    assert summary["missed_modes"] == [3]
    assert summary["missed_groups"][0]["mode"] == 3
    assert summary["real_per_mode"][3] == int((digits.target == 3).sum())
    assert summary["uncovered_per_mode"][3] >= 0.9 * summary["real_per_mode"][3]


def test_a_digits_job_records_its_missed_classes(tmp_path):
    job = suites.b3_jobs(1, suites.Budget(steps=5, batch_size=32, n_eval=60), magnet_pool=0)[0]
    result = run_digits_job(dict(job.spec, seed=0, out_dir=str(tmp_path)))
    summary = result.extra["explain"]
    assert set(summary) >= {"missed_modes", "uncovered_per_mode", "real_per_mode"}
    assert len(summary["real_per_mode"]) == 10 and sum(summary["real_per_mode"]) == 1797
    assert "rare_share" in result.metrics and "fid" in result.metrics


def test_a_digits_job_measures_magnet_at_every_rho_from_one_pool(tmp_path):
    job = suites.b3_jobs(1, suites.Budget(steps=5, batch_size=32, n_eval=60), magnet_pool=64)[0]
    metrics = run_digits_job(dict(job.spec, seed=0, out_dir=str(tmp_path))).metrics
    assert set(suites.METRICS_DIGITS) <= set(metrics)
    for rho in suites.MAGNET_RHOS:
        assert 0 <= metrics[f"magnet_rho{rho:g}_rare_share"] <= 1
        assert np.isfinite(metrics[f"magnet_rho{rho:g}_fid"])


def test_class_recall_is_coverage_restricted_to_the_class():
    from modecover.bench.jobs import class_recall
    from modecover.metrics import prdc

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 6)), rng.normal(size=(200, 6)) + 0.4
    members = rng.random(300) < 0.2
    assert class_recall(real, fake, np.ones(300, bool)) == pytest.approx(prdc(real, fake, k_dc=5)["coverage"], abs=0)
    radius = np.sort(np.linalg.norm(real[:, None] - real[None], axis=-1), axis=1)[:, 5]
    nearest = np.linalg.norm(real[:, None] - fake[None], axis=-1).min(axis=1)
    assert class_recall(real, fake, members) == pytest.approx(np.mean((nearest < radius)[members]), abs=1e-12)
    assert np.isnan(class_recall(real, fake, np.zeros(300, bool)))


def test_every_digits_metric_has_a_label_and_a_direction():
    from modecover.labels import label, lower_is_better

    for metric in suites.METRICS_DIGITS:
        assert "_" not in label(metric), metric
    assert label("magnet_rho0.25_rare_share") == "MaGNET ρ=0.25 rare share"
    assert lower_is_better("magnet_rho0.5_fid") and lower_is_better("fid")
    assert not lower_is_better("magnet_rho1_recall") and not lower_is_better("magnet_rho1_rare_share")


def test_plain_gan_seeds_train_as_one_ensemble_and_method_rows_alone(tmp_path):
    """B1-style jobs through the harness: the plain GAN row's two seeds train as one
    ensemble (tests/test_ensemble.py: members follow their separate runs), the Top-k row's
    seeds one by one; every record has the metrics a separate job gives."""
    from modecover.bench.harness import Batching, run_suite
    from modecover.bench.jobs import ensemble_key, run_2d_jobs

    budget = suites.Budget(steps=30, batch_size=64, n_train=400, n_eval=300, rounds=2)
    jobs = suites.b1_jobs(2, datasets=("ring",), rows={"GAN": ({}, []), "Top-k": ({}, [{"name": "topk"}])})
    jobs = [dataclasses.replace(j, spec=suites._spec("ring", suites.GAN_2D, j.spec["methods"], budget, 2))
            for j in jobs]
    records = run_suite(jobs, run_2d_job, tmp_path / "out", workers=1, progress=False,
                        batching=Batching(ensemble_key, run_2d_jobs))
    assert [(r["row"], r["seed"], r.get("ensemble")) for r in records] == \
        [("GAN", 0, 2), ("GAN", 1, 2), ("Top-k", 0, None), ("Top-k", 1, None)]
    assert all(set(r["metrics"]) == set(records[2]["metrics"]) >= set(suites.METRICS_2D) - {"minority_captured"}
               for r in records)
    assert ensemble_key(jobs[0].spec) == ensemble_key(dict(jobs[1].spec, seed=7)) and ensemble_key(jobs[2].spec) is None


# ------------------------------------------------------------------ B4: 28x28 MNIST digits


def test_b4_cuts_the_rare_class_of_mnist_5k_and_trains_b3s_rows_on_one_schedule():
    jobs = suites.b4_jobs(2)
    assert len(jobs) == 20 and {j.suite for j in jobs} == {"B4"} and {j.dataset for j in jobs} == {"mnist-rare3"}
    for job in jobs:
        assert job.spec["data"] == {"name": "mnist-5k", "scale": "symmetric", "rare_classes": [3], "fraction": 0.05}
        assert job.spec["magnet_rhos"] == list(suites.MAGNET_RHOS) and job.spec["n_eval"] == 2000
        assert (job.spec["train"]["steps"], job.spec["train"]["batch_size"], job.spec["train"]["lr_decay"]) == \
            (suites.CONVERGED_MNIST.steps, suites.CONVERGED_MNIST.batch_size, suites.CONVERGED_MNIST.lr_decay)
        model, methods = suites.B4_ROWS[job.row]
        b3_row = suites.B3_ROWS[job.row]
        assert job.spec["model"] == model and job.spec["methods"] == methods == b3_row[1]
        assert model["family"] == b3_row[0]["family"]
    oracle = next(j for j in jobs if j.row == "VAE + oracle")
    assert oracle.spec["methods"] == [suites.ORACLE]
    assert {j.spec["model"]["family"] for j in jobs} == {"gan", "vae"}


def test_b4_models_build_for_28x28_images_and_train_a_step():
    import torch

    from modecover.config import Run

    for family in ("gan", "vae"):
        spec = next(j.spec for j in suites.b4_jobs(1) if j.spec["model"]["family"] == family)
        torch.manual_seed(0)
        run = Run.from_config(parse_config({k: spec[k] for k in ("data", "model", "methods", "train")}, "B4"))
        assert run.data.x.shape == (4525, 1, 28, 28) and int((run.data.labels == 3).sum()) == 25
        log = run.model.train_step(run.data.x[:8], run.hooks, 0)
        assert all(np.isfinite(v) for v in log.values())
        assert run.model.sample(3).shape == (3, 1, 28, 28)


def test_the_mnist_judge_is_accurate_cached_and_judges_its_hidden_layer():
    from modecover.bench.digits import judge_for, reference_set, train_judge

    judge = judge_for("mnist-5k")
    assert judge is judge_for("mnist-5k") and judge.size == 28
    assert judge.test_accuracy > 0.85  # held-out 1,000 of the 5,000 (0.924 with seed 0)
    x, y = reference_set("mnist-5k")
    assert x.shape == (5000, 784) and 0 <= x.min() and x.max() <= 1 and np.bincount(y).tolist() == [500] * 10
    # the features are the hidden layer: the output layer on them gives the classifier's probabilities
    clf, feat = judge.classifier, judge.features(x[:300])
    logits = feat @ clf.coefs_[1] + clf.intercepts_[1]
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probabilities / probabilities.sum(1, keepdims=True), clf.predict_proba(x[:300]),
                               rtol=1e-6, atol=1e-9)
    # images (N, 1, 28, 28) in [-1, 1] are judged as their [0, 1] pixels
    np.testing.assert_allclose(judge.features((x[:50] * 2 - 1).reshape(50, 1, 28, 28)), judge.features(x[:50]),
                               atol=1e-9)
    shares = judge.class_shares(x)
    assert shares.sum() == pytest.approx(1) and np.abs(shares - 0.1).max() < 0.02
    # class probabilities of images in [-1, 1]: the classifier's on the [0, 1] pixels; their argmax gives the shares
    probabilities = judge.class_probabilities((x * 2 - 1).reshape(-1, 1, 28, 28))
    np.testing.assert_allclose(probabilities, clf.predict_proba(x), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(np.bincount(probabilities.argmax(1), minlength=10) / len(x), shares)
    with pytest.raises(ValueError, match=r"expected 28x28 images \(784 values each\), got 64"):
        judge.features(np.zeros((2, 64)))
    with pytest.raises(ValueError, match=r"no judge for data source 'cifar10'"):
        judge_for("cifar10")
    assert judge_for("digits").size == 8 and judge_for("digits").test_accuracy == train_judge(seed=0).test_accuracy


def test_a_b4_job_trains_and_returns_the_digits_metrics_and_the_judge_accuracy(tmp_path):
    from modecover.bench.digits import judge_for

    job = next(j for j in suites.b4_jobs(1, suites.Budget(steps=5, batch_size=32, n_eval=60), magnet_pool=64)
               if j.row == "GAN + oracle")
    result = run_digits_job(dict(job.spec, seed=0, out_dir=str(tmp_path)))
    metrics = result.metrics
    assert set(suites.METRICS_DIGITS) <= set(metrics)
    assert 0 <= metrics["rare_share"] <= 1 and 0 <= metrics["rare_recall"] <= 1
    assert 0 <= metrics["coverage"] <= 1 and np.isfinite(metrics["fid"])
    assert result.extra["judge_accuracy"] == judge_for("mnist-5k").test_accuracy > 0.85
    summary = result.extra["explain"]
    assert summary["real_per_mode"] == [500] * 10  # measured against the balanced 5,000
    assert (tmp_path / "seed0" / "final.ckpt").is_file()


def test_b4_is_a_bench_suite_with_ten_seeds_by_default(tmp_path):
    from click.testing import CliRunner

    from modecover.cli import main
    from modecover.cli.bench import DEFAULT_SEEDS, SUITES, _suite_jobs

    assert "B4" in SUITES and DEFAULT_SEEDS["B4"] == 10
    jobs, job_fn, metrics = _suite_jobs("B4", DEFAULT_SEEDS["B4"], 300, 0, tmp_path)
    assert job_fn is run_digits_job and metrics == suites.METRICS_DIGITS
    assert len(jobs) == 100 and {j.spec["train"]["steps"] for j in jobs} == {300}
    result = CliRunner().invoke(main, ["bench", "b4", "--row", "Bogus", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "['Bogus'] not in B4; choose from ['GAN', 'GAN + DMPRA'" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_the_mnist_configs_carry_the_b4_budget_and_model(family):
    from pathlib import Path

    from modecover.config import load_config
    from modecover.models import make_config

    config = load_config(Path(__file__).parents[2] / "configs" / f"{family}-mnist-5k.toml")
    assert config.data.name == "mnist-5k"
    budget = suites.CONVERGED_MNIST
    assert (config.train.steps, config.train.batch_size, config.train.lr_decay) == \
        (budget.steps, budget.batch_size, budget.lr_decay)
    assert config.model.config == \
        make_config(family, {**suites.mnist_model(family), "data_shape": [1, 28, 28]})
