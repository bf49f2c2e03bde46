"""Image folders read with Pillow (no torchvision): ``(N, C, H, W)`` float in [0, 1].

Rules:

- Files: every file under the folder, recursively, whose extension (any case) is in
  :data:`IMAGE_EXTENSIONS`; names starting with ``.`` (and hidden folders) are ignored.
  Order: sorted by path relative to the folder, so the order is the same on every machine.
- Mode: each image is converted with Pillow's ``Image.convert`` to ``mode`` ("RGB" -> 3
  channels, "L" -> 1 channel). RGBA -> RGB drops the alpha channel; RGB -> L uses
  Pillow's ITU-R 601-2 luma. Animated files give their first frame. 16-bit greyscale
  (e.g. medical PNG/TIFF) keeps its depth: values / 65535 (Pillow alone would clip them to
  255), repeated to 3 channels for "RGB". 32-bit float images are refused (unknown range).
- Size: with ``size=(H, W)`` every image is resized to it. Without, images keep their
  size when all agree; when they differ, all are resized to the most common size (ties:
  the size of the first file in sorted order), with a ``UserWarning`` giving the sizes
  found, unless ``resize=False``, which makes mixed sizes an error naming a file.
  Resizing uses Pillow's bicubic filter (antialiased when shrinking); it does not keep the
  aspect ratio.
- Memory: the float32 result (N x C x H x W x 4 bytes) and one image being resized are
  estimated first, before any image is decoded when ``size`` is given; more than the
  memory available is an ``AllocationTooLarge`` naming the size in GiB.
- A file Pillow cannot decode is an error naming it; with ``skip_corrupt=True`` it is
  skipped, listed in the result's ``skipped`` and reported in a ``UserWarning`` with the count.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from modecover._checks import check_allocation, is_integer

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
MODES = {"RGB": 3, "L": 1}
HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class ImageFolder(NamedTuple):
    """What :func:`load_image_folder` returns."""

    images: Tensor  # (N, C, H, W) float32 in [0, 1]
    files: list[Path]  # one per image, same order
    skipped: list[Path]  # unreadable files left out (only with skip_corrupt=True)


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden names ignored)."""
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise ValueError(f"{root}: is not a folder")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                files.append(Path(dirpath) / name)
    return sorted(files, key=lambda p: p.relative_to(root).parts)


def _decode(path: Path, mode: str) -> Image.Image:
    """The image converted to ``mode``; 16-bit greyscale becomes mode "F" holding 0..65535
    (Pillow's own conversion to "L"/"RGB" would clip it at 255)."""
    with Image.open(path) as img:
        img.load()
        if img.mode in HIGH_DEPTH_MODES:
            wide = img.convert("F")
            low, high = wide.getextrema()
            if low < 0 or high > 65535:
                raise ValueError(f"{img.mode} pixel values span [{low:g}, {high:g}], outside 16-bit 0..65535")
            return wide
        if img.mode == "F":
            raise ValueError("32-bit float images have no known pixel range; save them as 8- or 16-bit")
        return img.convert(mode)


def _to_unit_array(img: Image.Image, channels: int) -> np.ndarray:
    """(C, H, W) float32 in [0, 1]: 8-bit / 255, 16-bit ("F" from :func:`_decode`) / 65535."""
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32) / np.float32(65535.0)
        return np.repeat(arr[None], channels, axis=0)
    arr = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _target_size(images: list[Image.Image], files: list[Path], size, resize: bool, root: Path) -> tuple[int, int]:
    """(H, W) every image gets, per the module rules."""
    if size is not None:
        return size
    sizes = [(img.height, img.width) for img in images]
    counts = Counter(sizes)
    if len(counts) == 1:
        return sizes[0]
    best = max(counts.values())
    common = next(s for s in sizes if counts[s] == best)
    if not resize:
        odd = next(i for i, s in enumerate(sizes) if s != common)
        raise ValueError(
            f"{files[odd]}: size {sizes[odd][0]}x{sizes[odd][1]} (HxW) differs from the folder's common "
            f"size {common[0]}x{common[1]}; pass a size or allow resizing"
        )
    found = ", ".join(f"{h}x{w} ({c})" for (h, w), c in counts.most_common())
    warnings.warn(f"{root}: resized "
                  f"{len(sizes) - best} of {len(sizes)} images to {common[0]}x{common[1]} (HxW), the most common "
                  f"size; sizes found: {found}", UserWarning, stacklevel=3)
    return common


def _check_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if is_integer(size) else tuple(size) if isinstance(size, (tuple, list, np.ndarray)) else ()
    if len(pair) != 2 or not all(is_integer(s) and s > 0 for s in pair):  # a bool is no size
        raise ValueError(f"image size must be a positive int or (H, W) of positive ints, got {size!r}")
    return (int(pair[0]), int(pair[1]))


def _check_memory(root: Path, n: int, size: tuple[int, int], channels: int) -> None:
    """Refuse, naming the size, a result that would not fit in the memory available now."""
    values = size[0] * size[1] * channels
    check_allocation(4.0 * values * n + 12.0 * values,  # the float32 batch; one image resized and converted
                     f"{root}: {n} image(s) of {channels} x {size[0]} x {size[1]} as float32",
                     "choose a smaller image size (--image-size, or size=)")


def load_image_folder(folder: str | os.PathLike, *, mode: str = "RGB", size: int | tuple[int, int] | None = None,
                      resize: bool = True, skip_corrupt: bool = False) -> ImageFolder:
    """Read every image under ``folder`` into one float tensor (see the module rules).

    Returns ``ImageFolder(images (N, C, H, W) float32 in [0, 1], files, skipped)``.
    Raises ``ValueError``/``FileNotFoundError`` naming the folder (missing, no images,
    nothing readable) or the file (corrupt, odd size with ``resize=False``).
    """
    if mode not in MODES:
        raise ValueError(f"image mode must be one of {sorted(MODES)}, got {mode!r}")
    size = _check_size(size)
    root = Path(folder)
    files = list_image_files(root)
    if not files:
        raise ValueError(
            f"{root}: no image files found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})"
        )
    if size is not None:
        _check_memory(root, len(files), size, MODES[mode])  # before decoding anything
    images, kept, skipped = [], [], []
    for path in files:
        try:
            images.append(_decode(path, mode))
        except _DECODE_ERRORS as err:
            if not skip_corrupt:
                raise ValueError(
                    f"{path}: cannot read this image ({type(err).__name__}: {err}); "
                    "fix or remove it, or skip unreadable files (skip_corrupt=True / --skip-corrupt)"
                ) from err
            skipped.append(path)
            continue
        kept.append(path)
    if skipped:
        names = ", ".join(str(p) for p in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(f"{root}: skipped {len(skipped)} unreadable image(s): {names}", UserWarning, stacklevel=2)
    if not images:
        raise ValueError(f"{root}: none of the {len(files)} image file(s) could be read")
    height, width = _target_size(images, kept, size, resize, root)
    if size is None:
        _check_memory(root, len(images), (height, width), MODES[mode])
    batch = np.empty((len(images), MODES[mode], height, width), dtype=np.float32)  # filled in place: one copy
    for i, img in enumerate(images):
        if (img.height, img.width) != (height, width):
            img = img.resize((width, height), Image.Resampling.BICUBIC)
        batch[i] = _to_unit_array(img, MODES[mode])
    np.clip(batch, 0.0, 1.0, out=batch)
    return ImageFolder(torch.from_numpy(batch), kept, skipped)


__all__ = ["IMAGE_EXTENSIONS", "MODES", "ImageFolder", "list_image_files", "load_image_folder"]
