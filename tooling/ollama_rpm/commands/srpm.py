"""`ollama-rpm srpm`: render the spec(s), verify the Sources and build the SRPM(s).

Render the spec, put every Source and Patch in the source directory (verified against sources.lock;
the vendor tarball from the cache or made as `vendor` makes it) and run rpmbuild -bs. Two runs on
the same inputs give byte-identical SRPMs. `build` and `copr submit` make their SRPM the same way.
With the split layout one SRPM per source package, the Sources fetched and vendored once; their
paths are printed one per line, ollama first.
"""

import argparse

from ollama_rpm import project
from ollama_rpm.builders import srpm
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL

EXIT_CODES = (EXIT_OK, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    options.add_config(parser)
    options.add_outdir(parser, "where the SRPM goes", "build/SRPMS in the project")
    options.add_source_dir(parser, "where the Sources and the spec go")
    options.add_macros(parser)
    options.add_layout(parser, "single: one SRPM; split: ollama plus one ollama-ggml-<backend> SRPM per GPU "
                               "backend")
    parser.add_argument("--package", metavar="NAME",
                        help="only this source package's SRPM (e.g. ollama-ggml-vulkan; Copr's make_srpm "
                             "builds one per package)")


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    outdir = args.outdir or srpm.default_outdir(root)
    paths = srpm.build_srpms(root, outdir, config_path=args.config, source_dir=args.source_dir,
                             macros=args.macros, report=options.status, layout=args.layout, package=args.package)
    for path in paths:             # one per line, the main package first
        print(path)
    return EXIT_OK
