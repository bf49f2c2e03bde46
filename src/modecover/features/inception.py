"""InceptionV3 features (pool 2048-d) and logits through torch-fidelity.

The network and its TensorFlow-compatible resizing come from torch-fidelity (the
optional extra ``modecover[inception]``), so the features equal the ones torch-fidelity
uses for FID, KID and IS (docs/metrics.md). The weights file is a local path (argument or
``$MODECOVER_INCEPTION_WEIGHTS``) or, without one, torch-fidelity's published file, fetched
once into modecover's cache folder and checked against its sha256
(:func:`modecover.weights.cached_file`; offline mode forbids the download).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from modecover._checks import as_features
from modecover.features.base import as_tensor_batch
from modecover.weights import cached_file

WEIGHTS_ENV = "MODECOVER_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_FILE
# The whole sha256 of WEIGHTS_FILE (95,628,359 bytes); its first 8 digits are the ones in the
# file name, which is what torch.hub checks.
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

# torch-fidelity's names for the two outputs we use.
OUTPUTS = {"pool": "2048", "logits": "logits_unbiased"}

_INSTALL_HINT = (
    "the 'inception' extractor needs torch-fidelity (and the torchvision it imports): "
    "install them with  pip install 'modecover[inception]'  (or pip install torch-fidelity torchvision)"
)


def missing_weights_message(path: str | os.PathLike) -> str:
    """The error text when the weights file is not where the user said."""
    return (
        f"InceptionV3 weights not found (no file at {path}). It needs torch-fidelity's "
        f"'pt_inception-2015-12-05' weights, the file {WEIGHTS_FILE} (from {WEIGHTS_URL}): pass the "
        f"path of a copy with --inception-weights PATH (Python: InceptionV3(weights_path=PATH)) or "
        f"${WEIGHTS_ENV}=PATH, or give no path and modecover downloads it once into its cache folder."
    )


def resolve_weights_path(weights_path: str | os.PathLike | None, *, offline: bool | None = None,
                         progress: bool = True) -> Path:
    """Return the weights file: ``weights_path``, else ``$MODECOVER_INCEPTION_WEIGHTS``, else
    torch-fidelity's file in the cache folder, downloaded on first use unless ``offline``
    (default: ``$MODECOVER_OFFLINE``).

    Raises ``FileNotFoundError`` naming a local path that does not exist, or (offline, not
    cached) the file needed and where to put it; :class:`modecover.weights.DownloadError`
    when the download fails.
    """
    if weights_path is None:
        weights_path = os.environ.get(WEIGHTS_ENV) or None
    if weights_path is None:
        return cached_file(WEIGHTS_URL, WEIGHTS_SHA256, offline=offline, progress=progress)
    if not Path(weights_path).is_file():
        raise FileNotFoundError(missing_weights_message(weights_path))
    return Path(weights_path)


def _inception_class():
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError as err:
        raise ImportError(f"{_INSTALL_HINT} (import failed: {err})") from err
    return FeatureExtractorInceptionV3


def _checked_state_dict(path: Path) -> dict:
    """Load the weights with ``weights_only=True`` so a file that is not a plain state
    dict (or is truncated) fails here, with the file named, before torch-fidelity loads it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for bad files
        raise ValueError(f"{path}: not a readable InceptionV3 state dict ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ValueError(f"{path}: not torch-fidelity's InceptionV3 state dict (no 'fc.weight' entry)")
    return state


class InceptionV3:
    """Feature extractor returning InceptionV3 pool features (2048-d) or IS logits (1008).

    Input: images ``(N, C, H, W)`` with C = 1 (repeated to RGB) or 3, values in
    ``value_range`` (default ``(0, 1)``; use ``(-1, 1)`` for tanh outputs). They are
    quantised to uint8 as torch-fidelity expects, then resized by torch-fidelity to 299x299.
    ``output``: ``"pool"`` (FID/KID/PRDC features) or ``"logits"`` (torch-fidelity's
    ``logits_unbiased``, used for the Inception Score). ``weights_path``: a local weights
    file; without one (and no ``$MODECOVER_INCEPTION_WEIGHTS``) torch-fidelity's file is
    fetched once into the cache folder, which ``offline=True`` (or ``$MODECOVER_OFFLINE=1``)
    forbids.
    """

    checks_output = True  # as_features on every batch (features.base.extract)

    def __init__(self, weights_path: str | os.PathLike | None = None, *, output: str = "pool",
                 value_range: tuple[float, float] = (0.0, 1.0), device: str | torch.device = "cpu",
                 offline: bool | None = None):
        if output not in OUTPUTS:
            raise ValueError(f"InceptionV3 output must be one of {sorted(OUTPUTS)}, got {output!r}")
        low, high = value_range
        if not high > low:
            raise ValueError(f"InceptionV3 value_range must be (low, high) with high > low, got {value_range!r}")
        self.output = output
        self.value_range = (float(low), float(high))
        self.name = "inception" if output == "pool" else "inception-logits"
        cls = _inception_class()
        self.weights_path = resolve_weights_path(weights_path, offline=offline)
        _checked_state_dict(self.weights_path)
        self.device = torch.device(device)
        self.model = cls("inception-v3-compat", list(OUTPUTS.values()),
                         feature_extractor_weights_path=str(self.weights_path)).to(self.device)

    def to_uint8(self, x: Tensor) -> Tensor:
        """Map images in ``value_range`` to uint8 RGB ``(N, 3, H, W)``; refuse other shapes."""
        x = as_tensor_batch(x, "inception input")
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(
                f"inception input: expected images (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}"
            )
        if not torch.isfinite(x).all():
            raise ValueError("inception input: holds NaN or infinite pixel values")
        low, high = self.value_range
        scaled = ((x.detach().float() - low) / (high - low)).clamp(0.0, 1.0)
        images = torch.round(scaled * 255.0).to(torch.uint8)
        if images.shape[1] == 1:
            images = images.repeat(1, 3, 1, 1)
        return images

    def features_and_logits(self, x: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Both outputs from one forward pass: pool features (N, 2048), logits (N, 1008)."""
        images = self.to_uint8(x).to(self.device)
        with torch.no_grad():
            pool, logits = self.model(images)
        return (as_features(pool.double().cpu(), "inception pool features"),
                as_features(logits.double().cpu(), "inception logits"))

    def __call__(self, x: Tensor) -> np.ndarray:
        pool, logits = self.features_and_logits(x)
        return pool if self.output == "pool" else logits
