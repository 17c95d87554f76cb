"""`ollama-rpm audit-isa`: decode ggml CPU variant libraries and check their ISA."""

from ollama_rpm import isa_audit
from ollama_rpm.errors import EXIT_FAILED, EXIT_OK


def register(sub):
    parser = sub.add_parser("audit-isa", help="check that CPU variant libraries stay within their ISA level")
    parser.add_argument("paths", nargs="+", metavar="RPM_OR_SO",
                        help="binary RPMs (their libggml-cpu-*.so are audited) or libggml-cpu-<variant>.so files")
    parser.set_defaults(func=run)


def run(args):
    reports = isa_audit.audit_paths(args.paths)
    if not reports:
        print("no libggml-cpu-*.so found in the given files")
        return EXIT_FAILED
    print(isa_audit.format_table(reports))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
