"""Histograms of gradient orientation in cells: a hand-written, simplified HOG.

Dalal and Triggs (2005) describe an image by the orientations of its intensity gradients:
per cell of a grid, a histogram of the unsigned gradient orientation (0-180 degrees) with
each pixel voting its gradient magnitude. A stroke shifted by a pixel or two keeps its
histograms, which is why, on 28x28 MNIST, the density detector ranks a rare digit class
better in these features than in the pixels (docs/dmpra.md, "Images").

This version keeps only that core: central-difference gradients (``numpy.gradient``), hard
assignment to ``bins`` equal orientation bins, a ``cells`` x ``cells`` grid, and the whole
vector L2-normalised. No block normalisation, no bin interpolation: written here because
scikit-image's ``hog`` always normalises overlapping blocks and runs one image at a
time, and these few lines are what was measured. Colour images are reduced to the mean of
their channels first.
"""

from __future__ import annotations

import numpy as np

from modecover._checks import positive_int


def orientation_histograms(images, cells: int = 4, bins: int = 9, name: str = "images") -> np.ndarray:
    """``images`` (n, H, W) or (n, C, H, W) -> (n, cells * cells * bins) float64 features,
    each row of unit length (all zeros for a flat image).

    Cell (i, j) covers rows ``edges[i]:edges[i + 1]`` with ``edges`` = ``cells + 1`` evenly
    spaced integers from 0 to H (likewise columns), so H and W need not be multiples of
    ``cells``; each needs at least ``cells`` pixels. NaN or infinite pixels are an error
    naming ``name``."""
    cells = positive_int(cells, f"{name}: orientation histogram 'cells'")
    bins = positive_int(bins, f"{name}: orientation histogram 'bins'")
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x.mean(axis=1)
    if x.ndim != 3:
        raise ValueError(f"{name}: orientation histograms need images of shape (n, H, W) or (n, C, H, W), "
                         f"got shape {tuple(np.shape(images))}")
    n, height, width = x.shape
    if min(height, width) < max(cells, 2):
        raise ValueError(f"{name}: images of {height}x{width} pixels are too small for {cells}x{cells} cells "
                         f"(each side needs at least max(cells, 2) = {max(cells, 2)} pixels)")
    if not np.isfinite(x).all():
        row = int(np.argwhere(~np.isfinite(x).reshape(n, -1).all(axis=1))[0, 0])
        raise ValueError(f"{name}: image {row} has NaN or infinite pixels")
    gy, gx = np.gradient(x, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    which = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * bins).astype(np.int64), bins - 1)
    votes = np.zeros((n, height, width, bins))
    np.put_along_axis(votes, which[..., None], magnitude[..., None], axis=3)
    rows, cols = np.linspace(0, height, cells + 1).astype(int), np.linspace(0, width, cells + 1).astype(int)
    # each cell's votes summed: rows, then columns, between consecutive edges
    summed = np.add.reduceat(np.add.reduceat(votes, rows[:-1], axis=1), cols[:-1], axis=2)
    out = summed.reshape(n, -1)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0)


__all__ = ["orientation_histograms"]
