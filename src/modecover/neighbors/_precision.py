"""Precision of the tile products: float32 or bfloat16 (:func:`products`), and the unit
roundoffs the error bounds are made of."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch

_U32 = 2.0**-24  # float32 unit roundoff
_U16 = 2.0**-8  # bfloat16 unit roundoff
_MIN_NORMAL = 2.0**-126  # float32's and bfloat16's smallest normal: the most underflow adds to a rounding
_LOW_MIN_DIM = 512  # bfloat16 products from this width on (where the products dominate) ...
_LOW_MIN_WORK = 4e10  # ... and this many multiply-adds (n_a n_b d): below, float32 is as fast

PRODUCTS = ("auto", "float32", "bfloat16")
_products_setting = "auto"


@contextlib.contextmanager
def products(kind: str) -> Iterator[None]:
    """Precision of the engine's tile products inside the ``with`` block (answers are exact either way).

    ``"float32"``; ``"bfloat16"`` (inputs rounded to bfloat16, products accumulated in
    float32 and rounded to bfloat16: about 4 times the float32 rate on CPUs with AVX512-BF16
    or AMX, far slower without); ``"auto"`` (default): bfloat16 for points of width >= 512
    and at least 4e10 multiply-adds (10,000 x 10,000 points of width 512) on a CPU with
    native bfloat16 products, float32 otherwise, and float32 for k-NN with k > 32 (long
    lists are mostly re-measuring, which the wider bound adds to). The FAISS backend always
    multiplies in float32. The error bound grows with the rounding (docs/metrics.md,
    "bfloat16 products"), so more pairs are re-measured (float32, then float64).
    """
    global _products_setting
    if kind not in PRODUCTS:
        raise ValueError(f"products must be one of {PRODUCTS}, got {kind!r}")
    old, _products_setting = _products_setting, kind
    try:
        yield
    finally:
        _products_setting = old


@functools.cache
def _native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (x86 flags ``avx512_bf16`` or ``amx_bf16``)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def _bfloat16_sums_in_float32() -> bool:
    """Whether this torch build sums bfloat16 products in float32 and rounds only the result
    (the bound of docs/metrics.md, "bfloat16 products", assumes it): 1,024 terms of 2^-6
    between 512 of +1 and 512 of -1 sum to exactly 16 that way; partial sums rounded to
    bfloat16 (8 bits) would lose them."""
    terms = torch.full((2048,), 2.0**-6)
    terms[0::4], terms[2::4] = 1.0, -1.0
    row = terms.to(torch.bfloat16)[None, :].repeat(32, 1)
    return bool((torch.mm(row, torch.ones(2048, 32, dtype=torch.bfloat16)) == 16.0).all())


def _use_bfloat16(d: int, work: float) -> bool:
    """Whether products of width ``d``, ``work`` multiply-adds in all, run in bfloat16 (:func:`products`)."""
    if _products_setting == "float32":
        return False
    if _products_setting == "auto" and not (d >= _LOW_MIN_DIM and work >= _LOW_MIN_WORK and _native_bfloat16()):
        return False
    if not _bfloat16_sums_in_float32():
        if _products_setting == "bfloat16":
            raise RuntimeError("products('bfloat16'): this torch build does not sum bfloat16 products in "
                               "float32 (the error bound assumes it); use products('float32')")
        return False
    return True
