"""The shared argument checks: integers and real numbers within bounds, and the no-op refusal."""

import math
import re

import numpy as np
import pytest

from modecover._checks import int_in_range, no_op_error, non_negative_int, positive_int, real_in_range

INTEGERS = [0, 1, 2, 5, -1, np.int64(3), np.uint8(0), np.int32(-2)]
NOT_INTEGERS = [True, False, np.bool_(True), 1.0, 2.5, "3", None, float("nan")]


@pytest.mark.parametrize("low, high", [(0, None), (1, None), (3, None), (0, 2), (-1, 1), (2, 2)])
def test_int_in_range_matches_the_plain_comparison(low, high):
    for value in INTEGERS:
        inside = low <= value and (high is None or value <= high)
        if inside:
            got = int_in_range(value, "opt", low, high)
            assert got == value and type(got) is int
        else:
            rule = f">= {low}" if high is None else f"in [{low}, {high}]"
            with pytest.raises(ValueError, match=re.escape(f"opt must be an integer {rule}, got {value!r}")):
                int_in_range(value, "opt", low, high)


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_int_in_range_refuses_bools_and_non_integers_by_name_and_value(value):
    with pytest.raises(ValueError, match=rf"^\[train\] 'steps' must be an integer >= 0, got {re.escape(repr(value))}$"):
        int_in_range(value, "[train] 'steps'", 0)


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_positive_and_non_negative_int_refuse_bools(value):
    with pytest.raises(ValueError, match=r"^k must be a positive integer"):
        positive_int(value, "k")
    with pytest.raises(ValueError, match=r"^k must be a non-negative integer"):
        non_negative_int(value, "k")


BOUNDS = [  # low, high, low_open, high_open, words
    (0, 1, True, False, "in (0, 1]"),
    (0, 1, False, True, "in [0, 1)"),
    (0, 1, False, False, "in [0, 1]"),
    (0, 1, True, True, "in (0, 1)"),
    (0, None, True, False, "> 0"),
    (1, None, False, False, ">= 1"),
    (None, 0.5, False, True, "< 0.5"),
    (None, 2, False, False, "<= 2"),
    (0.0, None, True, False, "> 0.0"),  # a bound is written as given
    (None, None, False, False, ""),
]
REALS = [-1.0, 0, 0.0, 1e-300, 0.5, 1, 1.0, 2, np.float32(0.5), np.int64(1), 1e300]


@pytest.mark.parametrize("low, high, low_open, high_open, words", BOUNDS)
def test_real_in_range_matches_the_plain_comparisons(low, high, low_open, high_open, words):
    for value in REALS:
        inside = ((low is None or (value > low if low_open else value >= low))
                  and (high is None or (value < high if high_open else value <= high)))
        if inside:
            got = real_in_range(value, "lr", low, high, low_open=low_open, high_open=high_open)
            assert got == float(value) and type(got) is float
        else:
            message = f"lr must be a finite number{' ' + words if words else ''}, got {value!r}"
            with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
                real_in_range(value, "lr", low, high, low_open=low_open, high_open=high_open)


@pytest.mark.parametrize("value", [True, np.bool_(False), math.inf, -math.inf, math.nan, np.float64("nan"), "0.5",
                                   None, [0.5], complex(0.5, 0)])
def test_real_in_range_refuses_non_finite_and_non_numbers(value):
    with pytest.raises(ValueError, match=rf"^SearchConfig.alpha must be a finite number in \(0, 1\], got "
                                         rf"{re.escape(repr(value))}$"):
        real_in_range(value, "SearchConfig.alpha", 0, 1, low_open=True)


def test_no_op_error_has_one_shape():
    err = no_op_error("[[methods]] 'dpm'", "'weight' = 0", "the term is multiplied by 0", "leave the method out")
    assert isinstance(err, ValueError)
    assert str(err) == ("[[methods]] 'dpm': 'weight' = 0 would do nothing (the term is multiplied by 0); "
                        "leave the method out")
