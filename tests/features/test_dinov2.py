"""The DINOv2 extractor against Hugging Face transformers' Dinov2Model (same random weights,
converted to the official checkpoint names), its preprocessing against Pillow, and its errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from modecover.features import EXTRACTORS, extract, get_extractor
from modecover.features import dinov2 as dinov2_mod
from modecover.features.dinov2 import DINOv2, DinoViT, ViTConfig, preprocess

transformers = pytest.importorskip("transformers")

WIDTH, DEPTH, HEADS, GRID = 48, 2, 4, 4  # a tiny ViT: 4 x 4 patches of 14 pixels at its own size (56)


def hf_model(swiglu: bool, seed: int = 0):
    """A random transformers.Dinov2Model of the tiny shape; every parameter random (LayerNorm,
    LayerScale and tokens included), so a wrongly mapped tensor cannot go unnoticed."""
    config = transformers.Dinov2Config(hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=HEADS,
                                       image_size=GRID * 14, patch_size=14, use_swiglu_ffn=swiglu)
    model = transformers.Dinov2Model(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


def official_names(hf_state: dict, swiglu: bool) -> dict:
    """transformers' Dinov2Model parameter names -> the official DINOv2 checkpoint's."""
    out = {
        "cls_token": hf_state["embeddings.cls_token"],
        "pos_embed": hf_state["embeddings.position_embeddings"],
        "mask_token": hf_state["embeddings.mask_token"],
        "patch_embed.proj.weight": hf_state["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": hf_state["embeddings.patch_embeddings.projection.bias"],
        "norm.weight": hf_state["layernorm.weight"],
        "norm.bias": hf_state["layernorm.bias"],
    }
    for i in range(DEPTH):
        hf, ours = f"encoder.layer.{i}.", f"blocks.{i}."
        out[ours + "ls1.gamma"] = hf_state[hf + "layer_scale1.lambda1"]
        out[ours + "ls2.gamma"] = hf_state[hf + "layer_scale2.lambda1"]
        for t in ("weight", "bias"):
            out[ours + f"norm1.{t}"] = hf_state[hf + f"norm1.{t}"]
            out[ours + f"norm2.{t}"] = hf_state[hf + f"norm2.{t}"]
            out[ours + f"attn.qkv.{t}"] = torch.cat([hf_state[hf + f"attention.{x}_proj.{t}"] for x in "qkv"])
            out[ours + f"attn.proj.{t}"] = hf_state[hf + f"attention.o_proj.{t}"]
            if swiglu:  # official w12 = [gate; up], silu on the first half
                out[ours + f"mlp.w12.{t}"] = torch.cat([hf_state[hf + f"mlp.gate_proj.{t}"],
                                                        hf_state[hf + f"mlp.up_proj.{t}"]])
                out[ours + f"mlp.w3.{t}"] = hf_state[hf + f"mlp.down_proj.{t}"]
            else:
                out[ours + f"mlp.fc1.{t}"] = hf_state[hf + f"mlp.fc1.{t}"]
                out[ours + f"mlp.fc2.{t}"] = hf_state[hf + f"mlp.fc2.{t}"]
    return out


def tiny_config(swiglu: bool = False, offset: float = 0.0) -> ViTConfig:
    return ViTConfig(WIDTH, DEPTH, HEADS, grid=GRID, ffn="swiglu" if swiglu else "mlp", interpolate_offset=offset)


@pytest.fixture(scope="module")
def pair():
    """(transformers model, its weights under the official names) of the plain-MLP tiny ViT."""
    model = hf_model(False)
    return model, official_names(model.state_dict(), False)


@pytest.fixture
def weights_file(pair, tmp_path):
    path = tmp_path / "tiny_pretrain.pth"
    torch.save(pair[1], path)
    return path


# ------------------------------------------------------------------ the network

@pytest.mark.parametrize("swiglu", [False, True])
def test_network_matches_transformers(swiglu):
    """Same weights, same pixels: the CLS token after the final norm equals transformers'
    pooler output, at the grid's own size and (resampled position embeddings) at others."""
    hf = hf_model(swiglu, seed=1)
    state = official_names(hf.state_dict(), swiglu)
    torch.manual_seed(2)
    for offset in (0.1, 0.0):
        ours = DinoViT(tiny_config(swiglu, offset)).eval()
        ours.load_state_dict(state, strict=True)
        sizes = [(56, 56)] if offset else [(56, 56), (84, 84), (42, 70), (14, 28)]
        for size in sizes:  # transformers resamples to the size (offset 0); 56 x 56 needs no resampling
            x = torch.randn(3, 3, *size)
            with torch.no_grad():
                got, want = ours(x), hf(pixel_values=x).pooler_output
            assert got.shape == (3, WIDTH)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def _cubic_weights(t: float, a: float = -0.75) -> np.ndarray:
    """Keys' cubic-convolution weights of the 4 taps around a point at fraction t (a = -0.75,
    torch's bicubic without antialiasing)."""
    def k(d):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
        if d < 2:
            return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
        return 0.0
    return np.array([k(t + 1), k(t), k(1 - t), k(2 - t)])


def _resample_axis(values: np.ndarray, n_out: int, scale: float, axis: int) -> np.ndarray:
    """Bicubic resampling of one axis, output i sampling the input at (i + 0.5) / scale - 0.5
    (edge taps clamped), in float64."""
    values = np.moveaxis(values, axis, 0)
    n_in = values.shape[0]
    out = np.empty((n_out,) + values.shape[1:])
    for i in range(n_out):
        src = (i + 0.5) / scale - 0.5
        base = int(np.floor(src))
        taps = np.clip(np.arange(base - 1, base + 3), 0, n_in - 1)
        out[i] = np.tensordot(_cubic_weights(src - base), values[taps], axes=(0, 0))
    return np.moveaxis(out, 0, axis)


def test_official_offset_resamples_with_scale_factors(pair):
    """With the official offset 0.1 the 4 x 4 grid is resampled with scale factors
    (rows + 0.1) / 4 and (cols + 0.1) / 4 (not to the size): equal to a float64 bicubic
    written out here, and measurably different from transformers' size-based table."""
    ours = DinoViT(tiny_config(offset=0.1)).eval()
    ours.load_state_dict(pair[1])
    sized = DinoViT(tiny_config(offset=0.0)).eval()
    sized.load_state_dict(pair[1])
    stored = pair[1]["pos_embed"]
    assert torch.equal(ours.position_table(GRID, GRID), stored)
    grid = stored[0, 1:].double().numpy().reshape(GRID, GRID, WIDTH)
    for rows, cols in ((6, 6), (3, 5), (16, 16)):
        want = _resample_axis(grid, rows, (rows + 0.1) / GRID, 0)
        want = _resample_axis(want, cols, (cols + 0.1) / GRID, 1).reshape(rows * cols, WIDTH)
        with torch.no_grad():
            table = ours.position_table(rows, cols)
            other = sized.position_table(rows, cols)
        assert table.shape == (1, 1 + rows * cols, WIDTH)
        assert torch.equal(table[0, 0], stored[0, 0])  # the CLS position is never resampled
        np.testing.assert_allclose(table[0, 1:].double().numpy(), want, atol=1e-5, rtol=0)
        assert (table - other).abs().max() > 1e-3


# ------------------------------------------------------------------ preprocessing

def _pil_reference(images: np.ndarray, size: int) -> np.ndarray:
    """dgm-eval's clean-resize path: each channel as a Pillow float ('F') image of 0..255
    values, bicubic resize, clip to 0..255, / 255, ImageNet normalisation."""
    from PIL import Image

    out = np.empty((len(images), 3, size, size))
    for n, img in enumerate(images):
        img = np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img
        for c in range(3):
            channel = Image.fromarray((img[c] * 255).astype(np.float32), mode="F")
            out[n, c] = np.asarray(channel.resize((size, size), Image.BICUBIC)).clip(0, 255) / 255
    mean = np.array(dinov2_mod.IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = np.array(dinov2_mod.IMAGENET_STD).reshape(1, 3, 1, 1)
    return (out - mean) / std


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Pillow's mode= argument
@pytest.mark.parametrize("shape", [(2, 3, 300, 260), (2, 3, 32, 32), (2, 1, 17, 50), (1, 3, 224, 224)])
def test_preprocess_matches_pillow(shape, rng):
    """Shrinking, enlarging, grey and same-size images: the float pixels equal Pillow's
    bicubic resize of the same values (to float32 rounding) after the normalisation."""
    images = rng.random(shape).astype(np.float32)
    got = preprocess(torch.from_numpy(images), image_size=224).double().numpy()
    assert got.shape == (shape[0], 3, 224, 224)
    np.testing.assert_allclose(got, _pil_reference(images, 224), atol=1e-4, rtol=0)


def test_preprocess_grey_value_range_and_no_resize(rng):
    images = rng.random((3, 1, 28, 42)).astype(np.float32)
    grey = preprocess(torch.from_numpy(images), image_size=56)
    rgb = preprocess(torch.from_numpy(np.repeat(images, 3, axis=1)), image_size=56)
    assert torch.equal(grey, rgb)  # a grey channel is repeated to RGB, as PIL's convert('RGB')
    symmetric = preprocess(torch.from_numpy(2 * images - 1), image_size=56, value_range=(-1.0, 1.0))
    torch.testing.assert_close(symmetric, grey, atol=1e-5, rtol=0)
    kept = preprocess(torch.from_numpy(images), image_size=None)  # 28 x 42: multiples of 14, kept
    mean, std = dinov2_mod.IMAGENET_MEAN[1], dinov2_mod.IMAGENET_STD[1]
    torch.testing.assert_close(kept[:, 1], (torch.from_numpy(images[:, 0]) - mean) / std)


# ------------------------------------------------------------------ the extractor

def test_extractor_features_equal_transformers(pair, weights_file, rng):
    """get_extractor('dinov2', ...) on images of any size: preprocess, then the network;
    features equal transformers' pooler output on the same preprocessed pixels, in any batching."""
    hf = pair[0]
    images = rng.random((7, 3, 40, 30)).astype(np.float32)
    extractor = get_extractor("dinov2", arch=tiny_config(), weights_path=weights_file, image_size=70,
                              device="cpu", batch_size=3)
    feats = extract(extractor, images, batch_size=5)
    assert feats.shape == (7, WIDTH) and feats.dtype == np.float64
    with torch.no_grad():
        want = hf(pixel_values=preprocess(torch.from_numpy(images), image_size=70)).pooler_output
    np.testing.assert_allclose(feats, want.double().numpy(), atol=1e-5, rtol=0)
    whole = DINOv2(tiny_config(), weights_file, image_size=70, device="cpu", batch_size=64)(images)
    np.testing.assert_allclose(whole, feats, atol=1e-6, rtol=0)
    grey = rng.random((4, 1, 20, 20)).astype(np.float32)
    np.testing.assert_array_equal(extractor(grey), extractor(np.repeat(grey, 3, axis=1)))


def test_default_extractor_is_vitl14_at_224(monkeypatch, tmp_path):
    """The defaults are dgm-eval's: ViT-L/14 (1024-d) on 224 x 224 images. The architecture
    is swapped for a tiny one of the same name so no 1.2 GB file is needed."""
    assert EXTRACTORS["dinov2"] == ("modecover.features.dinov2", "DINOv2")
    official = dinov2_mod.ARCHS["vitl14"]
    assert (official.embed_dim, official.depth, official.num_heads, official.grid, official.ffn) == (1024, 24, 16,
                                                                                                      37, "mlp")
    assert official.url == "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
    assert dinov2_mod.ARCHS["vitg14"].ffn == "swiglu" and dinov2_mod.ARCHS["vitg14"].hidden_dim == 4096
    seen = {}
    monkeypatch.setattr(dinov2_mod, "_weights_file", lambda arch, config, path, offline: seen.setdefault(
        "args", (arch, config, path, offline)) and tmp_path / "w.pth")
    torch.save(DinoViT(tiny_config(offset=0.1)).state_dict(), tmp_path / "w.pth")
    monkeypatch.setitem(dinov2_mod.ARCHS, "vitl14", tiny_config(offset=0.1))
    extractor = DINOv2(device="cpu")
    assert seen["args"][0] == "vitl14" and extractor.image_size == 224 and extractor.name == "dinov2"
    assert extractor(torch.rand(2, 3, 10, 12)).shape == (2, WIDTH)


def test_weights_from_the_cache_folder(monkeypatch, tmp_path, pair):
    """Without weights_path the official file is taken from the cache folder, checked
    against the pinned sha256 (here: of a stand-in file); offline, a missing file is named."""
    pytest.importorskip("modecover.weights")
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("MODECOVER_CACHE", str(cache))
    monkeypatch.delenv("MODECOVER_OFFLINE", raising=False)
    url = "https://example.invalid/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth"
    torch.save(pair[1], cache / "dinov2_vits14_pretrain.pth")
    digest = hashlib.sha256((cache / "dinov2_vits14_pretrain.pth").read_bytes()).hexdigest()
    config = ViTConfig(WIDTH, DEPTH, HEADS, grid=GRID, url=url, sha256=digest)
    monkeypatch.setitem(dinov2_mod.ARCHS, "vits14", config)
    extractor = DINOv2("vits14", offline=True, device="cpu", image_size=56)
    assert extractor.weights_path == cache / "dinov2_vits14_pretrain.pth"
    (cache / "dinov2_vits14_pretrain.pth").unlink()
    with pytest.raises(FileNotFoundError, match=r"dinov2_vits14_pretrain\.pth.*offline") as info:
        DINOv2("vits14", offline=True, device="cpu")
    assert url in str(info.value)


# ------------------------------------------------------------------ errors

def test_bad_images_are_named(weights_file):
    extractor = DINOv2(tiny_config(), weights_file, device="cpu", image_size=None)
    with pytest.raises(ValueError, match=r"10x10 pixels .* smaller than the patch size 14; pass image_size"):
        extractor(torch.rand(2, 3, 10, 10))
    with pytest.raises(ValueError, match=r"20x28 pixels .* not a multiple of the patch size 14"):
        extractor(torch.rand(2, 3, 20, 28))
    with pytest.raises(ValueError, match=r"C = 1 or 3, got shape \(2, 2, 28, 28\)"):
        extractor(torch.rand(2, 2, 28, 28))
    with pytest.raises(ValueError, match=r"C = 1 or 3, got shape \(2, 784\)"):
        extractor(torch.rand(2, 784))
    with pytest.raises(ValueError, match="NaN or infinite"):
        extractor(torch.full((1, 3, 28, 28), float("nan")))


@pytest.mark.parametrize("options, message", [
    ({"mlp_ratio": 0}, r"^ViTConfig\.mlp_ratio must be a finite number > 0, got 0$"),
    ({"mlp_ratio": True}, r"^ViTConfig\.mlp_ratio must be a finite number > 0, got True$"),
    ({"interpolate_offset": 1.0}, r"^ViTConfig\.interpolate_offset must be a finite number in \[0, 1\), got 1\.0$"),
    ({"interpolate_offset": "0.1"}, r"^ViTConfig\.interpolate_offset must be a finite number in \[0, 1\), got '0\.1'$"),
    ({"depth": True}, r"^ViTConfig\.depth must be a positive integer, got True$"),
])
def test_vit_config_errors_name_the_option_and_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        ViTConfig(**{"embed_dim": 8, "depth": 1, "num_heads": 2, **options})


def test_bad_options_and_files_are_named(weights_file, tmp_path):
    with pytest.raises(ValueError, match=r"arch must be one of \['vitb14', 'vitg14', 'vitl14', 'vits14'\]"):
        DINOv2("vith14", weights_file)
    with pytest.raises(ValueError, match="image_size must be a multiple of the patch size 14, got 100"):
        DINOv2(tiny_config(), weights_file, image_size=100)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DINOv2(tiny_config(), weights_file, batch_size=0)
    with pytest.raises(ValueError, match="a custom ViTConfig has no official weights; pass weights_path"):
        DINOv2(tiny_config())
    with pytest.raises(FileNotFoundError, match=r"no file at .*nothere\.pth \(the official file: https://dl\."):
        DINOv2("vits14", tmp_path / "nothere.pth")
    with pytest.raises(ValueError, match=r"not the weights of DINOv2 custom .*wrong shape: .*width 48, 2 blocks"):
        DINOv2(ViTConfig(64, DEPTH, HEADS, grid=GRID), weights_file)
    state = torch.load(weights_file, weights_only=True)
    torch.save({**state, "register_tokens": torch.zeros(1, 4, WIDTH)}, tmp_path / "reg.pth")
    with pytest.raises(ValueError, match="a DINOv2 model with registers"):
        DINOv2(tiny_config(), tmp_path / "reg.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth: not a readable DINOv2 state dict"):
        DINOv2(tiny_config(), tmp_path / "junk.pth")
    with pytest.raises(ValueError, match=r"unknown feature extractor 'dinov3'; choose one of .*'dinov2'"):
        get_extractor("dinov3")
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['weights'\]"):
        get_extractor("dinov2", weights=weights_file)


# ------------------------------------------------------------------ the metrics and the audit in DINOv2 space

def test_evaluate_files_in_dinov2_space(monkeypatch, tmp_path, rng, weights_file):
    """evaluate_files(--extractor dinov2): FD, PRDC, the Vendi score and the explain folder
    are those of the extractor's features (grey fakes, RGB reals: both become RGB)."""
    from modecover.evaluation import LoadOptions, MetricOptions, evaluate_files
    from modecover.explain import explain
    from modecover.metrics import fid, prdc

    monkeypatch.setitem(dinov2_mod.ARCHS, "vits14", tiny_config(offset=0.1))  # the tiny ViT under an official name
    real, fake = rng.random((24, 3, 20, 20)).astype(np.float32), rng.random((18, 1, 20, 20)).astype(np.float32)
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)
    load = LoadOptions(extractor="dinov2", dinov2_arch="vits14", dinov2_weights=str(weights_file), batch_size=10)
    evaluation = evaluate_files(str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), load=load,
                                metrics=MetricOptions(k_pr=3, k_dc=3), explain_dir=tmp_path / "explain")
    extractor = DINOv2(tiny_config(offset=0.1), weights_file, device="cpu")
    real_f, fake_f = extractor(real), extractor(fake)
    np.testing.assert_allclose(evaluation.real.features, real_f, atol=1e-6, rtol=0)
    np.testing.assert_allclose(evaluation.fake.features, fake_f, atol=1e-6, rtol=0)
    assert evaluation.config["extractor"] == "dinov2" and evaluation.config["dim"] == WIDTH
    want = prdc(real_f, fake_f, k_pr=3, k_dc=3)
    assert {k: evaluation.results[k] for k in want} == pytest.approx(want, abs=1e-9)
    assert evaluation.results["fid"] == pytest.approx(fid(real_f, fake_f), rel=1e-6, abs=1e-9)
    assert evaluation.explained["coverage"] == pytest.approx(explain(real_f, fake_f, k=3).coverage, abs=1e-9)
    assert (tmp_path / "explain" / "real.csv").is_file()


def test_audit_in_dinov2_space(monkeypatch, tmp_path, rng, weights_file):
    """modecover audit FOLDER --extractor dinov2: the audit's features are the extractor's
    features of the folder's images; the DINOv2 options are refused with another extractor."""
    import json

    from PIL import Image

    from helpers import cli
    from modecover.data.files import load_audit_data
    from modecover.data.images import load_image_folder

    monkeypatch.setitem(dinov2_mod.ARCHS, "vits14", tiny_config(offset=0.1))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L").save(folder / f"im{i:02d}.png")
    options = {"arch": "vits14", "weights_path": str(weights_file)}
    loaded = load_audit_data(folder, extractor="dinov2", image_mode="L", extractor_options=options)
    want = DINOv2(tiny_config(offset=0.1), weights_file, device="cpu")(load_image_folder(folder, mode="L").images)
    np.testing.assert_allclose(loaded.features, want, atol=1e-6, rtol=0)
    assert loaded.extractor == "dinov2" and loaded.kind == "images"
    args = ["audit", folder, "--image-mode", "L", "--quiet"]
    res = cli(*args, "--out", tmp_path / "out", "--extractor", "dinov2", "--dinov2-arch", "vits14",
              "--dinov2-weights", weights_file)
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["extractor"] == "dinov2" and summary["n"] == 40
    refused = cli(*args, "--out", tmp_path / "a", "--dinov2-weights", weights_file)
    assert refused.exit_code == 1
    assert ("audit: --dinov2-arch and --dinov2-weights would do nothing (they apply to --extractor dinov2"
            in refused.output)
    refused = cli(*args, "--out", tmp_path / "b", "--extractor", "dinov2", "--inception-weights", weights_file)
    assert refused.exit_code == 1
    assert ("audit: --inception-weights would do nothing (it applies to --extractor inception, not dinov2); use "
            "--dinov2-weights") in refused.output


def test_cli_choices_are_the_architectures():
    from modecover.evaluation.features import DINOV2_ARCHS, EXTRACTOR_CHOICES

    assert sorted(DINOV2_ARCHS) == sorted(dinov2_mod.ARCHS) and "dinov2" in EXTRACTOR_CHOICES


def test_evaluate_cli_in_dinov2_space(monkeypatch, tmp_path, rng, weights_file):
    """modecover evaluate --extractor dinov2 writes what evaluate_files computes; the DINOv2
    options without --extractor dinov2 are a usage error."""
    import json

    from helpers import cli
    from modecover.evaluation import LoadOptions, MetricOptions, evaluate_files

    monkeypatch.setitem(dinov2_mod.ARCHS, "vits14", tiny_config(offset=0.1))
    np.save(tmp_path / "real.npy", rng.random((16, 3, 14, 14)).astype(np.float32))
    np.save(tmp_path / "fake.npy", rng.random((12, 3, 14, 14)).astype(np.float32))
    files = ["--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy"]
    res = cli("evaluate", *files, "--extractor", "dinov2", "--dinov2-arch", "vits14", "--dinov2-weights",
              weights_file, "--k-dc", 3, "--out", tmp_path / "r.json", "--explain", tmp_path / "explain")
    assert res.exit_code == 0, res.output
    load = LoadOptions(extractor="dinov2", dinov2_arch="vits14", dinov2_weights=str(weights_file))
    want = evaluate_files(str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), load=load,
                          metrics=MetricOptions(k_dc=3))
    got = json.loads((tmp_path / "r.json").read_text())
    assert {k: got[k] for k in ("precision", "recall", "density", "coverage", "fid", "vendi")} == pytest.approx(
        {k: want.results[k] for k in ("precision", "recall", "density", "coverage", "fid", "vendi")}, abs=1e-9)
    assert got["config"]["extractor"] == "dinov2" and got["config"]["dim"] == WIDTH
    misuse = cli("evaluate", *files, "--dinov2-weights", weights_file)
    assert misuse.exit_code == 2 and "--dinov2-arch and --dinov2-weights apply to --extractor dinov2" in misuse.output
