#!/usr/bin/env python3
"""How many jobs gcc's LTO link gets under CMake: Makefiles vs Ninja.

    .venv/bin/python bench/bench_lto_link.py [--units 16] [--functions 40]

Generates a shared library of N C++ units (nothing fetched), compiles it once
per generator with Fedora's LTO flags (-flto=auto -ffat-lto-objects), then
relinks it alone, `cmake --build -j<cores>` as %cmake_build does, with `-v` on
the link so gcc's lto-wrapper says how it ran the LTRANS jobs. Three links:

- make: the Makefile generator as it is;
- make, stray fds: the same, with the jobserver's descriptor numbers (from
  MAKEFLAGS) open in the link recipe on a pipe that hands out no tokens, as
  when the recipe has no "+" (make closed its jobserver descriptors) and
  something else holds those numbers: gcc then believes in a jobserver and
  the make it runs for the LTRANS jobs runs them one at a time;
- the same with -flto=<jobs> instead of -flto=auto: gcc still takes the
  descriptors for a jobserver (an explicit count does not stop it);
- ninja: the Ninja generator (no MAKEFLAGS at all).

Prints wall and CPU seconds of each link, cores used (CPU / wall) and what
lto-wrapper chose.
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = "-O2 -flto=auto -ffat-lto-objects -g -pipe -fPIC"
# Holds the jobserver descriptors' numbers open on a pipe nobody writes tokens
# to, then runs the link: what gcc takes for a jobserver and gets nothing from.
STRAY_FDS = """#!/bin/sh
fds=$(printf '%s\\n' "$MAKEFLAGS" | sed -n 's/.*--jobserver-auth=\\([0-9]*\\),\\([0-9]*\\).*/\\1 \\2/p')
fifo=$(mktemp -u)
mkfifo "$fifo"
for fd in $fds; do eval "exec $fd<>$fifo"; done
rm -f "$fifo"
exec "$@"
"""


def write_sources(src: Path, units: int, functions: int) -> None:
    src.mkdir(parents=True)
    for t in range(units):
        body = ["#include <algorithm>", "#include <cmath>", "#include <vector>"]
        body.extend(
                f"double f{t}_{f}(const std::vector<double>& v, int k) {{\n"
                f"  double acc = {f}.5;\n"
                "  for (size_t i = 0; i < v.size(); ++i) {\n"
                f"    double x = v[i] * (k + {t}) + acc;\n"
                f"    if (x > {f}) acc += std::sqrt(std::fabs(x)) * {t + 1}; else acc -= x / ({f} + 1.0);\n"
                "    for (int j = 0; j < (k & 7); ++j) acc = acc * 0.999 + j * x;\n"
                "  }\n"
                "  std::vector<double> w(v.rbegin(), v.rend());\n"
                "  std::sort(w.begin(), w.end());\n"
                "  return acc + (w.empty() ? 0 : w[w.size() / 2]);\n}"
                for f in range(functions))
        calls = "".join(f"  s += f{t}_{f}(v, {f});\n" for f in range(functions))
        body.append(f"double tu{t}(const std::vector<double>& v) {{\n  double s = 0;\n{calls}  return s;\n}}")
        (src / f"tu{t}.cpp").write_text("\n".join(body) + "\n")
    names = " ".join(f"tu{t}.cpp" for t in range(units))
    (src / "CMakeLists.txt").write_text(
        f"cmake_minimum_required(VERSION 3.21)\nproject(ltobench CXX)\nadd_library(big SHARED {names})\n")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    cpu0, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, cpu, proc.stdout + proc.stderr


def lto_mode(log: str) -> str:
    found = []
    for pattern in (r"LTO parallelism level set to \d+", r"Using make jobserver",
                    r"jobserver unavailable: using -j1", r"jobserver is not available[^\n]*",
                    r"using serial compilation of \d+ LTRANS jobs"):
        found += sorted(set(re.findall(pattern, log)))
    return "; ".join(found) or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--functions", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    env = dict(os.environ, CXXFLAGS=FLAGS)
    env.pop("MAKEFLAGS", None)
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-lto-") as tmp:
        tmp = Path(tmp)
        write_sources(tmp / "src", args.units, args.functions)
        launcher = tmp / "stray-fds.sh"
        launcher.write_text(STRAY_FDS)
        launcher.chmod(0o755)
        stray = [f"-DCMAKE_CXX_LINKER_LAUNCHER={launcher}"]
        explicit = FLAGS.replace("-flto=auto", f"-flto={args.jobs}")
        cases = [("make", "Unix Makefiles", [], FLAGS),
                 ("make, stray fds", "Unix Makefiles", stray, FLAGS),
                 (f"same, -flto={args.jobs}", "Unix Makefiles", stray, explicit),
                 ("ninja", "Ninja", [], FLAGS)]
        print(f"{args.units} units x {args.functions} functions, {FLAGS}, cmake --build -j{args.jobs}")
        print(f"{'link':<18} {'wall s':>7} {'cpu s':>7} {'cores':>6}  lto-wrapper")
        results = {}
        for label, generator, extra, flags in cases:
            build = tmp / f"build-{generator.split()[0].lower()}{'-explicit' if flags != FLAGS else ''}"
            env["CXXFLAGS"] = flags
            if not build.exists():
                run(["cmake", "-S", str(tmp / "src"), "-B", str(build), "-G", generator,
                     "-DCMAKE_SHARED_LINKER_FLAGS=-v"], env)
                run(["cmake", "--build", str(build), f"-j{args.jobs}"], env)
            run(["cmake", "-U", "CMAKE_CXX_LINKER_LAUNCHER", *extra, str(build)], env)
            for lib in build.glob("libbig.so*"):
                lib.unlink()
            wall, cpu, log = run(["cmake", "--build", str(build), f"-j{args.jobs}"], env)
            results[label] = wall
            print(f"{label:<18} {wall:7.1f} {cpu:7.1f} {cpu / wall:6.2f}  {lto_mode(log)}")
        print(f"ninja / make, stray fds: {results['ninja'] / results['make, stray fds']:.2f} of the wall time")


if __name__ == "__main__":
    if not shutil.which("ninja"):
        sys.exit("needs ninja (Debian/Fedora: ninja-build)")
    main()
