"""Prose numbers computed from per-seed CSVs, and the committed RESULTS.md / README.md against them."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modecover.bench.numbers import (
    SPAN,
    Source,
    check_numbers,
    csv_path,
    difference,
    format_estimate,
    render,
    update_numbers,
)
from modecover.bench.tables import write_per_seed

ROOT = Path(__file__).resolve().parents[2]
HQ = {"GAN": [96.0, 97.5, 95.0, 98.0], "GAN + DMPRA": [95.1, 96.0, 94.8, 96.9]}


def make_results(root: Path) -> None:
    records = [{"dataset": "ring", "row": row, "seed": seed, "seconds": 1.0,
                "metrics": {"hq_percent": v, "modes": 8.0 - seed % 2}}
               for row, values in HQ.items() for seed, v in enumerate(values)]
    records.append({"dataset": "ring", "row": "Top-k", "seed": 7, "seconds": 1.0,
                    "metrics": {"hq_percent": 80.0, "modes": 6.0}})
    records.append({"dataset": "ring", "row": "Top-k", "seed": 8, "seconds": 1.0,
                    "metrics": {"hq_percent": 84.0, "modes": 7.0}})
    write_per_seed(records, root / "results" / "B9" / "per_seed.csv")
    write_per_seed(records[:4], root / "results" / "B9-validation" / "grid_per_seed.csv")


def words(text):
    import shlex

    return shlex.split(text)


@pytest.mark.parametrize("value, sem, signed, text", [
    (-0.8404, 0.1234, True, "−0.84 ± 0.12"), (88.38, 2.61, False, "88.4 ± 2.6"), (0.037, 0.0045, False,
                                                                                 "0.0370 ± 0.0045"),
    (17.14, 14.2, False, "17 ± 14"), (2.0, 0.0, True, "+2 ± 0"), (8.0, 0.0, False, "8 ± 0"),
    (-0.001, 0.3, True, "0.00 ± 0.30"), (1.9, 0.28, True, "+1.90 ± 0.28"), (-3.14159, 0.0, False, "−3.14 ± 0")])
def test_format_rounds_where_the_standard_error_does(value, sem, signed, text):
    assert format_estimate(value, sem, signed) == text


def test_difference_is_paired_by_seed_only_when_the_seeds_match():
    a = {0: 1.0, 1: 3.0, 2: 2.5}
    b = {0: 0.5, 1: 2.0, 2: 2.4}
    diff, sem, paired = difference(a, b)
    d = np.array([0.5, 1.0, 0.1])
    assert paired and diff == pytest.approx(d.mean()) and sem == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    c = {5: 0.0, 6: 4.0}
    diff, sem, paired = difference(a, c)
    se = lambda x: np.std(x, ddof=1) / np.sqrt(len(x))  # noqa: E731
    assert not paired and diff == pytest.approx(13 / 6 - 2.0)
    assert sem == pytest.approx(np.hypot(se([1.0, 3.0, 2.5]), se([0.0, 4.0])))


def test_render_each_kind_against_numpy(tmp_path):
    make_results(tmp_path)
    source = Source(tmp_path)
    gan, dmpra = np.array(HQ["GAN"]), np.array(HQ["GAN + DMPRA"])
    d = dmpra - gan
    assert render(words("mean hq_percent B9 ring GAN"), source) == format_estimate(gan.mean(),
                                                                                  gan.std(ddof=1) / 2)
    diff_text = render(words("diff hq_percent B9 ring 'GAN + DMPRA' B9 ring GAN"), source)
    assert diff_text == format_estimate(d.mean(), d.std(ddof=1) / 2, signed=True) and diff_text.startswith("−")
    z = d.mean() / (d.std(ddof=1) / 2)
    assert render(words("z hq_percent B9 ring 'GAN + DMPRA' B9 ring GAN"), source) == f"{z:.1f}".replace("-", "−")
    assert render(words("count hq_percent B9 ring GAN '>=' 96"), source) == "3 of 4"  # 96.0 counts
    assert render(words("count hq_percent B9 ring GAN '>' 96"), source) == "2 of 4"
    assert render(words("count modes B9 ring GAN == 8"), source) == "2 of 4"
    assert render(words("ratio hq_percent B9 ring 'GAN + DMPRA' B9 ring GAN"), source) == \
        f"{dmpra.mean() / gan.mean():.2f}×"
    assert render(words("seeds hq_percent B9 ring 'GAN + DMPRA' < B9 ring GAN"), source) == "4 of 4"
    assert render(words("seeds hq_percent B9 ring GAN '>=' B9 ring 'GAN + DMPRA'"), source) == "4 of 4"
    assert render(words("seeds modes B9 ring GAN == B9 ring 'GAN + DMPRA'"), source) == "4 of 4"
    # different seeds: the standard errors combined; another CSV by its name under results/
    unpaired = render(words("diff hq_percent B9 ring Top-k B9-validation/grid ring GAN"), source)
    top = np.array([80.0, 84.0])
    assert unpaired == format_estimate(top.mean() - gan.mean(), np.hypot(top.std(ddof=1) / np.sqrt(2),
                                                                          gan.std(ddof=1) / 2), signed=True)
    assert csv_path(tmp_path, "B9-validation/grid") == tmp_path / "results/B9-validation/grid_per_seed.csv"


@pytest.mark.parametrize("args, message", [
    ("mean hq_percent B9 ring PacGAN",
     r"data set 'ring': no row 'PacGAN' \(rows: \['GAN', 'GAN \+ DMPRA', 'Top-k'\]\)"),
    ("mean hq_percent B9 grid GAN", r"CSV 'B9' has no data set 'grid' \(it has \['ring'\]\)"),
    ("mean fid B9 ring GAN", r"ring / GAN: no metric 'fid' \(metrics: \['hq_percent', 'modes'\]\)"),
    ("mean hq_percent B7 ring GAN", r"CSV 'B7': no file results/B7_per_seed.csv"),
    ("median hq_percent B9 ring GAN", r"unknown kind 'median'"),
    ("diff hq_percent B9 ring GAN", r"'diff' takes 7 words after it, got 4"),
    ("count hq_percent B9 ring GAN ~ 3", r"unknown comparison '~'"),
    ("count hq_percent B9 ring GAN < many", r"threshold must be a number, got 'many'"),
    ("z modes B9 ring GAN B9 ring GAN", r"standard error 0"),
    ("seeds hq_percent B9 ring Top-k > B9 ring GAN", r"no seed in common \(\[7, 8\] and \[0, 1, 2, 3\]\)"),
    ("seeds hq_percent B9 ring GAN ~ B9 ring Top-k", r"unknown comparison '~'"),
    ("ratio hq_percent B9 ring GAN B9 ring", r"'ratio' takes 7 words after it, got 6"),
])
def test_bad_spans_are_named(tmp_path, args, message):
    make_results(tmp_path)
    with pytest.raises(ValueError, match=message):
        render(words(args), Source(tmp_path))


def test_update_then_check_then_a_hand_edit_is_caught(tmp_path):
    make_results(tmp_path)
    doc = tmp_path / "doc.md"
    doc.write_text("DMPRA costs <!-- num diff hq_percent B9 ring 'GAN + DMPRA' B9 ring GAN -->?<!-- /num --> HQ\n"
                   "points; the GAN keeps <!-- num mean hq_percent B9 ring GAN --><!-- /num -->, "
                   "<!-- num count hq_percent B9 ring GAN '>' 96 --><!-- /num --> above 96 %.\n")
    assert [p.split(": ", 1)[0] for p in check_numbers(doc, tmp_path)] == [f"{doc}:1", f"{doc}:2", f"{doc}:2"]
    assert update_numbers(doc, tmp_path) == 3
    assert check_numbers(doc, tmp_path) == []
    text = doc.read_text()
    assert "--> HQ\npoints" in text and text.endswith("-->2 of 4<!-- /num --> above 96 %.\n")
    changed = text.replace("−0.", "−1.", 1)
    doc.write_text(changed)
    (problem,) = check_numbers(doc, tmp_path)
    assert problem.startswith(f"{doc}:1: <!-- num diff hq_percent") and "the CSVs give '−0." in problem
    doc.write_text("<!-- num mean hq_percent B9 ring Nope -->x<!-- /num -->")
    with pytest.raises(ValueError, match=r"doc.md:1: <!-- num mean hq_percent B9 ring Nope -->: .*no row 'Nope'"):
        update_numbers(doc, tmp_path)
    assert doc.read_text().endswith("-->x<!-- /num -->")  # nothing written
    assert "no row 'Nope'" in check_numbers(doc, tmp_path)[0]
    doc.write_text("x\n<!-- num mean hq_percent B9 ring 'GAN -->x<!-- /num -->")
    assert check_numbers(doc, tmp_path) == [f"{doc}:2: <!-- num mean hq_percent B9 ring 'GAN -->: cannot split the "
                                            "words: No closing quotation"]


PROSE = ("docs/RESULTS.md", "README.md", "docs/training.md", "docs/dmpra.md")  # the documents the script checks


def _copy_of_the_repository(dest: Path) -> Path:
    for part in ("scripts/results_tables.py", *PROSE):
        (dest / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, dest / part)
    shutil.copytree(ROOT / "results", dest / "results")
    return dest / "scripts" / "results_tables.py"


def test_check_passes_on_the_repository_and_fails_on_a_hand_changed_number(tmp_path):
    script = _copy_of_the_repository(tmp_path)
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    counts = re.search(r"(\d+) of (\d+) tables and (\d+) of (\d+) prose numbers", done.stdout)
    assert counts and counts[1] == counts[2] and counts[3] == counts[4], done.stdout
    assert int(counts[4]) >= 20  # the comparisons of RESULTS.md and README.md carry computed numbers
    for doc in PROSE:
        path = tmp_path / doc
        original = path.read_text()
        match = next(SPAN.finditer(original))
        digit = next(i for i in range(match.start("text"), match.end("text")) if original[i].isdigit())
        new_digit = "7" if original[digit] != "7" else "3"
        path.write_text(original[:digit] + new_digit + original[digit + 1:])
        done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
        assert done.returncode == 1 and f"{path}:" in done.stderr and "the CSVs give" in done.stderr
        path.write_text(original)
