"""Run the real rpmlint on one file at a time and read its output.

rpmlint 2.4 prints "N packages and M specfiles checked; E errors, W warnings,
B badness" (2.5+ adds "F filtered"). The counts come from that line. Where it
has no "filtered", a second run with every filter turned off (an
`*.override.toml` config that empties Filters, rpmlint's own override
mechanism) gives the raw total, and filtered = raw - reported.
"""

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ollama_rpm.atomic import read_text
from ollama_rpm.check.lint.report import Message
from ollama_rpm.errors import UsageError
from ollama_rpm.pathtypes import StrPath

SUMMARY_RE = re.compile(r"(?P<packages>\d+) packages and (?P<specs>\d+) specfiles checked; "
                        r"(?P<errors>\d+) errors, (?P<warnings>\d+) warnings"
                        r"(?:, (?P<filtered>\d+) filtered)?")
# rpmlint's exit codes: clean, errors, errors only from --strict, badness over threshold.
RPMLINT_CODES = (0, 64, 65, 66)


def executable() -> str:
    name = os.environ.get("RPMLINT", "rpmlint")
    found = shutil.which(name)
    if not found:
        raise UsageError(f"rpmlint not found ({name!r} is not on PATH): install it "
                         "(dnf install rpmlint / apt install rpmlint) or set RPMLINT=/path/to/rpmlint")
    return found


class Workspace:
    """Config dirs, an empty rpmlintrc and a HOME whose ~/.rpmmacros holds the extra macros."""

    def __init__(self, tmp: StrPath, profile: StrPath, licenses_toml: str, macros: Iterable[StrPath] = ()) -> None:
        tmp = Path(tmp)
        self.config = tmp / "config"
        self.config_raw = tmp / "config-raw"
        for directory in (self.config, self.config_raw):
            directory.mkdir()
            shutil.copyfile(profile, directory / "10-profile.toml")
            (directory / "20-spdx-licenses.toml").write_text(licenses_toml, encoding="utf-8")
        (self.config_raw / "90-no-filters.override.toml").write_text("Filters = []\n", encoding="utf-8")
        self.empty_rpmlintrc = tmp / "empty.rpmlintrc"
        self.empty_rpmlintrc.write_text("", encoding="utf-8")
        self.home = tmp / "home"
        self.home.mkdir()
        user_macros = Path(os.path.expanduser("~/.rpmmacros"))
        parts = [f"# --- {path}\n" + read_text(path)
                 for path in ([user_macros] if user_macros.is_file() else []) + [Path(m) for m in macros]]
        (self.home / ".rpmmacros").write_text("\n".join(parts), encoding="utf-8")

    def env(self) -> dict[str, str]:
        env = dict(os.environ, HOME=str(self.home), CONFIG_DISABLE_AUTOLOADING="1",
                   LC_ALL="C.UTF-8", LANG="C.UTF-8")
        env.pop("PYTEST_XDIST_TESTRUNUID", None)
        return env


def run(exe: str, path: StrPath, config_dir: StrPath, rpmlintrc: StrPath,
        env: Mapping[str, str], sandbox: Sequence[str] = ()) -> tuple[dict[str, int], list[Message]]:
    """(summary dict, [Message]) of one rpmlint run on one file (behind the `sandbox`
    command prefix, if any)."""
    # Without --ignore-unused-rpmlintrc: rpmlint reports every rpmlintrc filter
    # this file did not use; lint_paths() decides over the whole run.
    cmd = [*sandbox, exe, "-c", str(config_dir), "-r", str(rpmlintrc), str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, errors="replace")
    # rpmlint reports a file it cannot open on stderr, as "(none): E: fatal error ...".
    fatal = [line for line in proc.stderr.splitlines()
             if "fatal error" in line or line.startswith("(none): E:")]
    summary = None
    for line in proc.stdout.splitlines():
        match = SUMMARY_RE.search(line)
        if match:
            summary = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    if proc.returncode not in RPMLINT_CODES or summary is None or fatal:
        detail = (fatal or proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise UsageError(f"{path}: rpmlint could not check it: {detail.strip()}")
    if summary["packages"] + summary["specs"] == 0:
        raise UsageError(f"{path}: rpmlint checked nothing (not an RPM or spec file?)")
    messages = [m for m in map(Message.parse, proc.stdout.splitlines()) if m]
    return summary, messages


UNUSED_FILTER = "unused-rpmlintrc-filter"


def unused_filter(message: Message) -> str | None:
    """The regex of an unused-rpmlintrc-filter message (rpmlint quotes it), else None."""
    if message.check != UNUSED_FILTER:
        return None
    detail = message.detail
    return detail[1:-1] if len(detail) >= 2 and detail[0] == detail[-1] == '"' else detail


# In the comment above a filter: the filter is for builds that lack these
# packages (a backend switched off), so a run that has one of them does not
# use it and is not judged on it.
ONLY_WITHOUT = re.compile(r"^#\s*only-without:\s*(.+?)\s*$")


def rpmlintrc_filters(rpmlintrc: StrPath) -> dict[str, frozenset[str]]:
    """{regex: packages whose presence makes it legitimately unused} of an rpmlintrc's
    addFilter() lines, regexes as rpmlint reads them."""
    add_filter = re.compile(r"^\s*addFilter\s*\(\s*r?[\"'](.*)[\"']\s*\)")
    result: dict[str, frozenset[str]] = {}
    only_without: set[str] = set()
    for line in read_text(rpmlintrc).splitlines():
        marker = ONLY_WITHOUT.match(line)
        if marker:
            only_without |= {n.strip() for n in marker.group(1).split(",") if n.strip()}
            continue
        match = add_filter.match(line)
        if match:
            result[match.group(1)] = frozenset(only_without)
        if match or not line.startswith("#"):
            only_without = set()
    return result


def read_filters(profile: StrPath, rpmlintrc: StrPath) -> list[re.Pattern[str]]:
    """The filter regexes of the profile's Filters and the rpmlintrc's addFilter() lines."""
    patterns = list(tomllib.loads(read_text(profile)).get("Filters", []))
    add_filter = re.compile(r"^\s*addFilter\s*\(\s*r?[\"'](.*)[\"']\s*\)")
    sources: list[tuple[StrPath, int | None, object]] = [(profile, None, pattern) for pattern in patterns]
    for line_number, line in enumerate(read_text(rpmlintrc).splitlines(), start=1):
        match = add_filter.match(line)
        if match:
            sources.append((rpmlintrc, line_number, match.group(1)))
    compiled: list[re.Pattern[str]] = []
    for path, number, pattern in sources:
        try:
            compiled.append(re.compile(pattern))  # type: ignore[call-overload]  # TOML may hold a non-string: TypeError
        except (re.error, TypeError) as error:
            where = f"{path}:{number}" if number else str(path)
            raise UsageError(f"{where}: filter {str(pattern)[:60]!r} is not a valid regex ({error})") from None
    return compiled
