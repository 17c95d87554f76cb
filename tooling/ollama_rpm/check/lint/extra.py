"""Fedora MUSTs that rpmlint 2.x does not check, reported in rpmlint's format.

- invalid-license on spec files: rpmlint checks the License tag only of built
  packages; here every package's License in the spec (as rpm expands it) is
  checked against the same SPDX list as the profile.
- no-license-file on binary RPMs: Fedora requires the license text (%license)
  in every binary package, unless it requires a package of the same
  version-release (a sibling subpackage from the same source) that has it.
"""

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ollama_rpm.check.lint import licenses
from ollama_rpm.check.lint.report import Message
from ollama_rpm.pathtypes import StrPath


def _rpm(args: list[str], env: Mapping[str, str], sandbox: Sequence[str] = ()) -> str | None:
    proc = subprocess.run([*sandbox, "rpm", *args], capture_output=True, text=True, env=env, errors="replace")
    return proc.stdout if proc.returncode == 0 else None


def spec_messages(spec: StrPath, env: Mapping[str, str], extra_licenses: Iterable[str],
                  sandbox: Sequence[str] = ()) -> list[Message]:
    spec = Path(spec)
    out = _rpm(["-q", "--qf", "%{NAME}\t%{LICENSE}\n", "-D", f"_sourcedir {spec.parent.resolve()}",
                "--specfile", str(spec)], env, sandbox)
    if out is None:
        return []        # rpmlint reports the parse failure (specfile-error)
    messages: list[Message] = []
    seen: set[str] = set()
    for line in out.splitlines():
        _, _, value = line.partition("\t")
        messages += [Message("E", "invalid-license", spec.name, bad, source="ollama-rpm")
                     for bad in (licenses.invalid_symbols(value, extra_licenses) if value not in seen else [])]
        seen.add(value)
    if not out.strip():
        messages.append(Message("E", "no-license", spec.name, "", source="ollama-rpm"))
    return messages


def rpm_messages(path: StrPath, env: Mapping[str, str]) -> list[Message]:
    query = ["-qp", "--nosignature"]
    head = _rpm([*query, "--qf", "%{NAME}\t%{ARCH}\t%{VERSION}-%{RELEASE}\t%{SOURCERPM}\n", str(path)], env)
    if head is None:
        return []        # rpmlint reports what it can
    name, arch, vr, sourcerpm = head.rstrip("\n").split("\t")
    if sourcerpm == "(none)" or name.endswith(("-debuginfo", "-debugsource")):
        return []        # source package, or generated debug package
    flags = _rpm([*query, "--qf", "[%{FILEFLAGS:fflags}\n]", str(path)], env) or ""
    if any("l" in line for line in flags.splitlines()):
        return []
    requires = _rpm([*query, "--requires", str(path)], env) or ""
    if any(line.split()[1:] in (["=", vr], ["=", f"0:{vr}"]) for line in requires.splitlines()):
        return []        # a same-version sibling carries the license
    return [Message("E", "no-license-file", f"{name}.{arch}",
                    "no %license file, and no Requires on a same-version subpackage that has one",
                    source="ollama-rpm")]


def false_positives(path: StrPath, messages: Iterable[Message], env: Mapping[str, str]) -> list[Message]:
    """rpmlint messages that are provably wrong for this file (dropped, counted as filtered).

    rpmlint 2.4 records the man page *section* instead of its name when it
    collects man pages, so every binary gets no-manual-page-for-binary; the
    message is dropped only when the package really ships <exe>.<section>*.
    """
    flagged = [m for m in messages if m.check == "no-manual-page-for-binary"]
    if not flagged or Path(path).suffix != ".rpm":
        return []
    files = _rpm(["-qlp", "--nosignature", str(path)], env) or ""
    pages = {Path(f).name.split(".")[0] for f in files.splitlines()
             if f.startswith(("/usr/share/man/man", "/usr/man/man"))}
    return [m for m in flagged if m.detail in pages]
