"""Write files so that a final path only ever holds complete content."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final):
    """Yield a temporary path next to `final`; rename it over `final` on success.

    On any exception the temporary file is removed and `final` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(final, text, mode=0o644):
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)


def write_bytes(final, data, mode=0o644):
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
