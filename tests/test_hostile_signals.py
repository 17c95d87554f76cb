"""`bump` under signals: SIGINT, SIGTERM, SIGHUP (to the process or its group) at
each step of the commit end in exit 130 with the repository untouched; SIGKILL
leaves it untouched or fully committed, never half-staged.

A `git` wrapper first on PATH (the process boundary) marks one git subcommand and
holds it until the test, having sent its signal, releases it (no fixed stall that a
slow machine could outlast); the real git then runs as usual."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from hostile_support import snapshot
from test_bump import repo, upstream  # noqa: F401 (fixtures)
from test_bump import snapshot as repo_snapshot

pytestmark = pytest.mark.slow   # the whole bump, interrupted at each step

REAL_GIT = shutil.which("git")
POINTS = ("hash-object", "commit-tree", "update-index", "update-ref")


@pytest.fixture
def slow_git(tmp_path):
    bindir = tmp_path / "slow-bin"
    bindir.mkdir()
    wrapper = bindir / "git"
    # Python, not sh: dash clears the signal mask that bump hands to its git children.
    wrapper.write_text(f"""#!{sys.executable} -S
import os, sys, time
if sys.argv[1:2] == [os.environ.get("SLOW_GIT")]:
    open(os.environ["SLOW_GIT_MARK"], "w").close()
    end = time.monotonic() + 60
    while not os.path.exists(os.environ["SLOW_GIT_GO"]) and time.monotonic() < end:
        time.sleep(0.01)
os.execv({REAL_GIT!r}, ["git"] + sys.argv[1:])
""")
    wrapper.chmod(0o755)
    return bindir


@pytest.fixture(autouse=True, scope="module")
def _signals_not_ignored():
    """The CLI starts as from a terminal, with SIGINT/SIGTERM/SIGHUP not ignored, even when
    pytest runs under nohup (SIGHUP ignored) or as a background job (SIGINT ignored): an
    ignored signal stays ignored across exec, and the CLI rightly keeps an inherited ignore,
    so the SIGHUP cases saw a run that finished. Handled signals are reset by exec."""
    saved = {}
    for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL),
                            (signal.SIGHUP, signal.SIG_DFL)):
        if signal.getsignal(signum) == signal.SIG_IGN:
            saved[signum] = signal.signal(signum, default)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _start(repo, upstream, slow_git, point, mark):
    home = repo.working_tree_dir + "/../home"
    env = dict(os.environ, PYTHONPATH=str(REPO / "tooling"), OLLAMA_RPM_GITHUB_API=upstream.server.url,
               HOME=home, XDG_CACHE_HOME=home + "/cache", OLLAMA_RPM_RETRIES="0",
               PATH=f"{slow_git}:{os.environ['PATH']}", SLOW_GIT=point,
               SLOW_GIT_MARK=str(mark), SLOW_GIT_GO=str(_go(mark)),
               GIT_PYTHON_GIT_EXECUTABLE=str(slow_git / "git"), OLLAMA_RPM_DEBUG=os.environ.get("T_DEBUG", ""))
    env.pop("OLLAMA_RPM_PROJECT", None)
    return subprocess.Popen([sys.executable, "-m", "ollama_rpm", "bump", "--latest", "--timeout", "5"],
                            cwd=repo.working_tree_dir, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(mark, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not mark.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the bump never reached its git step"
        time.sleep(0.02)


def _go(mark):
    """The file whose existence lets the held git subcommand go on."""
    return Path(f"{mark}.go")


def _release(mark):
    """Let the held git subcommand (and any later call of it) go on. After a handled
    signal bump waits for its git child, so the release follows the signal; after
    SIGKILL it follows bump's death, or the git could still run first."""
    _go(mark).touch()


def _state(repo):
    root = Path(repo.working_tree_dir)
    # Temporary files may stay inside .git after SIGKILL; never in the tree, never a lock.
    leftovers = sorted(p.name for p in root.rglob("*.part") if ".git" not in p.parts) \
        + sorted(p.name for p in Path(repo.git_dir).glob("*.lock"))
    return repo_snapshot(repo), snapshot(root / "patches"), leftovers


CASES = [(signum, point, group) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
         for point in POINTS for group in (False, True)]


@pytest.mark.parametrize("signum,point,group", CASES,
                         ids=[f"{s.name}-{p}-{'group' if g else 'process'}" for s, p, g in CASES])
def test_a_signal_at_any_step_rolls_bump_back(repo, upstream, slow_git, tmp_path, signum, point, group):
    upstream.release("0.33.0", "b10600")
    before = _state(repo)
    mark = tmp_path / "reached"
    proc = _start(repo, upstream, slow_git, point, mark)
    _wait_for(mark, proc)
    (os.killpg if group else os.kill)(proc.pid, signum)
    _release(mark)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1:] == ["ollama-rpm: interrupted"], stderr
    assert "Traceback" not in stderr
    assert _state(repo) == before


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("group", [False, True], ids=["process", "group"])
def test_sigkill_leaves_the_repo_untouched_or_committed(repo, upstream, slow_git, tmp_path, point, group):
    upstream.release("0.33.0", "b10600")
    before = _state(repo)
    head = repo.head.commit.hexsha
    mark = tmp_path / "reached"
    proc = _start(repo, upstream, slow_git, point, mark)
    _wait_for(mark, proc)
    (os.killpg if group else os.kill)(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    _release(mark)               # only now: bump is dead, as a held git would find it
    time.sleep(2)                # an orphaned git child, if any, would finish by now
    after = _state(repo)
    if after != before:          # then it must be the whole bump, committed and clean
        assert repo.head.commit.parents[0].hexsha == head
        assert repo.git.status("--porcelain") == ""
        assert after[2] == []


# --- sources --update-lock: a download cut short --------------------------------------------

def _cli(args, cwd, env):
    full = dict(os.environ, PYTHONPATH=str(REPO / "tooling"), **env)
    full.pop("OLLAMA_RPM_PROJECT", None)
    return subprocess.Popen([sys.executable, "-m", "ollama_rpm", *map(str, args)], cwd=cwd, env=full,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _until(condition, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "never got there"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_during_update_lock_removes_the_part_files_and_says_one_line(tmp_path, signum):
    from fakes import FileServer
    from source_fixtures import LLAMA_TARBALL, OLLAMA_TARBALL, llama_tarball, make_project, ollama_tarball

    cache = tmp_path / "cache"
    with FileServer() as server:
        server.add("/" + OLLAMA_TARBALL, ollama_tarball(), faults=("trickle",))
        server.add("/" + LLAMA_TARBALL, llama_tarball())
        root = make_project(tmp_path / "project", server.file_url("/" + OLLAMA_TARBALL),
                            server.file_url("/" + LLAMA_TARBALL))
        before = snapshot(root)
        proc = _cli(["sources", "--update-lock"], root,
                    {"OLLAMA_RPM_RETRIES": "0", "CI": "true", "OLLAMA_RPM_CACHE": str(cache)})
        _until(lambda: list(cache.rglob("*.part")), proc)          # the download has begun
        os.kill(proc.pid, signum)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["ollama-rpm: interrupted"], stderr
    assert not list(cache.rglob("*.part")) and not list(root.rglob("*.part"))
    assert snapshot(root) == before


# --- smoke: nothing outlives it ---------------------------------------------------------------

def _processes_with(token):
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if token in cmdline.read_bytes():
                found.append(cmdline.parent.name)
    return found


def _mounts_under(path):
    found = set()
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        with contextlib.suppress(OSError):      # a process that ended meanwhile
            found |= {line.split()[4] for line in mountinfo.read_text().splitlines() if str(path) in line}
    return found


@pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "rpm", "unshare")),
                    reason="needs rpmbuild, rpm and unshare")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_smoke_leaves_no_process_and_no_mount(tmp_path, signum):
    """The stub `ollama serve` never answers; the signal comes while the session waits
    for it. Afterwards no process of the session (the namespace helper, the server)
    runs, no mount of its scratch root is left, and the scratch directory is gone."""
    from test_smoke import stub_rpm

    seconds = f"{600 + os.getpid() % 1000}.{time.monotonic_ns() % 10**9}"     # this run's server, by its argv
    token = f"sleep\0{seconds}\0"
    rpms = stub_rpm(tmp_path / "stub", f'[ "$1" = serve ] && exec sleep {seconds}\nexit 1\n')
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = _cli(["smoke", "--engine", "rootfs", "--timeout", "300", rpms], tmp_path, {"TMPDIR": str(scratch)})
    # The server itself, not a file it writes: a marker written before the exec showed
    # up while the shell still had its own argv (a CI flake).
    _until(lambda: _processes_with(token.encode()), proc, seconds=120)
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1:] == ["ollama-rpm: interrupted"], stderr
    assert _processes_with(token.encode()) == []
    assert _processes_with(str(scratch).encode()) == []
    assert _mounts_under(scratch) == set()
    assert list(scratch.iterdir()) == []
