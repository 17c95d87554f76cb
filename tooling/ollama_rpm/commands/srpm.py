"""`ollama-rpm srpm`: a reproducible source RPM."""

import sys
from pathlib import Path

from ollama_rpm import project, spec_context, srpm
from ollama_rpm.errors import EXIT_OK


def register(sub):
    parser = sub.add_parser("srpm", help="render the spec, verify the Sources and build the SRPM")
    parser.add_argument("--config", type=Path, help="config file (default: packaging.yaml of the project)")
    parser.add_argument("--outdir", type=Path, help="where the SRPM goes (default: build/SRPMS in the project)")
    parser.add_argument("--source-dir", type=Path,
                        help="where the Sources and the spec go (default: build/SOURCES in the project)")
    parser.add_argument("--macros", type=Path, action="append", default=[], metavar="FILE",
                        help="extra rpm macro file (rpmbuild --load); repeatable")
    parser.add_argument("--layout", choices=spec_context.LAYOUTS,
                        help="single: one SRPM; split: ollama plus one ollama-ggml-<backend> SRPM per GPU backend "
                             "(default: packaging.yaml's layout, else single)")
    parser.add_argument("--package", metavar="NAME",
                        help="only this source package's SRPM (e.g. ollama-ggml-vulkan; Copr's make_srpm "
                             "builds one per package)")
    parser.set_defaults(func=run)


def run(args):
    root = project.find_root()
    outdir = args.outdir or srpm.default_outdir(root)
    paths = srpm.build_srpms(root, outdir, config_path=args.config, source_dir=args.source_dir,
                             macros=[*project.extra_macro_files(), *args.macros], report=_status,
                             layout=args.layout, package=args.package)
    for path in paths:             # one per line, the main package first
        print(path)
    return EXIT_OK


def _status(line):
    print(line, file=sys.stderr)
