"""Log decoding on recorded-shape samples: mock exit codes, failing phase, first error, progress."""

import pytest

from mock_support import LOGS
from ollama_rpm.builders import buildlog
from ollama_rpm.builders.progress import PlainDisplay


def lines(name):
    return (LOGS / name).read_text().splitlines()


@pytest.mark.parametrize("code,words,log", [
    (10, "build failed", "build.log"),
    (20, "chroot setup failed", "root.log"),
    (30, "package manager failed", "root.log"),
    (40, "bad SRPM", None),
    (60, "locked by another mock process", None),
    (90, "bootstrap chroot could not be prepared", "root.log"),
    (80, "unprivileged container", None),
])
def test_mock_exit_codes(code, words, log):
    description, log_name = buildlog.decode_mock_exit(code)
    assert words in description
    assert log_name == log


def test_unknown_and_signal_exit_codes():
    assert buildlog.decode_mock_exit(137) == ("mock was killed by signal 9", None)
    assert buildlog.decode_mock_exit(-15) == ("mock was killed by signal 15", None)
    assert buildlog.decode_mock_exit(42) == ("mock failed with unknown exit code 42", "root.log")


@pytest.mark.parametrize("sample,phase", [
    ("nvcc-error.build.log", "%build"),
    ("cmake-error.build.log", "%build"),
    ("go-error.build.log", "%build"),
    ("files-error.build.log", "files"),
    ("success.build.log", "files"),      # nothing failed: the last phase reached
])
def test_failing_phase(sample, phase):
    assert buildlog.failing_phase(lines(sample)) == phase


def test_failing_phase_install_and_check():
    log = ["Executing(%build): /bin/sh -e /var/tmp/rpm-tmp.a", "Executing(%install): /bin/sh -e /var/tmp/rpm-tmp.b",
           "+ install -m 0755 build/ollama /x", "install: cannot stat 'build/ollama': No such file or directory",
           "error: Bad exit status from /var/tmp/rpm-tmp.b (%install)"]
    assert buildlog.failing_phase(log) == "%install"
    assert buildlog.failing_phase(log[:2] + ["Executing(%check): /bin/sh -e /var/tmp/rpm-tmp.c",
                                             "error: Bad exit status from /var/tmp/rpm-tmp.c (%check)"]) == "%check"
    assert buildlog.failing_phase(["error: Failed build dependencies:", "\tcmake >= 3.24 is needed by x"]) == \
        "build dependencies"
    assert buildlog.failing_phase([]) is None


@pytest.mark.parametrize("sample,kind,line,message", [
    ("nvcc-error.build.log", "nvcc",
     '/usr/include/bits/mathcalls.h(206): error: exception specification is incompatible with that of previous '
     'function "cospi" (declared at line 2601 of /usr/local/cuda-12.9/bin/../targets/x86_64-linux/include/crt/math_functions.h)',
     None),
    ("cmake-error.build.log", "CMake",
     "CMake Error at /usr/share/cmake/Modules/FindPackageHandleStandardArgs.cmake:227 (message):",
     "CMake Error at /usr/share/cmake/Modules/FindPackageHandleStandardArgs.cmake:227 (message): "
     'Could NOT find Vulkan (missing: glslc) (found version "1.4.313")'),
    ("go-error.build.log", "Go", 'llm/server.go:27:2: cannot find package "github.com/ollama/ollama/x/imagegen" in:',
     'llm/server.go:27:2: cannot find package "github.com/ollama/ollama/x/imagegen" in: '
     "/builddir/build/BUILD/ollama-0.32.15-build/vendor/github.com/ollama/ollama/x/imagegen"),
    ("files-error.build.log", "rpm files",
     "error: File not found: /builddir/build/BUILD/ollama-0.32.15-build/BUILDROOT/usr/lib64/ollama/libggml-cpu-x64.so",
     None),
    ("missing-deps.root.log", "missing build dependency", "No match for argument: cuda-nvcc-12-9", None),
    ("chroot-error.root.log", "dnf",
     ">>> Curl error (6): Couldn't resolve host name for https://mirrors.fedoraproject.org/metalink?repo=fedora-42"
     "&arch=x86_64 [Could not resolve host: mirrors.fedoraproject.org]", None),
    ("bad-srpm.console", "mock", "ERROR: Error reading SRPM /tmp/broken.src.rpm: error reading header from package",
     None),
    ("locked.console", "mock", "ERROR: Build root is locked by another process.", None),
])
def test_first_error(sample, kind, line, message):
    excerpt = buildlog.first_error(lines(sample), sample)
    assert excerpt.kind == kind
    assert excerpt.line == line
    assert excerpt.message == (message or line)
    assert lines(sample)[excerpt.line_no - 1].endswith(line)
    numbers = [number for number, _ in excerpt.context]
    assert numbers == list(range(max(1, excerpt.line_no - 3), min(len(lines(sample)), excerpt.line_no + 4) + 1))


def test_first_error_skips_warnings_make_noise_and_shell_traces():
    log = ["+ grep -q 'error: ' x.log",
           "foo.c:10:3: warning: unused variable 'x' [-Wunused-variable]",
           "make[2]: *** [foo.o] Error 1",
           "bar.c:12:1: error: expected ';' before '}' token",
           "error: Bad exit status from /var/tmp/rpm-tmp.a (%build)"]
    excerpt = buildlog.first_error(log)
    assert (excerpt.line_no, excerpt.kind) == (4, "compiler")
    # With no primary error, make's summary and rpmbuild's line are the fallback.
    excerpt = buildlog.first_error(log[:3] + log[4:])
    assert (excerpt.line_no, excerpt.kind) == (3, "make")


def test_no_error_in_successful_log():
    assert buildlog.first_error(lines("success.build.log")) is None
    assert buildlog.first_error(lines("success.root.log")) is None


def test_root_log_prefix_is_dropped():
    assert buildlog.strip_mock_prefix("DEBUG util.py:459:  No match for argument: x") == "No match for argument: x"
    assert buildlog.strip_mock_prefix("+ cd /builddir") == "+ cd /builddir"


def test_excerpt_render_marks_the_error_line():
    excerpt = buildlog.first_error(lines("go-error.build.log"), "out/f/build.log")
    rendered = excerpt.render().splitlines()
    assert rendered[0] == f"first error (Go) at out/f/build.log:{excerpt.line_no}:"
    marked = [line for line in rendered if line.startswith("  > ")]
    assert marked == [f"  > {excerpt.line_no} | {excerpt.line}"]
    assert len(rendered) == 1 + len(excerpt.context)


def test_tracker_follows_a_mock_build():
    tracker = buildlog.Tracker()
    for line in lines("success.state.log"):
        tracker.feed_state(line)
    for line in lines("success.root.log"):
        tracker.feed_root(line)
    for line in lines("success.build.log"):
        tracker.feed(line)
    tracker.finish()
    keys = [step.key for step in tracker.steps]
    assert keys == ["bootstrap", "chroot", "deps", "%mkbuilddir", "%prep", "%build", "cmake:cpu", "cmake:cuda",
                    "go", "%install", "%check", "files"]
    assert all(step.done for step in tracker.steps)
    percents = {step.key: step.percent for step in tracker.steps}
    assert percents["cmake:cpu"] == 100 and percents["cmake:cuda"] == 100 and percents["go"] is None
    assert tracker.rpms == ["/builddir/build/SRPMS/ollama-0.32.15-1.fc43.src.rpm",
                            "/builddir/build/RPMS/ollama-0.32.15-1.fc43.x86_64.rpm",
                            "/builddir/build/RPMS/ollama-cuda-0.32.15-1.fc43.x86_64.rpm"]


def test_tracker_percentages_and_ninja():
    seen = []
    tracker = buildlog.Tracker(on_change=lambda t: seen.append((t.current.key, t.current.percent)))
    for line in ["Executing(%build): /bin/sh -e x", '+ /usr/bin/cmake --build "build-rocm" -j2',
                 "[ 45%] Building HIP object a.o", "[ 45%] Building HIP object b.o",
                 "+ /usr/bin/cmake -S llama/server -B build-vulkan -G Ninja", "[3/12] Building CXX object c.o",
                 "[12/12] Linking CXX shared module libggml-vulkan.so"]:
        tracker.feed(line)
    assert seen == [("%build", None), ("cmake:rocm", None), ("cmake:rocm", 45), ("cmake:vulkan", None),
                    ("cmake:vulkan", 25), ("cmake:vulkan", 100)]


def test_percent_lines_outside_build_are_ignored():
    tracker = buildlog.Tracker()
    for line in ["Executing(%install): /bin/sh -e x", "[ 50%] Installing", "+ /usr/bin/cmake --install build-cpu"]:
        tracker.feed(line)
    assert [(s.key, s.percent) for s in tracker.steps] == [("%install", None)]


def test_plain_display_prints_steps_and_deciles(capsys):
    display = PlainDisplay()
    tracker = buildlog.Tracker(on_change=display.update)
    display.start("fedora-43-x86_64")
    for line in ["Executing(%build): x", "+ cmake --build build-cuda", "[  3%] a", "[  9%] b", "[ 12%] c",
                 "[ 57%] d", "[100%] e", "+ go build -o build/ollama ."]:
        tracker.feed(line)
    display.finish(True, "2 RPMs")
    assert capsys.readouterr().out.splitlines() == [
        "[fedora-43-x86_64] building",
        "[fedora-43-x86_64] %build",
        "[fedora-43-x86_64] CMake build: cuda",
        "[fedora-43-x86_64] CMake build: cuda 10%",
        "[fedora-43-x86_64] CMake build: cuda 50%",
        "[fedora-43-x86_64] CMake build: cuda 100%",
        "[fedora-43-x86_64] Go build",
        "[fedora-43-x86_64] done: 2 RPMs",
    ]


def test_live_display_only_on_a_terminal(monkeypatch):
    import importlib.util
    import io

    from ollama_rpm.builders import progress

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    live = progress.RichDisplay if importlib.util.find_spec("rich") else progress.PlainDisplay
    assert type(progress.make_display(Tty())) is live
    assert isinstance(progress.make_display(io.StringIO()), progress.PlainDisplay)
    monkeypatch.setenv("CI", "true")
    assert isinstance(progress.make_display(Tty()), progress.PlainDisplay)


def test_rich_display_escapes_log_text():
    """Log text like `[/usr/bin]` must not be read as rich markup (skipped without python3-rich)."""
    import io
    rich = pytest.importorskip("rich")
    from rich import console, live, markup, spinner, table

    from ollama_rpm.builders import progress
    out = io.StringIO()
    display = progress.RichDisplay((console, live, table, spinner, markup), out)
    tracker = buildlog.Tracker(on_change=display.update)
    display.start("fedora-43-x86_64", "mock -r x.cfg")
    tracker.feed("Executing(%build): x")
    display.finish(False, "make[2]: *** [foo.o] Error 1 [/usr/bin/ld]")
    text = out.getvalue()
    assert "FAILED: make[2]: *** [foo.o] Error 1 [/usr/bin/ld]" in text
    assert "%build" in text
    assert rich is not None
