"""Run configs: a TOML or YAML file -> typed :class:`RunConfig` (docs/training.md, "Config reference").

A config has four sections, and nothing else::

    [data]            # modecover.data.registry.DataConfig: name = "ring" | "grid" | ... | "digits" | ...
    name = "ring"
    n = 20000

    [model]           # family + the fields of that family's dataclass config
    family = "gan"
    data_shape = [2]
    hidden = 128

    [[methods]]       # zero or more method plug-ins, applied in order (modecover.methods.registry)
    name = "dmpra"
    alpha = 0.5

    [train]           # modecover.train.TrainConfig
    steps = 2000
    batch_size = 128

An unknown key anywhere is an error naming the key and its section; so is a missing
required key. ``model.data_shape`` may be left out: it is then taken from the data.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from modecover._checks import TableError, dataclass_from_table
from modecover.data.registry import DataConfig, data_config
from modecover.train import TrainConfig

__all__ = ["RunConfig", "ModelSpec", "ConfigError", "Run", "load_config", "parse_config", "build_run", "model_values"]

SECTIONS = ("data", "model", "methods", "train")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, section and key."""


@dataclass
class ModelSpec:
    family: str
    options: dict[str, Any] = field(default_factory=dict)  # the family config's fields

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, **self.options}


@dataclass
class RunConfig:
    data: DataConfig
    model: ModelSpec
    methods: list[dict[str, Any]]  # [{"name": ..., **options}]
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; ``parse_config(cfg.to_dict())`` gives an equal config."""
        return json.loads(json.dumps({
            "data": dataclasses.asdict(self.data),
            "model": self.model.as_dict(),
            "methods": self.methods,
            "train": dataclasses.asdict(self.train),
        }))


def _table(raw: Any, section: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{section}] must be a table of key = value pairs, got {type(raw).__name__}")
    return raw


def _train_config(options: dict[str, Any]) -> TrainConfig:
    try:
        return dataclass_from_table(TrainConfig, options, "[train]")
    except TableError as err:
        raise ConfigError(str(err)) from None


def _model_spec(options: dict[str, Any], data: DataConfig) -> tuple[ModelSpec, dict[str, Any]]:
    """The model section, checked by building the family's config (with the data's shape
    when the section leaves it out); returns the spec and the full config as plain values."""
    from modecover.data.registry import expected_shape
    from modecover.models import make_config

    if "family" not in options:
        raise ConfigError("[model]: missing key(s) ['family'] (gan, vae, flow or diffusion)")
    family, rest = options["family"], {k: v for k, v in options.items() if k != "family"}
    shape = expected_shape(data)
    values = rest if "data_shape" in rest or shape is None else {"data_shape": list(shape), **rest}
    try:
        config = make_config(family, values)
    except ModuleNotFoundError as err:
        raise ConfigError(f"[model]: family {family!r} is not available in this build ({err})") from err
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[model]: {err}") from err
    return ModelSpec(family, rest), json.loads(json.dumps(dataclasses.asdict(config)))


def _methods(raw: Any, model_config: dict[str, Any], family: str, train: TrainConfig) -> list[dict[str, Any]]:
    """The [[methods]] entries, each checked: its options (method_config), its family, and,
    where its config defines ``check_schedule(train)``, against the [train] schedule (a
    value that schedule makes a no-op, which the plug-in cannot tell by itself)."""
    from modecover.methods.registry import BuildContext, check_family, method_config

    if not isinstance(raw, list):
        raise ConfigError("[[methods]] must be an array of tables, each with a 'name'")
    context = BuildContext(data=None, model_config=model_config)
    methods = []
    for i, entry in enumerate(raw):
        entry = _table(entry, f"[methods] entry {i}")
        if "name" not in entry:
            raise ConfigError(f"[[methods]] entry {i}: missing key(s) ['name']")
        try:
            config = method_config(entry["name"], {k: v for k, v in entry.items() if k != "name"}, context)
            check_family(entry["name"], family)
            if hasattr(config, "check_schedule"):
                config.check_schedule(train)
        except (ValueError, TypeError) as err:
            raise ConfigError(str(err)) from err
        methods.append(dict(entry))
    return methods


def parse_config(raw: dict[str, Any], source: str = "config") -> RunConfig:
    """:class:`RunConfig` from a parsed TOML/YAML document; errors name ``source``."""
    try:
        raw = _table(raw, "top level")
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"unknown section(s) {unknown}; a config has only {list(SECTIONS)}")
        for section in ("data", "model", "train"):
            if section not in raw:
                raise ConfigError(f"missing section [{section}]")
        try:
            data = data_config(dict(_table(raw["data"], "data")))
        except (TypeError, ValueError) as err:
            raise ConfigError(str(err) if str(err).startswith("[data]") else f"[data]: {err}") from err
        model, model_config = _model_spec(dict(_table(raw["model"], "model")), data)
        try:
            train = _train_config(dict(_table(raw["train"], "train")))
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:
            raise ConfigError(f"[train]: {err}") from err
        methods = _methods(raw.get("methods", []), model_config, model.family, train)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return RunConfig(data, model, methods, train)


def load_config(path) -> RunConfig:
    """Read a ``.toml``, ``.yaml`` or ``.yml`` run config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python < 3.11
                import tomli as tomllib
            raw = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .yml")
    except ConfigError:
        raise
    except Exception as err:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {err}") from err
    return parse_config(raw if raw is not None else {}, str(path))


@dataclass
class Run:
    """The objects a config describes: the training set, the model and its plug-ins.

    ``Run.from_config(config).train(out_dir)`` is every training run of the package (the
    ``train`` command, benchmark jobs, the demo): seed, build, train, in that order.
    """

    data: Any  # modecover.data.registry.TrainingSet
    model: Any  # modecover.models.base.GenerativeModel
    hooks: Any  # modecover.plugins.Hooks
    config: RunConfig

    @classmethod
    def from_config(cls, config: RunConfig, plugins: Sequence[Any] = ()) -> "Run":
        """Seed with ``config.train.seed``, then :func:`build_run`: the same config gives the
        same initial model. ``plugins``: plug-in objects of the caller, run before the
        config's methods."""
        from modecover.train import seed_everything

        seed_everything(config.train.seed)
        return build_run(config, plugins=plugins)

    def train(self, out_dir, *, resume: bool = False, progress: bool = True,
              metadata: dict[str, Any] | None = None, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Train the model on the training set with the config's schedule; the arguments and
        the returned final log row are those of :func:`modecover.train.train`."""
        from modecover.train import train

        return train(self.model, self.data.x, self.hooks, self.config.train, out_dir, resume=resume,
                     progress=progress, metadata=metadata, on_step=on_step)


def model_values(config: RunConfig, data_shape: tuple[int, ...]) -> dict[str, Any]:
    """The model section with ``data_shape`` taken from the data (an error when the section disagrees)."""
    options = dict(config.model.options)
    if "data_shape" in options and tuple(int(s) for s in options["data_shape"]) != tuple(data_shape):
        raise ConfigError(
            f"[model] data_shape {list(options['data_shape'])} does not match "
            f"the data's sample shape {list(data_shape)}"
        )
    return {**options, "data_shape": list(data_shape)}


def build_run(config: RunConfig, data=None, plugins: Sequence[Any] = ()) -> Run:
    """Build the training set (unless given), the plug-ins and the model, in that order
    (plug-ins with parameters, e.g. CFT, must exist before the model's optimizers).
    ``plugins`` (objects) run before the config's methods. Seed first
    (:func:`modecover.train.seed_everything`, or :meth:`Run.from_config`) for a reproducible model."""
    from modecover.data.registry import build_dataset
    from modecover.methods.registry import BuildContext, build_plugins
    from modecover.models import build_model, make_config
    from modecover.plugins import Hooks

    data = data if data is not None else build_dataset(config.data)
    values = model_values(config, data.data_shape)
    resolved = json.loads(json.dumps(dataclasses.asdict(make_config(config.model.family, values))))
    context = BuildContext(data.x, resolved, data.labels, config.model.family)
    hooks = Hooks([*plugins, *build_plugins(config.methods, context).plugins])
    model = build_model(config.model.family, values, hooks.parameters())
    return Run(data, model, hooks, config)
