"""`ollama-rpm dist-git`: write a Fedora dist-git tree: rpmautospec spec, sources file, .packit.yaml.

Write what Fedora's rpms/ollama repository holds into DIR: the spec with Release: %autorelease and
%autochangelog (rpmautospec) and without CUDA (not in Fedora; the Copr path keeps it), rpmautospec's
changelog file, fedpkg's sources file (SHA512 of the tarballs for the lookaside, verified against
sources.lock; the Go vendor tarball from the cache or made as `vendor` makes it) and .gitignore, the
units, sysusers file, README.Fedora, the models drop-in example, patches and rpmlintrc, and a .packit.yaml whose release sync runs
this toolkit's bump, vendor and dist-git. Existing files of the same names are replaced.
"""

import argparse
import subprocess
from pathlib import Path

from ollama_rpm import project
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL, UsageError
from ollama_rpm.publish import distgit
from ollama_rpm.specgen.config import load_config

EXIT_CODES = (EXIT_OK, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    parser.add_argument("directory", type=Path, metavar="DIR", help="the dist-git checkout (created if missing)")
    options.add_config(parser)
    options.add_source_dir(parser, "where the Sources are looked for and go")
    parser.add_argument("--toolkit-url", metavar="URL",
                        help="git URL of this packaging project, which .packit.yaml clones "
                             "(default: the project's `origin` remote)")


def _origin(root: Path) -> str | None:
    proc = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True, text=True)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    url = args.toolkit_url or _origin(root)
    if not url:
        raise UsageError("--toolkit-url: not given and the project has no `origin` remote; .packit.yaml "
                         "needs the packaging project's git URL")
    config = load_config(args.config or root / project.CONFIG_NAME)
    for path in distgit.write_dist_git(root, args.directory, config, url, source_dir=args.source_dir,
                                       report=options.status):
        print(path)
    return EXIT_OK
