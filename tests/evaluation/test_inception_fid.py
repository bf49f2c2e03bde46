"""FID of two image folders through ``modecover.evaluation`` with the inception extractor
equals torch-fidelity's own computation (its InceptionV3 and its FID functions) on the same
PNG files and the same weights file; the weights reach modecover through the download
path (an HTTP server on 127.0.0.1 that the test starts, into a cache folder in tmp)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import (
    fidelity_inception_module,
    import_reference,
    local_http_server,
    random_fidelity_inception,
    stub_torchvision,
)
from modecover import weights
from modecover.evaluation import LoadOptions, MetricOptions, evaluate_files
from modecover.features import inception as inception_mod


@pytest.fixture(scope="module")
def fidelity(tmp_path_factory):
    """torch-fidelity (imported against empty torchvision stand-ins) and a weights file of
    its InceptionV3 with random weights: the real ones are not downloaded in tests."""
    with fidelity_inception_module() as module:
        metric_fid = import_reference("torch_fidelity.metric_fid")
        random_net = random_fidelity_inception(module, "random", ["2048"], seed=1)
        for layer in random_net.modules():  # He init: the default init shrinks the pool features to ~1e-7
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
        torch.save(random_net.state_dict(), path)
        # the reference network, loaded from the file as torch-fidelity loads its own weights
        reference = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                       feature_extractor_weights_path=str(path)).eval()
        yield path, reference, metric_fid


def write_pngs(folder, rng, n, size, shift) -> None:
    """``n`` PNG files of ``size`` (W, H): RGB, one greyscale and one RGBA among them."""
    folder.mkdir()
    for i in range(n):
        pixels = np.clip(rng.normal(128 + shift, 60, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        if i == 1:
            image = image.convert("L")
        elif i == 2:
            image = image.convert("RGBA")
        image.save(folder / f"img_{i:02d}.png")


def reference_features(folder, net) -> torch.Tensor:
    """torch-fidelity's features of a folder: each file read as its image-folder dataset reads
    it (Pillow, converted to RGB, uint8 channel-first), one batch through its network."""
    files = sorted(folder.glob("*.png"))
    images = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])
    with torch.no_grad():
        return net(torch.from_numpy(images))[0]


@pytest.fixture
def served_weights(fidelity, tmp_path, monkeypatch):
    """The random weights file at a URL on 127.0.0.1, pinned by its sha256 as the real file's
    URL and hash are; an empty cache folder; no weights path in the environment."""
    body = fidelity[0].read_bytes()
    with local_http_server({"/w.pth": (body, "ok")}) as httpd:
        monkeypatch.setattr(inception_mod, "WEIGHTS_URL", f"{httpd.url}/w.pth")
        monkeypatch.setattr(inception_mod, "WEIGHTS_SHA256", hashlib.sha256(body).hexdigest())
        monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
        monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)
        monkeypatch.delenv(inception_mod.WEIGHTS_ENV, raising=False)
        yield httpd


@pytest.mark.slow  # torch-fidelity's FID takes the eigenvalues of a non-symmetric 2048 x 2048 matrix
def test_image_folder_fid_equals_torch_fidelity(fidelity, served_weights, tmp_path, monkeypatch):
    _, reference, metric_fid = fidelity
    rng = np.random.default_rng(0)
    write_pngs(tmp_path / "real", rng, 7, (40, 32), 0)  # 6 + 1: the fewest PRDC's default k = 5 takes
    write_pngs(tmp_path / "fake", rng, 6, (40, 32), 25)
    stub_torchvision(monkeypatch)  # modecover imports torch-fidelity's network module too
    evaluation = evaluate_files(str(tmp_path / "real"), str(tmp_path / "fake"),
                                load=LoadOptions(extractor="inception"), metrics=MetricOptions())
    assert len(served_weights.requests) == 1  # fetched into the cache folder on first use
    assert (tmp_path / "cache" / "w.pth").read_bytes() == served_weights.files["/w.pth"][0]

    ref_real = reference_features(tmp_path / "real", reference)
    ref_fake = reference_features(tmp_path / "fake", reference)
    # the same uint8 pixels through the same network: the same features, bit for bit
    assert np.array_equal(evaluation.real.features, ref_real.double().numpy())
    assert np.array_equal(evaluation.fake.features, ref_fake.double().numpy())
    want = metric_fid.fid_statistics_to_metric(metric_fid.fid_features_to_statistics(ref_real),
                                               metric_fid.fid_features_to_statistics(ref_fake), verbose=False)
    want = want[metric_fid.KEY_METRIC_FID]
    spread = ref_real.double().std(0).mean().item()  # features that differ between images
    assert spread > 0.01 and want > 0.1 * spread ** 2 * ref_real.shape[1]
    assert evaluation.results["fid"] == pytest.approx(want, rel=1e-4)

    # a second extractor reads the cached file: no request; offline is then fine too
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    again = inception_mod.InceptionV3()
    assert again.weights_path == tmp_path / "cache" / "w.pth" and len(served_weights.requests) == 1
