"""Where the packaging project (template, config, patches, units) lives."""

import os
from collections.abc import Iterable
from pathlib import Path

from ollama_rpm.errors import UsageError
from ollama_rpm.pathtypes import StrPath

TEMPLATE_NAME = "ollama.spec.j2"
CONFIG_NAME = "packaging.yaml"
LOCK_NAME = "sources.lock"


def _looks_like_project(path: Path) -> bool:
    # Present in any form: a FIFO or a link to /dev/zero is this project's file, which
    # its bounded read then refuses, never a reason to go looking for another project.
    return all(os.path.lexists(path / name) for name in (TEMPLATE_NAME, CONFIG_NAME))


def find_root(start: StrPath | None = None) -> Path:
    """The project directory: $OLLAMA_RPM_PROJECT, the cwd or a parent, else this checkout."""
    env = os.environ.get("OLLAMA_RPM_PROJECT")
    if env:
        root = Path(env)
        if not _looks_like_project(root):
            raise UsageError(f"OLLAMA_RPM_PROJECT={env}: no {TEMPLATE_NAME} and {CONFIG_NAME} there")
        return root.resolve()
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _looks_like_project(candidate):
            return candidate
    checkout = Path(__file__).resolve().parents[2]
    if _looks_like_project(checkout):
        return checkout
    raise UsageError(f"{here}: not inside an ollama-rpm project (no {TEMPLATE_NAME} with {CONFIG_NAME})")


def extra_macro_files() -> tuple[str, ...]:
    """Macro files named in $OLLAMA_RPM_MACROS (colon-separated), for hosts whose
    rpm lacks Fedora's macros; commands that take --macros add these too."""
    return tuple(p for p in os.environ.get("OLLAMA_RPM_MACROS", "").split(":") if p)


def macro_files(given: Iterable[StrPath] = ()) -> list[Path]:
    """The macro files rpm loads: $OLLAMA_RPM_MACROS's, then `given` (--macros), resolved;
    UsageError naming a missing one before any work. Every command that runs rpm uses this."""
    files = [Path(path).resolve() for path in (*extra_macro_files(), *given)]
    for path in files:
        if not path.is_file():
            raise UsageError(f"--macros {path}: no such macro file")
    return files
