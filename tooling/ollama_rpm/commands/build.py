"""`ollama-rpm build`: binary RPMs from the SRPM, with mock or plain rpmbuild."""

import os
import shlex
import sys
from pathlib import Path

from ollama_rpm import atomic, builder, config as config_mod, fetch, mockcfg, progress, project, srpm as srpm_mod
from ollama_rpm.commands import options
from ollama_rpm.errors import (EXIT_CONFIG, EXIT_FAILED, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL,
                               UsageError)

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)

DEFAULT_CHROOT = "fedora-44-x86_64"   # the first release whose Go reads go.mod's `go 1.26`


def register(sub):
    parser = sub.add_parser(
        "build", help="build binary RPMs with mock (per chroot) or rpmbuild",
        description="Build the SRPM into binary RPMs. With --engine mock every --chroot gets its own "
                    "mock config (stock chroot + the repositories and compilers the backends need) "
                    "and result directory; a failing chroot does not stop the others. Without --srpm the SRPM "
                    "is made first, exactly as `srpm` makes it (same --macros and $OLLAMA_RPM_MACROS). "
                    "Exit 1 when a build fails.")
    parser.add_argument("--engine", choices=("mock", "rpmbuild"), default="mock",
                        help="mock (clean chroot, the default) or rpmbuild on this machine")
    parser.add_argument("--chroot", action="append", metavar="NAME",
                        help=f"mock chroot, repeatable (default {DEFAULT_CHROOT}); mock engine only")
    options.add_bconds(parser)
    options.add_outdir(parser, "where RPMs and logs go, one subdirectory per chroot/arch", "results/ in the project",
                       "--resultdir")
    parser.add_argument("--srpm", type=Path, help="SRPM to build (default: build one with the srpm step)")
    options.add_config(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the mock configs and the exact commands; run and write nothing")
    parser.add_argument("--cuda-repo-release", type=int, metavar="NN",
                        help="use NVIDIA's CUDA repository of release NN (fedoraNN, or rhelNN for epel chroots) "
                             "whatever the chroot's release (mock engine)")
    parser.add_argument("--nodeps", action="store_true",
                        help="rpmbuild engine: do not check BuildRequires against the rpm database")
    options.add_macros(parser, "; used by the SRPM step and the rpmbuild engine")
    parser.add_argument("--ccache", action="store_true",
                        help="rpmbuild engine: compile C/C++ through ccache (cache in $CCACHE_DIR, else "
                             "ccache/ under the ollama-rpm cache) in a fixed build tree, so a rebuild of the "
                             "same sources is mostly cache hits; mock's ccache plugin is always on")
    parser.set_defaults(func=run)


def _validate(args, cfg):
    known = [backend.name for backend in cfg.backends]
    for option, names in (("--with", args.with_), ("--without", args.without)):
        for name in names:
            if name not in known:
                raise UsageError(f"{option} {name}: not a backend of {cfg.path}; expected one of: {', '.join(known)}")
    both = sorted(set(args.with_) & set(args.without))
    if both:
        raise UsageError(f"--with {both[0]} and --without {both[0]} contradict each other")
    if args.engine == "rpmbuild":
        for option, value in (("--chroot", args.chroot), ("--cuda-repo-release", args.cuda_repo_release)):
            if value:
                raise UsageError(f"{option}: applies to --engine mock only")
    else:
        for option, value in (("--nodeps", args.nodeps), ("--ccache", args.ccache)):
            if value:
                raise UsageError(f"{option}: applies to --engine rpmbuild only (mock installs BuildRequires in its chroot)")
        if args.macros and args.srpm is not None:
            raise UsageError("--macros: with --engine mock it applies to the SRPM step, which --srpm skips "
                             "(mock's chroot has Fedora's own macros)")
    if args.cuda_repo_release is not None and not 8 <= args.cuda_repo_release <= 99:
        raise UsageError(f"--cuda-repo-release {args.cuda_repo_release}: expected a release number like 43 "
                         "(Fedora) or 10 (RHEL, for epel chroots)")
    project.macro_files(args.macros)
    if args.srpm is not None and not args.srpm.is_file():
        raise UsageError(f"--srpm {args.srpm}: no such file")
    if args.srpm is not None and not args.srpm.name.endswith(".src.rpm"):
        raise UsageError(f"--srpm {args.srpm}: expected a source RPM (*.src.rpm)")


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _srpm(args, root, resultdir):
    if args.srpm is not None:
        return args.srpm.resolve()
    return Path(srpm_mod.build_srpm(root, Path(resultdir) / "srpm", config_path=args.config,
                                    macros=args.macros)).resolve()


def run(args):
    root = project.find_root()
    cfg = config_mod.load(args.config or root / project.CONFIG_NAME)
    _validate(args, cfg)
    with_, without = _unique(args.with_), _unique(args.without)
    resultdir = atomic.check_output_dir((args.outdir or root / "results").resolve(), "--outdir")
    if args.engine == "mock":
        return _run_mock(args, cfg, root, resultdir, with_, without)
    return _run_rpmbuild(args, root, resultdir, with_, without)


def _run_mock(args, cfg, root, resultdir, with_, without):
    chroots = [mockcfg.parse_chroot(name) for name in _unique(args.chroot or [DEFAULT_CHROOT])]
    configs, warnings = [], []
    for chroot in chroots:
        text, chroot_warnings = mockcfg.render(chroot, cfg, with_, args.cuda_repo_release, cfg.packager)
        configs.append((chroot, builder.mock_config_path(resultdir, chroot), text))
        warnings += chroot_warnings
    for warning in warnings:
        print(f"ollama-rpm: warning: {warning}", file=sys.stderr)

    if args.dry_run:
        srpm = args.srpm.resolve() if args.srpm else Path(f"<SRPM built by the srpm step into {resultdir / 'srpm'}>")
        for chroot, path, text in configs:
            print(f"# ==> {path} <==")
            print(text, end="")
            print(f"# command for {chroot.name}:")
            print(shlex.join(builder.mock_command(path, srpm, resultdir / chroot.name, with_, without)))
            print()
        return EXIT_OK

    srpm = _srpm(args, root, resultdir)
    builder.write_mock_configs((path, text) for _, path, text in configs)
    display = progress.make_display()
    results = []
    for chroot, path, _ in configs:
        result = builder.run_mock(chroot, path, srpm, resultdir, with_, without, display)
        if not result.ok:
            builder.report_failure(result)
        results.append(result)
    print()
    print(builder.table(results, "chroot"))
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def _run_rpmbuild(args, root, resultdir, with_, without):
    macros = project.macro_files(args.macros)
    arch = builder.host_arch()
    if args.dry_run:
        srpm = args.srpm.resolve() if args.srpm else Path(f"<SRPM built by the srpm step into {resultdir / 'srpm'}>")
        topdir = builder.ccache_topdir(arch) if args.ccache else "<temporary topdir>"
        cmd = builder.rpmbuild_command(srpm, topdir, resultdir / arch, with_, without, args.nodeps, macros)
        if args.ccache:
            ccache = builder.find_ccache(_ccache_dir())
            cmd = ["env", f"CCACHE_DIR={ccache.cache_dir}", f"PATH={ccache.link_dir}:$PATH", *cmd]
        print(shlex.join(cmd))
        return EXIT_OK
    ccache = builder.find_ccache(_ccache_dir()) if args.ccache else None
    srpm = _srpm(args, root, resultdir)
    display = progress.make_display()
    result = builder.run_rpmbuild(srpm, resultdir, with_, without, args.nodeps, macros, display, arch=arch,
                                  ccache=ccache)
    if not result.ok:
        builder.report_failure(result)
    print()
    print(builder.table([result], "arch"))
    return EXIT_OK if result.ok else EXIT_FAILED


def _ccache_dir():
    # ccache's own variable first: a user who set it shares that cache with us.
    env = os.environ.get("CCACHE_DIR")
    return Path(env) if env else fetch.cache_root() / "ccache"
