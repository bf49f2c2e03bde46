"""Every field of every built-in method config: a value of the wrong type is refused with a
ValueError naming the method and the key (never coerced, never a Python comparison error),
and a value that would make the method a silent no-op is refused with the reason."""

import dataclasses
import re
import typing

import numpy as np
import pytest
import torch

from modecover.methods.registry import METHODS, BuildContext, _classes, method_config

BUILT_IN = ["dmpra", "ldmd", "dpm", "cft", "mean_rescaling", "deligan", "edge", "topk", "class_balance",
            "instance_selection"]
CONTEXT = BuildContext(data=None, model_config={"latent_dim": 8, "data_shape": [2]})


def _keys(config_cls: type, kind: str, prefix: str = "", optional: bool | None = None) -> list[str]:
    """The keys of ``config_cls`` annotated as ``kind``, those of nested config tables as
    ``table.key`` (DMPRA's ``search.k_sigma``); ``optional`` True or False: only the keys
    that may (``kind | None``) or may not be None."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += _keys(hints[f.name], kind, f"{prefix}{f.name}.", optional)
            continue
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        base = annotation.replace(" | None", "")
        if optional is not None and (base != annotation) != optional:
            continue
        if base == kind or (kind == "str" and base in ("Form", "Pairing")):
            out.append(prefix + f.name)
    return out


def fields_of(kind: str, optional: bool | None = None) -> list[tuple[str, str]]:
    """(method, key) of every built-in config field annotated as ``kind`` (bool, int, float, str),
    the fields of nested tables included (``("dmpra", "search.two_sided")``); ``optional``: see
    :func:`_keys`."""
    return [(name, key) for name in BUILT_IN for key in _keys(_classes(METHODS[name])[1], kind, optional=optional)]


def refused(name: str, key: str, value, match: str | None = None):
    """The error of ``key = value``; a nested key (``search.alpha``) is given in its table,
    and the error names the table (``[[methods]] 'dmpra'.search: ...``) and the key."""
    table, _, leaf = key.rpartition(".")
    options = {table: {leaf: value}} if table else {key: value}
    default = (rf"\[\[methods\]\] '{name}'\.{table}: .*\b{leaf}\b" if table
               else rf"^\[\[methods\]\] '{name}': '{key}' must be .*got {re.escape(repr(value))}$")
    with pytest.raises(ValueError, match=match or default) as info:
        method_config(name, options, CONTEXT)
    return str(info.value)


def test_the_field_lists_cover_the_configs():
    bools = fields_of("bool")
    assert ("dmpra", "search.two_sided") in bools and ("mean_rescaling", "per_dimension") in bools
    assert ("dmpra", "weights.gamma") in fields_of("float") and ("dmpra", "classifier.seed") in fields_of("int")
    assert len([key for name, key in fields_of("bool") if name == "dmpra"]) == 4
    assert ("ldmd", "replay_mean") in fields_of("float") and ("deligan", "seed") in fields_of("int")


@pytest.mark.parametrize("name, key", fields_of("bool"))
@pytest.mark.parametrize("value", ["false", "true", 0, 1, None, np.bool_(True)])
def test_bool_fields_take_only_true_or_false(name, key, value):
    message = refused(name, key, value)
    assert "true or false" in message and repr(value) in message


@pytest.mark.parametrize("name, key, value", [
    (name, key, value) for name, key in fields_of("float") for value in ["1", True, None, float("nan"), [1.0]]
    if value is not None or (name, key) not in fields_of("float", optional=True)])  # None: the default of these
def test_number_fields_refuse_strings_bools_and_nan_naming_the_key(name, key, value):
    refused(name, key, value)


@pytest.mark.parametrize("name, key", fields_of("int"))
@pytest.mark.parametrize("value", ["3", True, 1.5, 2.0, -1])
def test_integer_fields_refuse_other_types_and_negatives_naming_the_key(name, key, value):
    refused(name, key, value)


@pytest.mark.parametrize("name, key", fields_of("str"))
@pytest.mark.parametrize("value", [1, ["relu"], None])
def test_choice_fields_refuse_non_strings_naming_the_key(name, key, value):
    refused(name, key, value)


@pytest.mark.parametrize("name, key, value", [
    ("ldmd", "replay_std", float("inf")), ("ldmd", "replay_mean", float("-inf")), ("dpm", "weight", float("inf")),
    ("dpm", "scale", float("inf")), ("edge", "weight", -1.0), ("mean_rescaling", "low", float("-inf")),
    ("deligan", "sigma_init", float("inf")), ("deligan", "regulariser", float("inf")), ("deligan", "seed", 2**64),
    ("topk", "gamma", 0.0), ("topk", "nu", 1.5), ("instance_selection", "ridge", float("inf")),
    ("class_balance", "power", float("inf")), ("dmpra", "search.k_sigma", float("inf")),
])
def test_out_of_range_numbers_name_the_key(name, key, value):
    refused(name, key, value)


def test_integer_fields_take_numpy_integers():
    assert method_config("deligan", {"seed": np.int64(3), "components": np.int32(2)}, CONTEXT).seed == 3
    assert method_config("cft", {"feature_differences": np.int64(2)}, CONTEXT).feature_differences == 2
    assert method_config("topk", {"steps_per_epoch": np.int64(5), "gamma": np.float32(0.5)}).steps_per_epoch == 5


@pytest.mark.parametrize("name, options, reason", [
    ("dpm", {"weight": 0}, r"'weight' \(lambda\) = 0 would do nothing \(its loss term is multiplied by 0\); "
                           "leave the method out"),
    ("dpm", {"weight": 0.0, "form": "ratio"}, r"'weight' \(lambda\) = 0\.0 would do nothing \(its loss term"),
    ("edge", {"weight": 0}, r"'weight' \(lambda\) = 0 would do nothing \(its loss term is multiplied by 0\); "
                            "leave the method out"),
    ("topk", {"gamma": 1}, r"'gamma' = 1 would do nothing \(k stays at the batch size for ever\); use a value below 1"),
    ("topk", {"nu": 1.0}, r"'nu' = 1\.0 would do nothing \(k stays at the batch size for ever\); use a value below 1"),
    ("instance_selection", {"retention": 1}, r"'retention' = 1 would do nothing \(every sample is kept\); use a ratio "
                                             "below 1 or leave the method out"),
])
def test_values_that_make_a_method_a_no_op_are_refused_with_the_reason(name, options, reason):
    with pytest.raises(ValueError, match=rf"^\[\[methods\]\] '{name}': {reason}"):
        method_config(name, options)


def test_instance_selection_refuses_a_retention_that_keeps_every_sample_of_this_data():
    from modecover.methods.instance_selection import InstanceSelection

    x = np.random.default_rng(0).normal(size=(20, 2))
    assert InstanceSelection(x, retention=0.9).kept.sum() == 18
    with pytest.raises(ValueError, match=r"'retention' = 0\.99 would do nothing \(it keeps all 20 samples: "
                                         r"round\(0\.99 \* 20\)\); use a lower ratio"):
        InstanceSelection(x, retention=0.99)  # round(19.8) = 20


def test_deligan_seed_is_checked_before_torch_sees_it():
    from modecover.methods.deligan import DeLiGAN

    refused("deligan", "seed", 1.5)  # was torch's "manual_seed expected a long"
    refused("deligan", "seed", -1)  # was accepted (torch wraps it to 2**64 - 1)
    a, b = DeLiGAN(latent_dim=3, components=2, seed=2**63), DeLiGAN(latent_dim=3, components=2, seed=2**63)
    torch.testing.assert_close(a.mu, b.mu)


def test_mean_rescaling_per_dimension_string_is_not_read_as_true():
    from modecover.methods.mean_rescaling import MeanRescaling

    refused("mean_rescaling", "per_dimension", "false")
    torch.manual_seed(0)
    out = MeanRescaling(per_dimension=False).latents(torch.zeros(4, 3))
    assert torch.all(out == out[:, :1])  # one mean per sample


def test_every_default_is_still_accepted():
    for name in BUILT_IN:
        method_config(name, {}, CONTEXT)
