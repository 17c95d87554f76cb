#!/usr/bin/env python3
"""Wall, CPU, peak memory and cores used by each phase of the RPM build.

    .venv/bin/python bench/bench_phases.py [--keep DIR] [BUILD ARGS...]
    OLLAMA_RPM_REAL_SOURCES=/work/real-sources .venv/bin/python bench/bench_phases.py

Builds an SRPM (render -> sources -> vendor -> srpm, as tests/test_e2e.py does)
and then `ollama-rpm build --engine rpmbuild` with one extra macro file, used
only here, that runs each rpmbuild scriptlet (%prep, %build, %install,
%check), each CMake call, find-debuginfo and (through PATH) each go command
under bench/phase_timer.py. The spec itself is the product's, unchanged.

Phases: each scriptlet, inside them each CMake configure/build/install, the Go
build and tests, debuginfo extraction (part of %install), and packaging: what
rpmbuild does after the last scriptlet (file lists, dependency generators,
payload compression), cut by timestamps; its CPU is the build's total minus the
scriptlets'. CPU is user + system of the phase's processes; cores = CPU / wall;
peak RSS is the largest single process of the phase.

Default: the Ollama-shaped fixture (tests/fixture), without ROCm, with
Fedora's flags from the macro stand-in. With OLLAMA_RPM_REAL_SOURCES=DIR: the
real trees DIR/ollama-<version>.tar.gz and DIR/llama.cpp-<tag>.tar.gz of
packaging.yaml, CPU backends only (--without rocm --without vulkan), the Go
modules vendored from the module proxy; this takes tens of minutes.
Extra arguments go to `ollama-rpm build` (e.g. --with vulkan). `--package
ollama-ggml-vulkan` builds that split-layout source package alone (with the real
trees, OLLAMA_RPM_REAL_VULKAN_SDK names the Vulkan SDK layout, as for
tests/test_real_upstream.py). After the table: each CMake build's ninja steps
(how many ran at once, the slowest ones: the LTO links).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tooling"), str(REPO / "tests")]

from conftest import copy_project, load_yaml, write_yaml  # noqa: E402
from e2e_support import machine_test_skips  # noqa: E402
from fixture import upstream  # noqa: E402
from fixture.project import make_served_fixture_project  # noqa: E402

STANDIN = REPO / "tests" / "support" / "fedora-macros.standin"
TIMER = HERE / "phase_timer.py"
SCRIPTLETS = ("prep", "buildrequires", "conf", "build", "install", "check")


def timing_macros(path: Path) -> Path:
    """The bench's macro file: the timer in front of every scriptlet, CMake and find-debuginfo."""
    timer = f"{sys.executable} {TIMER}"
    lines = [f"%__spec_{s}_cmd {timer} {s} %{{___build_cmd}}" for s in SCRIPTLETS]
    lines += [f"%__cmake {timer} cmake {shutil.which('cmake')}",
              f"%__find_debuginfo {timer} debuginfo /usr/bin/find-debuginfo"]
    path.write_text("\n".join(lines) + "\n")
    return path


def go_shim(bindir: Path) -> Path:
    """A `go` first on PATH that times the real one."""
    bindir.mkdir(parents=True, exist_ok=True)
    shim = bindir / "go"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} {TIMER} go {shutil.which("go")} "$@"\n')
    shim.chmod(0o755)
    return bindir


def children_usage() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def cli(args, cwd, env, label, check=True):
    proc = subprocess.run([sys.executable, "-m", "ollama_rpm", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"{label} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def fixture_project(tmp: Path):
    project = make_served_fixture_project(tmp)
    env = dict(upstream.go_offline_env())
    return project, env, ["--without", "rocm"], []


def real_project(tmp: Path, sources: Path):
    project = copy_project(tmp / "project")
    cfg = load_yaml(project / "packaging.yaml")
    version, tag = cfg["version"], cfg["llama_cpp"]["tag"]
    for key, name in (("ollama", f"ollama-{version}.tar.gz"), ("llama_cpp", f"llama.cpp-{tag}.tar.gz")):
        tarball = sources / name
        if not tarball.is_file():
            sys.exit(f"OLLAMA_RPM_REAL_SOURCES: {tarball} not found")
        cfg["sources"][key] = tarball.resolve().as_uri()
    cfg["go"]["test_skips"] = [*cfg["go"].get("test_skips", []),
                               *machine_test_skips(sources / f"ollama-{version}.tar.gz", str(version).lstrip("v"))]
    write_yaml(project / "packaging.yaml", cfg)
    return project, {}, ["--without", "rocm", "--without", "vulkan"], []


def report(records, build_wall, build_cpu, build_start, build_end, rpms, title):
    total = build_wall
    stages = [r for r in records if r["kind"] in SCRIPTLETS]
    inner = [r for r in records if r["kind"] not in SCRIPTLETS and r["end"] - r["start"] >= 0.05]
    rows = []
    for stage in sorted(stages, key=lambda r: r["start"]):
        rows.append(("%" + stage["phase"], stage))
        rows += [("  " + sub["phase"], sub) for sub in sorted(inner, key=lambda r: r["start"])
                 if stage["start"] <= sub["start"] <= stage["end"]]
    last_end = max((r["end"] for r in stages), default=build_start)
    packaging = {"start": last_end, "end": build_end,
                 "cpu": max(0.0, build_cpu - sum(r["cpu"] for r in stages)), "maxrss_kib": None}
    rows.append(("packaging (after the scriptlets)", packaging))
    rows.append(("total (ollama-rpm build)", {"start": build_start, "end": build_end, "cpu": build_cpu,
                                               "maxrss_kib": None}))
    print(title)
    print(f"{'phase':<40} {'wall s':>8} {'share':>6} {'cpu s':>8} {'cores':>6} {'peak MiB':>9}")
    for name, r in rows:
        wall = r["end"] - r["start"]
        rss = f"{r['maxrss_kib'] / 1024:9.0f}" if r.get("maxrss_kib") else f"{'-':>9}"
        cores = r["cpu"] / wall if wall > 0 else 0.0
        print(f"{name:<40} {wall:8.1f} {wall / total:6.1%} {r['cpu']:8.1f} {cores:6.2f} {rss}")
    size = 0
    print()
    for rpm in rpms:
        size += rpm.stat().st_size
        print(f"{rpm.stat().st_size / 1024:10.1f} KiB  {rpm.name}")
    print(f"{size / 1024:10.1f} KiB  total, {len(rpms)} RPMs")


def report_ninja_log(path: Path, slowest: int = 8) -> None:
    """One CMake build's steps from its .ninja_log: how many ran side by side on
    average (step time / wall), and the slowest steps (the LTO links show here)."""
    steps: dict[str, tuple[int, int]] = {}
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) == 5 and not line.startswith("#"):
            steps[fields[3]] = (int(fields[0]), int(fields[1]))   # the last run of each output
    if not steps:
        return
    wall = (max(end for _, end in steps.values()) - min(start for start, _ in steps.values())) / 1000
    busy = sum(end - start for start, end in steps.values()) / 1000
    links = sum(end - start for out, (start, end) in steps.items() if out.endswith((".so", ".a")) or ".so." in out or
                "/bin/" in out or out.startswith("bin/")) / 1000
    print(f"\n{path.stem.split('ninja-', 1)[-1]}: {len(steps)} ninja steps, {wall:.0f} s wall, "
          f"{busy:.0f} s of step time ({busy / wall if wall else 0:.2f} at once on average); "
          f"links {links:.0f} s ({links / busy if busy else 0:.0%} of the step time)")
    for out, (start, end) in sorted(steps.items(), key=lambda kv: kv[1][0] - kv[1][1])[:slowest]:
        print(f"{(end - start) / 1000:10.1f} s  {out.rsplit('/', 1)[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the raw phase records to this file")
    parser.add_argument("--package", help="build this source package of the split layout alone "
                        "(e.g. ollama-ggml-vulkan) instead of the single layout's ollama")
    args, build_args = parser.parse_known_args()
    real = os.environ.get("OLLAMA_RPM_REAL_SOURCES")
    tmpdir = None
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        tmp = args.keep.resolve()
    else:
        tmpdir = tempfile.TemporaryDirectory(prefix="ollama-rpm-phases-")
        tmp = Path(tmpdir.name)
    try:
        if real:
            project, env, default_args, extra_macros = real_project(tmp, Path(real))
        else:
            project, env, default_args, extra_macros = fixture_project(tmp)
        # The fixture's Go environment is a copy of os.environ (CI=true included, under CI).
        env = {**os.environ, **env, "PYTHONPATH": str(REPO / "tooling"), "CI": "true",
               "OLLAMA_RPM_CACHE": str(tmp / "cache")}
        layout = ["--layout", "split"] if args.package else []
        if args.package:
            default_args = []
            sdk = os.environ.get("OLLAMA_RPM_REAL_VULKAN_SDK")
            if real and sdk:    # as tests/test_real_upstream.py builds the real Vulkan backend
                env.update(VULKAN_SDK=sdk, CMAKE_PREFIX_PATH=sdk)
        start = time.perf_counter()
        cli(["render", *layout], project, env, "render")
        cli(["sources", "--update-lock"], project, env, "sources")
        cli(["vendor", "--update-lock"], project, env, "vendor")
        srpm = Path(cli(["srpm", *layout, *(["--package", args.package] if args.package else []),
                         "--outdir", tmp / "srpm", "--macros", STANDIN], project, env, "srpm")
                    .stdout.strip().splitlines()[-1])
        print(f"SRPM {srpm.name}: {time.perf_counter() - start:.1f} s (render, sources, vendor, srpm)")
        log = tmp / "phases.jsonl"
        log.unlink(missing_ok=True)
        build_env = dict(env, OLLAMA_RPM_PHASE_LOG=str(log),
                         PATH=f"{go_shim(tmp / 'bench-bin')}{os.pathsep}{env['PATH']}")
        macros = [STANDIN, *extra_macros, timing_macros(tmp / "bench-timing.macros")]
        results = tmp / "results"
        shutil.rmtree(results, ignore_errors=True)
        cpu0, _ = children_usage()
        t0 = time.time()
        # A failed build still reports the phases that ran (their figures hold).
        for old_ninja_log in tmp.glob("ninja-*.log"):
            old_ninja_log.unlink()
        proc = cli(["build", "--engine", "rpmbuild", *layout, "--srpm", srpm, "--nodeps", "--outdir", results,
                    *(build_args or default_args), *[a for m in macros for a in ("--macros", m)]],
                   project, build_env, "build", check=False)
        t1 = time.time()
        cpu1, _ = children_usage()
        records = [json.loads(line) for line in log.read_text().splitlines()]
        if args.json:
            args.json.write_text(json.dumps(records, indent=1) + "\n")
        title = (f"{'real tree ' + real if real else 'fixture'}, {os.cpu_count()} cores, "
                 f"build args: {' '.join(build_args or default_args)}")
        report(records, t1 - t0, cpu1 - cpu0, t0, t1, sorted(results.rglob("*.rpm")), title)
        for ninja_log in sorted(tmp.glob("ninja-*.log")):
            report_ninja_log(ninja_log)
        if proc.returncode != 0:
            sys.exit(f"build failed ({proc.returncode}); the figures above stop there:\n{proc.stdout[-3000:]}")
    finally:
        if tmpdir:
            tmpdir.cleanup()


if __name__ == "__main__":
    main()
