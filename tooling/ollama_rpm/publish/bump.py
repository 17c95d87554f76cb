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

import contextlib
import copy
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import TYPE_CHECKING, Any

from ollama_rpm import atomic, project
from ollama_rpm.errors import IntegrityError, NetworkError, ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
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
from ollama_rpm.textout import redact

if TYPE_CHECKING:
    # GitPython, imported where it is used (`--help` does not load it); git.repo.Repo
    # because GitPython 3.1.30 (Debian 12) does not re-export git.Repo for mypy.
    from git.repo import Repo

Log = Callable[[str], object]     # a line of progress for the user
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


def plan(root: Path, cfg: Config, raw_text: str, old_lock: lock.Lock, upstream: Upstream, llama_variants: Variants,
         ollama_pin: str, llama_pin: str, today: datetime.date, llama_commit: str | None = None) -> Plan:
    data = yaml_load(raw_text)
    new = copy.deepcopy(data)
    text = raw_text
    changes: list[str] = []

    def scalar(path: tuple[str, ...], value: object) -> None:
        nonlocal text
        node = new
        for key in path[:-1]:
            node = node[key]
        if node.get(path[-1]) != value:
            node[path[-1]] = value
            text = yamledit.set_scalar(text, path, value)

    def listed(path: tuple[str, ...], items: list[str]) -> bool:
        nonlocal text
        node = new
        for key in path[:-1]:
            node = node[key]
        if node.get(path[-1]) != items:
            node[path[-1]] = items
            text = yamledit.set_list(text, path, items)
            return True
        return False

    up, rpm_version = parse_upstream(upstream.version)
    scalar(("version",), up)
    scalar(("release",), 1)
    if upstream.llama_cpp_tag != cfg.llama_cpp_tag:
        scalar(("llama_cpp", "tag"), upstream.llama_cpp_tag)
        # llama-server reports the tag's commit (LLAMA_BUILD_COMMIT): it moves with the tag.
        if llama_commit is None:
            raise UpstreamError(f"llama.cpp-{upstream.llama_cpp_tag}.tar.gz records no git commit id "
                                "(GitHub's archives do): set llama_cpp.commit to the tag's commit by hand")
        scalar(("llama_cpp", "commit"), llama_commit)
    if listed(("llama_cpp", "compat_patches"), upstream.compat_patches):
        changes.append("llama.cpp compat patches: " + ", ".join(PurePosixPath(p).name
                                                                for p in upstream.compat_patches))
    if str(data["go"]["min_version"]) != upstream.go_version:
        scalar(("go", "min_version"), upstream.go_version)
        changes.append(f"BuildRequires golang >= {upstream.go_version}")
    for backend in cfg.backends:
        # A list given as an rpm macro (Fedora's %{rocm_gpu_list_default}) is the
        # distribution's choice, not upstream's: leave it alone.
        if has_preset(backend.name) and backend.gpu_targets \
                and not any(t.startswith("%") for t in backend.gpu_targets):
            targets = gpu_list(upstream, backend.name, backend.runner_dir)
            if listed(("backends", backend.name, "gpu_targets"), targets):
                changes.append(f"{backend.name} GPU targets from upstream {backend.runner_dir}: {';'.join(targets)}")
    raw_map = data["cpu_variants"]["x86_64"]
    lines, added, removed = _x86_map(raw_map, llama_variants, upstream.llama_cpp_tag)
    new_map = {name: value for name, value, _ in lines}
    if new_map != raw_map or list(new_map) != list(raw_map):
        new["cpu_variants"]["x86_64"] = new_map
        text = yamledit.set_mapping_lines(text, ("cpu_variants", "x86_64"), [line for _, _, line in lines])
        for name in added:
            value = new_map[name]
            level = value["level"] if isinstance(value, dict) else value
            changes.append(f"New ggml CPU variant {name} in ollama-ggml-cpu-x86_64-{level}")
        for name in removed:
            changes.append(f"ggml CPU variant {name} dropped upstream")

    newest = new["changelog"][0]["date"]
    if isinstance(newest, str):
        newest = datetime.date.fromisoformat(newest)
    date = max(today, newest)
    evr = f"{rpm_version}-1"
    entry_text = [f"Update to {up} (llama.cpp {upstream.llama_cpp_tag})"] + changes
    new["changelog"].insert(0, {"version": evr, "date": date, "text": entry_text})
    text = yamledit.insert_list_item(text, ("changelog",),
                                     [f"version: {evr}", f"date: {date.isoformat()}", "text:"]
                                     + [f"  - {yamledit.scalar(line)}" for line in entry_text])
    try:
        yamledit.verify(text, new)
    except yamledit.EditError as error:
        raise ToolError(f"{cfg.path}: cannot edit it in place ({error}); edit it by hand") from None
    new_cfg = parse_config(cfg.path, yaml_load(text))

    # sources.lock: drop the old tarballs' pins, pin the new ones.
    new_lock = lock.Lock(old_lock.path, old_lock.pins)
    for source in source_table.build(cfg).url_sources:
        new_lock.pins.pop(source.file_name, None)
    pins = {source_table.OLLAMA: ollama_pin, source_table.LLAMA_CPP: llama_pin}
    for source in source_table.build(new_cfg).url_sources:
        new_lock.set(source.file_name, source.value, pins[source.role])

    # Every spec of the layout (split: ollama.spec and each ollama-ggml-<backend>.spec), one commit.
    spec_texts = {package.spec_file: text for package, text in render.render_specs(root, new_cfg)}
    spec_text = next(iter(spec_texts.values()))
    message = f"Update to {up} (llama.cpp {upstream.llama_cpp_tag})\n\n" + "".join(
        f"- {line}\n" for line in changes or ["no packaging changes needed"])
    return Plan(upstream=up, rpm_version=rpm_version, yaml_text=text, lock_text=new_lock.to_json(),
                spec_text=spec_text, changes=changes, message=message, spec_texts=spec_texts)


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
    report = lint_paths(specs, root, macros=project.extra_macro_files())
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


def _work_tree(repo: Repo) -> str:
    """The checkout's top directory (_repo refuses a bare repository)."""
    assert repo.working_tree_dir is not None
    return str(repo.working_tree_dir)


def bump(root: StrPath | None = None, *, to: str | None = None, repo_name: str = DEFAULT_REPO, push: bool = False,
         commit: bool = True, remote: str | None = None, timeout: float = 60.0, today: datetime.date | None = None,
         log: Log = print) -> int:
    import git
    root = Path(root or project.find_root())
    config_path = root / project.CONFIG_NAME
    lock_path = root / project.LOCK_NAME
    repo = _repo(root) if commit or push else None
    cfg = load_config(config_path)
    spec_paths = [root / package.spec_file for package in context.packages(cfg)]
    targets = (config_path, lock_path, *spec_paths)
    if repo is not None:
        if push and repo.head.is_detached:
            raise UsageError("--push: HEAD is detached; check out the branch Copr builds from first")
        # Everything the spec is rendered from: a commit must hold what it was made of.
        inputs = [*targets, root / project.TEMPLATE_NAME, root / cfg.patches_dir,
                  *(root / path for _, _, _, path in source_table.PROJECT_SOURCES)]
        dirty = repo.git.status("--porcelain", "--untracked-files=all", "--",
                                *(str(p) for p in inputs if p.exists() or p in targets))
        if dirty.strip():
            first = dirty.splitlines()[0][3:]
            raise UsageError(f"{first}: has uncommitted changes; commit or stash them before bump")

    raw_text = atomic.read_text(config_path)
    old_lock = lock.load(lock_path)
    github = GitHub(timeout=timeout)
    secrets = [github.token]

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
        today = today or datetime.date.today()
        new = plan(root, cfg, raw_text, old_lock, upstream, variants, ollama_sha, llama_sha, today,
                   llama_commit=read_commit(llama_tar))
        if upstream.llama_cpp_tag != cfg.llama_cpp_tag:
            log(f"llama.cpp {upstream.llama_cpp_tag}: re-record {cfg.llama_cpp_install_manifest.name} "
                "from a real build (doc/verification.md); %files follows it")
        check_spec(new, tmp, root)

    texts = {config_path: new.yaml_text, lock_path: new.lock_text,
             **{root / name: text for name, text in new.spec_texts.items()}}
    before = {path: (path.read_bytes() if path.exists() else None) for path in targets}
    head = repo.head.commit.hexsha if repo is not None and repo.head.is_valid() else None
    stage = "write"
    with signals_interrupt():
        _SIGNALS.interrupted = False
        try:
            if commit:
                assert repo is not None   # made above for commit or push
                stage = "git commit"
                # Objects first (invisible), then one held step: ref, index, files.
                new_commit = _commit_objects(repo, head, texts, new.message)
                with _signals_held():
                    _advance(repo, head, new_commit, texts)
                _raise_if_interrupted()
                log(f"committed {new_commit[:12]}: {new.message.splitlines()[0]}")
            else:
                with _signals_held():
                    for path, text in texts.items():
                        atomic.write_text(path, text)
                _raise_if_interrupted()
                log(f"updated {', '.join(p.name for p in targets)} (not committed)")
            if push:
                assert repo is not None
                stage = "git push"
                _push(repo, remote, log)
        except BaseException as error:
            with _signals_held():
                _restore(repo, head, before)
            # A signal wins over what it caused (a git child killed with the group).
            _raise_if_interrupted()
            if isinstance(error, (git.GitCommandError, subprocess.CalledProcessError)):
                output = getattr(error, "stderr", None) or error
                output = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
                detail = [line.strip() for line in output.splitlines() if line.strip()]
                error_type = NetworkError if stage == "git push" else ToolError
                raise error_type(redact(f"{stage} failed: {detail[-1] if detail else error}; nothing changed",
                                       secrets)) from None
            raise
    return 0


# --- the commit, atomic under signals --------------------------------------------------

_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What signal.signal() takes and returns.
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class _Signals:
    """SIGINT/SIGTERM/SIGHUP as KeyboardInterrupt, except inside `held()` sections,
    where they are only noted (and blocked for git children) until the section ends."""

    def __init__(self) -> None:
        self.interrupted = False
        self.holding = 0

    def handler(self, _signum: int, _frame: FrameType | None) -> None:
        self.interrupted = True
        if not self.holding:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holding += 1
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)   # pending ones run handler() now
            self.holding -= 1


_SIGNALS = _Signals()


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP through `_SIGNALS` for the duration (main thread)."""
    old: dict[signal.Signals, _Handler] = {}
    try:
        for signum in _HELD:
            old[signum] = signal.signal(signum, _SIGNALS.handler)
    except ValueError:            # not the main thread: leave the process's handlers alone
        pass
    try:
        yield
    finally:
        for signum, handler in old.items():
            # Once interrupted, a second Ctrl-C must not cut the clean-up short.
            interrupted = signum == signal.SIGINT and _SIGNALS.interrupted
            signal.signal(signum, signal.SIG_IGN if interrupted else handler)


def _signals_held() -> contextlib.AbstractContextManager[None]:
    return _SIGNALS.held()


def _raise_if_interrupted() -> None:
    if _SIGNALS.interrupted:
        raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the child: SIGKILL when bump dies, so a killed bump never has a git child
    that moves the branch after it (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _git(repo: Repo, *args: str, data: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=_work_tree(repo), input=data, capture_output=True,
                          env=dict(os.environ, **(env or {})), check=True,
                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return proc.stdout.decode().strip()


def _relative(repo: Repo, path: StrPath) -> str:
    return Path(path).resolve().relative_to(Path(_work_tree(repo)).resolve()).as_posix()


def _commit_objects(repo: Repo, head: str | None, texts: Mapping[Path, str], message: str) -> str:
    """Blobs, a tree (built in a private index) and the commit object: nothing that
    HEAD, the index or the working tree show. Returns the commit id."""
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-bump-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", *([head] if head else ["--empty"]), env=env)
        for path, text in texts.items():
            rel = _relative(repo, path)
            blob = _git(repo, "hash-object", "-w", "--stdin", "--path", rel, data=text.encode())
            _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
        tree = _git(repo, "write-tree", env=env)
    return _git(repo, "commit-tree", tree, *(["-p", head] if head else []), "-F", "-", data=message.encode())


def _advance(repo: Repo, head: str | None, new_commit: str, texts: Mapping[Path, str]) -> None:
    """Make `new_commit` current: the new index and files are first written under
    temporary names (inside .git when it is on the same file system, so a kill leaves
    nothing in the working tree), then the branch moves (compare-and-swap on the old
    id), then only renames follow."""
    git_dir = Path(_git(repo, "rev-parse", "--absolute-git-dir"))
    index = git_dir / "index"
    staged: list[tuple[Path, Path]] = []

    def temporary(final: Path) -> Path:
        same_fs = os.stat(git_dir).st_dev == os.stat(final.parent).st_dev
        fd, tmp = tempfile.mkstemp(prefix=f"ollama-rpm-{final.name}.", suffix=".part",
                                   dir=git_dir if same_fs else final.parent)
        os.close(fd)
        staged.append((Path(tmp), final))
        return Path(tmp)

    try:
        new_index = temporary(index)
        if index.exists():
            shutil.copyfile(index, new_index)
        else:
            new_index.unlink()
        entries = "".join(f"100644 {_git(repo, 'rev-parse', f'{new_commit}:{_relative(repo, path)}')}\t"
                          f"{_relative(repo, path)}\n" for path in texts)
        _git(repo, "update-index", "--index-info", data=entries.encode(), env={"GIT_INDEX_FILE": str(new_index)})
        for path, text in texts.items():
            tmp = temporary(path)
            tmp.write_text(text, encoding="utf-8")
            os.chmod(tmp, 0o644)
        _git(repo, "update-ref", "-m", "ollama-rpm bump", "HEAD", new_commit, head or "0" * 40)
        # Past the commit point: renames only.
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _push(repo: Repo, remote: str | None, log: Log) -> None:
    branch = repo.active_branch
    tracking = branch.tracking_branch()
    remote_name = remote or (tracking.remote_name if tracking else None) or "origin"
    dest = tracking.remote_head if tracking and not remote else branch.name
    if remote_name not in [r.name for r in repo.remotes]:
        raise UsageError(f"no git remote {remote_name!r} to push to; add one or pass --remote")
    repo.git.push(remote_name, f"HEAD:refs/heads/{dest}")
    log(f"pushed to {remote_name} {dest}")


def _restore(repo: Repo | None, head: str | None, before: Mapping[Path, bytes | None]) -> None:
    """Put files, index entries and the branch back as they were. Fresh git processes
    only: GitPython's long-lived ones may have died with the process group."""
    for path, data in before.items():
        if data is None:
            if path.exists():
                path.unlink()
        elif not path.exists() or path.read_bytes() != data:
            atomic.write_bytes(path, data)
    if repo is None:
        return
    try:
        current = _git(repo, "rev-parse", "-q", "--verify", "HEAD")
    except subprocess.CalledProcessError:
        current = None
    if head and current != head:
        _git(repo, "update-ref", "-m", "ollama-rpm bump: roll back", "HEAD", head)
    elif head is None and current:
        _git(repo, "update-ref", "-d", "HEAD")          # the first commit of an unborn branch
    if head:
        _git(repo, "reset", "-q", head, "--", *(_relative(repo, p) for p in before))
