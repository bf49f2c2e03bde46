"""``modecover evaluate`` end to end (CliRunner) and the feature extractors it uses.

Reference values come from the `prdc` package, the scipy sqrtm FID formula and the other
modecover metric functions called directly on the same arrays.
"""

import contextlib
import hashlib
import io
import json
import re
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli, fidelity_inception_module, random_fidelity_inception
from modecover.features import FeatureExtractor, Identity, Pixels, extract, get_extractor
from modecover.features import inception as inception_mod


def run(*args):
    return cli("evaluate", *args)


def reference_prdc(real, fake, k_pr, k_dc):
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        pr = compute_prdc(real, fake, k_pr)
        dc = compute_prdc(real, fake, k_dc)
    return {"precision": pr["precision"], "recall": pr["recall"], "density": dc["density"],
            "coverage": dc["coverage"]}


def reference_fid(real, fake):
    from scipy import linalg

    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture
def feature_files(tmp_path, rng):
    real = rng.standard_normal((60, 4))
    fake = rng.standard_normal((50, 4)) * 1.3 + 0.4
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)
    return real, fake, tmp_path / "real.npy", tmp_path / "fake.npy"


def test_feature_files_match_references(tmp_path, feature_files):
    real, fake, real_path, fake_path = feature_files
    out = tmp_path / "res" / "results.json"
    result = run("--real", real_path, "--fake", fake_path, "--out", out)
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and f"wrote {out}" in result.output
    data = json.loads(out.read_text())
    ref = reference_prdc(real, fake, 3, 5)
    for key in ("precision", "recall", "density", "coverage"):
        assert data[key] == pytest.approx(ref[key], abs=1e-12), key
    assert data["fid"] == pytest.approx(reference_fid(real, fake), rel=1e-6)
    assert data["config"]["n_real"] == 60 and data["config"]["dim"] == 4 and data["config"]["boundary"] == "<"
    assert data["runs"]["evaluate"]["metrics"]["fid"] == data["fid"]  # the view modecover report reads
    assert not (tmp_path / "res" / "data.npy").exists()


def test_k_options_and_npz_pt_inputs(tmp_path, feature_files):
    real, fake, _, _ = feature_files
    np.savez(tmp_path / "sets.npz", real=real, other=real[:5])
    torch.save({"fake": torch.from_numpy(fake)}, tmp_path / "fake.pt")
    out = tmp_path / "r.json"
    result = run("--real", f"{tmp_path / 'sets.npz'}:real", "--fake", tmp_path / "fake.pt",
                 "--k-pr", 2, "--k-dc", 7, "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    ref = reference_prdc(real, fake, 2, 7)
    assert {k: data[k] for k in ref} == pytest.approx(ref, abs=1e-12)


def test_identical_sets_score_one_not_zero(tmp_path, feature_files):
    _, _, real_path, _ = feature_files
    out = tmp_path / "same.json"
    assert run("--real", real_path, "--fake", real_path, "--out", out).exit_code == 0
    data = json.loads(out.read_text())
    assert data["precision"] == data["recall"] == data["coverage"] == 1.0
    assert abs(data["fid"]) < 1e-8


def test_mixture_mode_metrics_and_kid_is(tmp_path):
    from modecover.data.mixtures import get_mixture
    from modecover.metrics.modes import mode_metrics

    mix = get_mixture("grid")
    real, _ = mix.sample(300, seed=0)
    fake, _ = mix.sample(200, seed=1)
    fake = fake[fake[:, 0] < 3]  # drop the grid's right-most column of modes
    logits = np.random.default_rng(2).standard_normal((len(fake), 10))
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)
    np.save(tmp_path / "logits.npy", logits)
    out = tmp_path / "r.json"
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy", "--mixture", "grid",
                 "--kid", "--kid-subsets", 5, "--kid-subset-size", 50, "--is", "--is-splits", 2,
                 "--fake-logits", tmp_path / "logits.npy", "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    direct = mode_metrics(fake, mix.means, mix.sigmas, mix.weights, minority=mix.minority)
    for key, value in direct.items():
        assert data[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert data["modes_captured"] == 20 and data["n_modes"] == 25
    assert data["runs"]["evaluate"]["per_mode_share"] == direct["generated_shares"]
    assert data["data"]["means"] == mix.means.tolist()

    from modecover.metrics.inception_score import inception_score
    from modecover.metrics.kid import kid

    assert [data["kid"], data["kid_std"]] == pytest.approx(
        list(kid(real, fake, subsets=5, subset_size=50, seed=0)))
    assert [data["is"], data["is_std"]] == pytest.approx(list(inception_score(logits, splits=2)))


def test_example_runs_and_feeds_the_report(tmp_path):
    out = tmp_path / "run" / "results.json"
    result = run("--example", "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["modes_captured"] == 6 and data["minority_captured"] == 0 and data["n_minority"] == 2
    assert data["recall"] < 1.0 and data["coverage"] < data["recall"]
    assert (tmp_path / "run" / "data.npy").exists() and (tmp_path / "run" / "evaluate" / "samples.npy").exists()

    from modecover.report import load_results

    loaded = load_results(out)
    assert "evaluate" in loaded.runs


# ------------------------------------------------------------------ image folders

def _folder(path, arrays):
    path.mkdir(parents=True, exist_ok=True)
    for i, arr in enumerate(arrays):
        Image.fromarray(arr.astype(np.uint8)).save(path / f"{i:03d}.png")


def test_png_folders_use_pixels(tmp_path, rng):
    real = rng.integers(0, 256, (12, 5, 5, 3))
    fake = rng.integers(0, 256, (9, 5, 5, 3))
    _folder(tmp_path / "real", real)
    _folder(tmp_path / "fake", fake)
    (tmp_path / "fake" / "zz_broken.png").write_bytes(b"not a png")
    out = tmp_path / "r.json"

    result = run("--real", tmp_path / "real", "--fake", tmp_path / "fake", "--out", out)
    assert result.exit_code != 0 and "zz_broken.png: cannot read this image" in result.output

    result = run("--real", tmp_path / "real", "--fake", tmp_path / "fake", "--skip-corrupt", "--out", out)
    assert result.exit_code == 0, result.output
    assert "skipped 1 unreadable image(s) in fake" in result.output
    data = json.loads(out.read_text())
    assert data["config"]["extractor"] == "pixels" and data["config"]["dim"] == 75
    assert data["config"]["skipped"]["fake"][0].endswith("zz_broken.png")
    # same numbers as on the flattened [0, 1] pixel arrays: channel-first, row-major
    real_px = real.transpose(0, 3, 1, 2).reshape(12, -1) / 255.0
    fake_px = fake.transpose(0, 3, 1, 2).reshape(9, -1) / 255.0
    ref = reference_prdc(real_px, fake_px, 3, 5)
    assert {k: data[k] for k in ref} == pytest.approx(ref, abs=1e-12)

    # a folder against a saved image array of the same pictures: identical sets
    np.save(tmp_path / "real_imgs.npy", (real.transpose(0, 3, 1, 2) / 255.0).astype(np.float32))
    result = run("--real", tmp_path / "real", "--fake", tmp_path / "real_imgs.npy", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["precision"] == 1.0

    # greyscale mode: one channel
    result = run("--real", tmp_path / "real", "--fake", tmp_path / "real", "--image-mode", "L", "--out", out)
    assert json.loads(out.read_text())["config"]["dim"] == 25


def test_no_fid_and_no_prdc_skip_their_metrics(tmp_path, feature_files):
    from modecover.metrics.fid import fid

    real, fake, real_path, fake_path = feature_files
    full = run("--real", real_path, "--fake", fake_path, "--out", tmp_path / "full.json")
    assert full.exit_code == 0, full.output
    everything = json.loads((tmp_path / "full.json").read_text())
    result = run("--real", real_path, "--fake", fake_path, "--no-fid", "--out", tmp_path / "a.json")
    assert result.exit_code == 0, result.output
    no_fid = json.loads((tmp_path / "a.json").read_text())
    assert "fid" not in no_fid and "fid" not in no_fid["runs"]["evaluate"]["metrics"]
    assert {k: no_fid[k] for k in ("precision", "recall", "density", "coverage")} == \
        {k: everything[k] for k in ("precision", "recall", "density", "coverage")}
    result = run("--real", real_path, "--fake", fake_path, "--no-prdc", "--kid", "--out", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    no_prdc = json.loads((tmp_path / "b.json").read_text())
    assert not {"precision", "recall", "density", "coverage"} & set(no_prdc)
    assert no_prdc["fid"] == pytest.approx(fid(real, fake)) and "kid" in no_prdc
    # with PRDC skipped, a fake set smaller than k + 1 is no error
    np.save(tmp_path / "two.npy", fake[:2])
    assert run("--real", real_path, "--fake", tmp_path / "two.npy", "--no-prdc").exit_code == 0
    nothing = run("--real", real_path, "--fake", fake_path, "--no-prdc", "--no-fid")
    assert nothing.exit_code == 2 and "leave nothing to compute" in nothing.output


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize(
    "fake_array, message",
    [
        (np.array([[0.0, np.nan, 1.0, 2.0]] * 10), r"fake_bad\.npy: 10 non-finite value\(s\)"),
        (np.zeros((10, 3)), r"has 4 feature columns but fake .*fake_bad\.npy.* has 3"),
        (np.arange(40.0), r"fake_bad\.npy: a 1-D array \(shape \(40,\)\) is ambiguous; save 40 samples of one feature "
                          r"as shape \(40, 1\) \(x\.reshape\(-1, 1\)\), or one sample as shape \(1, 40\)"),
    ],
)
def test_bad_fake_arrays(tmp_path, feature_files, fake_array, message):
    _, _, real_path, _ = feature_files
    np.save(tmp_path / "fake_bad.npy", fake_array)
    result = run("--real", real_path, "--fake", tmp_path / "fake_bad.npy", "--out", tmp_path / "o.json")
    assert result.exit_code == 1
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "o.json").exists()


def test_bad_invocations(tmp_path, feature_files):
    _, _, real_path, fake_path = feature_files
    (tmp_path / "empty.npy").write_bytes(b"")
    result = run("--real", real_path, "--fake", tmp_path / "empty.npy")
    assert result.exit_code == 1 and "empty.npy: the file is empty" in result.output
    result = run("--real", real_path, "--fake", tmp_path / "missing.npy")
    assert result.exit_code == 1 and "missing.npy: no such file" in result.output
    result = run("--real", real_path)
    assert result.exit_code == 2 and "give both --real R and --fake F" in result.output
    result = run("--example", "--real", real_path)
    assert result.exit_code == 2 and "--example takes no --real/--fake" in result.output
    result = run("--real", real_path, "--fake", fake_path, "--mixture", "ring")
    assert result.exit_code == 1 and "has 4 feature columns, mode metrics need 2-D points" in result.output
    result = run("--real", real_path, "--fake", fake_path, "--is")
    assert result.exit_code == 1 and "--is needs class logits" in result.output
    np.save(tmp_path / "logits.npy", np.zeros((3, 10)))
    result = run("--real", real_path, "--fake", fake_path, "--is", "--fake-logits", tmp_path / "logits.npy")
    assert result.exit_code == 1 and "3 rows of logits but 50 fakes" in result.output
    empty_dir = tmp_path / "no_images"
    empty_dir.mkdir()
    result = run("--real", empty_dir, "--fake", fake_path)
    assert result.exit_code == 1 and "no_images: no image files found" in result.output
    for option, value in (("--k-pr", 0), ("--k-dc", -1), ("--kid-subset-size", 1), ("--image-size", 0)):
        result = run("--real", real_path, "--fake", fake_path, option, value)
        assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output, result.output


def test_extractor_shape_errors_name_the_file(tmp_path):
    np.save(tmp_path / "imgs.npy", np.zeros((10, 1, 4, 4)))
    result = run("--real", tmp_path / "imgs.npy", "--fake", tmp_path / "imgs.npy", "--extractor", "identity")
    assert result.exit_code == 1 and "imgs.npy: the identity extractor needs vectors (N, D)" in result.output
    np.save(tmp_path / "vec.npy", np.zeros((10, 4)))
    result = run("--real", tmp_path / "vec.npy", "--fake", tmp_path / "vec.npy", "--extractor", "inception")
    assert result.exit_code == 1 and "vec.npy: the inception extractor needs images (N, C, H, W)" in result.output


def test_features_against_images_are_refused_not_compared(tmp_path, rng):
    np.save(tmp_path / "vec.npy", rng.random((20, 4)))
    np.save(tmp_path / "imgs.npy", rng.random((20, 1, 2, 2)))  # as wide as vec.npy once flattened
    result = run("--real", tmp_path / "vec.npy", "--fake", tmp_path / "imgs.npy", "--out", tmp_path / "o.json")
    assert result.exit_code == 1 and not (tmp_path / "o.json").exists()
    assert "vec.npy) has shape (20, 4) and gets identity features" in result.output
    assert "imgs.npy) has shape (20, 1, 2, 2) and gets pixels features" in result.output
    assert "pass --extractor pixels" in result.output
    result = run("--real", tmp_path / "vec.npy", "--fake", tmp_path / "imgs.npy", "--extractor", "pixels")
    assert result.exit_code == 0, result.output


def test_image_size_too_large_for_memory_is_refused_before_decoding(tmp_path, rng, monkeypatch):
    import modecover._checks

    _folder(tmp_path / "real", rng.integers(0, 256, (3, 5, 5, 3)))
    (tmp_path / "real" / "zz_broken.png").write_bytes(b"not a png")  # never reached: nothing is decoded
    monkeypatch.setattr(modecover._checks, "available_memory_bytes", lambda: 2**30)
    result = run("--real", tmp_path / "real", "--fake", tmp_path / "real", "--image-size", 100000)
    assert result.exit_code == 1, result.output
    assert re.search(r"real: 4 image\(s\) of 3 x 100000 x 100000 as float32 needs [\d.]+ GiB but only 1\.0 GiB",
                     " ".join(result.output.split())), result.output
    assert "--image-size" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------ extractors

def test_pixels_identity_and_batched_extract(rng):
    x = torch.from_numpy(rng.random((7, 2, 3, 3)).astype(np.float32))
    assert np.array_equal(Pixels()(x), x.reshape(7, -1).numpy())
    assert np.array_equal(extract(Pixels(), x, batch_size=3), x.reshape(7, -1).numpy())
    v = rng.standard_normal((5, 3))
    assert np.array_equal(extract(Identity(), v, batch_size=2), v)
    with pytest.raises(ValueError, match="identity extractor: expected vectors"):
        Identity()(x)
    bad = x.clone()
    bad[3, 1, 2, 0] = float("inf")
    with pytest.raises(ValueError, match=r"pixels input: 1 non-finite value\(s\); first is inf at row 3, column 15"):
        Pixels()(bad)
    with pytest.raises(ValueError, match="batch is empty"):
        Pixels()(torch.zeros(0, 3))
    for batch_size in (0, True, 2.0):  # True was taken as batches of 1
        with pytest.raises(ValueError, match=f"^batch_size must be a positive integer, got {batch_size!r}$"):
            extract(Pixels(), x, batch_size=batch_size)


def test_get_extractor_errors():
    assert get_extractor("pixels").name == "pixels"
    assert isinstance(get_extractor("identity"), FeatureExtractor) and not isinstance(object(), FeatureExtractor)
    with pytest.raises(ValueError, match=r"unknown feature extractor 'clip'; "
                                         r"choose one of \['dinov2', 'identity', 'inception', 'pixels'\]"):
        get_extractor("clip")
    with pytest.raises(ValueError, match=r"'pixels' does not take option\(s\) \['size'\]"):
        get_extractor("pixels", size=3)


def test_inception_missing_weights_and_package(tmp_path, monkeypatch):
    monkeypatch.delenv(inception_mod.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv("MODECOVER_OFFLINE", raising=False)
    monkeypatch.setenv("MODECOVER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as info:  # offline: the cached file is needed
        inception_mod.resolve_weights_path(None, offline=True)
    msg = str(info.value)
    assert inception_mod.WEIGHTS_FILE in msg and inception_mod.WEIGHTS_URL in msg and "offline" in msg
    assert str(tmp_path / "cache" / inception_mod.WEIGHTS_FILE) in msg and "local path" in msg
    with pytest.raises(FileNotFoundError) as info:
        inception_mod.resolve_weights_path(tmp_path / "w.pth")
    msg = str(info.value)
    assert "no file at" in msg and "w.pth" in msg and inception_mod.WEIGHTS_FILE in msg
    assert "--inception-weights" in msg and inception_mod.WEIGHTS_ENV in msg and "downloads it once" in msg
    monkeypatch.setenv(inception_mod.WEIGHTS_ENV, str(tmp_path / "w.pth"))
    with pytest.raises(FileNotFoundError, match=r"no file at .*w\.pth"):
        inception_mod.resolve_weights_path(None)
    # without a path: the cached file, checked against the pinned hash (here: of a stand-in file)
    monkeypatch.delenv(inception_mod.WEIGHTS_ENV)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / inception_mod.WEIGHTS_FILE).write_bytes(b"stand-in weights")
    monkeypatch.setattr(inception_mod, "WEIGHTS_SHA256", hashlib.sha256(b"stand-in weights").hexdigest())
    assert inception_mod.resolve_weights_path(None, offline=True) == tmp_path / "cache" / inception_mod.WEIGHTS_FILE
    (tmp_path / "cache" / inception_mod.WEIGHTS_FILE).unlink()

    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", None)
    with pytest.raises(ImportError, match=r"pip install 'modecover\[inception\]'"):
        get_extractor("inception", weights_path=tmp_path / "w.pth")

    # through the CLI, once torch-fidelity imports: the missing file is named
    monkeypatch.setattr(inception_mod, "_inception_class", lambda: object)
    np.save(tmp_path / "imgs.npy", np.zeros((8, 3, 4, 4)))
    result = run("--real", tmp_path / "imgs.npy", "--fake", tmp_path / "imgs.npy", "--extractor", "inception",
                 "--inception-weights", tmp_path / "nope.pth")
    assert result.exit_code == 1 and "nope.pth" in result.output and inception_mod.WEIGHTS_FILE in result.output
    # --offline (or $MODECOVER_OFFLINE=1) with nothing cached: the file to fetch is named, nothing is fetched
    result = run("--real", tmp_path / "imgs.npy", "--fake", tmp_path / "imgs.npy", "--extractor", "inception",
                 "--offline")
    assert result.exit_code == 1 and inception_mod.WEIGHTS_FILE in result.output and "offline" in result.output
    monkeypatch.setenv("MODECOVER_OFFLINE", "1")
    result = run("--real", tmp_path / "imgs.npy", "--fake", tmp_path / "imgs.npy", "--extractor", "inception")
    assert result.exit_code == 1 and inception_mod.WEIGHTS_FILE in result.output and "offline" in result.output
    assert not (tmp_path / "cache" / inception_mod.WEIGHTS_FILE).exists()
    monkeypatch.delenv("MODECOVER_OFFLINE")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.pth: not a readable InceptionV3 state dict"):
        inception_mod.InceptionV3(tmp_path / "junk.pth")


class FakeInception:
    """Stands in for InceptionV3 in the CLI wiring test: a fixed projection of the pixels."""

    name = "inception"

    def __init__(self, weights_path=None, *, output="pool", value_range=(0.0, 1.0), device="cpu", offline=None):
        self.weights_path = weights_path

    def features_and_logits(self, x):
        flat = x.reshape(len(x), -1).double().numpy()
        return flat[:, :6] * 2.0, flat[:, -4:]

    def __call__(self, x):
        return self.features_and_logits(x)[0]


def test_cli_inception_path_wiring(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(inception_mod, "InceptionV3", FakeInception)
    real = rng.random((20, 3, 4, 4)).astype(np.float32)
    fake = rng.random((15, 3, 4, 4)).astype(np.float32)
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)
    out = tmp_path / "r.json"
    result = run("--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy", "--extractor", "inception",
                 "--inception-weights", "w.pth", "--is", "--is-splits", 3, "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    from modecover.metrics.inception_score import inception_score

    real_f, fake_f = real.reshape(20, -1)[:, :6] * 2.0, fake.reshape(15, -1)[:, :6] * 2.0
    ref = reference_prdc(real_f.astype(np.float64), fake_f.astype(np.float64), 3, 5)
    assert {k: data[k] for k in ref} == pytest.approx(ref, abs=1e-12)
    assert [data["is"], data["is_std"]] == pytest.approx(
        list(inception_score(fake.reshape(15, -1)[:, -4:].astype(np.float64), splits=3)))
    assert data["config"]["extractor"] == "inception"


# ------------------------------------------------------------------ the real InceptionV3 (torch-fidelity)

@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """torch-fidelity's InceptionV3 with random weights, saved as a state-dict file
    (the real weights cannot be downloaded here). torchvision is stubbed: only the
    Inception module of torch-fidelity is used and it does not need torchvision."""
    with fidelity_inception_module() as module:
        net = random_fidelity_inception(module, "reference", ["2048", "logits_unbiased"], seed=0)
        path = tmp_path_factory.mktemp("inception") / inception_mod.WEIGHTS_FILE
        torch.save(net.state_dict(), path)
        yield path, net


def test_inception_matches_torch_fidelity_network(inception_weights, monkeypatch):
    path, reference = inception_weights
    monkeypatch.setenv(inception_mod.WEIGHTS_ENV, str(path))
    extractor = get_extractor("inception")  # weights from the environment variable
    x = torch.tensor([[[[0.0, 0.5], [1.0, 0.2]]], [[[1.0, 1.0], [0.0, 0.3]]]])  # (2, 1, 2, 2) grey
    images = extractor.to_uint8(x)
    expected_uint8 = torch.round(x * 255).to(torch.uint8).repeat(1, 3, 1, 1)
    assert torch.equal(images, expected_uint8)
    pool, logits = extractor.features_and_logits(x)
    ref_pool, ref_logits = reference(expected_uint8)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
    assert np.array_equal(pool, ref_pool.double().numpy()) and np.array_equal(logits, ref_logits.double().numpy())
    sym = get_extractor("inception", weights_path=path, value_range=(-1.0, 1.0), output="logits")
    assert torch.equal(sym.to_uint8(2 * x - 1), expected_uint8)
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\) with C = 1 or 3"):
        sym.to_uint8(torch.zeros(2, 2, 4, 4))


def test_pixel_ranges_of_image_arrays(tmp_path, rng):
    unit = rng.random((20, 1, 4, 4)).astype(np.float32)
    np.save(tmp_path / "unit.npy", unit)
    np.save(tmp_path / "sym.npy", 2 * unit - 1)
    np.save(tmp_path / "byte.npy", np.round(unit * 255).astype(np.uint8))
    out = tmp_path / "r.json"
    result = run("--real", tmp_path / "unit.npy", "--fake", tmp_path / "sym.npy")
    assert result.exit_code == 1
    assert "sym.npy: image values span" in result.output and "pass --fake-range symmetric" in result.output
    assert run("--real", tmp_path / "unit.npy", "--fake", tmp_path / "sym.npy", "--fake-range", "symmetric",
               "--out", out).exit_code == 0
    data = json.loads(out.read_text())
    assert data["precision"] == data["recall"] == 1.0 and abs(data["fid"]) < 1e-8  # same images after mapping
    result = run("--real", tmp_path / "byte.npy", "--fake", tmp_path / "unit.npy")
    assert result.exit_code == 1 and "pass --real-range byte" in result.output
    assert run("--real", tmp_path / "byte.npy", "--real-range", "byte", "--fake", tmp_path / "unit.npy",
               "--out", out).exit_code == 0
    assert json.loads(out.read_text())["precision"] == 1.0
    np.save(tmp_path / "vec.npy", rng.random((20, 3)))
    result = run("--real", tmp_path / "vec.npy", "--real-range", "byte", "--fake", tmp_path / "vec.npy")
    assert result.exit_code == 1 and "--real-range would do nothing (it applies to image arrays" in result.output
