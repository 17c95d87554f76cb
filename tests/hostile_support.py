"""Shared checks of the hostile-input tests: a real process, one stderr line, files kept."""

import hashlib
from pathlib import Path

from conftest import run_cli


def snapshot(root):
    """{relative path: sha256} of every file under `root` (symlinks by target text)."""
    root = Path(root)
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            result[str(path.relative_to(root))] = "->" + str(path.readlink())
        elif path.is_file():
            result[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def refused(args, *, cwd, code, needle, env=None, watch=None, timeout=None):
    """Run `ollama-rpm ARGS`; assert exit `code`, exactly one stderr line naming
    `needle`, no traceback, and no file changed under `watch` (default: cwd).
    `timeout`: seconds, for a case whose bug is a hang (a FIFO read)."""
    watch = Path(watch or cwd)
    before = snapshot(watch)
    proc = run_cli(*args, cwd=cwd, env=env, timeout=timeout)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ollama-rpm"), lines[0]
    assert needle in lines[0], lines[0]
    assert snapshot(watch) == before
    return lines[0]
