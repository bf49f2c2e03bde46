"""Result tables from per-seed CSVs, and the committed docs/RESULTS.md against its CSVs."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from modecover.bench.tables import TableSpec, check, read_per_seed, render, update, write_per_seed

ROOT = Path(__file__).resolve().parents[2]


def records():
    out = []
    for seed, (modes, captured) in enumerate([(7, 2), (8, 2), (6, 1), (7, 0)]):
        out.append({"dataset": "ring-imbalanced", "row": "GAN + DMPRA", "seed": seed, "seconds": 10.0,
                    "metrics": {"modes": modes, "minority_captured": captured, "hq_percent": 90.0 + seed / 3}})
    out.append({"dataset": "ring-imbalanced", "row": "GAN", "seed": 0, "seconds": 9.0,
                "metrics": {"modes": 6, "minority_captured": 0, "hq_percent": 93.0}})
    return out


def test_per_seed_csv_round_trips_exactly(tmp_path):
    path = write_per_seed(records(), tmp_path / "per_seed.csv")
    back = read_per_seed(path)
    key = lambda r: (r["row"], r["seed"])  # noqa: E731
    for a, b in zip(sorted(records(), key=key), sorted(back, key=key)):
        assert a["metrics"] == b["metrics"] and a["seed"] == b["seed"]  # repr of floats round-trips


def test_collect_reads_every_landed_job(tmp_path):
    import json

    from modecover.bench.tables import collect

    for r in records():
        path = tmp_path / "B2" / r["dataset"] / r["row"].replace(" ", "_") / f"seed{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    (tmp_path / "B2" / "summary.md").write_text("not a job")
    got = collect(tmp_path / "B2")
    assert sorted((r["row"], r["seed"]) for r in got) == sorted((r["row"], r["seed"]) for r in records())


def test_render_gives_mean_standard_error_and_seed_counts():
    spec = TableSpec("t", "x.csv", ("ring-imbalanced",), ("modes", "minority_captured"), ("GAN", "GAN + DMPRA"),
                     n_minority=2)
    lines = render(spec, records()).splitlines()
    assert lines[0].startswith("| data | row | seeds | modes | minority modes |")
    plain, dmpra = lines[2], lines[3]
    assert plain.startswith("| ring-imbalanced | GAN | 1 | 6 ± 0 | 0 ± 0 | 0 / 0 / 1 |")
    sem = math.sqrt(sum((v - 7) ** 2 for v in (7, 8, 6, 7)) / 3 / 4)
    assert f"| 7 ± {sem:.2g} |" in dmpra and dmpra.endswith("| 2 / 1 / 1 |")


def test_update_then_check(tmp_path):
    write_per_seed(records(), tmp_path / "per_seed.csv")
    spec = TableSpec("ring", "per_seed.csv", ("ring-imbalanced",), ("modes",))
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- table ring -->\nstale\n<!-- /table -->\nafter\n")
    assert check(doc, tmp_path, [spec]) == [f"{doc}: table ring differs from its per-seed CSV (run "
                                            "scripts/results_tables.py)"]
    assert update(doc, tmp_path, [spec]) == ["ring"]
    assert check(doc, tmp_path, [spec]) == []
    text = doc.read_text()
    assert text.startswith("before\n<!-- table ring -->\n| data |") and text.endswith("<!-- /table -->\nafter\n")
    # empty neighbouring blocks stay two blocks
    other = TableSpec("other", "per_seed.csv", ("ring-imbalanced",), ("hq_percent",))
    doc.write_text("<!-- table ring -->\n<!-- /table -->\n\n<!-- table other -->\n<!-- /table -->\n")
    assert update(doc, tmp_path, [spec, other]) == ["ring", "other"]
    assert check(doc, tmp_path, [spec, other]) == [] and doc.read_text().count("<!-- /table -->") == 2
    doc.write_text("no markers")
    assert "no block <!-- table ring -->" in check(doc, tmp_path, [spec])[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="bad.csv: a per-seed CSV needs the columns"):
        read_per_seed(bad)


def test_results_md_matches_the_committed_per_seed_csvs():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_tables.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
