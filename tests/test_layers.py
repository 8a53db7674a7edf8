"""The flow reads one way: a module imports only what sits upstream of it (ARCHITECTURE.md draws the layers).

Parsed, not imported: every `import synthgen.X` / `from .X import` in the package, lazy ones inside functions
included, is checked against the layer table below."""

from __future__ import annotations

import ast
from pathlib import Path

import synthgen

PACKAGE = Path(synthgen.__file__).parent

# Lower runs first in the flow; a module imports only from lower layers (and within its own package).
LAYERS = {
    0: {"errors", "text", "aio", "secrets", "results", "numeric", "keywords", "labels"},  # small shared types, helpers
    1: {"paths", "protocols", "ratecontrol"},
    2: {"catalog"},
    3: {"prompt"},
    4: {"adapters", "store", "task", "endpoints"},
    5: {"planning", "lease", "summary", "cost", "outcomes"},
    6: {"engine", "batch", "workers"},
    7: {"generation", "embed", "estimate"},
    8: {"display", "clean", "topicmodel", "verify", "check", "evaluation"},
    9: {"export", "stats"},
    10: {"api"},
    11: {"commands", "cli", "__init__", "__main__"},
}
RANK = {name: rank for rank, names in LAYERS.items() for name in names}


def _top(module: str) -> str:
    return module.split(".")[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level synthgen module) for every import of the package in `path`."""
    relative = path.relative_to(PACKAGE)
    package_parts = list(relative.parts[:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("synthgen."):
                    found.append((node.lineno, _top(alias.name[len("synthgen.") :])))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("synthgen."):
                    found.append((node.lineno, _top(node.module[len("synthgen.") :])))
                continue
            base = package_parts[: len(package_parts) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if target:
                found.append((node.lineno, target[0]))
            else:  # `from . import x` at the package root
                found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_every_module_is_in_a_layer():
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert tops - set(RANK) == set()


def test_no_module_imports_downstream_of_itself():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for line, target in _imports(path):
            if target == own or target not in RANK:
                continue
            if RANK[target] >= RANK[own]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert upward == []


def test_no_module_is_over_400_lines():
    long = [
        f"{p.relative_to(PACKAGE)}: {n}"
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    ]
    assert long == []
