"""No module of modecover uses another module's private names (read with ``ast``).

A name with a leading underscore (not a dunder) is private to where it is defined: to its
module for the top-level modules of modecover, to its subpackage (``modecover.neighbors``,
``modecover.metrics``, ...) for a module inside one. A private module (``_tiles``) is
private to the package that holds it, so ``modecover._checks`` serves every module and
``modecover.neighbors._tiles`` only those of ``modecover.neighbors``. Checked: ``from ...
import _x`` (absolute and relative), ``import modecover.a._b``, and ``m._x`` where ``m``
names a modecover module (``from modecover import m``, ``import modecover.m as m``,
``modecover.m._x``). Callers outside a package use its public names, or the documented
internal layer where there is one (``modecover.neighbors.unchecked``).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "modecover"

def _is_module(parts: tuple[str, ...]) -> bool:
    return bool(parts) and (PACKAGE.joinpath(*parts).with_suffix(".py").is_file()
                            or PACKAGE.joinpath(*parts, "__init__.py").is_file())


def _is_package(parts: tuple[str, ...]) -> bool:
    return PACKAGE.joinpath(*parts, "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _owner(module: tuple[str, ...]) -> tuple[str, ...]:
    """Where the private names defined in ``module`` may be used (a prefix of module paths)."""
    if module and _is_package(module[:1]):
        return module[:1]  # anywhere in the subpackage
    return module  # a top-level module (or modecover's __init__): itself only


def _module_problems(path: tuple[str, ...], where: tuple[str, ...]) -> list[str]:
    """Private modules on ``path`` that ``where`` may not import: each belongs to its package."""
    return [".".join(path[: i + 1]) for i, part in enumerate(path)
            if _private(part) and where[:i] != path[:i]]


def _name_problem(module: tuple[str, ...], name: str, where: tuple[str, ...]) -> list[str]:
    owner = _owner(module)
    if _private(name) and where[: len(owner)] != owner:
        return [".".join(module + (name,))]
    return []


def private_accesses(source: str, where: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(line, modecover.x._y)`` for every private name or module of another module or
    package that the source of module ``where`` (name parts below modecover; a package's
    ``__init__`` as the package's parts plus ``"__init__"``) uses."""
    tree = ast.parse(source)
    here = where[:-1]  # the package relative imports start from
    found: list[tuple[int, str]] = []
    modules: dict[str, tuple[str, ...]] = {}  # local name -> the modecover module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] != "modecover":
                    continue
                target = tuple(parts[1:])
                found += [(node.lineno, p) for p in _module_problems(target, where)]
                if alias.asname:
                    modules[alias.asname] = target
                else:
                    modules["modecover"] = ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = base + tuple(node.module.split(".")) if node.module else base
            elif node.module.split(".")[0] == "modecover":
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            found += [(node.lineno, p) for p in _module_problems(target, where)]
            for alias in node.names:
                sub = target + (alias.name,)
                if _is_module(sub):
                    found += [(node.lineno, p) for p in _module_problems(sub, where)]
                    modules[alias.asname or alias.name] = sub
                else:
                    found += [(node.lineno, p) for p in _name_problem(target, alias.name, where)]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain = []
        inner = node
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        if not isinstance(inner, ast.Name) or inner.id not in modules:
            continue
        module = modules[inner.id]
        for attr in reversed(chain):
            if _is_module(module + (attr,)):
                module = module + (attr,)
                found += [(node.lineno, p) for p in _module_problems(module, where)]
                continue
            found += [(node.lineno, p) for p in _name_problem(module, attr, where)]
            break
    return sorted(set(found))


def _where(path: Path) -> tuple[str, ...]:
    return path.relative_to(PACKAGE).with_suffix("").parts


def test_no_module_uses_another_modules_private_names():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = _where(path)
        for line, name in private_accesses(path.read_text(), where):
            wrong.append(f"modecover.{'.'.join(where)} (line {line}) uses modecover.{name}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_each_kind_of_access():
    prdc = ("metrics", "prdc")

    def names(source, where=prdc):
        return [name for _, name in private_accesses(source, where)]

    # across modules and packages: refused
    assert names("from modecover.neighbors._knn import _knn_unchecked") == [
        "neighbors._knn", "neighbors._knn._knn_unchecked"]
    assert names("from modecover.neighbors import _tiles") == ["neighbors._tiles"]
    assert names("import modecover.neighbors._tiles as t") == ["neighbors._tiles"]
    assert names("from modecover.explain import _explain_unchecked") == ["explain._explain_unchecked"]
    assert names("from modecover import neighbors as nb\nnb._prepare(x)") == ["neighbors._prepare"]
    assert names("from modecover import neighbors\nneighbors.unchecked.knn(x)\nneighbors._tiles._prepare(x)") == [
        "neighbors._tiles", "neighbors._tiles._prepare"]
    assert names("import modecover.neighbors\nmodecover.neighbors._prepare(x)") == ["neighbors._prepare"]
    assert names("def f():\n    from modecover.train import _sampler_seed") == ["train._sampler_seed"]
    assert names("from ..neighbors import _widened") == ["neighbors._widened"]  # relative, from metrics.prdc
    # top-level modules keep their private names to themselves
    assert names("from modecover.train import _sampler_seed", ("ensemble",)) == ["train._sampler_seed"]
    assert names("from modecover.train import _sampler_seed", ("train",)) == []
    # allowed: inside the package, modecover._checks, public names, dunders, other libraries
    inside = ("neighbors", "balls")
    assert names("from modecover.neighbors._tiles import _prepare\nfrom ._inputs import _as_radii", inside) == []
    assert names("from modecover.neighbors import _tiles\n_tiles._blocks(3, 1)", inside) == []
    assert names("from modecover.metrics.kid import _check_seed", ("metrics", "inception_score")) == []
    assert names("from modecover import _checks\nfrom modecover._checks import check_k\n"
                 "_checks.positive_int(1, 'n')") == []
    assert names("from modecover.neighbors import unchecked, knn\nunchecked.knn(x)\nknn._cache\n"
                 "modecover.__name__") == []
    assert names("import numpy as np\nnp._NoValue\nfrom torch import _C") == []
