"""Reproducible outputs: SOURCE_DATE_EPOCH and normalised tarballs."""

import calendar
import datetime
import gzip
import os
import tarfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ollama_rpm.errors import UsageError
from ollama_rpm.pathtypes import StrPath

if TYPE_CHECKING:
    from ollama_rpm.specgen.config import Config


def source_date_epoch(config: "Config") -> int:
    """$SOURCE_DATE_EPOCH, else midnight UTC of the newest changelog date."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw:
        if not (raw.isascii() and raw.isdigit()):   # int() also takes other scripts' digits
            raise UsageError(f"SOURCE_DATE_EPOCH={raw}: expected a non-negative integer (seconds since 1970)")
        return int(raw)
    newest: datetime.date = max(entry.date for entry in config.changelog)
    return calendar.timegm(newest.timetuple())


def _entries(base: Path, top: str) -> list[str]:
    """Relative paths of `top` and everything below it, sorted."""
    result = [top]
    for dirpath, dirnames, filenames in os.walk(Path(base) / top):
        rel = Path(dirpath).relative_to(base)
        result += [(rel / name).as_posix() for name in dirnames + filenames]
    return sorted(result)


def write_tar_gz(out: IO[bytes], base: StrPath, top: str, mtime: int) -> None:
    """Write `base/top` as a gzipped tar to the binary file `out`, entries named `top/...`.

    Sorted entries, fixed mtime, owner root:root (0:0), modes 0755/0644 (0755 for
    executables), no gzip name or timestamp: the same tree always gives the same bytes.
    """
    root = Path(base)
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _entries(root, top):
            path = root / rel
            st = path.lstat()
            info = tarfile.TarInfo(rel)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if path.is_symlink():
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                info.mode = 0o777
                tar.addfile(info)
            elif path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif path.is_file():
                info.size = st.st_size
                info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            # sockets/devices cannot appear in a Go vendor tree; skip anything else
