"""Model families behind one protocol (``models/base.py``), built by name.

>>> model = build_model("gan", {"data_shape": [2]})  # doctest: +SKIP

Each family module defines a typed dataclass config and a model class; the registry
imports a family only when it is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterable

from modecover._checks import check_table_keys, is_integer

from .base import GenerativeModel

# family -> (module, model class, config class)
FAMILIES: dict[str, tuple[str, str, str]] = {
    "gan": ("modecover.models.gan", "GAN", "GANConfig"),
    "vae": ("modecover.models.vae", "VAE", "VAEConfig"),
    "flow": ("modecover.models.flow", "Flow", "FlowConfig"),
    "diffusion": ("modecover.models.diffusion", "Diffusion", "DiffusionConfig"),
}


def family_classes(family: str) -> tuple[type[GenerativeModel], type]:
    """The (model class, config class) of a family; ``ValueError`` names unknown families."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(FAMILIES)}")
    module_name, model_name, config_name = FAMILIES[family]
    module = importlib.import_module(module_name)
    return getattr(module, model_name), getattr(module, config_name)


def make_config(family: str, config: dict[str, Any]):
    """Build a family's dataclass config from a plain dict; unknown keys are errors naming the key."""
    _, config_cls = family_classes(family)
    check_table_keys(config_cls, config, f"model '{family}'")
    values = dict(config)
    if "data_shape" in values:
        shape = values["data_shape"]
        sizes_ok = isinstance(shape, (list, tuple)) and all(
            is_integer(s) and s >= 1 for s in shape)
        if not shape or not sizes_ok:  # a float or string would be truncated or parsed silently
            raise ValueError(f"model '{family}': 'data_shape' must be a list of positive integers, got {shape!r}")
        values["data_shape"] = tuple(int(s) for s in shape)
    return config_cls(**values)


def build_model(family: str, config: dict[str, Any], plugin_parameters: Iterable = ()) -> GenerativeModel:
    """A model of ``family`` from a plain config dict (as stored in a checkpoint)."""
    model_cls, _ = family_classes(family)
    return model_cls(make_config(family, config), plugin_parameters=plugin_parameters)


__all__ = ["FAMILIES", "GenerativeModel", "build_model", "family_classes", "make_config"]
