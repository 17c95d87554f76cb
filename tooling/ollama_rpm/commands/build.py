"""`ollama-rpm build`: build binary RPMs with mock (per chroot) or rpmbuild.

Build the SRPM into binary RPMs. With --engine mock every --chroot gets its own mock config (stock
chroot + the repositories and compilers the backends need) and result directory; a failing chroot
does not stop the others. Without --srpm the SRPM is made first, exactly as `srpm` makes it (same
--macros and $OLLAMA_RPM_MACROS). Exit 1 when a build fails.
"""

import argparse
from pathlib import Path

from ollama_rpm import atomic, project
from ollama_rpm.builders import plan
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL
from ollama_rpm.specgen.backends import DEFAULT_CHROOT
from ollama_rpm.specgen.config import load_config

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)


def register(sub: options.Subparsers) -> None:
    parser = options.add_command(sub, __doc__, run)
    parser.add_argument("--engine", choices=("mock", "rpmbuild"), default="mock",
                        help="mock (clean chroot, the default) or rpmbuild on this machine")
    parser.add_argument("--chroot", action="append", metavar="NAME",
                        help=f"mock chroot, repeatable (default {DEFAULT_CHROOT}); mock engine only")
    options.add_bconds(parser)
    options.add_outdir(parser, "where RPMs and logs go, one subdirectory per chroot/arch (split layout: "
                       "<package>/<chroot|arch>)", "results/ in the project", "--resultdir")
    parser.add_argument("--srpm", type=Path, action="append", default=[], metavar="FILE",
                        help="SRPM to build (default: build them with the srpm step); with --layout split "
                             "repeat it, one per source package: only the packages given are built")
    options.add_layout(parser, "single: one SRPM, backends switched with --with/--without; split: ollama "
                               "first, then one ollama-ggml-<backend> SRPM per backend turned on, side by side")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="split layout: backend builds run at once (default: one per 4 CPUs, at least 1); "
                             "the CPUs are shared out among them")
    options.add_config(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the mock configs and the exact commands; run and write nothing")
    parser.add_argument("--cuda-repo-release", type=int, metavar="NN",
                        help="use NVIDIA's CUDA repository of release NN (fedoraNN, or rhelNN for epel chroots) "
                             "whatever the chroot's release (mock engine)")
    parser.add_argument("--nodeps", action="store_true",
                        help="rpmbuild engine: do not check BuildRequires against the rpm database")
    options.add_macros(parser, "; used by the SRPM step and the rpmbuild engine")
    parser.add_argument("--define", dest="defines", action="append", default=[], metavar="'MACRO VALUE'",
                        help="define an rpm macro for the binary builds (rpmbuild/mock --define), repeatable; "
                             "e.g. --define 'rocm_gpu_list_default gfx1100' builds ROCm for one GPU")
    parser.add_argument("--ccache", action="store_true",
                        help="rpmbuild engine: compile C/C++ through ccache (cache in $CCACHE_DIR, else "
                             "ccache/ under the ollama-rpm cache) in a fixed build tree, so a rebuild of the "
                             "same sources is mostly cache hits; mock's ccache plugin is always on")


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    cfg = load_config(args.config or root / project.CONFIG_NAME)
    request = plan.BuildRequest(
        engine=args.engine, chroots=args.chroot or (), with_=args.with_, without=args.without, srpms=args.srpm,
        layout=args.layout, jobs=args.jobs, config_path=args.config, dry_run=args.dry_run,
        cuda_release=args.cuda_repo_release, nodeps=args.nodeps, macros=args.macros, ccache=args.ccache,
        defines=args.defines)
    plan.check(request, cfg)
    resultdir = atomic.check_output_dir((args.outdir or root / "results").resolve(), "--outdir")
    return EXIT_OK if plan.run(root, cfg, request, resultdir) else EXIT_FAILED
