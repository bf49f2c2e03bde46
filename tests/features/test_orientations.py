"""Orientation histograms against an explicit per-pixel reference, on edges of known
orientation, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from modecover.features.orientations import orientation_histograms


def reference_histograms(images: np.ndarray, cells: int, bins: int) -> np.ndarray:
    """Loops over pixels: central differences inside, one-sided at the border; the unsigned
    angle in [0, pi) into ``bins`` equal bins; cell edges floor(i * H / cells)."""
    n, h, w = images.shape
    out = np.zeros((n, cells, cells, bins))
    rows = [int(i * h / cells) for i in range(cells + 1)]
    cols = [int(j * w / cells) for j in range(cells + 1)]

    def diff(line, k):
        if k == 0:
            return line[1] - line[0]
        if k == len(line) - 1:
            return line[-1] - line[-2]
        return (line[k + 1] - line[k - 1]) / 2

    for m in range(n):
        for i in range(h):
            for j in range(w):
                gy, gx = diff(images[m, :, j], i), diff(images[m, i, :], j)
                angle = np.arctan2(gy, gx) % np.pi
                b = min(int(angle / np.pi * bins), bins - 1)
                ci = max(c for c in range(cells) if rows[c] <= i)
                cj = max(c for c in range(cells) if cols[c] <= j)
                out[m, ci, cj, b] += np.hypot(gx, gy)
    out = out.reshape(n, -1)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norm > 0, out / np.where(norm > 0, norm, 1), 0.0)


@pytest.mark.parametrize("shape,cells,bins", [((3, 8, 8), 4, 9), ((2, 11, 7), 3, 6), ((2, 5, 9), 1, 4)])
def test_matches_the_per_pixel_reference_on_random_images_of_any_size(shape, cells, bins):
    images = np.random.default_rng(0).normal(size=shape)
    got = orientation_histograms(images, cells, bins)
    assert got.shape == (shape[0], cells * cells * bins)
    np.testing.assert_allclose(got, reference_histograms(images, cells, bins), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0)


def test_edges_vote_into_the_bin_of_their_gradient_orientation():
    ramp = np.tile(np.arange(12.0), (12, 1))  # intensity grows along x: gradient at 0 degrees
    images = np.stack([ramp, ramp.T, ramp + ramp.T])  # 0, 90, 45 degrees
    hist = orientation_histograms(images, cells=2, bins=4).reshape(3, 4, 4)  # bins of 45 degrees
    for image, expected in zip(hist, (0, 2, 1)):
        assert (image.argmax(axis=1) == expected).all()
        np.testing.assert_allclose(image.sum(axis=0)[np.arange(4) != expected], 0.0, atol=1e-12)


def test_is_unchanged_by_brightness_and_contrast_and_colour_is_the_channel_mean():
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(4, 1, 10, 10))
    base = orientation_histograms(images)
    np.testing.assert_allclose(orientation_histograms(3.0 * images + 7.0), base, atol=1e-12)
    colour = np.concatenate([images, 2 * images, images + 5], axis=1)  # channel mean = 4/3 images + 5/3
    np.testing.assert_allclose(orientation_histograms(colour), base, atol=1e-12)
    assert not orientation_histograms(np.ones((2, 8, 8))).any()  # flat images: no gradient, all zeros


def test_bad_input_is_an_error_naming_the_problem():
    with pytest.raises(ValueError, match=r"shape \(n, H, W\) or \(n, C, H, W\), got shape \(5, 64\)"):
        orientation_histograms(np.zeros((5, 64)))
    with pytest.raises(ValueError, match="3x3 pixels are too small for 4x4 cells"):
        orientation_histograms(np.zeros((5, 3, 3)))
    images = np.zeros((3, 8, 8))
    images[2, 4, 4] = np.nan
    with pytest.raises(ValueError, match="image 2 has NaN or infinite pixels"):
        orientation_histograms(images)
    with pytest.raises(ValueError, match="cells"):
        orientation_histograms(np.zeros((3, 8, 8)), cells=0)
