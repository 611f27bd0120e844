"""The module graph follows the data one way: corpus -> training -> model file -> inference -> batch / CLI.

Imports inside functions count: a lazy import that closes a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "marksales"

# Each module may import only modules listed before it.
ORDER = ["_errors", "_version", "_types", "_io", "_report", "_corpus", "_format", "_export", "_artifacts", "_fit",
         "_features", "_scoring", "_model", "_evaluation", "_train", "_batch", "_cli", "__init__", "__main__"]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x
                found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("marksales."):
                found.add(node.module.split(".")[1])
            elif node.module == "marksales":
                found.add("__init__")
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("marksales."))
    return found


def test_every_module_is_placed_in_the_order():
    assert sorted(p.stem for p in PACKAGE.glob("*.py")) == sorted(ORDER)


def test_imports_point_one_way():
    backward = []
    for name in ORDER:
        for dep in sorted(_imports(PACKAGE / f"{name}.py")):
            if dep in ORDER and ORDER.index(dep) >= ORDER.index(name):
                backward.append(f"{name} imports {dep}")
    assert backward == []


def test_the_graph_has_no_cycle():
    graph = {name: _imports(PACKAGE / f"{name}.py") & set(ORDER) for name in ORDER}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            assert state.get(dep) != 1, " -> ".join([*path, node, dep])
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = 2

    for name in ORDER:
        if name not in state:
            visit(name, [])


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_of_another_library_is_used():
    """Public API only: no import of a private module or name from outside the package, and no private
    attribute reached on anything but the object's own ``self``/``cls`` (``os._exit`` is documented API)."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = node.module.split(".") + [alias.name for alias in node.names]
                if any(_private(n) for n in names):
                    found.append(f"{path.name}:{node.lineno} from {node.module} import ...")
            elif isinstance(node, ast.Import):
                found += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names
                          if any(_private(n) for n in a.name.split("."))]
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                owner = ast.unparse(node.value)
                if owner not in ("self", "cls") and f"{owner}.{node.attr}" != "os._exit":
                    found.append(f"{path.name}:{node.lineno} {owner}.{node.attr}")
    assert not found, f"private names of other code: {found}"


def test_one_module_parses_records():
    """CSV, TSV and JSONL records are parsed in ``_io`` alone; corpus reading, evaluation and batch scoring
    go through its ``read_records`` (the model file's own JSON header is not a record)."""
    parsers = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            call = ast.unparse(node.func)
            if call in ("csv.reader", "csv.DictReader") or (
                    call == "json.loads" and path.stem in ("_corpus", "_evaluation", "_batch", "_cli", "_train")):
                parsers.append(f"{path.stem}:{node.lineno}")
    assert [p.split(":")[0] for p in parsers] == ["_io"], parsers
    users = {name for name in ("_corpus", "_batch") if "read_records" in (PACKAGE / f"{name}.py").read_text()}
    assert users == {"_corpus", "_batch"}
