"""No module of modecover imports from a higher layer (module-level and function-level
imports alike, read with ``ast``)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "modecover"

# The first part of a module's name below modecover, by layer; a module may import from its
# own layer or a lower one.
LAYERS = {
    "low": {"_checks", "io", "neighbors", "graph", "metrics", "features", "parallel", "distributed",
            "labels", "plots", "weights"},
    "middle": {"data", "models", "plugins", "methods", "dmpra", "train", "interrupts", "checkpoint", "config",
               "runs", "explain", "evaluate", "evaluation", "ensemble"},
    "high": {"bench", "report", "demo", "cli", "__main__", "__init__"},
}
RANK = {part: rank for rank, parts in enumerate(LAYERS.values()) for part in parts}

def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts


def imported(path, parts):
    """The modecover modules ``path`` imports, as tuples of name parts below modecover."""
    tree = ast.parse(path.read_text(), str(path))
    package = parts[:-1]  # the package a relative import starts from
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "modecover":
                    yield tuple(alias.name.split(".")[1:])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + tuple((node.module or "").split(".")) if node.module else base
            elif node.module.split(".")[0] == "modecover":
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            for alias in node.names:  # from modecover import plots: the module plots
                sub = target + (alias.name,)
                yield sub if _is_module(sub) else target


def _is_module(parts):
    return bool(parts) and (PACKAGE.joinpath(*parts).with_suffix(".py").is_file()
                            or PACKAGE.joinpath(*parts, "__init__.py").is_file())


def test_every_module_has_a_layer():
    for _, parts in modules():
        assert parts[0] in RANK, f"modecover.{'.'.join(parts)}: add it to a layer in {__file__}"


def test_no_module_imports_from_a_higher_layer():
    wrong = []
    for path, parts in modules():
        for target in imported(path, parts):
            if not target or target[0] not in RANK:
                continue
            if RANK[target[0]] > RANK[parts[0]]:
                wrong.append(f"modecover.{'.'.join(parts)} imports modecover.{'.'.join(target)}")
    assert not wrong, "\n".join(wrong)
