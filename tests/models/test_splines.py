"""Rational-quadratic spline (the spline coupling's transform): nflows' implementation on the same
inputs and parameters, exact inverse, monotone, the identity outside [-B, B], log-derivatives
against autograd."""

import pytest
import torch

from helpers import import_reference
from modecover.models.splines import MAX_BINS, identity_derivative_parameter, rational_quadratic_spline


def random_spline(n, bins, seed=0, dtype=torch.float64, spread=2.0, shared=False):
    """(inputs in and beyond [-2, 2] at ``spread`` 2, raw widths, heights, derivatives), random.
    ``shared``: one spline for every input (for monotonicity along a sorted input)."""
    g = torch.Generator().manual_seed(seed)
    x = spread * torch.randn(n, generator=g, dtype=dtype)
    rows = 1 if shared else n
    raw = [torch.randn(rows, size, generator=g, dtype=dtype).expand(n, size) for size in (bins, bins, bins - 1)]
    return x, *raw


@pytest.mark.parametrize("bins, bound", [(1, 1.0), (2, 3.0), (5, 2.0), (16, 0.5)])
def test_equals_nflows_forward_and_inverse(bins, bound):
    ref = import_reference("nflows.transforms.splines.rational_quadratic")
    x, w, h, d = random_spline(2000, bins, seed=bins)
    y, log_det = rational_quadratic_spline(x, w, h, d, bound)
    y_ref, log_det_ref = ref.unconstrained_rational_quadratic_spline(x, w, h, d, tails="linear", tail_bound=bound)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_det, log_det_ref, rtol=0, atol=1e-12)
    x_back, inv_log_det = rational_quadratic_spline(y, w, h, d, bound, inverse=True)
    x_ref, inv_ref = ref.unconstrained_rational_quadratic_spline(y, w, h, d, inverse=True, tails="linear",
                                                                 tail_bound=bound)
    torch.testing.assert_close(x_back, x_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(inv_log_det, inv_ref, rtol=0, atol=1e-10)
    assert ((x.abs() <= bound).float().mean() > 0.2) and ((x.abs() > bound).float().mean() > 0.05)  # both regions


@pytest.mark.parametrize("dtype, scale, atol", [(torch.float32, 0.5, 1e-5), (torch.float64, 3.0, 1e-8)])
def test_inverse_of_forward_is_the_input(dtype, scale, atol):
    """float64 with very uneven bins (slopes down to ~1e-6); float32 with moderate ones: where
    g' is tiny the inverse multiplies y's rounding (1e-7) by 1/g', in any implementation."""
    x, w, h, d = random_spline(5000, 8, seed=1, dtype=dtype, spread=1.5)
    w, h, d = scale * w, scale * h, scale * d
    y, log_det = rational_quadratic_spline(x, w, h, d, 2.0)
    x_back, inv_log_det = rational_quadratic_spline(y, w, h, d, 2.0, inverse=True)
    torch.testing.assert_close(x_back, x, rtol=0, atol=atol)
    torch.testing.assert_close(inv_log_det, -log_det, rtol=0, atol=100 * atol)


def test_monotone_and_maps_the_interval_onto_itself():
    x, w, h, d = random_spline(1, 6, seed=2, shared=True)
    x = torch.linspace(-3.0, 3.0, 20001, dtype=torch.float64)
    w, h, d = (p.expand(len(x), -1) for p in (w, h, d))
    y, log_det = rational_quadratic_spline(x, w, h, d, 2.5)
    assert (y.diff() > 0).all()
    assert torch.isfinite(log_det).all()
    ends = torch.tensor([-2.5, 2.5], dtype=torch.float64)
    y_ends, _ = rational_quadratic_spline(ends, w[:2], h[:2], d[:2], 2.5)
    torch.testing.assert_close(y_ends, ends, rtol=0, atol=1e-12)


def test_identity_outside_the_tail_bound():
    x, w, h, d = random_spline(400, 4, seed=3)
    x = torch.where(x >= 0, x + 1.0, x - 1.0)  # |x| > 1 everywhere
    for inverse in (False, True):
        y, log_det = rational_quadratic_spline(x, w, h, d, 1.0, inverse=inverse)
        assert torch.equal(y, x)
        assert torch.equal(log_det, torch.zeros_like(x))


def test_log_derivative_equals_autograd_and_is_continuous_at_the_bound():
    x, w, h, d = random_spline(300, 7, seed=4, spread=1.0)
    x = x.clone().requires_grad_(True)
    y, log_det = rational_quadratic_spline(x, w, h, d, 1.5)
    (grad,) = torch.autograd.grad(y.sum(), x)  # elementwise map: dy_i/dx_i
    torch.testing.assert_close(log_det, grad.log(), rtol=0, atol=1e-10)
    # slope 1 at +-B on both sides (the identity tails join smoothly)
    at_bound = torch.tensor([-1.5, 1.5], dtype=torch.float64)
    _, log_det_bound = rational_quadratic_spline(at_bound, w[:2], h[:2], d[:2], 1.5)
    torch.testing.assert_close(log_det_bound, torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-12)


def test_identity_parameters_give_the_identity_map():
    x = torch.linspace(-4, 4, 101, dtype=torch.float64)
    zeros = torch.zeros(len(x), 5, dtype=torch.float64)
    d = torch.full((len(x), 4), identity_derivative_parameter(), dtype=torch.float64)
    y, log_det = rational_quadratic_spline(x, zeros, zeros, d, 3.0)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_det, torch.zeros_like(x), rtol=0, atol=1e-12)


def test_bad_shapes_and_bounds_are_errors_naming_them():
    x, w, h, d = random_spline(10, 4)
    with pytest.raises(ValueError, match=r"raw_widths and raw_heights must have shape \(10, 4\)"):
        rational_quadratic_spline(x, w, h[:, :3], d, 1.0)
    with pytest.raises(ValueError, match=r"raw_derivatives must have shape \(10, 3\).*got \(10, 4\)"):
        rational_quadratic_spline(x, w, h, torch.zeros(10, 4, dtype=x.dtype), 1.0)
    for bound in (0.0, float("inf"), True):
        with pytest.raises(ValueError, match=rf"^rational-quadratic spline: tail bound must be a finite number > 0, "
                                             rf"got {bound!r}$"):
            rational_quadratic_spline(x, w, h, d, bound)
    many = torch.zeros(10, MAX_BINS + 1, dtype=x.dtype)
    with pytest.raises(ValueError, match=rf"^rational-quadratic spline: bins must be an integer in \[1, {MAX_BINS}\], "
                                         rf"got {MAX_BINS + 1}$"):
        rational_quadratic_spline(x, many, many, many[:, 1:], 1.0)
