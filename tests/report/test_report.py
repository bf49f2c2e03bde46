"""The static HTML report: tables hold results.json's numbers, figures exist, absent inputs
become notes, malformed inputs raise errors naming file and key."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modecover.cli import main
from modecover.report import ResultsError, format_number, load_results, write_report


def make_run_dir(root: Path, seed: int = 0, *, images: bool = False) -> dict:
    """A complete synthetic RUN_DIR (numbers drawn here); returns the results.json object."""
    rng = np.random.default_rng(seed)
    n_modes = 8
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    means = np.stack([np.cos(angles), np.sin(angles)], 1)
    weights = np.where(np.arange(n_modes) < 2, 1.0, 20.0)
    weights /= weights.sum()
    labels = rng.choice(n_modes, size=400, p=weights)
    data = means[labels] + 0.02 * rng.standard_normal((400, 2))
    np.save(root / "data.npy", data)
    runs = {}
    for name in ("gan", "gan+dmpra"):
        (root / name).mkdir()
        if images:
            np.save(root / name / "samples.npy", rng.uniform(-1, 1, size=(10, 3, 8, 8)).astype(np.float32))
        else:
            samples = means[rng.integers(0, n_modes, 300)] + 0.05 * rng.standard_normal((300, 2))
            np.save(root / name / "samples.npy", samples)
            from modecover.evaluation.explain_files import write_explanation
            from modecover.explain import explain

            write_explanation(explain(data, samples, modes=means), root / name / "explain", data, samples, label=name)
        share = rng.dirichlet(np.ones(n_modes))
        rounds = []
        for r in range(1, 4):
            rounds.append({"round": r, "metrics": {"precision": float(rng.uniform()), "recall": float(rng.uniform())},
                           "n_minority": int(rng.integers(0, 50))})
            d = root / name / f"round_{r}"
            d.mkdir()
            flags = rng.uniform(size=400) < 0.1
            np.savez(d / "perception.npz", proj=rng.standard_normal((400, 2)), minority=flags)
            with open(d / "scores.csv", "w") as f:
                f.write("index,score,minority,weight\n")
                for i in range(400):
                    f.write(f"{i},{rng.normal():.6f},{int(flags[i])},{1.0 + 2 * flags[i] * rng.uniform():.6f}\n")
        runs[name] = {
            "metrics": {"modes": int(rng.integers(5, 9)), "hq_percent": float(rng.uniform(80, 100)),
                        "reverse_kl": float(rng.uniform(0, 1)), "precision": float(rng.uniform()),
                        "coverage": float(rng.uniform()) * 1e-5},
            "per_mode_share": share.tolist(),
            "rounds": rounds,
        }
    (root / "audit").mkdir()
    with open(root / "audit" / "audit.csv", "w") as f:
        f.write("index,score,minority,weight\n")
        for i in range(50):
            score = rng.normal() * 3
            f.write(f"{i},{score:.6f},{'true' if score > 3 else 'false'},1.0\n")
    from modecover.plots import image_grid
    image_grid(rng.uniform(size=(6, 1, 8, 8)), root / "audit" / "gallery.png", "gallery")
    results = {"title": "Synthetic run", "data": {"name": "ring8", "means": means.tolist(), "weights": weights.tolist(),
                                                  "minority": [0, 1]}, "runs": runs}
    (root / "results.json").write_text(json.dumps(results))
    return results


class PageParser(HTMLParser):
    """Collects tables (by id) as lists of rows of cell text (a header cell: its raw key, the
    ``title`` tooltip, when it has one), image sources, notes, external refs."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.notes: list[str] = []
        self._table = None
        self._cell = None
        self._key = None
        self._note = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", f"table{len(self.tables)}"), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
            self._key = attrs.get("title") if tag == "th" else None  # a header's raw key
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag in ("link", "a") and "href" in attrs:
            self.links.append(attrs["href"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "p" and attrs.get("class") == "note":
            self._note = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(self._key or "".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "p" and self._note is not None:
            self.notes.append("".join(self._note))
            self._note = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._note is not None:
            self._note.append(data)


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def as_dicts(table: list[list[str]]) -> list[dict[str, str]]:
    header, *rows = table
    return [dict(zip(header, row)) for row in rows]


def documented_format(value) -> str:
    """docs/report.md: integers in full, floats with 4 significant digits ('%.4g'), absent as an em dash."""
    if value is None:
        return "\u2014"
    return str(value) if isinstance(value, int) else "%.4g" % value


def test_tables_hold_results_numbers(tmp_path):
    results = make_run_dir(tmp_path)
    page = write_report(tmp_path)
    assert page == tmp_path / "report.html"
    parsed = parse_page(page)

    metrics = {row["run"]: row for row in as_dicts(parsed.tables["metrics-table"])}
    assert set(metrics) == set(results["runs"])
    for name, run in results["runs"].items():
        for metric, value in run["metrics"].items():
            assert metrics[name][metric] == documented_format(value)
            assert math.isclose(float(metrics[name][metric]), value, rel_tol=1e-3)

    modes = as_dicts(parsed.tables["modes-table"])
    assert len(modes) == len(results["data"]["weights"])
    for j, row in enumerate(modes):
        assert row["mode"] == (f"{j} (minority)" if j in results["data"]["minority"] else str(j))
        assert row["data"] == documented_format(results["data"]["weights"][j])
        for name, run in results["runs"].items():
            assert row[name] == documented_format(run["per_mode_share"][j])

    rounds = as_dicts(parsed.tables["rounds-table"])
    expected = [(name, r) for name, run in results["runs"].items() for r in run["rounds"]]
    assert len(rounds) == len(expected)
    for row, (name, r) in zip(rounds, expected):
        assert row["run"] == name and row["round"] == str(r["round"]) and row["n_minority"] == str(r["n_minority"])
        for metric, value in r["metrics"].items():
            assert row[metric] == documented_format(value)


def test_round_and_audit_tables_match_csv_files(tmp_path):
    make_run_dir(tmp_path)
    parsed = parse_page(write_report(tmp_path))
    for name in ("gan", "gan+dmpra"):
        table = as_dicts(parsed.tables[f"scores-{name.replace('+', '_')}"])
        assert [row["round"] for row in table] == ["1", "2", "3"]
        for r, row in enumerate(table, start=1):
            raw = np.genfromtxt(tmp_path / name / f"round_{r}" / "scores.csv", delimiter=",", names=True)
            flags = np.load(tmp_path / name / f"round_{r}" / "perception.npz")["minority"]
            assert row["n"] == str(len(raw))
            assert row["n_minority"] == str(int(raw["minority"].sum())) == str(int(flags.sum()))
            assert row["max_score"] == documented_format(float(raw["score"].max()))
            assert row["max_weight"] == documented_format(float(raw["weight"].max()))

    audit = as_dicts(parsed.tables["audit-table"])
    raw = np.genfromtxt(tmp_path / "audit" / "audit.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    top = sorted(range(len(raw)), key=lambda i: (-raw["score"][i], raw["index"][i]))[:20]
    assert [row["index"] for row in audit] == [str(raw["index"][i]) for i in top]
    assert [row["score"] for row in audit] == [documented_format(float(raw["score"][i])) for i in top]
    assert [row["minority"] for row in audit] == ["yes" if raw["score"][i] > 3 else "no" for i in top]


def test_every_figure_exists_is_png_and_relative(tmp_path):
    make_run_dir(tmp_path)
    page = write_report(tmp_path)
    parsed = parse_page(page)
    # metrics curves, mode bars, 2 sample scatters, 2 explain projections, 2 runs x 3 rounds perception,
    # audit gallery
    assert len(parsed.images) == 1 + 1 + 2 + 2 + 6 + 1
    assert len(set(parsed.images)) == len(parsed.images)
    for src in parsed.images:
        assert not src.startswith(("/", "http:", "https:", "file:", "data:"))
        path = page.parent / src
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # offline: no script, no external link (only in-page anchors)
    assert parsed.scripts == 0
    assert all(href.startswith("#") for href in parsed.links)
    assert parsed.notes == []


def test_image_samples_become_a_grid(tmp_path):
    make_run_dir(tmp_path, images=True)
    parsed = parse_page(write_report(tmp_path))
    assert any("samples_gan" in src for src in parsed.images)
    assert not any("not drawn" in note for note in parsed.notes)


def test_image_grid_layout_and_range():
    from modecover.plots import to_image_grid

    images = np.zeros((5, 1, 2, 3))
    images[2] = 1.0  # third image white, rest black (values in [0,1])
    grid = to_image_grid(images, columns=2)
    assert grid.shape == (3 * 3 - 1, 2 * 4 - 1, 3)
    assert (grid[3:5, 0:3] == 1).all() and (grid[0:2, 0:3] == 0).all()
    signed = to_image_grid(-np.ones((1, 3, 2, 2)))  # [-1,1] data: -1 maps to black
    assert (signed == 0).all()
    with pytest.raises(ValueError, match="images"):
        to_image_grid(np.zeros((2, 5, 4, 4)))


def test_absent_files_become_notes_not_crashes(tmp_path):
    results = {"runs": {"only": {"metrics": {"fid": 12.5}}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    parsed = parse_page(write_report(tmp_path))
    assert as_dicts(parsed.tables["metrics-table"]) == [{"run": "only", "fid": "12.5"}]
    assert parsed.images == []
    joined = " | ".join(parsed.notes)
    for expected in ("rounds", "per_mode_share", "only/samples.npy not found", "round_", "audit"):
        assert expected in joined


def test_missing_metric_prints_dash_and_union_of_columns(tmp_path):
    results = {"runs": {"a": {"metrics": {"x": 1.0, "y": 2}}, "b": {"metrics": {"z": 0.123456}}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    table = as_dicts(parse_page(write_report(tmp_path)).tables["metrics-table"])
    assert table == [{"run": "a", "x": "1", "y": "2", "z": "\u2014"},
                     {"run": "b", "x": "\u2014", "y": "\u2014", "z": "0.1235"}]


def test_html_is_escaped(tmp_path):
    results = {"title": "<b>t</b>", "runs": {"<script>alert(1)</script>": {"metrics": {"a&b": 1}}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    page = write_report(tmp_path)
    parsed = parse_page(page)
    assert parsed.scripts == 0
    assert as_dicts(parsed.tables["metrics-table"]) == [{"run": "<script>alert(1)</script>", "a&b": "1"}]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", r"results\.json: not valid JSON: .* line 1, column 2"),
        ("[]", r"results\.json: \(top level\): expected an object"),
        ("{}", r"results\.json: runs: is missing"),
        ('{"runs": {"g": {"metrics": {"fid": "abc"}}}}',
         r"results\.json: runs\.g\.metrics\.fid: expected a number, got 'abc'"),
        ('{"runs": {"g": {"metrics": {"fid": true}}}}', r"runs\.g\.metrics\.fid: expected a number"),
        ('{"runs": {"g": {"rounds": [{"metrics": {}}]}}}', r"runs\.g\.rounds\[0\]\.round: is missing"),
        ('{"runs": {"g": {"rounds": [{"round": 1, "n_minority": -1}]}}}', r"runs\.g\.rounds\[0\]\.n_minority"),
        ('{"data": {"weights": [0.5, 0.5]}, "runs": {"g": {"per_mode_share": [1.0]}}}',
         r"runs\.g\.per_mode_share: has 1 entries but the data has 2"),
        ('{"data": {"means": [[0, 0], [1]]}, "runs": {}}', r"data\.means: rows have different lengths"),
        ('{"data": {"means": [[0, 0]], "minority": [3]}, "runs": {}}',
         r"data\.minority\[0\]: mode index 3 is out of range"),
        ('{"runs": []}', r"runs: expected an object"),
    ],
)
def test_malformed_results_name_file_and_key(tmp_path, content, message):
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(ResultsError, match=message):
        write_report(tmp_path)


def test_missing_results_and_bad_side_files(tmp_path):
    with pytest.raises(ResultsError, match=r"not a run folder modecover report understands; expected run\.json"):
        write_report(tmp_path)
    make_run_dir(tmp_path)
    (tmp_path / "gan" / "round_2" / "scores.csv").write_text("index,score\n0,1.0\n")
    with pytest.raises(ResultsError, match=r"round_2[/\\]scores\.csv: missing column\(s\) \['minority', 'weight'\]"):
        write_report(tmp_path)
    (tmp_path / "gan" / "round_2" / "scores.csv").write_text("index,score,minority,weight\n0,1.0,maybe,1\n")
    with pytest.raises(ResultsError, match=r"scores\.csv: line 2: column 'minority'"):
        write_report(tmp_path)
    (tmp_path / "gan" / "round_2" / "scores.csv").unlink()
    np.savez(tmp_path / "gan" / "round_1" / "perception.npz", proj=np.zeros((3, 2)))
    with pytest.raises(ResultsError, match=r"perception\.npz: missing array\(s\) \['minority'\]"):
        write_report(tmp_path)
    np.savez(tmp_path / "gan" / "round_1" / "perception.npz", proj=np.zeros((3, 2)), minority=np.zeros(3, bool))
    (tmp_path / "gan" / "samples.npy").write_bytes(b"garbage")
    with pytest.raises(ResultsError, match=r"gan[/\\]samples\.npy: cannot read samples of run 'gan'"):
        write_report(tmp_path)
    np.save(tmp_path / "gan" / "samples.npy", np.array([[0.0, np.nan]]))
    with pytest.raises(ResultsError, match=r"samples\.npy: samples of run 'gan' holds 1 non-finite"):
        write_report(tmp_path)


def test_format_number_matches_documentation():
    for value in (0, 7, 123456789, 0.5, 1 / 3, 2.0, 1e-7, 98765.4321, -0.00012345):
        assert format_number(value) == documented_format(value)
    assert format_number(None) == "\u2014"
    assert format_number(float("nan")) == "nan"


def test_load_results_roundtrip(tmp_path):
    raw = make_run_dir(tmp_path)
    results = load_results(tmp_path / "results.json")
    assert results.title == raw["title"] and results.data.minority == [0, 1]
    assert results.runs["gan"].per_mode_share == raw["runs"]["gan"]["per_mode_share"]
    assert [r.round for r in results.runs["gan+dmpra"].rounds] == [1, 2, 3]


def test_cli_writes_report_and_reports_errors(tmp_path):
    make_run_dir(tmp_path)
    out = tmp_path / "elsewhere" / "page.html"
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and (tmp_path / "elsewhere" / "page_files").is_dir()
    for src in parse_page(out).images:
        assert (out.parent / src).is_file()
    (tmp_path / "results.json").write_text('{"runs": {"g": {"metrics": {"fid": "x"}}}}')
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code != 0
    assert "runs.g.metrics.fid: expected a number" in result.output
