"""Checkpoints: one safetensors file per checkpoint, written atomically, loaded without
executing code (docs/training.md, "Checkpoint format").

Layout of a ``.ckpt`` file (a standard safetensors file, readable by any safetensors tool):

* tensors: model parameters and buffers under ``model/<name>``, optimizer tensors under
  ``optimizers/<name>/...``, plug-in tensors under ``hooks/<plugin>/...``, RNG and sampler
  states under ``state/...``;
* header metadata ``modecover``: a JSON document holding everything else (format version,
  model family and config, plug-in names and configs, step, round, optimizer
  hyper-parameters, ...) where each tensor is replaced by ``{"__tensor__": "<key>"}``;
* header metadata ``sha256``: a digest of every tensor's key, dtype, shape and bytes, and
  ``modecover_sha256``: a digest of the ``modecover`` document, so a flipped bit in the
  tensors or in the header is reported as corruption instead of being loaded (checkpoints
  written before ``modecover_sha256`` existed load without the header check).

Writing goes to a temporary file in the same directory, is fsync'ed, then renamed over
the target (``os.replace``), so a crash leaves either the old or the new checkpoint,
never a half-written one; a failed load changes no file. Nothing is unpickled: tensors
come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from modecover.io import write_atomic
from modecover.models.base import GenerativeModel
from modecover.plugins import Hooks, shapes_latents

FORMAT = "modecover-checkpoint"
VERSION = 1

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint",
           "restore_checkpoint", "config_differences"]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, truncated, corrupt, or of another model."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model, the plug-ins' saved state, and the run state
    (step, round, RNG and sampler states, the run config when the CLI wrote it)."""

    model: GenerativeModel | None
    hooks_state: dict[str, dict[str, Any]]
    state: dict[str, Any]
    family: str = ""
    model_config: dict[str, Any] = field(default_factory=dict)
    plugins: list[dict[str, Any]] = field(default_factory=list)
    optimizers: dict[str, Any] = field(default_factory=dict)
    model_state: dict[str, Tensor] = field(default_factory=dict)
    path: Path | None = None


# ----------------------------------------------------------------------------- tree <-> JSON + tensors


def _flatten(value: Any, key: str, tensors: dict[str, Tensor]) -> Any:
    """JSON-able copy of ``value`` with tensors / arrays moved into ``tensors`` under ``key``."""
    if isinstance(value, Tensor):
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        stored = arr.astype(np.int64) if arr.dtype.kind == "u" and arr.dtype.itemsize > 1 else arr
        tensors[key] = torch.from_numpy(stored.copy())
        return {"__ndarray__": key, "dtype": arr.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
        if plain:
            return {k: _flatten(v, f"{key}/{k}", tensors) for k, v in value.items()}
        return {"__items__": [[k, _flatten(v, f"{key}/{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_flatten(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_flatten(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint: cannot store value of type {type(value).__name__} at '{key}'")


def _unflatten(value: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(value, list):
        return [_unflatten(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return tensors[value["__ndarray__"]].numpy().astype(np.dtype(value["dtype"]))
    if "__tuple__" in value:
        return tuple(_unflatten(v, tensors) for v in value["__tuple__"])
    if "__items__" in value:
        return {k: _unflatten(v, tensors) for k, v in value["__items__"]}
    return {k: _unflatten(v, tensors) for k, v in value.items()}


def _digest(tensors: dict[str, Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _json_config(config: Any) -> Any:
    """A plug-in or model config as plain JSON values (dataclasses, tuples, paths...)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    return json.loads(json.dumps(config, default=str))


# ----------------------------------------------------------------------------- writing

def plugin_records(hooks: Hooks) -> list[dict[str, Any]]:
    """``[{"name", "config", "shapes_latents"}]`` of the installed plug-ins, as stored in a
    checkpoint (``shapes_latents``: whether sampling needs the plug-in)."""
    return [{"name": p.name, "config": _json_config(getattr(p, "config", None)),
             "shapes_latents": shapes_latents(type(p))}
            for p in hooks.plugins]


def save_checkpoint(path, model: GenerativeModel, hooks: Hooks, state: dict[str, Any]) -> Path:
    """Write model, optimizers, plug-in states and ``state`` (step, round, RNG states, ...)
    atomically to ``path``; returns the path."""
    from safetensors.torch import save

    path = Path(path)
    tensors: dict[str, Tensor] = {}
    document = {
        "format": FORMAT,
        "version": VERSION,
        "family": model.family,
        "model_config": _json_config(model.config),
        "plugins": plugin_records(hooks),
        "model": _flatten(dict(model.state_dict()), "model", tensors),
        "optimizers": _flatten({k: o.state_dict() for k, o in model.optimizers().items()}, "optimizers", tensors),
        "hooks": _flatten(hooks.state_dict(), "hooks", tensors),
        "state": _flatten(state, "state", tensors),
    }
    text = json.dumps(document)
    metadata = {"modecover": text, "sha256": _digest(tensors), "modecover_sha256": _text_digest(text)}
    write_atomic(path, save(tensors, metadata=metadata))
    return path


# ----------------------------------------------------------------------------- reading


def _read_header(path: Path, data: bytes) -> dict[str, Any]:
    if len(data) < 8:
        raise CheckpointError(f"{path}: truncated checkpoint ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if data[8:9] not in (b"", b"{"):  # a safetensors header is a JSON object right after its 8-byte length
        raise CheckpointError(f"{path}: not a modecover checkpoint (not a safetensors file)")
    if size > len(data) - 8:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint (header of {size} bytes, file has {len(data)})")
    try:
        header = json.loads(data[8 : 8 + size])
        meta = header["__metadata__"]
        document = json.loads(meta["modecover"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a modecover checkpoint (unreadable header: {err})") from err
    if not isinstance(document, dict):
        raise CheckpointError(f"{path}: not a modecover checkpoint (metadata 'modecover' is not a JSON object)")
    if "modecover_sha256" in meta and meta["modecover_sha256"] != _text_digest(meta["modecover"]):
        raise CheckpointError(f"{path}: corrupt checkpoint (header checksum mismatch)")
    if document.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a modecover checkpoint (format {document.get('format')!r})")
    if document.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {document.get('version')}, "
                              f"this modecover reads {VERSION}")
    document["sha256"] = meta.get("sha256")
    return document


def read_checkpoint(path) -> Checkpoint:
    """Read and verify a checkpoint file without building the model (``model`` is None)."""
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    document = _read_header(path, data)
    try:
        tensors = load(data)
    except Exception as err:  # safetensors raises its own error type for truncation / bad offsets
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({err})") from err
    if _digest(tensors) != document["sha256"]:
        raise CheckpointError(f"{path}: corrupt checkpoint (tensor checksum mismatch)")
    return Checkpoint(
        model=None,
        hooks_state=_unflatten(document["hooks"], tensors),
        state=_unflatten(document["state"], tensors),
        family=document["family"],
        model_config=document["model_config"],
        plugins=document["plugins"],
        optimizers=_unflatten(document["optimizers"], tensors),
        model_state=_unflatten(document["model"], tensors),
        path=path,
    )


def config_differences(saved: dict[str, Any], current: dict[str, Any],
                       labels: tuple[str, str] = ("checkpoint ", "this run ")) -> list[str]:
    """``"key: <saved> vs <current>"`` for every key whose value differs (or is absent on one side)."""
    keys = sorted(set(saved) | set(current))
    return [f"{k}: {labels[0]}{saved.get(k, '<absent>')!r} vs {labels[1]}{current.get(k, '<absent>')!r}"
            for k in keys if saved.get(k, "<absent>") != current.get(k, "<absent>")]


def _current_form(plugin, saved: Any) -> Any:
    """A plug-in config as a checkpoint stored it, in the form this version writes: a config
    class with ``from_table`` (DMPRA's, whose flat keys moved into tables) rebuilds it,
    silently; a record it cannot read stays as it is (and then differs, naming the keys)."""
    from_table = getattr(type(getattr(plugin, "config", None)), "from_table", None)
    if from_table is None or not isinstance(saved, dict):
        return saved
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return _json_config(from_table(saved))
    except (TypeError, ValueError):
        return saved


def restore_checkpoint(path, model: GenerativeModel, hooks: Hooks, *, optimizers: bool = True) -> dict[str, Any]:
    """Load a checkpoint into an existing ``model`` and ``hooks`` (for ``--resume``).

    Checks first that the checkpoint holds the same family, model config and plug-ins,
    naming what differs; nothing is modified unless every check passes. Returns the saved
    run state (step, round, RNG and sampler states).
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    if ckpt.family != model.family:
        raise CheckpointError(f"{path}: checkpoint of a '{ckpt.family}' model, "
                              f"this run trains a '{model.family}' model")
    diffs = config_differences(ckpt.model_config, _json_config(model.config))
    if diffs:
        raise CheckpointError(f"{path}: checkpoint of another '{model.family}' config; differs in " + "; ".join(diffs))
    saved_names = [p["name"] for p in ckpt.plugins]
    current = plugin_records(hooks)
    if saved_names != [p["name"] for p in current]:
        raise CheckpointError(f"{path}: checkpoint written with plug-ins {saved_names}, "
                              f"this run has {[p['name'] for p in current]}")
    for saved, now, plugin in zip(ckpt.plugins, current, hooks.plugins):
        diffs = (config_differences(_current_form(plugin, saved["config"] or {}), now["config"] or {})
                 if isinstance(now["config"], dict) else [])
        if diffs:
            raise CheckpointError(f"{path}: plug-in '{now['name']}' config differs: " + "; ".join(diffs))
    model_state = ckpt.model_state
    missing = set(model.state_dict()) ^ set(model_state)
    if missing:
        raise CheckpointError(f"{path}: model tensors do not match this model (keys {sorted(missing)[:5]})")
    opts = model.optimizers()
    if optimizers and set(opts) != set(ckpt.optimizers):
        raise CheckpointError(f"{path}: checkpoint optimizers {sorted(ckpt.optimizers)}, model has {sorted(opts)}")
    if optimizers:
        for name, opt in opts.items():
            saved = [len(g["params"]) for g in ckpt.optimizers[name]["param_groups"]]
            now = [len(g["params"]) for g in opt.param_groups]
            if saved != now:
                raise CheckpointError(
                    f"{path}: optimizer '{name}' had parameter groups of sizes {saved}, this run has {now} "
                    "(were the plug-ins with parameters, e.g. CFT or DeLiGAN, the same?)"
                )
    model.load_state_dict(model_state)
    hooks.load_state_dict(ckpt.hooks_state)
    if optimizers:
        for name, opt in opts.items():
            opt.load_state_dict(ckpt.optimizers[name])
    return ckpt.state


def load_checkpoint(path, expect_family: str | None = None, *, hooks: Hooks | None = None) -> Checkpoint:
    """Rebuild the model of a checkpoint from its stored config and load its weights.

    ``expect_family``: raise :class:`CheckpointError` when the checkpoint holds another
    family. ``hooks``: the run's plug-ins (rebuilt by the caller, e.g. with
    :func:`modecover.methods.registry.build_plugins`); their parameters join the model's
    optimizers and their state and the optimizer states are loaded. Without hooks only
    the model weights are loaded (enough to sample when no plug-in changes the latents).
    """
    from modecover.models import build_model

    path = Path(path)
    ckpt = read_checkpoint(path)
    if expect_family is not None and ckpt.family != expect_family:
        raise CheckpointError(f"{path}: checkpoint of a '{ckpt.family}' model, expected a '{expect_family}' model")
    try:
        model = build_model(ckpt.family, ckpt.model_config, hooks.parameters() if hooks is not None else ())
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: cannot rebuild the '{ckpt.family}' model "
                              f"from its stored config: {err}") from err
    if hooks is not None:
        restore_checkpoint(path, model, hooks)
    else:
        model.load_state_dict(ckpt.model_state)
    ckpt.model = model
    return ckpt
