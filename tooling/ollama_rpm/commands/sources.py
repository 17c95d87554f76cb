"""`ollama-rpm sources`: download, verify and collect every Source and Patch."""

import sys
from pathlib import Path

from ollama_rpm import config as config_mod, project, sources
from ollama_rpm.errors import EXIT_OK


def register(sub):
    parser = sub.add_parser("sources", help="download and verify the Sources; copy project files and patches")
    parser.add_argument("--config", type=Path, help="config file (default: packaging.yaml of the project)")
    parser.add_argument("--source-dir", type=Path,
                        help="where the Sources go (default: build/SOURCES in the project)")
    parser.add_argument("--update-lock", action="store_true",
                        help="download Sources that have no pin (or whose URL changed) and record "
                             "their sha256 in sources.lock")
    parser.set_defaults(func=run)


def run(args):
    root = project.find_root()
    config = config_mod.load(args.config or root / project.CONFIG_NAME)
    source_dir = args.source_dir or sources.default_source_dir(root)
    sources.fetch_sources(root, config, source_dir, update_lock=args.update_lock, report=_status)
    print(source_dir)
    return EXIT_OK


def _status(line):
    print(line, file=sys.stderr)
