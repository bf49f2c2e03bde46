"""The report of every kind of run folder, made by running the real commands on tiny
inputs: train, audit, evaluate, demo and bench. Each page's headline and tables are
checked against the files the command wrote; what a folder lacks becomes a note; a folder
of no known kind is a one-line error."""

from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modecover.cli import main
from modecover.labels import LABELS, lower_is_better
from modecover.report import ResultsError, find_run, format_number, write_report
from test_report import as_dicts, parse_page

TINY_TRAIN = """
[data]
name = "ring-imbalanced"
n = 400
seed = 0

[model]
family = "gan"
latent_dim = 4
hidden = 16
depth = 2

[[methods]]
name = "dmpra"

[train]
steps = 60
batch_size = 64
rounds = 2
seed = 0
log_every = 10
sample_every = 30
checkpoint_every = 60
"""


def invoke(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def make_train_run(root: Path) -> Path:
    """``modecover train`` of a tiny GAN with DMPRA (2 rounds) on the imbalanced ring."""
    (root / "tiny.toml").write_text(TINY_TRAIN)
    invoke("train", root / "tiny.toml", "--out", root / "train", "--no-progress")
    return root / "train"


def make_audit_run(root: Path) -> Path:
    """``modecover audit`` of 2D points: a Gaussian blob and a small far cluster."""
    rng = np.random.default_rng(0)
    np.save(root / "points.npy", np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(6, 0.1, (8, 2))]))
    invoke("audit", root / "points.npy", "--out", root / "audit", "--quiet")
    return root / "audit"


def make_evaluate_run(root: Path) -> Path:
    """``modecover evaluate --example`` with ``--out`` and ``--explain`` in one folder."""
    folder = root / "evaluate"
    invoke("evaluate", "--example", "--out", folder / "metrics.json", "--explain", folder / "explain")
    return folder


def make_bench_run(root: Path) -> Path:
    """``modecover bench B1``: two rows, two seeds, ten steps on the ring."""
    invoke("bench", "B1", "--seeds", 2, "--steps", 10, "--dataset", "ring", "--row", "GAN", "--row", "PacGAN2",
           "--workers", 1, "--out", root / "bench")
    return root / "bench"


def make_demo_run(root: Path) -> Path:
    """The demo on a tiny budget, in a folder claimed as ``modecover demo`` claims it."""
    from modecover.demo import DemoConfig, run_demo
    from modecover.runs import claim_run_folder

    folder = root / "demo"
    with claim_run_folder(folder, "demo", resumable=False):
        run_demo(folder, DemoConfig(steps=40, rounds=2, n_train=400, n_eval=200, jobs=1), show_progress=False)
    return folder


MAKERS = {"train": make_train_run, "audit": make_audit_run, "evaluate": make_evaluate_run, "demo": make_demo_run,
          "bench": make_bench_run}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {kind: make(root) for kind, make in MAKERS.items()}


def copy_of(folder: Path, tmp_path: Path) -> Path:
    """A copy to change (the module's folders are shared)."""
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def headline(page: Path) -> str:
    text = page.read_text()
    start = text.index('<p class="headline">') + len('<p class="headline">')
    return text[start:text.index("</p>", start)]


def assert_figures_exist(page: Path) -> None:
    parsed = parse_page(page)
    assert parsed.images and parsed.scripts == 0
    for src in parsed.images:
        assert not src.startswith(("/", "http:", "file:")) and (page.parent / src).read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------- train


def test_train_page_states_schedule_losses_and_modes(runs):
    folder = runs["train"]
    assert find_run(folder).kind == "train"
    page = write_report(folder)
    assert_figures_exist(page)
    parsed, said = parse_page(page), headline(page)
    assert parsed.notes == []
    assert said.startswith("A gan model with dmpra on ring-imbalanced, trained 60 steps in 2 round(s).")
    with open(folder / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    last = log[-1]
    assert f"Final logged values (step 60): D(fake) {format_number(float(last['d_fake']))}" in said
    assert f"loss D {format_number(float(last['loss_d']))}" in said
    assert "samples from final.ckpt capture" in said and "of 8 modes and" in said and "% are high-quality" in said
    # "captured" (mode metrics) and "missed" (coverage) both said, each with what it counts
    assert "A mode is captured when at least one sample is high-quality there (within 3 standard deviations" in said
    assert ("missed when at least half of its real points (a fresh draw of 2500 points of the run's mixture) have no "
            "sample within their 5-nearest-neighbour radius") in html.unescape(said)
    # one round numbering: the trainer's round 0 and 1 are rounds 1 and 2 everywhere
    losses = as_dicts(parsed.tables["losses-table"])
    assert [(r["round"], r["step"]) for r in losses] == [("1", "30"), ("2", "60")]
    assert losses[-1]["loss_g"] == format_number(float(last["loss_g"]))
    scores = as_dicts(parsed.tables["scores-run"])
    assert [r["round"] for r in scores] == ["1", "2"]
    for r, row in zip((0, 1), scores):
        flags = np.genfromtxt(folder / f"round{r}" / "dmpra_scores.csv", delimiter=",", names=True)["minority"]
        assert row["n_minority"] == str(int(flags.sum()))
    text = page.read_text()
    assert "Round 1:" in text and "Round 2:" in text and "Round 0" not in text and "round 0" not in text
    assert "round0.ckpt (round 1)" in text and "round1.ckpt (round 2)" in text
    metrics = dict(parsed.tables["train-metrics"])
    assert set(metrics) >= {"modes", "HQ %", "minority modes", "precision"}


def test_train_page_says_what_is_missing(runs, tmp_path):
    folder = copy_of(runs["train"], tmp_path)
    shutil.rmtree(folder / "samples")
    for d in folder.glob("round*"):
        if d.is_dir():
            shutil.rmtree(d)
    (folder / "log.csv").unlink()
    (folder / "run.json").unlink()  # an older folder: recognised by config.json and its checkpoints
    page = write_report(folder)
    notes = " | ".join(parse_page(page).notes)
    assert "no samples/ folder: no sample plots" in notes
    assert "log.csv: not found: no loss curves" in notes
    assert "no round<r>/ folders with DMPRA files" in notes
    assert "of 8 modes" in headline(page)  # the checkpoint is still sampled


def test_train_page_without_checkpoints_says_so(runs, tmp_path):
    folder = copy_of(runs["train"], tmp_path)
    for ckpt in folder.glob("*.ckpt"):
        ckpt.unlink()
    notes = " | ".join(parse_page(write_report(folder)).notes)
    assert "no final.ckpt or last.ckpt: no samples drawn, no account of what they miss" in notes
    assert "neither a 2D mixture" not in notes  # the ring is one; what is missing is the checkpoint


def brute_missed_modes(real: np.ndarray, labels: np.ndarray, fake: np.ndarray, k: int = 5) -> list[int]:
    """Modes with at least half of their real points in no fake's reach, in float64."""
    rr = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    np.fill_diagonal(rr, np.inf)
    radius = np.sort(rr, axis=1)[:, k - 1]
    covered = np.array([(np.sqrt(((fake - r) ** 2).sum(-1)) < s).any() for r, s in zip(real, radius)])
    return [j for j in range(8) if (labels == j).any() and (~covered[labels == j]).sum() >= 0.5 * (labels == j).sum()]


def test_train_page_names_the_modes_the_samples_miss(runs):
    import torch

    from modecover.checkpoint import load_checkpoint
    from modecover.data.registry import build_dataset
    from modecover.methods.registry import sampling_hooks

    folder = runs["train"]
    page = write_report(folder)
    groups = json.loads((folder / "explain" / "groups.json").read_text())
    assert groups["explained_samples"]["checkpoint"] == "final.ckpt"
    # one coverage on the page: the sample metrics' table and the explanation (same draws, same k)
    assert dict(parse_page(page).tables["train-metrics"])["coverage"] == format_number(groups["coverage"])
    # the same draws, measured here by brute force
    loaded = load_checkpoint(folder / "final.ckpt")
    with torch.no_grad():
        torch.manual_seed(0)
        fake = loaded.model.eval().sample(2500, sampling_hooks(loaded)).numpy().astype(np.float64)
    mixture = build_dataset({"name": "ring-imbalanced", "n": 400, "seed": 0}).mixture
    real, labels = mixture.sample(2500, seed=1)
    missed = brute_missed_modes(np.asarray(real, np.float64), np.asarray(labels), fake)
    assert missed  # a 60-step GAN misses modes
    names = [str(j) for j in missed]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    assert f"The model (final.ckpt) missed mode{'s' if len(names) > 1 else ''} {listed} (" in headline(page)
    parsed = parse_page(page)
    table = as_dicts(parsed.tables["missed-groups"])
    group_modes = {r["mode_or_class"].split(",")[0] for r in table}
    minority = [int(j) for j in mixture.minority]
    assert {f"{j} (minority)" if j in minority else str(j) for j in missed} <= group_modes
    assert "off-manifold-groups" in parsed.tables or "No off-manifold group" in page.read_text()
    assert any("explain" in src for src in parsed.images)


def test_train_page_names_exactly_the_dropped_modes(runs, tmp_path):
    from modecover.data.mixtures import get_mixture
    from modecover.report.page import Figures
    from modecover.report.train_explain import explain_mixture, missed_section

    folder = copy_of(runs["train"], tmp_path)
    mixture = get_mixture("ring-imbalanced")
    real, _ = mixture.sample(2500, seed=1)
    fake, labels = mixture.sample(2600, seed=2)
    fake = fake[~np.isin(labels, [1, 5])]  # a model without the two minority modes
    found = explain_mixture(folder, folder / "final.ckpt", np.asarray(fake, np.float64),
                            np.asarray(real, np.float64), np.asarray(mixture.means))
    assert found.groups["sentence"].startswith("the model (final.ckpt) missed modes 1 and 5 (")
    (tmp_path / "figs").mkdir()
    section = missed_section(folder, found, [1, 5], Figures(tmp_path / "figs", "figs"))
    html_text = section.render()
    assert "1 (minority), 1" in html_text and "5 (minority), 1" in html_text


def test_train_page_keeps_an_explanation_another_command_wrote(runs, tmp_path):
    run = copy_of(runs["train"], tmp_path)  # its explain/ replaced by one evaluate --explain wrote
    shutil.rmtree(run / "explain", ignore_errors=True)
    shutil.copytree(runs["evaluate"] / "explain", run / "explain")
    before = (run / "explain" / "groups.json").read_text()
    page = write_report(run)
    assert (run / "explain" / "groups.json").read_text() == before
    assert "was written by another command" in page.read_text()


TINY_DIGITS = """
[data]
name = "digits"
limit = 300

[model]
family = "gan"
arch = "dcgan"
latent_dim = 8
base_channels = 8

[train]
steps = 10
batch_size = 32
rounds = 1
seed = 0
log_every = 5
sample_every = 0
checkpoint_every = 10
"""


def test_train_page_of_digits_shows_the_missed_images(tmp_path):
    (tmp_path / "digits.toml").write_text(TINY_DIGITS)
    invoke("train", tmp_path / "digits.toml", "--out", tmp_path / "run", "--no-progress")
    page = write_report(tmp_path / "run")
    groups = json.loads((tmp_path / "run" / "explain" / "groups.json").read_text())
    assert groups["n_real"] == 300 and groups["n_fake"] == 300
    assert (tmp_path / "run" / "explain" / "missed_0.png").is_file()
    parsed = parse_page(page)
    table = as_dicts(parsed.tables["missed-groups"])
    assert table[0]["mode_or_class"].startswith("class ")
    assert table[0]["size"] == str(groups["missed_groups"][0]["size"])
    assert "not 2D mixture data" in " ".join(parsed.notes)  # mode metrics: for 2D only


# ------------------------------------------------------------------------- audit


def test_audit_page_counts_flagged_samples_and_groups(runs):
    folder = runs["audit"]
    assert find_run(folder).kind == "audit"  # audit writes no run.json: recognised by audit.csv
    page = write_report(folder)
    assert_figures_exist(page)
    summary = json.loads((folder / "summary.json").read_text())
    said = headline(page)
    share = 100 * summary["n_minority"] / summary["n"]
    assert said.startswith(f"{summary['n_minority']} of {summary['n']} samples of {summary['source']} "
                           f"({share:.2f} %) are flagged as minority.")
    raised = [g for g in summary["groups"] if not g["outliers"]]
    assert f"They form {len(raised)} minor group(s)" in said
    parsed = parse_page(page)
    groups = as_dicts(parsed.tables["groups-table"])
    assert [(r["group"], r["size"], r["weight"]) for r in groups] == [
        (str(g["group"]), str(g["size"]), format_number(g["weight"])) for g in summary["groups"]]
    top = as_dicts(parsed.tables["audit-table"])
    raw = np.genfromtxt(folder / "audit.csv", delimiter=",", names=True)
    order = sorted(range(len(raw)), key=lambda i: (-raw["score"][i], raw["index"][i]))[:20]
    assert [r["index"] for r in top] == [str(int(raw["index"][i])) for i in order]
    assert parsed.notes == []


def test_audit_page_without_summary_says_so(runs, tmp_path):
    folder = copy_of(runs["audit"], tmp_path)
    (folder / "summary.json").unlink()
    page = write_report(folder)
    assert "no summary.json: no groups, settings or warnings." in parse_page(page).notes
    assert "samples (" in headline(page)


# ---------------------------------------------------------------------- evaluate


def test_evaluate_page_shows_metrics_and_what_was_missed(runs):
    folder = runs["evaluate"]
    assert find_run(folder).kind == "evaluate"
    page = write_report(folder)
    assert_figures_exist(page)
    metrics = json.loads((folder / "metrics.json").read_text())
    parsed = parse_page(page)
    table = dict(parsed.tables["evaluate-metrics"])
    assert table["precision"] == format_number(metrics["precision"]) and table["FID"] == format_number(metrics["fid"])
    assert table["HQ %"] == format_number(metrics["hq_percent"])
    said = headline(page)
    assert f"precision {format_number(metrics['precision'])}, recall {format_number(metrics['recall'])}" in said
    assert f"It captures {metrics['modes_captured']} of {metrics['n_modes']} modes and 0 of 2 minority modes" in said
    assert "A mode is captured when at least one sample is high-quality there" in said
    sentence = json.loads((folder / "explain" / "groups.json").read_text())["sentence"]
    assert sentence in page.read_text() and "The fake set missed modes 1 and 5" in said
    assert parsed.notes == []


def test_evaluate_json_file_and_explain_folder_alone(runs, tmp_path):
    folder = copy_of(runs["evaluate"], tmp_path)
    page = write_report(folder / "metrics.json", tmp_path / "page.html")
    assert "precision" in dict(parse_page(page).tables["evaluate-metrics"])
    explain = folder / "explain"
    assert find_run(explain).kind == "evaluate"
    page = write_report(explain)
    notes = " | ".join(parse_page(page).notes)
    assert "no JSON file written by modecover evaluate --out in the folder: no metrics." in notes
    assert "The fake set missed modes 1 and 5" in headline(page)


# -------------------------------------------------------------------------- bench


def read_summary(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_bench_page_tables_and_best_rows(runs):
    folder = runs["bench"]
    assert find_run(folder).kind == "bench"
    page = write_report(folder)
    assert_figures_exist(page)
    summary = read_summary(folder / "B1" / "summary.csv")
    parsed = parse_page(page)
    table = as_dicts(parsed.tables["bench-B1"])
    assert [(r["dataset"], r["row"]) for r in table] == [(s["dataset"], s["row"]) for s in summary]
    for row, s in zip(table, summary):
        if s["source"] == "measured":
            assert row["n_seeds"] == s["n_seeds"]
            assert row["hq_percent"] == (f"{format_number(float(s['hq_percent']))} "
                                         f"± {format_number(float(s['hq_percent_sem']))}")
        else:
            assert row["n_seeds"] == s["source"] and row["hq_percent"] == format_number(float(s["hq_percent"]))
    said = headline(page)
    assert said.startswith("B1 on ring: 2 rows × 2 seeds. Best row: ")
    measured = [s for s in summary if s["source"] == "measured"]
    for metric in ("modes", "hq_percent", "precision", "coverage"):
        pick = min if lower_is_better(metric) else max
        best = pick(measured, key=lambda s: float(s[metric]))
        assert f"{LABELS[metric]} {best['row']} ({format_number(float(best[metric]))})" in said
    assert len(parsed.tables["per-seed-B1"]) == 1 + 4
    assert "2 published rows quoted" in said


def test_bench_page_lists_the_modes_each_row_missed(runs, tmp_path):
    folder = runs["bench"]
    expected = {}
    for path in sorted((folder / "B1").rglob("seed*.json")):
        record = json.loads(path.read_text())
        n, counts = expected.get(record["row"], (0, {}))
        for mode in record["explain"]["missed_modes"]:
            counts[mode] = counts.get(mode, 0) + 1
        expected[record["row"]] = (n + 1, counts)
    rows = as_dicts(parse_page(write_report(folder)).tables["missed-B1"])
    assert [r["row"] for r in rows] == ["GAN", "PacGAN2"]
    for r in rows:
        n, counts = expected[r["row"]]
        assert r["n_explained"] == str(n) == "2"
        assert r["missed_modes"] == (", ".join(f"{m} ({c} of {n})" for m, c in sorted(counts.items())) or "none")
    older = copy_of(folder, tmp_path)  # results written before the explain key: no table
    for path in (older / "B1").rglob("seed*.json"):
        record = json.loads(path.read_text())
        del record["explain"]
        path.write_text(json.dumps(record))
    assert "missed-B1" not in parse_page(write_report(older)).tables


def test_bench_without_summary_uses_per_seed_csv(runs, tmp_path):
    folder = copy_of(runs["bench"], tmp_path)
    (folder / "B1" / "summary.csv").unlink()
    page = write_report(folder)
    text = page.read_text()
    assert "from per_seed.csv (no summary.csv)" in text
    rows = as_dicts(parse_page(page).tables["bench-B1"])
    assert [r["row"] for r in rows] == ["GAN", "PacGAN2"]


# --------------------------------------------------------------------------- demo


def test_demo_page_numbers_rounds_from_one(runs):
    folder = runs["demo"]
    assert json.loads((folder / "run.json").read_text())["command"] == "demo"
    page = write_report(folder)
    assert_figures_exist(page)
    results = json.loads((folder / "results.json").read_text())
    assert headline(page) == results["headline"].replace("'", "&#x27;")
    parsed = parse_page(page)
    rounds = as_dicts(parsed.tables["rounds-table"])
    assert [r["round"] for r in rounds] == ["1", "2", "1", "2"]
    assert [r["round"] for r in as_dicts(parsed.tables["scores-gan_dmpra"])] == ["1", "2"]
    text = page.read_text()
    assert "Round 1:" in text and "Round 2:" in text and "Round 0" not in text
    metrics = as_dicts(parsed.tables["metrics-table"])
    assert {r["run"] for r in metrics} == {"gan", "gan+dmpra"}
    for row in metrics:
        assert row["hq_percent"] == format_number(results["runs"][row["run"]]["metrics"]["hq_percent"])


# ------------------------------------------------------------------ labels, errors


def test_columns_show_human_labels_with_the_raw_key_as_tooltip(runs):
    text = write_report(runs["demo"]).read_text()
    assert '<th title="hq_percent">HQ %</th>' in text
    assert '<th title="minority_captured">minority modes</th>' in text
    assert ">hq_percent<" not in text and ">minority_captured<" not in text
    assert '<div class="table-wrap"><table id="metrics-table">' in text


def test_unknown_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path) in lines[0]
    assert "not a run folder modecover report understands; expected run.json" in lines[0]
    assert "results.json (demo)" in lines[0] and "B1/B2/B3/B4 folders (bench)" in lines[0]
    (tmp_path / "run.json").write_text('{"command": "sample"}')
    with pytest.raises(ResultsError, match=r"run\.json: command 'sample' has no report"):
        write_report(tmp_path)
    with pytest.raises(ResultsError, match=r"missing: run folder not found"):
        write_report(tmp_path / "missing")


def test_labels_are_one_mapping_used_by_every_table(runs):
    """Every header with a tooltip shows LABELS' label of its key."""
    import re

    for kind in ("train", "audit", "bench"):
        text = write_report(runs[kind]).read_text()
        for key, shown in re.findall(r'<th title="([^"]+)">([^<]+)</th>', text):
            assert shown == LABELS.get(key, key.replace("_", " ")), (kind, key, shown)
