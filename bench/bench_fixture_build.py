#!/usr/bin/env python3
"""Wall time of each step of the fixture build, and the size of what it makes.

    .venv/bin/python bench/bench_fixture_build.py

render -> sources -> vendor -> srpm -> build --engine rpmbuild on the
Ollama-shaped fixture (tests/fixture), the same pipeline as tests/test_e2e.py,
with file:// Sources. Prints seconds per step and the size of every RPM.
Touches nothing outside a temporary directory (and Go's build cache).
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tooling"), str(REPO / "tests")]

from fixture import upstream  # noqa: E402
from fixture.project import make_served_fixture_project, march_macros  # noqa: E402

STANDIN = REPO / "tests" / "support" / "fedora-macros.standin"


def main():
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-bench-") as tmp:
        tmp = Path(tmp)
        project = make_served_fixture_project(tmp)
        march = march_macros(tmp / "march.macros")
        env = dict(upstream.go_offline_env(), PYTHONPATH=str(REPO / "tooling"), CI="true",
                   OLLAMA_RPM_CACHE=str(tmp / "cache"))
        steps = [
            ("render", ["render"]),
            ("sources (cold cache)", ["sources", "--update-lock"]),
            ("vendor", ["vendor", "--update-lock"]),
            ("srpm", ["srpm", "--outdir", str(tmp / "srpm"), "--macros", str(STANDIN)]),
            ("srpm (warm cache)", ["srpm", "--outdir", str(tmp / "srpm2"), "--macros", str(STANDIN)]),
        ]
        total = 0.0
        for label, args in steps:
            total += run(label, args, project, env)
        srpm = next((tmp / "srpm").glob("*.src.rpm"))
        total += run("build (rpmbuild)", ["build", "--engine", "rpmbuild", "--srpm", str(srpm), "--nodeps",
                                          "--without", "rocm", "--outdir", str(tmp / "results"),
                                          "--macros", str(STANDIN), "--macros", str(march)], project, env)
        print(f"{'total':<24} {total:7.2f} s")
        for rpm in sorted((tmp / "results").rglob("*.rpm")):
            print(f"{rpm.stat().st_size / 1024:9.1f} KiB  {rpm.name}")


def run(label, args, cwd, env):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ollama_rpm", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{label} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    print(f"{label:<24} {elapsed:7.2f} s")
    return elapsed


if __name__ == "__main__":
    main()
