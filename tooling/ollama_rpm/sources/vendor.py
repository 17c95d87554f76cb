"""`vendor`: the Go vendor tarball (Source2) made by go-vendor-tools, and the Go License.

Source2 is what Fedora's own command makes from Source0:

    go_vendor_archive create --config go-vendor-tools.toml \\
        --output ollama-<version>-vendor.tar.bz2 ollama-<version>.tar.gz

`go_vendor_archive` runs `go mod vendor` and packs `go.mod`, `go.sum` and
`vendor/` (no top directory: the spec unpacks it inside Ollama's tree with
`%setup -a2`). Around it we keep our own checks: Source0 comes from its pin and
is extracted safely, Go verifies every downloaded module against go.sum and
`go mod verify` re-checks the module cache, the tarball must hold exactly
upstream's go.mod and go.sum plus vendor/, it is written atomically through the
content cache, and its sha256 is checked against (or pinned in) resolve.lock.
bzip2 and xz carry no timestamp, so with the same SOURCE_DATE_EPOCH the bytes
are reproducible (gzip from tarfile embeds the time: refused).

The Go part of `License:` comes from `go_vendor_license report expression` on
Source0 + Source2, with the detector go-vendor-tools.toml names, which is what
`%go_vendor_license_check` verifies in %check.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_rpm import atomic, grammar
from ollama_rpm.errors import ConfigError, IntegrityError, ToolError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.sources import archive, fetch, reproducible, resolve
from ollama_rpm.specgen import go_bundled, source_table, yamledit

if TYPE_CHECKING:
    from ollama_rpm.specgen.config import Config

Report = Callable[[str], object]     # a line of progress for the user

TOML_NAME = source_table.VENDOR_CONFIG_NAME
BEGIN = "# BEGIN ollama-rpm vendor: generated, replaced on every `ollama-rpm vendor`"
END = "# END ollama-rpm vendor"
_LICENSE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|UNLICENSE|PATENTS)([-._].*)?$", re.IGNORECASE)
GENERATED_URL = "generated:go_vendor_archive"   # the lock's "url" for a tarball we make ourselves
# What go_vendor_archive may put in Source2 (no top directory).
ARCHIVE_TOP = ("go.mod", "go.sum", "vendor")
# [archive] settings the spec depends on: (key, required value, go-vendor-tools' default, why).
ARCHIVE_REQUIRED = (
    ("use_top_level_dir", False, False, "%setup -a2 unpacks Source2 inside Ollama's top directory"),
    ("tidy", False, True, "`go mod tidy` would replace upstream's go.mod/go.sum, which go.sum verification "
                          "and %prep rely on"),
)
# Where %prep puts llama.cpp's tree and the license texts of llama.cpp and the
# code it bundles, inside Ollama's: not Go code, covered by their own part of
# License:, so the Go license scan must skip them.
LLAMA_DIR = "llama.cpp-{tag}"
LLAMA_LICENSES_DIR = "llama.cpp-licenses"
# go-vendor-tools.toml is a few KiB plus one line per vendored license file.
MAX_TOML_BYTES = 1 << 20
DEFAULT_SETTINGS = """\
# Source2 is made with Fedora's command (ollama-rpm vendor runs exactly this; the
# generated block above gives the exact command line):
#   go_vendor_archive create --config go-vendor-tools.toml --output SOURCE2 SOURCE0
[archive]
# %setup -a2 unpacks Source2 inside Ollama's top directory.
use_top_level_dir = false
# Keep upstream's go.mod and go.sum as they are: every module is verified against them.
tidy = false

[licensing]
detector = "askalono"
# %prep puts llama.cpp (Source1) and copies of its license texts inside Ollama's
# tree; they are in License: separately, not part of the Go code's expression.
exclude_directories = ["{llama_dir}", "{llama_licenses}"]
"""


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    license_files: tuple[tuple[str, str], ...]      # ((path relative to the Ollama tree, sha256), ...)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOFLAGS="-mod=mod", GOWORK="off")
    # Never download a toolchain unless the caller asks (GOTOOLCHAIN=auto, as the
    # Copr Makefile does where the chroot's Go is older than go.mod's).
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def tool_path(name: str, package: str = "go-vendor-tools") -> str:
    """A go-vendor-tools (or askalono) executable: beside our Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise ToolError(f"{name}: command not found; install {package} "
                        f"(Fedora: dnf install {package}; elsewhere: .ci/bootstrap)")
    return found


def _tool_env(base: Mapping[str, str], tool: str) -> dict[str, str]:
    """`base` with the tool's and our Python's bin directories first on PATH, so that
    go_vendor_license finds askalono where .ci/bootstrap links it (the venv)."""
    env = dict(base)
    env["PATH"] = os.pathsep.join([str(Path(tool).parent), str(Path(sys.executable).parent),
                                   env.get("PATH", os.defpath)])
    env.setdefault("NO_COLOR", "1")
    return env


def _output_lines(proc: "subprocess.CompletedProcess[str]") -> list[str]:
    return [line.strip() for line in (proc.stdout + "\n" + proc.stderr).splitlines() if line.strip()]


# --------------------------------------------------------------- go-vendor-tools.toml

def load_toml(path: StrPath) -> dict[str, Any]:
    """go-vendor-tools.toml as a dict ({} when absent); ConfigError naming the file when invalid."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        data = tomllib.loads(atomic.read_text(path, MAX_TOML_BYTES))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, None, f"not valid TOML: {error}") from None
    check_license_entries(path, data)
    return data


def check_license_entries(path: StrPath, data: Mapping[str, Any]) -> None:
    """Each [[licensing.licenses]] entry: a relative path inside the tree (go_vendor_license
    reads it, `vendor` hashes it) and an SPDX expression on one line (the spec's License:
    takes it), before either is used."""
    entries = data.get("licensing", {}).get("licenses", []) if isinstance(data.get("licensing"), dict) else None
    if not isinstance(entries, list):
        raise ConfigError(path, "licensing.licenses", "expected an array of tables")
    for index, entry in enumerate(entries):
        key = f"licensing.licenses[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, key, "expected a table with path, sha256sum and expression")
        for field, check in (("path", grammar.relative_path), ("expression", grammar.spdx)):
            problem = check(entry.get(field))
            if problem:
                raise ConfigError(path, f"{key}.{field}", f"{str(entry.get(field))[:80]!r}: expected {problem}")
        sha = entry.get("sha256sum")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise ConfigError(path, f"{key}.sha256sum", "expected 64 lowercase hex digits")


def check_archive_settings(path: StrPath, data: Mapping[str, Any], tarball_name: str) -> None:
    """The [archive] settings must give the tarball the spec and our checks expect."""
    section = data.get("archive", {})
    if not isinstance(section, dict):
        raise ConfigError(path, "archive", f"expected a table, got {section!r}")
    for key, required, default, why in ARCHIVE_REQUIRED:
        value = section.get(key, default)
        if value is not required:
            shown = "unset (default true)" if key not in section else f"{value!r}"
            raise ConfigError(path, f"archive.{key}", f"{shown}: must be {str(required).lower()}: {why}")
    compression = section.get("compression_type")
    if compression is not None and not tarball_name.endswith(f".{compression}"):
        raise ConfigError(path, "archive.compression_type",
                          f"{compression!r} does not match the vendor tarball's name {tarball_name}")


def toml_text(modules: Iterable[Module], tarball_name: str, current: str, llama_tag: str,
              made_from: tuple[str, int] | None = None, bundled: Iterable[go_bundled.Bundled] = ()) -> str:
    """go-vendor-tools.toml: a generated comment block, then the packager's settings.

    The packager's part is kept as it is, except that a `llama.cpp-bNNNN`
    exclusion follows the pinned llama.cpp tag.
    """
    block = [
        BEGIN,
        "# go-vendor-tools settings: go_vendor_archive makes Source2 from the [archive]",
        "# section; %go_vendor_license_* in ollama.spec (Source3) read [licensing]. See",
        "# https://fedora.gitlab.io/sigs/go/go-vendor-tools/config/ for the schema.",
        "# Everything after the END line is yours and kept as is: add [[licensing.licenses]]",
        "# entries (path, sha256sum, expression) for license files the detector misreads.",
        "#",
    ]
    if made_from:
        source0, epoch = made_from
        block += [f"# {tarball_name} is, byte for byte (same Go and go-vendor-tools):",
                  f"#   SOURCE_DATE_EPOCH={epoch} go_vendor_archive create --config {TOML_NAME} \\",
                  f"#       --output {tarball_name} {source0}",
                  "#"]
    block.append(f"# License files of the modules vendored in {tarball_name} (sha256):")
    user = current
    if BEGIN in current and END in current:
        user = current.split(END, 1)[1].lstrip("\n")
    if not user.strip():
        user = DEFAULT_SETTINGS.replace("{llama_dir}", LLAMA_DIR.format(tag=llama_tag)).replace(
            "{llama_licenses}", LLAMA_LICENSES_DIR)
    # Only a quoted string that is exactly a llama.cpp tree name is rewritten.
    user = re.sub(r'"llama\.cpp-b\d+"', f'"{LLAMA_DIR.format(tag=llama_tag)}"', user)
    try:
        manual = [e.get("path", "") for e in tomllib.loads(user).get("licensing", {}).get("licenses", [])
                  if isinstance(e, dict)]
    except tomllib.TOMLDecodeError:
        manual = []                                   # reported by the caller's parse
    modules = list(modules)
    for module in modules:
        block.append(f"#   {module.path} {module.version}".rstrip())
        for path, sha256 in module.license_files:
            block.append(f"#     {path} {sha256}")
        if not module.license_files:
            covered = [p for p in manual if p.startswith(f"vendor/{module.path}/")]
            block.append(f"#     (no license file; licensing.licenses covers {covered[0]})" if covered else
                         "#     (no license file: go_vendor_license will fail; add a licenses entry)")
    if not modules:
        block.append("#   (none)")
    block += go_bundled.block_lines(list(bundled))
    block.append(END)
    return "\n".join(block) + "\n\n" + user


def check_license_exclusions(path: StrPath, data: Mapping[str, Any], llama_tag: str) -> None:
    """[licensing] must keep llama.cpp's tree and license texts out of the Go license scan."""
    excluded = data.get("licensing", {}).get("exclude_directories", [])
    for directory in (LLAMA_DIR.format(tag=llama_tag), LLAMA_LICENSES_DIR):
        if directory not in excluded:
            raise ConfigError(path, "licensing.exclude_directories",
                              f"must list {directory!r}: %prep puts llama.cpp's files there and "
                              f"%go_vendor_license_check would count them as Go code")


def refresh_toml(path: StrPath, modules: Iterable[Module], tarball_name: str, llama_tag: str, *,
                 warn: Report | None = None, made_from: tuple[str, int] | None = None,
                 covered: dict[str, str] | None = None, bundled: Iterable[go_bundled.Bundled] = ()) -> Path:
    """Rewrite the generated block of go-vendor-tools.toml (atomically, only if it changes).

    `covered`: {path: sha256} of the vendored files that licensing.licenses entries
    name besides license files (a README that states the license)."""
    path = Path(path)
    modules = list(modules)
    current = atomic.read_text(path, MAX_TOML_BYTES) if path.exists() or path.is_symlink() else ""
    text = toml_text(modules, tarball_name, current, llama_tag, made_from, bundled)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, None, f"not valid TOML: {error}") from None
    check_archive_settings(path, data, tarball_name)
    check_license_exclusions(path, data, llama_tag)
    check_license_entries(path, data)
    files = {**(covered or {}), **{p: sha for m in modules for p, sha in m.license_files}}
    for index, entry in enumerate(data.get("licensing", {}).get("licenses", [])):
        if not isinstance(entry, dict):
            continue
        recorded, actual = entry.get("sha256sum"), files.get(str(entry.get("path", "")))
        if warn and entry.get("path", "").startswith("vendor/") and actual != recorded:
            state = "is no longer vendored" if actual is None else f"changed (sha256 now {actual})"
            warn(f"{path}: licensing.licenses[{index}]: {entry.get('path')} {state}; re-check its license")
    if text != current:
        atomic.write_text(path, text)
    return path


def _covered_files(tree: Path, toml_data: dict[str, Any]) -> dict[str, str]:
    """{path: sha256} of the vendored files licensing.licenses entries name."""
    covered = {}
    for entry in toml_data.get("licensing", {}).get("licenses", []):
        rel = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        if rel.startswith("vendor/") and ".." not in rel.split("/") and (tree / rel).is_file():
            covered[rel] = fetch.sha256_file(tree / rel)
    return covered


def toml_path(sset: resolve.SourceSet) -> Path:
    """go-vendor-tools.toml: the project Source of that role, beside packaging.yaml."""
    return sset.table.base / sset.source(source_table.VENDOR_CONFIG).project_path


def prepared_toml(path: StrPath, config: "Config", tarball_name: str) -> Path:
    """go-vendor-tools.toml at `path` with the packager's settings in place (written if new)."""
    path = Path(path)
    current = atomic.read_text(path, MAX_TOML_BYTES) if path.exists() or path.is_symlink() else ""
    if not current.split(END, 1)[-1].strip():
        atomic.write_text(path, toml_text([], tarball_name, current, config.llama_cpp_tag))
    data = load_toml(path)
    check_archive_settings(path, data, tarball_name)
    # Judge the settings as the refresh after vendoring will leave them, before any work.
    try:
        future = tomllib.loads(toml_text([], tarball_name, atomic.read_text(path, MAX_TOML_BYTES),
                                         config.llama_cpp_tag))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, None, f"not valid TOML: {error}") from None
    check_license_exclusions(path, future, config.llama_cpp_tag)
    return path


# ------------------------------------------------------------------------ vendoring

def _warn(line: str) -> None:
    print(f"ollama-rpm: warning: {line}", file=sys.stderr)


def vendored_modules(tree: StrPath) -> list[Module]:
    """Modules listed in vendor/modules.txt that have a directory, with their license files."""
    tree = Path(tree)
    modules_txt = tree / "vendor" / "modules.txt"
    result: dict[str, Module] = {}
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


def _go_failure(proc: "subprocess.CompletedProcess[str]", what: str, tree: Path) -> IntegrityError | ToolError:
    """The error for a failed go / go_vendor_archive run: go.sum mismatches are integrity errors."""
    lines = _output_lines(proc)
    tampered = [line for line in lines if "checksum mismatch" in line or "SECURITY ERROR" in line
                or "verifying" in line and ": " in line]
    if tampered:
        detail = next((line for line in tampered if line.startswith("verifying ")), tampered[0])
        return IntegrityError(f"{what} in {tree.name}: a module does not match go.sum: {detail}")
    # Go's message is its last "go: " line with the indented lines that continue it.
    raw = (proc.stdout + "\n" + proc.stderr).splitlines()
    starts = [i for i, line in enumerate(raw) if line.startswith("go: ")]
    if starts:
        end = starts[-1] + 1
        while end < len(raw) and raw[end][:1] in ("\t", " ") and raw[end].strip():
            end += 1
        message = " ".join(line.strip() for line in raw[starts[-1]:end])
    else:
        others = [line for line in lines if not line.startswith(("$ ", "Traceback", "File ", "raise "))]
        message = (others or lines or ["no output"])[-1]
    return ToolError(f"{what} failed in {tree.name} (exit {proc.returncode}): {message}")


# Python < 3.11.4 (Debian 12 has 3.11.2) lacks tarfile.TarInfo.replace(), which
# go_vendor_archive's reproducible filter calls. There we run the same entry point
# with the stdlib method backported (same semantics as CPython's); where Python
# has it (Fedora), the go_vendor_archive command itself runs.
_TARINFO_REPLACE_BACKPORT = """\
import copy, sys, tarfile
def replace(self, *, deep=True, **changes):
    result = copy.deepcopy(self) if deep else copy.copy(self)
    for name, value in changes.items():
        setattr(result, name, value)
    return result
tarfile.TarInfo.replace = replace
from go_vendor_tools.cli.go_vendor_archive import main
sys.argv[0] = "go_vendor_archive"
main()
"""


def go_vendor_archive_command() -> list[str]:
    """The go_vendor_archive command line, run by the Python go-vendor-tools is installed for."""
    executable = tool_path("go_vendor_archive")
    with open(executable, "rb") as script:
        first = script.readline().decode("utf-8", "replace").strip()
    python = first[2:].strip() if first.startswith("#!") and "python" in first else sys.executable
    probe = subprocess.run([*python.split(), "-c", "import tarfile; tarfile.TarInfo.replace"],
                           capture_output=True)
    if probe.returncode == 0:
        return [executable]
    return [*python.split(), "-c", _TARINFO_REPLACE_BACKPORT]


def run_go_vendor_archive(tree: Path, toml: StrPath, output: StrPath, epoch: int) -> None:
    """`go_vendor_archive create` on the extracted Ollama tree; writes `output`."""
    command = [*go_vendor_archive_command(), "create", "--config", str(toml), "--output", str(output)]
    env = _tool_env(_go_env(), tool_path("go_vendor_archive"))
    env["SOURCE_DATE_EPOCH"] = str(epoch)
    if os.environ.get("GOPROXY"):
        # The caller's Go settings win over go-vendor-tools' default proxy (same modules: go.sum).
        command.append("--no-use-module-proxy")
    command.append(str(tree))
    try:
        proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    except OSError as error:
        raise ToolError(f"{command[0]}: cannot run: {error}") from None
    if proc.returncode != 0:
        raise _go_failure(proc, "go_vendor_archive create", tree)


def run_go_mod_verify(tree: Path) -> None:
    """Re-hash the modules in Go's module cache against go.sum (catches a tampered cache)."""
    try:
        proc = subprocess.run(["go", "mod", "verify"], cwd=tree, env=_go_env(), capture_output=True, text=True)
    except FileNotFoundError:
        raise ToolError("go: command not found; install Go (golang) to build the vendor tarball") from None
    if proc.returncode != 0:
        lines = _output_lines(proc)
        bad = [line for line in lines if "modified" in line or "mismatch" in line or "verifying" in line]
        if bad:
            raise IntegrityError(f"go mod verify in {tree.name}: a module does not match go.sum: {bad[0]}")
        raise _go_failure(proc, "go mod verify", tree)


def check_vendor_archive(tarball: Path, tree: Path, workdir: StrPath, toml_data: Mapping[str, Any]) -> None:
    """Source2 holds only go.mod, go.sum (both upstream's) and vendor/, and extracts safely."""
    unpacked = archive.safe_extract(tarball, Path(workdir) / "check")
    found = sorted(p.name for p in unpacked.iterdir())
    extra = [name for name in found if name not in ARCHIVE_TOP]
    if extra or "vendor" not in found:
        raise IntegrityError(f"{tarball.name}: expected go.mod, go.sum and vendor/ at its root, found: "
                             f"{', '.join(found) or 'nothing'}")
    overrides = toml_data.get("archive", {}).get("dependency_overrides")
    for name in ("go.mod", "go.sum"):
        upstream, packed = tree / name, unpacked / name
        if overrides or not upstream.exists():
            continue
        if not packed.is_file() or packed.read_bytes() != upstream.read_bytes():
            raise IntegrityError(f"{tarball.name}: {name} differs from Ollama's; go-vendor-tools changed it "
                                 f"(check [archive] in {TOML_NAME})")


def _ollama_tree(extracted: StrPath, config: "Config", tarball: StrPath) -> Path:
    top = Path(extracted) / f"{config.name}-{config.upstream_version}"
    if not (top / "go.mod").is_file():
        found = sorted(p.name for p in Path(extracted).iterdir())
        raise IntegrityError(f"{tarball}: expected a top directory {top.name}/ with go.mod "
                             f"(the spec unpacks it with -n %{{name}}-%{{upstream_version}}), found: "
                             f"{', '.join(found) or 'nothing'}")
    return top


def build_vendor(sset: resolve.SourceSet, *, update_lock: bool = False, report: Report = print,
                 warn: Report | None = None) -> Path:
    """Make the vendor tarball from Ollama's in the set's source dir, refresh
    go-vendor-tools.toml; returns its path.

    The result is checked against its pin in the set's lock; with `update_lock` the
    pin is (re)written and the lock saved.
    """
    config, lock, cache = sset.config, sset.lock, sset.cache
    warn = warn or (lambda line: print(f"ollama-rpm: warning: {line}", file=sys.stderr))
    name = sset.source(source_table.VENDOR).file_name
    toml = prepared_toml(toml_path(sset), config, name)
    toml_data = load_toml(toml)
    before = lock.to_json()
    fetched = resolve.fetch_url_sources(sset, update_lock=update_lock, roles={source_table.OLLAMA},
                                        report=report)
    ollama_tarball = fetched[source_table.OLLAMA]
    epoch = reproducible.source_date_epoch(config)
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-vendor-") as work:
        extracted = archive.safe_extract(ollama_tarball, Path(work) / "src")
        tree = _ollama_tree(extracted, config, ollama_tarball)
        upstream = Path(work) / "upstream"
        upstream.mkdir()
        for file in ("go.mod", "go.sum"):
            if (tree / file).exists():
                shutil.copy2(tree / file, upstream / file)
        report(f"{name}: go_vendor_archive create in {tree.name}")
        built = Path(work) / "out" / name
        built.parent.mkdir()
        run_go_vendor_archive(tree, toml, built, epoch)
        run_go_mod_verify(tree)
        check_vendor_archive(built, upstream, work, toml_data)
        modules = vendored_modules(tree)
        bundled = go_bundled.detect(tree)
        covered = _covered_files(tree, toml_data)
        pin = lock.get(name)
        with cache.writer(name) as out, open(built, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
            expected = None if update_lock or pin is None else pin.sha256
            cached = out.commit(expected, f"{name} (made by go_vendor_archive from {ollama_tarball.name})")
            sha256 = out.sha256
    dest = sset.path(source_table.VENDOR)
    resolve.place(cached, dest)
    if update_lock:
        lock.set(name, GENERATED_URL, sha256)
        if lock.to_json() != before:
            lock.save()
            report(f"{lock.path}: updated")
    elif pin is None:
        report(f"{name}: not pinned; run `ollama-rpm vendor --update-lock` to record its sha256")
    refresh_toml(toml, modules, name, config.llama_cpp_tag, warn=warn, made_from=(ollama_tarball.name, epoch),
                 covered=covered, bundled=bundled)
    report(f"{name}: {len(modules)} modules vendored (sha256 {sha256})")
    for code in bundled:
        report(f"{name}: {code.provide} (from {code.source}; run `ollama-rpm render` to put it in the spec)")
    return dest


def ensure_vendor(sset: resolve.SourceSet, *, report: Report = print) -> Path:
    """The vendor tarball in the source dir: present and matching its pin, from the cache, or built."""
    placed = resolve.place_pinned_generated(sset)
    if placed is not None:
        report(f"{placed.name}: verified")
        return placed
    return build_vendor(sset, report=report)


# ------------------------------------------------------------------------ licensing

@dataclass(frozen=True)
class LicenseReport:
    expression: str
    detector: str
    files: dict[str, str]     # license file (relative to the tree) -> its expression


def detect_go_license(sset: resolve.SourceSet, vendor_tarball: Path, *, report: Report = print) -> LicenseReport:
    """`go_vendor_license report expression` on Ollama's tarball + the vendor tarball, as %check sees them."""
    toml = toml_path(sset)
    data = load_toml(toml)
    detector = data.get("licensing", {}).get("detector")
    if not detector:
        raise ConfigError(toml, "licensing.detector", "not set; the spec's %go_vendor_license_check needs one "
                                                      "(askalono, as Fedora's go2rpm sets it)")
    fetched = resolve.fetch_url_sources(sset, roles={source_table.OLLAMA}, report=report)
    ollama_tarball = fetched[source_table.OLLAMA]
    with tempfile.TemporaryDirectory(prefix="ollama-rpm-license-") as work:
        extracted = archive.safe_extract(ollama_tarball, Path(work) / "src")
        tree = _ollama_tree(extracted, sset.config, ollama_tarball)
        vendored = archive.safe_extract(vendor_tarball, Path(work) / "vendor")
        for entry in sorted(vendored.iterdir()):
            target = tree / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            shutil.move(str(entry), target)
        out = Path(work) / "license.json"
        command = [tool_path("go_vendor_license"), "--config", str(toml), "--path", str(tree),
                   "--detector", detector, "report", "expression", "--write-json", str(out)]
        report(f"go_vendor_license report expression (detector {detector}) on {ollama_tarball.name} + "
               f"{vendor_tarball.name}")
        try:
            proc = subprocess.run(command, cwd=tree, env=_tool_env(os.environ, command[0]), capture_output=True,
                                  text=True)
        except OSError as error:
            raise ToolError(f"{command[0]}: cannot run: {error}") from None
        result = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else None
    if proc.returncode != 0 or not result or not result.get("license_expression"):
        lines = [line for line in _output_lines(proc) if not line.startswith("Using detector")]
        problems: list[str] = []
        if result:
            problems += [f"undetected license file {p}" for p in result.get("undetected_licenses", [])]
            problems += [f"changed licenses entry {p}" for p in result.get("unmatched_manual_licenses", [])]
            problems += [f"unknown license key {k}" for k in result.get("unknown_license_keys", [])]
        missing = [line[2:] for line in lines if line.startswith("- vendor/")]
        problems += [f"module without a license file {p}" for p in missing if p not in " ".join(problems)]
        detail = "; ".join(problems) or (lines[-1] if lines else "no output")
        raise ToolError(f"go_vendor_license report failed (exit {proc.returncode}): {detail}; "
                        f"add [[licensing.licenses]] entries to {TOML_NAME}")
    return LicenseReport(str(result["license_expression"]), detector, dict(result.get("license_map", {})))


def licenses_equal(first: str, second: str) -> bool:
    """SPDX expressions equal up to order and duplicates (as go-vendor-tools compares them)."""
    from license_expression import get_spdx_licensing

    licensing = get_spdx_licensing()
    return bool(licensing.parse(first).simplify() == licensing.parse(second).simplify())


def update_go_license(config: "Config", expression: str) -> bool:
    """Write `go.license` in packaging.yaml (a surgical text edit); True if it changed."""
    path = Path(config.path)
    text = atomic.read_text(path)
    try:
        new = yamledit.set_scalar(text, ("go", "license"), expression)
    except yamledit.EditError as error:
        raise ConfigError(path, "go.license", f"cannot update it in place: {error}") from None
    if new == text:
        return False
    atomic.write_text(path, new)
    return True
