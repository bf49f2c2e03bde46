"""Edge loss: Sobel magnitude against scipy.ndimage, pairing options, gradients."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from modecover.methods.edge import EdgeLoss, EdgeLossConfig, edge_loss, sobel_magnitude
from modecover.plugins import GeneratorContext


def scipy_magnitude(images):
    out = np.empty_like(images)
    for b in range(images.shape[0]):
        for c in range(images.shape[1]):
            gx = ndimage.sobel(images[b, c], axis=1, mode="reflect")
            gy = ndimage.sobel(images[b, c], axis=0, mode="reflect")
            out[b, c] = np.hypot(gx, gy)
    return out


def test_sobel_matches_scipy(rng):
    images = rng.normal(size=(3, 2, 7, 9))
    ours = sobel_magnitude(torch.tensor(images), eps=0.0).numpy()
    np.testing.assert_allclose(ours, scipy_magnitude(images), rtol=1e-10, atol=1e-12)


def test_flat_image_has_no_edges_and_finite_gradient():
    x = torch.full((2, 1, 5, 5), 0.3, requires_grad=True)
    mag = sobel_magnitude(x)
    assert mag.max().item() < 1e-5
    mag.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_pairings(rng):
    fake, real = rng.normal(size=(4, 1, 6, 6)), rng.normal(size=(4, 1, 6, 6))
    ef, er = scipy_magnitude(fake), scipy_magnitude(real)
    batch = edge_loss(torch.tensor(fake), torch.tensor(real)).item()
    stats = edge_loss(torch.tensor(fake), torch.tensor(real), pairing="stats").item()
    assert batch == pytest.approx(((ef - er) ** 2).mean(), rel=1e-6)
    assert stats == pytest.approx(((ef.mean(0) - er.mean(0)) ** 2).mean(), rel=1e-6)
    shuffled = torch.tensor(real[::-1].copy())
    assert edge_loss(torch.tensor(fake), shuffled, pairing="stats").item() == pytest.approx(stats, rel=1e-9)
    assert edge_loss(torch.tensor(real), torch.tensor(real)).item() == 0.0


def test_plugin_term_and_gradient_to_generator(rng):
    weight = torch.randn(16, 3, requires_grad=True)
    z = torch.randn(4, 3)
    fake = (z @ weight.T).reshape(4, 1, 4, 4)
    real = torch.tensor(rng.normal(size=(4, 1, 4, 4)), dtype=torch.float32)
    ctx = GeneratorContext(0, real, z, z, fake, torch.zeros(4), torch.zeros(4), model=None)
    term = EdgeLoss(weight=0.5).generator_loss(ctx)
    assert term.item() == pytest.approx(0.5 * edge_loss(fake, real).item(), rel=1e-6)
    term.backward()
    assert weight.grad.abs().sum() > 0


@pytest.mark.parametrize("make, message", [
    (lambda: sobel_magnitude(torch.randn(4, 2)), r"\(B, C, H, W\)"),
    (lambda: edge_loss(torch.randn(3, 1, 4, 4), torch.randn(2, 1, 4, 4)), "equal batch sizes"),
    (lambda: edge_loss(torch.randn(2, 1, 4, 4), torch.randn(2, 3, 4, 4)), "differ in shape"),
    (lambda: EdgeLossConfig(pairing="nearest"),
     r"^\[\[methods\]\] 'edge': 'pairing' must be 'batch' or 'stats', got 'nearest'$"),
    (lambda: EdgeLossConfig(weight=-0.1), r"^\[\[methods\]\] 'edge': 'weight' must be a finite number > 0, got -0\.1$"),
    (lambda: EdgeLossConfig(weight=True), r"^\[\[methods\]\] 'edge': 'weight' must be a finite number > 0, got True$"),
])
def test_bad_input_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
