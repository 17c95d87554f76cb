"""Write files so that a final path only ever holds complete content."""

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ollama_rpm.errors import ConfigError, ToolError, UsageError
from ollama_rpm.pathtypes import StrPath

# A path the user named wrongly (exit 2); anything else (full disk, I/O) is the OS's (exit 3).
_BAD_PATH = {errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
             errno.ENAMETOOLONG, errno.EEXIST, errno.ELOOP}


class _Refused(OSError):
    def __init__(self, reason: str) -> None:
        super().__init__(errno.EPERM, reason)


def _write_error(final: Path, error: OSError) -> UsageError | ToolError:
    kind: type[UsageError | ToolError] = UsageError if error.errno in _BAD_PATH else ToolError
    return kind(f"{final}: cannot write: {error.strerror or error}; the old file is kept")


def _temporary(final: Path) -> Path:
    """A new empty temporary file next to `final`, once `final` is known to be writable there."""
    try:
        if final.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if final.exists() and not final.is_file():
            # Renaming over /dev/null or a FIFO would replace the device node itself.
            raise _Refused("not a regular file")
        if any(parent.exists() and not parent.is_dir() for parent in final.parents):
            raise NotADirectoryError(errno.ENOTDIR, "a parent is not a directory")
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
        os.close(fd)
    except OSError as error:
        raise _write_error(final, error) from None
    return Path(tmp_name)


@contextlib.contextmanager
def atomic_path(final: StrPath) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it over `final` on success.

    On any exception the temporary file is removed and `final` is untouched.
    """
    final = Path(final)
    tmp = _temporary(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as error:
        if error.filename not in (None, str(tmp), str(final)):
            raise                   # not about this write (e.g. a source the caller reads)
        raise _write_error(final, error) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_text(final: StrPath, text: str, mode: int = 0o644) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)


def write_bytes(final: StrPath, data: bytes, mode: int = 0o644) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
        os.chmod(tmp, mode)


def write_texts(files: Sequence[tuple[StrPath, str]], mode: int = 0o644) -> None:
    """Write several files all or none: every one is written under a temporary name
    (each path checked) before the first rename, and should a rename still fail, those
    renamed before it get their old content back (or go, if they are new)."""
    prepared: list[tuple[Path, Path]] = []
    backups: list[tuple[Path, Path | None]] = []
    try:
        for final, text in files:
            final = Path(final)
            tmp = _temporary(final)
            prepared.append((final, tmp))
            try:
                tmp.write_text(text, encoding="utf-8")
                os.chmod(tmp, mode)
            except OSError as error:
                raise _write_error(final, error) from None
        for final, tmp in prepared:
            backup = None
            try:
                if final.exists():
                    backup = tmp.with_name(tmp.name + ".old")
                    os.link(final, backup)
                os.replace(tmp, final)
            except OSError as error:
                _restore(backups)
                raise _write_error(final, error) from None
            backups.append((final, backup))
    finally:
        for _, tmp in prepared:
            for leftover in (tmp, tmp.with_name(tmp.name + ".old")):
                with contextlib.suppress(OSError):
                    leftover.unlink()


def _restore(backups: Sequence[tuple[Path, Path | None]]) -> None:
    for final, backup in reversed(backups):
        with contextlib.suppress(OSError):
            if backup is None:
                final.unlink()
            else:
                os.replace(backup, final)


# The largest project text file (spec, patch, lock, TOML, rpmlintrc) the toolkit reads
# whole; a caller with a tighter rule (packaging.yaml) passes its own limit.
MAX_TEXT_BYTES = 16 << 20

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_readable(info: os.stat_result, limit: int) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
        return f"{kind}, not a regular file (expected a file of at most {limit} bytes)"
    if info.st_size > limit:
        return f"larger than {limit} bytes ({info.st_size}); the limit for this file"
    return None


def check_regular(path: StrPath, limit: int = MAX_TEXT_BYTES) -> Path:
    """`path` if it is a regular file of at most `limit` bytes (after symlinks): checked
    before anything opens it, so a FIFO cannot block and /dev/zero cannot fill memory.
    ConfigError (exit 2) naming the file and the limit otherwise."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise ConfigError(path, None, f"cannot read: {error.strerror or error}") from None
    problem = _not_readable(info, limit)
    if problem:
        raise ConfigError(path, None, problem)
    return Path(path)


def read_bytes(path: StrPath, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The whole of a project file, bounded: check_regular() first, then (after a
    non-blocking open, in case the file was swapped since) at most `limit` bytes."""
    check_regular(path, limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ConfigError(path, None, f"cannot read: {error.strerror or error}") from None
    with os.fdopen(fd, "rb") as handle:
        problem = _not_readable(os.fstat(fd), limit)
        data = b"" if problem else handle.read(limit + 1)
    if problem or len(data) > limit:
        raise ConfigError(path, None, problem or f"larger than {limit} bytes; the limit for this file")
    return data


def read_text(path: StrPath, limit: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 project text file, bounded as read_bytes(); ConfigError (exit 2) naming it otherwise."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(path, None, f"not UTF-8 text (byte {error.start})") from None


def check_output_dir(path: StrPath, flag: str) -> Path:
    """A directory the command will write into: UsageError now, before any work, when
    it (or a parent) is something else."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                where = "" if candidate == path else f" ({candidate} is not a directory)"
                raise UsageError(f"{flag} {path}: not a directory{where}")
            if not os.access(candidate, os.W_OK | os.X_OK):
                read_only = os.statvfs(candidate).f_flag & os.ST_RDONLY
                why = "on a read-only file system" if read_only else "permission denied"
                where = "" if candidate == path else f" ({candidate})"
                raise UsageError(f"{flag} {path}: not writable{where}: {why}")
            break
    return path
