"""Benchmark suites: every job's spec is a valid run config; a job trains and evaluates."""

import pytest

from modecover.bench import suites
from modecover.bench.jobs import run_2d_job
from modecover.config import parse_config


def _all_jobs():
    return [*suites.b1_jobs(1), *suites.b2_jobs(1), *suites.b3_jobs(1),
            *suites.b1_jobs(1, rows=suites.b1_combined_row("PacGAN4"))]


def test_every_suite_spec_parses_as_a_run_config():
    for job in _all_jobs():
        spec = job.spec
        raw = {"data": spec["data"], "model": spec["model"], "methods": spec["methods"], "train": spec["train"]}
        config = parse_config(raw, f"{job.suite}/{job.dataset}/{job.row}")
        assert config.train.rounds == (5 if any(m["name"] == "dmpra" for m in spec["methods"]) or job.suite != "B1" else 1)


def test_suite_rows_are_complete():
    b1_rows = suites.row_order(suites.b1_jobs(1))
    assert b1_rows == ["GAN", "PacGAN2", "PacGAN4", "Top-k", "DPM", "LDMD", "CFT+MR", "DeLiGAN", "DMPRA"]
    b2_rows = suites.row_order(suites.b2_jobs(1))
    assert len(b2_rows) == 20 and "Diffusion + DMPRA (paper weights)" in b2_rows and "VAE + oracle" in b2_rows
    assert {j.seed for j in suites.b1_jobs(4)} == {0, 1, 2, 3}
    assert {j.seed for j in suites.b2_jobs(3, seed_start=100)} == {100, 101, 102}


def test_b2_rows_share_one_schedule_per_data_set():
    """Every B2 row of a data set trains the same steps, rounds, batch and decay."""
    for dataset in ("ring-imbalanced", "grid-imbalanced"):
        schedules = {tuple(sorted(j.spec["train"].items())) for j in suites.b2_jobs(1, datasets=(dataset,))}
        assert len(schedules) == 1
        assert dict(schedules.pop())["rounds"] == 5


@pytest.mark.parametrize("row", ["GAN", "GAN + DMPRA", "GAN + oracle"])
def test_a_2d_job_trains_and_returns_the_2d_metrics(tmp_path, row):
    job = next(j for j in suites.b2_jobs(1, steps=40, datasets=("ring-imbalanced",)) if j.row == row)
    spec = dict(job.spec, seed=0, out_dir=str(tmp_path), n_eval=300)
    spec["data"] = dict(spec["data"], n=400)
    spec["train"] = dict(spec["train"], batch_size=64)
    metrics = run_2d_job(spec)
    assert set(suites.METRICS_2D) <= set(metrics)
    assert 0 <= metrics["minority_captured"] <= 2 and 0 <= metrics["modes"] <= 8
    assert (tmp_path / "seed0" / "final.ckpt").is_file()
