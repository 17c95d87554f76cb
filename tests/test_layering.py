"""The package's layering, read from its imports (doc/architecture.md).

tooling/ollama_rpm/ is grouped by pipeline stage into wings, ground first. A module may
import its own wing and the wings below it, never one above (lazy imports inside functions
and imports for type checking are arrows all the same), and no modules may import each
other in a cycle when they run (an `if TYPE_CHECKING:` import never runs).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tooling" / "ollama_rpm"

# Ground first. core: the modules at the package root that every wing may use;
# cli: the entry points at the package root, above commands/.
WINGS = ["core", "specgen", "sources", "builders", "check", "publish", "commands", "cli"]
# "": the package's __init__; pathtypes: the type aliases every module may use.
CORE = {"", "errors", "atomic", "limits", "grammar", "project", "pathtypes", "hostenv", "textout"}
TOP = {"cli", "__main__"}


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a folder's __init__.py is the folder)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def wing(module: str, package: Path) -> str | None:
    parts = module.split(".")[1:]
    if len(parts) <= 1 and (parts[0] if parts else "") in CORE:
        return "core"
    if len(parts) == 1 and parts[0] in TOP:
        return "cli"
    if parts and parts[0] in WINGS[1:-1] and (package / parts[0] / "__init__.py").is_file():
        return parts[0]
    return None


def imports(module: str, known: dict[str, Path], typing: bool = True) -> list[tuple[int, str]]:
    """(line, module of this package it imports) for every import in the module, lazy ones
    too; those under `if TYPE_CHECKING:` only with `typing`."""
    path, top = known[module], module.split(".", maxsplit=1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set() if typing else {id(n) for node in ast.walk(tree)
                                 if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                                 for stmt in node.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:      # relative: resolve against the module's own package
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            found += [(node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in known else base) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == top]


def problems(package: Path) -> dict[str, list[str]]:
    """What breaks the layering, by rule (every list empty when none does)."""
    known = modules(package)
    graph = {m: imports(m, known) for m in known}
    rank = {m: WINGS.index(wing(m, package)) for m in known if wing(m, package)}
    found: dict[str, list[str]] = {"outside": [m for m in known if m not in rank], "missing": [], "upward": [],
                                   "cycles": []}
    for module, targets in graph.items():
        for line, name in targets:
            if name not in known:
                found["missing"].append(f"{module}:{line}: {name}")
            elif module in rank and name in rank and rank[name] > rank[module]:
                found["upward"].append(f"{module}:{line} ({wing(module, package)}) imports {name} "
                                       f"({wing(name, package)})")
    running = {m: imports(m, known, typing=False) for m in known}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        for _, nxt in running[node]:
            if nxt in path:
                found["cycles"].append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt in graph and nxt not in done:
                visit(nxt, path + [nxt])
        done.add(node)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return found


RULES = {
    "outside": "every module sits in a wing (a root-level module is core or cli)",
    "missing": "every import of the package names a module that exists",
    "upward": "each wing imports only its own wing and the wings below it",
    "cycles": "no modules import each other in a cycle (as they run)",
}


@pytest.mark.parametrize("rule", RULES)
def test_the_package_keeps_the_layering(rule):
    broken = problems(PACKAGE)[rule]
    assert not broken, f"{RULES[rule]}; broken by:\n  " + "\n  ".join(broken)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "pkg"


def test_the_rules_catch_what_they_forbid(tmp_path):
    """An upward arrow (specgen/ -> builders/), a cycle, a stray module and a stale path are all
    reported; a cycle through an `if TYPE_CHECKING:` import is not one."""
    package = _write(tmp_path, {
        "pkg/__init__.py": "", "pkg/errors.py": "",
        "pkg/specgen/__init__.py": "", "pkg/specgen/config.py": "from pkg.builders import srpm\n",
        "pkg/builders/__init__.py": "", "pkg/builders/srpm.py": "def f():\n    from pkg.specgen import config\n",
        "pkg/stray.py": "from pkg.errors import X\nimport pkg.specparse\n",
    })
    found = problems(package)
    assert found["upward"] == ["pkg.specgen.config:1 (specgen) imports pkg.builders.srpm (builders)"]
    assert found["cycles"] == ["pkg.builders.srpm -> pkg.specgen.config -> pkg.builders.srpm"]
    assert found["outside"] == ["pkg.stray"]
    assert found["missing"] == ["pkg.stray:2: pkg.specparse"]
    assert problems(_write(tmp_path / "ok", {
        "pkg/__init__.py": "", "pkg/errors.py": "", "pkg/specgen/__init__.py": "",
        "pkg/specgen/config.py": "from pkg import errors\nfrom . import render\n",
        "pkg/specgen/render.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.specgen import config\n",
    })) == {"outside": [], "missing": [], "upward": [], "cycles": []}
