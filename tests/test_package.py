import numpy as np
import pytest
from click.testing import CliRunner

from modecover._checks import as_features, check_k, check_same_dim
from modecover.cli import COMMANDS, main


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(5), "2-D"),
        (np.zeros((0, 3)), "at least 1 rows"),
        (np.zeros((4, 0)), "zero feature columns"),
        (np.array([[1.0, np.nan], [0.0, 0.0]]), "row 0, column 1"),
        (np.array([[1.0, 2.0], [np.inf, 0.0]]), "row 1, column 0"),
        (np.array([["a", "b"]]), "numeric"),
    ],
)
def test_as_features_names_the_problem(bad, message):
    with pytest.raises(ValueError, match="fake") as info:
        as_features(bad, "fake")
    assert message in str(info.value)


def test_as_features_keeps_values_and_checks_dims():
    x = np.arange(6).reshape(3, 2)
    out = as_features(x, "x")
    assert out.dtype == np.float64 and np.array_equal(out, x)
    with pytest.raises(ValueError, match="expected 3 feature columns"):
        as_features(x, "x", dim=3)
    with pytest.raises(ValueError, match="real has 2 .* fake has 3"):
        check_same_dim(np.zeros((2, 2)), np.zeros((2, 3)), "real", "fake")
    with pytest.raises(ValueError, match="at least 4"):
        check_k(3, 3, "real")


def test_the_package_docstring_map_names_what_exists():
    # help(modecover) is the starting point: every module and function its map names must resolve
    import importlib
    import re
    from pathlib import Path

    import modecover

    names = set(re.findall(r":(?:func|class|mod):`(modecover(?:\.\w+)+)`", modecover.__doc__))
    assert {"modecover.dmpra.search", "modecover.explain.explain", "modecover.evaluation.evaluate_files",
            "modecover.metrics", "modecover.plugins.Hooks", "modecover.config.Run"} <= names
    for name in sorted(names):
        module, _, attribute = name.rpartition(".")
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            assert hasattr(importlib.import_module(module), attribute), name
    root = Path(modecover.__file__).resolve().parents[2]
    for doc in re.findall(r"docs/\w+\.md", modecover.__doc__):
        assert (root / doc).is_file(), doc
