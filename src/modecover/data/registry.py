"""The training set of a run, from the ``[data]`` section of its config.

Sources (``name``):

* ``ring``, ``grid``, ``ring-imbalanced``, ``grid-imbalanced``: the 2D mixtures of
  :mod:`modecover.data.mixtures` (docs/models.md), ``n`` points drawn with ``seed``;
  ``minority`` (mode indices) and ``ratio`` make any of them imbalanced (each minority
  mode at ``ratio`` times a common mode's weight);
* ``digits``: scikit-learn's bundled 8x8 digits, (N, 1, 8, 8);
* ``mnist``, ``cifar10``: from local files under ``path`` (no downloads);
* ``folder``: every image under ``path`` (Pillow), converted to ``mode`` and resized to
  ``size`` (see :func:`modecover.data.images.load_image_folder`).

Images are scaled to [0, 1] (``scale = "unit"``) or [-1, 1] (``"symmetric"``, the default,
matching a tanh generator). Labelled image sets are made imbalanced by keeping only
``fraction`` of each class of ``rare_classes`` (:func:`modecover.data.datasets.make_imbalanced`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["DataConfig", "TrainingSet", "DATA_SOURCES", "data_config", "build_dataset", "expected_shape"]

MIXTURE_SOURCES = ("ring", "grid", "ring-imbalanced", "grid-imbalanced")
IMAGE_SOURCES = ("digits", "mnist", "cifar10", "folder")
DATA_SOURCES = MIXTURE_SOURCES + IMAGE_SOURCES


@dataclass
class DataConfig:
    """The ``[data]`` section; fields that do not apply to a source must keep their defaults."""

    name: str
    n: int = 20_000  # mixtures: points drawn
    seed: int = 0  # mixtures: sampling seed; images: which rare-class samples are kept
    minority: list[int] | None = None  # mixtures: minority modes (None: the source's own)
    ratio: float = 0.05  # mixtures: weight of a minority mode / a common mode's weight
    path: str | None = None  # mnist, cifar10, folder
    split: str = "train"  # mnist, cifar10
    scale: str = "symmetric"  # images: "unit" [0, 1] or "symmetric" [-1, 1]
    rare_classes: list[int] = field(default_factory=list)  # labelled images: classes made rare
    fraction: float = 0.1  # labelled images: share of each rare class kept
    mode: str = "L"  # folder: "L" or "RGB"
    size: int | None = None  # folder: resize to size x size (None: the common size)
    limit: int | None = None  # images: keep only the first `limit` samples (after imbalance)

    def __post_init__(self):
        if self.name not in DATA_SOURCES:
            raise ValueError(f"[data] name: unknown data source {self.name!r}; choose one of {list(DATA_SOURCES)}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"[data] n must be a positive integer, got {self.n!r}")
        if self.name in ("mnist", "cifar10", "folder") and not self.path:
            raise ValueError(f"[data] path is required for data source {self.name!r}")
        if self.scale not in ("unit", "symmetric"):
            raise ValueError(f"[data] scale must be 'unit' or 'symmetric', got {self.scale!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"[data] limit must be a positive integer, got {self.limit!r}")
        if self.name in MIXTURE_SOURCES and self.rare_classes:
            raise ValueError("[data] rare_classes applies to labelled image sets; for mixtures use minority")
        if self.name in IMAGE_SOURCES and self.minority is not None:
            raise ValueError("[data] minority applies to 2D mixtures; for image sets use rare_classes")
        if self.name == "folder" and self.rare_classes:
            raise ValueError("[data] rare_classes needs labels; an image folder has none")


@dataclass
class TrainingSet:
    """The training tensor and what the metrics need to judge samples of it."""

    x: Tensor  # (N, *data_shape) float32
    labels: Tensor | None = None  # mixture mode or image class, int64 (N,)
    mixture: Any = None  # modecover.data.mixtures.Mixture for 2D sources
    files: list | None = None  # image folder: the file of each row

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def data_config(options: dict[str, Any]) -> DataConfig:
    """:class:`DataConfig` from the ``[data]`` table; unknown keys are errors naming them."""
    known = {f.name for f in dataclasses.fields(DataConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"[data]: unknown key(s) {unknown}; known keys: {sorted(known)}")
    if "name" not in options:
        raise ValueError(f"[data]: missing key 'name' (one of {list(DATA_SOURCES)})")
    return DataConfig(**options)


def expected_shape(config: DataConfig) -> tuple[int, ...] | None:
    """The sample shape a source gives, known without loading it (None for a folder without ``size``)."""
    if config.name in MIXTURE_SOURCES:
        return (2,)
    if config.name == "folder":
        return None if config.size is None else (1 if config.mode == "L" else 3, config.size, config.size)
    return {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}[config.name]


def _mixture(config: DataConfig):
    from modecover.data.mixtures import MIXTURES, imbalanced

    base_name = config.name.replace("-imbalanced", "")
    if config.minority is not None:
        mixture = imbalanced(MIXTURES[base_name](), [int(m) for m in config.minority], config.ratio)
    elif config.name.endswith("-imbalanced"):
        mixture = imbalanced(MIXTURES[base_name](), MIXTURES[config.name]().minority, config.ratio)
    else:
        mixture = MIXTURES[config.name]()
    points, labels = mixture.sample(config.n, seed=config.seed)
    return TrainingSet(torch.as_tensor(points, dtype=torch.float32), torch.as_tensor(labels), mixture)


def _images(config: DataConfig) -> TrainingSet:
    from modecover.data import datasets

    files = None
    if config.name == "digits":
        x, labels = datasets.load_digits(scale=config.scale)
    elif config.name == "mnist":
        x, labels = datasets.load_mnist(config.path, split=config.split, scale=config.scale)
    elif config.name == "cifar10":
        x, labels = datasets.load_cifar10(config.path, split=config.split, scale=config.scale)
    else:
        from modecover.data.images import load_image_folder

        folder = load_image_folder(config.path, mode=config.mode, size=config.size)
        x, labels, files = folder.images, None, list(folder.files)
        if config.scale == "symmetric":
            x = x * 2.0 - 1.0
    if config.rare_classes:
        x, labels, _ = datasets.make_imbalanced(x, labels, config.rare_classes, config.fraction, seed=config.seed)
    if config.limit is not None:
        x = x[: config.limit]
        labels = None if labels is None else labels[: config.limit]
        files = None if files is None else files[: config.limit]
    return TrainingSet(torch.as_tensor(x, dtype=torch.float32).contiguous(),
                       None if labels is None else torch.as_tensor(labels), None, files)


def build_dataset(config: DataConfig | dict[str, Any]) -> TrainingSet:
    """The training set a ``[data]`` section describes."""
    if isinstance(config, dict):
        config = data_config(config)
    data = _mixture(config) if config.name in MIXTURE_SOURCES else _images(config)
    if not np.isfinite(data.x.numpy()).all():
        raise ValueError(f"[data] {config.name}: the training data holds NaN or infinite values")
    return data
