"""The demo end to end on a tiny budget: both runs, per-round metrics, the report."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from modecover.demo import DemoConfig, run_demo


def test_tiny_demo_writes_results_and_report(tmp_path):
    config = DemoConfig(steps=90, rounds=3, n_train=600, n_eval=300, jobs=1, seed=3)
    page = run_demo(tmp_path, config, show_progress=False)
    assert page == tmp_path / "report.html" and page.stat().st_size > 1000
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["runs"]) == ["gan", "gan+dmpra"]
    assert len(results["data"]["weights"]) == 8 and results["data"]["minority"] == [1, 5]
    for name, run in results["runs"].items():
        assert [r["round"] for r in run["rounds"]] == [1, 2, 3]
        assert run["metrics"] == run["rounds"][-1]["metrics"]
        assert 0 <= run["metrics"]["modes"] <= 8 and 0 <= run["metrics"]["precision"] <= 1
        assert sum(run["per_mode_share"]) == pytest.approx(1.0) or sum(run["per_mode_share"]) == 0
        samples = np.load(tmp_path / run["samples"])
        assert samples.shape == (300, 2) and np.isfinite(samples).all()
    # round 1 trains both runs identically (same seed, no weights yet)
    assert results["runs"]["gan"]["rounds"][0] == results["runs"]["gan+dmpra"]["rounds"][0]
    dmpra_rounds = results["runs"]["gan+dmpra"]["rounds"]
    assert "n_minority" not in dmpra_rounds[0] and all(r["n_minority"] >= 0 for r in dmpra_rounds[1:])
    audit_rows = (tmp_path / "audit" / "audit.csv").read_text().splitlines()
    assert audit_rows[0].startswith("index,score,minority,group,group_deficit,weight") and len(audit_rows) == 601
    html = page.read_text()
    plain = results["runs"]["gan"]["metrics"]
    assert results["headline"].startswith(f"The plain GAN captured {plain['modes']:.0f} of 8 modes and "
                                          f"{plain['minority_captured']:.0f} of 2 minority modes")
    assert '<p class="headline">The plain GAN captured' in html
    assert "audit_projection" in html
    assert "perception_gan_dmpra_round0" in html or "Perception space per round" in html
    # what each run missed: its final samples against the training data, stated in the report
    from modecover.metrics.prdc import prdc

    data = np.load(tmp_path / "data.npy")
    for name in results["runs"]:
        groups = json.loads((tmp_path / name / "explain" / "groups.json").read_text())
        samples = np.load(tmp_path / name / "samples.npy")
        assert groups["coverage"] == prdc(data, samples, k=5)["coverage"]
        assert groups["sentence"] in html
    assert "What each run missed" in html and "explain_gan_explain.png" in html


def test_demo_cli_rejects_bad_values(tmp_path):
    from modecover.cli import main

    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--steps", "0"])
    assert result.exit_code != 0 and "--steps" in result.output
    with pytest.raises(ValueError, match="steps"):
        DemoConfig(steps=2, rounds=5)
