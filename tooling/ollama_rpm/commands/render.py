"""`ollama-rpm render`: render ollama.spec from the template and config.

Validate packaging.yaml and render ollama.spec from ollama.spec.j2, atomically; two renders of the
same inputs are byte-identical. With --check nothing is written and a stale spec is exit 1 with a
diff.
"""

import argparse
import sys
from pathlib import Path

from ollama_rpm import atomic, project
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_TOOL
from ollama_rpm.specgen import render
from ollama_rpm.specgen.config import load_config

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    options.add_config(parser)
    parser.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="spec to write (default: ollama.spec in the project)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff if a spec on disk differs from a fresh render")
    options.add_layout(parser, "single: one ollama.spec, GPU backends as %%bcond subpackages; split: ollama.spec "
                               "plus ollama-ggml-<backend>.spec per GPU backend, next to it")


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    output = args.output or root / "ollama.spec"
    config = load_config(args.config or root / project.CONFIG_NAME)
    specs = render.render_specs(root, config, args.layout)
    warning = render.unmapped_variants_warning(config)
    if warning:
        print(f"ollama-rpm: warning: {warning}", file=sys.stderr)
    # The main spec is `output`; a split layout's backend specs go next to it.
    targets = [(output if package.main else output.parent / package.spec_file, text) for package, text in specs]
    if args.check:
        stale = []
        for path, text in targets:
            diff = render.drift(path, text)
            if diff:
                sys.stdout.write(diff)
                stale.append(path)
        if stale:
            print(f"ollama-rpm: {', '.join(map(str, stale))} out of date; run `ollama-rpm render`", file=sys.stderr)
            return EXIT_FAILED
        for path, _ in targets:
            print(f"{path} is up to date")
        return EXIT_OK
    # All or none: a split layout's specs must agree with each other.
    atomic.write_texts(targets)
    for path, _ in targets:
        print(path)
    return EXIT_OK
