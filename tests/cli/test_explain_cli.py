"""``modecover evaluate --explain DIR`` and the Vendi score in ``evaluate``, end to end.

References: :func:`modecover.explain.explain` and :func:`modecover.metrics.vendi.vendi_score`
called directly on the same arrays, and scikit-learn's digit labels.
"""

import json

import numpy as np
import pytest

from helpers import cli, read_csv
from modecover.explain import explain
from modecover.metrics.vendi import vendi_score


def run(*args):
    return cli("evaluate", *args)


def test_explain_files_of_a_mode_dropping_fake(tmp_path):
    from modecover.data.mixtures import get_mixture

    mix = get_mixture("ring-imbalanced")
    real, _ = mix.sample(3000, seed=0)
    fake, labels = mix.sample(3000, seed=1)
    fake = fake[~np.isin(labels, mix.minority)]
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)
    out = tmp_path / "explain"
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy", "--mixture", "ring-imbalanced",
                 "--explain", out, "--out", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "the fake set missed modes 1 and 5" in result.output
    e = explain(real, fake, k=5, modes=mix.means)
    rows = read_csv(out / "real.csv")
    assert [int(r["covered"]) for r in rows] == e.real_covered.astype(int).tolist()
    assert [int(r["group"]) for r in rows] == e.real_group.tolist()
    assert [float(r["distance_ratio"]) for r in rows] == e.real_distance_ratio.tolist()
    fakes = read_csv(out / "fake.csv")
    assert [float(r["realism"]) for r in fakes] == e.fake_realism.tolist()
    np.testing.assert_array_equal([float(r["rarity"]) for r in fakes], e.fake_rarity)  # nan outside every ball
    groups = json.loads((out / "groups.json").read_text())
    assert groups["coverage"] == e.coverage and groups["precision"] == e.precision
    assert sorted(g["mode"] for g in groups["missed_groups"][:2]) == [1, 5]
    assert (out / "explain.png").stat().st_size > 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["coverage"] == e.coverage  # --explain uses the coverage's k
    assert data["vendi"] == vendi_score(fake) and data["vendi_real"] == vendi_score(real)


def test_explain_gallery_shows_the_missing_digit(tmp_path):
    from modecover.data.datasets import load_digits

    images, labels = (t.numpy() for t in load_digits())
    order = np.random.default_rng(0).permutation(len(images))
    real_idx, pool = order[: len(order) // 2], order[len(order) // 2:]
    fake_idx = pool[labels[pool] != 3]
    np.save(tmp_path / "real.npy", images[real_idx])
    np.save(tmp_path / "fake.npy", images[fake_idx])
    out = tmp_path / "explain"
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy", "--explain", out)
    assert result.exit_code == 0, result.output
    groups = json.loads((out / "groups.json").read_text())
    assert "missed_0" in groups["files"] and (out / "missed_0.png").is_file()
    group = np.array([int(r["group"]) for r in read_csv(out / "real.csv")])
    assert np.mean(labels[real_idx][group == 0] == 3) >= 0.9  # the gallery of group 0 shows threes


def test_explain_errors_name_the_file_and_zero_rows_are_no_error(tmp_path, rng):
    np.save(tmp_path / "real.npy", rng.standard_normal((40, 3)))
    np.save(tmp_path / "small.npy", rng.standard_normal((5, 3)))
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "small.npy", "--explain", tmp_path / "x")
    assert result.exit_code == 1 and f"fake ({tmp_path / 'small.npy'}): has 5 points" in result.output
    assert not (tmp_path / "x").exists()
    zeros = rng.standard_normal((30, 3))
    zeros[4] = 0
    np.save(tmp_path / "zeros.npy", zeros)
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "zeros.npy", "--out", tmp_path / "z.json")
    assert result.exit_code == 0, result.output  # an all-zero row was an error; it is one shared sample now
    assert f"fake {tmp_path / 'zeros.npy'}: 1 of 30 feature rows are all zeros" in result.output
    assert json.loads((tmp_path / "z.json").read_text())["vendi"] == vendi_score(zeros)


def test_explain_refuses_a_file_as_folder(tmp_path, rng):
    np.save(tmp_path / "real.npy", rng.standard_normal((40, 3)))
    (tmp_path / "taken").write_text("a file")
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "real.npy", "--explain", tmp_path / "taken")
    assert result.exit_code == 2 and "taken" in result.output


def test_report_says_what_the_example_missed(tmp_path):
    from modecover.report import ResultsError, write_report

    run_dir = tmp_path / "run"
    result = run("--example", "--out", run_dir / "results.json", "--explain", run_dir / "evaluate" / "explain")
    assert result.exit_code == 0, result.output
    page = write_report(run_dir).read_text()
    sentence = json.loads((run_dir / "evaluate" / "explain" / "groups.json").read_text())["sentence"]
    assert sentence.startswith("the fake set missed modes 1 and 5 (") and sentence in page
    assert 'id="missed"' in page and "explain_evaluate_explain.png" in page
    (run_dir / "evaluate" / "explain" / "groups.json").write_text('{"n_real": "many"}')
    with pytest.raises(ResultsError, match=r"groups.json: n_real: expected an integer"):
        write_report(run_dir)


def write_pngs(folder, colours: dict[str, tuple[int, int, int]], n: int, seed: int) -> None:
    """``n`` noisy 8 x 8 RGB images per colour, in a sub-folder per colour."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, colour in colours.items():
        (folder / name).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(np.array(colour) + rng.normal(0, 12, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "RGB").save(folder / name / f"{name}_{i:02d}.png")


def test_explain_of_image_folders_names_samples_and_medoids_by_file(tmp_path):
    import html
    import re

    from modecover.report import write_report

    write_pngs(tmp_path / "real", {"red": (200, 40, 40), "blue": (40, 40, 200)}, 24, seed=0)
    write_pngs(tmp_path / "fake", {"red": (200, 40, 40)}, 30, seed=1)  # a model that never draws blue
    out = tmp_path / "run" / "explain"
    result = run("--real", tmp_path / "real", "--fake", tmp_path / "fake", "--extractor", "pixels", "--no-fid",
                 "--explain", out, "--out", tmp_path / "run" / "r.json")
    assert result.exit_code == 0, result.output
    reals, fakes = read_csv(out / "real.csv"), read_csv(out / "fake.csv")
    # the file column: each row's path relative to its folder, in the rows' (sorted) order
    assert [r["file"] for r in reals] == [f"{c}/{c}_{i:02d}.png" for c in ("blue", "red") for i in range(24)]
    assert [r["file"] for r in fakes] == [f"red/red_{i:02d}.png" for i in range(30)]
    assert list(reals[0])[:3] == ["index", "file", "covered"] and [int(r["index"]) for r in reals] == list(range(48))
    groups = json.loads((out / "groups.json").read_text())
    top = groups["missed_groups"][0]
    assert top["size"] == 24 and top["medoid_file"] == reals[top["medoid"]]["file"]
    assert top["medoid_file"].startswith("blue/")
    assert {r["file"] for r in reals if r["group"] == "0"} == {f"blue/blue_{i:02d}.png" for i in range(24)}
    for g in groups["off_manifold_groups"]:
        assert g["medoid_file"] == fakes[g["medoid"]]["file"]
    assert f"the largest holds 24 (medoid {top['medoid_file']})" in groups["sentence"] in result.output
    # the report names the medoids by file as well
    text = write_report(tmp_path / "run").read_text()
    table = re.search(r'<table id="missed-groups">.*?<tbody>(.*?)</tbody>', text, re.S).group(1)
    first = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", table.split("</tr>")[0])]
    assert first[:2] == ["#0", "24"] and first[-1] == top["medoid_file"]


def test_explain_of_feature_files_has_no_file_column(tmp_path, rng):
    np.save(tmp_path / "real.npy", rng.standard_normal((40, 3)))
    np.save(tmp_path / "fake.npy", rng.standard_normal((40, 3)) + 3)
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy", "--explain", tmp_path / "x")
    assert result.exit_code == 0, result.output
    for name in ("real.csv", "fake.csv"):
        assert "file" not in read_csv(tmp_path / "x" / name)[0]
    groups = json.loads((tmp_path / "x" / "groups.json").read_text())
    assert "medoid_file" not in groups["missed_groups"][0]
    assert f"(medoid #{groups['missed_groups'][0]['medoid']})" in groups["sentence"]
