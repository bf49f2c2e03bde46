"""Reading a data set to audit from the user's files, as features (docs/dmpra.md, "Audit").

:func:`load_audit_data` takes a feature file (``.npy`` / ``.npz[:key]`` / ``.pt`` /
``.pth``, read by :func:`modecover.io.load_array`), a points file (``.csv`` / ``.txt``: numeric
columns, an optional header line) or an image folder (read by
:func:`modecover.data.images.load_image_folder`, then turned into features by an extractor of
:mod:`modecover.features`), and returns an :class:`AuditData`. Errors name the path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modecover._checks import as_features, no_op_error

POINT_SUFFIXES = (".csv", ".txt")


@dataclass
class AuditData:
    """What :func:`load_audit_data` read: features, and for images the images and file names."""

    features: np.ndarray  # (n, d)
    source: str  # the path, as given
    kind: str  # "features", "points" or "images"
    extractor: str
    files: list[str] | None = None  # image files relative to the folder
    images: np.ndarray | None = None  # (n, C, H, W) in [0, 1]
    skipped: list[str] = field(default_factory=list)  # unreadable image files left out (skip_corrupt)


def _load_points(path: Path) -> np.ndarray:
    """2D (or any-D) points from a CSV/whitespace text file; a non-numeric first line is a header."""
    text = path.read_text()
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    first = text.lstrip().splitlines()[0]
    delimiter = "," if "," in first else None
    try:
        float((first.split(delimiter) if delimiter else first.split())[0])
        skip = 0
    except ValueError:
        skip = 1
    try:
        arr = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path}: cannot read as numeric columns ({err})") from err
    return arr


def load_audit_data(source, *, extractor: str | None = None, min_rows: int = 1,
                    batch_size: int = 256, image_mode: str = "RGB",
                    extractor_options: dict | None = None, skip_corrupt: bool = False) -> AuditData:
    """Read a feature file (.npy/.npz[:key]/.pt/.pth), a points file (.csv/.txt) or an image
    folder, and turn it into features.

    ``extractor``: ``identity`` (default for files: the rows are the features) or
    ``pixels`` (default for image folders: flattened pixels in [0, 1]); any other name of
    :func:`modecover.features.get_extractor` works for image folders (e.g. ``inception``, ``dinov2``).
    Image folders are read by :func:`modecover.data.images.load_image_folder` in
    ``image_mode`` ("RGB" or "L"); ``extractor_options`` go to ``get_extractor`` (e.g.
    ``weights_path`` of ``inception`` or ``dinov2``). Errors name the path.
    """
    from modecover.features import extract, get_extractor
    from modecover.io import split_key

    if extractor_options and extractor not in ("inception", "dinov2"):
        raise no_op_error("features", f"extractor options {sorted(extractor_options)}",
                          f"they apply to the inception and dinov2 extractors, not {extractor or 'the default'!r}",
                          "choose one of those extractors or leave the options out")
    path = Path(str(source))

    file_path, _ = split_key(source)
    if path.is_dir():
        from modecover.data.images import load_image_folder

        name = extractor or "pixels"
        if name == "identity":
            raise ValueError(f"{path}: an image folder needs an image extractor (pixels, inception or dinov2), "
                             "not identity")
        with warnings.catch_warnings():  # skipped files are listed in AuditData.skipped; other warnings pass
            warnings.filterwarnings("ignore", r".*: skipped \d+ unreadable image", UserWarning)
            folder = load_image_folder(path, mode=image_mode, skip_corrupt=skip_corrupt)
        extractor_fn = get_extractor(name, **(extractor_options or {}))
        features = extract(extractor_fn, folder.images, batch_size=batch_size, name=str(path))
        files = [p.relative_to(path).as_posix() for p in folder.files]
        data = AuditData(features, str(source), "images", name, files, folder.images.numpy(),
                         [p.relative_to(path).as_posix() for p in folder.skipped])
    elif file_path.suffix.lower() in POINT_SUFFIXES:
        if not file_path.exists():
            raise FileNotFoundError(f"{file_path}: no such file")
        data = AuditData(_load_points(file_path), str(source), "points", extractor or "identity")
    else:
        from modecover.io import load_array

        name = extractor or "identity"
        if name not in ("identity", "pixels"):
            raise ValueError(f"{source}: a feature file takes the identity or pixels extractor, not {name!r}")
        arr = load_array(source, min_ndim=2)
        if name == "identity" and arr.ndim != 2:
            raise ValueError(
                f"{source}: identity needs a 2-D array (n_samples, n_features), got shape {arr.shape}; "
                "use --extractor pixels for images"
            )
        images = arr if arr.ndim in (3, 4) else None
        data = AuditData(arr.reshape(arr.shape[0], -1), str(source), "images" if images is not None else "features",
                         name, None, images)
    data.features = as_features(data.features, str(source), min_rows=min_rows)
    return data


__all__ = ["AuditData", "POINT_SUFFIXES", "load_audit_data"]
