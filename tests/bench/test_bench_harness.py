"""Benchmark harness: parallel jobs, resume, mean ± standard error summaries."""

import json

import numpy as np
import pytest

from modecover.bench.harness import Job, run_suite, summarise, write_summary


def toy_job(spec):
    """A stand-in for a training run: metrics from the seed; records each call in a file."""
    with open(spec["log"], "a") as fh:
        fh.write(f"{spec['seed']}\n")
    if spec.get("fail"):
        raise RuntimeError("job failed on purpose")
    return {"modes": float(spec["seed"] % 3 + spec["offset"]), "hq_percent": 90.0 + spec["seed"]}


def _jobs(tmp_path, seeds=4):
    log = str(tmp_path / "calls.txt")
    return [Job("T", "ring", row, seed, {"log": log, "offset": off})
            for row, off in (("A", 0.0), ("B", 5.0)) for seed in range(seeds)]


@pytest.mark.parametrize("workers", [1, 2])
def test_every_job_writes_one_result_and_the_summary_is_mean_and_sem(tmp_path, workers):
    jobs = _jobs(tmp_path)
    records = run_suite(jobs, toy_job, tmp_path / "out", workers=workers, progress=False)
    assert len(records) == 8 and len(list((tmp_path / "out").rglob("seed*.json"))) == 8
    rows = summarise(records, row_order=["B", "A"])
    assert [r.row for r in rows] == ["B", "A"]
    for r in rows:
        values = np.array([s % 3 + (5.0 if r.row == "B" else 0.0) for s in range(4)])
        assert r.n_seeds == 4
        assert r.mean["modes"] == pytest.approx(values.mean())
        assert r.sem["modes"] == pytest.approx(values.std(ddof=1) / 2)
    md, csv_path = write_summary(rows, ["modes", "hq_percent"], tmp_path / "summary", title="toy")
    text = md.read_text()
    assert f"{rows[0].mean['modes']:.3g} ± {rows[0].sem['modes']:.2g}" in text
    assert csv_path.read_text().splitlines()[0].startswith("dataset,row,source,n_seeds,modes,modes_sem")


def test_an_interrupted_suite_resumes_without_rerunning_finished_jobs(tmp_path):
    jobs = _jobs(tmp_path)
    run_suite(jobs[:3], toy_job, tmp_path / "out", workers=1, progress=False)
    run_suite(jobs, toy_job, tmp_path / "out", workers=1, progress=False)
    calls = (tmp_path / "calls.txt").read_text().split()
    assert len(calls) == 8  # 3 + the 5 missing, none twice


def test_a_failing_job_raises_and_leaves_no_result_file(tmp_path):
    log = str(tmp_path / "calls.txt")
    bad = Job("T", "ring", "bad", 0, {"log": log, "offset": 0.0, "fail": True})
    with pytest.raises(RuntimeError, match="on purpose"):
        run_suite([bad], toy_job, tmp_path / "out", workers=1, progress=False)
    assert not bad.result_path(tmp_path / "out").exists()


def test_a_corrupt_result_file_is_named(tmp_path):
    job = _jobs(tmp_path, seeds=1)[0]
    path = job.result_path(tmp_path / "out")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="seed0.json.*delete it"):
        run_suite([job], toy_job, tmp_path / "out", workers=1, progress=False)
    path.write_text(json.dumps({"row": "A"}))
    with pytest.raises(ValueError, match="lacks key 'dataset'"):
        run_suite([job], toy_job, tmp_path / "out", workers=1, progress=False)


def toy_batch(specs):
    """A stand-in for an ensemble: one call for several seeds, logged as one line."""
    with open(specs[0]["log"], "a") as fh:
        fh.write(",".join(str(s["seed"]) for s in specs) + "\n")
    return [{"modes": float(s["seed"]), "hq_percent": 1.0} for s in specs]


@pytest.mark.parametrize("workers, batches", [(1, ["0,1,2,3"]), (2, ["0,1", "2,3"])])
def test_jobs_of_one_batching_key_run_as_batches_that_keep_every_worker_busy(tmp_path, workers, batches):
    from modecover.bench.harness import Batching

    jobs = _jobs(tmp_path)  # rows A and B, seeds 0-3; only row A batches
    batching = Batching(key=lambda spec: "A" if spec["offset"] == 0.0 else None, run=toy_batch)
    records = run_suite(jobs, toy_job, tmp_path / "out", workers=workers, progress=False, batching=batching)
    assert [(r["row"], r["seed"], r["metrics"]["modes"]) for r in records[:4]] == [("A", s, float(s)) for s in range(4)]
    assert len(list((tmp_path / "out").rglob("seed*.json"))) == 8
    calls = (tmp_path / "calls.txt").read_text().split()
    assert sorted(c for c in calls if "," in c) == batches  # row A: the batches
    assert sorted(c for c in calls if "," not in c) == ["0", "1", "2", "3"]  # row B: one job each
