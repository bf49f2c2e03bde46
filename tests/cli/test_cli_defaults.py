"""The options of ``modecover audit`` and ``modecover evaluate`` take their defaults and choices
from the dataclasses they fill (SearchConfig, WeightingConfig, MetricOptions, LoadOptions), so a
default changed in one place and not the other fails here; the weighting options audit gained
(--gamma, --outlier-weight, --fine-grained) reach the weights and are refused with the density
detector."""

import inspect
import json
from dataclasses import MISSING, fields

import click
import numpy as np
import pytest

from helpers import cli, read_csv
from modecover.cli.audit import LOCI_OPTIONS
from modecover.cli.audit import command as audit_command
from modecover.cli.evaluate import command as evaluate_command
from modecover.dmpra import WEIGHTINGS, SearchConfig, WeightingConfig, search, weigh
from modecover.evaluation import LoadOptions, MetricOptions
from modecover.evaluation.features import DINOV2_ARCHS
from modecover.metrics.prdc import density_coverage, prdc, precision_recall

# option name -> (dataclass, field, whether the option is the field's negation: a flag that turns it off)
AUDIT = {
    "alpha": (SearchConfig, "alpha", False),
    "n_min": (SearchConfig, "n_min", False),
    "k_sigma": (SearchConfig, "k_sigma", False),
    "two_sided": (SearchConfig, "two_sided", False),
    "max_neighbors": (SearchConfig, "max_neighbors", False),
    "reference_size": (SearchConfig, "reference_size", False),
    "weighting": (WeightingConfig, "weighting", False),
    "min_group": (WeightingConfig, "min_group", False),
    "gamma": (WeightingConfig, "gamma", False),
    "w_max": (WeightingConfig, "w_max", False),
    "outlier_weight": (WeightingConfig, "outlier_weight", False),
    "fine_grained": (WeightingConfig, "fine_grained", False),
    "no_informative": (WeightingConfig, "informative", True),
}
EVALUATE = {
    "k_pr": (MetricOptions, "k_pr", False),
    "k_dc": (MetricOptions, "k_dc", False),
    "inclusive": (MetricOptions, "strict", True),
    "prdc": (MetricOptions, "prdc", False),
    "fid": (MetricOptions, "fid", False),
    "want_kid": (MetricOptions, "kid", False),
    "kid_subsets": (MetricOptions, "kid_subsets", False),
    "kid_subset_size": (MetricOptions, "kid_subset_size", False),
    "want_is": (MetricOptions, "inception_score", False),
    "is_splits": (MetricOptions, "is_splits", False),
    "mixture": (MetricOptions, "mixture", False),
    "seed": (MetricOptions, "seed", False),
    "vendi": (MetricOptions, "vendi", False),
    "extractor": (LoadOptions, "extractor", False),
    "inception_weights": (LoadOptions, "inception_weights", False),
    "dinov2_weights": (LoadOptions, "dinov2_weights", False),
    "image_mode": (LoadOptions, "image_mode", False),
    "image_size": (LoadOptions, "image_size", False),
    "skip_corrupt": (LoadOptions, "skip_corrupt", False),
}


def options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def received(command: click.Command) -> dict:
    """What the command's function receives for each option left off the command line."""
    return command.make_context(command.name, [], resilient_parsing=True).params


def field_default(cls, name):
    found = {f.name: f for f in fields(cls)}
    assert name in found, f"{cls.__name__} has no field {name!r}: update the option table"
    assert found[name].default is not MISSING, f"{cls.__name__}.{name} has no plain default"
    return found[name].default


@pytest.mark.parametrize("command, table", [(audit_command, AUDIT), (evaluate_command, EVALUATE)],
                         ids=["audit", "evaluate"])
def test_each_option_defaults_to_its_field(command, table):
    given, values = options(command), received(command)
    for name, (cls, field, negated) in table.items():
        assert name in given, f"modecover {command.name}: no option {name!r}"
        value, default = values[name], field_default(cls, field)
        if negated:  # a flag that turns the field off (--no-informative, --inclusive): off by default
            assert given[name].is_flag and value is False, name
            value = not value
        assert value == default and type(value) is type(default), \
            f"modecover {command.name} {given[name].opts[0]}: default {value!r}, {cls.__name__}.{field} = {default!r}"


def test_choices_are_the_constants():
    assert tuple(options(audit_command)["weighting"].type.choices) == tuple(WEIGHTINGS)
    assert field_default(WeightingConfig, "weighting") in WEIGHTINGS
    arch = options(evaluate_command)["dinov2_arch"]
    assert tuple(arch.type.choices) == tuple(DINOV2_ARCHS)
    assert field_default(LoadOptions, "dinov2_arch") in DINOV2_ARCHS
    assert f"default {field_default(LoadOptions, 'dinov2_arch')}" in arch.help


def test_loci_options_are_the_search_and_weighting_options():
    # every LOCI option is refused with the density detector: a new one must be listed there
    assert set(LOCI_OPTIONS) == set(AUDIT)
    # every search field but the seed and every weighting field has an option
    named = {(cls, field) for cls, field, _ in AUDIT.values()}
    assert {(SearchConfig, f.name) for f in fields(SearchConfig)} - named == {(SearchConfig, "seed")}
    assert {(WeightingConfig, f.name) for f in fields(WeightingConfig)} <= named


def test_components_default_to_no_projection_everywhere():
    """--components, the Python audit's ``components`` and DMPRA's ``components`` all default to
    0 (no projection); the option works with either detector, so it is no LOCI option."""
    from modecover.dmpra.audit import audit
    from modecover.dmpra.plugin import DMPRAConfig

    value = received(audit_command)["components"]
    api = inspect.signature(audit).parameters["components"].default
    assert (value, api, field_default(DMPRAConfig, "components")) == (0, 0, 0)
    assert type(value) is int and "components" not in LOCI_OPTIONS


def test_metric_options_k_are_the_metric_functions_defaults():
    def default(function, name):
        return inspect.signature(function).parameters[name].default

    assert field_default(MetricOptions, "k_pr") == default(prdc, "k_pr") == default(precision_recall, "k")
    assert field_default(MetricOptions, "k_dc") == default(prdc, "k_dc") == default(density_coverage, "k")
    assert field_default(MetricOptions, "strict") == default(prdc, "strict")


def clusters(seed=0):
    """Two big blobs, a small distant cluster and a pair of far points (groups of 6 and 2)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (150, 3)), rng.normal((8, 0, 0), 1, (150, 3)),
                           rng.normal((4, 9, 0), 0.2, (6, 3)), rng.normal((-9, -9, 0), 0.05, (2, 3))])


def test_the_new_weighting_options_reach_the_weights(tmp_path):
    x = clusters()
    np.save(tmp_path / "x.npy", x)
    res = cli("audit", tmp_path / "x.npy", "--out", tmp_path / "out", "--quiet", "--min-group", 3, "--gamma", 2.5,
              "--outlier-weight", 0.25, "--fine-grained")
    assert res.exit_code == 0, res.output
    result = search(x, SearchConfig())
    expected = weigh(result, WeightingConfig(min_group=3, gamma=2.5, outlier_weight=0.25, fine_grained=True))
    default = weigh(result, WeightingConfig(min_group=3))
    weights = np.array([float(r["weight"]) for r in read_csv(tmp_path / "out" / "audit.csv")])
    np.testing.assert_array_equal(weights, expected.weights)
    assert not np.array_equal(weights, default.weights)  # the options changed something
    assert 0.25 in weights  # the pair: flagged, in a group smaller than --min-group
    settings = json.loads((tmp_path / "out" / "summary.json").read_text())["settings"]
    assert (settings["gamma"], settings["outlier_weight"], settings["fine_grained"]) == (2.5, 0.25, True)


@pytest.mark.parametrize("args", [("--gamma", 2), ("--outlier-weight", 0.5), ("--fine-grained",)])
def test_the_new_weighting_options_are_refused_with_the_density_detector(tmp_path, args):
    np.save(tmp_path / "x.npy", clusters())
    res = cli("audit", tmp_path / "x.npy", "--out", tmp_path / "out", "--quiet", "--detector", "density", *args)
    assert res.exit_code == 1 and args[0] in res.output and "--detector loci" in res.output, res.output


def test_bad_new_weighting_values_name_the_option(tmp_path):
    np.save(tmp_path / "x.npy", clusters())
    res = cli("audit", tmp_path / "x.npy", "--out", tmp_path / "out", "--quiet", "--outlier-weight", 0)
    assert res.exit_code == 1 and "'outlier_weight' must be a finite number > 0, got 0.0" in res.output
