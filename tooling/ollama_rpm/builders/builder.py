"""Build binary RPMs from an SRPM with mock (one chroot after another) or rpmbuild.

Each build streams its logs through buildlog.Tracker for the progress display,
and a failure is reported as: what failed (mock's exit code decoded, or the
rpmbuild phase), the log to read, and the lines around the first real error.
"""

import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ollama_rpm import atomic, hostenv, textout
from ollama_rpm.builders import buildlog
from ollama_rpm.builders.progress import Display
from ollama_rpm.errors import ToolError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen.backends import Chroot

MOCK_LOGS = ("build.log", "root.log", "state.log", "hw_info.log", "installed_pkgs.log", "mock-output.log")
POLL_SECONDS = 0.5


@dataclass
class BuildResult:
    target: str                 # chroot name (mock) or arch (rpmbuild)
    ok: bool
    exit_code: int
    rpms: list[Path] = field(default_factory=list)  # binary RPMs
    summary: str = ""                               # one line: what happened
    log: Path | None = None                         # the log that explains a failure
    excerpt: buildlog.ErrorExcerpt | None = None    # the first real error in it
    phase: str | None = None                        # failing rpmbuild phase, when known


class LogFollower:
    """Hands over the complete lines appended to a file since the last call."""

    def __init__(self, path: StrPath) -> None:
        self.path = Path(path)
        self.offset = 0
        self.partial = ""

    def read(self, final: bool = False) -> list[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                handle.seek(self.offset)
                data = handle.read()
                self.offset = handle.tell()
        except FileNotFoundError:
            return []
        data = self.partial + data
        lines = data.split("\n")
        self.partial = "" if final else lines.pop()
        if final and lines and lines[-1] == "":
            lines.pop()
        return lines


def _read_lines(path: StrPath) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _display_path(path: StrPath) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _binary_rpms(paths: Iterable[StrPath]) -> list[Path]:
    return sorted({Path(p) for p in paths if str(p).endswith(".rpm") and not str(p).endswith(".src.rpm")})


# --- mock ------------------------------------------------------------------------
def mock_config_path(resultdir: StrPath, chroot: Chroot) -> Path:
    return Path(resultdir) / f"ollama-{chroot.name}.cfg"


@dataclass(frozen=True)
class MockOptions:
    """How mock runs a build: the %bconds, its own root (--uniqueext), extra defines."""
    with_: Sequence[str] = ()
    without: Sequence[str] = ()
    uniqueext: str | None = None                # a root of its own, for builds side by side
    defines: Sequence[tuple[str, object]] = ()  # (macro, value): --define


def mock_command(cfg_path: StrPath, srpm: StrPath, chroot_resultdir: StrPath,
                 options: MockOptions = MockOptions(), mock: str = "mock") -> list[str]:
    cmd = [mock, "-r", str(cfg_path), "--rebuild", str(srpm), "--resultdir", str(chroot_resultdir)]
    if options.uniqueext:
        # A root of its own, so that builds from one config can run side by side.
        cmd += ["--uniqueext", options.uniqueext]
    for name, value in options.defines:
        cmd += ["--define", f"{name} {value}"]
    for name in options.with_:
        cmd += ["--with", name]
    for name in options.without:
        cmd += ["--without", name]
    return cmd


def run_mock(chroot: Chroot, cfg_path: StrPath, srpm: StrPath, resultdir: StrPath, display: Display,
             options: MockOptions = MockOptions()) -> BuildResult:
    """Run one mock build; its logs are followed while it runs."""
    mock = shutil.which("mock")
    if not mock:
        raise ToolError("mock: not found on PATH; install it (dnf install mock) or use --engine rpmbuild")
    outdir = Path(resultdir) / chroot.name
    outdir.mkdir(parents=True, exist_ok=True)
    # This directory belongs to this chroot's build: old logs and RPMs would be
    # mistaken for this run's.
    for old in list(outdir.glob("*.rpm")) + [outdir / name for name in MOCK_LOGS]:
        if old.is_file():
            old.unlink()
    cmd = mock_command(cfg_path, srpm, outdir, options, mock="mock")
    tracker = buildlog.Tracker(on_change=display.update)
    followers = {name: LogFollower(outdir / name) for name in ("state.log", "root.log", "build.log")}
    feeders: dict[str, Callable[[str], None]] = {"state.log": tracker.feed_state, "root.log": tracker.feed_root, "build.log": tracker.feed}
    display.start(chroot.name, shlex.join(cmd))

    def pump(final: bool = False) -> None:
        for name, follower in followers.items():
            for line in follower.read(final):
                feeders[name](line)

    console_log = outdir / "mock-output.log"
    with open(console_log, "wb") as console:
        try:
            proc = subprocess.Popen([mock] + cmd[1:], stdout=console, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        except OSError as error:
            raise ToolError(f"mock: cannot run {mock}: {error.strerror}") from None
        try:
            while proc.poll() is None:
                pump()
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            display.close()
            raise
    pump(final=True)
    code = proc.returncode
    if code == 0:
        tracker.finish()
        rpms = _binary_rpms(outdir.glob("*.rpm"))
        summary = f"{len(rpms)} RPMs in {_display_path(outdir)}"
        display.finish(True, summary)
        return BuildResult(chroot.name, True, 0, rpms, summary)
    return _mock_failure(chroot, code, outdir, display)


def _mock_failure(chroot: Chroot, code: int, outdir: Path, display: Display) -> BuildResult:
    description, log_name = buildlog.decode_mock_exit(code)
    log = outdir / log_name if log_name else outdir / "mock-output.log"
    lines = _read_lines(log)
    excerpt = buildlog.first_error(lines, _display_path(log)) if lines else None
    if excerpt is None and log.name != "mock-output.log":
        # The named log may be missing (mock stopped before writing it): mock's
        # own console output says why.
        console = outdir / "mock-output.log"
        excerpt = buildlog.first_error(_read_lines(console), _display_path(console))
        if excerpt is not None or not lines:
            log = console
    phase = buildlog.failing_phase(_read_lines(outdir / "build.log")) if code in (10, 11) else None
    summary = f"mock exit {code}: {description}"
    if phase:
        summary += f" in {phase}"
    if excerpt:
        summary += f": {excerpt.message}"
    display.finish(False, summary)
    return BuildResult(chroot.name, False, code, [], summary, log, excerpt, phase)


# --- rpmbuild --------------------------------------------------------------------
def host_arch() -> str:
    try:
        out = subprocess.run(["rpm", "--eval", "%{_arch}"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return os.uname().machine
    return out.stdout.strip() or os.uname().machine


@dataclass(frozen=True)
class RpmbuildOptions:
    """How rpmbuild runs a build: the %bconds, --nodeps, macro files loaded, extra defines."""
    with_: Sequence[str] = ()
    without: Sequence[str] = ()
    nodeps: bool = False
    macro_files: Sequence[StrPath] = ()
    defines: Sequence[tuple[str, object]] = ()  # (macro, value), e.g. _smp_ncpus_max


def rpmbuild_command(srpm: StrPath, topdir: StrPath, rpmdir: StrPath,
                     options: RpmbuildOptions = RpmbuildOptions()) -> list[str]:
    cmd = ["rpmbuild"]
    for path in options.macro_files:
        cmd += ["--load", str(path)]
    cmd += [
        "--define", f"_topdir {topdir}",
        "--define", f"_rpmdir {rpmdir}",
        "--define", f"_srcrpmdir {topdir}/SRPMS",
        # Flat result dir, like mock's: <resultdir>/<arch>/NAME-V-R.ARCH.rpm
        "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
    ]
    for name, value in options.defines:
        cmd += ["--define", f"{name} {value}"]
    if options.nodeps:
        cmd.append("--nodeps")
    for name in options.with_:
        cmd += ["--with", name]
    for name in options.without:
        cmd += ["--without", name]
    cmd += ["--rebuild", str(srpm)]
    return cmd


# Where distributions put ccache's compiler links (gcc, g++, cc... -> ccache):
# Fedora, then Debian. Mock's ccache plugin puts the same directory first on PATH.
CCACHE_LINK_DIRS = ("/usr/lib64/ccache", "/usr/lib/ccache")


@dataclass
class Ccache:
    """ccache in front of the build's C/C++ compilers: the masquerade directory
    first on PATH (Fedora's %set_build_flags sets CC=gcc CXX=g++, which CMake
    and cgo then find there) and the cache directory."""
    cache_dir: Path
    link_dir: Path

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        return dict(base, CCACHE_DIR=str(self.cache_dir), PATH=f"{self.link_dir}{os.pathsep}{base.get('PATH', '')}")


def find_ccache(cache_dir: StrPath, link_dirs: Sequence[str] = CCACHE_LINK_DIRS) -> Ccache:
    """A Ccache for `cache_dir`, or ToolError when ccache or its compiler links are missing."""
    if not shutil.which("ccache"):
        raise ToolError("--ccache: ccache not found on PATH; install ccache (dnf/apt install ccache)")
    for directory in map(Path, link_dirs):
        if (directory / "gcc").exists() and (directory / "g++").exists():
            return Ccache(Path(cache_dir), directory)
    raise ToolError(f"--ccache: no gcc/g++ links to ccache in {' or '.join(link_dirs)}; "
                    "reinstall ccache (it creates them)")


def ccache_topdir(arch: str, package: str | None = None) -> Path:
    """The fixed rpmbuild tree of --ccache builds. ccache hashes the compiler's
    working directory along with -g, so a fresh temporary tree per build would
    never hit; mock builds in the same /builddir every time for the same reason.
    `package`: a split layout's backend source package, which gets a tree of its
    own so that backends build side by side (the main package keeps `<arch>`)."""
    root = hostenv.cache_root() / "rpmbuild-ccache"
    return root / package / arch if package else root / arch


def run_rpmbuild(srpm: StrPath, resultdir: StrPath, options: RpmbuildOptions, display: Display, *,
                 arch: str | None = None, ccache: Ccache | None = None, label: str | None = None,
                 ccache_package: str | None = None) -> BuildResult:
    """`label`: what the display calls this build (default: the arch);
    `ccache_package`: with `ccache`, build in that backend package's own fixed tree."""
    if not shutil.which("rpmbuild"):
        raise ToolError("rpmbuild: not found on PATH; install rpm-build (Fedora) or rpm (Debian)")
    arch = arch or host_arch()
    outdir = Path(resultdir) / arch
    outdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LC_ALL="C")
    lock = None
    topdir: Path
    if ccache is not None:
        topdir = ccache_topdir(arch, ccache_package)
        topdir.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock_or_fail(topdir.parent / f"{arch}.lock")
        shutil.rmtree(topdir, ignore_errors=True)   # what a failed build left
        topdir.mkdir()
    else:
        topdir = Path(tempfile.mkdtemp(prefix="ollama-rpm-build-"))
    if ccache is not None:
        Path(ccache.cache_dir).mkdir(parents=True, exist_ok=True)
        env = ccache.env(env)
    # Go's build cache starts empty in every build, as in mock (a fresh /builddir):
    # the user's ~/.cache/go-build would skip compiles and, worse, replay cached
    # `go test` results in %check instead of running the tests.
    env["GOCACHE"] = str(Path(topdir).resolve() / "GOCACHE")
    try:
        cmd = rpmbuild_command(srpm, topdir, outdir, options)
        return _rpmbuild(cmd, outdir, arch, display, env, topdir=topdir, label=label)
    finally:
        if lock is not None:
            lock.close()


def _lock_or_fail(path: Path) -> TextIO:
    handle = open(path, "w")  # noqa: SIM115 - the lock lives as long as the handle; the caller closes it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ToolError(f"--ccache: another build holds {path}; --ccache builds share one build tree, "
                        "wait for it or build without --ccache") from None
    return handle


def _rpmbuild(cmd: list[str], outdir: Path, arch: str, display: Display, env: Mapping[str, str], *,
              topdir: Path, label: str | None) -> BuildResult:
    """Run `cmd`, which builds in `topdir`: removed after a success, kept after a failure."""
    log_path = outdir / "build.log"
    tracker = buildlog.Tracker(on_change=display.update)
    display.start(label or arch, shlex.join(cmd))
    lines: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace", env=env, stdin=subprocess.DEVNULL)
        except OSError as error:
            raise ToolError(f"rpmbuild: cannot run: {error.strerror}") from None
        assert proc.stdout is not None   # stdout=PIPE
        try:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                line = line.rstrip("\n")
                lines.append(line)
                tracker.feed(line)
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            display.close()
            raise
    code = proc.returncode
    if code == 0:
        tracker.finish()
        rpms = _binary_rpms(Path(p) for p in tracker.rpms if Path(p).parent == outdir)
        shutil.rmtree(topdir, ignore_errors=True)
        summary = f"{len(rpms)} RPMs in {_display_path(outdir)}"
        display.finish(True, summary)
        return BuildResult(arch, True, 0, rpms, summary)
    phase = buildlog.failing_phase(lines)
    excerpt = buildlog.first_error(lines, _display_path(log_path))
    summary = f"rpmbuild exit {code}"
    if phase:
        summary += f": {phase} failed"
    if phase == "build dependencies":
        summary += " (install them, or pass --nodeps where they are not rpm packages)"
    if excerpt:
        summary += f": {excerpt.message}"
    summary += f" (build tree kept in {topdir})"
    display.finish(False, summary)
    return BuildResult(arch, False, code, [], summary, log_path, excerpt, phase)


# --- report ----------------------------------------------------------------------
def report_failure(result: BuildResult, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if result.log:
        print(f"{result.target}: read {_display_path(result.log)}", file=stream)
    if result.excerpt:
        print(result.excerpt.render(), file=stream)
    elif result.log:
        tail = buildlog.tail(_read_lines(result.log))
        if tail:
            print(f"last lines of {_display_path(result.log)}:", file=stream)
            for line in tail:
                print(f"    {line}", file=stream)


def table(results: Iterable[BuildResult], heading: str = "chroot") -> str:
    """The matrix summary: target -> result -> RPMs (one per line) or the error."""
    rows: list[tuple[str, str, str]] = []
    for result in results:
        if result.ok:
            details = [_display_path(rpm) for rpm in result.rpms] or ["(no binary RPMs)"]
        else:
            details = [result.summary]
            if result.excerpt:
                details.append(f"see {result.excerpt.log}:{result.excerpt.line_no}")
            elif result.log:
                details.append(f"see {_display_path(result.log)}")
        rows.append((result.target, "ok" if result.ok else "FAILED", details[0]))
        rows += [("", "", more) for more in details[1:]]
    return "\n".join(textout.table((heading, "result", "RPMs or error"), rows, rule=True))


def write_mock_configs(configs: Iterable[tuple[StrPath, str]]) -> None:
    """configs: [(path, text)]; each written atomically."""
    for path, text in configs:
        atomic.write_text(path, text)
