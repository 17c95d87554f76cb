"""Command-line entry point: `ollama-rpm <command>`.

Each subcommand lives in its own module under ollama_rpm.commands and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.

Every failure ends as one line on stderr with the exit code of errors.py; `--debug`
(or OLLAMA_RPM_DEBUG=1) adds the Python traceback for whoever needs it.
"""

import argparse
import contextlib
import importlib
import os
import signal
import sys
import textwrap
import traceback
from collections.abc import Iterable, Sequence
from typing import NoReturn

from ollama_rpm import __version__
from ollama_rpm.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTEGRITY,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_TOOL,
    OllamaRpmError,
)

# What each exit code of errors.py means, for every subcommand's --help.
EXIT_MEANINGS = {
    EXIT_OK: "success",
    EXIT_FAILED: "the check or build ran and failed (drift, lint findings, a failed build)",
    EXIT_CONFIG: "bad input: config, arguments, unreadable files",
    EXIT_TOOL: "an external tool is missing or failed",
    EXIT_NETWORK: "a download or API request failed",
    EXIT_INTEGRITY: "a checksum mismatch or an unsafe archive",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
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
    "dist_git",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"ollama-rpm: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual, but keeps indented lines (the exit code list) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs: list[str] = []
        for block in text.split("\n\n"):
            if block.startswith("  "):
                paragraphs.append("\n".join(indent + line for line in block.splitlines()))
            else:
                paragraphs.append(textwrap.fill(" ".join(block.split()), width, initial_indent=indent,
                                                subsequent_indent=indent))
        return "\n\n".join(paragraphs)


def exit_codes_text(codes: Iterable[int]) -> str:
    codes = sorted(set(codes) | {EXIT_INTERRUPTED})
    return "exit codes:\n\n" + "\n".join(f"  {code:<3} {EXIT_MEANINGS[code]}" for code in codes)


def _document(parser: argparse.ArgumentParser, codes: Iterable[int]) -> None:
    """Give a subcommand's parser (and its own subcommands') a description and its exit codes."""
    parser.formatter_class = _HelpFormatter
    parser.epilog = exit_codes_text(codes)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                child.description = child.description or helps.get(name)
                _document(child, codes)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ollama-rpm", description="Build Ollama as Fedora RPMs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the Python traceback of an error (also {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    helps: dict[str, str | None] = {}
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"ollama_rpm.commands.{name}")
        before = set(sub.choices)
        module.register(sub)
        helps.update({choice.dest: choice.help for choice in sub._choices_actions})
        # A module that does not list its exit codes may end with any of them.
        codes = getattr(module, "EXIT_CODES", tuple(EXIT_MEANINGS))
        for command in set(sub.choices) - before:
            parser_ = sub.choices[command]
            parser_.description = parser_.description or helps.get(command)
            _document(parser_, codes)
    return parser


def one_line(text: object) -> str:
    """The message on one line: a value with a line break must not forge more output."""
    return " ".join(str(text).split()) or "(no message)"


def _os_error(error: OSError) -> str:
    where = error.filename if error.filename is not None else ""
    where = f"{where}: " if where != "" else ""
    return f"{where}{error.strerror or type(error).__name__}"


def _interrupted(error: BaseException | None) -> bool:
    """A KeyboardInterrupt, or one that Python wrapped on its way up (a Ctrl-C
    during class creation surfaces as RuntimeError from __set_name__)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _classify(error: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) of an exception that reached the top."""
    if _interrupted(error):
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


def argv_command(argv: Sequence[str] | None) -> str | None:
    words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")]
    return words[0] if words else None


def main(argv: Sequence[str] | None = None) -> int:
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        debug = debug or args.debug
        code: int = args.func(args)
        return code
    except (KeyboardInterrupt, Exception) as error:
        if _interrupted(error):
            # A command may have routed SIGINT through its own handler and put the
            # previous one back while unwinding: a second Ctrl-C from here on must
            # not cut the report short or kill the interpreter on its way out.
            with contextlib.suppress(ValueError):       # not the main thread
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        code, message = _classify(error)
        # `lint` keeps the CI gate's contract: 1 findings, 2 anything else.
        if argv_command(argv) == "lint" and code not in (EXIT_INTERRUPTED, 1):
            code = EXIT_CONFIG
        if debug:
            traceback.print_exception(type(error), error, error.__traceback__)
    with contextlib.suppress(KeyboardInterrupt, OSError):
        print(f"ollama-rpm: {one_line(message)}", file=sys.stderr)
    return code
