"""Helpers shared by the tests of several folders (importable as ``helpers``: tests/ is on
pytest's ``pythonpath``). Fixtures built on them live in tests/conftest.py."""

from __future__ import annotations

import contextlib
import csv
import http.server
import importlib
import importlib.util
import os
import pathlib
import sys
import threading
import types

import numpy as np
import pytest
import torch


def ring_data(n: int, seed: int = 0, *, imbalanced: bool = False, labels: bool = False):
    """``n`` points of the 8-mode ring (the PacGAN protocol), drawn with ``seed``, as a float32
    tensor; ``imbalanced=True`` draws the imbalanced ring (modes 1 and 5 rare) instead, and
    ``labels=True`` returns ``(points, mode labels)``."""
    from modecover.data.mixtures import imbalanced_ring, ring

    mixture = imbalanced_ring() if imbalanced else ring()
    points, modes = mixture.sample(n, seed=seed)
    points = torch.from_numpy(points)
    return (points, modes) if labels else points


def ring_mode_metrics(make_model, steps: int, seed: int) -> dict:
    """Mode metrics of 2,500 samples of the model ``make_model()`` (built after
    ``torch.manual_seed(seed)``) after ``steps`` steps of batch 256 on 20,000 points of the
    8-mode ring: the learning test of every likelihood family, a function of ``seed``."""
    from modecover.data.mixtures import ring
    from modecover.metrics.modes import mode_metrics
    from modecover.plugins import Hooks

    torch.manual_seed(seed)
    mixture = ring()
    points, _ = mixture.sample(20000, seed=seed)
    data = torch.from_numpy(points)
    model = make_model()
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        model.train_step(data[torch.randint(0, len(data), (256,), generator=g)], Hooks(), step)
    return mode_metrics(model.sample(2500).numpy(), mixture.means, mixture.sigmas, mixture.weights)


def brute_distances(a, b=None) -> np.ndarray:
    """float64 distances sqrt(sum((a_i - b_j)^2)) between the rows of ``a`` and ``b`` (``a``
    itself by default): the formula the neighbour engine is exact to."""
    a = np.asarray(a, dtype=np.float64)
    b = a if b is None else np.asarray(b, dtype=np.float64)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def cli(*args, catch_exceptions: bool = True):
    """``modecover ARGS...`` through click's CliRunner (every argument passed as ``str``)."""
    from click.testing import CliRunner

    from modecover.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=catch_exceptions)


def load_benchmark(name: str) -> types.ModuleType:
    """``benchmarks/<name>.py`` imported as a module, with ``benchmarks/`` on the path while
    it loads (the scripts import their neighbours, as when run)."""
    folder = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_under_test", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def read_csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def stub_torchvision(mp: pytest.MonkeyPatch) -> None:
    """Empty stand-ins for torchvision, which does not import here: pytorch-fid and
    torch-fidelity import it at module level, and the tests use only the parts of them that
    do not need it. Each stand-in is set only where the real module is not loaded."""
    names = ["torchvision", "torchvision.transforms", "torchvision.transforms.functional",
             "torchvision.datasets", "torchvision.models", "torchvision.models.inception"]
    for name in names:
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.CIFAR10 = stub.CIFAR100 = stub.STL10 = object
            mp.setitem(sys.modules, name, stub)
    inception = sys.modules["torchvision.models.inception"]
    for cls in ("InceptionA", "InceptionC", "InceptionE"):
        if not hasattr(inception, cls):
            mp.setattr(inception, cls, torch.nn.Module, raising=False)
    if not hasattr(sys.modules["torchvision"], "models"):
        mp.setattr(sys.modules["torchvision"], "models", sys.modules["torchvision.models"], raising=False)
    if not hasattr(sys.modules["torchvision.models"], "inception"):
        mp.setattr(sys.modules["torchvision.models"], "inception", inception, raising=False)


# Reference implementations the tests compare with that the dev extra cannot list: pip would
# pull their dependencies, torchvision and with it another (CUDA) torch (torch-fidelity,
# pytorch-fid), or tensorboard and matplotlib, which the tests do not use (nflows). scripts/install.sh
# --dev installs them without their dependencies.
OUTSIDE_DEV_EXTRA = {"torch_fidelity": "torch-fidelity", "pytorch_fid": "pytorch-fid", "nflows": "nflows"}


def references_required() -> bool:
    """Whether a reference implementation that does not import fails its tests instead of
    skipping them: under ``CI=true`` or ``MODECOVER_REQUIRE_REFERENCES=1`` (.ci/run sets it)."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MODECOVER_REQUIRE_REFERENCES") == "1"


def reference_missing(name: str, err: Exception) -> None:
    """Skip the test (saying how to install the reference), or fail it where references are required."""
    top = name.split(".")[0]
    if top in OUTSIDE_DEV_EXTRA:
        how = (f"`bash scripts/install.sh --dev` installs it (or `pip install --no-deps {OUTSIDE_DEV_EXTRA[top]} "
               "tqdm`: the tests need none of its other dependencies, and torchvision's would pull another torch)")
    else:
        how = "`pip install -e .[dev]` installs it"
    message = f"reference implementation {name} does not import ({err}); {how}"
    if references_required():
        pytest.fail(f"{message}; required here (CI=true or MODECOVER_REQUIRE_REFERENCES=1)", pytrace=False)
    pytest.skip(message)


def import_reference(name: str):
    """Module ``name`` of a reference implementation; when it does not import, the test
    skips or fails as :func:`reference_missing` says."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        reference_missing(name, err)


class FileHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``: path -> (body, how); how is ``ok``, ``short`` (a Content-Length
    larger than the body, then the connection closes) or an HTTP error status. Every request's
    path is appended to ``server.requests``."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.requests.append(self.path)
        body, how = self.server.files.get(self.path, (b"", 404))
        if isinstance(how, int):
            self.send_error(how)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + (1000 if how == "short" else 0)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):  # keep the test output clean
        pass


@contextlib.contextmanager
def local_http_server(files: dict | None = None):
    """An HTTP server on 127.0.0.1 (a free port) in a thread serving ``files`` (see
    :class:`FileHandler`), with its base URL as ``.url``; shut down on exit. No test reaches
    outside this machine."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FileHandler)
    httpd.files, httpd.requests = dict(files or {}), []
    httpd.timeout = 10
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def fidelity_inception_module():
    """torch-fidelity's InceptionV3 module, imported against empty torchvision stand-ins (only
    this module is used, and it does not need torchvision); on exit the stand-ins go and the
    torch-fidelity modules imported against them are forgotten, so later tests see the real
    environment."""
    mp = pytest.MonkeyPatch()
    loaded_before = set(sys.modules)
    stub_torchvision(mp)
    try:
        yield import_reference("torch_fidelity.feature_extractor_inceptionv3")
    finally:
        mp.undo()
        for name in set(sys.modules) - loaded_before:
            if name.startswith("torch_fidelity"):
                del sys.modules[name]


def random_fidelity_inception(module, name: str, outputs: list[str], seed: int):
    """torch-fidelity's InceptionV3 of ``module`` with its random initial weights (torch seeded
    with ``seed``): the real weights are not downloaded in tests."""
    cls = module.FeatureExtractorInceptionV3
    with pytest.MonkeyPatch.context() as build:
        build.setattr(cls, "load_state_dict", lambda self, state, *a, **k: None)
        build.setattr(module, "load_state_dict_from_url", lambda *a, **k: {})
        torch.manual_seed(seed)
        return cls(name, outputs)
