"""The demo end to end on a tiny budget: both runs, per-round metrics, the report."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from modecover.config import Run
from modecover.data.mixtures import get_mixture
from modecover.demo import RUN_NAMES as RUN_ORDER
from modecover.demo import DemoConfig, run_config, run_demo
from modecover.evaluation.points import evaluate_points
from modecover.report import format_number


def test_tiny_demo_writes_results_and_report(tmp_path, monkeypatch):
    from modecover import plots

    titles, draw = [], plots.explain_projection
    monkeypatch.setattr(plots, "explain_projection", lambda *a: titles.append(a[-1]) or draw(*a))
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
    # a later round's n_minority: what DMPRA's search before it flagged (its round files)
    dmpra_rounds = results["runs"]["gan+dmpra"]["rounds"]
    assert "n_minority" not in dmpra_rounds[0]
    for record in dmpra_rounds[1:]:
        scores = np.load(tmp_path / "gan+dmpra" / f"round{record['round'] - 2}" / "dmpra_scores.npz")
        assert record["n_minority"] == int(scores["minority"].sum())
    # from round 2 on DMPRA's weights decide what its run draws: the two runs end apart
    final_samples = [np.load(tmp_path / results["runs"][name]["samples"]) for name in RUN_ORDER]
    assert not np.array_equal(*final_samples)
    audit_rows = (tmp_path / "audit" / "audit.csv").read_text().splitlines()
    assert audit_rows[0].startswith("index,score,minority,group,group_deficit,weight") and len(audit_rows) == 601
    html = page.read_text()
    plain = results["runs"]["gan"]["metrics"]
    assert results["headline"].startswith(f"The plain GAN captured {plain['modes']:.0f} of 8 modes and "
                                          f"{plain['minority_captured']:.0f} of 2 minority modes")
    assert '<p class="headline">The plain GAN captured' in html
    assert "audit_projection" in html
    assert "perception_gan_dmpra_round0" in html or "Perception space per round" in html
    # what each run missed: its final samples against the metrics' own real set, stated in the report
    from modecover.metrics.prdc import prdc

    real = np.asarray(get_mixture("ring-imbalanced").sample(300, seed=4)[0], np.float64)  # the evaluation draw
    for name, label in (("gan", "The plain GAN"), ("gan+dmpra", "GAN + DMPRA")):
        # each run's metrics are those of its samples file, and the headline states them
        metrics = results["runs"][name]["metrics"]
        recomputed, shares = evaluate_points(np.load(tmp_path / name / "samples.npy"), get_mixture("ring-imbalanced"),
                                             real)
        np.testing.assert_equal(recomputed, metrics)  # NaN equal too (reverse KL without a high-quality sample)
        assert shares == results["runs"][name]["per_mode_share"]
        assert (f"{label} captured {metrics['modes']:.0f} of 8 modes and {metrics['minority_captured']:.0f} of 2 "
                f"minority modes, {metrics['hq_percent']:.1f} % of its samples high-quality") in results["headline"]
    plain, dmpra = (results["runs"][name]["metrics"]["minority_captured"] for name in RUN_ORDER)
    verdict = "recovered more" if dmpra > plain else "recovered no more" if dmpra == plain else "recovered fewer"
    assert f"On this seed (3), DMPRA {verdict} minority modes" in results["headline"]
    for name, label in (("gan", "The plain GAN"), ("gan+dmpra", "GAN + DMPRA")):
        groups = json.loads((tmp_path / name / "explain" / "groups.json").read_text())
        samples = np.load(tmp_path / name / "samples.npy")
        metrics = results["runs"][name]["metrics"]
        # one coverage on the page: the metrics table's, the explain plot's title's and groups.json's
        assert groups["coverage"] == prdc(real, samples, k=5)["coverage"] == metrics["coverage"]
        assert (groups["n_real"], groups["k"]) == (300, 5)
        # the plot's title: the table's coverage; its precision is at k = 5 (the table's at k = 3), and says so
        inside = format_number(prdc(real, samples, k=5)["precision"])
        assert titles[RUN_ORDER.index(name)] == (f"coverage {format_number(metrics['coverage'])} (k = 5); 300 real, "
                                                 f"300 fake\nfakes inside a real ball {inside} (precision at k = 5)")
        assert groups["sentence"] in html
        # the headline names both counts: captured (mode metrics) and missed (coverage), per run
        missed = [m for m in groups["modes"] if m["missed"]]
        names = [str(m["mode"]) for m in missed]
        if len(missed) > 1:
            expected = (f"; by coverage it missed modes {', '.join(names[:-1])} and {names[-1]} "
                        f"({sum(m['n_uncovered'] for m in missed)} of their {sum(m['n_real'] for m in missed)} "
                        "real points uncovered).")
        elif missed:
            expected = (f"; by coverage it missed mode {names[0]} ({missed[0]['n_uncovered']} of its "
                        f"{missed[0]['n_real']} real points uncovered).")
        else:
            expected = f"; by coverage it missed no mode ({groups['n_uncovered']} of 300 real points uncovered)."
        run_said = results["headline"].split(label + " captured ")[1]
        assert run_said.startswith(f"{metrics['modes']:.0f} of 8 modes and ") and expected in run_said
    assert "A mode is captured when at least one sample is high-quality there" in results["headline"]
    assert "and missed when at least half of its real points" in results["headline"]
    assert "What each run missed" in html and "explain_gan_explain.png" in html
    # evaluating each round draws aside: the demo's plain run is modecover train of its config
    alone = Run.from_config(run_config("gan", config))
    alone.train(tmp_path / "alone", progress=False)
    demo_ckpt, alone_ckpt = load_file(tmp_path / "gan" / "final.ckpt"), load_file(tmp_path / "alone" / "final.ckpt")
    trained = [k for k in alone_ckpt if k.startswith(("model/", "optimizers/"))]
    assert trained and all(torch.equal(demo_ckpt[k], alone_ckpt[k]) for k in trained)


def test_demo_cli_rejects_bad_values(tmp_path):
    from modecover.cli import main

    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--steps", "0"])
    assert result.exit_code != 0 and "--steps" in result.output


@pytest.mark.parametrize("options, message", [
    ({"steps": 2, "rounds": 5}, r"^DemoConfig\.steps \(2\) must be at least rounds \(5\)$"),
    ({"jobs": 0}, r"^DemoConfig\.jobs must be a positive integer, got 0$"),
    ({"steps": 2.5}, r"^DemoConfig\.steps must be a positive integer, got 2\.5$"),
    ({"rounds": True}, r"^DemoConfig\.rounds must be a positive integer, got True$"),  # was taken as 1
    ({"minority_ratio": 0}, r"^DemoConfig\.minority_ratio must be a finite number in \(0, 1\], got 0$"),
])
def test_demo_config_errors_name_the_option_and_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        DemoConfig(**options)


def test_demo_cli_ends_with_the_headline(tmp_path, monkeypatch):
    import functools

    import modecover.demo
    from modecover.cli import main

    small = functools.partial(DemoConfig, rounds=2, n_train=400, n_eval=200)  # the command's defaults, smaller
    monkeypatch.setattr(modecover.demo, "DemoConfig", small)
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"), "--steps", "20", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    headline = json.loads((tmp_path / "demo" / "results.json").read_text())["headline"]
    assert headline.startswith("The plain GAN captured ") and "GAN + DMPRA captured " in headline
    lines = result.output.rstrip("\n").splitlines()
    assert lines[-1] == headline and lines[-2] == f"report: {tmp_path / 'demo' / 'report.html'}"


def test_headline_says_what_captured_and_missed_each_count():
    from modecover.demo import headline

    def modes(missed_mode):
        return [{"mode": j, "n_real": 300, "n_uncovered": 200 if j == missed_mode else 3, "missed": j == missed_mode}
                for j in range(8)]

    metrics = {"modes": 8.0, "minority_captured": 2.0, "hq_percent": 97.04}
    runs = {"gan": {"metrics": metrics}, "gan+dmpra": {"metrics": metrics}}
    explained = {"gan": {"k": 5, "n_real": 2400, "n_uncovered": 221, "modes": modes(6)},
                 "gan+dmpra": {"k": 5, "n_real": 2400, "n_uncovered": 24, "modes": modes(None)}}
    said = headline(runs, [1, 5], 0, explained, 2400)
    assert said.startswith("The plain GAN captured 8 of 8 modes and 2 of 2 minority modes, 97.0 % of its samples "
                           "high-quality; by coverage it missed mode 6 (200 of its 300 real points uncovered). "
                           "GAN + DMPRA captured 8 of 8 modes and 2 of 2 minority modes, 97.0 % of its samples "
                           "high-quality; by coverage it missed no mode (24 of 2400 real points uncovered). "
                           "A mode is captured when at least one sample is high-quality there (within 3 standard "
                           "deviations of its mean), and missed when at least half of its real points (a fresh draw "
                           "of 2400 points of the ring, the metrics' real set) have no sample within their "
                           "5-nearest-neighbour radius (coverage, k = 5)")
    two = {"gan": {"k": 5, "n_real": 2400, "n_uncovered": 9,
                   "modes": [{"mode": j, "n_real": 10, "n_uncovered": 4 if j in (1, 5) else 0,
                              "missed": False} for j in range(8)]}}
    two["gan"]["modes"][1].update(n_uncovered=10, missed=True)
    two["gan"]["modes"][5].update(n_uncovered=6, missed=True)
    two["gan+dmpra"] = explained["gan+dmpra"]
    assert "by coverage it missed modes 1 and 5 (16 of their 20 real points uncovered)." in \
        headline(runs, [1, 5], 0, two, 2400)
