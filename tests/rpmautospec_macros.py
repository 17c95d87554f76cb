"""rpmautospec's real RPM macros (%autorelease, %autochangelog) for tests.

Fedora installs them as /usr/lib/rpm/macros.d/macros.rpmautospec (rpmautospec-rpm-macros).
Elsewhere they come from rpmautospec's source distribution on PyPI (the wheel lacks
them), fetched once with pip into the git-ignored cache (.cache/, never committed).
Without either the caller skips.
"""

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from conftest import REPO

VERSION = "0.8.5"
SYSTEM = Path("/usr/lib/rpm/macros.d/macros.rpmautospec")
MEMBER = f"rpmautospec-{VERSION}/rpm_macros.d/macros.rpmautospec"


def macros_file() -> tuple[Path | None, str]:
    """(path, where it came from) or (None, why not)."""
    if SYSTEM.is_file():
        return SYSTEM, "rpmautospec-rpm-macros"
    cached = REPO / ".cache" / f"rpmautospec-{VERSION}" / "macros.rpmautospec"
    if cached.is_file():
        return cached, f"rpmautospec {VERSION} sdist (cached)"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
                               ":all:", f"rpmautospec=={VERSION}", "-d", tmp], capture_output=True, text=True)
        sdists = list(Path(tmp).glob("rpmautospec-*.tar.gz"))
        if proc.returncode != 0 or not sdists:
            return None, f"rpmautospec's macros: not installed and pip download failed: {proc.stderr.strip()[-200:]}"
        with tarfile.open(sdists[0]) as tar:
            handle = tar.extractfile(MEMBER)
            if handle is None:
                return None, f"{sdists[0].name} has no {MEMBER}"
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(handle.read())
    return cached, f"rpmautospec {VERSION} sdist"
