"""`ollama-rpm lint`: run rpmlint (Fedora profile + ollama.rpmlintrc) on the spec, SRPM and RPMs.

Lint spec files and RPMs. Default: the project's ollama.spec and every *.rpm under the result dir.
Exit 0 clean, 1 lint errors (or warnings with --strict), 2 bad input or rpmlint missing.
"""

import argparse
import sys
from pathlib import Path

from ollama_rpm import atomic, project
from ollama_rpm.check.lint import default_paths, lint_paths
from ollama_rpm.check.lint.report import FORMATS, to_text
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, UsageError

# The CI gate's contract: every failure other than findings is 2 (cli.main maps it).
EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help=".spec or .rpm files")
    parser.add_argument("--rpm-dir", type=Path, metavar="DIR",
                        help="where to look for *.rpm, recursively: build's --outdir (default: <project>/results)")
    parser.add_argument("--resultdir", dest="rpm_dir", type=Path, help=argparse.SUPPRESS)
    options.add_macros(parser, "; used to parse specs")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text")
    parser.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="write the report here (atomically) instead of stdout; "
                             "the text summary still goes to stdout")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--profile", type=Path, help="rpmlint TOML profile (default: lint/fedora.toml)")
    parser.add_argument("--rpmlintrc", type=Path, help="rpmlintrc filters (default: ollama.rpmlintrc)")
    parser.add_argument("--trust-spec", action="store_true",
                        help="parse specs that are not this project's own render without the bubblewrap "
                             "sandbox (their %%(...) and %%{lua:...} run as you); default: sandboxed, or "
                             "refused where bwrap cannot run")


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    paths = args.paths or default_paths(root, args.rpm_dir)
    if not args.paths and not paths[0].exists():
        raise UsageError(f"{paths[0]}: no such file; run `ollama-rpm render` first")
    report = lint_paths(paths, root, macros=project.macro_files(args.macros), strict=args.strict,
                        profile=args.profile, rpmlintrc=args.rpmlintrc, trust_specs=args.trust_spec)
    text = FORMATS[args.format](report)
    if args.output:
        atomic.write_text(args.output, text)
        sys.stdout.write(to_text(report))
        print(f"{args.format} report written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_FAILED if report.failed else EXIT_OK
