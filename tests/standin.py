"""Fedora/EPEL macro stand-ins, loaded the way a real buildroot has them.

tests/support/fedora-macros.standin models a Fedora buildroot (rpm 6.0). Its
sections have headers "# --- TITLE"; two kinds of header are special:

- "(BuildRequires: PKG)": macros only package PKG installs. A buildroot has
  them only when the spec BuildRequires PKG, so `for_buildrequires` (and
  `for_chroot` given `buildrequires`) writes a copy without the sections of
  packages the spec does not ask for: a spec that uses a macro without
  requiring its package then shows it unexpanded.
- "(release)": what differs between releases (rpm's own macros, %dist,
  %fedora/%rhel, systemd-rpm-macros' sysusers macros). `for_chroot` keeps it
  with the release's number for Fedora, and for EPEL replaces it with
  tests/support/release-el<N>.standin plus sysusers-compat.standin.

Which rpm each models, and what cannot be modelled on Debian's rpm 4.18:
doc/chroots.md.
"""

import re
from pathlib import Path

from conftest import STANDIN_MACROS
from ollama_rpm.specgen import backends

SUPPORT = Path(STANDIN_MACROS).parent
_SECTION = re.compile(r"^# --- .*\(BuildRequires: (?P<package>[^)\s]+)\)")
_RELEASE = "(release)"


def sections(path=STANDIN_MACROS):
    """[(package or None or "(release)", text)]: None for what every buildroot has."""
    result, package, lines = [], None, []
    for line in Path(path).read_text().splitlines(keepends=True):
        if line.startswith("# --- "):
            result.append((package, "".join(lines)))
            match = _SECTION.match(line)
            package, lines = (match.group("package") if match else _RELEASE if _RELEASE in line else None), []
        lines.append(line)
    result.append((package, "".join(lines)))
    return result


def packages():
    return {package for package, _ in sections() if package and package != _RELEASE}


def _keep(package, buildrequires):
    return package is None or buildrequires is None or package in set(buildrequires)


def for_buildrequires(buildrequires, dest):
    """A Fedora macro file with the always-present sections plus those of `buildrequires`."""
    text = "".join(body for package, body in sections() if package == _RELEASE or _keep(package, buildrequires))
    Path(dest).write_text(text)
    return Path(dest)


def release_text(family, release):
    """The "(release)" part for a chroot family/release: Fedora's section renumbered,
    or EPEL's release file plus systemd-rpm-macros' sysusers compat macros."""
    if family == "epel":
        return ((SUPPORT / f"release-el{release}.standin").read_text()
                + (SUPPORT / "sysusers-compat.standin").read_text())
    (number,) = [r.number for r in backends.RELEASES if (r.family, r.release) == (family, release)]
    (body,) = [text for package, text in sections() if package == _RELEASE]
    return re.sub(r"(?m)^(%dist \.fc|%fedora |%fc)43\b", lambda m: f"{m.group(1)}{number}", body)


def for_chroot(family, release, dest, buildrequires=None):
    """A macro file modelling the buildroot of chroot family-release (fedora-44,
    epel-9...): the common sections (with only `buildrequires`' packages when
    given) and that release's "(release)" part."""
    text = "".join(release_text(family, release) if package == _RELEASE else body
                   for package, body in sections() if package == _RELEASE or _keep(package, buildrequires))
    Path(dest).write_text(text)
    return Path(dest)
