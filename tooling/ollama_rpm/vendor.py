"""`vendor`: the Go vendor tarball (Source2) and go-vendor-tools.toml from the Ollama tarball.

The spec unpacks Source2 inside Ollama's top directory (`%autosetup -n
%{name}-%{upstream_version} -a1 -a2`), so the tarball holds `vendor/...` at its
root. It is reproducible: same Ollama tarball and Go version, same sha256.
"""

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ollama_rpm import archive, atomic, fetch, lock as lock_mod, reproducible, sources
from ollama_rpm.errors import ConfigError, IntegrityError, ToolError

TOML_NAME = "go-vendor-tools.toml"
BEGIN = "# BEGIN ollama-rpm vendor: generated, replaced on every `ollama-rpm vendor`"
END = "# END ollama-rpm vendor"
DEFAULT_SETTINGS = '[licensing]\ndetector = "askalono"\n'
_LICENSE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|UNLICENSE|PATENTS)([-._].*)?$", re.IGNORECASE)
GENERATED_URL = "generated:go-mod-vendor"   # the lock's "url" for a tarball we make ourselves


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    license_files: tuple      # ((path relative to the Ollama tree, sha256), ...)


def _go_env():
    env = dict(os.environ)
    env.update(GOFLAGS="-mod=mod", GOWORK="off")
    # Never download a toolchain unless the caller asks (GOTOOLCHAIN=auto, as the
    # Copr Makefile does where the chroot's Go is older than go.mod's).
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def run_go_mod_vendor(tree):
    try:
        proc = subprocess.run(["go", "mod", "vendor"], cwd=tree, env=_go_env(),
                              capture_output=True, text=True)
    except FileNotFoundError:
        raise ToolError("go: command not found; install Go (golang) to build the vendor tarball") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("go: ")] or lines
        raise ToolError(f"`go mod vendor` failed in {tree.name} (exit {proc.returncode}): "
                        f"{errors[-1] if errors else 'no output'}")


def vendored_modules(tree):
    """Modules listed in vendor/modules.txt that have a directory, with their license files."""
    tree = Path(tree)
    modules_txt = tree / "vendor" / "modules.txt"
    result = {}
    if not modules_txt.is_file():
        return []
    for line in modules_txt.read_text(encoding="utf-8").splitlines():
        if not line.startswith("# "):
            continue
        fields = line[2:].split()
        if not fields:
            continue
        path = fields[0]
        version = fields[1] if len(fields) > 1 and fields[1] != "=>" else ""
        directory = tree / "vendor" / path
        # A replaced module is listed twice (`# m v => r` and `# m => r`): keep the versioned line.
        if not directory.is_dir() or (path in result and not version):
            continue
        files = tuple(
            ((directory / name).relative_to(tree).as_posix(), fetch.sha256_file(directory / name))
            for name in sorted(os.listdir(directory))
            if _LICENSE.match(name) and (directory / name).is_file())
        result[path] = Module(path, version, files)
    return [result[path] for path in sorted(result)]


def toml_text(modules, tarball_name, current):
    """go-vendor-tools.toml: a generated comment block, then the packager's settings as they are."""
    block = [
        BEGIN,
        "# go-vendor-tools settings for %go_vendor_license_* in ollama.spec (Source3); see",
        "# https://fedora.gitlab.io/sigs/go/go-vendor-tools/config/ for the schema.",
        "# Everything after the END line is yours and kept as is: add [[licensing.licenses]]",
        "# entries (path, sha256sum, expression) for license files the detector misreads.",
        "#",
        f"# License files of the modules vendored in {tarball_name} (sha256):",
    ]
    for module in modules:
        block.append(f"#   {module.path} {module.version}".rstrip())
        for path, sha256 in module.license_files:
            block.append(f"#     {path} {sha256}")
        if not module.license_files:
            block.append("#     (no license file: go_vendor_license will fail; add a licenses entry)")
    if not modules:
        block.append("#   (none)")
    block.append(END)
    user = current
    if BEGIN in current and END in current:
        user = current.split(END, 1)[1].lstrip("\n")
    if not user.strip():
        user = DEFAULT_SETTINGS
    return "\n".join(block) + "\n\n" + user


def refresh_toml(path, modules, tarball_name, warn=None):
    """Rewrite the generated block of go-vendor-tools.toml (atomically, only if it changes)."""
    import tomllib

    path = Path(path)
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    text = toml_text(modules, tarball_name, current)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, None, f"not valid TOML: {error}") from None
    files = {p: sha for m in modules for p, sha in m.license_files}
    for index, entry in enumerate(data.get("licensing", {}).get("licenses", [])):
        if not isinstance(entry, dict):
            continue
        recorded, actual = entry.get("sha256sum"), files.get(entry.get("path"))
        if warn and entry.get("path", "").startswith("vendor/") and actual != recorded:
            state = "is no longer vendored" if actual is None else f"changed (sha256 now {actual})"
            warn(f"{path}: licensing.licenses[{index}]: {entry.get('path')} {state}; re-check its license")
    if text != current:
        atomic.write_text(path, text)
    return path


def _ollama_tree(extracted, config, tarball):
    top = Path(extracted) / f"{config.name}-{config.upstream_version}"
    if not (top / "go.mod").is_file():
        found = sorted(p.name for p in Path(extracted).iterdir())
        raise IntegrityError(f"{tarball}: expected a top directory {top.name}/ with go.mod "
                             f"(the spec unpacks it with -n %{{name}}-%{{upstream_version}}), found: "
                             f"{', '.join(found) or 'nothing'}")
    return top


def build_vendor(root, config, source_dir=None, *, update_lock=False, cache=None, report=print,
                 warn=None):
    """Make Source2 from Source0 in `source_dir`, refresh go-vendor-tools.toml; returns its path.

    The result is checked against its pin in sources.lock; with `update_lock` the pin
    is (re)written instead.
    """
    root = Path(root)
    warn = warn or (lambda line: print(f"ollama-rpm: warning: {line}", file=sys.stderr))
    source_dir = Path(source_dir) if source_dir else sources.default_source_dir(root)
    cache = cache or fetch.Cache()
    lock = lock_mod.load(sources.lock_path(config))
    before = lock.to_json()
    fetched = sources.fetch_url_sources(config, source_dir, update_lock=update_lock, cache=cache,
                                        lock=lock, only={0}, report=report)
    ollama_tarball = next(iter(fetched.values()))
    name = config.vendor_tarball
    epoch = reproducible.source_date_epoch(config)
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-vendor-") as work:
        extracted = archive.safe_extract(ollama_tarball, Path(work) / "src")
        tree = _ollama_tree(extracted, config, ollama_tarball)
        report(f"{name}: go mod vendor in {tree.name}")
        run_go_mod_vendor(tree)
        (tree / "vendor").mkdir(exist_ok=True)       # a module without dependencies
        modules = vendored_modules(tree)
        pin = lock.get(name)
        with cache.writer(name) as out:
            reproducible.write_tar_gz(out, tree, "vendor", epoch)
            expected = None if update_lock or pin is None else pin.sha256
            cached = out.commit(expected, f"{name} (built by go mod vendor from {ollama_tarball.name})")
            sha256 = out.sha256
    sources.place(cached, source_dir / name)
    if update_lock:
        lock.set(name, GENERATED_URL, sha256)
        if lock.to_json() != before:
            lock.save()
            report(f"{lock.path}: updated")
    elif pin is None:
        report(f"{name}: not pinned; run `ollama-rpm vendor --update-lock` to record its sha256")
    refresh_toml(root / TOML_NAME, modules, name, warn=warn)
    report(f"{name}: {len(modules)} modules vendored (sha256 {sha256})")
    return source_dir / name


def ensure_vendor(root, config, source_dir, *, cache=None, report=print):
    """The vendor tarball in `source_dir`: present and matching its pin, from the cache, or built."""
    cache = cache or fetch.Cache()
    lock = lock_mod.load(sources.lock_path(config))
    placed = sources.place_pinned_generated(config.vendor_tarball, lock, source_dir, cache)
    if placed is not None:
        report(f"{config.vendor_tarball}: verified")
        return placed
    return build_vendor(root, config, source_dir, cache=cache, report=report)
