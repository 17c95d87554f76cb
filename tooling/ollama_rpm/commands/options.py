"""Options shared by the subcommands: one name and one meaning for each.

Conventions: `--config FILE` is packaging.yaml (every relative path in it is read
from its directory); `--source-dir DIR` is the Sources directory (build/SOURCES);
`--outdir DIR` is where a command writes its products; `--output FILE` is a single
file it writes; `--macros FILE` is an rpm macro file for every command that runs
rpm; `--with/--without BACKEND` take the backend names of packaging.yaml.
Old spellings stay as hidden aliases.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from ollama_rpm import project
from ollama_rpm.specgen.config import LAYOUTS

if TYPE_CHECKING:
    # What `register(sub)` receives: parser.add_subparsers()'s result (generic only in typeshed).
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction


def add_command(sub: Subparsers, doc: str | None, run: Callable[[argparse.Namespace], int]
                ) -> argparse.ArgumentParser:
    """The parser of a subcommand, described by its module's docstring `doc`:

        `ollama-rpm NAME`: its line in `ollama-rpm --help`.

        The paragraph that heads its own --help.

    `run(args)` does the work and returns the exit code."""
    match = re.fullmatch(r"`ollama-rpm ([a-z-]+)`: (.+?)\.\n\n(.+)", (doc or "").strip(), re.S)
    if not match:
        raise ValueError(f"a command module's docstring starts `ollama-rpm NAME`: ..., not {doc!r}")
    name, summary, details = match.groups()
    parser = sub.add_parser(name, help=summary, description=" ".join(details.split()))
    parser.set_defaults(func=run)
    return parser


def status(line: str) -> None:
    """A line of progress for the user: on stderr, stdout carries the command's result."""
    print(line, file=sys.stderr)


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=f"config file (default: {project.CONFIG_NAME} of the project); the files it names, "
                             f"the patches and {project.LOCK_NAME} are read from its directory")


def add_source_dir(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--source-dir", type=Path, metavar="DIR",
                        help=f"{what} (default: build/SOURCES in the project)")


def add_outdir(parser: argparse.ArgumentParser, what: str, default: str, *old: str) -> None:
    """`--outdir DIR`, with `old` spellings accepted but hidden from --help."""
    parser.add_argument("--outdir", type=Path, metavar="DIR", help=f"{what} (default: {default})")
    for alias in old:
        parser.add_argument(alias, dest="outdir", type=Path, help=argparse.SUPPRESS)


def add_macros(parser: argparse.ArgumentParser, what: str = "") -> None:
    parser.add_argument("--macros", type=Path, action="append", default=[], metavar="FILE",
                        help="extra rpm macro file (rpmbuild/rpm --load), repeatable, after those in "
                             "$OLLAMA_RPM_MACROS (colon-separated); not needed on Fedora" + what)


def add_bconds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--with", dest="with_", action="append", default=[], metavar="BACKEND",
                        help="turn a backend's %%bcond on (a backend of packaging.yaml: cuda, cuda12, rocm, "
                             "vulkan); repeatable")
    parser.add_argument("--without", action="append", default=[], metavar="BACKEND",
                        help="turn a backend's %%bcond off; repeatable")


def add_layout(parser: argparse.ArgumentParser, what: str) -> None:
    """`--layout single|split`: overrides packaging.yaml's `layout`."""
    parser.add_argument("--layout", choices=LAYOUTS,
                        help=f"{what} (default: packaging.yaml's layout, else single)")
