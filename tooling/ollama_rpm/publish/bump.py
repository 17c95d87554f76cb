"""Move the package to a new upstream Ollama release.

Reads what the spec depends on from the real release tarballs (not from
release notes): LLAMA_CPP_VERSION, go.mod's `go` line, the CUDA/ROCm lists
of llama/server/CMakePresets.json, the llama/compat patches, and ggml's x86
CPU variants from the pinned llama.cpp. Everything is computed first, in
memory and in a temporary directory; only then are packaging.yaml,
sources.lock and ollama.spec written and committed. Any failure restores the
working tree, the index and HEAD.
"""

from __future__ import annotations

import copy
import datetime
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ollama_rpm import atomic, project
from ollama_rpm.errors import IntegrityError, NetworkError, ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.publish import bump_apply, bump_report, packager
from ollama_rpm.publish.bump_apply import Log
from ollama_rpm.publish.github import GitHub
from ollama_rpm.publish.upstream_release import (
    Upstream,
    UpstreamError,
    gpu_list,
    has_preset,
    read_commit,
    read_ggml_variants,
    read_ollama,
)
from ollama_rpm.sources import fetch, lock, patchcheck
from ollama_rpm.specgen import context, cpu_levels, parse, render, source_table, yamledit
from ollama_rpm.specgen.config import Config, load_config, parse_config
from ollama_rpm.specgen.version import parse_upstream
from ollama_rpm.specgen.yamlread import yaml_load

if TYPE_CHECKING:
    # GitPython, imported where it is used (`--help` does not load it); git.repo.Repo
    # because GitPython 3.1.30 (Debian 12) does not re-export git.Repo for mypy.
    from git.repo import Repo
# ggml's x86 CPU variants as upstream_release reads them: (variant, ISA feature flags).
Variants = Iterable[tuple[str, tuple[str, ...]]]

DEFAULT_REPO = "ollama/ollama"

# --- downloads -------------------------------------------------------------------

def download(url: str, cache_dir: StrPath, timeout: float) -> tuple[Path, str]:
    """One real download (retries, truncation checks) into a throwaway cache."""
    file_name = url.rsplit("/", 1)[-1]
    try:
        return fetch.download(url, fetch.Cache(cache_dir), file_name, timeout=timeout)
    except NetworkError as error:
        raise NetworkError(f"download {error}") from None


def fetch_pinned(url: str, tmp: Path, pinned: lock.Lock, timeout: float, log: Log) -> tuple[Path, str]:
    """Download `url` twice; the two must hash the same (and match an existing pin)."""
    file_name = url.rsplit("/", 1)[-1]
    path, first = download(url, tmp / "first", timeout)
    _, second = download(url, tmp / "second", timeout)
    if first != second:
        raise IntegrityError(f"{file_name}: two downloads of {url} differ (sha256 {first[:16]}... then "
                             f"{second[:16]}...); the archive is not stable, nothing pinned")
    pin = pinned.get(file_name)
    if pin and pin.sha256 != first:
        raise IntegrityError(f"{file_name}: sha256 {first} differs from the pin {pin.sha256} in {pinned.path.name}")
    log(f"{file_name}  sha256 {first}")
    return path, first


# --- the plan --------------------------------------------------------------------

def _x86_map(raw_map: Mapping[str, object], variants: Variants, llama_tag: str
             ) -> tuple[list[tuple[str, object, str]], list[str], list[str]]:
    """New cpu_variants.x86_64 lines, (variant, its value, its line), and (added, removed) variant names."""
    lines: list[tuple[str, object, str]] = []
    names: list[str] = []
    for name, features in variants:
        for feature in features:
            if feature not in cpu_levels.FEATURE_LEVEL:
                raise UpstreamError(f"llama.cpp {llama_tag}: ggml CPU variant {name!r} uses ISA flag {feature!r}, "
                                    "unknown to ollama-rpm; add its x86-64 level to cpu_levels.FEATURE_LEVEL")
        lowest = cpu_levels.lowest_level(features)
        current = raw_map.get(name)
        current = current.get("level") if isinstance(current, dict) else current
        level = current if isinstance(current, str) and current in cpu_levels.LEVELS and \
            cpu_levels.level_rank(current) >= cpu_levels.level_rank(lowest) else lowest
        known = set(cpu_levels.X86_VARIANT_FEATURES.get(name, ("?",))) == set(features)
        if known:
            lines.append((name, level, f"{name}: {level}"))
        else:
            flags = ", ".join(features)
            lines.append((name, {"level": level, "features": list(features)},
                          f"{name}: {{level: {level}, features: [{flags}]}}"))
        names.append(name)
    added = [n for n in names if n not in raw_map]
    removed = [n for n in raw_map if n not in names]
    # Keep the packager's order; new variants go at the end, in upstream order.
    order = [n for n in raw_map if n in names] + added
    lines.sort(key=lambda line: order.index(line[0]))
    return lines, added, removed


@dataclass
class Plan:
    upstream: str
    rpm_version: str
    yaml_text: str
    lock_text: str
    spec_text: str                # the main spec (ollama.spec)
    changes: list[str]
    message: str
    spec_texts: dict[str, str]    # every spec of the layout: {file name: text}, main first


class _YamlEdit:
    """packaging.yaml edited two ways at once: its text (comments kept) and the data it
    must parse to (`yamledit.verify` compares them at the end)."""

    def __init__(self, text: str, data: dict[str, Any]) -> None:
        self.text, self.data = text, copy.deepcopy(data)

    def _parent(self, path: tuple[str, ...]) -> dict[str, Any]:
        node = self.data
        for key in path[:-1]:
            node = node[key]
        return node

    def scalar(self, path: tuple[str, ...], value: object) -> None:
        node = self._parent(path)
        if node.get(path[-1]) != value:
            node[path[-1]] = value
            self.text = yamledit.set_scalar(self.text, path, value)

    def listed(self, path: tuple[str, ...], items: list[str]) -> bool:
        """Set a list; True when it changed."""
        node = self._parent(path)
        if node.get(path[-1]) == items:
            return False
        node[path[-1]] = items
        self.text = yamledit.set_list(self.text, path, items)
        return True


@dataclass(frozen=True)
class Release:
    """What the new release's tarballs say, and their sha256 pins."""
    upstream: Upstream            # read from the Ollama tarball
    variants: Variants            # ggml's x86 CPU variants, read from the llama.cpp tarball
    ollama_pin: str
    llama_pin: str
    llama_commit: str | None = None   # the llama.cpp tag's commit, when its tarball records it


def plan(root: Path, cfg: Config, raw_text: str, old_lock: lock.Lock, release: Release, today: datetime.date, *,
         author: str | None = None) -> Plan:
    """The new packaging.yaml, lock and specs; the changelog entry's `author` (default:
    packaging.yaml's packager)."""
    upstream = release.upstream
    data = yaml_load(raw_text)
    edit = _YamlEdit(raw_text, data)
    up, rpm_version = parse_upstream(upstream.version)
    edit.scalar(("version",), up)
    edit.scalar(("release",), 1)
    changes = _upstream_edits(edit, cfg, data, upstream, release.llama_commit)
    changes += _cpu_edits(edit, data["cpu_variants"]["x86_64"], release.variants, upstream.llama_cpp_tag)
    _changelog_edit(edit, today, f"{rpm_version}-1", [f"Update to {up} (llama.cpp {upstream.llama_cpp_tag})",
                                                      *changes], None if author == cfg.packager else author)
    try:
        yamledit.verify(edit.text, edit.data)
    except yamledit.EditError as error:
        raise ToolError(f"{cfg.path}: cannot edit it in place ({error}); edit it by hand") from None
    new_cfg = parse_config(cfg.path, yaml_load(edit.text))
    new_lock = _new_lock(cfg, new_cfg, old_lock, {source_table.OLLAMA: release.ollama_pin,
                                                  source_table.LLAMA_CPP: release.llama_pin})
    # Every spec of the layout (split: ollama.spec and each ollama-ggml-<backend>.spec), one commit.
    spec_texts = {package.spec_file: text for package, text in render.render_specs(root, new_cfg)}
    message = f"Update to {up} (llama.cpp {upstream.llama_cpp_tag})\n\n" + "".join(
        f"- {line}\n" for line in changes or ["no packaging changes needed"])
    return Plan(upstream=up, rpm_version=rpm_version, yaml_text=edit.text, lock_text=new_lock.to_json(),
                spec_text=next(iter(spec_texts.values())), changes=changes, message=message, spec_texts=spec_texts)


def _upstream_edits(edit: _YamlEdit, cfg: Config, data: Mapping[str, Any], upstream: Upstream,
                    llama_commit: str | None) -> list[str]:
    """The llama.cpp pin, compat patches, Go version and GPU targets upstream now names; the changes as lines."""
    changes: list[str] = []
    if upstream.llama_cpp_tag != cfg.llama_cpp_tag:
        edit.scalar(("llama_cpp", "tag"), upstream.llama_cpp_tag)
        # llama-server reports the tag's commit (LLAMA_BUILD_COMMIT): it moves with the tag.
        if llama_commit is None:
            raise UpstreamError(f"llama.cpp-{upstream.llama_cpp_tag}.tar.gz records no git commit id "
                                "(GitHub's archives do): set llama_cpp.commit to the tag's commit by hand")
        edit.scalar(("llama_cpp", "commit"), llama_commit)
    if edit.listed(("llama_cpp", "compat_patches"), upstream.compat_patches):
        changes.append("llama.cpp compat patches: " + ", ".join(PurePosixPath(p).name
                                                                for p in upstream.compat_patches))
    if str(data["go"]["min_version"]) != upstream.go_version:
        edit.scalar(("go", "min_version"), upstream.go_version)
        changes.append(f"BuildRequires golang >= {upstream.go_version}")
    for backend in cfg.backends:
        # A list given as an rpm macro (Fedora's %{rocm_gpu_list_default}) is the
        # distribution's choice, not upstream's: leave it alone.
        if has_preset(backend.name) and backend.gpu_targets \
                and not any(t.startswith("%") for t in backend.gpu_targets):
            targets = gpu_list(upstream, backend.name, backend.runner_dir)
            if edit.listed(("backends", backend.name, "gpu_targets"), targets):
                changes.append(f"{backend.name} GPU targets from upstream {backend.runner_dir}: {';'.join(targets)}")
    return changes


def _cpu_edits(edit: _YamlEdit, raw_map: Mapping[str, object], variants: Variants, llama_tag: str) -> list[str]:
    """cpu_variants.x86_64 as the pinned llama.cpp builds them; the changes as lines."""
    lines, added, removed = _x86_map(raw_map, variants, llama_tag)
    new_map = {name: value for name, value, _ in lines}
    if new_map == raw_map and list(new_map) == list(raw_map):
        return []
    edit.data["cpu_variants"]["x86_64"] = new_map
    edit.text = yamledit.set_mapping_lines(edit.text, ("cpu_variants", "x86_64"), [line for _, _, line in lines])
    changes = []
    for name in added:
        value = new_map[name]
        level = value["level"] if isinstance(value, dict) else value
        changes.append(f"New ggml CPU variant {name} in ollama-ggml-cpu-x86_64-{level}")
    changes += [f"ggml CPU variant {name} dropped upstream" for name in removed]
    return changes


def _changelog_edit(edit: _YamlEdit, today: datetime.date, evr: str, entry_text: list[str],
                    author: str | None = None) -> None:
    """A new newest changelog entry, dated today (or the newest entry's date, if later),
    naming `author` when given (else the entry's default, packaging.yaml's packager)."""
    newest = edit.data["changelog"][0]["date"]
    if isinstance(newest, str):
        newest = datetime.date.fromisoformat(newest)
    date = max(today, newest)
    entry: dict[str, object] = {"version": evr, "date": date}
    head = [f"version: {evr}", f"date: {date.isoformat()}"]
    if author:
        entry["author"] = author
        head.append(f"author: {yamledit.scalar(author)}")
    entry["text"] = entry_text
    edit.data["changelog"].insert(0, entry)
    edit.text = yamledit.insert_list_item(edit.text, ("changelog",), [*head, "text:"]
                                          + [f"  - {yamledit.scalar(line)}" for line in entry_text])


def _new_lock(cfg: Config, new_cfg: Config, old_lock: lock.Lock, pins: Mapping[str, str]) -> lock.Lock:
    """sources.lock: the old tarballs' pins dropped, the new ones pinned ({role: sha256})."""
    new_lock = lock.Lock(old_lock.path, old_lock.pins)
    for source in source_table.build(cfg).url_sources:
        new_lock.pins.pop(source.file_name, None)
    for source in source_table.build(new_cfg).url_sources:
        new_lock.set(source.file_name, source.value, pins[source.role])
    return new_lock


def check_spec(plan_: Plan, tmp: StrPath, root: Path) -> None:
    specs: list[Path] = []
    for name, text in (plan_.spec_texts or {"ollama.spec": plan_.spec_text}).items():
        spec = Path(tmp) / name
        spec.write_text(text, encoding="utf-8")
        parsed = parse.parse(spec, target="x86_64")
        if parsed.version != plan_.rpm_version:
            raise ToolError(f"rendered {name} says Version {parsed.version}, expected {plan_.rpm_version}")
        specs.append(spec)
    from ollama_rpm.check.lint import lint_paths
    own = [spec.read_text(encoding="utf-8") for spec in specs]       # our render: parsed unsandboxed
    report = lint_paths(specs, root, macros=project.extra_macro_files(), own=own)
    if report.failed:
        raise UpstreamError(f"rendered spec for {plan_.upstream} fails lint; run `ollama-rpm lint` after a --no-commit bump")


def _older(new: str, old: str) -> bool:
    try:
        import rpm
    except ImportError:
        return False
    return bool(rpm.labelCompare(("0", new, "1"), ("0", old, "1")) < 0)


# --- the transaction ---------------------------------------------------------------

def _repo(root: Path) -> Repo:
    import git
    from git.repo import Repo
    try:
        repo = Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{root}: not in a git repository; bump commits its change") from None
    if repo.working_tree_dir is None:
        raise UsageError(f"{root}: inside the bare git repository {repo.git_dir}; bump commits its change "
                         "in a checkout")
    return repo


def report_path(root: StrPath, version: str) -> Path:
    """Where bump writes its report by default (build/ is git-ignored)."""
    return Path(root) / "build" / f"bump-report-{version}.txt"


def previous_release(templates: Mapping[str, str], fmt: Mapping[str, str], cfg: Config, pinned: lock.Lock, *,
                     new_llama: Path, tmp: Path, timeout: float, log: Log) -> tuple[Path, Path] | str:
    """The packaged release's Ollama (and llama.cpp) tarballs, checked against their pins; or why not."""
    old_fmt = dict(fmt, upstream_version=cfg.upstream_version, llama_cpp_tag=cfg.llama_cpp_tag)
    paths: list[Path] = []
    for role in ("ollama", "llama_cpp"):
        url = templates[role].format(**old_fmt)
        if role == "llama_cpp" and old_fmt["llama_cpp_tag"] == fmt["llama_cpp_tag"]:
            paths.append(new_llama)
            continue
        name = url.rsplit("/", 1)[-1]
        try:
            path, sha = download(url, tmp / "previous", timeout)
        except NetworkError as error:
            return f"the packaged release's tarball is not available ({error})"
        pin = pinned.get(name)
        if pin and pin.sha256 != sha:
            raise IntegrityError(f"{name}: sha256 {sha} differs from the pin {pin.sha256} in {pinned.path.name}")
        log(f"{name}  sha256 {sha} (the packaged release, for the report{'; matches its pin' if pin else ''})")
        paths.append(path)
    return paths[0], paths[1]


def make_report(cfg: Config, new_up: str, rpm_version: str, previous: tuple[Path, Path] | str, *,
                ollama_tar: Path, llama_tar: Path, licenses: bool = True) -> bump_report.BumpReport:
    """The bump report (bump_report), or one line saying why there is nothing to compare."""
    if isinstance(previous, str):
        return bump_report.BumpReport(cfg.upstream_version, new_up, rpm_version,
                                      [bump_report.Section("Comparison", [f"! {previous}"])])
    old = bump_report.read_tree(previous[0], cfg.upstream_version, previous[1])
    new = bump_report.read_tree(ollama_tar, new_up, llama_tar)
    lookup: bump_report.LicenseLookup | None = None
    if licenses and shutil.which("go"):
        try:
            from ollama_rpm.sources.vendor import tool_path
            askalono = tool_path("askalono", "askalono-cli")
            lookup = lambda modules: bump_report.module_licenses(modules, askalono)  # noqa: E731
        except ToolError:
            lookup = None
    manifest = str(cfg.llama_cpp_install_manifest.relative_to(cfg.path.parent)) \
        if cfg.llama_cpp_install_manifest.is_relative_to(cfg.path.parent) else str(cfg.llama_cpp_install_manifest)
    return bump_report.compare(old, new, rpm_version, manifest, cfg.go_license, lookup)


def bump(root: StrPath | None = None, *, to: str | None = None, repo_name: str = DEFAULT_REPO, push: bool = False,
         commit: bool = True, remote: str | None = None, timeout: float = 60.0, log: Log = print) -> int:
    root = Path(root or project.find_root())
    config_path = root / project.CONFIG_NAME
    lock_path = root / project.LOCK_NAME
    repo = _repo(root) if commit or push else None
    cfg = load_config(config_path)
    # Who writes the changelog entry, before any network or git work.
    author = packager.identity(cfg, root)
    if repo is not None:
        _check_clean(repo, root, cfg, push)
    raw_text = atomic.read_text(config_path)
    old_lock = lock.load(lock_path)
    github = GitHub(timeout=timeout)
    release = _release(github, repo_name, to)
    try:
        new_up, _ = parse_upstream(release["tag_name"])
    except ValueError:
        raise UpstreamError(f"GitHub release tag {release['tag_name']!r} is not a version") from None
    if new_up == cfg.upstream_version:
        log(f"already at {new_up}")
        return 0
    if _older(parse_upstream(new_up)[1], cfg.version):
        raise UsageError(f"{new_up} is older than the packaged {cfg.upstream_version}")
    log(f"{repo_name} {release['tag_name']} (packaged: {cfg.upstream_version})")
    new, report = _plan_release(root, cfg, raw_text, old_lock, new_up, timeout=timeout, log=log, author=author)
    texts = {config_path: new.yaml_text, lock_path: new.lock_text,
             **{root / name: text for name, text in new.spec_texts.items()}}
    bump_apply.apply(repo, texts, new.message, commit=commit, push=push, remote=remote, log=log,
                     secrets=[github.token])
    log(report.text())
    written = bump_report.write(report, report_path(root, new_up))
    log(f"bump report written to {written}")
    return 0


def _check_clean(repo: Repo, root: Path, cfg: Config, push: bool) -> None:
    """Refuse a detached HEAD for --push, and uncommitted changes to anything the spec is rendered from."""
    if push and repo.head.is_detached:
        raise UsageError("--push: HEAD is detached; check out the branch Copr builds from first")
    targets = (root / project.CONFIG_NAME, root / project.LOCK_NAME,
               *(root / package.spec_file for package in context.packages(cfg)))
    # Everything the spec is rendered from: a commit must hold what it was made of.
    inputs = [*targets, root / project.TEMPLATE_NAME, root / cfg.patches_dir,
              *(root / path for _, _, _, path in source_table.PROJECT_SOURCES)]
    dirty = repo.git.status("--porcelain", "--untracked-files=all", "--",
                            *(str(p) for p in inputs if p.exists() or p in targets))
    if dirty.strip():
        first = dirty.splitlines()[0][3:]
        raise UsageError(f"{first}: has uncommitted changes; commit or stash them before bump")


def _release(github: GitHub, repo_name: str, to: str | None) -> Mapping[str, Any]:
    """GitHub's answer for release `to` (a version), or for the latest stable one."""
    tag = None
    if to:
        try:
            up, _ = parse_upstream(to)
        except ValueError:
            raise UsageError(f"--to {to}: expected a version like 0.33.0 or v0.33.0-rc2") from None
        tag = f"v{up}"
    release = github.release(repo_name, tag)
    # GitHub's /releases/latest is the newest release that is neither a draft nor a
    # pre-release; an answer that says otherwise is not followed.
    if release.get("draft") is True or (tag is None and (release.get("prerelease") is True
                                                          or "-" in str(release["tag_name"]))):
        kind = "a draft" if release.get("draft") is True else "a pre-release"
        raise UpstreamError(f"GitHub release {str(release['tag_name'])[:40]!r} of {repo_name} is {kind}; "
                            "not packaged" + ("" if release.get("draft") is True else "; use --to to package it"))
    return release


def _plan_release(root: Path, cfg: Config, raw_text: str, old_lock: lock.Lock, new_up: str, *, timeout: float,
                  log: Log, author: str | None = None) -> tuple[Plan, bump_report.BumpReport]:
    """Download and read release `new_up` and the llama.cpp it pins, check the patches, plan and
    check the new spec(s), and compare with the packaged release (the bump report): all in a
    temporary directory, nothing in the project written."""
    templates = yaml_load(raw_text)["sources"]
    fmt = {"upstream_version": new_up, "name": cfg.name, "llama_cpp_tag": cfg.llama_cpp_tag}
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-bump-") as tmp_name:
        tmp = Path(tmp_name)
        ollama_tar, ollama_sha = fetch_pinned(templates["ollama"].format(**fmt), tmp, old_lock, timeout, log)
        upstream = read_ollama(ollama_tar, new_up)
        fmt["llama_cpp_tag"] = upstream.llama_cpp_tag
        llama_tar, llama_sha = fetch_pinned(templates["llama_cpp"].format(**fmt), tmp, old_lock, timeout, log)
        variants = read_ggml_variants(llama_tar)
        applied = patchcheck.check(ollama_tar, patchcheck.project_patches(cfg),
                                   llama_tar, upstream.compat_patches)
        log(f"patches apply to {new_up}: {', '.join(applied) or 'none'}")
        release = Release(upstream, variants, ollama_sha, llama_sha, read_commit(llama_tar))
        new = plan(root, cfg, raw_text, old_lock, release, datetime.date.today(), author=author)
        if upstream.llama_cpp_tag != cfg.llama_cpp_tag:
            log(f"llama.cpp {upstream.llama_cpp_tag}: re-record {cfg.llama_cpp_install_manifest.name} "
                "from a real build (doc/verification.md); %files follows it")
        check_spec(new, tmp, root)
        previous = previous_release(templates, fmt, cfg, old_lock, new_llama=llama_tar, tmp=tmp, timeout=timeout,
                                    log=log)
        report = make_report(cfg, new_up, new.rpm_version, previous, ollama_tar=ollama_tar, llama_tar=llama_tar)
    return new, report
