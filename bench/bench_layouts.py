#!/usr/bin/env python3
"""Wall clock of the single and the split layout on the fixture, and what it means for Copr.

    .venv/bin/python bench/bench_layouts.py [--jobs N] [--rounds N]

One fixture project (tests/fixture, file:// Sources, the default backends minus
ROCm, which the fixture lacks): render, sources and vendor once; then per layout
`srpm --layout L` and `build --engine rpmbuild --layout L`, the layouts taking
turns for `--rounds` rounds (the median is printed: a shared machine is noisy).
The split build's
output is timestamped line by line, so the ollama package's and each backend
package's own build time are read from one run. Prints the figures, the RPM
sizes, and the wall clock Copr would see (single: one build does everything;
split: ollama, then the backends as one batch side by side).

Touches nothing outside a temporary directory (and Go's build cache).
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tooling"), str(REPO / "tests")]

from fixture import upstream  # noqa: E402
from fixture.project import make_served_fixture_project  # noqa: E402

STANDIN = REPO / "tests" / "support" / "fedora-macros.standin"
# PlainDisplay's lines: "[<label>] building: ..." and "[<label>] done: ..."; the split
# layout labels each build "<package> <arch>", the single layout "<arch>".
_LINE = re.compile(r"^\[(?P<label>[^\]]+)\] (?P<what>building|done|FAILED)\b")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="split layout: backend builds at once (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="builds per layout, taking turns (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-bench-layouts-") as tmp:
        tmp = Path(tmp)
        project = make_served_fixture_project(tmp)
        env = dict(upstream.go_offline_env(), PYTHONPATH=str(REPO / "tooling"), CI="true",
                   OLLAMA_RPM_CACHE=str(tmp / "cache"))
        for label, cli in (("sources", ["sources", "--update-lock"]), ("vendor", ["vendor", "--update-lock"])):
            timed(label, cli, project, env)

        runs = {"single": [], "split": []}
        for round_ in range(args.rounds):
            for layout in ("single", "split"):
                srpm_out = tmp / f"srpm-{layout}-{round_}"
                srpm_time, out = timed(f"srpm --layout {layout}", ["srpm", "--layout", layout, "--outdir",
                                                                   str(srpm_out), "--macros", str(STANDIN)],
                                       project, env)
                srpms = out.split()
                results = tmp / f"results-{layout}-{round_}"
                build = ["build", "--engine", "rpmbuild", "--layout", layout, "--nodeps", "--without", "rocm",
                         "--resultdir", str(results), "--macros", str(STANDIN), "--jobs", str(args.jobs),
                         *[a for s in srpms for a in ("--srpm", s)]]
                total, packages = timed_build(f"build --layout {layout}", build, project, env)
                runs[layout].append({"srpm": srpm_time, "build": total, "packages": packages,
                                     "rpms": sorted(results.rglob("*.rpm"))})
        figures = {layout: _median_run(rs) for layout, rs in runs.items()}

        print()
        print("package builds (rpmbuild engine, this machine):")
        for layout, data in figures.items():
            for name, seconds in data["packages"].items():
                print(f"  {layout:<6}  {name:<22} {seconds:7.1f} s")
        single = figures["single"]["build"]
        split = figures["split"]
        main_time = split["packages"].get("ollama", 0.0)
        backends = {n: s for n, s in split["packages"].items() if n != "ollama"}
        fanout = main_time + max(backends.values(), default=0.0)
        print()
        print(f"{'':<44}{'single':>9}{'split':>9}")
        print(f"{'srpm step (all SRPMs)':<44}{figures['single']['srpm']:8.1f}s{split['srpm']:8.1f}s")
        print(f"{'build step on this machine (sequential)':<44}{single:8.1f}s{split['build']:8.1f}s")
        print(f"{'Copr wall: one build | ollama, then batch':<44}{single:8.1f}s{fanout:8.1f}s")
        print(f"  split/single build ratio on this machine: {split['build'] / single:.2f}")
        print("  backend package alone vs the whole single build: "
              + ", ".join(f"{n} {s / single:.2f}" for n, s in backends.items()))
        print()
        print("RPM sizes:")
        for layout, data in figures.items():
            size = sum(r.stat().st_size for r in data["rpms"] if not r.name.endswith(".src.rpm"))
            print(f"  {layout:<6} {len(data['rpms']):3d} RPMs, {size / 1024:9.1f} KiB")


def _median_run(runs):
    """The run whose build time is the median (its own per-package figures with it)."""
    ordered = sorted(runs, key=lambda run: run["build"])
    return ordered[(len(ordered) - 1) // 2]


def timed(label, args, cwd, env):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ollama_rpm", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{label} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    print(f"{label:<28} {elapsed:7.1f} s", flush=True)
    return elapsed, proc.stdout


def timed_build(label, args, cwd, env):
    """(total seconds, {package: seconds}) read from the build's line-by-line output
    (builds running side by side with --jobs are told apart by their labels)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ollama_rpm", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    packages, began = {}, {}
    lines = []
    for line in proc.stdout:
        lines.append(line)
        match = _LINE.match(line)
        if not match:
            continue
        target = match.group("label")
        package = target.split()[0] if " " in target else "ollama"
        if match.group("what") == "building":
            began[package] = time.perf_counter()
        else:
            packages[package] = time.perf_counter() - began.get(package, start)
    code = proc.wait()
    elapsed = time.perf_counter() - start
    if code != 0:
        sys.exit(f"{label} failed ({code}):\n{''.join(lines[-40:])}")
    print(f"{label:<28} {elapsed:7.1f} s", flush=True)
    return elapsed, packages


if __name__ == "__main__":
    main()
