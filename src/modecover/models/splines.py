"""Monotone rational-quadratic splines (Durkan, Bekasov, Murray & Papamakarios 2019, "Neural Spline Flows").

On [-B, B] the map is a monotone piecewise rational-quadratic function through K + 1 knots
(x_k, y_k), k = 0..K, with x_0 = y_0 = -B, x_K = y_K = B and positive derivatives d_k at the
knots; outside [-B, B] it is the identity (the "linear tails": d_0 = d_K = 1 makes the map and
its derivative continuous at +-B). Inside bin k, with w = x_{k+1} - x_k, h = y_{k+1} - y_k,
s = h / w and xi = (x - x_k) / w in [0, 1]:

    y = y_k + h (s xi^2 + d_k xi (1 - xi)) / (s + (d_k + d_{k+1} - 2 s) xi (1 - xi))
    dy/dx = s^2 (d_{k+1} xi^2 + 2 s xi (1 - xi) + d_k (1 - xi)^2) / (s + (d_k + d_{k+1} - 2 s) xi (1 - xi))^2

and the inverse solves the quadratic in xi that the first line gives, taking its root in [0, 1].

Unconstrained parameters (what a coupling network outputs) map to the spline as follows:
bin widths w = 2 B (m_w + (1 - K m_w) softmax(raw_w)), heights alike with m_h = m_w, interior
derivatives d_1..d_{K-1} = m_d + softplus(raw_d). ``identity_derivative_parameter(m_d)`` is the
raw_d with derivative 1, so that raw_w = raw_h = 0 and raw_d = that value give the identity map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from modecover._checks import int_in_range, real_in_range

MIN_BIN_SIZE = 1e-3  # m_w = m_h: the least bin width and height, as a share of 2 B
MIN_DERIVATIVE = 1e-3  # m_d
MAX_BINS = round(1 / MIN_BIN_SIZE) - 1  # K m_w < 1


def identity_derivative_parameter(min_derivative: float = MIN_DERIVATIVE) -> float:
    """The raw derivative parameter r with min_derivative + softplus(r) = 1."""
    return math.log(math.expm1(1.0 - min_derivative))


def _knots(raw: Tensor, bound: float) -> Tensor:
    """(..., K) raw sizes -> (..., K + 1) knot positions from exactly -bound to exactly bound."""
    bins = raw.shape[-1]
    sizes = MIN_BIN_SIZE + (1.0 - MIN_BIN_SIZE * bins) * torch.softmax(raw, dim=-1)
    inner = torch.cumsum(sizes[..., :-1], dim=-1)  # the last cumulative sum is 1 up to rounding: pinned
    return 2.0 * bound * F.pad(F.pad(inner, (1, 0), value=0.0), (0, 1), value=1.0) - bound


def _check_parameters(x: Tensor, raw_widths: Tensor, raw_heights: Tensor, raw_derivatives: Tensor,
                      bound: float) -> None:
    bins = raw_widths.shape[-1]
    expected = (*x.shape, bins)
    if tuple(raw_widths.shape) != expected or tuple(raw_heights.shape) != expected:
        raise ValueError(
            f"rational-quadratic spline: raw_widths and raw_heights must have shape {expected} (inputs' shape, "
            f"then the bins), got {tuple(raw_widths.shape)} and {tuple(raw_heights.shape)}"
        )
    if tuple(raw_derivatives.shape) != (*x.shape, bins - 1):
        raise ValueError(
            f"rational-quadratic spline: raw_derivatives must have shape {(*x.shape, bins - 1)} (one per "
            f"interior knot), got {tuple(raw_derivatives.shape)}"
        )
    int_in_range(bins, "rational-quadratic spline: bins", 1, MAX_BINS)
    real_in_range(bound, "rational-quadratic spline: tail bound", 0, low_open=True)


def rational_quadratic_spline(x: Tensor, raw_widths: Tensor, raw_heights: Tensor, raw_derivatives: Tensor,
                              bound: float, inverse: bool = False) -> tuple[Tensor, Tensor]:
    """The spline of the module docstring applied elementwise: (y, log|dy/dx|), both shaped like ``x``.

    ``raw_widths``, ``raw_heights``: (*x.shape, K); ``raw_derivatives``: (*x.shape, K - 1).
    With ``inverse=True`` ``x`` is a spline output and the result is (the input, log|dx/dy|),
    i.e. minus the forward log-derivative at that input. Values outside [-bound, bound] pass
    through unchanged with log-derivative 0.
    """
    _check_parameters(x, raw_widths, raw_heights, raw_derivatives, bound)
    inside = (x >= -bound) & (x <= bound)
    v = x.clamp(-bound, bound)  # evaluated everywhere (finite), kept only inside
    xs, ys = _knots(torch.stack([raw_widths, raw_heights]), bound).unbind(0)
    interior = MIN_DERIVATIVE + F.softplus(raw_derivatives)
    derivatives = F.pad(F.pad(interior, (1, 0), value=1.0), (0, 1), value=1.0)  # identity tails: slope 1 at +-B

    # the bin k of each value: how many interior knots lie at or below it (v = bound falls in bin K - 1)
    k = (v[..., None] >= (ys if inverse else xs)[..., 1:-1]).sum(dim=-1, keepdim=True)
    knots = torch.stack([xs, ys, derivatives], dim=-1)  # (..., K + 1, 3)
    ends = knots.gather(-2, torch.cat([k, k + 1], dim=-1)[..., None].expand(*k.shape[:-1], 2, 3))
    (x_k, y_k, d_k), (x_next, y_next, d_next) = ends[..., 0, :].unbind(-1), ends[..., 1, :].unbind(-1)
    width, height = x_next - x_k, y_next - y_k
    slope = height / width
    curvature = d_k + d_next - 2.0 * slope

    if inverse:
        offset = v - y_k
        a = height * (slope - d_k) + offset * curvature
        b = height * d_k - offset * curvature
        c = -slope * offset
        discriminant = (b.square() - 4.0 * a * c).clamp_min(0.0)
        xi = (2.0 * c) / (-b - discriminant.sqrt())  # the root in [0, 1], stable when a ~ 0
        result = x_k + xi * width
    else:
        xi = (v - x_k) / width
    between = xi * (1.0 - xi)
    denominator = slope + curvature * between
    if not inverse:
        result = y_k + height * (slope * xi.square() + d_k * between) / denominator
    log_derivative = (
        2.0 * torch.log(slope)
        + torch.log(d_next * xi.square() + 2.0 * slope * between + d_k * (1.0 - xi).square())
        - 2.0 * torch.log(denominator)
    )
    out = torch.where(inside, result, x)
    log_det = torch.where(inside, -log_derivative if inverse else log_derivative, torch.zeros_like(x))
    return out, log_det


__all__ = ["MAX_BINS", "MIN_BIN_SIZE", "MIN_DERIVATIVE", "identity_derivative_parameter",
           "rational_quadratic_spline"]
