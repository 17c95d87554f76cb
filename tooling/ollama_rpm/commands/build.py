"""`ollama-rpm build`: binary RPMs from the SRPM, with mock or plain rpmbuild."""

import argparse
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ollama_rpm import atomic, hostenv, project
from ollama_rpm.builders import builder, mockcfg, progress, srpm
from ollama_rpm.builders.progress import Display
from ollama_rpm.commands import options
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INTEGRITY, EXIT_NETWORK, EXIT_OK, EXIT_TOOL, UsageError
from ollama_rpm.specgen import context
from ollama_rpm.specgen.backends import DEFAULT_CHROOT, Chroot
from ollama_rpm.specgen.config import Config, load_config
from ollama_rpm.specgen.context import SpecPackage

if TYPE_CHECKING:
    from ollama_rpm.commands.options import Subparsers

_T = TypeVar("_T")
# What one build runs on: a mock chroot, or the host's arch for rpmbuild.
Target = Chroot | str

EXIT_CODES = (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_TOOL, EXIT_NETWORK, EXIT_INTEGRITY)



def register(sub: "Subparsers") -> None:
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
    parser.add_argument("--ccache", action="store_true",
                        help="rpmbuild engine: compile C/C++ through ccache (cache in $CCACHE_DIR, else "
                             "ccache/ under the ollama-rpm cache) in a fixed build tree, so a rebuild of the "
                             "same sources is mostly cache hits; mock's ccache plugin is always on")
    parser.set_defaults(func=run)


def _validate(args: argparse.Namespace, cfg: Config) -> None:
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
        if args.macros and args.srpm:
            raise UsageError("--macros: with --engine mock it applies to the SRPM step, which --srpm skips "
                             "(mock's chroot has Fedora's own macros)")
    if args.cuda_repo_release is not None and not 8 <= args.cuda_repo_release <= 99:
        raise UsageError(f"--cuda-repo-release {args.cuda_repo_release}: expected a release number like 43 "
                         "(Fedora) or 10 (RHEL, for epel chroots)")
    project.macro_files(args.macros)
    for given in args.srpm:
        if not given.is_file():
            raise UsageError(f"--srpm {given}: no such file")
        if not given.name.endswith(".src.rpm"):
            raise UsageError(f"--srpm {given}: expected a source RPM (*.src.rpm)")
    layout = args.layout or cfg.layout
    if layout == "single" and len(args.srpm) > 1:
        raise UsageError(f"--srpm {args.srpm[1]}: the single layout builds one SRPM")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: expected 1 or more")
    if args.jobs is not None and layout == "single":
        raise UsageError("--jobs: applies to the split layout only (one SRPM builds its backends one after another)")


def _unique(items: Iterable[_T]) -> list[_T]:
    seen: list[_T] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _srpm(args: argparse.Namespace, root: Path, resultdir: Path) -> Path:
    if args.srpm:
        return Path(args.srpm[0]).resolve()
    return Path(srpm.build_srpm(root, Path(resultdir) / "srpm", config_path=args.config,
                                    macros=args.macros)).resolve()


def run(args: argparse.Namespace) -> int:
    root = project.find_root()
    cfg = load_config(args.config or root / project.CONFIG_NAME)
    _validate(args, cfg)
    with_, without = _unique(args.with_), _unique(args.without)
    resultdir = atomic.check_output_dir((args.outdir or root / "results").resolve(), "--outdir")
    if (args.layout or cfg.layout) == "split":
        return _run_split(args, cfg, root, resultdir, with_, without)
    if args.engine == "mock":
        return _run_mock(args, cfg, root, resultdir, with_, without)
    return _run_rpmbuild(args, root, resultdir, with_, without)


# --- split layout ------------------------------------------------------------------

def default_jobs(backend_count: int, cpus: int | None = None) -> int:
    """Backend builds at once: one per 4 CPUs (each CMake build uses the CPUs it gets)."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(backend_count, cpus // 4))


def _srpm_name(path: Path) -> str:
    """NAME of NAME-VERSION-RELEASE.src.rpm."""
    return path.name[:-len(".src.rpm")].rsplit("-", 2)[0]


def _split_srpms(args: argparse.Namespace, cfg: Config, root: Path, resultdir: Path) -> dict[str, Path]:
    """{source package name: SRPM} of the split layout: the given ones, or all built now."""
    packages = context.packages(cfg, "split")
    if args.srpm:
        given = {_srpm_name(path): path.resolve() for path in args.srpm}
        names = [p.name for p in packages]
        unknown = [name for name in given if name not in names]
        if unknown:
            raise UsageError(f"--srpm: {unknown[0]} is not a source package of the split layout "
                             f"({', '.join(names)})")
        return given
    built = srpm.build_srpms(root, Path(resultdir) / "srpm", config_path=args.config, layout="split",
                                 macros=args.macros)
    return {package.name: Path(path).resolve() for package, path in zip(packages, built, strict=True)}


def _split_plan(args: argparse.Namespace, cfg: Config, with_: list[str], without: list[str]
                ) -> list[tuple[SpecPackage, list[Target]]]:
    """[(SpecPackage, [targets])]: ollama on every target, each backend where it is
    turned on (packaging.yaml's `enabled`, --with/--without) and its arches allow."""
    packages = context.packages(cfg, "split")
    targets: list[Target]
    if args.engine == "mock":
        targets = [mockcfg.parse_chroot(name) for name in _unique(args.chroot or [DEFAULT_CHROOT])]
    else:
        targets = [builder.host_arch()]
    plan = [(packages[0], targets)]
    for package in packages[1:]:
        chosen = [t for t in targets if context.backend_builds(
            cfg, package, t.arch if isinstance(t, Chroot) else t, with_, without)]
        if chosen:
            plan.append((package, chosen))
    return plan


def _run_split(args: argparse.Namespace, cfg: Config, root: Path, resultdir: Path, with_: list[str],
               without: list[str]) -> int:
    """ollama first, then the backends turned on, `--jobs` at a time. The backend
    packages do not BuildRequire ollama, so a failure stops none of the others."""
    from concurrent.futures import ThreadPoolExecutor
    plan = _split_plan(args, cfg, with_, without)
    all_targets = plan[0][1]
    if args.srpm:
        # Only the source packages given, e.g. one backend rebuilt against an ollama
        # already built (or installed) elsewhere.
        given = {_srpm_name(path) for path in args.srpm}
        plan = [(package, targets if package.name in given else []) if package.main else (package, targets)
                for package, targets in plan if package.main or package.name in given]
    (main, main_targets), backend_work = plan[0], [(p, t) for p, ts in plan[1:] for t in ts]
    jobs = args.jobs or default_jobs(len(backend_work))
    # The CPUs shared out among the builds running at once (rpm's %_smp_ncpus_max).
    share = max(1, (os.cpu_count() or 1) // jobs)
    macros = project.macro_files(args.macros)
    configs: dict[str, tuple[Path, str]] = {}
    if args.engine == "mock":
        for chroot in all_targets:
            assert isinstance(chroot, Chroot)
            # One config per chroot with what the backends built there need (NVIDIA's repository).
            text, warnings = mockcfg.render(chroot, cfg, with_, args.cuda_repo_release, cfg.packager)
            configs[chroot.name] = (builder.mock_config_path(resultdir, chroot), text)
            for warning in warnings:
                print(f"ollama-rpm: warning: {warning}", file=sys.stderr)

    def outdir(package: SpecPackage) -> Path:
        return resultdir / package.name

    if args.dry_run:
        for path, text in configs.values():
            print(f"# ==> {path} <==")
            print(text, end="")
        print(f"# split layout: {main.name} first, then the backends, {jobs} at a time")
        for package, target in [(main, t) for t in main_targets] + backend_work:
            srpm_path = Path(f"<{package.name} SRPM>")
            if isinstance(target, Chroot):
                cmd = builder.mock_command(configs[target.name][0], srpm_path, outdir(package) / target.name,
                                           uniqueext=None if package.main else package.name)
            else:
                topdir = builder.ccache_topdir(target, _ccache_tree(package)) if args.ccache else "<temporary topdir>"
                cmd = builder.rpmbuild_command(srpm_path, topdir, outdir(package) / target, (), (), args.nodeps, macros)
                cmd = _with_ccache_env(cmd) if args.ccache else cmd
            print(shlex.join(cmd))
        return EXIT_OK

    ccache = builder.find_ccache(_ccache_dir()) if args.ccache else None
    srpms = _split_srpms(args, cfg, root, resultdir)
    missing = [p.name for p, targets in plan if targets and p.name not in srpms]
    if missing:
        raise UsageError(f"--srpm: none given for {', '.join(missing)} (give one per source package, or none)")
    if args.engine == "mock":
        builder.write_mock_configs(configs.values())

    def one(package: SpecPackage, target: Target, display: Display, parallel: bool) -> builder.BuildResult:
        srpm_path = srpms[package.name]
        if isinstance(target, Chroot):
            # --uniqueext: backends of one chroot build side by side in their own roots.
            result = builder.run_mock(target, configs[target.name][0], srpm_path, outdir(package), (), (), display,
                                      uniqueext=package.name if parallel else None)
            where = target.name
        else:
            defines = (("_smp_ncpus_max", str(share)),) if parallel else ()
            result = builder.run_rpmbuild(srpm_path, outdir(package), (), (), args.nodeps, macros, display,
                                          arch=target, defines=defines, label=f"{package.name} {target}",
                                          ccache=ccache, ccache_package=_ccache_tree(package))
            where = target
        result.target = f"{package.name} {where}"
        if not result.ok:
            builder.report_failure(result)
        return result

    results = [one(main, target, progress.make_display(), False) for target in main_targets]
    if jobs == 1:
        results += [one(package, target, progress.make_display(), False) for package, target in backend_work]
    else:
        # Builds at once print plain lines, each prefixed with its target.
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(one, package, target, progress.PlainDisplay(), True)
                       for package, target in backend_work]
            results += [future.result() for future in futures]
    print()
    print(builder.table(results, "package"))
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def _run_mock(args: argparse.Namespace, cfg: Config, root: Path, resultdir: Path, with_: list[str],
              without: list[str]) -> int:
    chroots = [mockcfg.parse_chroot(name) for name in _unique(args.chroot or [DEFAULT_CHROOT])]
    configs: list[tuple[Chroot, Path, str]] = []
    warnings: list[str] = []
    for chroot in chroots:
        text, chroot_warnings = mockcfg.render(chroot, cfg, with_, args.cuda_repo_release, cfg.packager)
        configs.append((chroot, builder.mock_config_path(resultdir, chroot), text))
        warnings += chroot_warnings
    for warning in warnings:
        print(f"ollama-rpm: warning: {warning}", file=sys.stderr)

    if args.dry_run:
        srpm = args.srpm[0].resolve() if args.srpm else Path(f"<SRPM built by the srpm step into {resultdir / 'srpm'}>")
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
    results: list[builder.BuildResult] = []
    for chroot, path, _ in configs:
        result = builder.run_mock(chroot, path, srpm, resultdir, with_, without, display)
        if not result.ok:
            builder.report_failure(result)
        results.append(result)
    print()
    print(builder.table(results, "chroot"))
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def _run_rpmbuild(args: argparse.Namespace, root: Path, resultdir: Path, with_: list[str], without: list[str]) -> int:
    macros = project.macro_files(args.macros)
    arch = builder.host_arch()
    if args.dry_run:
        srpm = args.srpm[0].resolve() if args.srpm else Path(f"<SRPM built by the srpm step into {resultdir / 'srpm'}>")
        topdir = builder.ccache_topdir(arch) if args.ccache else "<temporary topdir>"
        cmd = builder.rpmbuild_command(srpm, topdir, resultdir / arch, with_, without, args.nodeps, macros)
        print(shlex.join(_with_ccache_env(cmd) if args.ccache else cmd))
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


def _ccache_tree(package: SpecPackage) -> str | None:
    """The --ccache tree of a split layout's source package: the main one shares the
    single layout's, each backend package has its own so that backends build side by side."""
    return None if package.main else package.name


def _with_ccache_env(cmd: list[str]) -> list[str]:
    """A dry run's command line with the environment --ccache gives rpmbuild."""
    found = builder.find_ccache(_ccache_dir())
    return ["env", f"CCACHE_DIR={found.cache_dir}", f"PATH={found.link_dir}:$PATH", *cmd]


def _ccache_dir() -> Path:
    # ccache's own variable first: a user who set it shares that cache with us.
    env = os.environ.get("CCACHE_DIR")
    return Path(env) if env else hostenv.cache_root() / "ccache"
