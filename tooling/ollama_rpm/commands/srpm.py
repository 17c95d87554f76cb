"""`ollama-rpm srpm`: a reproducible source RPM."""

import sys

from ollama_rpm import project, srpm
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL

EXIT_CODES = (EXIT_OK, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)


def register(sub):
    parser = sub.add_parser(
        "srpm", help="render the spec, verify the Sources and build the SRPM",
        description="Render the spec, put every Source and Patch in the source directory (verified against "
                    "sources.lock; the vendor tarball from the cache or made as `vendor` makes it) and run "
                    "rpmbuild -bs. Two runs on the same inputs give byte-identical SRPMs. `build` and "
                    "`copr submit` make their SRPM the same way.")
    options.add_config(parser)
    options.add_outdir(parser, "where the SRPM goes", "build/SRPMS in the project")
    options.add_source_dir(parser, "where the Sources and the spec go")
    options.add_macros(parser)
    parser.set_defaults(func=run)


def run(args):
    root = project.find_root()
    outdir = args.outdir or srpm.default_outdir(root)
    path = srpm.build_srpm(root, outdir, config_path=args.config, source_dir=args.source_dir,
                           macros=args.macros, report=_status)
    print(path)
    return EXIT_OK


def _status(line):
    print(line, file=sys.stderr)
