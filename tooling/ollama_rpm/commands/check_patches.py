"""`ollama-rpm check-patches`: apply the patches to scratch copies of the upstream tarballs.

Apply the patches of patches_dir (in file-name order, as %autopatch does) to a scratch copy of the
Ollama tarball, and llama.cpp's compat patches from Ollama's tree to a copy of the llama.cpp tarball
with git apply, as %prep does. Run `sources` first.
"""

import argparse

from ollama_rpm import project
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_TOOL
from ollama_rpm.sources import patchcheck, resolve
from ollama_rpm.specgen.config import load_config

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    options.add_config(parser)
    options.add_source_dir(parser, "where the tarballs are (run `sources` first)")


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    config = load_config(args.config or root / project.CONFIG_NAME)
    for name in patchcheck.check_source_dir(config, args.source_dir or resolve.default_source_dir(root)):
        print(f"ok  {name}")
    return EXIT_OK
