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

Each section is parsed once, into typed objects: ``RunConfig.model`` holds the family's
dataclass config (:class:`ModelSpec`), ``RunConfig.methods`` one
:class:`modecover.methods.registry.MethodEntry` (name and typed config) per entry;
:func:`build_run` builds from them. ``RunConfig.to_dict()`` writes them back as plain
values (every field), which :func:`parse_config` reads again.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from modecover._checks import TableError, dataclass_from_table, table_values
from modecover.data.registry import DataConfig, data_config
from modecover.train import TrainConfig

__all__ = ["RunConfig", "ModelSpec", "ConfigError", "Run", "load_config", "parse_config", "build_run", "model_config",
           "current_form"]

SECTIONS = ("data", "model", "methods", "train")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, section and key."""


@dataclass
class ModelSpec:
    """The ``[model]`` section: the family and its typed config (``GANConfig``, ...)."""

    family: str
    config: Any = None  # the family's dataclass config; None or a dict of its fields: built by make_config
    shape_from_data: bool = False  # data_shape was left out: build_run takes the data's sample shape

    def __post_init__(self):
        if self.config is None or isinstance(self.config, dict):
            from modecover.models import make_config

            self.config = make_config(self.family, self.config or {})

    def as_dict(self) -> dict[str, Any]:
        """``{"family": ..., **config fields}`` (without ``data_shape`` when it comes from the data)."""
        values = table_values(self.config)
        if self.shape_from_data:
            values.pop("data_shape", None)
        return {"family": self.family, **values}


@dataclass
class RunConfig:
    data: DataConfig
    model: ModelSpec
    methods: list[Any]  # modecover.methods.registry.MethodEntry, one per [[methods]] entry, in order
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, every field of every section; ``parse_config(cfg.to_dict())``
        gives an equal config."""
        return json.loads(json.dumps({
            "data": dataclasses.asdict(self.data),
            "model": self.model.as_dict(),
            "methods": [m.as_dict() for m in self.methods],
            "train": dataclasses.asdict(self.train),
        }))


def _table(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of key = value pairs, got {type(raw).__name__} {raw!r}")
    return raw


def _train_config(options: dict[str, Any]) -> TrainConfig:
    try:
        return dataclass_from_table(TrainConfig, options, "[train]")
    except TableError as err:
        raise ConfigError(str(err)) from None


def _model_spec(options: dict[str, Any], data: DataConfig) -> ModelSpec:
    """The model section, checked by building the family's config (with the data's shape
    when the section leaves it out and the data config tells it)."""
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
    return ModelSpec(family, config, shape_from_data="data_shape" not in rest)


def _methods(raw: Any, model_config: dict[str, Any], family: str, train: TrainConfig) -> list[Any]:
    """The [[methods]] entries, each checked: its options (method_config), its family, and,
    where its config defines ``check_schedule(train)``, against the [train] schedule (a
    value that schedule makes a no-op, which the plug-in cannot tell by itself)."""
    from modecover.methods.registry import BuildContext, check_family, method_entry

    if not isinstance(raw, list):
        raise ConfigError("[[methods]] must be an array of tables, each with a 'name'")
    context = BuildContext(data=None, model_config=model_config)
    methods = []
    for i, entry in enumerate(raw):
        entry = _table(entry, f"[[methods]] entry {i}")
        if "name" not in entry:
            raise ConfigError(f"[[methods]] entry {i}: missing key(s) ['name']")
        try:
            parsed = method_entry(entry["name"], {k: v for k, v in entry.items() if k != "name"}, context)
            check_family(entry["name"], family)
            if hasattr(parsed.config, "check_schedule"):
                parsed.config.check_schedule(train)
        except (ValueError, TypeError) as err:
            raise ConfigError(str(err)) from err
        methods.append(parsed)
    return methods


def parse_config(raw: dict[str, Any], source: str = "config") -> RunConfig:
    """:class:`RunConfig` from a parsed TOML/YAML document; errors name ``source``."""
    try:
        raw = _table(raw, "the config")
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"unknown section(s) {unknown}; a config has only {list(SECTIONS)}")
        for section in ("data", "model", "train"):
            if section not in raw:
                raise ConfigError(f"missing section [{section}]")
        try:
            data = data_config(dict(_table(raw["data"], "[data]")))
        except (TypeError, ValueError) as err:
            raise ConfigError(str(err) if str(err).startswith("[data]") else f"[data]: {err}") from err
        model = _model_spec(dict(_table(raw["model"], "[model]")), data)
        try:
            train = _train_config(dict(_table(raw["train"], "[train]")))
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:
            raise ConfigError(f"[train]: {err}") from err
        methods = _methods(raw.get("methods", []), table_values(model.config), model.family, train)
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


def model_config(config: RunConfig, data_shape: tuple[int, ...]):
    """The model's typed config for data of sample shape ``data_shape``: the section's own
    when it gives ``data_shape`` (an error naming both shapes when they differ), else with
    the data's shape."""
    model = config.model
    shape = tuple(int(s) for s in data_shape)
    if not model.shape_from_data:
        if tuple(model.config.data_shape) != shape:
            raise ConfigError(f"[model] data_shape {list(model.config.data_shape)} does not match "
                              f"the data's sample shape {list(shape)}")
        return model.config
    if tuple(model.config.data_shape) == shape:
        return model.config
    return dataclasses.replace(model.config, data_shape=shape)


def current_form(saved: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """A run config as an earlier version wrote it (``config.json``, a checkpoint's
    ``run_config``: the keys as given, DMPRA's flat keys) in the form :meth:`RunConfig.to_dict`
    writes now, so that the two compare key by key; one that does not parse stays as it is."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return parse_config(saved, source).to_dict()
    except ConfigError:
        return saved


def build_run(config: RunConfig, data=None, plugins: Sequence[Any] = ()) -> Run:
    """Build the training set (unless given), the plug-ins and the model, in that order
    (plug-ins with parameters, e.g. CFT, must exist before the model's optimizers).
    ``plugins`` (objects) run before the config's methods. Seed first
    (:func:`modecover.train.seed_everything`, or :meth:`Run.from_config`) for a reproducible model."""
    from modecover.data.registry import build_dataset
    from modecover.methods.registry import BuildContext, build_plugins
    from modecover.models import family_classes
    from modecover.plugins import Hooks

    data = data if data is not None else build_dataset(config.data)
    resolved = model_config(config, data.data_shape)
    context = BuildContext(data.x, table_values(resolved), data.labels, config.model.family)
    hooks = Hooks([*plugins, *build_plugins(config.methods, context).plugins])
    model_cls, _ = family_classes(config.model.family)
    model = model_cls(resolved, plugin_parameters=hooks.parameters())
    return Run(data, model, hooks, config)
