"""``modecover evaluate`` computes every metric it can: a metric that runs by default and
cannot take the input is skipped with its reason, one asked for by name fails the command
only after the others are computed and written. References: modecover's metric functions
on the same arrays (the ``prdc`` package where no two samples coincide: it leaves a zero
radius empty where modecover's ball holds its centre, docs/metrics.md)."""

import contextlib
import io
import json

import numpy as np
import pytest

from helpers import cli
from modecover.evaluation import MetricOptions, MetricsFailed, evaluate_files
from modecover.metrics.fid import fid
from modecover.metrics.prdc import prdc
from modecover.metrics.vendi import vendi_score


def run(*args):
    return cli("evaluate", *args)


def reference_prdc(real, fake):
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        pr, dc = compute_prdc(real, fake, 3), compute_prdc(real, fake, 5)
    return {"precision": pr["precision"], "recall": pr["recall"], "density": dc["density"],
            "coverage": dc["coverage"]}


@pytest.fixture
def relu_files(tmp_path, rng):
    """Post-ReLU features with all-zero rows: 3 of 60 reals, 5 of 50 fakes."""
    real = np.maximum(rng.standard_normal((60, 8)) + 0.3, 0.0)
    fake = np.maximum(rng.standard_normal((50, 8)) * 1.3, 0.0)
    real[real.sum(1) == 0] = 0.1  # only the planted rows are all zeros
    fake[fake.sum(1) == 0] = 0.1
    real[[4, 30, 59]] = 0.0
    fake[[0, 9, 17, 18, 49]] = 0.0
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)
    return real, fake, tmp_path / "real.npy", tmp_path / "fake.npy"


def test_all_zero_rows_stop_no_metric(tmp_path, relu_files):
    # they were an error of the Vendi score that left PRDC and FID uncomputed
    real, fake, real_path, fake_path = relu_files
    result = run("--real", real_path, "--fake", fake_path, "--out", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert {key: data[key] for key in ("precision", "recall", "density", "coverage")} == prdc(real, fake)
    assert data["fid"] == fid(real, fake)
    assert data["vendi"] == vendi_score(fake) and data["vendi_real"] == vendi_score(real)
    assert data["config"]["zero_rows"] == {"real": 3, "fake": 5}
    assert "skipped" not in data and "failed" not in data
    assert "5 of 50 feature rows are all zeros; the Vendi score counts them as one shared sample" in result.output
    assert "3 of 60 feature rows are all zeros" in result.output
    # with fewer coinciding rows than k no radius is zero: the prdc package agrees too
    few = fake.copy()
    few[[17, 18, 49]] = 0.1
    np.save(tmp_path / "few.npy", few)
    result = run("--real", real_path, "--fake", tmp_path / "few.npy", "--vendi", "--out", tmp_path / "few.json")
    assert result.exit_code == 0, result.output  # named on the command line, the Vendi score is computed as well
    data = json.loads((tmp_path / "few.json").read_text())
    for key, value in reference_prdc(real, few).items():
        assert data[key] == pytest.approx(value, abs=1e-12), key
    assert data["vendi"] == vendi_score(few) and data["config"]["zero_rows"]["fake"] == 2


def test_a_default_metric_the_input_does_not_allow_is_skipped(tmp_path, relu_files):
    real, fake, real_path, _ = relu_files
    np.save(tmp_path / "two.npy", fake[1:3])  # too few fakes for k = 3
    result = run("--real", real_path, "--fake", tmp_path / "two.npy", "--out", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    reason = "fake ({}): has 2 points, but k=3 nearest neighbours (self excluded) need at least 4".format(
        tmp_path / "two.npy")
    assert data["skipped"] == {"prdc": reason}
    assert f"skipped prdc: {reason}" in result.output
    assert not {"precision", "recall", "density", "coverage"} & set(data)
    assert data["fid"] == fid(real, fake[1:3]) and data["vendi"] == vendi_score(fake[1:3])
    assert "skipped" not in data["runs"]["evaluate"]["metrics"]  # the report's view holds numbers only
    # one fake: FID (a covariance) is skipped too, the Vendi scores are still there
    np.save(tmp_path / "one.npy", fake[1:2])
    result = run("--real", real_path, "--fake", tmp_path / "one.npy", "--out", tmp_path / "one.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "one.json").read_text())
    assert set(data["skipped"]) == {"prdc", "fid"} and "one.npy" in data["skipped"]["fid"]
    assert data["vendi"] == pytest.approx(1.0) and data["vendi_real"] == vendi_score(real)
    # from Python: the same, no exception
    evaluation = evaluate_files(str(real_path), str(tmp_path / "two.npy"))
    assert evaluation.results["skipped"] == {"prdc": reason}


def test_a_named_metric_that_fails_exits_nonzero_after_writing(tmp_path, relu_files):
    real, fake, real_path, fake_path = relu_files
    np.save(tmp_path / "two.npy", fake[1:3])
    out = tmp_path / "r.json"
    result = run("--real", real_path, "--fake", tmp_path / "two.npy", "--prdc", "--out", out)
    assert result.exit_code == 1
    assert "prdc (asked for with --prdc) could not be computed: fake (" in result.output
    assert f"the other metrics were computed and written to {out}" in result.output
    data = json.loads(out.read_text())
    assert "has 2 points, but k=3" in data["failed"]["prdc"] and "skipped" not in data
    assert data["fid"] == fid(real, fake[1:3]) and data["vendi"] == vendi_score(fake[1:3])

    # --mixture and --is fail on these features; PRDC, FID and KID are all there
    result = run("--real", real_path, "--fake", fake_path, "--mixture", "ring", "--is", "--kid", "--out", out)
    assert result.exit_code == 1
    assert "modes (asked for with --mixture) could not be computed: --mixture ring: fake (" in result.output
    assert "is (asked for with --is) could not be computed: --is needs class logits" in result.output
    data = json.loads(out.read_text())
    assert set(data["failed"]) == {"modes", "is"}
    assert {key: data[key] for key in ("precision", "recall", "density", "coverage")} == prdc(real, fake)
    assert data["fid"] == fid(real, fake) and "kid" in data and "precision" in data["runs"]["evaluate"]["metrics"]

    # an explain folder that cannot be made (explain's k is k_dc = 5) fails the same way, after the metrics
    np.save(tmp_path / "five.npy", fake[:5])
    result = run("--real", real_path, "--fake", tmp_path / "five.npy", "--explain", tmp_path / "x", "--out", out)
    assert result.exit_code == 1 and "explain (asked for with --explain) could not be computed: fake (" in result.output
    data = json.loads(out.read_text())
    assert "has 5 points" in data["failed"]["explain"] and not (tmp_path / "x").exists()
    assert {key: data[key] for key in ("precision", "recall", "density", "coverage")} == prdc(real, fake[:5])

    # without --out the others are printed
    result = run("--real", real_path, "--fake", fake_path, "--mixture", "grid")
    assert result.exit_code == 1 and "precision" in result.output
    assert "the other metrics were computed (printed above)" in result.output

    # from Python: MetricsFailed carries the evaluation of the rest
    with pytest.raises(MetricsFailed, match="modes: --mixture ring") as info:
        evaluate_files(str(real_path), str(fake_path), metrics=MetricOptions(mixture="ring"))
    assert info.value.evaluation.results["fid"] == fid(real, fake) and set(info.value.failed) == {"modes"}
    with pytest.raises(MetricsFailed, match="has 2 points"):
        evaluate_files(str(real_path), str(tmp_path / "two.npy"), metrics=MetricOptions(required=("prdc",)))


def test_named_default_metrics_and_required_names():
    with pytest.raises(ValueError, match=r"MetricOptions.required: names among \('prdc', 'fid', 'vendi'\)"):
        MetricOptions(required=("kid",))
    with pytest.raises(ValueError, match="MetricOptions.required"):
        MetricOptions(required="fid")
    assert MetricOptions().asked == frozenset()
    assert MetricOptions(kid=True, mixture="ring", required=("fid",)).asked == {"kid", "modes", "fid"}


def test_no_prdc_no_fid_with_a_named_vendi_is_something_to_compute(tmp_path, relu_files):
    real, fake, real_path, fake_path = relu_files
    result = run("--real", real_path, "--fake", fake_path, "--no-prdc", "--no-fid", "--vendi", "--out",
                 tmp_path / "v.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "v.json").read_text())
    assert data["vendi"] == vendi_score(fake) and "fid" not in data and "precision" not in data
