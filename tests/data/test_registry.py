"""modecover.data.registry: every [data] key either has an effect or is refused naming it."""

import dataclasses
import re

import numpy as np
import pytest
import torch

from modecover.data.registry import DataConfig, build_dataset, data_config


def _counts(data):
    return np.bincount(data.labels.numpy(), minlength=8)


# ------------------------------------------------------------------ ratio needs minority modes

@pytest.mark.parametrize("name", ["ring", "grid"])
def test_ratio_without_minority_is_refused_on_balanced_sources(name):
    with pytest.raises(ValueError,
                       match=r"^\[data\] 'ratio': ratio = 0\.01 would do nothing \(on '%s' without minority modes\); "
                             r"give minority" % name):
        data_config({"name": name, "n": 1000, "ratio": 0.01})
    with pytest.raises(ValueError, match=r"\[data\] 'ratio'"):
        data_config({"name": f"{name}-imbalanced", "minority": [], "ratio": 0.01})


def test_ratio_works_with_minority_or_an_imbalanced_source():
    rare = _counts(build_dataset({"name": "ring", "n": 20_000, "minority": [2], "ratio": 0.01}))
    assert rare[2] < 0.1 * rare[0]
    own = build_dataset({"name": "ring-imbalanced", "n": 100, "ratio": 0.5}).mixture
    assert own.minority == (1, 5) and own.weights[1] == pytest.approx(0.5 * own.weights[0])
    # the default written out (as config.json does) is the default, not a refused key
    assert data_config({"name": "ring", "ratio": 0.05}).ratio == 0.05


# ------------------------------------------------------------------ keys that do not apply

@pytest.mark.parametrize("options, key", [
    ({"name": "digits", "n": 5}, "n"),
    ({"name": "digits", "split": "bogus"}, "split"),
    ({"name": "digits", "split": "test"}, "split"),
    ({"name": "digits", "path": "/x"}, "path"),
    ({"name": "digits", "ratio": 0.5}, "ratio"),
    ({"name": "digits", "mode": "RGB"}, "mode"),
    ({"name": "digits", "size": 8}, "size"),
    ({"name": "digits", "fraction": 0.01}, "fraction"),
    ({"name": "digits", "seed": 3}, "seed"),
    ({"name": "ring", "limit": 5}, "limit"),
    ({"name": "ring", "fraction": 0.5}, "fraction"),
    ({"name": "ring", "path": "/nonexist"}, "path"),
    ({"name": "ring", "split": "test"}, "split"),
    ({"name": "ring", "scale": "unit"}, "scale"),
    ({"name": "ring", "mode": "RGB"}, "mode"),
    ({"name": "ring", "size": 4}, "size"),
    ({"name": "ring", "rare_classes": [1]}, "rare_classes"),
    ({"name": "grid-imbalanced", "limit": True}, "limit"),
    ({"name": "folder", "path": "/x", "split": "test"}, "split"),
    ({"name": "folder", "path": "/x", "fraction": 0.5}, "fraction"),
    ({"name": "folder", "path": "/x", "seed": 2}, "seed"),
    ({"name": "folder", "path": "/x", "n": 5}, "n"),
    ({"name": "mnist", "path": "/x", "mode": "RGB"}, "mode"),
])
def test_a_key_without_effect_on_the_source_is_refused_naming_it(options, key):
    value = re.escape(repr(options[key]))
    with pytest.raises(ValueError, match=rf"^\[data\] '{key}': {key} = {value} would do nothing "
                                         rf"\(on (data source )?'{options['name']}'"):
        data_config(options)


def test_seed_and_fraction_apply_with_rare_classes():
    a = build_dataset({"name": "digits", "rare_classes": [3], "fraction": 0.2, "seed": 1})
    b = build_dataset({"name": "digits", "rare_classes": [3], "fraction": 0.2, "seed": 2})
    assert a.x.shape == b.x.shape and not torch.equal(a.x, b.x)
    c = build_dataset({"name": "digits", "rare_classes": [3], "fraction": 0.5, "seed": 1})
    assert len(c.x) > len(a.x)


@pytest.mark.parametrize("options", [
    {"name": "ring", "n": 50, "seed": 3, "minority": [0, 4], "ratio": 0.2},
    {"name": "grid-imbalanced", "n": 50},
    {"name": "digits", "scale": "unit", "rare_classes": [3], "fraction": 0.1, "seed": 4, "limit": 100},
    {"name": "folder", "path": "/some/where", "mode": "RGB", "size": 16, "limit": 9},
    {"name": "mnist", "path": "/some/where", "split": "test"},
])
def test_every_field_written_out_parses_back_equal(options):
    config = data_config(options)
    assert data_config(dataclasses.asdict(config)) == config


# ------------------------------------------------------------------ no silent coercion

@pytest.mark.parametrize("options, message", [
    ({"name": "ring", "minority": "12"},
     r"'minority': mode indices must be an integer or a list of integers, got '12'"),
    ({"name": "ring", "minority": [1.7]}, r"'minority': mode indices must be integers, got 1.7"),
    ({"name": "ring", "minority": [1.0]}, r"'minority': mode indices must be integers, got 1.0"),
    ({"name": "ring", "minority": [True]}, r"'minority': mode indices must be integers, got True"),
    ({"name": "ring", "minority": [1, 1]}, r"'minority': mode indices repeat: \[1, 1\]"),
    ({"name": "ring", "minority": [8]}, r"'minority': mode indices \[8\] outside 0..7"),
    ({"name": "ring", "minority": list(range(8))}, r"'minority': all 8 modes"),
    ({"name": "digits", "rare_classes": [1.5]}, r"'rare_classes': classes must be integers, got 1.5"),
    ({"name": "digits", "rare_classes": "12"}, r"'rare_classes': classes must be an integer or a list"),
    ({"name": "digits", "rare_classes": [1, 1]}, r"'rare_classes': classes repeat: \[1, 1\]"),
    ({"name": "digits", "rare_classes": [-1]}, r"'rare_classes': classes are labels >= 0"),
    ({"name": "digits", "limit": True}, r"'limit': limit must be a positive integer, got True"),
    ({"name": "digits", "limit": 2.0}, r"'limit': limit must be a positive integer, got 2.0"),
    ({"name": "digits", "rare_classes": [1], "fraction": True},
     r"'fraction': fraction must be a finite number in \(0, 1\], got True$"),
    ({"name": "folder", "path": "/x", "size": 8.0}, r"'size': size must be a positive integer, got 8.0"),
    ({"name": "folder", "path": "/x", "mode": "rgb"}, r"'mode': must be 'L' or 'RGB', got 'rgb'"),
    ({"name": "mnist", "path": "/x", "split": "val"}, r"'split': must be 'train' or 'test', got 'val'"),
    ({"name": "mnist", "path": 5}, r"'path': must be a string"),
    ({"name": "ring", "seed": -1}, r"'seed': must be a non-negative integer, got -1"),
    ({"name": "ring", "seed": 1.5}, r"'seed': must be a non-negative integer, got 1.5"),
    ({"name": "ring", "seed": True}, r"'seed': must be a non-negative integer, got True"),
    ({"name": "digits", "rare_classes": [1], "seed": -1}, r"'seed': must be a non-negative integer"),
    ({"name": "ring-imbalanced", "ratio": "x"}, r"'ratio': ratio must be a finite number in \(0, 1\], got 'x'$"),
    ({"name": "ring-imbalanced", "ratio": 0}, r"'ratio': ratio must be a finite number in \(0, 1\], got 0$"),
    ({"name": "ring-imbalanced", "ratio": float("nan")},
     r"'ratio': ratio must be a finite number in \(0, 1\], got nan$"),
    ({"name": "ring", "n": True}, r"'n': n must be a positive integer, got True"),
])
def test_wrong_types_and_values_are_refused_naming_the_key(options, message):
    with pytest.raises(ValueError, match=r"^\[data\] " + message):
        data_config(options)


def test_a_single_integer_is_a_one_item_list():
    one = build_dataset({"name": "ring", "n": 500, "minority": 1, "ratio": 0.1})
    assert torch.equal(one.x, build_dataset({"name": "ring", "n": 500, "minority": [1], "ratio": 0.1}).x)
    assert data_config({"name": "ring", "minority": np.int64(3)}).minority == [3]
    assert data_config({"name": "digits", "rare_classes": 3}).rare_classes == [3]
    assert torch.equal(build_dataset({"name": "digits", "rare_classes": 3}).x,
                       build_dataset({"name": "digits", "rare_classes": [3]}).x)


def test_a_rare_class_the_labels_lack_is_named():
    with pytest.raises(ValueError, match=r"^\[data\] 'rare_classes': rare_classes \[10\] do not occur"):
        build_dataset({"name": "digits", "rare_classes": [10]})


def test_an_empty_minority_list_is_balanced():
    plain = build_dataset({"name": "ring", "n": 300, "seed": 2})
    assert torch.equal(build_dataset({"name": "ring", "n": 300, "seed": 2, "minority": []}).x, plain.x)
    assert build_dataset({"name": "ring-imbalanced", "n": 10, "minority": []}).mixture.minority == ()


def test_direct_construction_checks_too():
    with pytest.raises(ValueError, match=r"\[data\] 'limit'"):
        DataConfig("ring", limit=3)
    assert DataConfig("ring", minority=(1, 5), ratio=0.1).minority == [1, 5]
