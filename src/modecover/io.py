"""Reading sample / feature arrays from files: ``.npy``, ``.npz``, ``.pt`` / ``.pth``.

Accepted forms (a key picks one array from a file that holds several):

- ``x.npy``                    one array (loaded with ``allow_pickle=False``)
- ``x.npz`` or ``x.npz:key``   the only array in the archive, or the one called ``key``
- ``x.pt`` / ``x.pth`` (``:key``)  a tensor, or a dict holding exactly one tensor (or the
  entry ``key``); loaded with ``torch.load(weights_only=True)``, so no code runs;
  float16 / bfloat16 tensors are widened (exactly) to float32

Every error (missing file, empty file, unknown key, non-numeric data, wrong number of
dimensions, NaN or infinite values) is a ``ValueError`` or ``FileNotFoundError`` whose
message starts with the file (and key) it is about. A ``.npy`` / ``.npz`` file that is
neither (text, a pickle, an image saved under that name) is named for what it is, from
its first bytes, before numpy reads it: numpy would call anything unknown "pickled
(object) data" and suggest loading it unsafely.

Writing: :func:`write_atomic` (a file that is never left half written), :func:`write_csv`
(per-sample columns, floats at full precision) and :func:`json_safe` (numpy values,
dataclasses and paths as plain JSON values), shared by the audit, the DMPRA plug-in's round
files and the evaluation's explanation files.
"""

from __future__ import annotations

import csv
import math
import os
import zipfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from modecover._checks import as_features

NUMPY_SUFFIXES = (".npy", ".npz")
NPY_MAGIC = b"\x93NUMPY"  # the start of every .npy file
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a .npz file is a zip archive (the second: an empty one)
TORCH_SUFFIXES = (".pt", ".pth")
SUFFIXES = NUMPY_SUFFIXES + TORCH_SUFFIXES


def split_key(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """Split ``"file.npz:key"`` into ``(Path("file.npz"), "key")``; no key -> ``None``.

    Only a colon after a known suffix starts a key, so other colons in a path are kept.
    """
    text = os.fspath(spec)
    if not Path(text).exists():
        head, sep, key = text.rpartition(":")
        if sep and head.lower().endswith(SUFFIXES) and key:
            return Path(head), key
    return Path(text), None


def _label(path: Path, key: str | None) -> str:
    return f"{path}:{key}" if key is not None else str(path)


def _pick(arrays: dict, key: str | None, label: str, what: str):
    if key is not None:
        if key not in arrays:
            raise ValueError(f"{label}: no {what} called {key!r}; it holds {sorted(arrays)}")
        return arrays[key]
    if len(arrays) != 1:
        raise ValueError(
            f"{label}: holds {len(arrays)} {what}s {sorted(arrays)}; name one as '{label}:KEY'"
        )
    return next(iter(arrays.values()))


def _check_numpy_start(path: Path, label: str) -> None:
    """Refuse a file that starts as neither a .npy file nor a zip archive (.npz), saying what
    it looks like: text (with its first characters), a Python pickle, or its first bytes."""
    with open(path, "rb") as f:
        head = f.read(32)
    if head.startswith(NPY_MAGIC) or head.startswith(ZIP_MAGICS):
        return
    kind = f"not a NumPy {path.suffix.lower()} file"
    text = head.decode("utf-8", errors="replace").rstrip("\ufffd")[:20]  # a character cut at byte 32 dropped
    if len(head) > 1 and head[0] == 0x80 and head[1] <= 5:  # pickle protocols 2 to 5 start with PROTO n
        raise ValueError(f"{label}: {kind}: it is a Python pickle, which modecover never loads (unpickling can "
                         "run code); save the array with numpy.save")
    if text and "\ufffd" not in text and all(c.isprintable() or c in "\t\r\n" for c in text):
        raise ValueError(f"{label}: {kind}: it starts with {text!r}, which is text; read text with numpy.loadtxt "
                         "and save the array with numpy.save")
    raise ValueError(f"{label}: {kind}: it starts with the bytes {head[:8].hex(' ')} (a .npy file starts with "
                     "\\x93NUMPY, a .npz file is a zip archive); write them with numpy.save / numpy.savez")


def _read_numpy(path: Path, key: str | None) -> np.ndarray:
    label = _label(path, key)
    _check_numpy_start(path, label)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{label}: cannot read as a numpy file ({err})") from err
    if isinstance(loaded, np.ndarray):
        if key is not None:
            raise ValueError(f"{label}: a .npy file holds one array; drop the ':{key}' part")
        return loaded
    with loaded:
        name = _pick({k: k for k in loaded.files}, key, label, "array")
        try:
            return np.asarray(loaded[name])
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # ValueError: e.g. an object array
            raise ValueError(f"{_label(path, name)}: cannot read the archive ({err})") from err


def _read_torch(path: Path, key: str | None) -> np.ndarray:
    label = _label(path, key)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several exception types for bad files
        raise ValueError(f"{label}: cannot read as a torch file with weights_only=True ({err})") from err
    if isinstance(loaded, dict):
        tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
        if key is not None and key in loaded and key not in tensors:
            raise ValueError(f"{label}: entry {key!r} is a {type(loaded[key]).__name__}, not a tensor")
        loaded = _pick(tensors, key, label, "tensor")
    elif key is not None:
        raise ValueError(f"{label}: the file holds one {type(loaded).__name__}, not a dict; drop the ':{key}' part")
    if not isinstance(loaded, torch.Tensor):
        raise ValueError(f"{label}: expected a tensor or a dict of tensors, got {type(loaded).__name__}")
    if loaded.dtype in (torch.float16, torch.bfloat16):  # numpy has no bfloat16; float32 holds both exactly
        loaded = loaded.float()
    return loaded.detach().cpu().numpy()


def load_array(spec: str | os.PathLike, *, min_ndim: int = 1) -> np.ndarray:
    """Load one numeric array (any number of dimensions >= ``min_ndim``) from ``spec``.

    The array must be non-empty, numeric and finite; errors name the file (and key).
    Use it for samples that are images ``(N, C, H, W)``; :func:`load_features` for
    feature vectors ``(N, D)``.
    """
    path, key = split_key(spec)
    label = _label(path, key)
    if not path.exists():
        raise FileNotFoundError(f"{label}: no such file")
    if path.is_dir():
        raise ValueError(f"{label}: is a folder, expected a {'/'.join(SUFFIXES)} file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{label}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    if path.stat().st_size == 0:
        raise ValueError(f"{label}: the file is empty (0 bytes)")
    arr = _read_numpy(path, key) if suffix in NUMPY_SUFFIXES else _read_torch(path, key)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{label}: expected numeric data, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{label}: expected real numbers, got complex dtype {arr.dtype}")
    if arr.ndim == 1 and min_ndim >= 2:
        raise ValueError(
            f"{label}: a 1-D array (shape {arr.shape}) is ambiguous; save {arr.shape[0]} samples of one feature "
            f"as shape ({arr.shape[0]}, 1) (x.reshape(-1, 1)), or one sample as shape (1, {arr.shape[0]})"
        )
    if arr.ndim < min_ndim:
        raise ValueError(f"{label}: expected at least {min_ndim} dimension(s), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{label}: holds an empty array (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            first = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(
                f"{label}: {int((~finite).sum())} non-finite value(s); first is {arr[first]} at index {first}"
            )
    return arr


def load_features(spec: str | os.PathLike, *, min_rows: int = 1, dim: int | None = None) -> np.ndarray:
    """Load a 2-D feature array ``(n_samples, n_features)`` from ``spec`` (see module doc).

    Checked with :func:`modecover._checks.as_features` under the file's name: 2-D, at
    least ``min_rows`` rows, ``dim`` columns when given, finite values.
    """
    path, key = split_key(spec)
    return as_features(load_array(spec, min_ndim=2), _label(path, key), min_rows=min_rows, dim=dim)


def write_atomic(path, payload: bytes | str) -> Path:
    """Write ``payload`` to ``path`` so that a crash leaves the old file or the new one,
    never half of one: a temporary file in the same folder, fsync, ``os.replace``, then an
    fsync of the folder. Checkpoints, result files and logs all go through here."""
    path = Path(path)
    if isinstance(payload, str):
        payload = payload.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return path
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
    return path


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, tuples and dataclasses turned into plain JSON values
    (non-finite floats become None, so the file stays valid JSON)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_csv(path: Path, key_name: str, keys: Sequence, columns: dict[str, np.ndarray]) -> Path:
    """A CSV with header ``key_name, *columns``; floats written with full precision (repr)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    as_lists = [np.asarray(columns[c]).tolist() for c in names]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([key_name, *names])
        for i, key in enumerate(keys):
            writer.writerow([key, *(repr(col[i]) if isinstance(col[i], float) else col[i] for col in as_lists)])
    return path


__all__ = ["SUFFIXES", "json_safe", "load_array", "load_features", "split_key", "write_atomic", "write_csv"]
