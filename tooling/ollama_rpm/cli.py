"""Command-line entry point: `ollama-rpm <command>`.

Each subcommand lives in its own module under ollama_rpm.commands and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.

Every failure ends as one line on stderr with the exit code of errors.py; `--debug`
(or OLLAMA_RPM_DEBUG=1) adds the Python traceback for whoever needs it.
"""

import argparse
import importlib
import os
import sys
import traceback

from ollama_rpm import __version__
from ollama_rpm.errors import EXIT_CONFIG, EXIT_TOOL, OllamaRpmError

EXIT_INTERRUPTED = 130
DEBUG_ENV = "OLLAMA_RPM_DEBUG"

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
    parser.add_argument("--debug", action="store_true",
                        help=f"show the Python traceback of an error (also {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"ollama_rpm.commands.{name}").register(sub)
    return parser


def one_line(text):
    """The message on one line: a value with a line break must not forge more output."""
    return " ".join(str(text).split()) or "(no message)"


def _os_error(error):
    where = error.filename if error.filename is not None else ""
    where = f"{where}: " if where != "" else ""
    return f"{where}{error.strerror or type(error).__name__}"


def _classify(error):
    """(exit code, one-line message) of an exception that reached the top."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(error, OllamaRpmError):
        return error.exit_code, str(error)
    if isinstance(error, UnicodeError):
        # Every text file the toolkit reads is UTF-8; the readers name the file, this
        # is the last line of defence for one that does not.
        return EXIT_CONFIG, f"not UTF-8 text: {getattr(error, 'reason', error)}"
    if isinstance(error, MemoryError):
        return EXIT_TOOL, "out of memory"
    if isinstance(error, OSError):
        return EXIT_TOOL, _os_error(error)
    # A bug: still one line, the traceback behind --debug.
    return EXIT_TOOL, f"internal error: {type(error).__name__}: {error} (run with --debug for the traceback)"


def argv_command(argv):
    words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")]
    return words[0] if words else None


def main(argv=None):
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        debug = debug or args.debug
        return args.func(args)
    except (KeyboardInterrupt, Exception) as error:
        code, message = _classify(error)
        # `lint` keeps the CI gate's contract: 1 findings, 2 anything else.
        if argv_command(argv) == "lint" and code not in (EXIT_INTERRUPTED, 1):
            code = EXIT_CONFIG
        if debug:
            traceback.print_exception(type(error), error, error.__traceback__)
    try:
        print(f"ollama-rpm: {one_line(message)}", file=sys.stderr)
    except (KeyboardInterrupt, OSError):
        pass
    return code
