"""Apply a bump: write packaging.yaml, sources.lock and the specs, commit, push, atomically.

`apply` either completes (files written, or one commit made and optionally
pushed) or puts the files, the index and the branch back as they were. SIGINT,
SIGTERM and SIGHUP during the commit are held until it is whole, then end the
bump like Ctrl-C (exit 130), cleaned up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ollama_rpm import atomic
from ollama_rpm.errors import NetworkError, ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.textout import redact

if TYPE_CHECKING:
    from git.repo import Repo

Log = Callable[[str], object]     # a line of progress for the user


def apply(repo: Repo | None, texts: Mapping[Path, str], message: str, *, commit: bool, push: bool,
          remote: str | None, log: Log, secrets: Sequence[str]) -> None:
    """Write `texts` ({path: new text}) and with `commit` commit them with `message` (`repo`
    is needed for commit and push); any failure or signal restores what was there."""
    import git
    before = {path: (path.read_bytes() if path.exists() else None) for path in texts}
    head = repo.head.commit.hexsha if repo is not None and repo.head.is_valid() else None
    stage = "write"
    with signals_interrupt():
        _SIGNALS.interrupted = False
        try:
            if commit:
                assert repo is not None
                stage = "git commit"
                # Objects first (invisible), then one held step: ref, index, files.
                new_commit = _commit_objects(repo, head, texts, message)
                with _signals_held():
                    _advance(repo, head, new_commit, texts)
                _raise_if_interrupted()
                log(f"committed {new_commit[:12]}: {message.splitlines()[0]}")
            else:
                with _signals_held():
                    for path, text in texts.items():
                        atomic.write_text(path, text)
                _raise_if_interrupted()
                log(f"updated {', '.join(p.name for p in texts)} (not committed)")
            if push:
                assert repo is not None
                stage = "git push"
                _push(repo, remote, log)
        except BaseException as error:
            with _signals_held():
                _restore(repo, head, before)
            # A signal wins over what it caused (a git child killed with the group).
            _raise_if_interrupted()
            if isinstance(error, (git.GitCommandError, subprocess.CalledProcessError)):
                raise _git_failure(stage, error, secrets) from None
            raise


def _git_failure(stage: str, error: Exception,
                 secrets: Sequence[str]) -> ToolError | NetworkError:
    """A failed git step as one line: its last line of output, secrets redacted."""
    output = getattr(error, "stderr", None) or error
    output = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
    detail = [line.strip() for line in output.splitlines() if line.strip()]
    error_type = NetworkError if stage == "git push" else ToolError
    return error_type(redact(f"{stage} failed: {detail[-1] if detail else error}; nothing changed", secrets))


def _work_tree(repo: Repo) -> str:
    """The checkout's top directory (_repo refuses a bare repository)."""
    assert repo.working_tree_dir is not None
    return str(repo.working_tree_dir)


# --- the commit, atomic under signals

_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What signal.signal() takes and returns.
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class _Signals:
    """SIGINT/SIGTERM/SIGHUP as KeyboardInterrupt, except inside `held()` sections,
    where they are only noted (and blocked for git children) until the section ends."""

    def __init__(self) -> None:
        self.interrupted = False
        self.holding = 0

    def handler(self, _signum: int, _frame: FrameType | None) -> None:
        self.interrupted = True
        if not self.holding:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holding += 1
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)   # pending ones run handler() now
            self.holding -= 1


_SIGNALS = _Signals()


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP through `_SIGNALS` for the duration (main thread)."""
    old: dict[signal.Signals, _Handler] = {}
    try:
        for signum in _HELD:
            old[signum] = signal.signal(signum, _SIGNALS.handler)
    except ValueError:            # not the main thread: leave the process's handlers alone
        pass
    try:
        yield
    finally:
        for signum, handler in old.items():
            # Once interrupted, a second Ctrl-C must not cut the clean-up short.
            interrupted = signum == signal.SIGINT and _SIGNALS.interrupted
            signal.signal(signum, signal.SIG_IGN if interrupted else handler)


def _signals_held() -> contextlib.AbstractContextManager[None]:
    return _SIGNALS.held()


def _raise_if_interrupted() -> None:
    if _SIGNALS.interrupted:
        raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the child: SIGKILL when bump dies, so a killed bump never has a git child
    that moves the branch after it (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _git(repo: Repo, *args: str, data: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=_work_tree(repo), input=data, capture_output=True,
                          env=dict(os.environ, **(env or {})), check=True,
                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return proc.stdout.decode().strip()


def _relative(repo: Repo, path: StrPath) -> str:
    return Path(path).resolve().relative_to(Path(_work_tree(repo)).resolve()).as_posix()


def _commit_objects(repo: Repo, head: str | None, texts: Mapping[Path, str], message: str) -> str:
    """Blobs, a tree (built in a private index) and the commit object: nothing that
    HEAD, the index or the working tree show. Returns the commit id."""
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-bump-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", *([head] if head else ["--empty"]), env=env)
        for path, text in texts.items():
            rel = _relative(repo, path)
            blob = _git(repo, "hash-object", "-w", "--stdin", "--path", rel, data=text.encode())
            _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
        tree = _git(repo, "write-tree", env=env)
    return _git(repo, "commit-tree", tree, *(["-p", head] if head else []), "-F", "-", data=message.encode())


def _advance(repo: Repo, head: str | None, new_commit: str, texts: Mapping[Path, str]) -> None:
    """Make `new_commit` current: the new index and files are first written under
    temporary names (inside .git when it is on the same file system, so a kill leaves
    nothing in the working tree), then the branch moves (compare-and-swap on the old
    id), then only renames follow."""
    git_dir = Path(_git(repo, "rev-parse", "--absolute-git-dir"))
    index = git_dir / "index"
    staged: list[tuple[Path, Path]] = []

    def temporary(final: Path) -> Path:
        same_fs = os.stat(git_dir).st_dev == os.stat(final.parent).st_dev
        fd, tmp = tempfile.mkstemp(prefix=f"ollama-rpm-{final.name}.", suffix=".part",
                                   dir=git_dir if same_fs else final.parent)
        os.close(fd)
        staged.append((Path(tmp), final))
        return Path(tmp)

    try:
        new_index = temporary(index)
        if index.exists():
            shutil.copyfile(index, new_index)
        else:
            new_index.unlink()
        entries = "".join(f"100644 {_git(repo, 'rev-parse', f'{new_commit}:{_relative(repo, path)}')}\t"
                          f"{_relative(repo, path)}\n" for path in texts)
        _git(repo, "update-index", "--index-info", data=entries.encode(), env={"GIT_INDEX_FILE": str(new_index)})
        for path, text in texts.items():
            tmp = temporary(path)
            tmp.write_text(text, encoding="utf-8")
            os.chmod(tmp, 0o644)
        _git(repo, "update-ref", "-m", "ollama-rpm bump", "HEAD", new_commit, head or "0" * 40)
        # Past the commit point: renames only.
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _push(repo: Repo, remote: str | None, log: Log) -> None:
    branch = repo.active_branch
    tracking = branch.tracking_branch()
    remote_name = remote or (tracking.remote_name if tracking else None) or "origin"
    dest = tracking.remote_head if tracking and not remote else branch.name
    if remote_name not in [r.name for r in repo.remotes]:
        raise UsageError(f"no git remote {remote_name!r} to push to; add one or pass --remote")
    repo.git.push(remote_name, f"HEAD:refs/heads/{dest}")
    log(f"pushed to {remote_name} {dest}")


def _restore(repo: Repo | None, head: str | None, before: Mapping[Path, bytes | None]) -> None:
    """Put files, index entries and the branch back as they were. Fresh git processes
    only: GitPython's long-lived ones may have died with the process group."""
    for path, data in before.items():
        if data is None:
            if path.exists():
                path.unlink()
        elif not path.exists() or path.read_bytes() != data:
            atomic.write_bytes(path, data)
    if repo is None:
        return
    try:
        current = _git(repo, "rev-parse", "-q", "--verify", "HEAD")
    except subprocess.CalledProcessError:
        current = None
    if head and current != head:
        _git(repo, "update-ref", "-m", "ollama-rpm bump: roll back", "HEAD", head)
    elif head is None and current:
        _git(repo, "update-ref", "-d", "HEAD")          # the first commit of an unborn branch
    if head:
        _git(repo, "reset", "-q", head, "--", *(_relative(repo, p) for p in before))
