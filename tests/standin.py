"""Fedora macro stand-ins, loaded the way a real buildroot has them.

tests/support/fedora-macros.standin has sections whose header names the
package that installs them, "(BuildRequires: PKG)". A buildroot has such a
package only when the spec BuildRequires it, so `for_buildrequires` writes a
copy without the sections of packages the spec does not ask for: a spec that
uses a macro without requiring its package then shows it unexpanded.
"""

import re
from pathlib import Path

from conftest import STANDIN_MACROS

_SECTION = re.compile(r"^# --- .*\(BuildRequires: (?P<package>[^)\s]+)\)")


def sections(path=STANDIN_MACROS):
    """[(package or None, text)]: None for what every Fedora buildroot has."""
    result, package, lines = [], None, []
    for line in Path(path).read_text().splitlines(keepends=True):
        if line.startswith("# --- "):
            result.append((package, "".join(lines)))
            match = _SECTION.match(line)
            package, lines = (match.group("package") if match else None), []
        lines.append(line)
    result.append((package, "".join(lines)))
    return result


def packages():
    return {package for package, _ in sections() if package}


def for_buildrequires(buildrequires, dest):
    """A macro file with the always-present sections plus those of `buildrequires`."""
    wanted = set(buildrequires)
    text = "".join(body for package, body in sections() if package is None or package in wanted)
    Path(dest).write_text(text)
    return Path(dest)
