#!/usr/bin/env python3
"""Wall times of `render` and `srpm` (warm cache) on a tiny local fixture.

    .venv/bin/python bench/bench_render_srpm.py [--runs N]

Builds a scratch project in a temporary directory whose Sources are file://
tarballs with the right top directories (the test fixtures), warms the cache and
the vendor tarball once, then times N renders and N SRPM builds. Needs rpmbuild
and Go; touches nothing outside the temporary directory.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tooling"), str(HERE.parent / "tests")]

from ollama_rpm.builders import srpm  # noqa: E402
from ollama_rpm.sources import resolve, vendor  # noqa: E402
from ollama_rpm.specgen import render  # noqa: E402
from ollama_rpm.specgen.config import load_config  # noqa: E402
from source_fixtures import make_project, make_upstream  # noqa: E402


def timed(function, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def show(label, times):
    print(f"{label:<28} runs={len(times):<3} median={statistics.median(times) * 1000:8.1f} ms  "
          f"min={min(times) * 1000:8.1f} ms  max={max(times) * 1000:8.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-bench-") as tmp:
        tmp = Path(tmp)
        os.environ.update(OLLAMA_RPM_CACHE=str(tmp / "cache"), CI="true", GOPROXY="off", GOFLAGS="")
        ollama, llama = make_upstream(tmp / "mirror")
        root = make_project(tmp / "project", ollama.as_uri(), llama.as_uri())
        config = load_config(root / "packaging.yaml")
        def quiet(_line: str) -> None:
            pass

        start = time.perf_counter()
        sset = resolve.resolve(config, resolve.default_source_dir(root))
        resolve.fetch_sources(sset, update_lock=True, report=quiet)
        vendor.build_vendor(sset, update_lock=True, report=quiet)
        print(f"{'warm-up (sources + vendor)':<28} {(time.perf_counter() - start) * 1000:8.1f} ms")

        def do_render():
            _, text = render.load_and_render(root)
            render.write(root / "ollama.spec", text)

        def do_srpm():
            srpm.build_srpm(root, tmp / "out", report=quiet)

        show("render", timed(do_render, args.runs))
        show("srpm (warm cache)", timed(do_srpm, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
