"""Upstream tags <-> RPM versions."""

import re

# v0.32.15, 0.32.15, 0.33.0-rc2, v0.33.0-rc2
# ASCII digits only (\d takes other scripts' digits, which rpm rejects), bounded so a
# Version and the tarball names built from it stay within what rpm and file systems take.
_TAG = re.compile(r"v?(?P<base>[0-9]{1,20}(?:\.[0-9]{1,20}){1,3})(?:-(?P<pre>(?:rc|alpha|beta)\.?[0-9]{1,20}))?")


def parse_upstream(text: object) -> tuple[str, str]:
    """Return (upstream_version, rpm_version) or raise ValueError.

    The upstream version keeps the tag's spelling without the leading "v"
    (it names tarballs and is stamped into the binary); the RPM version maps a
    pre-release "-rc1" to "~rc1" so it sorts before the final release.
    """
    match = _TAG.fullmatch(str(text).strip())
    if not match:
        raise ValueError(text)
    base, pre = match.group("base"), match.group("pre")
    if pre:
        return f"{base}-{pre}", f"{base}~{pre.replace('.', '')}"
    return base, base
