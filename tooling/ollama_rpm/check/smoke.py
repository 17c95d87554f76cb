"""`ollama-rpm smoke`: install the built RPMs and make the installed Ollama answer a prompt.

Two engines put the packages where a user would have them:
- mock: `mock --install` into the chroot, the session runs there under
  `mock --chroot` as the sysusers account `ollama`;
- rootfs: `rpm --root --nodeps --noscripts` into a scratch root, the session
  runs in a private mount namespace where the root's /usr/bin/ollama and
  /usr/lib64/ollama are bound at their real paths (the binary is stamped with
  its library directory, so it must see it there).
The session itself (ollama_rpm.check.smoke_session) starts the server, imports a
tiny generated GGUF with `ollama create` and asks for tokens; this module
judges what it saw: tokens came back, ggml loaded the best CPU variant this
CPU can run among those installed, and every installed GPU backend loads.
"""

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ollama_rpm import textout
from ollama_rpm.check import cpu_select, smoke_session, tinymodel
from ollama_rpm.errors import ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen import cpu_levels

BINARY = "/usr/bin/ollama"
DEFAULT_LIBDIR = "/usr/lib64/ollama"
MOCK_WORKDIR = "/var/tmp/ollama-smoke"
_CPU_LIB = re.compile(r"/libggml-cpu-(?P<variant>[\w.]+)\.so$")
_MOCK_EXIT = {10: "build failed", 20: "chroot error (see root.log)", 30: "package manager error (see root.log)",
              60: "buildroot locked", 90: "bootstrap failure"}


@dataclass
class Package:
    path: str
    name: str
    version: str
    arch: str
    files: list[str]


@dataclass
class Check:
    name: str
    status: str          # ok | FAIL | skip
    detail: str


@dataclass
class Report:
    engine: str
    packages: list[str]
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.status != "FAIL" for c in self.checks) and any(c.status == "ok" for c in self.checks)

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "engine": self.engine, "packages": self.packages,
                           "checks": [asdict(c) for c in self.checks], **self.facts}, indent=2, sort_keys=True)

    def table(self) -> str:
        return "\n".join(textout.table(("check", "result", "detail"), [(c.name, c.status, c.detail) for c in self.checks]))


# ---- the RPM set -------------------------------------------------------------

def collect_rpms(paths: Sequence[StrPath]) -> list[Path]:
    """The binary RPMs named by files and result directories (no SRPM, no debug packages)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.rpm") if not p.name.endswith(".src.rpm"))
        elif path.is_file():
            if not path.name.endswith(".rpm") or path.name.endswith(".src.rpm"):
                raise UsageError(f"{path}: expected a binary RPM or a result directory")
            found.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    rpms = [p.resolve() for p in found if not re.search(r"-debug(info|source)-", p.name)]
    if not rpms:
        raise UsageError(f"{', '.join(map(str, paths))}: no binary RPMs found")
    return rpms


def query_packages(rpms: Iterable[Path]) -> list[Package]:
    packages: list[Package] = []
    for rpm in rpms:
        proc = subprocess.run(["rpm", "-qp", "--qf", r"%{NAME}\t%{VERSION}\t%{ARCH}\n[%{FILENAMES}\n]", str(rpm)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise UsageError(f"{rpm}: not a readable RPM: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        head, *files = proc.stdout.splitlines()
        name, version, arch = head.split("\t")
        packages.append(Package(str(rpm), name, version, arch, files))
    return packages


@dataclass
class Layout:
    main: Package
    libdir: str
    cpu_variants: list[str]       # variants shipped (libggml-cpu-<v>.so in libdir)
    gpu_libs: dict[str, str]      # package name -> backend library path
    files: dict[str, str] = field(default_factory=dict)   # every shipped file -> its package


def layout(packages: Sequence[Package]) -> Layout:
    """Where the packages put the binary, the CPU variants and the GPU backends."""
    main = next((p for p in packages if BINARY in p.files), None)
    if main is None:
        raise UsageError(f"no package in {', '.join(p.name for p in packages)} ships {BINARY}")
    servers = [f for p in packages for f in p.files if f.endswith("/llama-server")]
    libdir = os.path.dirname(servers[0]) if servers else DEFAULT_LIBDIR
    variants: list[str] = []
    gpu: dict[str, str] = {}
    for package in packages:
        for path in package.files:
            match = _CPU_LIB.search(path)
            if match and os.path.dirname(path) == libdir:
                variants.append(match.group("variant"))
            elif (os.path.dirname(os.path.dirname(path)) == libdir
                  and re.fullmatch(r"libggml-(?!base|cpu)[\w-]+\.so", os.path.basename(path))):
                gpu[package.name] = path
    files = {path: package.name for package in packages for path in package.files}
    return Layout(main, libdir, sorted(variants), gpu, files)


# ---- engines -----------------------------------------------------------------

def _scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def _rmtree(path: Path) -> None:
    def writable(func: Callable[[str], object], failed: str, _info: object) -> None:
        os.chmod(os.path.dirname(failed), 0o755)
        func(failed)
    shutil.rmtree(path, onerror=writable)


Timeouts = dict[str, float]     # startup_timeout, create_timeout, generate_timeout, stop_timeout


def _plan(layout_: Layout, workdir: StrPath, model: StrPath, result: StrPath, **extra: object) -> dict[str, Any]:
    return dict({"workdir": str(workdir), "ollama": BINARY, "libdir": layout_.libdir, "model": str(model),
                 "result": str(result), "gpu_libs": sorted(layout_.gpu_libs.values())}, **extra)


class Engine(Protocol):
    """Puts the packages where a user would have them and runs the session there."""

    name: str

    def install(self, rpms: Sequence[Path]) -> tuple[bool, str]: ...

    def workdir(self) -> Path: ...

    def run(self, layout_: Layout, model_source: Path) -> dict[str, Any]: ...

    def cleanup(self) -> None: ...


class RootfsEngine:
    name = "rootfs"

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        self.scratch: Path | None = None

    def workdir(self) -> Path:
        """The scratch directory install() made."""
        if self.scratch is None:
            raise RuntimeError("install() first")
        return self.scratch

    def install(self, rpms: Sequence[Path]) -> tuple[bool, str]:
        for tool in ("rpm", "unshare"):
            if shutil.which(tool) is None:
                raise ToolError(f"--engine rootfs needs {tool} (util-linux, rpm)")
        self.scratch = _scratch("ollama-smoke-")
        root = self.scratch / "root"
        steps = (["rpm", "--root", str(root), "--initdb"],
                 ["rpm", "--root", str(root), "-i", "--nodeps", "--noscripts", *map(str, rpms)])
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                return False, f"{' '.join(cmd[:4])}... exited {proc.returncode}: {_last(proc.stderr)}"
        return True, f"{len(rpms)} packages into {root} (rpm --nodeps --noscripts)"

    def run(self, layout_: Layout, model_source: Path) -> dict[str, Any]:
        work = self.workdir() / "work"
        work.mkdir()
        model = work / "tiny.gguf"
        shutil.copy2(model_source, model)
        root = self.workdir() / "root"
        binds = [[str(root / path.lstrip("/")), path] for path in (layout_.libdir, BINARY)
                 if os.path.lexists(root / path.lstrip("/"))]        # a set without libraries is smoke-tested as is

        def seen_at(path: str) -> str:      # bound at its real path, or read in the scratch root
            bound = any(path == target or path.startswith(target + "/") for _source, target in binds)
            return path if bound else str(root / path.lstrip("/"))
        files = [[path, seen_at(path)] for path in sorted(layout_.files)]
        plan = _plan(layout_, work, model, work / "result.json", binds=binds, files=files, **self.timeouts)
        (work / "plan.json").write_text(json.dumps(plan))
        mapped = os.geteuid() != 0
        unshare = ["unshare", "--mount"] + (["--map-root-user"] if mapped else [])
        cmd = [*unshare, "--", sys.executable, smoke_session.__file__, str(work / "plan.json")]
        result = _run_driver(cmd, work / "result.json", _budget(self.timeouts, layout_))
        if mapped and result.get("user"):
            result["user"] = f"{pwd.getpwuid(os.geteuid()).pw_name} (root in a user namespace)"
        return result

    def cleanup(self) -> None:
        if self.scratch is not None:
            _rmtree(self.scratch)


class MockEngine:
    name = "mock"

    def __init__(self, chroot: str, timeouts: Timeouts) -> None:
        self.chroot = chroot
        self.timeouts = timeouts
        self.scratch: Path | None = None
        self.initialized = False

    def workdir(self) -> Path:
        """The scratch directory install() made."""
        if self.scratch is None:
            raise RuntimeError("install() first")
        return self.scratch

    def _mock(self, *args: StrPath, timeout: float | None = None) -> "subprocess.CompletedProcess[str]":
        cmd = ["mock", "-r", self.chroot, *map(str, args)]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout}s")

    def _failed(self, proc: "subprocess.CompletedProcess[str]", what: str) -> str:
        meaning = _MOCK_EXIT.get(proc.returncode, "")
        return f"mock {what} exited {proc.returncode}{f' ({meaning})' if meaning else ''}: {_last(proc.stderr or proc.stdout)}"

    def install(self, rpms: Sequence[Path]) -> tuple[bool, str]:
        if shutil.which("mock") is None:
            raise ToolError("--engine mock needs mock on PATH (dnf install mock); or use --engine rootfs")
        self.scratch = _scratch("ollama-smoke-mock-")
        proc = self._mock("--init")
        self.initialized = True
        if proc.returncode != 0:
            return False, self._failed(proc, "--init")
        # python3 runs the session inside the chroot; the rest comes from the packages' Requires.
        proc = self._mock("--install", "python3", *rpms)
        if proc.returncode != 0:
            return False, self._failed(proc, "--install")
        return True, f"{len(rpms)} packages into mock chroot {self.chroot} (mock --install)"

    def run(self, layout_: Layout, model_source: Path) -> dict[str, Any]:
        stage = self.workdir() / "ollama-smoke"
        stage.mkdir()
        shutil.copy2(smoke_session.__file__, stage / "smoke_session.py")
        shutil.copy2(model_source, stage / "tiny.gguf")
        inside = Path(MOCK_WORKDIR)
        plan = _plan(layout_, inside / "work", inside / "tiny.gguf", inside / "result.json", user="ollama",
                     files=[[path, path] for path in sorted(layout_.files)], **self.timeouts)
        (stage / "plan.json").write_text(json.dumps(plan))
        proc = self._mock("--copyin", stage, MOCK_WORKDIR)
        if proc.returncode != 0:
            return {"errors": [self._failed(proc, "--copyin")]}
        budget = _budget(self.timeouts, layout_)
        proc = self._mock("--chroot", "--", "python3", f"{MOCK_WORKDIR}/smoke_session.py", f"{MOCK_WORKDIR}/plan.json",
                          timeout=budget)
        if proc.returncode != 0:
            return {"errors": [self._failed(proc, "--chroot")]}
        result = self.workdir() / "result.json"
        proc = self._mock("--copyout", f"{MOCK_WORKDIR}/result.json", result)
        if proc.returncode != 0:
            return {"errors": [self._failed(proc, "--copyout")]}
        return _read_result(result)

    def cleanup(self) -> None:
        if self.initialized:
            self._mock("--clean")
        if self.scratch is not None:
            _rmtree(self.scratch)


def _budget(timeouts: Timeouts, layout_: Layout) -> float:
    """Seconds the whole session may take; the session bounds every step itself."""
    return (timeouts["startup_timeout"] + timeouts["create_timeout"] + timeouts["generate_timeout"]
            + timeouts["stop_timeout"] + 60 * len(layout_.gpu_libs) + 60)


def _run_driver(cmd: list[str], result: Path, budget: float) -> dict[str, Any]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        _end_session(proc, result.parent)
        return {"errors": [f"the smoke session did not finish within {budget}s"]}
    except BaseException:
        # Ctrl-C or SIGTERM (KeyboardInterrupt): the session, the server it started and
        # the mount namespace they share must not outlive this command.
        _end_session(proc, result.parent)
        raise
    if proc.returncode != 0 or not result.exists():
        return {"errors": [f"the smoke session failed ({proc.returncode}): {_last(out)}"]}
    return _read_result(result)


SESSION_GRACE = 10.0     # seconds the interrupted session has to stop its server itself


def _end_session(proc: "subprocess.Popen[str]", work: Path) -> None:
    """Stop the session: SIGTERM (it stops its server group and exits); if it has not
    within SESSION_GRACE, SIGKILL to its group and to the server's (named in the work
    directory). Reaped either way."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.communicate(timeout=SESSION_GRACE)
        return                      # it stopped its server itself, in its `finally`
    except subprocess.TimeoutExpired:
        pass
    groups = [proc.pid]
    with contextlib.suppress(OSError, ValueError):
        groups.append(int((work / smoke_session.SERVER_PID).read_text()))
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    proc.communicate()


def _read_result(path: StrPath) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        return data
    except (OSError, ValueError) as error:
        return {"errors": [f"no readable session result: {error}"]}


def _last(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


# ---- judging -----------------------------------------------------------------

def loaded_cpu_variants(result: dict[str, Any]) -> list[str]:
    """CPU variants the server's processes kept.

    llama-server logs "load_backend: loaded CPU backend from <path>" on
    stderr (ggml's default logger, before llama.cpp installs its own), which
    Ollama copies to its log. Without that line the loader trace decides:
    ggml dlopens every candidate (once per search directory) to score it,
    dlcloses it, then dlopens the winner for good, so the one libggml-cpu
    still loaded at the end of a process's trace is its choice. If dlclose
    unloaded nothing (NODELETE libraries), several remain and the trace cannot tell.
    """
    logged = {m.group("variant") for _backend, path in result.get("server_log_backends") or []
              for m in [_CPU_LIB.search(path)] if m}
    if logged:
        return sorted(logged)
    chosen: set[str] = set()
    for events in (result.get("ld_traces") or {}).values():
        kept = _still_loaded(events)
        cpu = {m.group("variant") for m in map(_CPU_LIB.search, kept) if m}
        if len(cpu) == 1:
            chosen |= cpu
    return sorted(chosen)


def _still_loaded(events: Iterable[Sequence[str]]) -> list[str]:
    kept: list[str] = []
    for event, lib in events:
        if lib in kept:
            kept.remove(lib)
        if event == "load":
            kept.append(lib)
    return kept


def judge(report: Report, layout_: Layout, result: dict[str, Any], flags: frozenset[str], arch: str) -> None:
    errors = list(result.get("errors") or [])
    steps = result.get("steps") or []
    facts = report.facts
    facts.update(server_version=result.get("version"), user=result.get("user"),
                 address=result.get("address"), server_log_tail=result.get("server_log_tail", []))

    if "server" in steps:
        # RPM spells pre-releases 0.33.0~rc2, Ollama 0.33.0-rc2.
        version, expected = result.get("version"), layout_.main.version.replace("~", "-")
        report.add("server", "ok" if version == expected else "FAIL",
                   f"ollama serve answered /api/version ({version}) on {result.get('address')} after "
                   f"{result.get('startup_seconds')}s as {result.get('user')}"
                   + ("" if version == expected else f"; the package is version {expected}"))
    else:
        report.add("server", "FAIL", errors[0] if errors else "ollama serve did not start")
    if "server" in steps:
        report.add("model", "ok" if "create" in steps else "FAIL",
                   f"ollama create {smoke_session.MODEL_NAME} from a generated GGUF" if "create" in steps
                   else next((e for e in errors if "create" in e), "ollama create failed"))
    if "create" in steps:
        gen = result.get("generate") or {}
        count = gen.get("eval_count") or 0
        if "generate" in steps and count > 0:
            report.add("generate", "ok", f"{count} tokens: {gen.get('response')!r}")
        else:
            report.add("generate", "FAIL", next((e for e in errors if "generate" in e),
                                                f"no tokens came back: {gen}"))

    _judge_cpu(report, layout_, result, flags, arch, ran="server" in steps)
    _judge_gpu(report, layout_, result)
    _judge_libraries(report, layout_, result)
    if "server" in steps:
        complaints = result.get("server_log_mlx")
        if complaints is not None:
            report.add("mlx quiet", "FAIL" if complaints else "ok",
                       f"the server logged about the MLX runner (not packaged): {complaints[0]}" if complaints
                       else "no warning or error about the MLX runner (not packaged) in the server log")
    facts["errors"] = errors


def _judge_cpu(report: Report, layout_: Layout, result: dict[str, Any], flags: frozenset[str], arch: str,
               ran: bool) -> None:
    loaded = loaded_cpu_variants(result)
    best, best_score = cpu_select.best_variant(layout_.cpu_variants, flags)
    possible, _ = cpu_select.best_variant(list(cpu_levels.X86_VARIANT_FEATURES), flags)
    report.facts["cpu"] = {"installed_variants": layout_.cpu_variants, "loaded": loaded,
                           "best_installed": best, "best_installed_score": best_score,
                           "best_for_this_cpu": possible}
    if arch not in ("x86_64",):
        report.add("cpu variant", "skip", f"loaded {', '.join(loaded) or '?'}; best-variant check is x86_64 only")
    elif not ran:
        report.add("cpu variant", "skip", "the server did not run")
    elif not loaded:
        report.add("cpu variant", "FAIL", "could not tell which libggml-cpu-*.so was loaded "
                                          "(no loader trace, no 'loaded CPU backend' log line)")
    elif loaded != [best]:
        report.add("cpu variant", "FAIL", f"loaded {', '.join(loaded)}; this CPU can run {best} "
                                          f"(score {best_score}) of the installed {', '.join(layout_.cpu_variants)}")
    else:
        note = "" if possible == best else f" (the {possible} variant would suit this CPU better; not installed)"
        report.add("cpu variant", "ok", f"{best} loaded, the best of the installed variants for this CPU{note}")


# The NVIDIA driver's library: a CUDA backend NEEDs it, the driver package (not ours,
# and absent on a GPU-less host) provides it. Its symbols are the driver API's cuXxx.
DRIVER_LIBS = {"libcuda.so.1": re.compile(r"cu[A-Z]\w*")}


def _judge_gpu(report: Report, layout_: Layout, result: dict[str, Any]) -> None:
    probes = result.get("gpu_probes") or {}
    report.facts["gpu"] = []
    for package, lib in sorted(layout_.gpu_libs.items()):
        probe = probes.get(lib)
        traced = (any(lib in _still_loaded(events) for events in (result.get("ld_traces") or {}).values())
                  or any(path == lib for _backend, path in result.get("server_log_backends") or []))
        report.facts["gpu"].append({"package": package, "library": lib, "loads": bool(probe and probe["ok"]),
                                    "loaded_by_server": traced, "error": (probe or {}).get("error")})
        server_error = next((err for path, err in result.get("server_log_load_errors") or [] if path == lib), None)
        driver = next((name for name in DRIVER_LIBS
                       for error in (server_error, (probe or {}).get("error"))
                       if error and f"{name}: cannot open shared object file" in error), None)
        if driver:
            # No driver here (a GPU-less host, or the driver is not installed): ggml skips
            # the backend, as it does for a user without one; the package does not require it.
            report.add(f"gpu {package}", "skip", f"{lib} is not loaded: {driver} (the GPU driver's, "
                                                 "not packaged) is absent, so ggml skips this backend")
        elif server_error:
            report.add(f"gpu {package}", "FAIL", f"the server failed to load {lib}: {server_error}")
        elif probe is None:
            report.add(f"gpu {package}", "skip", f"{lib}: not probed")
        elif probe["ok"]:
            report.add(f"gpu {package}", "ok", f"{lib} loads" + (" (and the server loaded it)" if traced else ""))
        else:
            report.add(f"gpu {package}", "FAIL", f"{lib} does not load: {probe['error']}")
    if not layout_.gpu_libs:
        report.add("gpu", "skip", "no GPU backend package among the RPMs")


def unresolved(entry: dict[str, Any]) -> list[str]:
    """An ldd -r entry's problems, less what the absent GPU driver explains."""
    absent = [lib for lib in entry.get("missing", []) if lib in DRIVER_LIBS]
    problems = [f"{lib} not found" for lib in entry.get("missing", []) if lib not in DRIVER_LIBS]
    problems += [f"undefined symbol {symbol}" for symbol in entry.get("undefined", [])
                 if not any(DRIVER_LIBS[lib].fullmatch(symbol) for lib in absent)]
    if entry.get("error"):
        problems.append(entry["error"])
    return problems


def _judge_libraries(report: Report, layout_: Layout, result: dict[str, Any]) -> None:
    """Every shipped ELF file resolves; each GPU backend's system and private libraries are listed."""
    elves: dict[str, dict[str, Any]] = result.get("elf") or {}
    report.facts["elf"] = elves
    if not elves:
        report.add("libraries", "skip" if "elf" not in result else "FAIL",
                   "no ldd -r result" if "elf" not in result else "no ELF file among the packages' files")
        return
    if all(entry.get("error", "").startswith("ldd not found") for entry in elves.values()):
        report.add("libraries", "skip", "ldd not found where the packages are installed")
        return
    failures = {path: unresolved(entry) for path, entry in sorted(elves.items())}
    failures = {path: problems for path, problems in failures.items() if problems}
    driver = sorted({lib for entry in elves.values() for lib in entry.get("missing", []) if lib in DRIVER_LIBS})
    note = f"; {', '.join(driver)} absent (the GPU driver's, not packaged)" if driver else ""
    if failures:
        shown = [f"{path}: {', '.join(problems)}" for path, problems in failures.items()]
        report.add("libraries", "FAIL", f"{len(failures)} of {len(elves)} ELF files do not resolve: "
                                        + "; ".join(shown[:5]) + (f"; and {len(shown) - 5} more" if len(shown) > 5 else ""))
    else:
        report.add("libraries", "ok", f"ldd -r resolves every library and symbol of the {len(elves)} ELF files{note}")
    for package, lib in sorted(layout_.gpu_libs.items()):
        entry = elves.get(lib)
        if entry is None:
            continue
        absent = [name for name in entry.get("missing", []) if name in DRIVER_LIBS]
        report.add(f"resolve {package}", "FAIL" if lib in failures else "ok",
                   f"system: {', '.join(sorted(entry.get('system', {}))) or '-'}; "
                   f"private: {', '.join(sorted(entry.get('private', {}))) or '-'}"
                   + (f"; absent driver: {', '.join(absent)}" if absent else ""))


def run_smoke(paths: Sequence[StrPath], engine: Engine, cpuinfo: str = "/proc/cpuinfo",
              shape: tinymodel.TinyShape = tinymodel.SHAPES["tiny"]) -> Report:
    """Install, serve, ask; `shape` is the generated model's (tinymodel.SHAPES)."""
    rpms = collect_rpms(paths)
    packages = query_packages(rpms)
    layout_ = layout(packages)
    report = Report(engine.name, sorted(p.name for p in packages))
    flags = cpu_select.read_cpu_flags(cpuinfo)
    try:
        ok, detail = engine.install(rpms)
        report.add("install", "ok" if ok else "FAIL", detail)
        if ok:
            model = engine.workdir() / "tiny.gguf"
            tinymodel.write_tiny_gguf(model, shape)
            result = engine.run(layout_, model)
            judge(report, layout_, result, flags, layout_.main.arch)
    finally:
        engine.cleanup()
    return report
