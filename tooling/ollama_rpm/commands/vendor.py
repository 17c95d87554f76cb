"""`ollama-rpm vendor`: the Go vendor tarball (Source2) with go-vendor-tools, and the Go License."""

import sys
from pathlib import Path

from ollama_rpm import config as config_mod, project, vendor
from ollama_rpm.errors import EXIT_OK, OllamaRpmError


def register(sub):
    parser = sub.add_parser(
        "vendor", help="make the reproducible Go vendor tarball (go_vendor_archive) from the Ollama tarball")
    parser.add_argument("--config", type=Path, help="config file (default: packaging.yaml of the project)")
    parser.add_argument("--source-dir", type=Path,
                        help="where the Sources are (default: build/SOURCES in the project)")
    parser.add_argument("--update-lock", action="store_true",
                        help="record the vendor tarball's sha256 in sources.lock instead of checking it")
    license_group = parser.add_mutually_exclusive_group()
    license_group.add_argument(
        "--license", action="store_true",
        help="also derive the Go code's SPDX expression (go_vendor_license report expression), print it, "
             "and fail if packaging.yaml's go.license differs")
    license_group.add_argument(
        "--update-license", action="store_true",
        help="like --license, but write the derived expression to go.license in packaging.yaml")
    parser.set_defaults(func=run)


def run(args):
    root = project.find_root()
    config_path = args.config or root / project.CONFIG_NAME
    config = config_mod.load(config_path)
    tarball = vendor.build_vendor(root, config, args.source_dir, update_lock=args.update_lock, report=_status)
    if not (args.license or args.update_license):
        print(tarball)
        return EXIT_OK
    found = vendor.detect_go_license(root, config, args.source_dir, tarball, report=_status)
    print(found.expression)
    if vendor.licenses_equal(found.expression, config.go_license):
        _status(f"{config.path}: go.license matches the detected expression")
    elif args.update_license:
        vendor.update_go_license(config, found.expression)
        _status(f"{config.path}: go.license updated; re-check `license` (it adds llama.cpp's part) "
                "and run `ollama-rpm render`")
    else:
        # A detected drift, like `render --check`: exit 1.
        raise OllamaRpmError(f"{config.path}: go.license: {config.go_license!r} does not match go_vendor_license's "
                             f"{found.expression!r} (detector {found.detector}); "
                             "run `ollama-rpm vendor --update-license`")
    return EXIT_OK


def _status(line):
    print(line, file=sys.stderr)
