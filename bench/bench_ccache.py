#!/usr/bin/env python3
"""A warm rebuild of the same SRPM with `build --engine rpmbuild --ccache`, against a cold one.

    .venv/bin/python bench/bench_ccache.py [BUILD ARGS...]
    OLLAMA_RPM_REAL_SOURCES=/work/real-sources .venv/bin/python bench/bench_ccache.py

One SRPM (the fixture's, or the real trees' as in bench_phases.py), built three
times into fresh result directories: without ccache, with --ccache and an empty
cache (cold), with --ccache again (warm). Prints wall and CPU seconds of each,
the warm/cold ratio and ccache's hit counts. The cache lives in a temporary
directory and nothing outside it is touched (each build has its own Go build
cache, as in mock). .ci/run prints these figures for the fixture after the tests.
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_phases import REPO, STANDIN, cli, fixture_project, real_project  # noqa: E402


def ccache_stats(env) -> dict[str, int]:
    out = subprocess.run(["ccache", "--print-stats"], env=env, capture_output=True, text=True, check=True).stdout
    stats = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    return {key: int(value) for key, value in stats.items() if value.strip().isdigit()}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    build_args = sys.argv[1:]
    real = os.environ.get("OLLAMA_RPM_REAL_SOURCES")
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-ccache-") as tmp:
        tmp = Path(tmp)
        project, env, default_args, _ = real_project(tmp, Path(real)) if real else fixture_project(tmp)
        # The fixture's Go environment is a copy of os.environ (CI=true included, under CI).
        env = {**os.environ, **env, "PYTHONPATH": str(REPO / "tooling"), "CI": "true",
               "OLLAMA_RPM_CACHE": str(tmp / "cache"), "CCACHE_DIR": str(tmp / "ccache")}
        for step in (["render"], ["sources", "--update-lock"], ["vendor", "--update-lock"]):
            cli(step, project, env, step[0])
        srpm = Path(cli(["srpm", "--outdir", tmp / "srpm", "--macros", STANDIN], project, env, "srpm")
                    .stdout.strip().splitlines()[-1])
        runs = {}
        print(f"{'fixture' if not real else 'real tree ' + real}, {os.cpu_count()} cores, "
              f"build args: {' '.join(build_args or default_args)}")
        print(f"{'build':<22} {'wall s':>8} {'cpu s':>8}  ccache")
        for label, ccache in (("no ccache", False), ("--ccache, cold", True), ("--ccache, warm", True)):
            before = ccache_stats(env) if ccache else {}
            cpu0, t0 = children_cpu(), time.perf_counter()
            cli(["build", "--engine", "rpmbuild", "--srpm", srpm, "--nodeps",
                 "--outdir", tmp / f"results-{len(runs)}", *(build_args or default_args),
                 "--macros", STANDIN, *(["--ccache"] if ccache else [])], project, env, label)
            wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
            runs[label] = wall
            note = ""
            if ccache:
                after = ccache_stats(env)
                delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                hits = delta.get("direct_cache_hit", 0) + delta.get("preprocessed_cache_hit", 0)
                note = f"{hits} hits, {delta.get('cache_miss', 0)} misses"
            print(f"{label:<22} {wall:8.1f} {cpu:8.1f}  {note}")
        print(f"warm / cold: {runs['--ccache, warm'] / runs['--ccache, cold']:.0%} of the wall time; "
              f"cold / no ccache: {runs['--ccache, cold'] / runs['no ccache']:.0%}")


if __name__ == "__main__":
    main()
