"""C code the vendored Go modules compile into ollama (Fedora's Bundled Software policy).

github.com/mattn/go-sqlite3 carries the SQLite amalgamation and cgo compiles it
into the ollama binary, so the spec says `Provides: bundled(sqlite) = VERSION`.
The version is read from the vendored source, never written by hand:
`ollama-rpm vendor` finds it in the vendored tree (`detect`) and records it in the
generated block of go-vendor-tools.toml (`block_lines`); `render` reads that record
back (`read`), so the Provides follows every re-vendoring.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from ollama_rpm.errors import ConfigError
from ollama_rpm.pathtypes import StrPath


@dataclass(frozen=True)
class Bundler:
    """A vendored module that compiles in C code, and where that code states its version."""
    module: str             # Go module path (a directory under vendor/)
    name: str               # the bundled() name
    file: str               # the file in the module holding the version
    version: str            # regex with one group: the version


BUNDLERS = (
    Bundler("github.com/mattn/go-sqlite3", "sqlite", "sqlite3-binding.c",
            r'^#define SQLITE_VERSION\s+"([0-9][0-9.]*)"'),
)


@dataclass(frozen=True)
class Bundled:
    name: str
    version: str
    source: str             # the vendored file the version was read from

    @property
    def provide(self) -> str:
        return f"bundled({self.name}) = {self.version}"


HEADER = "# C code the vendored modules compile in (ollama.spec: Provides: bundled(NAME) = VERSION):"
_LINE = re.compile(r"^#   bundled\((?P<name>[a-z0-9][a-z0-9_.+-]*)\) = (?P<version>[0-9][0-9A-Za-z.~+_]*) "
                   r"(?P<source>vendor/\S+)$")


def detect(tree: StrPath) -> list[Bundled]:
    """The bundled C code of the vendored tree at `tree` (an Ollama source tree with
    vendor/); a known bundler whose version line is missing is an error, since the
    Provides would silently go."""
    result = []
    for bundler in BUNDLERS:
        path = Path(tree) / "vendor" / bundler.module / bundler.file
        if not (Path(tree) / "vendor" / bundler.module).is_dir():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise ConfigError(path, None, f"cannot read the version of bundled {bundler.name}: {error}") from None
        match = re.search(bundler.version, text, re.M)
        if not match:
            raise ConfigError(path, None, f"expected a line matching {bundler.version!r} (the version of "
                                          f"bundled {bundler.name})")
        result.append(Bundled(bundler.name, match.group(1), path.relative_to(tree).as_posix()))
    return result


def block_lines(bundled: list[Bundled]) -> list[str]:
    """The lines of the generated block of go-vendor-tools.toml that record `bundled`."""
    if not bundled:
        return []
    return ["#", HEADER, *(f"#   {b.provide} {b.source}" for b in bundled)]


def read(toml: StrPath) -> list[Bundled]:
    """What the generated block of go-vendor-tools.toml records ([] when the file or
    the record is absent: nothing vendored yet)."""
    path = Path(toml)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, None, f"not a readable UTF-8 file: {error}") from None
    if HEADER not in lines:
        return []
    result = []
    for line in lines[lines.index(HEADER) + 1:]:
        if not line.startswith("#   "):
            break
        match = _LINE.match(line)
        if not match:
            raise ConfigError(path, None, f"{line[:80]!r}: expected '#   bundled(NAME) = VERSION vendor/PATH' "
                                          "(written by ollama-rpm vendor)")
        result.append(Bundled(match.group("name"), match.group("version"), match.group("source")))
    return result
