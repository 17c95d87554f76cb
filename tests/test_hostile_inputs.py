"""Hostile local input: each class one parametrized test, each case a real `ollama-rpm`
process that exits with its documented code, one stderr line, no traceback, and leaves
the files as they were."""

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_project, run_cli
from hostile_support import refused, snapshot
from source_fixtures import (
    LLAMA_TARBALL,
    OLLAMA_TARBALL,
    make_project,
    make_upstream,
    pinned_project,
)

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine

ENV = {"OLLAMA_RPM_RETRIES": "0", "OLLAMA_RPM_RETRY_BASE_DELAY": "0", "CI": "true"}


@pytest.fixture
def env(tmp_path):
    return dict(ENV, OLLAMA_RPM_CACHE=str(tmp_path / "cache"))


@pytest.fixture
def pinned(tmp_path, env):
    return pinned_project(tmp_path, env)


# --- files that are not what they claim ------------------------------------------------

def _write(path, data):
    Path(path).write_bytes(data if isinstance(data, bytes) else data.encode())


BAD_FILES = {
    "config-not-utf8": ("packaging.yaml", b"name: \xff\xfe\n", ["render", "-o", "out.spec"], "packaging.yaml"),
    "config-alias-bomb": ("packaging.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a]\n"
                          "c: [*b, *b, *b, *b, *b, *b]\n", ["render", "-o", "out.spec"], "aliases"),
    "config-duplicate-key": ("packaging.yaml", None, ["render", "-o", "out.spec"], "duplicate key 'release'"),
    "config-huge": ("packaging.yaml", b"# " + b"x" * (2 << 20) + b"\n", ["render", "-o", "out.spec"], "larger than"),
    "spec-not-utf8": ("ollama.spec", b"Name: \xff\n", ["render", "--check"], "ollama.spec: not UTF-8"),
    "rpmlintrc-bad-regex": ("bad.rpmlintrc", 'addFilter("(unclosed")\n',
                            ["lint", "--rpmlintrc", "bad.rpmlintrc", "ollama.spec"], "bad.rpmlintrc:1"),
    "rpmlintrc-not-utf8": ("bad.rpmlintrc", b'addFilter("\xff")\n',
                           ["lint", "--rpmlintrc", "bad.rpmlintrc", "ollama.spec"], "not UTF-8"),
}


@pytest.mark.parametrize("name,data,args,needle", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_input_files_are_one_line_errors(project, name, data, args, needle):
    shutil.copy(REPO / "ollama.spec", project / "ollama.spec")
    if data is None:           # a duplicate key, appended to the real config
        data = (project / "packaging.yaml").read_text() + "release: 2\n"
    _write(project / name, data)
    refused(args, cwd=project, code=2, needle=needle)
    assert not (project / "out.spec").exists()


LOCKS = {
    "format-true": '{"format": true, "sources": {}}',
    "format-string": '{"format": "1", "sources": {}}',
    "sha-number": '{"format": 1, "sources": {"a.tar.gz": {"url": "https://x/a.tar.gz", "sha256": 1}}}',
    "url-newline": '{"format": 1, "sources": {"a.tar.gz": {"url": "https://x/a\\n%pre", "sha256": "' + "0" * 64 + '"}}}',
    "name-path": '{"format": 1, "sources": {"../a": {"url": "https://x/a", "sha256": "' + "0" * 64 + '"}}}',
    "not-utf8": b'{"format": 1, "sources": {"\xff": {}}}',
    "not-json": "{format: 1",
}


@pytest.mark.parametrize("text", LOCKS.values(), ids=LOCKS.keys())
def test_malformed_sources_lock_is_refused(pinned, env, text):
    _write(pinned / "sources.lock", text)
    refused(["sources"], cwd=pinned, code=2, needle="sources.lock", env=env)


# --- output paths --------------------------------------------------------------------

OUTPUTS = {
    "render-to-directory": (["render", "-o", "adir"], "adir"),
    "render-below-a-file": (["render", "-o", "afile/x.spec"], "afile/x.spec"),
    "render-to-device": (["render", "-o", "/dev/null"], "/dev/null"),
    "sources-dir-is-a-file": (["sources", "--source-dir", "afile"], "afile"),
    "srpm-outdir-is-a-file": (["srpm", "--outdir", "afile", "--source-dir", "src"], "afile"),
    "srpm-source-dir-below-a-file": (["srpm", "--source-dir", "afile/src"], "afile"),
    "build-resultdir-is-a-file": (["build", "--engine", "rpmbuild", "--resultdir", "afile"], "afile"),
}


@pytest.mark.parametrize("args,needle", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_unusable_output_paths_are_refused(pinned, env, args, needle):
    (pinned / "adir").mkdir()
    (pinned / "afile").write_text("keep me\n")
    before = os.stat("/dev/null")
    refused(args, cwd=pinned, code=2, needle=needle, env=env)
    assert (pinned / "afile").read_text() == "keep me\n"
    after = os.stat("/dev/null")
    assert (after.st_mode, after.st_rdev) == (before.st_mode, before.st_rdev)


# --- durations: 0, nan, inf, negative, absurd -------------------------------------------

DURATIONS = {
    "read-timeout-nan": ({"OLLAMA_RPM_READ_TIMEOUT": "nan"}, "OLLAMA_RPM_READ_TIMEOUT=nan"),
    "read-timeout-zero": ({"OLLAMA_RPM_READ_TIMEOUT": "0"}, "OLLAMA_RPM_READ_TIMEOUT=0"),
    "connect-timeout-inf": ({"OLLAMA_RPM_CONNECT_TIMEOUT": "inf"}, "OLLAMA_RPM_CONNECT_TIMEOUT=inf"),
    "retry-delay-inf": ({"OLLAMA_RPM_RETRY_BASE_DELAY": "inf"}, "OLLAMA_RPM_RETRY_BASE_DELAY=inf"),
    "retry-delay-negative": ({"OLLAMA_RPM_RETRY_BASE_DELAY": "-1"}, "OLLAMA_RPM_RETRY_BASE_DELAY=-1"),
    "retries-huge": ({"OLLAMA_RPM_RETRIES": "1e9"}, "OLLAMA_RPM_RETRIES=1e9"),
    "deadline-zero": ({"OLLAMA_RPM_DOWNLOAD_DEADLINE": "0"}, "OLLAMA_RPM_DOWNLOAD_DEADLINE=0"),
}


@pytest.mark.parametrize("extra,needle", DURATIONS.values(), ids=DURATIONS.keys())
def test_bad_durations_in_the_environment(tmp_path, env, extra, needle):
    """A download must be needed for the settings to matter: nothing is pinned yet."""
    root = make_project(tmp_path / "project", "http://127.0.0.1:9/" + OLLAMA_TARBALL,
                        "http://127.0.0.1:9/" + LLAMA_TARBALL)
    refused(["sources", "--update-lock"], cwd=root, code=2, needle=needle, env=dict(env, **extra))


FLAGS = {
    "bump-timeout-zero": (["bump", "--timeout", "0"], "--timeout"),
    "bump-timeout-nan": (["bump", "--timeout", "nan"], "--timeout"),
    "bump-timeout-inf": (["bump", "--timeout", "inf"], "--timeout"),
    "copr-poll-nan": (["copr", "submit", "--project", "a/b", "--poll-interval", "nan"], "--poll-interval"),
    "copr-api-inf": (["copr", "submit", "--project", "a/b", "--api-timeout", "inf"], "--api-timeout"),
    "copr-wait-negative": (["copr", "submit", "--project", "a/b", "--wait-timeout", "-5"], "--wait-timeout"),
    "copr-wait-nan": (["copr", "submit", "--project", "a/b", "--wait-timeout", "nan"], "--wait-timeout"),
}


@pytest.mark.parametrize("args,needle", FLAGS.values(), ids=FLAGS.keys())
def test_bad_durations_in_flags(project, args, needle):
    refused(args, cwd=project, code=2, needle=needle)


# --- the download cache ---------------------------------------------------------------

def _cache_in_a_file(tmp_path, pinned):
    (tmp_path / "plain").write_text("x")
    return str(tmp_path / "plain" / "cache")


def _cache_entry_is_a_directory(tmp_path, pinned):
    import json
    lock = json.loads((pinned / "sources.lock").read_text())
    cache = tmp_path / "cache2"
    for pin in lock["sources"].values():
        (cache / "sha256" / pin["sha256"]).mkdir(parents=True)
    return str(cache)


CACHES = {
    "below-dev-null": (lambda tmp_path, pinned: "/dev/null/cache", "/dev/null/cache"),
    "below-a-file": (_cache_in_a_file, "plain/cache"),
    "entry-is-a-directory": (_cache_entry_is_a_directory, "a directory where a cached file belongs"),
}


@pytest.mark.parametrize("make,needle", CACHES.values(), ids=CACHES.keys())
def test_unusable_cache_is_a_tool_error(tmp_path, pinned, env, make, needle):
    shutil.rmtree(pinned / "build", ignore_errors=True)
    cache = make(tmp_path, pinned)
    refused(["sources"], cwd=pinned, code=3, needle=needle, env=dict(env, OLLAMA_RPM_CACHE=cache))


# --- archives: what gets pinned, what gets unpacked -----------------------------------

def _bomb():
    """A tar header claiming 2 GiB: the cap must refuse it before reading any data."""
    info = tarfile.TarInfo("ollama-0.32.15/zeros")
    info.size = 2 << 30
    return gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024, mtime=0)


ARCHIVES = {
    "html-error-page": (b"<html><body>rate limited</body></html>\n", "not a readable tar archive"),
    "truncated-gzip": (None, "not a readable tar archive"),
    "member-over-cap": (_bomb(), "claims 2147483648 bytes"),
}


@pytest.mark.parametrize("data,needle", ARCHIVES.values(), ids=ARCHIVES.keys())
def test_update_lock_pins_only_readable_archives(tmp_path, env, data, needle):
    ollama, llama = make_upstream(tmp_path / "mirror")
    if data is None:
        data = ollama.read_bytes()[: len(ollama.read_bytes()) // 2]
    ollama.write_bytes(data)
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    refused(["sources", "--update-lock"], cwd=root, code=5, needle=needle, env=env)
    assert not (root / "sources.lock").exists() or OLLAMA_TARBALL not in (root / "sources.lock").read_text()


# --- audit-isa on what is not an x86-64 library ----------------------------------------

def _elf_for_machine(path, machine):
    """A copy of a real x86-64 shared object with e_machine rewritten (183 = AArch64)."""
    source = next(p for p in (Path("/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib64/libz.so.1"),
                              Path("/lib/x86_64-linux-gnu/libc.so.6")) if p.exists())
    data = bytearray(source.read_bytes())
    data[18:20] = machine.to_bytes(2, "little")
    path.write_bytes(bytes(data))


AUDITS = {
    "not-elf": (lambda p: p.write_text("#!/bin/sh\n"), "not a readable ELF file"),
    "truncated": (lambda p: p.write_bytes(Path(sys.executable).resolve().read_bytes()[:100]), "not a readable ELF"),
    "directory": (lambda p: p.mkdir(), "cannot read"),
    "aarch64-elf": (lambda p: _elf_for_machine(p, 183), "EM_AARCH64, not x86-64"),
}


@pytest.mark.parametrize("make,needle", AUDITS.values(), ids=AUDITS.keys())
def test_audit_isa_refuses_what_it_cannot_judge(tmp_path, make, needle):
    pytest.importorskip("elftools")
    pytest.importorskip("capstone")
    make(tmp_path / "libggml-cpu-haswell.so")
    refused(["audit-isa", "libggml-cpu-haswell.so"], cwd=tmp_path, code=2, needle=needle)


# --- --debug, Ctrl-C ------------------------------------------------------------------

@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(project, how):
    (project / "packaging.yaml").write_bytes(b"\xff")
    args = ["--debug", "render"] if how == "flag" else ["render"]
    proc = run_cli(*args, "-o", "out.spec", cwd=project, env={"OLLAMA_RPM_DEBUG": "1"} if how == "env" else {})
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("ollama-rpm: ")


def _hanging_server():
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)              # accepts connections, never answers
    return sock


def _until_sigint_ignored(proc, seconds=10):
    """The launcher's first command ignores SIGINT; before it the process is a shell
    starting up (or still the forked Python), which a SIGINT kills as it would any
    program. The delays count from there, not from Popen, which a loaded machine stretches."""
    deadline = time.monotonic() + seconds
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None and time.monotonic() < deadline:
        ignored = next(int(line.split()[1], 16) for line in status.read_text().splitlines()
                       if line.startswith("SigIgn:"))
        if ignored & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.001)
    raise AssertionError(f"the launcher never ignored SIGINT (exit {proc.poll()})")


@pytest.mark.parametrize("delay", [0.02, 0.05, 0.1, 0.2, 0.4, 1.5], ids=lambda d: f"after-{d}s")
def test_ctrl_c_at_any_moment_is_exit_130(tmp_path, delay):
    """From the interpreter's start-up through imports to a network wait: Ctrl-C,
    pressed again every 0.2 s as a user would, ends in one line and exit 130."""
    server = _hanging_server()
    root = _project_with_a_real_packager(tmp_path / "project")
    env = dict(os.environ, HOME=str(tmp_path), OLLAMA_RPM_GITHUB_API=f"http://127.0.0.1:{server.getsockname()[1]}")
    env.pop("OLLAMA_RPM_PROJECT", None)
    proc = subprocess.Popen([str(REPO / "ollama-rpm"), "bump", "--no-commit", "--timeout", "30"],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _until_sigint_ignored(proc)
        time.sleep(delay)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
        _, stderr = proc.communicate(timeout=30)
    finally:
        server.close()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["ollama-rpm: interrupted"]
    assert snapshot(root) == snapshot(_project_with_a_real_packager(tmp_path / "fresh"))


def _project_with_a_real_packager(dest):
    """A copy of the project whose packager bump accepts (the checkout's own is a
    placeholder address, which bump refuses before it reaches the network)."""
    root = copy_project(dest)
    cfg = root / "packaging.yaml"
    text = re.sub(r"(?m)^(  email: ).*$", r"\1packagers@ollama-rpm-ci.net", cfg.read_text(), count=1)
    cfg.write_text(text)
    return root


# --- full and read-only file systems (needs mount: root, else skipped) ---------------------

@pytest.fixture
def small_fs(tmp_path):
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _fill(mount_point):
    (mount_point / "old.spec").write_text("old content\n")
    fd = os.open(mount_point / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 1024):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_only(mount_point):
    (mount_point / "old.spec").write_text("old content\n")
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)


FILESYSTEMS = {
    "full-disk": (_fill, 3, "No space left on device; the old file is kept"),
    "read-only": (_read_only, 2, "Read-only file system; the old file is kept"),
}


@pytest.mark.parametrize("prepare,code,needle", FILESYSTEMS.values(), ids=FILESYSTEMS.keys())
def test_unwritable_file_systems_keep_the_old_file(project, small_fs, prepare, code, needle):
    prepare(small_fs)
    refused(["render", "-o", small_fs / "old.spec"], cwd=project, code=code, needle=needle, watch=small_fs)
    assert (small_fs / "old.spec").read_text() == "old content\n"
    assert sorted(p.name for p in small_fs.iterdir()) in (["filler", "old.spec"], ["old.spec"])


def test_a_ctrl_c_wrapped_by_python_is_still_an_interruption():
    """Ctrl-C while a dataclass is created reaches the top as RuntimeError (from
    __set_name__) with the KeyboardInterrupt as its cause: exit 130 all the same."""
    from ollama_rpm import cli
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from inner
    except RuntimeError as wrapped:
        assert cli._classify(wrapped) == (130, "interrupted")
    assert cli._classify(RuntimeError("plain"))[0] != 130
