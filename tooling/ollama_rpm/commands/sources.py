"""`ollama-rpm sources`: download and verify the Sources; copy project files and patches.

Put every Source and Patch of the spec into the source directory: the Ollama and llama.cpp tarballs
from the download cache or their URLs, each checked against its sha256 pin in resolve.lock (next to
the config), the vendor tarball when `vendor` made it, and the project files and patches (read from
the config's directory).
"""

import argparse

from ollama_rpm import project
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL
from ollama_rpm.sources import resolve
from ollama_rpm.specgen.config import load_config

EXIT_CODES = (EXIT_OK, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    options.add_config(parser)
    options.add_source_dir(parser, "where the Sources go")
    parser.add_argument("--update-lock", action="store_true",
                        help="download Sources that have no pin (or whose URL changed) and record "
                             "their sha256 in resolve.lock")


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    config = load_config(args.config or root / project.CONFIG_NAME)
    source_dir = args.source_dir or resolve.default_source_dir(root)
    resolve.fetch_sources(resolve.resolve(config, source_dir), update_lock=args.update_lock, report=options.status)
    print(source_dir)
    return EXIT_OK
