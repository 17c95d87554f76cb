"""Who the packager is: the author of the changelog entry `bump` writes.

Looked up as rpmdev-packager (rpmdevtools) does, after the project's own
setting: packaging.yaml's `packager`, then $RPM_PACKAGER, then rpm's %packager
macro (~/.rpmmacros), then git's user.name and user.email of the project. The
first one set must be a real `Name <e-mail>`: a placeholder address (a domain
reserved for examples, RFC 2606/6761) is an error naming where it came from, and
so is finding none; a made-up name never reaches a spec.
"""

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ollama_rpm import grammar
from ollama_rpm.errors import UsageError
from ollama_rpm.specgen.config import Config, author_problem

HOW_TO = ("set packager: {name, email} in packaging.yaml, RPM_PACKAGER='Name <e-mail>', %packager in "
          "~/.rpmmacros (rpmdev-packager), or git config user.name and user.email")


def _run(args: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _git_identity(root: Path) -> str:
    name = _run(["git", "config", "user.name"], root)
    email = _run(["git", "config", "user.email"], root)
    return f"{name} <{email}>" if name and email else ""


def candidates(cfg: Config, root: Path, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """[(where, identity)] in lookup order, unset ones included as ""."""
    return [
        (f"{cfg.path}: packager", cfg.packager),
        ("RPM_PACKAGER", env.get("RPM_PACKAGER", "").strip()),
        ("rpm's %packager macro", _run(["rpm", "--eval", "%{?packager}"])),
        (f"git config user.name/user.email in {root}", _git_identity(root)),
    ]


def identity(cfg: Config, root: Path, env: Mapping[str, str] | None = None) -> str:
    """The packager's `Name <e-mail>`; UsageError when none is set or the first set is
    not one (a placeholder address included)."""
    for where, value in candidates(cfg, root, os.environ if env is None else env):
        if not value:
            continue
        problem = author_problem(value) or grammar.placeholder_email(value)
        if problem:
            raise UsageError(f"{where}: {value[:80]!r}: expected {problem}, as the author of the new changelog "
                             f"entry; {HOW_TO}")
        return value
    raise UsageError(f"no packager identity for the new changelog entry; {HOW_TO}")
