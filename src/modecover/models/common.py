"""Checks shared by the model families."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from modecover._checks import int_in_range, is_real_number, non_negative_int, real_in_range


def check_real_batch(family: str, real: Tensor, data_shape, device_dtype) -> Tensor:
    """The real batch as a float tensor on the model's device; ``ValueError`` names 'real'."""
    real = torch.as_tensor(real)
    shape = tuple(data_shape)
    if real.ndim != len(shape) + 1 or tuple(real.shape[1:]) != shape or real.shape[0] == 0:
        raise ValueError(
            f"model '{family}': real batch must have shape (B, {', '.join(map(str, shape))}) with B >= 1, "
            f"got {tuple(real.shape)}"
        )
    device, dtype = device_dtype
    real = real.to(device=device, dtype=dtype)
    if not torch.isfinite(real).all():
        raise ValueError(f"model '{family}': real batch holds NaN or infinite values")
    return real


def check_sample_count(n: int) -> None:
    non_negative_int(n, "sample: n")


def check_data_shape(family: str, data_shape: Any) -> None:
    """(D,) for vectors or (C, H, W) for images, positive integers."""
    ok = (
        isinstance(data_shape, (tuple, list))
        and len(data_shape) in (1, 3)
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in data_shape)
    )
    if not ok:
        raise ValueError(
            f"model '{family}': config key 'data_shape' must be (D,) or (C, H, W) of positive integers, "
            f"got {data_shape!r}"
        )


def require_int(config: Any, family: str, key: str, *, minimum: int) -> None:
    setattr(config, key, int_in_range(getattr(config, key), f"model '{family}': config key '{key}'", minimum))


def require_number(config: Any, family: str, key: str, *, minimum: float, strict: bool = False) -> None:
    real_in_range(getattr(config, key), f"model '{family}': config key '{key}'", minimum, low_open=strict)


def check_adam_betas(family: str, betas: Any) -> None:
    ok = isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
        is_real_number(b) and 0.0 <= b < 1.0 for b in betas
    )
    if not ok:
        raise ValueError(f"model '{family}': config key 'adam_betas' must be two numbers in [0, 1), got {betas!r}")
