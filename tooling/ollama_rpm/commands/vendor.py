"""`ollama-rpm vendor`: the Go vendor tarball (Source2) and go-vendor-tools.toml."""

import sys
from pathlib import Path

from ollama_rpm import config as config_mod, project, vendor
from ollama_rpm.errors import EXIT_OK


def register(sub):
    parser = sub.add_parser("vendor", help="build the reproducible Go vendor tarball from the Ollama tarball")
    parser.add_argument("--config", type=Path, help="config file (default: packaging.yaml of the project)")
    parser.add_argument("--source-dir", type=Path,
                        help="where the Sources are (default: build/SOURCES in the project)")
    parser.add_argument("--update-lock", action="store_true",
                        help="record the vendor tarball's sha256 in sources.lock instead of checking it")
    parser.set_defaults(func=run)


def run(args):
    root = project.find_root()
    config = config_mod.load(args.config or root / project.CONFIG_NAME)
    print(vendor.build_vendor(root, config, args.source_dir, update_lock=args.update_lock, report=_status))
    return EXIT_OK


def _status(line):
    print(line, file=sys.stderr)
