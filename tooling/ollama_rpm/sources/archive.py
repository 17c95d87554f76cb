"""Archive safety: extract an untrusted tarball without letting it write outside its tree.

`safe_extract` refuses absolute paths, `..` components, links whose target leaves
the tree, device files and FIFOs. It extracts into a temporary directory beside
`dest` and renames it into place only when every entry went in, so a refusal (or
any other failure) leaves nothing behind.
"""

import copy
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import NoReturn

from ollama_rpm.errors import IntegrityError, UsageError
from ollama_rpm.pathtypes import StrPath

# Ollama and llama.cpp release trees hold ~10k files and a few hundred MiB; a tarball
# whose headers claim far more is a decompression bomb, refused before a byte is written.
MAX_TOTAL_BYTES = 4 << 30
MAX_MEMBER_BYTES = 1 << 30
MAX_MEMBERS = 200_000


def _lexical_problem(member: tarfile.TarInfo) -> str | None:
    """Why `member` may not be extracted, judged from its own header; None if it may."""
    name = member.name
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "'..' component in the path"
    if not parts:
        return "empty path"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO"
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return f"unsupported entry type {member.type!r}"
    if member.issym():
        target = member.linkname
        if target.startswith("/"):
            return f"symlink to absolute path {target}"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname("/".join(parts)), target))
        if resolved == ".." or resolved.startswith("../"):
            return f"symlink to {target}, outside the archive"
    if member.islnk():
        target = member.linkname
        target_parts = [p for p in target.split("/") if p not in ("", ".")]
        if target.startswith("/") or ".." in target_parts or not target_parts:
            return f"hard link to {target}, outside the archive"
    return None


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def _refuse(tarball: StrPath, member_name: str, why: str) -> NoReturn:
    raise IntegrityError(f"{tarball}: unsafe archive entry {member_name!r}: {why}; nothing extracted")


def safe_extract(tarball: StrPath, dest: StrPath) -> Path:
    """Extract `tarball` (any compression tarfile reads) to the new directory `dest`.

    Returns `dest`. Raises IntegrityError for an unsafe or unreadable archive and
    UsageError if `dest` already exists and is not an empty directory.
    """
    tarball, dest = Path(tarball), Path(dest)
    if not tarball.is_file():
        raise UsageError(f"{tarball}: no such archive")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest}: already exists; refusing to extract {tarball.name} over it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        _extract_all(tarball, os.path.realpath(tmp))
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _extract_all(tarball: Path, root: str) -> None:
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = _members_within_caps(tar, tarball)
            # Judge every header before writing a single byte.
            for member in members:
                why = _lexical_problem(member)
                if why:
                    _refuse(tarball, member.name, why)
            for member in members:
                _extract_one(tar, tarball, member, root)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise IntegrityError(f"{tarball}: not a readable tar archive: {error}") from None
    except OSError as error:
        raise IntegrityError(f"{tarball}: cannot extract: {error.strerror or error}") from None
    # A symlink made early may point through one made later: check the final tree.
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not _inside(root, path):
                rel = os.path.relpath(path, root)
                _refuse(tarball, rel, f"symlink to {os.readlink(path)} resolves outside the archive")


def _members_within_caps(tar: tarfile.TarFile, tarball: StrPath) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        members.append(member)
        total += member.size
        if member.size > MAX_MEMBER_BYTES:
            raise IntegrityError(f"{tarball}: entry {member.name[:80]!r} claims {member.size} bytes, more than "
                                 f"the {MAX_MEMBER_BYTES} allowed per file; nothing extracted")
        if total > MAX_TOTAL_BYTES or len(members) > MAX_MEMBERS:
            raise IntegrityError(f"{tarball}: more than {MAX_TOTAL_BYTES} bytes or {MAX_MEMBERS} entries "
                                 "unpacked; nothing extracted")
    return members


def check_readable(tarball: StrPath, label: StrPath | None = None) -> None:
    """Read the whole tar stream (headers and data) without writing anything:
    IntegrityError unless it is a complete archive within the size caps."""
    where = label or tarball
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in _members_within_caps(tar, where):
                data = tar.extractfile(member) if member.isreg() else None
                if data is not None:
                    with data:
                        while data.read(1 << 20):
                            pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        reason = getattr(error, "strerror", None) or error
        raise IntegrityError(f"{where}: not a readable tar archive ({reason}); nothing pinned") from None


def check_members(tarball: StrPath, label: StrPath | None = None) -> None:
    """Judge every entry's header as safe_extract() would, writing nothing: for a
    tarball that goes into an SRPM as it is (rpmbuild's %prep unpacks it), so a
    pinned hash is no licence for `..` paths, links out of the tree or devices.
    An entry whose path runs through a symlink entry is refused too."""
    where = label or tarball
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = _members_within_caps(tar, where)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        reason = getattr(error, "strerror", None) or error
        raise IntegrityError(f"{where}: not a readable tar archive ({reason})") from None
    links = {"/".join(p for p in m.name.split("/") if p not in ("", ".")) for m in members if m.issym()}
    for member in members:
        why = _lexical_problem(member)
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        through = next(("/".join(parts[:n]) for n in range(1, len(parts)) if "/".join(parts[:n]) in links), None)
        if why is None and through:
            why = f"its path runs through the symlink {through}"
        if why:
            raise IntegrityError(f"{where}: unsafe archive entry {member.name[:120]!r}: {why}; "
                                 "not put into the SRPM")


def _extract_one(tar: tarfile.TarFile, tarball: Path, member: tarfile.TarInfo, root: str) -> None:
    name = "/".join(p for p in member.name.split("/") if p not in ("", "."))
    target = os.path.join(root, name)
    # Every directory on the way must resolve inside the tree (links made by earlier entries).
    if not _inside(root, os.path.dirname(target)):
        _refuse(tarball, member.name, "its directory resolves outside the archive through a symlink")
    if os.path.islink(target):
        _refuse(tarball, member.name, "overwrites a symlink made by an earlier entry")
    if member.islnk():
        source = os.path.join(root, *[p for p in member.linkname.split("/") if p not in ("", ".")])
        if not _inside(root, source):
            _refuse(tarball, member.name, f"hard link to {member.linkname} resolves outside the archive")
    safe = copy.copy(member)
    safe.name = name
    safe.mode = member.mode & 0o777 if not member.isdir() else (member.mode & 0o777) | 0o700
    safe.uid, safe.gid = os.getuid(), os.getgid()
    safe.uname = safe.gname = ""
    tar.extract(safe, root, set_attrs=not member.issym(), numeric_owner=True)
    if member.issym() and not _inside(root, target):
        _refuse(tarball, member.name, f"symlink to {member.linkname} resolves outside the archive")
