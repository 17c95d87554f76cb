"""The binary builds a request asks for: which source package on which target, in
what order, how many at once, and the ccache tree of each; run, or printed (dry run).

Single layout: one SRPM, built in every mock chroot one after another, or with
rpmbuild for the host's arch. Split layout: ollama first, then every backend
package turned on, `jobs` at a time; the CPUs are shared out among them.
"""

import os
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ollama_rpm import hostenv, project
from ollama_rpm.builders import builder, mockcfg, progress, srpm
from ollama_rpm.builders.progress import Display
from ollama_rpm.errors import UsageError
from ollama_rpm.specgen import backends, context
from ollama_rpm.specgen.backends import DEFAULT_CHROOT, Chroot
from ollama_rpm.specgen.config import Config
from ollama_rpm.specgen.context import SpecPackage

_T = TypeVar("_T")
# What one build runs on: a mock chroot, or the host's arch for rpmbuild.
Target = Chroot | str
# --define 'MACRO VALUE': an rpm macro name, white space, a value.
_DEFINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s+(\S.*)", re.DOTALL)


@dataclass(frozen=True)
class BuildRequest:
    """What `build` was asked for (its flags)."""
    engine: str = "mock"                      # mock or rpmbuild
    chroots: Sequence[str] = ()               # mock chroots (default: DEFAULT_CHROOT)
    with_: Sequence[str] = ()                 # backends turned on
    without: Sequence[str] = ()               # ... and off
    srpms: Sequence[Path] = ()                # default: build them with the srpm step
    layout: str | None = None                 # default: packaging.yaml's
    jobs: int | None = None                   # split layout: backend builds at once
    config_path: Path | None = None           # packaging.yaml (default: the project's)
    dry_run: bool = False                     # print configs and commands, run nothing
    cuda_release: int | None = None           # NVIDIA repository of this release (mock)
    nodeps: bool = False                      # rpmbuild: do not check BuildRequires
    macros: Sequence[Path] = ()               # extra rpm macro files
    ccache: bool = False                      # rpmbuild: compile through ccache
    defines: Sequence[str] = ()               # 'MACRO VALUE' for every binary build (--define)


def check(request: BuildRequest, cfg: Config) -> None:
    """UsageError naming the flag for a request that cannot run, before any work."""
    context.check_backend_options(cfg, request.with_, request.without)
    _check_engine(request)
    backends.check_cuda_release(request.cuda_release)
    project.macro_files(request.macros)
    for given in request.srpms:
        if not given.is_file():
            raise UsageError(f"--srpm {given}: no such file")
        if not given.name.endswith(".src.rpm"):
            raise UsageError(f"--srpm {given}: expected a source RPM (*.src.rpm)")
    layout = request.layout or cfg.layout
    if layout == "single" and len(request.srpms) > 1:
        raise UsageError(f"--srpm {request.srpms[1]}: the single layout builds one SRPM")
    if request.jobs is not None and request.jobs < 1:
        raise UsageError(f"--jobs {request.jobs}: expected 1 or more")
    if request.jobs is not None and layout == "single":
        raise UsageError("--jobs: applies to the split layout only (one SRPM builds its backends one after another)")
    parse_defines(request.defines)


def parse_defines(given: Iterable[str]) -> list[tuple[str, str]]:
    """--define values as (macro, value) pairs; UsageError names the first bad one."""
    pairs: list[tuple[str, str]] = []
    for text in given:
        match = _DEFINE.fullmatch(text.strip())
        if match is None:
            raise UsageError(f"--define {text!r}: expected 'MACRO VALUE' (a macro name, a space, its value)")
        pairs.append((match.group(1), match.group(2)))
    return pairs


def _check_engine(request: BuildRequest) -> None:
    """The flags of one engine are refused with the other."""
    if request.engine == "rpmbuild":
        for option, value in (("--chroot", request.chroots), ("--cuda-repo-release", request.cuda_release)):
            if value:
                raise UsageError(f"{option}: applies to --engine mock only")
    else:
        for option, value in (("--nodeps", request.nodeps), ("--ccache", request.ccache)):
            if value:
                raise UsageError(f"{option}: applies to --engine rpmbuild only (mock installs BuildRequires in its chroot)")
        if request.macros and request.srpms:
            raise UsageError("--macros: with --engine mock it applies to the SRPM step, which --srpm skips "
                             "(mock's chroot has Fedora's own macros)")


def run(root: Path, cfg: Config, request: BuildRequest, resultdir: Path) -> bool:
    """Build (or with dry_run print) what `request` asks; True when every build succeeded."""
    with_, without = _unique(request.with_), _unique(request.without)
    if (request.layout or cfg.layout) == "split":
        return _run_split(request, cfg, root, resultdir, with_, without)
    if request.engine == "mock":
        return _run_mock(request, cfg, root, resultdir, with_, without)
    return _run_rpmbuild(request, root, resultdir, with_, without)


def _unique(items: Iterable[_T]) -> list[_T]:
    seen: list[_T] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _chroots(request: BuildRequest) -> list[Chroot]:
    return [mockcfg.parse_chroot(name) for name in _unique(request.chroots or [DEFAULT_CHROOT])]


def _srpm(request: BuildRequest, root: Path, resultdir: Path) -> Path:
    if request.srpms:
        return Path(request.srpms[0]).resolve()
    return Path(srpm.build_srpm(root, Path(resultdir) / "srpm", config_path=request.config_path,
                                macros=request.macros)).resolve()


def _dry_run_srpm(request: BuildRequest, resultdir: Path) -> Path:
    return request.srpms[0].resolve() if request.srpms else \
        Path(f"<SRPM built by the srpm step into {resultdir / 'srpm'}>")


def _warn(warnings: Iterable[str]) -> None:
    for warning in warnings:
        print(f"ollama-rpm: warning: {warning}", file=sys.stderr)


def _finish(results: Sequence[builder.BuildResult], heading: str) -> bool:
    """The results table; True when every build succeeded."""
    print()
    print(builder.table(results, heading))
    return all(result.ok for result in results)


def _reported(result: builder.BuildResult) -> builder.BuildResult:
    if not result.ok:
        builder.report_failure(result)
    return result


# --- single layout -------------------------------------------------------------------

def _run_mock(request: BuildRequest, cfg: Config, root: Path, resultdir: Path, with_: list[str],
              without: list[str]) -> bool:
    configs: list[tuple[Chroot, Path, str]] = []
    warnings: list[str] = []
    for chroot in _chroots(request):
        text, chroot_warnings = mockcfg.render(chroot, cfg, with_, request.cuda_release, cfg.packager)
        configs.append((chroot, builder.mock_config_path(resultdir, chroot), text))
        warnings += chroot_warnings
    _warn(warnings)
    options = builder.MockOptions(with_, without, defines=parse_defines(request.defines))
    if request.dry_run:
        srpm_path = _dry_run_srpm(request, resultdir)
        for chroot, path, text in configs:
            print(f"# ==> {path} <==")
            print(text, end="")
            print(f"# command for {chroot.name}:")
            print(shlex.join(builder.mock_command(path, srpm_path, resultdir / chroot.name, options)))
            print()
        return True
    srpm_path = _srpm(request, root, resultdir)
    builder.write_mock_configs((path, text) for _, path, text in configs)
    display = progress.make_display()
    results = [_reported(builder.run_mock(chroot, path, srpm_path, resultdir, display, options))
               for chroot, path, _ in configs]
    return _finish(results, "chroot")


def _run_rpmbuild(request: BuildRequest, root: Path, resultdir: Path, with_: list[str], without: list[str]) -> bool:
    options = builder.RpmbuildOptions(with_, without, request.nodeps, project.macro_files(request.macros),
                                      parse_defines(request.defines))
    arch = builder.host_arch()
    if request.dry_run:
        topdir = builder.ccache_topdir(arch) if request.ccache else "<temporary topdir>"
        cmd = builder.rpmbuild_command(_dry_run_srpm(request, resultdir), topdir, resultdir / arch, options)
        print(shlex.join(_with_ccache_env(cmd) if request.ccache else cmd))
        return True
    ccache = builder.find_ccache(ccache_dir()) if request.ccache else None
    srpm_path = _srpm(request, root, resultdir)
    result = builder.run_rpmbuild(srpm_path, resultdir, options, progress.make_display(), arch=arch, ccache=ccache)
    return _finish([_reported(result)], "arch")


# --- split layout ------------------------------------------------------------------

def default_jobs(backend_count: int, cpus: int | None = None) -> int:
    """Backend builds at once: one per 4 CPUs (each CMake build uses the CPUs it gets)."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(backend_count, cpus // 4))


def _srpm_name(path: Path) -> str:
    """NAME of NAME-VERSION-RELEASE.src.rpm."""
    return path.name[:-len(".src.rpm")].rsplit("-", 2)[0]


def split_plan(request: BuildRequest, cfg: Config, with_: Sequence[str], without: Sequence[str]
               ) -> list[tuple[SpecPackage, list[Target]]]:
    """[(SpecPackage, [targets])]: ollama on every target, each backend where it is
    turned on (packaging.yaml's `enabled`, --with/--without) and its arches allow."""
    packages = context.packages(cfg, "split")
    targets: list[Target] = list(_chroots(request)) if request.engine == "mock" else [builder.host_arch()]
    plan = [(packages[0], targets)]
    for package in packages[1:]:
        chosen = [t for t in targets if context.backend_builds(
            cfg, package, t.arch if isinstance(t, Chroot) else t, with_, without)]
        if chosen:
            plan.append((package, chosen))
    return plan


def _check_given_are_on(plan: list[tuple[SpecPackage, list[Target]]], packages: Sequence[SpecPackage],
                        srpms: Sequence[Path]) -> None:
    """Given SRPMs of backends that are off are skipped, each with a warning (the
    srpm step makes one for every backend); when that leaves nothing to build, refused."""
    on = {package.name for package, _targets in plan}
    off = [(path, package) for path in srpms for package in packages
           if package.name == _srpm_name(path) and package.name not in on]

    def reason(path: Path, backend: str, skipped: str) -> str:
        return (f"--srpm {path}: backend {backend!r} is off (packaging.yaml backends.{backend}.enabled, "
                f"--without, or not built for this arch){skipped}; add --with {backend} to build it")
    if off and len(off) == len(srpms):
        raise UsageError(reason(off[0][0], off[0][1].backend, ""))
    _warn(reason(path, package.backend, ", skipped") for path, package in off)


def _given_only(plan: list[tuple[SpecPackage, list[Target]]], srpms: Sequence[Path]
                ) -> list[tuple[SpecPackage, list[Target]]]:
    """Only the source packages of the SRPMs given (ollama's targets emptied when it is not one),
    e.g. one backend rebuilt against an ollama already built (or installed) elsewhere."""
    given = {_srpm_name(path) for path in srpms}
    return [(package, targets if package.name in given else []) if package.main else (package, targets)
            for package, targets in plan if package.main or package.name in given]


@dataclass
class _Split:
    """The split layout's builds, ready to run: who builds where, with which mock config."""
    request: BuildRequest
    resultdir: Path
    plan: list[tuple[SpecPackage, list[Target]]]
    main: SpecPackage
    main_targets: list[Target]
    backend_work: list[tuple[SpecPackage, Target]]
    jobs: int
    share: int                                # CPUs for each of the builds running at once
    macros: list[Path]
    defines: list[tuple[str, str]]            # --define, for every build
    configs: dict[str, tuple[Path, str]]      # {chroot name: (mock config path, text)}

    def outdir(self, package: SpecPackage) -> Path:
        return self.resultdir / package.name


def _split(request: BuildRequest, cfg: Config, resultdir: Path, with_: list[str], without: list[str]) -> _Split:
    plan = split_plan(request, cfg, with_, without)
    all_targets = plan[0][1]
    if request.srpms:
        _check_given_are_on(plan, context.packages(cfg, "split"), request.srpms)
        plan = _given_only(plan, request.srpms)
    (main, main_targets), backend_work = plan[0], [(p, t) for p, ts in plan[1:] for t in ts]
    jobs = request.jobs or default_jobs(len(backend_work))
    configs: dict[str, tuple[Path, str]] = {}
    if request.engine == "mock":
        for chroot in all_targets:
            assert isinstance(chroot, Chroot)
            # One config per chroot with what the backends built there need (NVIDIA's repository).
            text, warnings = mockcfg.render(chroot, cfg, with_, request.cuda_release, cfg.packager)
            configs[chroot.name] = (builder.mock_config_path(resultdir, chroot), text)
            _warn(warnings)
    # The CPUs shared out among the builds running at once (rpm's %_smp_ncpus_max).
    return _Split(request, resultdir, plan, main, main_targets, backend_work, jobs,
                  share=max(1, (os.cpu_count() or 1) // jobs), macros=project.macro_files(request.macros),
                  defines=parse_defines(request.defines), configs=configs)


def _run_split(request: BuildRequest, cfg: Config, root: Path, resultdir: Path, with_: list[str],
               without: list[str]) -> bool:
    """ollama first, then the backends turned on, `jobs` at a time. The backend
    packages do not BuildRequire ollama, so a failure stops none of the others."""
    split = _split(request, cfg, resultdir, with_, without)
    if request.dry_run:
        _split_dry_run(split)
        return True
    ccache = builder.find_ccache(ccache_dir()) if request.ccache else None
    srpms = _split_srpms(request, cfg, root, resultdir)
    missing = [p.name for p, targets in split.plan if targets and p.name not in srpms]
    if missing:
        raise UsageError(f"--srpm: none given for {', '.join(missing)} (give one per source package, or none)")
    if request.engine == "mock":
        builder.write_mock_configs(split.configs.values())

    def one(package: SpecPackage, target: Target, display: Display, parallel: bool) -> builder.BuildResult:
        return _split_build(split, srpms[package.name], package, target, display, parallel=parallel, ccache=ccache)

    results = [one(split.main, target, progress.make_display(), False) for target in split.main_targets]
    if split.jobs == 1:
        results += [one(package, target, progress.make_display(), False) for package, target in split.backend_work]
    else:
        # Builds at once print plain lines, each prefixed with its target.
        with ThreadPoolExecutor(max_workers=split.jobs) as pool:
            futures = [pool.submit(one, package, target, progress.PlainDisplay(), True)
                       for package, target in split.backend_work]
            results += [future.result() for future in futures]
    return _finish(results, "package")


def _split_build(split: _Split, srpm_path: Path, package: SpecPackage, target: Target, display: Display, *,
                 parallel: bool, ccache: builder.Ccache | None) -> builder.BuildResult:
    """One build of the split layout; `parallel`: others run beside it."""
    if isinstance(target, Chroot):
        # --uniqueext: backends of one chroot build side by side in their own roots.
        result = builder.run_mock(target, split.configs[target.name][0], srpm_path, split.outdir(package), display,
                                  builder.MockOptions(uniqueext=package.name if parallel else None,
                                                      defines=split.defines))
        where = target.name
    else:
        share = [("_smp_ncpus_max", str(split.share))] if parallel else []
        options = builder.RpmbuildOptions(nodeps=split.request.nodeps, macro_files=split.macros,
                                          defines=[*split.defines, *share])
        result = builder.run_rpmbuild(srpm_path, split.outdir(package), options, display, arch=target,
                                      label=f"{package.name} {target}", ccache=ccache,
                                      ccache_package=ccache_tree(package))
        where = target
    result.target = f"{package.name} {where}"
    return _reported(result)


def _split_dry_run(split: _Split) -> None:
    for path, text in split.configs.values():
        print(f"# ==> {path} <==")
        print(text, end="")
    print(f"# split layout: {split.main.name} first, then the backends, {split.jobs} at a time")
    for package, target in [(split.main, t) for t in split.main_targets] + split.backend_work:
        srpm_path = Path(f"<{package.name} SRPM>")
        if isinstance(target, Chroot):
            cmd = builder.mock_command(split.configs[target.name][0], srpm_path, split.outdir(package) / target.name,
                                       builder.MockOptions(uniqueext=None if package.main else package.name,
                                                           defines=split.defines))
        else:
            ccache = split.request.ccache
            topdir = builder.ccache_topdir(target, ccache_tree(package)) if ccache else "<temporary topdir>"
            options = builder.RpmbuildOptions(nodeps=split.request.nodeps, macro_files=split.macros,
                                              defines=split.defines)
            cmd = builder.rpmbuild_command(srpm_path, topdir, split.outdir(package) / target, options)
            cmd = _with_ccache_env(cmd) if ccache else cmd
        print(shlex.join(cmd))


def _split_srpms(request: BuildRequest, cfg: Config, root: Path, resultdir: Path) -> dict[str, Path]:
    """{source package name: SRPM} of the split layout: the given ones, or all built now."""
    packages = context.packages(cfg, "split")
    if request.srpms:
        given = {_srpm_name(path): path.resolve() for path in request.srpms}
        names = [p.name for p in packages]
        unknown = [name for name in given if name not in names]
        if unknown:
            raise UsageError(f"--srpm: {unknown[0]} is not a source package of the split layout "
                             f"({', '.join(names)})")
        return given
    built = srpm.build_srpms(root, Path(resultdir) / "srpm", config_path=request.config_path, layout="split",
                             macros=request.macros)
    return {package.name: Path(path).resolve() for package, path in zip(packages, built, strict=True)}


# --- ccache --------------------------------------------------------------------------

def ccache_tree(package: SpecPackage) -> str | None:
    """The --ccache tree of a split layout's source package: the main one shares the
    single layout's, each backend package has its own so that backends build side by side."""
    return None if package.main else package.name


def _with_ccache_env(cmd: list[str]) -> list[str]:
    """A dry run's command line with the environment --ccache gives rpmbuild."""
    found = builder.find_ccache(ccache_dir())
    return ["env", f"CCACHE_DIR={found.cache_dir}", f"PATH={found.link_dir}:$PATH", *cmd]


def ccache_dir() -> Path:
    """Where --ccache keeps its cache: $CCACHE_DIR, else ccache/ under the ollama-rpm cache."""
    # ccache's own variable first: a user who set it shares that cache with us.
    env = os.environ.get("CCACHE_DIR")
    return Path(env) if env else hostenv.cache_root() / "ccache"
