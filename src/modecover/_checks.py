"""Input validation shared by every public entry point.

Each check raises ``ValueError`` whose message names the array (or file) and what is
wrong with it, so that bad input never turns into a silent NaN further down.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import torch

ArrayLike = "np.ndarray | torch.Tensor"


def as_features(x, name: str = "features", *, min_rows: int = 1, dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous 2-D float array after checking it.

    Raises ``ValueError`` naming ``name`` if ``x`` is not 2-D, has fewer than
    ``min_rows`` rows, has ``dim`` set and a different number of columns, or holds NaN
    or infinite values (the message gives the first offending row and column).
    A 1-D array is *not* silently reshaped: the caller must say whether it is one
    point or many scalars.
    """
    arr = np.asarray(tensor_values(x, name) if isinstance(x, torch.Tensor) else x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected real values, got dtype {arr.dtype} (take .real or abs() first)")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} rows, got {arr.shape[0]} (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: has zero feature columns (shape {arr.shape})")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: expected {dim} feature columns, got {arr.shape[1]} (shape {arr.shape})")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        bad = arr[row, col]
        count = int((~finite).sum())
        raise ValueError(
            f"{name}: {count} non-finite value(s); first is {bad} at row {row}, column {col}"
        )
    return np.ascontiguousarray(arr)


def tensor_values(x: torch.Tensor, name: str) -> np.ndarray:
    """A tensor's values as a numpy array on the CPU (float16 and bfloat16 widened exactly
    to float32); a tensor on the ``meta`` device has none, which is an error naming ``name``."""
    if x.device.type == "meta":
        raise ValueError(f"{name}: a tensor on the 'meta' device holds no values")
    x = x.detach().cpu()
    return (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x).numpy()


def real_values(x, name: str) -> np.ndarray:
    """``x`` (array-like or tensor) as a float64 array if it holds real numbers (integers or
    floats; not bools, strings, complex numbers or objects), else a ``ValueError`` naming ``name``."""
    arr = np.asarray(tensor_values(x, name) if isinstance(x, torch.Tensor) else x)
    if arr.dtype.kind not in "iuf":
        got = f"{x!r} (dtype {arr.dtype})" if arr.ndim == 0 else f"dtype {arr.dtype} (shape {arr.shape})"
        raise ValueError(f"{name}: expected real numbers, got {got}")
    return arr.astype(np.float64)


def is_integer(value) -> bool:
    """An int, numpy's included, but not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(value, name: str) -> int:
    """``value`` as an int if it is an integer >= 1 (not a bool), else a ``ValueError`` naming ``name``."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(value, name: str) -> int:
    """``value`` as an int if it is an integer >= 0 (not a bool), else a ``ValueError`` naming ``name``."""
    if not is_integer(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def is_real_number(value) -> bool:
    """An int or float, numpy's included, but not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def int_in_range(value, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int if it is an integer (numpy's too, never a bool) with ``low <= value``
    and, when ``high`` is given, ``value <= high``; else a ``ValueError`` of one shape:
    ``{name} must be an integer >= {low}, got {value!r}`` or ``... an integer in [low, high], got ...``."""
    if not is_integer(value) or value < low or (high is not None and value > high):
        rule = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {rule}, got {value!r}")
    return int(value)


def real_in_range(value, name: str, low: float | None = None, high: float | None = None, *,
                  low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number (numpy's too, never a bool) within the
    bounds given (``low_open`` / ``high_open``: the bound itself is outside), else a
    ``ValueError`` of one shape: ``{name} must be a finite number in (0, 1], got {value!r}``,
    ``... a finite number > 0, got ...`` (one bound) or ``... a finite number, got ...``."""
    ok = is_real_number(value) and bool(np.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{name} must be a finite number{_range_words(low, high, low_open, high_open)}, got {value!r}")
    return float(value)


def _range_words(low, high, low_open: bool, high_open: bool) -> str:
    """`` in (0, 1]``, `` > 0``, `` <= 1`` or nothing, for the bounds given (written as given:
    ``0`` or ``0.0``)."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def no_op_error(where: str, setting: str, why: str, remedy: str) -> ValueError:
    """The error of a setting that would make its method, key or option do nothing, in one
    shape: ``{where}: {setting} would do nothing ({why}); {remedy}``, e.g. ``[[methods]] 'dpm':
    'weight' = 0 would do nothing (the term is multiplied by 0); leave the method out``."""
    return ValueError(f"{where}: {setting} would do nothing ({why}); {remedy}")


def method_option_error(method: str, key: str, rule: str, value) -> ValueError:
    """The error of a method config value: ``[[methods]] 'dpm': 'weight' must be ..., got 'x'``."""
    return ValueError(f"[[methods]] '{method}': '{key}' must be {rule}, got {value!r}")


T = TypeVar("T")


class TableError(ValueError):
    """A table (a dict of key = value pairs) that does not fit its dataclass; the message
    starts with where the table is (``[train]``, ``[[methods]] 'dmpra'.search``)."""


def dataclass_from_table(cls: type[T], table: Any, where: str) -> T:
    """``cls(**table)`` after checking the table's keys against the dataclass ``cls``.

    ``where`` names the table in every message, which has one form: ``{where}: unknown
    key(s) [...]; known keys: [...]``, ``{where}: missing key(s) [...]`` (fields without a
    default), ``{where}: expected a table of key = value pairs, got ...``. A field whose
    type is a dataclass takes a dict too, built by this function with ``where`` extended
    by ``.field`` (an error its ``__post_init__`` raises then starts with that name); an
    instance of the class is kept as it is. Errors are :class:`TableError` (a
    ``ValueError``); the ``__post_init__`` of ``cls`` itself raises its own errors.
    """
    if isinstance(table, cls):
        return table
    check_table_keys(cls, table, where)
    init_fields = [f for f in dataclasses.fields(cls) if f.init]
    missing = sorted(f.name for f in init_fields if f.name not in table and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise TableError(f"{where}: missing key(s) {missing}")
    values = dict(table)
    for name, (sub, optional) in _dataclass_fields(cls).items():
        if name in values and not isinstance(values[name], sub) and not (optional and values[name] is None):
            values[name] = nested_table(sub, values[name], f"{where}.{name}")
    return cls(**values)


def table_values(config: Any) -> dict[str, Any]:
    """The init fields of the dataclass object ``config`` as plain JSON values, nested
    dataclasses as tables: ``dataclass_from_table(type(config), table_values(config), ...)``
    gives ``config`` back (tuples come back as lists where the class keeps them)."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    plain = {k: table_values(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
             for k, v in values.items()}
    return json.loads(json.dumps(plain, default=str))


def check_table_keys(cls: type, table: Any, where: str, extra: tuple[str, ...] = ()) -> None:
    """The checks of :func:`dataclass_from_table` that need no values: ``table`` is a dict
    whose keys are init fields of dataclass ``cls`` (or in ``extra``), else a
    :class:`TableError` naming ``where``, the unknown keys and the known ones."""
    if not isinstance(table, Mapping):
        raise TableError(f"{where}: expected a table of key = value pairs, got {type(table).__name__} {table!r}")
    known = sorted({f.name for f in dataclasses.fields(cls) if f.init} | set(extra))
    unknown = sorted(str(k) for k in table if k not in known)
    if unknown:
        raise TableError(f"{where}: unknown key(s) {unknown}; known keys: {known}")


def nested_table(cls: type[T], table: Any, where: str) -> T:
    """:func:`dataclass_from_table` for a table inside another (``where`` names it, e.g.
    ``[[methods]] 'dmpra'.search``): an error of the class's ``__post_init__`` gets
    ``where`` in front too."""
    try:
        return dataclass_from_table(cls, table, where)
    except TableError:
        raise
    except ValueError as err:
        raise TableError(f"{where}: {err}") from None


def _dataclass_fields(cls: type) -> dict[str, tuple[type, bool]]:
    """The fields of dataclass ``cls`` whose type is a dataclass: name -> (that class,
    whether None is allowed too: ``X | None``)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a forward reference that does not resolve: such fields are taken as given
        hints = {}
    found = {}
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name, f.type)
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        options = [a for a in typing.get_args(hint) if a is not type(None)] if union else [hint]
        if len(options) == 1 and isinstance(options[0], type) and dataclasses.is_dataclass(options[0]):
            found[f.name] = options[0], union
    return found


def check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` if two feature arrays have different numbers of columns."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} has {a.shape[1]} feature columns but {name_b} has {b.shape[1]}; "
            "they must come from the same feature extractor"
        )


def check_k(k: int, n: int, name: str, *, self_excluded: bool = True) -> None:
    """Raise ``ValueError`` unless ``1 <= k`` and the set of ``n`` points has k neighbours."""
    positive_int(k, "k")
    need = k + 1 if self_excluded else k
    if n < need:
        raise ValueError(
            f"{name}: has {n} points, but k={k} nearest neighbours "
            f"{'(self excluded) ' if self_excluded else ''}need at least {need}"
        )


class AllocationTooLarge(MemoryError, ValueError):
    """A buffer estimated before allocation does not fit in the memory available now.

    Both a ``MemoryError`` (what numpy would raise, later and without a size) and a
    ``ValueError`` (bad input for this machine: the CLI's error path reports it).
    """


def available_memory_bytes() -> int | None:
    """Memory available to new allocations now (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - non-Linux
        pass
    return None


def check_allocation(nbytes: float, what: str, avoid: str, *, available: int | None = None) -> None:
    """Raise :class:`AllocationTooLarge` naming ``what``, its size and ``avoid`` (the option
    that does without it) when ``nbytes`` exceeds the memory available now."""
    limit = available_memory_bytes() if available is None else available
    if limit is not None and nbytes > limit:
        raise AllocationTooLarge(
            f"{what} needs {nbytes / 2**30:.1f} GiB but only {limit / 2**30:.1f} GiB of memory is available; {avoid}"
        )
