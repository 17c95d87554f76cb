"""bench/runtime.py's pure parts (figures, what it takes from the rendered spec) and its
skip without sources; the benchmark itself needs the real tarballs and half an hour."""

import shutil
import statistics
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import runtime

EXPANDED = """\
%prep
cd 'ollama-1.0'
GIT_CEILING_DIRECTORIES="$PWD" git -C llama.cpp-b1 apply --whitespace=nowarn "$PWD/llama/compat/001-a.patch"
cp -p README.Fedora README.Fedora

%build
export CFLAGS="-O2"
  /usr/bin/cmake -S "llama/server" -B "build-cpu" \\
    -DGGML_CPU_ALL_VARIANTS=ON
/usr/bin/cmake --build "build-cpu" -j2 --verbose --target llama-server llama-quantize
/usr/bin/cmake --build "build-vulkan" -j2 --verbose --target ggml-vulkan
export LDFLAGS="-X=github.com/ollama/ollama/version.Version=1.0 -X=github.com/ollama/ollama/ml.PackageLibOllamaPath=/usr/lib64/ollama"
  go build -o build/ollama .

%install
cmake --install build-cpu
"""


class _Named:
    """A stand-in server for interleave: only its label."""
    def __init__(self, label):
        self.label = label


def test_figures_are_median_with_min_max_and_a_ratio_of_medians():
    stat = runtime.summarise([10.0, 30.0, 12.0, 11.0, 50.0])
    assert stat == runtime.Stat(12.0, 10.0, 50.0)
    assert runtime.fmt_stat(stat) == "12.0 [10.0-50.0]"
    assert runtime.fmt_stat(runtime.summarise([7.25])) == "7.2"          # one value: no spread shown
    assert runtime.fmt_stat(None) == "-"
    assert runtime.fmt_ratio(runtime.Stat(9.0, 8.0, 10.0), runtime.Stat(10.0, 9.0, 11.0)) == "0.90"
    assert runtime.fmt_ratio(None, stat) == "-"
    assert runtime.fmt_mib(2048 * 1024) == "2048"
    with pytest.raises(ValueError):
        runtime.summarise([])


def test_a_row_keeps_each_builds_figures_apart_and_the_table_shows_both():
    row = runtime.Row("zen4", "q4_0", ("ours", "upstream"))
    for figures in ((100.0, 10.0), (110.0, 11.0)):
        row.add("ours", figures)
    row.add("upstream", (200.0, 20.0))
    row.rss = {"ours": 512 * 1024, "upstream": None}
    table = runtime.speed_table([row])
    assert "| zen4 | q4_0 | 105.0 [100.0-110.0] | 200.0 | 0.53 | 10.5 [10.0-11.0] | 20.0 | 0.53 | 512 / - |" in table
    assert table.splitlines()[0].startswith("| variant | type | pp512 ours | pp512 upstream | ratio |")


def test_the_cpu_build_script_stops_at_the_cpu_build_with_the_narrowed_targets():
    script = runtime.cpu_build_script(EXPANDED, runtime.build_targets(["zen4", "x64"]))
    assert script.rstrip().endswith(
        '--target llama-server llama-quantize ggml-cpu-zen4 ggml-cpu-x64')
    assert "-DGGML_CPU_ALL_VARIANTS=ON" in script and 'export CFLAGS="-O2"' in script
    assert "vulkan" not in script and "go build" not in script and "%install" not in script
    assert runtime.compat_patch_lines(EXPANDED) == [EXPANDED.splitlines()[2]]
    assert runtime.go_ldflags(EXPANDED, "/w/run/ours-zen4") == (
        "-X=github.com/ollama/ollama/version.Version=1.0 -X=github.com/ollama/ollama/ml.PackageLibOllamaPath=/w/run/ours-zen4")


def test_a_spec_without_the_cpu_build_line_is_refused_by_name():
    with pytest.raises(runtime.BenchError, match="llama-server llama-quantize"):
        runtime.cpu_build_script(EXPANDED.replace(" llama-quantize\n", "\n"), ["llama-server"])


def test_the_loaded_variant_is_read_from_the_process_maps():
    maps = ("7f00-7f01 r--p 00000000 fd:01 12 /w/run/ours-zen4/libggml-cpu-zen4.so\n"
            "7f01-7f02 r-xp 00001000 fd:01 12 /w/run/ours-zen4/libggml-cpu-zen4.so\n"
            "7f03-7f04 r--p 00000000 fd:01 13 /w/run/ours-zen4/libggml-base.so.0.20.2\n")
    assert runtime.loaded_modules(maps) == {"/w/run/ours-zen4/libggml-cpu-zen4.so"}
    assert runtime.loaded_modules(maps + "7f05-7f06 r--p 0 fd:01 14 /usr/lib64/ollama/libggml-cpu-x64.so\n") == {
        "/w/run/ours-zen4/libggml-cpu-zen4.so", "/usr/lib64/ollama/libggml-cpu-x64.so"}
    assert runtime.loaded_modules("") == set()


def test_a_run_directory_holds_exactly_one_cpu_variant(tmp_path):
    libdir = tmp_path / "lib"
    libdir.mkdir()
    for name in ("llama-server", "libggml-base.so.0", "libggml-cpu-x64.so", "libggml-cpu-zen4.so", "libllama.so.0"):
        (libdir / name).write_text(name)
    (libdir / "libllama.so").symlink_to("libllama.so.0")
    made = runtime.run_dir(libdir, tmp_path / "run", "zen4")
    assert sorted(p.name for p in made.iterdir() if not p.name.startswith(".")) == [
        "libggml-base.so.0", "libggml-cpu-zen4.so", "libllama.so", "libllama.so.0", "llama-server"]
    assert (made / "libllama.so").is_symlink()
    with pytest.raises(runtime.BenchError, match="libggml-cpu-haswell.so"):
        runtime.run_dir(libdir, tmp_path / "run2", "haswell")


@pytest.mark.slow     # rpmspec as a process
@pytest.mark.skipif(not shutil.which("rpmspec"), reason="needs rpmspec")
def test_the_real_rendered_spec_gives_the_cpu_build_and_the_compat_patches():
    expanded = runtime.rendered_spec()
    script = runtime.cpu_build_script(expanded, runtime.build_targets(["zen4", "haswell", "x64"]))
    last = script.rstrip().splitlines()[-1]
    assert last.endswith("--target llama-server llama-quantize ggml-cpu-zen4 ggml-cpu-haswell ggml-cpu-x64"), last
    assert "cmake --build" in last and "build-cpu" in last
    assert "-DGGML_CPU_ALL_VARIANTS=ON" in script and "-DCMAKE_CXX_FLAGS_RELEASE" in script
    assert "-march=" in script and "sed -E 's/(^| )-m(arch|tune)=" in script     # stripped at run time
    assert not any(word in script for word in ("go build", "GGML_HIP", "GGML_VULKAN", "GGML_CUDA", "build-rocm"))
    assert all("git -C llama.cpp-" in line and " apply " in line for line in runtime.compat_patch_lines(expanded))
    assert "ml.PackageLibOllamaPath=/tmp/x" in runtime.go_ldflags(expanded, "/tmp/x")


def _flags_at_cmake(script: str, tmp_path) -> list[str]:
    """CFLAGS, CXXFLAGS and LDFLAGS as the CPU build's configure gets them: the script run by
    bash up to that line, which prints them instead."""
    lines = script.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("/usr/bin/cmake -S"))
    probe = "\n".join(lines[:at]) + '\nprintf "%s\\n" "$CFLAGS" "$CXXFLAGS" "$LDFLAGS"\n'
    proc = subprocess.run(["bash", "-ec", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.slow     # rpmspec and bash as processes
@pytest.mark.skipif(not shutil.which("rpmspec"), reason="needs rpmspec")
def test_ours_less_is_ours_without_the_dropped_flags_in_a_build_directory_of_its_own(tmp_path):
    expanded = runtime.rendered_spec()
    targets, variants = runtime.build_targets(["zen4"]), ["zen4"]
    ours = runtime.ours_script(expanded, targets, variants, tmp_path / "build-cpu", tmp_path / "out")
    dropped = ["-fcf-protection", "-Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3", "-Wl,--as-needed"]
    less = runtime.ours_less_script(expanded, targets, variants, dropped, tmp_path / "build-cpu-less",
                                    tmp_path / "less")
    ours_flags, less_flags = _flags_at_cmake(ours, tmp_path), _flags_at_cmake(less, tmp_path)
    for had, kept in zip(ours_flags, less_flags, strict=True):
        assert kept.split() == [w for w in had.split() if w not in dropped]
    assert "-fcf-protection" in ours_flags[0] and "-O3" in less_flags[0] and "-O2" not in less_flags[1].split()
    assert "-Wl,--as-needed" in ours_flags[2] and "-Wl,-z,now" in less_flags[2]      # %cmake's default LDFLAGS
    assert '-B "build-cpu-less"' in less and '--build "build-cpu-less"' in less and '"build-cpu"' not in less
    assert less.replace("build-cpu-less", "build-cpu").replace(runtime.drop_flags_lines(dropped), "") \
        .replace(str(tmp_path / "less"), str(tmp_path / "out")) == ours
    with pytest.raises(runtime.BenchError, match="-fno-such-flag not among the flags"):
        runtime.ours_less_script(expanded, targets, variants, ["-fno-such-flag"], tmp_path / "build-cpu-less",
                                 tmp_path / "less")


def test_a_third_build_is_measured_in_the_same_rounds_and_tabled_against_ours():
    calls = []

    def measure(server, rep):
        calls.append(server.label.split(":")[0])
        return {"ours": (100.0, 10.0), "upstream": (110.0, 11.0), "ours-less": (105.0, 12.0)}[calls[-1]]

    row = runtime.Row("zen4", "q4_0", ("ours", "upstream", "ours-less"))
    runtime.interleave(row, [(_Named(f"{b}:zen4-q4_0"), measure) for b in row.labels], 3)
    assert calls == ["ours", "upstream", "ours-less", "upstream", "ours-less", "ours",
                     "ours-less", "ours", "upstream", "ours", "upstream", "ours-less"]
    assert [runtime.less_label(n) for n in (1, 2)] == ["ours-less", "ours-less2"]
    assert row.ratio("tg") == "0.91" and row.ratio("tg", ("ours-less", "ours")) == "1.20"
    assert "| zen4 | q4_0 | 105.0 | 100.0 | 1.05 | 12.0 | 10.0 | 1.20 |" in runtime.speed_table([row], ("ours-less", "ours"))
    assert "| zen4 | q4_0 | 100.0 | 110.0 | 0.91 |" in runtime.speed_table([row])


@pytest.mark.slow     # the script as a process
def test_without_sources_the_benchmark_says_why_and_skips(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "runtime.py"), "--sources", str(tmp_path),
                           "--work", str(tmp_path / "work")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("runtime benchmark skipped: ollama-"), proc.stdout
    assert str(tmp_path) in lines[0]
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("generator", ["ninja", "make"])
def test_unmeasured_variants_leave_libggmls_dependencies_and_nothing_else_changes(tmp_path, generator):
    build = tmp_path / "build"
    (build / "CMakeFiles").mkdir(parents=True)
    if generator == "ninja":
        path = build / "build.ninja"
        keep = ("build bin/libggml-cpu-sse42.so: CXX_MODULE_LIBRARY_LINKER__ggml-cpu-sse42_Release a.o\n"
                "build ggml-cpu-sse42: phony bin/libggml-cpu-sse42.so\n")
        path.write_text("build bin/libggml.so.0.20.2: CXX_SHARED_LIBRARY_LINKER__ggml_Release r.o | bin/libggml-base.so"
                        " || bin/libggml-base.so bin/libggml-cpu-sse42.so bin/libggml-cpu-x64.so bin/libggml-cpu-zen4.so\n"
                        + keep)
        want = ("build bin/libggml.so.0.20.2: CXX_SHARED_LIBRARY_LINKER__ggml_Release r.o | bin/libggml-base.so"
                " || bin/libggml-base.so bin/libggml-cpu-x64.so bin/libggml-cpu-zen4.so\n" + keep)
    else:
        path = build / "CMakeFiles" / "Makefile2"
        rule = "_deps/llama_cpp-build/ggml/src/CMakeFiles/ggml.dir/all: _deps/llama_cpp-build/ggml/src/CMakeFiles/{}.dir/all\n"
        keep = "_deps/llama_cpp-build/ggml/src/CMakeFiles/ggml-cpu-sse42.dir/all: x\n"
        path.write_text("".join(rule.format(t) for t in ("ggml-base", "ggml-cpu-sse42", "ggml-cpu-x64")) + keep)
        want = "".join(rule.format(t) for t in ("ggml-base", "ggml-cpu-x64")) + keep
    proc = subprocess.run(["sh", "-ec", runtime.skip_unmeasured(build, ["zen4", "x64"])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == want


class _Answers:
    """A real HTTP server on 127.0.0.1 that answers each POST with the next canned body
    and keeps the request bodies (Ollama and llama-server stand at their HTTP boundary)."""

    def __init__(self, answers):
        import http.server
        import json
        import threading
        self.requests, answers = [], list(answers)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                outer.requests.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                data = json.dumps(answers.pop(0)).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.server = runtime.Server("fake:zen4-f16", self.httpd.server_address[1], None, None)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


_OLLAMA_PP = {"done": True, "prompt_eval_count": 513, "prompt_eval_duration": 2_000_000_000,
              "eval_count": 1, "eval_duration": 1000}


def test_ollama_figures_come_from_its_counts_and_durations_with_llama_servers_sampling():
    fake = _Answers([_OLLAMA_PP, {"done": True, "prompt_eval_count": 2, "prompt_eval_duration": 1,
                                  "eval_count": 128, "eval_duration": 1_600_000_000}])
    try:
        pp, tg = runtime.measure_ollama(fake.server, "bench-f16", 2, 1)
    finally:
        fake.close()
    assert (round(pp, 1), round(tg, 1)) == (256.5, 80.0)
    (_, first), (_, second) = fake.requests
    assert first["options"]["num_predict"] == 1 and second["options"]["num_predict"] == 128
    for key, value in runtime.SAMPLING.items():       # the same sampler chain llama-server gets
        assert second["options"][key] == value, key
    assert runtime.SAMPLING["repeat_penalty"] > 1


def test_an_ollama_answer_cut_by_its_repeat_guard_is_named_not_counted():
    # Ollama v0.32.15 ends an answer after 31 identical tokens with no final chunk:
    # {"done": false} and no counts, which the first bench run read as "None generated".
    fake = _Answers([_OLLAMA_PP, {"response": "lef lef lef", "done": False}])
    try:
        with pytest.raises(runtime.BenchError, match=r"stopped before its final answer .*repeat limit"):
            runtime.measure_ollama(fake.server, "bench-f16", 2, 0)
    finally:
        fake.close()


def test_llama_server_gets_the_same_sampling_and_its_own_timings():
    timings = {"prompt_n": 512, "prompt_per_second": 470.5, "predicted_n": 128, "predicted_per_second": 81.25}
    fake = _Answers([{"timings": timings}, {"timings": timings}])
    try:
        assert runtime.measure_llama(fake.server, 32000, 0) == (470.5, 81.25)
    finally:
        fake.close()
    for path, body in fake.requests:
        assert path == "/completion" and body["ignore_eos"] is True
        assert {k: body[k] for k in runtime.SAMPLING} == runtime.SAMPLING


@pytest.mark.skipif(not (shutil.which("cmake") and shutil.which("cc")), reason="cmake and a C compiler are required")
def test_new_flags_start_a_new_tree_and_other_targets_reuse_the_old_one(tmp_path):
    # CMake keeps a tree's first CFLAGS in its cache; a rebuild in the old tree kept the
    # old flags (session 6's quiet run measured such a stale tree). run_build starts over
    # when the configure part changes, and builds in the old tree when only targets change.
    project = tmp_path / "src"
    project.mkdir()
    (project / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.16)\nproject(p C)\n"
                                            "add_executable(llama-server main.c)\nadd_executable(extra main.c)\n")
    (project / "main.c").write_text("int main(void) { return 0; }\n")
    place = runtime.Place(tmp_path / "work")
    build = runtime.Build("ours", tmp_path / "build-cpu", tmp_path / "out")

    def configure(flags):
        return f"export CFLAGS={flags!r}\ncmake -S {project} -B {build.build_dir} >/dev/null\n"

    def script(flags, targets):
        return (configure(flags) + f"cmake --build {build.build_dir} --target {' '.join(targets)} >/dev/null\n"
                f"mkdir -p {build.libdir}\ncp {build.build_dir}/llama-server {build.libdir}/\n")

    def run(flags, targets):
        return runtime.run_build(place, runtime.Build("ours", build.build_dir, build.libdir),
                                 script(flags, targets), tmp_path, targets, configure(flags))

    def cached_flags():
        return runtime.cmake_cache_flags(build.build_dir / "CMakeCache.txt").get("CMAKE_C_FLAGS")

    assert run("-O2 -g", ["llama-server"]).seconds is not None
    assert cached_flags() == "-O2 -g"
    assert run("-O2 -g", ["llama-server"]).seconds is None              # same script: reused
    marker = build.build_dir / "kept-tree"
    marker.write_text("")
    run("-O2 -g", ["llama-server", "extra"])                             # more targets: same tree
    assert marker.exists() and (build.build_dir / "extra").exists()
    run("-O3 -g", ["llama-server", "extra"])                             # new flags: a new tree
    assert not marker.exists() and cached_flags() == "-O3 -g"


def test_one_ollama_binary_serves_each_variant_through_its_library_symlink(tmp_path):
    # The Go binary's library directory is baked in (-X ...PackageLibOllamaPath), and our patch
    # takes it as given (no EvalSymlinks): a symlink moved between the run directories
    # gives one binary each variant's directory in turn.
    link = tmp_path / "run" / "ollama-libdir"
    link.parent.mkdir()
    for variant in ("zen4", "haswell"):
        (tmp_path / variant).mkdir()
        runtime.point_libdir(link, tmp_path / variant)
        assert link.resolve() == tmp_path / variant
    assert "ml.PackageLibOllamaPath=" + str(link) in runtime.go_ldflags(EXPANDED, str(link))
    patch = "".join(p.read_text() for p in sorted((REPO / "patches").glob("*.patch")))
    assert "return filepath.Clean(PackageLibOllamaPath)" in patch


def test_the_pages_command_names_no_directory_of_this_machine():
    shown = runtime.shown_command(["--sources", "/work/real-sources", "--work=/tmp/w", "--reps", "5",
                                   "--chroot", "/srv/sid", "--write-doc"])
    assert shown == (".venv/bin/python bench/runtime.py --sources $SOURCES --work=$WORKDIR --reps 5 "
                     "--chroot $CHROOT --write-doc")


def test_the_ratio_pairs_each_repetition_so_a_drifting_machine_cancels_out():
    # the machine slows down between repetitions; within each, ours is 5% faster
    row = runtime.Row("zen4", "f16", ("ours", "upstream"))
    for speed in (100.0, 60.0, 80.0):
        row.add("ours", (speed * 1.05, 10.0))
        row.add("upstream", (speed, 10.0))
    assert row.ratio("pp") == "1.05"            # min = max: one figure
    assert row.ratio("tg") == "1.00"
    row.add("ours", (50.0, 10.0))                 # unpaired: back to the ratio of the medians
    assert row.ratio("pp") == f"{statistics.median([105.0, 63.0, 84.0, 50.0]) / 80.0:.2f}"
    row2 = runtime.Row("x64", "q4_0", ("ours", "upstream"))
    for ours, theirs in ((10.0, 10.0), (9.0, 10.0), (12.0, 10.0)):
        row2.add("ours", (ours, 1.0))
        row2.add("upstream", (theirs, 1.0))
    assert row2.ratio("pp") == "1.00 [0.90-1.20]"
    assert "| x64 | q4_0 | 10.0 [9.0-12.0] | 10.0 | 1.00 [0.90-1.20] |" in runtime.speed_table([row2])


def test_the_rounds_alternate_which_server_goes_first():
    calls = []

    def measure(server, rep):
        calls.append((rep, server.label))
        return (1.0, 1.0)

    row = runtime.Row("zen4", "q4_0", ("ours", "upstream"))
    runtime.interleave(row, [(_Named("ours:zen4-q4_0"), measure), (_Named("upstream:zen4-q4_0"), measure)], 4)
    firsts = [label for i, (rep, label) in enumerate(calls) if i % 2 == 0]
    assert firsts == ["ours:zen4-q4_0", "upstream:zen4-q4_0"] * 2 + ["ours:zen4-q4_0"]
    assert len(row.pp["ours"]) == len(row.pp["upstream"]) == 4       # the warm-up is not counted
