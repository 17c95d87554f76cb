"""`ollama-rpm vendor`: make the reproducible Go vendor tarball (go_vendor_archive) from the Ollama tarball.

Make the Go vendor tarball Source with Fedora's go_vendor_archive from the pinned Ollama tarball,
verify every module against go.sum, refresh the generated block of go-vendor-tools.toml, and check
the tarball against its pin in resolve.lock. Exit 1 when --license finds go.license out of date.
"""

import argparse

from ollama_rpm import project
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL, OllamaRpmError
from ollama_rpm.sources import resolve, vendor
from ollama_rpm.specgen.config import load_config

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    options.add_config(parser)
    options.add_source_dir(parser, "where the Sources are and the tarball goes")
    parser.add_argument("--update-lock", action="store_true",
                        help="record the vendor tarball's sha256 in resolve.lock instead of checking it")
    license_group = parser.add_mutually_exclusive_group()
    license_group.add_argument(
        "--license", action="store_true",
        help="also derive the Go code's SPDX expression (go_vendor_license report expression), print it, "
             "and fail if packaging.yaml's go.license differs")
    license_group.add_argument(
        "--update-license", action="store_true",
        help="like --license, but write the derived expression to go.license in packaging.yaml")


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    config = load_config(args.config or root / project.CONFIG_NAME)
    sset = resolve.resolve(config, args.source_dir or resolve.default_source_dir(root))
    tarball = vendor.build_vendor(sset, update_lock=args.update_lock, report=options.status)
    if not (args.license or args.update_license):
        print(tarball)
        return EXIT_OK
    found = vendor.detect_go_license(sset, tarball, report=options.status)
    print(found.expression)
    if vendor.licenses_equal(found.expression, config.go_license):
        options.status(f"{config.path}: go.license matches the detected expression")
    elif args.update_license:
        vendor.update_go_license(config, found.expression)
        options.status(f"{config.path}: go.license updated; re-check `license` (it adds llama.cpp's part) "
                       "and run `ollama-rpm render`")
    else:
        # A detected drift, like `render --check`: exit 1.
        raise OllamaRpmError(f"{config.path}: go.license: {config.go_license!r} does not match go_vendor_license's "
                             f"{found.expression!r} (detector {found.detector}); "
                             "run `ollama-rpm vendor --update-license`")
    return EXIT_OK
