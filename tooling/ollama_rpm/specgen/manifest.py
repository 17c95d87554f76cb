"""Upstream's recorded install manifest: what `cmake --install --component
llama-server` of the CPU build puts under OLLAMA_LIB_DIR.

A fact list (one path a line, "NAME -> TARGET" for a symbolic link), recorded
from the real tree and re-recorded on a bump. The spec's %files lists the
private executables and libraries from it one by one, so an unlisted new
library fails the build instead of hiding behind a glob.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ollama_rpm import atomic
from ollama_rpm.errors import ConfigError
from ollama_rpm.pathtypes import StrPath

# Names go into %files: ASCII file-name characters only, matched whole (fullmatch).
CPU_VARIANT = re.compile(r"libggml-cpu-(?P<variant>[A-Za-z0-9_.]+)\.so", re.A)
_LINE = re.compile(r"(?P<name>[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*)(?: -> (?P<target>[A-Za-z0-9_.+-]+))?", re.A)


@dataclass(frozen=True)
class Entry:
    name: str          # relative to OLLAMA_LIB_DIR
    target: str = ""   # symlink target; "" for a regular file

    @property
    def is_link(self) -> bool:
        return bool(self.target)


def load(path: StrPath) -> list[Entry]:
    """The manifest's entries, in file order; ConfigError on a malformed line."""
    path = Path(path)
    lines = atomic.read_text(path).splitlines()
    entries: list[Entry] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if not match or ".." in match.group("name").split("/"):
            raise ConfigError(path, f"line {number}", f"expected NAME or NAME -> TARGET, got {line!r}")
        entries.append(Entry(match.group("name"), match.group("target") or ""))
    if not entries:
        raise ConfigError(path, None, "lists no installed files")
    return entries


def cpu_variants(entries: Iterable[Entry]) -> list[str]:
    """ggml CPU variant names (libggml-cpu-<variant>.so) the install holds."""
    return sorted(m.group("variant") for e in entries for m in [CPU_VARIANT.fullmatch(e.name)] if m)


def packaged_files(entries: Iterable[Entry]) -> list[str]:
    """What the main package lists explicitly: every top-level file and versioned
    link except the CPU variants (level subpackages) and the link-time `lib*.so`
    symlinks, which %install deletes (nothing links against private libraries)."""
    result: list[str] = []
    for entry in entries:
        if "/" in entry.name or CPU_VARIANT.fullmatch(entry.name):
            continue
        if entry.is_link and entry.name.endswith(".so"):
            continue
        result.append(entry.name)
    return sorted(result)
