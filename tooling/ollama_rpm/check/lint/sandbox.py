"""Parsing a spec runs it: rpm expands `%(...)` (a shell) and `%{lua:...}` while it
reads the file, and rpmlint parses every spec and every SRPM's spec. So a spec
that is not this project's own render (one someone sent you) is parsed only in
a sandbox: bubblewrap, with no network, the whole file system read-only but the
lint workspace, and a new session (no terminal to inject into). Without a
working bwrap such a spec is refused unless the user accepts the risk
(`lint --trust-spec`). Binary RPMs are read, never run: they need no sandbox.

Environment: OLLAMA_RPM_BWRAP  the bubblewrap executable (default: bwrap on PATH)
"""

import functools
import os
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

from ollama_rpm import atomic
from ollama_rpm.errors import OllamaRpmError, UsageError
from ollama_rpm.pathtypes import StrPath

RISK_OPTION = "--trust-spec"


@functools.cache
def _bwrap(name: str) -> tuple[str | None, str]:
    """(bwrap path, "") when a sandbox starts here, else (None, why not)."""
    found = shutil.which(name)
    if not found:
        return None, f"{name} is not on PATH (install bubblewrap)"
    probe = subprocess.run([found, *_ARGS, "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        return None, f"{found} cannot start a sandbox here ({lines[-1] if lines else f'exit {probe.returncode}'})"
    return found, ""


# Read-only root, private /dev and /proc, every namespace bwrap can make (network
# included), killed with its parent, and no controlling terminal.
_ARGS = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
         "--die-with-parent", "--new-session"]


def command(workspace: StrPath) -> list[str]:
    """The prefix that runs a command in the sandbox, `workspace` its only writable
    directory (and its TMPDIR). UsageError when no sandbox can start here."""
    found, why = _bwrap(os.environ.get("OLLAMA_RPM_BWRAP", "bwrap"))
    if found is None:
        raise UsageError(f"no sandbox: {why}")
    work = str(Path(workspace).resolve())
    tmp = Path(work) / "tmp"
    tmp.mkdir(exist_ok=True)
    return [found, *_ARGS, "--bind", work, work, "--setenv", "TMPDIR", str(tmp), "--"]


def own_texts(project_root: StrPath) -> set[str]:
    """The specs a fresh render of the project gives (its layout's), or none when
    the project does not render."""
    from ollama_rpm import project
    from ollama_rpm.specgen import render
    from ollama_rpm.specgen.config import load_config
    try:
        root = Path(project_root)
        return {text for _, text in render.render_specs(root, load_config(root / project.CONFIG_NAME))}
    except OllamaRpmError:
        return set()


def spec_text(path: StrPath) -> str | None:
    """The spec a .spec file or a source RPM holds (read, not parsed); None for a binary RPM
    or a source RPM whose spec cannot be read."""
    path = Path(path)
    if path.suffix == ".spec":
        return atomic.read_text(path)
    if not path.name.endswith(".src.rpm"):
        return None
    try:
        payload = subprocess.run(["rpm2cpio", str(path)], capture_output=True, check=True).stdout
        found = subprocess.run(["cpio", "-i", "--quiet", "--to-stdout", "*.spec"], input=payload,
                               capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""          # unreadable: not this project's render
    return found.decode("utf-8", errors="replace")


def prefix(path: StrPath, workspace: StrPath, trusted: Collection[str], trust_all: bool) -> list[str]:
    """How to run rpm/rpmlint on `path`: directly ([]) for a binary RPM, for the
    project's own render (its text among `trusted`) or with `trust_all`; else in the
    sandbox. UsageError, naming the file and the way out, when there is none."""
    text = spec_text(path)
    if text is None or trust_all or text in trusted:
        return []
    try:
        return command(workspace)
    except UsageError as error:
        raise UsageError(f"{path}: not this project's own render, and parsing a spec runs its %(...) and "
                         f"%{{lua:...}}; {error}; pass {RISK_OPTION} to lint it unsandboxed, as you") from None
