"""Method plug-ins by name: ``[[methods]]`` entries of a run config -> :class:`Plugin` objects.

Each entry of :data:`METHODS` names the module, plug-in class and typed config class of
one method, and what the plug-in needs besides its config (:class:`BuildContext`): the
training data (LDMD's memory bank, instance selection's features) or the model's latent
size (CFT, DeLiGAN). The built-in methods are listed here by name, so that their modules
are imported only when their method is asked for; any other method registers itself in
its own file with the class decorator :func:`register_method` (docs/methods.md, "A new
method in one file"), and an installed package can declare that file under the
entry-point group ``modecover.methods``, so that ``modecover train`` and ``modecover
sample`` import it when a config or checkpoint names the method.

Post-hoc samplers (MaGNET, DRS) are not training plug-ins: ``modecover sample`` runs
MaGNET; PacGAN packing and the WGAN-GP / hinge losses are GAN config fields.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

from torch import Tensor

from modecover._checks import check_table_keys, dataclass_from_table, no_op_error, table_values
from modecover.plugins import Hooks, Plugin
from modecover.plugins import shapes_latents as plugin_shapes_latents

__all__ = ["METHODS", "ENTRY_POINTS", "BuildContext", "MethodEntry", "MethodSpec", "check_family", "method_config",
           "method_entry", "build_entry", "build_plugin", "build_plugins", "register_method", "sampling_hooks",
           "shapes_latents"]


@dataclass
class BuildContext:
    """What a plug-in may need besides its config."""

    data: Tensor | None  # the training set (N, ...)
    model_config: dict[str, Any]  # the model's config as plain values (``latent_dim``, ``data_shape``)
    labels: Tensor | None = None  # the training labels, where the data set has them
    family: str | None = None  # the model family the plug-ins will train with (checked when given)


@dataclass
class MethodEntry:
    """One ``[[methods]]`` entry, parsed once (:func:`method_entry`): the method's name, its
    typed config and the options that are not config fields (LDMD's ``features``)."""

    name: str
    config: Any  # the method's dataclass config
    options: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The entry as plain values: ``{"name": ..., **config fields, **options}``."""
        return {"name": self.name, **table_values(self.config), **self.options}


@dataclass(frozen=True)
class MethodSpec:
    module: str
    plugin: str | type  # class name in the module, or the class itself
    config: str | type  # config class name in the module, or the class itself
    # context-derived config values (e.g. latent_dim) filled in unless the user gives them
    config_from_context: Callable[[BuildContext], dict[str, Any]] = lambda ctx: {}
    # keyword arguments of the plug-in besides its config, from the context and the
    # non-config options of the entry (e.g. LDMD's ``features``)
    extra_args: Callable[[BuildContext, dict[str, Any]], dict[str, Any]] = lambda ctx, extra: {}
    extra_options: tuple[str, ...] = ()  # option names that are not config fields
    # model families the method works with, and why not the others (None: every family)
    families: tuple[str, ...] | None = None
    why: str = ""


def _latent_dim(ctx: BuildContext) -> dict[str, Any]:
    if "latent_dim" not in ctx.model_config:
        raise ValueError("this method needs a model with latents (model config has no 'latent_dim')")
    return {"latent_dim": int(ctx.model_config["latent_dim"])}


def _needs_data(ctx: BuildContext, what: str) -> Tensor:
    if ctx.data is None:
        raise ValueError(f"{what} needs the training data to build")
    return ctx.data


def _ldmd_args(ctx: BuildContext, extra: dict[str, Any]) -> dict[str, Any]:
    features = extra.get("features", "flat")
    if features not in ("flat", "perception"):
        raise ValueError(f"[[methods]] 'ldmd': features must be 'flat' or 'perception', got {features!r}")
    return {"real": _needs_data(ctx, "LDMD (memory bank)"), "features": None if features == "flat" else "perception"}


def _instance_selection_args(ctx: BuildContext, extra: dict[str, Any]) -> dict[str, Any]:
    data = _needs_data(ctx, "instance selection")
    return {"features": data.reshape(data.shape[0], -1).double().numpy()}


def _class_balance_args(ctx: BuildContext, extra: dict[str, Any]) -> dict[str, Any]:
    if ctx.labels is None:
        raise ValueError("[[methods]] 'class_balance' needs labelled training data (a 2D mixture, digits, MNIST, "
                         "CIFAR-10); this data set has no labels")
    return {"labels": ctx.labels.numpy()}


ENTRY_POINTS = "modecover.methods"  # entry-point group: installed packages declare their methods here

_GAN_LOSS = ("gan",), "it changes the generator or discriminator loss, which only a GAN has"
_GAN_LATENTS = ("gan",), "its latent source is trained through the generator loss, which only a GAN has"

METHODS: dict[str, MethodSpec] = {
    "dmpra": MethodSpec("modecover.dmpra.plugin", "DMPRA", "DMPRAConfig"),
    "ldmd": MethodSpec("modecover.methods.ldmd", "LDMD", "LDMDConfig", extra_args=_ldmd_args,
                       extra_options=("features",), families=_GAN_LOSS[0], why=_GAN_LOSS[1]),
    "dpm": MethodSpec("modecover.methods.dpm", "DPM", "DPMConfig", families=_GAN_LOSS[0], why=_GAN_LOSS[1]),
    "cft": MethodSpec("modecover.methods.cft", "CommonFeatureTraining", "CFTConfig", config_from_context=_latent_dim,
                      families=_GAN_LATENTS[0], why=_GAN_LATENTS[1]),
    "mean_rescaling": MethodSpec("modecover.methods.mean_rescaling", "MeanRescaling", "MeanRescalingConfig",
                                 families=("gan",), why="it shifts the latents a generator is trained on; a vae, "
                                 "flow or diffusion model trains on data, not on prior samples"),
    "deligan": MethodSpec("modecover.methods.deligan", "DeLiGAN", "DeLiGANConfig", config_from_context=_latent_dim,
                          families=_GAN_LATENTS[0], why=_GAN_LATENTS[1]),
    "edge": MethodSpec("modecover.methods.edge", "EdgeLoss", "EdgeLossConfig", families=_GAN_LOSS[0], why=_GAN_LOSS[1]),
    "topk": MethodSpec("modecover.methods.topk", "TopK", "TopKConfig", families=_GAN_LOSS[0], why=_GAN_LOSS[1]),
    "class_balance": MethodSpec("modecover.methods.class_balance", "ClassBalance", "ClassBalanceConfig",
                                extra_args=_class_balance_args),
    "instance_selection": MethodSpec("modecover.methods.instance_selection", "InstanceSelection",
                                     "InstanceSelectionConfig", extra_args=_instance_selection_args),
}


def _spec(name: str) -> MethodSpec:
    if not _known(name):
        provided = sorted(set(METHODS) | {ep.name for ep in entry_points(group=ENTRY_POINTS)})
        raise ValueError(f"[[methods]]: unknown method {name!r}; choose one of {provided} (a method of your "
                         f"own: import its file first, or install it under the entry-point group {ENTRY_POINTS!r})")
    return METHODS[name]


def _known(name: str) -> bool:
    """Whether method ``name`` is registered, after importing the module an installed
    package declares for it under the entry-point group :data:`ENTRY_POINTS`, if any."""
    if name in METHODS:
        return True
    found = [ep for ep in entry_points(group=ENTRY_POINTS) if ep.name == name]
    if not found:
        return False
    if len({ep.value for ep in found}) > 1:
        raise ValueError(f"method {name!r} is declared by several installed packages: "
                         f"{sorted(ep.value for ep in found)}")
    try:
        found[0].load()
    except Exception as err:
        raise ValueError(f"method {name!r}: its entry point {found[0].value!r} failed to import: {err}") from err
    if name not in METHODS:
        raise ValueError(f"method {name!r}: its entry point {found[0].value!r} was imported but registers no method "
                         f"{name!r} (decorate its Plugin class with register_method({name!r}, ...))")
    return True


def _classes(spec: MethodSpec) -> tuple[type[Plugin], type]:
    if isinstance(spec.plugin, type) and isinstance(spec.config, type):
        return spec.plugin, spec.config
    module = importlib.import_module(spec.module)
    return getattr(module, spec.plugin), getattr(module, spec.config)


def register_method(name: str, config: type, *, families: tuple[str, ...] | None = None, why: str = "",
                    config_from_context: Callable[[BuildContext], dict[str, Any]] = lambda ctx: {},
                    extra_args: Callable[[BuildContext, dict[str, Any]], dict[str, Any]] = lambda ctx, extra: {},
                    extra_options: tuple[str, ...] = ()) -> Callable[[type[Plugin]], type[Plugin]]:
    """Class decorator: make a :class:`Plugin` subclass the method ``name`` of run configs
    (``[[methods]] name = "..."``), with the dataclass ``config`` for its options.

    The plug-in is built as ``cls(config=<the entry's config>, **extra_args(context, extra))``,
    the config built once from the entry's options (:func:`method_config`);
    the other arguments mean what the fields of :class:`MethodSpec` mean. Registering a
    second, different class under a taken name is an error.
    """

    def register(plugin_cls: type[Plugin]) -> type[Plugin]:
        if not (isinstance(plugin_cls, type) and issubclass(plugin_cls, Plugin)):
            raise TypeError(f"register_method({name!r}): {plugin_cls!r} is not a Plugin subclass")
        if not dataclasses.is_dataclass(config):
            raise TypeError(f"register_method({name!r}): the config {config!r} is not a dataclass")
        taken = METHODS.get(name)
        if (taken is not None
                and _qualified(taken.plugin, taken.module) != _qualified(plugin_cls, plugin_cls.__module__)):
            raise ValueError(f"method name {name!r} is taken by {_qualified(taken.plugin, taken.module)}")
        METHODS[name] = MethodSpec(plugin_cls.__module__, plugin_cls, config, config_from_context, extra_args,
                                   extra_options, families, why)
        return plugin_cls

    return register


def _qualified(plugin: str | type, module: str) -> str:
    return f"{module}.{plugin if isinstance(plugin, str) else plugin.__qualname__}"


def method_config(name: str, options: dict[str, Any], context: BuildContext | None = None):
    """The typed config of method ``name`` from the options of its ``[[methods]]`` entry.

    Unknown keys are errors naming the key and the method
    (:func:`modecover._checks.dataclass_from_table`); values the context supplies
    (``latent_dim``) are filled in when the entry does not set them. A config class with a
    ``from_table(table, where)`` classmethod (DMPRA's, which still reads its old flat keys)
    builds itself from the table.
    """
    spec = _spec(name)
    _, config_cls = _classes(spec)
    where = f"[[methods]] '{name}'"
    from_table = getattr(config_cls, "from_table", None)
    if from_table is None:
        check_table_keys(config_cls, options, where, spec.extra_options)
    values = {k: v for k, v in options.items() if k not in spec.extra_options}
    if context is not None:
        values = {**spec.config_from_context(context), **values}
    try:
        return from_table(values, where) if from_table is not None else dataclass_from_table(config_cls, values, where)
    except TypeError as err:  # a value of the wrong type that the config's __post_init__ did not name
        raise ValueError(f"{where}: {err}") from err


def method_entry(name: str, options: dict[str, Any], context: BuildContext | None = None) -> MethodEntry:
    """The :class:`MethodEntry` of a ``[[methods]]`` entry's name and options (its config:
    :func:`method_config`)."""
    config = method_config(name, options, context)
    extra = _spec(name).extra_options
    return MethodEntry(name, config, {k: v for k, v in options.items() if k in extra})


def check_family(name: str, family: str) -> None:
    """An error naming method, family and why, when method ``name`` does nothing for ``family``."""
    spec = _spec(name)
    if spec.families is not None and family not in spec.families:
        families = " or ".join(spec.families)
        raise no_op_error(f"[[methods]] '{name}'", "the method",
                          f"the model family is '{family}'; it works with the {families} family only: {spec.why}",
                          f"use the {families} family or leave the method out")


def build_plugin(name: str, options: dict[str, Any], context: BuildContext) -> Plugin:
    """One plug-in from its ``[[methods]]`` entry (``name`` and options); a method that
    does nothing for ``context.family`` is an error (:func:`check_family`)."""
    if context.family is not None:
        check_family(name, context.family)
    return build_entry(method_entry(name, options, context), context)


def build_entry(entry: MethodEntry, context: BuildContext) -> Plugin:
    """The plug-in of a parsed entry, from its config as it is (no parsing); a method that
    does nothing for ``context.family`` is an error (:func:`check_family`)."""
    spec = _spec(entry.name)
    if context.family is not None:
        check_family(entry.name, context.family)
    plugin_cls, _ = _classes(spec)
    return plugin_cls(config=entry.config, **spec.extra_args(context, entry.options))


def build_plugins(methods: list[MethodEntry | dict[str, Any]], context: BuildContext) -> Hooks:
    """:class:`Hooks` over the plug-ins of ``methods``, in order: parsed entries
    (:class:`MethodEntry`, as :class:`modecover.config.RunConfig` holds them) or plain
    ``{"name": ..., **options}`` dicts."""
    plugins = []
    for entry in methods:
        if isinstance(entry, MethodEntry):
            plugins.append(build_entry(entry, context))
        else:
            plugins.append(build_plugin(entry["name"], {k: v for k, v in entry.items() if k != "name"}, context))
    return Hooks(plugins)


def shapes_latents(name: str) -> bool:
    """Whether method ``name``'s plug-in changes what the generator is fed (latents hooks or
    trained parameters), so that sampling a trained model needs it."""
    return plugin_shapes_latents(_classes(_spec(name))[0])


def sampling_hooks(checkpoint) -> Hooks:
    """The plug-ins of a :class:`modecover.checkpoint.Checkpoint` that sampling needs (CFT,
    mean rescaling, DeLiGAN...), rebuilt from the plug-in configs stored in it and loaded
    with their saved state; training-only plug-ins (DMPRA, LDMD, DPM, ...) are left out, so
    no training data is needed."""
    plugins = []
    for record in checkpoint.plugins:
        name = record["name"]
        if not _known(name):
            if record.get("shapes_latents") is False:  # training-only: sampling does not need it
                continue
            raise ValueError(
                f"{checkpoint.path}: trained with plug-in {name!r}, which "
                f"{'shapes' if record.get('shapes_latents') else 'may shape'} the generator's latents and is not a "
                f"registered method here; import the file that registers it (or install its package, entry-point "
                f"group {ENTRY_POINTS!r}), or sample in Python with the run's own hooks: model.sample(n, hooks)"
            )
        if not shapes_latents(name):
            continue
        if not isinstance(record.get("config"), dict):
            raise ValueError(f"{checkpoint.path}: plug-in '{name}' shapes the latents but its config was not stored")
        context = BuildContext(data=None, model_config=checkpoint.model_config)
        plugin = build_plugin(name, record["config"], context)
        plugin.load_state_dict(checkpoint.hooks_state[name])
        plugins.append(plugin)
    return Hooks(plugins)
