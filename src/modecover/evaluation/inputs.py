"""Reading the two sets of an evaluation: sample files, image folders and the built-in example.

A file is read by :func:`modecover.io.load_array`; an image folder by
:func:`modecover.data.images.load_image_folder` (values in [0, 1]). An image array from a
file is mapped onto [0, 1] from its declared pixel range (:data:`PIXEL_RANGES`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["EXAMPLE_MIXTURE", "PIXEL_RANGES", "LoadOptions", "Loaded", "example_loaded", "example_sets",
           "load_fake_logits", "read_samples", "to_unit_range"]

EXAMPLE_MIXTURE = "ring-imbalanced"

# Pixel range of an image array in a file -> (low, high) mapped onto [0, 1] (folders are [0, 1]).
PIXEL_RANGES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0), "byte": (0.0, 255.0)}
RANGE_SLACK = 1e-3  # rounding slack allowed outside the declared range


@dataclass(frozen=True)
class LoadOptions:
    """How both inputs are read: image-folder rules (modecover.data.images) and the extractor."""

    extractor: str = "auto"  # auto, identity, pixels, inception or dinov2 (modecover.evaluation.features)
    inception_weights: str | None = None
    dinov2_arch: str = "vitl14"  # vits14, vitb14, vitl14 or vitg14 (modecover.features.dinov2)
    dinov2_weights: str | None = None  # a local official-format file (default: the cached download)
    offline: bool | None = None  # forbid downloading weights (None: $MODECOVER_OFFLINE decides)
    image_mode: str = "RGB"
    image_size: int | None = None
    skip_corrupt: bool = False
    batch_size: int = 256


@dataclass
class Loaded:
    """One input set after feature extraction."""

    features: np.ndarray  # (n, d)
    source: str  # file, folder or "example"
    extractor: str
    logits: np.ndarray | None = None  # Inception logits (n, 1008), inception extractor only
    skipped: tuple[str, ...] = ()
    images: np.ndarray | None = None  # the images (N, C, H, W) in [0, 1] when the input was images
    files: tuple[str, ...] | None = None  # image folder: each sample's path relative to the folder (posix)


def read_samples(spec: str, options: LoadOptions, pixel_range: str | None = None, role: str = "real"):
    """An image folder -> (images (N,C,H,W) in [0,1], skipped files, each image's path
    relative to the folder, posix, in the images' order); a file -> (array, (), None).

    ``pixel_range`` (a key of :data:`PIXEL_RANGES`, default unit) applies to image arrays
    from files only; ``role`` ("real" or "fake") names the matching ``--<role>-range`` option
    in errors.
    """
    from modecover._checks import no_op_error
    from modecover.data.images import load_image_folder
    from modecover.io import load_array

    if Path(spec).is_dir():
        with warnings.catch_warnings():  # skipped files are reported by the caller
            warnings.simplefilter("ignore", UserWarning)
            folder = load_image_folder(spec, mode=options.image_mode, size=options.image_size,
                                       skip_corrupt=options.skip_corrupt)
        if pixel_range is not None:
            raise ValueError(f"{spec}: an image folder is always read as [0, 1]; drop --{role}-range")
        names = tuple(Path(p).relative_to(spec).as_posix() for p in folder.files)
        return folder.images, tuple(str(p) for p in folder.skipped), names
    array = load_array(spec, min_ndim=2)  # a 1-D array is refused: N scalars or one sample?
    if array.ndim > 2:
        return to_unit_range(array, pixel_range or "unit", spec, role), (), None
    if pixel_range is not None:
        raise no_op_error(str(spec), f"--{role}-range", f"it applies to image arrays (N, C, H, W), not to "
                          f"{array.ndim}-D features", f"leave --{role}-range out")
    return array, (), None


def to_unit_range(images: np.ndarray, pixel_range: str, spec: str, role: str = "real") -> np.ndarray:
    """Map an image array from its declared range onto [0, 1]; values outside the range
    (beyond rounding) are an error, so [-1, 1] or 0..255 data is never silently compared
    with [0, 1] images."""
    low, high = PIXEL_RANGES[pixel_range]
    lo, hi = float(images.min()), float(images.max())
    slack = RANGE_SLACK * (high - low)
    if lo < low - slack or hi > high + slack:
        guess = next((name for name, (a, b) in PIXEL_RANGES.items()
                      if lo >= a - RANGE_SLACK * (b - a) and hi <= b + RANGE_SLACK * (b - a)), None)
        hint = f"; if it is {guess!r} data pass --{role}-range {guess}" if guess else ""
        raise ValueError(
            f"{spec}: image values span [{lo:.4g}, {hi:.4g}], outside the {pixel_range!r} range "
            f"[{low:g}, {high:g}]{hint}"
        )
    return (images.astype(np.float32) - np.float32(low)) / np.float32(high - low)


def load_fake_logits(path: str, n_fake: int) -> np.ndarray:
    """Class logits (n_fake, classes) of the fakes from a feature file, for the Inception Score."""
    from modecover.io import load_features

    logits = load_features(path)
    if len(logits) != n_fake:
        raise ValueError(f"{path}: {len(logits)} rows of logits but {n_fake} fakes")
    return logits


def example_sets(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The built-in example: ``n`` real points of the imbalanced ring (2 of 8 modes at
    1/20 weight) against ``n`` fakes that drop both minority modes and are 1.5x blurrier
    (sigma 0.015 instead of 0.01), so recall, coverage, modes and HQ% all show the loss."""
    from modecover.data.mixtures import Mixture, get_mixture

    real_mix = get_mixture(EXAMPLE_MIXTURE)
    weights = np.array(real_mix.weights, dtype=np.float64)
    weights[list(real_mix.minority)] = 0.0
    fake_mix = Mixture("ring-dropped", real_mix.means, np.asarray(real_mix.sigmas) * 1.5, weights / weights.sum())
    real, _ = real_mix.sample(n, seed=seed)
    fake, _ = fake_mix.sample(n, seed=seed + 1)
    return real, fake


def example_loaded(seed: int = 0) -> tuple[Loaded, Loaded]:
    """:func:`example_sets` as the two loaded sets (identity features)."""
    real_pts, fake_pts = example_sets(seed=seed)
    return (Loaded(real_pts.astype(np.float64), "example real (ring-imbalanced)", "identity"),
            Loaded(fake_pts.astype(np.float64), "example fake (minority modes dropped)", "identity"))
