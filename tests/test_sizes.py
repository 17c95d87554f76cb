"""The size rule of doc/architecture.md that ruff has no check for: no function in
tooling/ is longer than 60 lines (decorators and docstring included)."""

import ast
from pathlib import Path

from conftest import REPO

MAX_LINES = 60
# Functions allowed past the limit, "path:name": the reason (three at most). None today.
EXCEPTIONS: dict[str, str] = {}


def long_functions(root: Path, limit: int = MAX_LINES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                lines = (node.end_lineno or node.lineno) - start + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root).as_posix()}:{node.name} ({lines} lines)")
    return found


def test_no_function_in_tooling_is_longer_than_60_lines():
    found = [f for f in long_functions(REPO / "tooling") if f.split(" ")[0] not in EXCEPTIONS]
    assert found == []
    assert len(EXCEPTIONS) <= 3


def test_the_size_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "big.py").write_text(f"def big():\n{body}\n    return 0\n")
    (tmp_path / "small.py").write_text("def small():\n    return 0\n")
    assert long_functions(tmp_path) == [f"big.py:big ({MAX_LINES + 2} lines)"]
