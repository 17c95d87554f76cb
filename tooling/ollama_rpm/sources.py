"""Put every Source and Patch of the rendered spec into a source directory, verified.

URL Sources (Source0 Ollama, Source1 llama.cpp) come from the content-addressed
cache or are downloaded into it, and must match their sha256 pin in sources.lock
(next to packaging.yaml). The vendor tarball (Source2) is made by `vendor`; it is
placed from the cache when pinned and cached. Project files (Source3, 10-14) and
the patches are copied from the project.
"""

import os
import shutil
from pathlib import Path

from ollama_rpm import archive, atomic, fetch, lock as lock_mod, project, spec_context
from ollama_rpm.errors import ConfigError, IntegrityError

VENDOR_SOURCE = 2


def default_source_dir(root):
    return Path(root) / "build" / "SOURCES"


def lock_path(config):
    return Path(config.path).parent / project.LOCK_NAME


def url_sources(config):
    return [s for s in spec_context.sources(config) if "://" in s.value]


def project_files(config, root):
    """(file in the project, name in the source dir) for Source3, 10-14 and every patch."""
    root = Path(root)
    files = [(root / s.project_path, s.value) for s in spec_context.sources(config) if s.project_path]
    files += [(root / p["path"], p["file"]) for p in spec_context.patches(config, root)]
    return files


def place(cached, dest):
    """Hard-link (or copy) a cache entry to `dest`, atomically."""
    dest = Path(dest)
    with atomic.atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(cached, tmp)
        except OSError:
            shutil.copyfile(cached, tmp)
            os.chmod(tmp, 0o644)


def _check_pins(config, lock, update_lock, only=None):
    for source in url_sources(config):
        if only is not None and source.number not in only:
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


def fetch_url_sources(config, source_dir, *, update_lock=False, cache=None, lock=None,
                      only=None, report=print):
    """Download/verify the URL Sources into `source_dir`; returns {file name: path}.

    Every pin is checked before anything is fetched. New pins (missing, or for a
    changed URL) are recorded in `lock` only with `update_lock`; the caller saves it.
    """
    cache = cache or fetch.Cache()
    lock = lock if lock is not None else lock_mod.load(lock_path(config))
    _check_pins(config, lock, update_lock, only)
    source_dir = Path(source_dir)
    result = {}
    for source in url_sources(config):
        if only is not None and source.number not in only:
            continue
        name, url = source.file_name, source.value
        dest = source_dir / name
        pin = lock.get(name)
        if pin is not None and pin.url != url:
            pin = None                               # URL changed: re-pin (update_lock only)
        if pin is not None:
            how = _ensure_pinned(name, url, pin.sha256, dest, cache)
            report(f"{name}: {how} (sha256 {pin.sha256})")
        else:
            cached, sha256 = fetch.download(url, cache, name)
            # Pin only what `build` can unpack: an HTML error page or a truncated
            # stream would otherwise be pinned as the release.
            archive.check_readable(cached, f"{name} ({url})")
            place(cached, dest)
            lock.set(name, url, sha256)
            report(f"{name}: downloaded, pinned in {lock.path.name} (sha256 {sha256})")
        result[name] = dest
    return result


def _ensure_pinned(name, url, sha256, dest, cache):
    if dest.is_file() and fetch.sha256_file(dest) == sha256:
        return "verified"
    cached = cache.lookup(sha256)
    how = "from cache"
    if cached is None:
        cached, _ = fetch.download(url, cache, name, expected=sha256)
        how = "downloaded"
    place(cached, dest)
    return how


def place_pinned_generated(name, lock, source_dir, cache):
    """Put a pinned, locally made Source (the vendor tarball) in place from the cache.

    Returns its path, or None when it is neither in `source_dir` nor in the cache.
    IntegrityError when the copy in `source_dir` does not match its pin.
    """
    pin = lock.get(name)
    dest = Path(source_dir) / name
    if pin is None:
        return dest if dest.is_file() else None
    if dest.is_file():
        actual = fetch.sha256_file(dest)
        if actual != pin.sha256:
            raise IntegrityError(f"{dest}: sha256 mismatch: expected {pin.sha256} ({lock.path.name}), "
                                 f"got {actual}; run `ollama-rpm vendor` to rebuild it")
        return dest
    cached = cache.lookup(pin.sha256)
    if cached is None:
        return None
    place(cached, dest)
    return dest


def copy_project_files(config, root, source_dir, report=print):
    """Copy Source3, 10-14 and the patches into `source_dir` (only those that changed)."""
    files = project_files(config, root)
    missing = [src for src, _ in files if not src.is_file()]
    if missing:
        raise ConfigError(missing[0], None, "missing; the spec ships it as a Source or Patch")
    result = []
    for src, name in files:
        dest = Path(source_dir) / name
        data = src.read_bytes()
        if not (dest.is_file() and not dest.is_symlink() and dest.read_bytes() == data):
            atomic.write_bytes(dest, data)
        result.append(dest)
    report(f"{len(result)} project files and patches copied")
    return result


def fetch_sources(root, config, source_dir=None, *, update_lock=False, cache=None, report=print):
    """`ollama-rpm sources`: every Source and Patch into `source_dir`; returns the paths."""
    root = Path(root)
    source_dir = atomic.check_output_dir(Path(source_dir) if source_dir else default_source_dir(root),
                                         "--source-dir")
    cache = cache or fetch.Cache()
    lock = lock_mod.load(lock_path(config))
    before = lock.to_json()
    # Fail on a missing project file before any network traffic.
    for src, _ in project_files(config, root):
        if not src.is_file():
            raise ConfigError(src, None, "missing; the spec ships it as a Source or Patch")
    paths = list(fetch_url_sources(config, source_dir, update_lock=update_lock, cache=cache,
                                   lock=lock, report=report).values())
    if update_lock and lock.to_json() != before:
        lock.save()
        report(f"{lock.path}: updated")
    vendor = place_pinned_generated(config.vendor_tarball, lock, source_dir, cache)
    if vendor is None:
        report(f"{config.vendor_tarball}: not built yet; run `ollama-rpm vendor`")
    else:
        report(f"{config.vendor_tarball}: verified")
        paths.append(vendor)
    paths += copy_project_files(config, root, source_dir, report=report)
    return paths
