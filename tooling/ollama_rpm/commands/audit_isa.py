"""`ollama-rpm audit-isa`: check that CPU variant libraries stay within their ISA level.

Disassemble every libggml-cpu-<variant>.so (given, or inside the given RPMs) and check that it uses
no instruction beyond what its variant's ISA flags allow, so a level subpackage never crashes with
SIGILL on the CPUs it is for. Exit 1 when one does or none is found.
"""

import argparse

from ollama_rpm.check import isa_audit
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_TOOL

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    parser.add_argument("paths", nargs="+", metavar="RPM_OR_SO",
                        help="binary RPMs (their libggml-cpu-*.so are audited) or libggml-cpu-<variant>.so files")


def run(args: argparse.Namespace) -> int:
    reports = isa_audit.audit_paths(args.paths)
    if not reports:
        print("no libggml-cpu-*.so found in the given files")
        return EXIT_FAILED
    print(isa_audit.format_table(reports))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
