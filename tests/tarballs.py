"""The one way the tests make upstream-like tarballs: GitHub's archive shape
(`top/` holding everything, a directory entry before its contents), deterministic
bytes (sorted entries, fixed mtime, root:root, gzip without name or time)."""

import gzip
import io
import os
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

MTIME = 1700000000

Files = Mapping[str, "str | bytes"]


def tar_gz(top: str | None, files: Files, *, executable: Iterable[str] = (), commit: str | None = None,
           extra: Iterable[tuple[tarfile.TarInfo, "bytes | None"]] = (), mtime: int = MTIME) -> bytes:
    """`files` (relative path -> text or bytes) under `top/` (at the root when `top` is
    None or ""), modes 0644 (0755 for directories and the `executable` paths).
    `commit`: the id `git archive` records in the pax global header (GitHub's
    archives have it). `extra`: raw (TarInfo, data) entries appended as they are,
    for hostile archives."""
    prefix = f"{top}/" if top else ""
    executable = set(executable)
    names = set()
    for rel in files:
        parts = rel.split("/")
        names |= {"/".join(parts[:i]) + "/" for i in range(1, len(parts))}
    entries = sorted([*names, *files], key=lambda n: n.rstrip("/").split("/"))

    def info(name: str) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = mtime, 0, 0, "root", "root"
        return entry

    raw = io.BytesIO()
    pax = {"pax_headers": {"comment": commit}} if commit else {}
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT, **pax) as tar:
        if top:
            root = info(top)
            root.type, root.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(root)
        for name in entries:
            entry = info(prefix + name.rstrip("/"))
            if name.endswith("/"):
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(entry)
                continue
            data = files[name].encode() if isinstance(files[name], str) else files[name]
            entry.size, entry.mode = len(data), 0o755 if name in executable else 0o644
            tar.addfile(entry, io.BytesIO(data))
        for entry, data in extra:
            tar.addfile(entry, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def tree_tar_gz(src_dir: "str | os.PathLike[str]", out_path: "str | os.PathLike[str]", top: str | None,
                mtime: int = MTIME) -> Path:
    """Write the tree `src_dir` (files only; no symlinks) as `out_path` with tar_gz()."""
    src_dir, out_path = Path(src_dir), Path(out_path)
    files, executable = {}, []
    for path in src_dir.rglob("*"):
        if path.is_symlink():
            raise ValueError(f"symlinks are not expected in a test tree: {path}")
        if path.is_file():
            rel = path.relative_to(src_dir).as_posix()
            files[rel] = path.read_bytes()
            if os.access(path, os.X_OK):
                executable.append(rel)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(tar_gz(top, files, executable=executable, mtime=mtime))
    return out_path
