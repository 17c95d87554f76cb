"""`ollama-rpm audit-isa`: decode ggml CPU variant libraries and check their ISA."""

import argparse
from typing import TYPE_CHECKING

from ollama_rpm.check import isa_audit
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_TOOL

if TYPE_CHECKING:
    from ollama_rpm.commands.options import Subparsers

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL)


def register(sub: "Subparsers") -> None:
    parser = sub.add_parser(
        "audit-isa", help="check that CPU variant libraries stay within their ISA level",
        description="Disassemble every libggml-cpu-<variant>.so (given, or inside the given RPMs) and check "
                    "that it uses no instruction beyond what its variant's ISA flags allow, so a level "
                    "subpackage never crashes with SIGILL on the CPUs it is for. Exit 1 when one does or none "
                    "is found.")
    parser.add_argument("paths", nargs="+", metavar="RPM_OR_SO",
                        help="binary RPMs (their libggml-cpu-*.so are audited) or libggml-cpu-<variant>.so files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    reports = isa_audit.audit_paths(args.paths)
    if not reports:
        print("no libggml-cpu-*.so found in the given files")
        return EXIT_FAILED
    print(isa_audit.format_table(reports))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
