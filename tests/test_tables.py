"""modecover._checks.dataclass_from_table: one vocabulary for the key checks of config tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from modecover._checks import TableError, check_table_keys, dataclass_from_table


@dataclass
class Inner:
    k: int = 3

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"'k' must be >= 1, got {self.k!r}")


@dataclass
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    items: list[int] = field(default_factory=list)
    derived: int = field(default=0, init=False)


def test_builds_the_dataclass_and_its_nested_tables():
    built = dataclass_from_table(Outer, {"name": "a", "inner": {"k": 5}, "maybe": {"k": 2}, "items": [1]}, "[x]")
    assert built == Outer("a", Inner(5), Inner(2), [1])
    assert dataclass_from_table(Outer, {"name": "a"}, "[x]") == Outer("a")
    assert dataclass_from_table(Outer, {"name": "a", "maybe": None}, "[x]").maybe is None
    given = Inner(7)
    assert dataclass_from_table(Outer, {"name": "a", "inner": given}, "[x]").inner is given  # an object is kept
    assert dataclass_from_table(Outer, Outer("b"), "[x]") == Outer("b")
    assert dataclass_from_table(Inner, {}, "[x]") == Inner()


@pytest.mark.parametrize("table, message", [
    ({"name": "a", "nmae": 1, "zz": 2},
     r"^\[x\]: unknown key\(s\) \['nmae', 'zz'\]; known keys: \['inner', 'items', 'maybe', 'name'\]$"),
    ({"name": "a", "derived": 1}, r"^\[x\]: unknown key\(s\) \['derived'\]"),  # not an init field
    ({"inner": {}}, r"^\[x\]: missing key\(s\) \['name'\]$"),
    ({"name": "a", "inner": {"kk": 1}}, r"^\[x\]\.inner: unknown key\(s\) \['kk'\]; known keys: \['k'\]$"),
    ({"name": "a", "inner": 3}, r"^\[x\]\.inner: expected a table of key = value pairs, got int 3$"),
    ({"name": "a", "maybe": "k=1"}, r"^\[x\]\.maybe: expected a table of key = value pairs, got str 'k=1'$"),
    ({"name": "a", "inner": {"k": 0}}, r"^\[x\]\.inner: 'k' must be >= 1, got 0$"),
    ([("name", "a")], r"^\[x\]: expected a table of key = value pairs, got list"),
    (None, r"^\[x\]: expected a table of key = value pairs, got NoneType None$"),
])
def test_errors_name_where_the_key_and_the_known_keys(table, message):
    with pytest.raises(TableError, match=message):
        dataclass_from_table(Outer, table, "[x]")


def test_errors_are_value_errors_and_the_top_level_post_init_raises_its_own():
    assert issubclass(TableError, ValueError)
    with pytest.raises(ValueError, match=r"^'k' must be >= 1, got 0$"):
        dataclass_from_table(Inner, {"k": 0}, "[x]")


def test_check_table_keys_takes_extra_keys():
    check_table_keys(Inner, {"k": 1, "features": "flat"}, "[m]", ("features",))
    with pytest.raises(TableError, match=r"known keys: \['features', 'k'\]"):
        check_table_keys(Inner, {"kk": 1}, "[m]", ("features",))


def test_every_config_site_uses_the_same_message():
    """The [data], [model], [train] and [[methods]] tables (and DMPRA's nested ones) say it one way."""
    from modecover.config import ConfigError, parse_config

    base = {"data": {"name": "ring", "n": 100}, "model": {"family": "gan"}, "train": {"steps": 2, "batch_size": 4}}
    cases = {
        "data": ({**base, "data": {"name": "ring", "bad": 1}}, r"\[data\]"),
        "model": ({**base, "model": {"family": "gan", "bad": 1}}, r"\[model\]: model 'gan'"),
        "train": ({**base, "train": {"steps": 2, "batch_size": 4, "bad": 1}}, r"\[train\]"),
        "method": ({**base, "methods": [{"name": "dpm", "bad": 1}]}, r"\[\[methods\]\] 'dpm'"),
        "density": ({**base, "methods": [{"name": "dmpra", "density": {"bad": 1}}]},
                    r"\[\[methods\]\] 'dmpra'\.density"),
        "classifier": ({**base, "methods": [{"name": "dmpra", "classifier": {"bad": 1}}]},
                       r"\[\[methods\]\] 'dmpra'\.classifier"),
    }
    for raw, where in cases.values():
        with pytest.raises(ConfigError, match=rf"^c\.toml: {where}: unknown key\(s\) \['bad'\]; known keys: \["):
            parse_config(raw, "c.toml")
