"""The lint gate: rpmlint with the project's Fedora profile and rpmlintrc.

    from ollama_rpm.check.lint import lint_paths
    report = lint_paths(paths, project_root)     # -> Report
    assert report.errors == 0 and report.warnings == 0

Each file gets its own rpmlint run (per-file counts), plus the Fedora checks
rpmlint lacks (ollama_rpm.check.lint.extra). An rpmlintrc filter that matches
nothing in a complete run (a spec or SRPM and built RPMs) is an error, as
rpmlint makes it within one run: rpmlint's per-file reports of unused
filters are combined over all files. Nothing here prints.
"""

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ollama_rpm import atomic
from ollama_rpm.check.lint import extra, licenses, rpmlint, sandbox
from ollama_rpm.check.lint.report import FileResult, Message, Report
from ollama_rpm.errors import UsageError
from ollama_rpm.pathtypes import StrPath

PROFILE = Path("lint") / "fedora.toml"
RPMLINTRC = "ollama.rpmlintrc"
SUFFIXES = (".spec", ".rpm")

__all__ = ["lint_paths", "default_paths", "Report", "FileResult"]


def default_paths(project_root: StrPath, resultdir: StrPath | None = None) -> list[Path]:
    """The project's ollama.spec (and a split layout's ollama-ggml-<backend>.spec
    files), then every *.rpm under the result dir (sorted)."""
    root = Path(project_root)
    resultdir = Path(resultdir) if resultdir else root / "results"
    paths = [root / "ollama.spec", *sorted(root.glob("ollama-ggml-*.spec"))]
    if resultdir.is_dir():
        paths += sorted(resultdir.rglob("*.rpm"))
    return paths


def _check_input(path: StrPath) -> Path:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file (expected a .spec or .rpm)")
    if path.suffix not in SUFFIXES:
        raise UsageError(f"{path}: not a .spec or .rpm file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: not readable")
    if path.suffix == ".spec":
        atomic.check_regular(path)
    return path


def _display(path: StrPath, root: StrPath) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def _read_profile(profile: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(atomic.read_text(profile))
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{profile}: not valid TOML: {error}") from None


def lint_paths(paths: Iterable[StrPath], project_root: StrPath, *, macros: Iterable[StrPath] = (),
               strict: bool = False, profile: StrPath | None = None, rpmlintrc: StrPath | None = None,
               own: Collection[str] | None = None, trust_specs: bool = False) -> Report:
    """Lint spec files and RPMs; return a Report (errors, warnings, filtered per file).

    A spec (or SRPM) whose text is not among `own` (default: a fresh render of the
    project) is parsed in the sandbox, or refused where there is none, unless
    `trust_specs` (ollama_rpm.check.lint.sandbox)."""
    root = Path(project_root)
    profile_path = Path(profile) if profile else root / PROFILE
    rpmlintrc_path = Path(rpmlintrc) if rpmlintrc else root / RPMLINTRC
    macros = list(macros)
    for path in (profile_path, rpmlintrc_path, *macros):
        if not os.path.lexists(path):
            raise UsageError(f"{path}: no such file")
        atomic.check_regular(path)
    files = [_check_input(p) for p in paths]
    if not files:
        raise UsageError("nothing to lint: no paths given")
    exe = rpmlint.executable()
    settings = _read_profile(profile_path)
    _check_tools(profile_path, settings)
    trusted = own if own is not None or trust_specs else sandbox.own_texts(root)
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-lint-") as tmp:
        # Every file judged before the first runs: a refusal leaves no half report.
        jails = [sandbox.prefix(path, tmp, trusted or (), trust_specs) for path in files]
        extra_licenses = settings.get("ValidLicenses", [])
        work = rpmlint.Workspace(tmp, profile_path, licenses.rpmlint_toml(extra_licenses), macros)
        linter = _Linter(exe, work, work.env(), rpmlintrc_path, rpmlint.read_filters(profile_path, rpmlintrc_path),
                         rpmlint.rpmlintrc_filters(rpmlintrc_path), extra_licenses)
        results = [linter.lint(path, _display(path, root), jail) for path, jail in zip(files, jails, strict=True)]
        if _complete(files):
            present = _package_names(files, linter.env)
            for pattern, only_without in linter.own_filters.items():
                if pattern not in linter.used and not only_without & present:
                    _add(results[-1], Message("E", rpmlint.UNUSED_FILTER, rpmlintrc_path.name, f'"{pattern}"',
                                              source="ollama-rpm"))
    return Report(files=results, strict=strict)


def _check_tools(profile_path: Path, settings: Mapping[str, Any]) -> None:
    """The tools the profile's checks run are installed."""
    if "BashismsCheck" in settings.get("Checks", []):
        for tool, package in (("checkbashisms", "devscripts (Debian) / devscripts-checkbashisms (Fedora)"),
                              ("dash", "dash")):
            if not shutil.which(tool):
                raise UsageError(f"{profile_path}: Checks has BashismsCheck, which needs {tool}: install {package}")


def _add(result: FileResult, message: Message, sign: int = 1) -> None:
    """Count `message` in (sign 1) or out of (-1) the result's errors or warnings; add it when counted in."""
    if sign > 0:
        result.messages.append(message)
    if message.level == "E":
        result.errors += sign
    elif message.level == "W":
        result.warnings += sign


@dataclass
class _Linter:
    """One lint run over several files: rpmlint with our profile, then our own checks,
    noting which of the rpmlintrc's own filters were used."""
    exe: str
    work: rpmlint.Workspace
    env: dict[str, str]
    rpmlintrc: Path
    filters: list[re.Pattern[str]]        # the profile's and the rpmlintrc's
    own_filters: dict[str, frozenset[str]]  # the rpmlintrc's: {pattern: packages whose presence makes it unused}
    extra_licenses: list[str]
    used: set[str] = field(default_factory=set)

    def lint(self, path: Path, shown_as: str, jail: list[str]) -> FileResult:
        """`jail`: the sandbox prefix rpm and rpmlint run behind for this file ([]: none)."""
        summary, messages = rpmlint.run(self.exe, path, self.work.config, self.rpmlintrc, self.env, jail)
        unused_here = {u for u in map(rpmlint.unused_filter, messages) if u is not None}
        self.used |= set(self.own_filters) - unused_here
        summary["errors"] -= sum(1 for m in messages if rpmlint.unused_filter(m) is not None)
        messages = [m for m in messages if rpmlint.unused_filter(m) is None]
        result = FileResult(shown_as, errors=summary["errors"], warnings=summary["warnings"], messages=messages)
        if "filtered" in summary:
            result.filtered = summary["filtered"]
        else:
            raw, _ = rpmlint.run(self.exe, path, self.work.config_raw, self.work.empty_rpmlintrc, self.env, jail)
            result.filtered = max(0, raw["errors"] + raw["warnings"] - result.errors - result.warnings)
        for wrong in extra.false_positives(path, messages, self.env):
            messages.remove(wrong)
            result.filtered += 1
            _add(result, wrong, -1)
        ours = (extra.spec_messages(path, self.env, self.extra_licenses, jail) if path.suffix == ".spec"
                else extra.rpm_messages(path, self.env))
        for message in ours:
            if any(f.search(message.text) for f in self.filters):
                self.used |= {f for f in self.own_filters if re.search(f, message.text)}
                result.filtered += 1
            else:
                _add(result, message)
        return result


def _package_names(paths: Iterable[StrPath], env: Mapping[str, str]) -> set[str]:
    """NAMEs of the RPMs (binary and source) and specs among paths. A split layout's
    ollama-ggml-<backend> source package counts as its backend being there: the
    main package then never obsoletes it."""
    names: set[str] = set()
    for path in paths:
        name = Path(path).name
        if name.endswith(".rpm"):
            proc = subprocess.run(["rpm", "-qp", "--nosignature", "--qf", "%{NAME}", str(path)],
                                  capture_output=True, text=True, env=env)
            names.add(proc.stdout.strip())
        elif name.endswith(".spec"):
            names.add(name[:-len(".spec")])
    return names


def _complete(paths: Iterable[Path]) -> bool:
    """A spec or SRPM and at least one binary RPM: every filter has something to match."""
    names = [Path(p).name for p in paths]
    sources = [n for n in names if n.endswith((".spec", ".src.rpm"))]
    return bool(sources) and len(sources) < len(names)
