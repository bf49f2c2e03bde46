"""`modecover audit` and the audit helpers, on generated data; bad input gives clear errors."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli, read_csv
from modecover.dmpra import SearchConfig, WeightingConfig, informative_weights, search, weigh
from modecover.dmpra.audit import audit
from modecover.dmpra.density import DensityConfig, density_weights
from modecover.io import json_safe, write_csv
from modecover.plots import most_isolated, project_2d


def planted(seed=0):
    """Two big blobs and one small distant cluster (the planted minority), shuffled."""
    rng = np.random.default_rng(seed)
    big = np.concatenate([rng.normal(0, 1, (150, 3)), rng.normal((8, 0, 0), 1, (150, 3))])
    small = rng.normal((4, 9, 0), 0.2, (6, 3))
    x = np.concatenate([big, small])
    truth = np.r_[np.zeros(len(big), bool), np.ones(len(small), bool)]
    order = rng.permutation(len(x))
    return x[order], truth[order]


def rare_kind_folder(folder, rng, n=150, size=6):
    """Grey images of two common kinds (70 each) and a rare one (the first 10, named rare*), as PNG files."""
    folder.mkdir()
    centres = rng.uniform(0, 255, size=(3, size, size))
    for i in range(n):
        kind = 2 if i < 10 else i % 2
        image = np.clip(centres[kind] + rng.normal(0, 12 if kind != 2 else 30, (size, size)), 0, 255).astype(np.uint8)
        Image.fromarray(image, "L").save(folder / f"{'rare' if i < 10 else 'common'}{i:03d}.png")
    return folder


def invoke(*args):
    return cli("audit", *args, "--quiet")


def test_feature_file_audit_matches_the_search(tmp_path):
    x, truth = planted()
    np.save(tmp_path / "x.npy", x)
    res = invoke(tmp_path / "x.npy", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    rows = read_csv(tmp_path / "out" / "audit.csv")
    assert list(rows[0])[:6] == ["index", "score", "minority", "group", "group_deficit", "weight"]
    assert list(rows[0])[6:] == ["radius", "cv", "censored", "rank"]
    result = search(x, SearchConfig())
    np.testing.assert_array_equal([int(r["index"]) for r in rows], np.arange(len(x)))
    np.testing.assert_array_equal([float(r["score"]) for r in rows], result.score)
    np.testing.assert_array_equal([int(r["minority"]) for r in rows], result.minority.astype(int))
    weighed = weigh(result)
    np.testing.assert_array_equal([float(r["weight"]) for r in rows], weighed.weights)
    np.testing.assert_array_equal([int(r["group"]) for r in rows], weighed.labels)
    np.testing.assert_array_equal([float(r["group_deficit"]) for r in rows], weighed.group_deficit())
    flagged = result.minority
    assert flagged[truth].all()  # the planted cluster is found
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n"] == len(x) and summary["n_minority"] == int(flagged.sum())
    assert summary["groups"] == [g.as_dict() for g in weighed.groups]
    raised = [g for g in weighed.groups if not g.outliers]
    assert raised and f"{len(raised)} minor groups of at least 5 samples" in res.output
    radii = result.radius[flagged]
    assert summary["minority_radius"] == {"min": radii.min(), "median": np.median(radii), "max": radii.max()}
    assert summary["n_censored"] == int(result.censored.sum())
    assert summary["kind"] == "features" and summary["settings"]["alpha"] == 0.5
    # largest m with m / N < 1 / (1 + k_sigma^2) at the largest ladder size N (score = sqrt((1 - p) / p))
    largest = max(result.ladder.sizes)
    m = summary["largest_flaggable_group"]
    assert m / largest < 1 / 10 <= (m + 1) / largest
    assert f"groups of more than about {m} samples" in res.output
    assert (tmp_path / "out" / "audit.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "out" / "gallery.png").exists()
    assert f"{int(flagged.sum())} of {len(x)} samples flagged" in res.output


def test_options_reach_the_search_and_other_file_kinds(tmp_path):
    x, _ = planted(1)
    np.savez(tmp_path / "x.npz", feats=x, other=np.zeros(3))
    torch.save({"f": torch.as_tensor(x)}, tmp_path / "x.pt")
    np.savetxt(tmp_path / "x.csv", x[:, :2], delimiter=",", header="a,b", comments="")
    args = ("--alpha", 0.25, "--n-min", 10, "--k-sigma", 2.5, "--two-sided", "--max-neighbors", 80,
            "--weighting", "paper", "--no-informative")
    res = invoke(f"{tmp_path / 'x.npz'}:feats", "--out", tmp_path / "a", *args)
    assert res.exit_code == 0, res.output
    config = SearchConfig(alpha=0.25, n_min=10, k_sigma=2.5, two_sided=True, max_neighbors=80)
    result = search(x, config)
    rows = read_csv(tmp_path / "a" / "audit.csv")
    np.testing.assert_array_equal([float(r["score"]) for r in rows], result.score)
    np.testing.assert_array_equal([float(r["weight"]) for r in rows], informative_weights(result, informative=False))
    settings = json.loads((tmp_path / "a" / "summary.json").read_text())["settings"]
    assert settings["informative"] is False and settings["weighting"] == "paper"
    res = invoke(tmp_path / "x.pt", "--out", tmp_path / "b", "--max-neighbors", 80)
    assert res.exit_code == 0, res.output
    res = invoke(tmp_path / "x.csv", "--out", tmp_path / "c")
    assert res.exit_code == 0, res.output
    rows = read_csv(tmp_path / "c" / "audit.csv")
    np.testing.assert_array_equal([float(r["score"]) for r in rows], search(x[:, :2]).score)


def test_image_folder_audit_writes_files_and_gallery(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    images = {}
    for i in range(40):  # dark noisy images, and 2 bright ones (the rare kind)
        value = 230 if i in (5, 17) else 20
        name = ("sub/" if i % 2 else "") + f"im{i:02d}.png"
        images[name] = np.clip(value + rng.normal(0, 5, (6, 6)), 0, 255).astype(np.uint8)
        Image.fromarray(images[name], "L").save(folder / name)
    res = invoke(folder, "--out", tmp_path / "out", "--detector", "loci", "--n-min", 8, "--image-mode", "L",
                 "--gallery", 5)
    assert res.exit_code == 0, res.output
    rows = read_csv(tmp_path / "out" / "audit.csv")
    assert list(rows[0])[:6] == ["file", "score", "minority", "group", "group_deficit", "weight"]
    names = [r["file"] for r in rows]
    assert names == sorted(images, key=lambda n: n.split("/"))  # sorted by path parts: root files first
    pixels = np.stack([images[n].reshape(-1).astype(np.float32) / np.float32(255) for n in names])
    result = search(pixels, SearchConfig(n_min=8))
    np.testing.assert_array_equal([float(r["score"]) for r in rows], result.score)
    flagged = {r["file"] for r in rows if r["minority"] == "1"}
    assert {"sub/im05.png", "sub/im17.png"} <= flagged
    assert {names[i] for i in most_isolated(result.score, 2)} == {"sub/im05.png", "sub/im17.png"}
    assert (tmp_path / "out" / "gallery.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # every dark image has sigma_hat = 0 at its peak: the weights' documented fallback, reported
    assert summary["warnings"] and "undefined" in summary["warnings"][0]
    assert "warning: DMPRA weights" in res.output
    assert summary["kind"] == "images" and summary["extractor"] == "pixels"
    assert summary["files"]["gallery"] == "gallery.png"


def test_image_folders_of_mixed_sizes_say_so_and_of_one_image_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    mixed, one = tmp_path / "mixed", tmp_path / "one"
    mixed.mkdir()
    one.mkdir()
    for i in range(30):
        side = 6 if i < 20 else 9
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8), "L").save(mixed / f"{i:02d}.png")
    Image.fromarray(np.zeros((6, 6), np.uint8), "L").save(one / "a.png")
    res = invoke(mixed, "--out", tmp_path / "out", "--image-mode", "L")
    assert res.exit_code == 0, res.output
    assert f"note: {mixed}: resized 10 of 30 images to 6x6 (HxW), the most common size; sizes found: 6x6 (20), " \
           "9x9 (10)" in res.output
    assert len(read_csv(tmp_path / "out" / "audit.csv")) == 30
    res = invoke(one, "--out", tmp_path / "out1", "--image-mode", "L")
    assert res.exit_code != 0 and re.search(r"one: needs at least \d+ rows, got 1", res.output), res.output
    assert not (tmp_path / "out1" / "audit.csv").exists()


def test_skip_corrupt_leaves_unreadable_images_out_and_lists_them(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (5, 5), dtype=np.uint8), "L").save(folder / f"im{i:02d}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    refused = invoke(folder, "--out", tmp_path / "a", "--detector", "loci", "--n-min", 8)
    assert refused.exit_code == 1 and "broken.png: cannot read this image" in refused.output
    assert "--skip-corrupt" in refused.output
    res = invoke(folder, "--out", tmp_path / "b", "--detector", "loci", "--n-min", 8, "--skip-corrupt")
    assert res.exit_code == 0, res.output
    assert "skipped 1 unreadable image(s)" in res.output and "broken.png" in res.output
    rows = read_csv(tmp_path / "b" / "audit.csv")
    assert len(rows) == 24 and "broken.png" not in {r["file"] for r in rows}
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["skipped"] == ["broken.png"]


def test_no_sample_flagged_is_explained_and_every_sample_still_ranked(tmp_path):
    np.save(tmp_path / "same.npy", np.ones((30, 2)))
    res = invoke(tmp_path / "same.npy", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "No sample flagged, so all weights are 1. All 30 samples are identical" in res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_minority"] == 0 and summary["note"] in res.output
    rows = read_csv(tmp_path / "out" / "audit.csv")
    assert {r["weight"] for r in rows} == {"1.0"}
    assert [int(r["rank"]) for r in rows] == list(range(1, 31))  # all scores tie: row order
    # an even grid: no rare region, so nothing flagged; the note gives the numbers behind it
    grid = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0)), -1).reshape(-1, 2)
    grid[0] += 0.3  # one slightly displaced point: the highest score
    np.save(tmp_path / "grid.npy", grid)
    res = invoke(tmp_path / "grid.npy", "--out", tmp_path / "grid", "--top", 3)
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "grid" / "summary.json").read_text())
    rows = read_csv(tmp_path / "grid" / "audit.csv")
    scores = np.array([float(r["score"]) for r in rows])
    assert summary["n_minority"] == 0 and summary["max_score"] == scores.max() < 3
    assert summary["n_above_k_sigma_minus_1"] == int((scores > 2).sum())
    assert (f"the highest score is {scores.max():.3g}, and {int((scores > 2).sum())} of 64 samples scored above "
            "k_sigma - 1 = 2") in summary["note"]
    assert f"a group of more than about {summary['largest_flaggable_group']} similar samples" in summary["note"]
    ranks = np.array([int(r["rank"]) for r in rows])
    np.testing.assert_array_equal(np.argsort(ranks), most_isolated(scores, 64))
    assert [int(r["top"]) for r in rows] == (ranks <= 3).astype(int).tolist() and summary["top"] == 3
    assert invoke(tmp_path / "grid.npy", "--out", tmp_path / "x", "--top", -1).exit_code == 2


@pytest.mark.parametrize("case, message", [
    ("nan", r"x\.npy: 1 non-finite value"),
    ("few", r"x\.npy: needs at least 20 rows, got 5"),
    ("missing", r"nothere\.npy: no such file"),
    ("alpha", r"alpha must be a finite number in \(0, 1\], got 1\.5"),
    ("identity-images", r"image folder needs an image extractor"),
    ("images-3d", r"identity needs a 2-D array"),
    ("bad-csv", r"x\.csv: cannot read as numeric columns"),
    ("weights-without-inception", r"extractor options \['weights_path'\] would do nothing \(they apply to the "
                                  r"inception and dinov2 extractors"),
    ("inception-weights-missing", r"torch-fidelity|nothere\.pth"),  # whichever is missing first
])
def test_bad_input_gives_clear_errors(tmp_path, case, message):
    x = np.random.default_rng(0).normal(size=(40, 2))
    target, extra = tmp_path / "x.npy", []
    if case == "nan":
        x[3, 1] = np.nan
    elif case == "few":
        x = x[:5]
    elif case == "missing":
        target = tmp_path / "nothere.npy"
    elif case == "alpha":
        extra = ["--alpha", "1.5"]
    elif case == "identity-images":
        target = tmp_path / "imgs"
        target.mkdir()
        Image.fromarray(np.zeros((4, 4), np.uint8), "L").save(target / "a.png")
        extra = ["--extractor", "identity"]
    elif case == "images-3d":
        x = np.zeros((40, 4, 4))
    elif case == "weights-without-inception":
        extra = ["--inception-weights", str(tmp_path / "w.pth")]
    elif case == "inception-weights-missing":
        target = tmp_path / "imgs"
        target.mkdir()
        Image.fromarray(np.zeros((4, 4), np.uint8), "L").save(target / "a.png")
        extra = ["--extractor", "inception", "--inception-weights", str(tmp_path / "nothere.pth")]
    elif case == "bad-csv":
        target = tmp_path / "x.csv"
        target.write_text("1,2\n3,abc\n")
    if case not in ("missing", "identity-images", "bad-csv", "inception-weights-missing"):
        np.save(target, x)
    res = invoke(target, "--out", tmp_path / "out", *extra)
    assert res.exit_code != 0
    assert "Error" in res.output and __import__("re").search(message, res.output), res.output
    assert not (tmp_path / "out" / "audit.csv").exists()


@pytest.mark.parametrize("top", [-1, 41, True, 2.0, "3"])
def test_top_is_an_integer_up_to_the_number_of_samples(tmp_path, top):
    x = np.random.default_rng(0).normal(size=(40, 2))
    message = rf"^audit: top \(at most the 40 samples\) must be an integer in \[0, 40\], got {re.escape(repr(top))}$"
    with pytest.raises(ValueError, match=message):
        audit(x, tmp_path / "out", top=top)
    assert not (tmp_path / "out").exists()


def test_a_weighting_with_the_density_detector_is_refused(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match=r"^audit: a WeightingConfig would do nothing \(the density detector makes its "
                                         r"own weights; .*\); leave it out$"):
        audit(x, tmp_path / "out", DensityConfig(), WeightingConfig())
    assert not (tmp_path / "out").exists()


def test_out_folder_is_owned_like_a_run_folder(tmp_path):
    x, _ = planted()
    np.save(tmp_path / "x.npy", x)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "audit.csv").write_text("my own notes\n")  # a user's file that happens to share the name
    for extra in ([], ["--overwrite"]):
        res = invoke(tmp_path / "x.npy", "--out", mine, *extra)
        assert res.exit_code == 1 and "no modecover run wrote it" in res.output, res.output
        assert (mine / "audit.csv").read_text() == "my own notes\n" and sorted(p.name for p in mine.iterdir()) == [
            "audit.csv"]
    out = tmp_path / "out"
    assert invoke(tmp_path / "x.npy", "--out", out).exit_code == 0
    assert json.loads((out / "run.json").read_text())["command"] == "audit"
    again = invoke(tmp_path / "x.npy", "--out", out, "--top", 3)
    assert again.exit_code == 1 and "holds an earlier 'audit' run; pass --overwrite" in again.output
    assert "top" not in read_csv(out / "audit.csv")[0]
    (out / "run.json").unlink()  # an audit written before run.json existed is still recognised
    replaced = invoke(tmp_path / "x.npy", "--out", out, "--top", 3, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert "top" in read_csv(out / "audit.csv")[0]


def test_pixels_extractor_on_an_image_array(tmp_path):
    x = np.random.default_rng(0).random((30, 1, 4, 4))
    np.save(tmp_path / "imgs.npy", x)
    res = invoke(tmp_path / "imgs.npy", "--out", tmp_path / "out", "--extractor", "pixels", "--detector", "loci",
                 "--n-min", 5)
    assert res.exit_code == 0, res.output
    rows = read_csv(tmp_path / "out" / "audit.csv")
    np.testing.assert_array_equal([float(r["score"]) for r in rows],
                                  search(x.reshape(30, -1), SearchConfig(n_min=5)).score)
    assert (tmp_path / "out" / "gallery.png").exists()


def test_image_folder_audit_defaults_to_the_density_detector_over_the_image_views(tmp_path):
    """An image folder with no --extractor, --components or --views: the density detector over
    the image default's views (the 16x16 images' 50 principal components and 4x4-cell
    orientation histograms), combined by rank, at the views' step 5 (gamma 3, w_max 20), computed
    here from the images read back; --views pixels searches the pixels alone (gamma 2, w_max 50),
    and images too small for the histograms' cells are searched in their principal components alone."""
    from modecover.dmpra.density import smoothed_score
    from modecover.dmpra.views import gaussianised_ranks
    from modecover.features.orientations import orientation_histograms
    from modecover.features.pca import project_components

    folder = rare_kind_folder(tmp_path / "imgs", np.random.default_rng(1), size=16)
    res = invoke(folder, "--out", tmp_path / "out", "--image-mode", "L", "--gallery", 10, "--density", "k=5")
    assert res.exit_code == 0, res.output
    assert "samples raised" in res.output and "searched the views pca50 (50 columns" in res.output
    rows = read_csv(tmp_path / "out" / "audit.csv")
    assert list(rows[0]) == ["file", "score", "minority", "group", "weight", "radius", "dim", "rank"]
    names = [r["file"] for r in rows]
    images = np.stack([np.asarray(Image.open(folder / n), dtype=np.float32) / np.float32(255) for n in names])
    pixels = images.reshape(len(images), -1).astype(np.float64)
    config = DensityConfig(k=5)
    views = [project_components(pixels, 50)[0], orientation_histograms(images.astype(np.float64), 4)]
    z = np.mean([gaussianised_ranks(smoothed_score(v, config).score) for v in views], axis=0)
    weights = np.clip(np.exp(3.0 * (z - np.quantile(z, 0.9))), 1.0, 20.0)
    np.testing.assert_allclose([float(r["weight"]) for r in rows], weights, rtol=1e-9)
    rare = np.array([n.startswith("rare") for n in names])
    assert weights[rare].sum() / weights.sum() > 3 * rare.mean()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["detector"] == "density" and summary["settings"]["k"] == 5
    assert summary["settings"]["gamma"] == 3.0 and summary["settings"]["w_max"] == 20.0
    assert [v["view"] for v in summary["views"]] == ["pca50", "hog4"]
    alone = invoke(folder, "--out", tmp_path / "pixels", "--image-mode", "L", "--views", "pixels", "--density", "k=5")
    assert alone.exit_code == 0, alone.output
    assert "searched the view pixels (256 columns)\n" in alone.output
    expected = density_weights(pixels, DensityConfig(k=5, gamma=2.0, w_max=50.0))
    np.testing.assert_allclose([float(r["weight"]) for r in read_csv(tmp_path / "pixels" / "audit.csv")],
                               expected.weights, rtol=1e-12)
    loci_option = invoke(folder, "--out", tmp_path / "o2", "--image-mode", "L", "--alpha", 0.3)
    assert loci_option.exit_code == 1 and "--alpha" in loci_option.output and "--detector loci" in loci_option.output
    unknown = invoke(folder, "--out", tmp_path / "o3", "--density", "kk=3")
    assert unknown.exit_code == 1 and "'kk=3'" in unknown.output and "quantile" in unknown.output
    on_features = invoke(folder, "--out", tmp_path / "o4", "--detector", "loci", "--density", "k=3")
    assert on_features.exit_code == 1
    assert "audit: --density would do nothing (it applies to the density detector" in on_features.output
    small = rare_kind_folder(tmp_path / "small", np.random.default_rng(1))  # 6x6 images: cells under 4 pixels
    res = invoke(small, "--out", tmp_path / "small_out", "--image-mode", "L", "--density", "k=5")
    assert res.exit_code == 0 and "searched the view pca36 (36 columns" in res.output, res.output


def test_components_search_the_principal_components_of_an_image_folder(tmp_path):
    """--components 8: the density detector on the first 8 principal components of the
    pixels (scikit-learn's PCA, computed here on the images read back); summary.json records it."""
    from sklearn.decomposition import PCA

    folder = rare_kind_folder(tmp_path / "imgs", np.random.default_rng(2))
    res = invoke(folder, "--out", tmp_path / "out", "--image-mode", "L", "--components", 8, "--density", "k=5")
    assert res.exit_code == 0, res.output
    rows = read_csv(tmp_path / "out" / "audit.csv")
    names = [r["file"] for r in rows]
    pixels = np.stack([np.asarray(Image.open(folder / n), dtype=np.float32).reshape(-1) / np.float32(255)
                       for n in names]).astype(np.float64)
    pca = PCA(8, svd_solver="full").fit(pixels)
    expected = density_weights(pca.transform(pixels), DensityConfig(k=5))
    np.testing.assert_allclose([float(r["weight"]) for r in rows], expected.weights, rtol=1e-9)
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected.score, rtol=1e-9, atol=1e-12)
    assert not np.allclose(expected.weights, density_weights(pixels, DensityConfig(k=5)).weights)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    ratio = pca.explained_variance_ratio_.sum()
    assert summary["projection"] == {"method": "pca", "components": 8, "input_features": 36,
                                     "explained_variance_ratio": pytest.approx(ratio, rel=1e-12)}
    assert summary["extractor"] == "pixels" and summary["detector"] == "density"
    assert f"searched the first 8 principal components of the 36 feature columns ({100 * ratio:.1f}% " in res.output
    plain = invoke(folder, "--out", tmp_path / "plain", "--image-mode", "L", "--components", 0, "--density", "k=5")
    assert plain.exit_code == 0 and "projection" not in json.loads((tmp_path / "plain" / "summary.json").read_text())


def test_components_of_a_feature_file_with_the_loci_search(tmp_path):
    """A .npy of features lifted to 6 columns: --components 3 searches their first 3 principal components."""
    from sklearn.decomposition import PCA

    x, truth = planted()
    rng = np.random.default_rng(3)
    lifted = x @ rng.normal(size=(3, 6)) + 0.01 * rng.normal(size=(len(x), 6))
    np.save(tmp_path / "x.npy", lifted)
    res = invoke(tmp_path / "x.npy", "--out", tmp_path / "out", "--components", 3)
    assert res.exit_code == 0, res.output
    projected = PCA(3, svd_solver="full").fit(lifted).transform(lifted)
    result = search(projected, SearchConfig())
    rows = read_csv(tmp_path / "out" / "audit.csv")
    np.testing.assert_allclose([float(r["weight"]) for r in rows], weigh(result).weights, rtol=1e-9)
    assert result.minority[truth].all()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["projection"]["components"] == 3


@pytest.mark.parametrize("shape, components, numbers", [
    ((40, 3), 4, "4 principal components asked for, but 40 samples of 3 feature columns have at most "
                 "min(40, 3) = 3"),
    ((25, 30), 26, "26 principal components asked for, but 25 samples of 30 feature columns have at most "
                   "min(25, 30) = 25"),
])
def test_components_beyond_the_data_is_an_error_before_any_file(tmp_path, shape, components, numbers):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=shape))
    res = invoke(tmp_path / "x.npy", "--out", tmp_path / "out", "--components", components, "--n-min", 5)
    assert res.exit_code == 1
    assert f"Error: --components on {tmp_path / 'x.npy'}: {numbers}" in res.output
    assert not (tmp_path / "out").exists()
    negative = invoke(tmp_path / "x.npy", "--out", tmp_path / "out", "--components", -1)
    assert negative.exit_code == 2 and "--components" in negative.output
    with pytest.raises(ValueError, match=re.escape(f"audit: components of features: {numbers}")):
        audit(np.random.default_rng(0).normal(size=shape), tmp_path / "api", components=components)
    with pytest.raises(ValueError, match=r"^audit: components must be a non-negative integer, got True$"):
        audit(np.random.default_rng(0).normal(size=shape), tmp_path / "api", components=True)
    assert not (tmp_path / "api").exists()


def test_audit_api_components_equal_the_audit_of_the_projected_features(tmp_path):
    from modecover.features import project_components

    x, _ = planted()
    lifted = x @ np.random.default_rng(4).normal(size=(3, 5))
    report = audit(lifted, tmp_path / "a", components=2, plot=False)
    projected, ratio = project_components(lifted, 2)
    direct = audit(projected, tmp_path / "b", plot=False)
    np.testing.assert_array_equal(report.weights, direct.weights)
    assert report.summary["projection"]["explained_variance_ratio"] == ratio
    assert read_csv(tmp_path / "a" / "audit.csv") == read_csv(tmp_path / "b" / "audit.csv")


# --- helpers ------------------------------------------------------------------------------


def test_project_2d_is_pca(rng):
    x = rng.normal(size=(200, 5)) * [4, 2, 1, 0.5, 0.1] + 3
    proj = project_2d(x)
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reference = centred @ vt[:2].T
    np.testing.assert_allclose(np.abs(proj), np.abs(reference), atol=1e-9)  # same axes up to sign
    np.testing.assert_array_equal(project_2d(x[:, :2]), x[:, :2])
    np.testing.assert_array_equal(project_2d(x[:, :1]), np.c_[x[:, 0], np.zeros(200)])
    np.testing.assert_array_equal(project_2d(np.ones((4, 3))), np.zeros((4, 2)))


def test_project_2d_of_wide_features_is_pca_without_a_d_by_d_matrix():
    """60 x 12,000 features: the exact PCA axes (to rounding), and a peak of allocated
    memory a few times the input's 5.8 MB (the (d, d) covariance alone would be 1.15 GB)."""
    import tracemalloc

    rng = np.random.default_rng(1)
    latent = rng.normal(size=(60, 3)) * [5.0, 2.0, 0.5]
    x = latent @ rng.normal(size=(3, 12_000)) + 0.01 * rng.normal(size=(60, 12_000))
    tracemalloc.start()
    proj = project_2d(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * x.nbytes
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.abs(proj), np.abs(centred @ vt[:2].T), rtol=1e-7, atol=1e-7 * np.abs(proj).max())
    np.testing.assert_array_equal(proj, project_2d(x))  # deterministic


def test_most_isolated_orders_by_score_then_index():
    scores = np.array([1.0, 3.0, np.nan, 3.0, 2.0])
    np.testing.assert_array_equal(most_isolated(scores, 4), [1, 3, 4, 0])
    np.testing.assert_array_equal(most_isolated(scores, 10), [1, 3, 4, 0, 2])


def test_write_csv_and_json_safe(tmp_path):
    values = np.array([0.1, 1 / 3, np.nan, 1e-300])
    write_csv(tmp_path / "t.csv", "file", ["a", "b,c", "d", "e"], {"v": values, "flag": np.array([0, 1, 0, 1])})
    rows = read_csv(tmp_path / "t.csv")
    assert [r["file"] for r in rows] == ["a", "b,c", "d", "e"]
    np.testing.assert_array_equal([float(r["v"]) for r in rows], values)
    assert json_safe({"a": np.float64(np.nan), "b": (np.int64(2), np.bool_(True)), "c": np.arange(2)}) == \
        {"a": None, "b": [2, True], "c": [0, 1]}


def test_audit_api_checks_lengths(tmp_path):
    x, _ = planted()
    with pytest.raises(ValueError, match="3 names for 306 samples"):
        audit(x, tmp_path, names=["a", "b", "c"])
    with pytest.raises(ValueError, match="needs at least 20 rows"):
        audit(x[:10], tmp_path)


def test_inception_offline_names_the_weights_file(tmp_path, monkeypatch):
    """--offline with nothing cached: the file, its URL and where to put it, and no download."""
    from modecover.features import inception as inception_mod

    monkeypatch.setattr(inception_mod, "_inception_class", lambda: object)  # torchvision does not import here
    monkeypatch.delenv(inception_mod.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv("MODECOVER_OFFLINE", raising=False)
    monkeypatch.setenv("MODECOVER_CACHE", str(tmp_path / "cache"))
    images = tmp_path / "imgs"
    images.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8), "L").save(images / "a.png")
    res = invoke(images, "--out", tmp_path / "out", "--extractor", "inception", "--offline")
    assert res.exit_code == 1 and "offline" in res.output, res.output
    assert inception_mod.WEIGHTS_URL in res.output
    assert str(tmp_path / "cache" / inception_mod.WEIGHTS_FILE) in res.output
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out" / "audit.csv").exists()


def test_moved_helpers_keep_their_documented_path_and_matplotlib_stays_lazy():
    """load_audit_data (docs/dmpra.md) is still importable from the audit, the same object as in
    modecover.data.files; importing the audit (or the explanation files) loads no matplotlib."""
    import subprocess
    import sys

    from modecover.data import files
    from modecover.dmpra import audit as audit_module

    assert audit_module.load_audit_data is files.load_audit_data and audit_module.AuditData is files.AuditData
    code = ("import sys, modecover.dmpra.audit, modecover.evaluation.explain_files; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib' or m == 'modecover.plots'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_views_search_several_views_of_an_image_folder_together(tmp_path):
    """--views pca8,hog3: the density detector in both views, combined by rank, computed here
    from the images read back; summary.json and the output name the views."""
    from modecover.dmpra.density import smoothed_score
    from modecover.dmpra.views import gaussianised_ranks
    from modecover.features.orientations import orientation_histograms
    from modecover.features.pca import project_components

    folder = rare_kind_folder(tmp_path / "imgs", np.random.default_rng(4))
    res = invoke(folder, "--out", tmp_path / "out", "--image-mode", "L", "--views", "pca8,hog3", "--density", "k=5",
                 "--density", "gamma=3")
    assert res.exit_code == 0, res.output
    rows = read_csv(tmp_path / "out" / "audit.csv")
    images = np.stack([np.asarray(Image.open(folder / r["file"]), dtype=np.float32) / np.float32(255) for r in rows])
    config = DensityConfig(k=5, gamma=3.0)
    views = [project_components(images.reshape(len(images), -1).astype(np.float64), 8)[0],
             orientation_histograms(images.astype(np.float64), 3)]
    z = np.mean([gaussianised_ranks(smoothed_score(v, config).score) for v in views], axis=0)
    expected = np.clip(np.exp(3.0 * (z - np.quantile(z, config.quantile))), 1.0, 20.0)  # w_max: the views' default
    np.testing.assert_allclose([float(r["weight"]) for r in rows], expected, rtol=1e-9)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [v["view"] for v in summary["views"]] == ["pca8", "hog3"] and summary["views"][1]["columns"] == 81
    assert "searched the views pca8 (8 columns" in res.output and "hog3 (81 columns)" in res.output


@pytest.mark.parametrize("extra,message", [
    (["--views", "pca8,sift"], "unknown view 'sift'"),
    (["--views", "pca8", "--components", "4"], "components beside views"),
    (["--views", "pca8", "--detector", "loci"], "the LOCI search searches one space"),
    (["--views", "pca8", "--extractor", "identity"], "--extractor identity beside --views"),
])
def test_views_that_would_do_nothing_are_refused_before_any_file(tmp_path, extra, message):
    folder = rare_kind_folder(tmp_path / "imgs", np.random.default_rng(5), n=40)
    res = invoke(folder, "--out", tmp_path / "out", "--image-mode", "L", *extra)
    assert res.exit_code != 0 and message in res.output, res.output
    assert not (tmp_path / "out").exists()
    np.save(tmp_path / "f.npy", np.random.default_rng(0).normal(size=(40, 3)))
    res = invoke(tmp_path / "f.npy", "--out", tmp_path / "out", "--views", "pca2")
    assert res.exit_code != 0 and "views are computed from images, and this data has none" in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("views,title", [("pixels", "log density ratio"), ("pca8,hog3", "Gaussianised rank")])
def test_the_gallery_title_names_the_score_one_view_or_several(tmp_path, monkeypatch, views, title):
    import modecover.plots

    seen = {}
    original = modecover.plots.audit_figures

    def capture(*args, **kwargs):
        seen["title"] = kwargs["gallery_title"]
        return original(*args, **kwargs)

    monkeypatch.setattr(modecover.plots, "audit_figures", capture)
    folder = rare_kind_folder(tmp_path / "imgs", np.random.default_rng(4))
    res = invoke(folder, "--out", tmp_path / "out", "--image-mode", "L", "--views", views, "--density", "k=5")
    assert res.exit_code == 0, res.output
    assert title in seen["title"]
