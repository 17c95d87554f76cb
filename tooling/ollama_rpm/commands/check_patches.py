"""`ollama-rpm check-patches`: do our patches and the compat patches still apply?"""

from pathlib import Path

from ollama_rpm import config as config_mod, patchcheck, project, spec_context, sources
from ollama_rpm.errors import EXIT_OK, UsageError


def register(sub):
    parser = sub.add_parser("check-patches", help="apply the patches to scratch copies of the upstream tarballs")
    parser.add_argument("--config", type=Path, help="config file (default: packaging.yaml of the project)")
    parser.add_argument("--source-dir", type=Path,
                        help="where the tarballs are (default: build/SOURCES in the project; run `sources` first)")
    parser.set_defaults(func=run)


def run(args):
    root = project.find_root()
    config = config_mod.load(args.config or root / project.CONFIG_NAME)
    source_dir = args.source_dir or sources.default_source_dir(root)
    tarballs = [source_dir / s.file_name for s in spec_context.sources(config)[:2]]
    for tarball in tarballs:
        if not tarball.is_file():
            raise UsageError(f"{tarball}: not there; run `ollama-rpm sources` first")
    applied = patchcheck.check(tarballs[0], patchcheck.project_patches(config, root),
                               tarballs[1], config.llama_cpp_compat_patches)
    for name in applied:
        print(f"ok  {name}")
    return EXIT_OK
