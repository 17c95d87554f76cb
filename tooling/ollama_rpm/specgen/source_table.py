"""The spec's numbered Sources and Patches: one table, built once per config.

Every Source has a role. The template reads entries by role (`source.readme.number`)
and iterates the table for the Source/Patch tags; every command selects by role,
never by number or position. Paths are relative to the config file's directory,
the one base directory for everything packaging.yaml names.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ollama_rpm import atomic

if TYPE_CHECKING:
    from ollama_rpm.specgen.config import Config

# Roles. The two URL roles are also packaging.yaml's keys under `sources:`.
OLLAMA = "ollama"
LLAMA_CPP = "llama_cpp"
VENDOR = "vendor"
VENDOR_CONFIG = "vendor_config"
SYSTEM_UNIT = "system_unit"
USER_UNIT = "user_unit"
SYSUSERS = "sysusers"
README = "readme"
MODELS_DROP_IN = "models_drop_in"

URL_ROLES = ((OLLAMA, 0), (LLAMA_CPP, 1))
# The Sources a split layout's backend spec ships (it builds only llama/server's ggml target).
BACKEND_ROLES = (OLLAMA, LLAMA_CPP)
VENDOR_CONFIG_NAME = "go-vendor-tools.toml"     # go-vendor-tools' config, Source and %go_vendor_license_* input
VENDOR_NUMBER = 2
# Files of the packaging project shipped as Sources: (role, number, name in the
# spec, path relative to the config's directory). The numbers are the spec's
# history (13 was dropped): renumbering would churn every SRPM diff.
PROJECT_SOURCES = (
    (VENDOR_CONFIG, 3, VENDOR_CONFIG_NAME, VENDOR_CONFIG_NAME),
    (SYSTEM_UNIT, 10, "ollama.service", "units/ollama.service"),
    (USER_UNIT, 11, "ollama.user.service", "units/ollama.user.service"),
    (SYSUSERS, 12, "ollama.conf", "sysusers/ollama.conf"),
    (README, 14, "README.Fedora", "doc/README.Fedora"),
    # %doc: the drop-in README.Fedora describes for models outside /var/lib/ollama.
    (MODELS_DROP_IN, 15, "ollama-models-elsewhere.conf", "doc/ollama-models-elsewhere.conf"),
)

Origin = Literal["url", "generated", "project"]


@dataclass(frozen=True)
class Source:
    role: str
    number: int
    value: str                 # what the Source tag says: a URL or a file name
    origin: Origin             # downloaded (url), made by `vendor` (generated), or a project file
    project_path: str = ""     # project files: relative to the config's directory
    comment: str = ""          # a line above the tag in the spec

    @property
    def file_name(self) -> str:
        return self.value.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Patch:
    number: int
    file: str
    path: str                  # relative to the config's directory
    status: tuple[str, ...]    # comment lines above the tag: the header's upstream status


@dataclass(frozen=True)
class SourceTable:
    base: Path                 # the config file's directory
    sources: tuple[Source, ...]
    patches: tuple[Patch, ...]

    def role(self, role: str) -> Source:
        for source in self.sources:
            if source.role == role:
                return source
        raise KeyError(role)

    @property
    def by_role(self) -> dict[str, Source]:
        return {source.role: source for source in self.sources}

    @property
    def url_sources(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.origin == "url")

    def backend_spec(self) -> SourceTable:
        """The table of a split layout's backend spec: Ollama's tree (llama/server)
        and llama.cpp, by role and with their numbers; no Go modules, units or patches."""
        return SourceTable(self.base, tuple(s for s in self.sources if s.role in BACKEND_ROLES), ())

    def project_files(self) -> list[tuple[Path, str]]:
        """(file in the project, name in the source dir) for each project Source and Patch."""
        files = [(self.base / s.project_path, s.file_name) for s in self.sources if s.origin == "project"]
        files += [(self.base / p.path, p.file) for p in self.patches]
        return files


def base_dir(config: Config) -> Path:
    """The directory every relative path of the config is read from: the config file's."""
    return Path(config.path).parent


def project_source_names() -> tuple[str, ...]:
    return tuple(name for _, _, name, _ in PROJECT_SOURCES)


def build(config: Config) -> SourceTable:
    base = base_dir(config)
    numbers = dict(URL_ROLES)
    urls = dict(config.source_urls)
    sources = [Source(role, numbers[role], urls[role], "url") for role, _ in URL_ROLES]
    sources.append(Source(VENDOR, VENDOR_NUMBER, config.vendor_tarball, "generated",
                          comment=f"Go modules of Source{numbers[OLLAMA]}: `go_vendor_archive create -c "
                                  f"{VENDOR_CONFIG_NAME}` (ollama-rpm vendor)"))
    sources += [Source(role, number, name, "project", path) for role, number, name, path in PROJECT_SOURCES]
    return SourceTable(base, tuple(sources), patches(base, config.patches_dir))


def patch_files(base: Path, patches_dir: str) -> list[Path]:
    """The patch files, in the order they apply (file name)."""
    directory = Path(base) / patches_dir
    return sorted(directory.glob("*.patch")) if directory.is_dir() else []


def patches(base: Path, patches_dir: str) -> tuple[Patch, ...]:
    return tuple(Patch(index, path.name, f"{patches_dir}/{path.name}", _upstream_status(path))
                 for index, path in enumerate(patch_files(base, patches_dir), start=1))


def _upstream_status(patch: Path) -> tuple[str, ...]:
    """The patch header's "Upstream status:" sentence, for the comment above its tag."""
    header = atomic.read_bytes(patch).decode("utf-8", errors="replace").split("\n---", 1)[0]
    match = re.search(r"^Upstream[ -]status:\s*(.+?)(?:\.(?:\s|\Z)|\n\s*\n|\Z)", header, re.MULTILINE | re.DOTALL | re.IGNORECASE)
    if not match:
        return ("(no upstream status in the patch header)",)
    # rpm expands macros even in comments: a `%` from a patch header must stay literal.
    text = "Upstream status: " + " ".join(match.group(1).split()).rstrip(".").replace("%", "%%") + "."
    return tuple(textwrap.wrap(text, width=77))
