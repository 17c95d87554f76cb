"""Command-line entry point: `ollama-rpm <command>`.

Each subcommand lives in its own module under ollama_rpm.commands and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
"""

import argparse
import importlib
import sys

from ollama_rpm import __version__
from ollama_rpm.errors import EXIT_CONFIG, OllamaRpmError

# One line per subcommand module (ollama_rpm.commands.<name>), in workflow order.
COMMAND_MODULES = (
    "render",
    "sources",
    "vendor",
    "check_patches",
    "srpm",
    "build",
    "lint",
    "audit_isa",
    "smoke",
    "copr",
    "bump",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"ollama-rpm: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def build_parser():
    parser = _Parser(prog="ollama-rpm", description="Build Ollama as Fedora RPMs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"ollama_rpm.commands.{name}").register(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OllamaRpmError as error:
        print(f"ollama-rpm: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ollama-rpm: interrupted", file=sys.stderr)
        return 130
