"""Put every Source and Patch of the rendered spec into a source directory, verified.

URL Sources (Ollama, llama.cpp) come from the content-addressed cache or are
downloaded into it, and must match their sha256 pin in sources.lock (next to
packaging.yaml). The vendor tarball is made by `vendor`; it is placed from the
cache when pinned and cached. Project files and the patches are copied from the
config file's directory.

`resolve` builds the source set once (table, lock, cache, source dir); the
steps of the SRPM path (sources -> vendor -> rpmbuild -bs) take it, so the lock
is read once and a new pin made by one step is seen by the next.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ollama_rpm import atomic, project
from ollama_rpm.errors import ConfigError, IntegrityError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.sources import archive, fetch, lock
from ollama_rpm.specgen import source_table
from ollama_rpm.specgen.source_table import Source, SourceTable

if TYPE_CHECKING:
    from ollama_rpm.specgen.config import Config

Report = Callable[[str], object]


def default_source_dir(root: Path) -> Path:
    return Path(root) / "build" / "SOURCES"


def lock_path(config: Config) -> Path:
    return source_table.base_dir(config) / project.LOCK_NAME


@dataclass(frozen=True)
class SourceSet:
    """The Sources of one config, resolved once: what the spec lists, the pins, where they go."""

    config: Config
    table: SourceTable
    lock: lock.Lock         # mutable: new pins land here; the caller saves it
    cache: fetch.Cache
    source_dir: Path

    def source(self, role: str) -> Source:
        return self.table.role(role)

    def path(self, role: str) -> Path:
        """Where the Source of `role` is (or goes) in the source dir."""
        return self.source_dir / self.source(role).file_name


def resolve(config: Config, source_dir: Path, *, table: SourceTable | None = None,
            cache: fetch.Cache | None = None) -> SourceSet:
    """The source set of `config`: its table, its lock (read here, once), the cache."""
    return SourceSet(config=config, table=table or source_table.build(config),
                     lock=lock.load(lock_path(config)), cache=cache or fetch.Cache(),
                     source_dir=Path(source_dir))


def check_project_files(sset: SourceSet) -> None:
    """Fail on a missing project file or patch before any network traffic."""
    for src, _ in sset.table.project_files():
        if not src.exists():
            raise ConfigError(src, None, "missing; the spec ships it as a Source or Patch")
        atomic.check_regular(src)


def place(cached: StrPath, dest: StrPath) -> None:
    """Hard-link (or copy) a cache entry to `dest`, atomically."""
    dest = Path(dest)
    with atomic.atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(cached, tmp)
        except OSError:
            shutil.copyfile(cached, tmp)
            os.chmod(tmp, 0o644)


def _check_pins(sset: SourceSet, update_lock: bool, roles: Collection[str] | None) -> None:
    lock = sset.lock
    for source in sset.table.url_sources:
        if roles is not None and source.role not in roles:
            continue
        pin = lock.get(source.file_name)
        if update_lock:
            continue
        if pin is None:
            raise ConfigError(lock.path, source.file_name,
                              f"no sha256 pin for Source{source.number} {source.value}; "
                              "run `ollama-rpm sources --update-lock` to download it and record one")
        if pin.url != source.value:
            raise ConfigError(lock.path, source.file_name,
                              f"pinned for {pin.url}, but Source{source.number} is {source.value}; "
                              "run `ollama-rpm sources --update-lock` to re-pin")


def fetch_url_sources(sset: SourceSet, *, update_lock: bool = False, roles: Collection[str] | None = None,
                      report: Report = print) -> dict[str, Path]:
    """Download/verify the URL Sources (those of `roles`, else all) into the source dir;
    returns {role: path}.

    Every pin is checked before anything is fetched. New pins (missing, or for a
    changed URL) are recorded in the set's lock only with `update_lock`; the caller saves it.
    """
    lock, cache = sset.lock, sset.cache
    _check_pins(sset, update_lock, roles)
    result: dict[str, Path] = {}
    for source in sset.table.url_sources:
        if roles is not None and source.role not in roles:
            continue
        name, url = source.file_name, source.value
        dest = sset.source_dir / name
        pin = lock.get(name)
        if pin is not None and pin.url != url:
            pin = None                               # URL changed: re-pin (update_lock only)
        if pin is not None:
            how = _ensure_pinned(name, url, pin.sha256, dest, cache)
            check_tarball(cache, dest, pin.sha256, f"{name} ({url})")
            report(f"{name}: {how} (sha256 {pin.sha256})")
        else:
            cached, sha256 = fetch.download(url, cache, name)
            # Pin only what `build` can unpack: an HTML error page or a truncated
            # stream would otherwise be pinned as the release.
            archive.check_readable(cached, f"{name} ({url})")
            check_tarball(cache, cached, sha256, f"{name} ({url})")
            place(cached, dest)
            lock.set(name, url, sha256)
            report(f"{name}: downloaded, pinned in {lock.path.name} (sha256 {sha256})")
        result[source.role] = dest
    return result


def check_tarball(cache: fetch.Cache, path: Path, sha256: str, label: str) -> None:
    """Every entry of a tarball the SRPM will carry judged safe (once per content)."""
    cache.judged(sha256, lambda: archive.check_members(path, label))


def _ensure_pinned(name: str, url: str, sha256: str, dest: Path, cache: fetch.Cache) -> str:
    if dest.is_file() and fetch.sha256_file(dest) == sha256:
        return "verified"
    cached = cache.lookup(sha256)
    how = "from cache"
    if cached is None:
        cached, _ = fetch.download(url, cache, name, expected=sha256)
        how = "downloaded"
    place(cached, dest)
    return how


def place_pinned_generated(sset: SourceSet, role: str = source_table.VENDOR) -> Path | None:
    """Put a pinned, locally made Source (the vendor tarball) in place from the cache.

    Returns its path, or None when it is neither in the source dir nor in the cache.
    IntegrityError when the copy in the source dir does not match its pin.
    """
    name = sset.source(role).file_name
    pin = sset.lock.get(name)
    dest = sset.source_dir / name
    if pin is None:
        return dest if dest.is_file() else None
    if dest.is_file():
        actual = fetch.sha256_file(dest)
        if actual != pin.sha256:
            raise IntegrityError(f"{dest}: sha256 mismatch: expected {pin.sha256} ({sset.lock.path.name}), "
                                 f"got {actual}; run `ollama-rpm vendor` to rebuild it")
        check_tarball(sset.cache, dest, pin.sha256, f"{name} (pinned in {sset.lock.path.name})")
        return dest
    cached = sset.cache.lookup(pin.sha256)
    if cached is None:
        return None
    check_tarball(sset.cache, cached, pin.sha256, f"{name} (pinned in {sset.lock.path.name})")
    place(cached, dest)
    return dest


def copy_project_files(sset: SourceSet, report: Report = print) -> list[Path]:
    """Copy the project Sources and the patches into the source dir (only those that changed)."""
    files = sset.table.project_files()
    check_project_files(sset)
    result: list[Path] = []
    for src, name in files:
        dest = sset.source_dir / name
        data = atomic.read_bytes(src)
        if not (dest.is_file() and not dest.is_symlink() and dest.stat().st_size == len(data)
                and dest.read_bytes() == data):
            atomic.write_bytes(dest, data)
        result.append(dest)
    report(f"{len(result)} project files and patches copied")
    return result


def fetch_sources(sset: SourceSet, *, update_lock: bool = False, report: Report = print) -> list[Path]:
    """`ollama-rpm sources`: every Source and Patch into the source dir; returns the paths."""
    atomic.check_output_dir(sset.source_dir, "--source-dir")
    before = sset.lock.to_json()
    check_project_files(sset)
    paths = list(fetch_url_sources(sset, update_lock=update_lock, report=report).values())
    if update_lock and sset.lock.to_json() != before:
        sset.lock.save()
        report(f"{sset.lock.path}: updated")
    vendor_name = sset.source(source_table.VENDOR).file_name
    vendor = place_pinned_generated(sset)
    if vendor is None:
        report(f"{vendor_name}: not built yet; run `ollama-rpm vendor`")
    else:
        report(f"{vendor_name}: verified")
        paths.append(vendor)
    paths += copy_project_files(sset, report=report)
    return paths
