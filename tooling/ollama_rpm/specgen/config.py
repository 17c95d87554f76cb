"""Load and validate packaging.yaml, the one file a packager edits.

Every problem is a ConfigError naming the file, the dotted key and what was
expected; nothing downstream ever sees an unvalidated value.
"""

import datetime
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

import yaml

from ollama_rpm import grammar
from ollama_rpm.errors import ConfigError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen import backends, cpu_levels, source_table
from ollama_rpm.specgen.version import parse_upstream

ARCHES = backends.ARCHES
# The backend registry's names (cuda: the current CUDA major, 13; cuda12: the
# previous one, for GPUs CUDA 13 dropped). packaging.yaml has a section for each.
BACKENDS = backends.names()
# packaging.yaml is a few KiB: a bound keeps a pathological file from eating memory.
MAX_CONFIG_BYTES = 1 << 20

# A grammar-style check: None when the value is acceptable, else what was expected.
Check = Callable[[object], str | None]
_T = TypeVar("_T")
_U = TypeVar("_U")
_V = TypeVar("_V")


@dataclass(frozen=True)
class Backend:
    name: str
    enabled: bool
    arches: tuple[str, ...]
    runner_dir: str
    gpu_targets: tuple[str, ...]
    host_compiler: str
    cmake_options: tuple[tuple[str, str], ...]  # (name, value) in file order
    build_requires: tuple[str, ...]
    requires: tuple[str, ...]
    supplements: str
    bundled_runtimes: tuple[str, ...]      # globs, relative to the runner dir
    requires_exclude: tuple[str, ...] = ()  # sonames kept out of the automatic Requires

    @property
    def is_cuda(self) -> bool:
        return backends.info(self.name).kind == "cuda"


@dataclass(frozen=True)
class Bundled:
    """Third-party code llama.cpp compiles in: one `Provides: bundled(name) = version`."""
    name: str
    version: str                  # "" when the code declares none
    license: str
    path: str                     # where it lives in the llama.cpp tree
    license_file: str             # its license text in the llama.cpp tree, or ""


@dataclass(frozen=True)
class GoTestSkip:
    """One entry of the %check skip list: a test-name regex or a package tree."""
    kind: str                     # "test" (go test -skip) or "tree" (package and below)
    value: str
    reason: str


@dataclass(frozen=True)
class ChangelogEntry:
    evr: str
    date: datetime.date
    author: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    path: Path
    name: str
    upstream_version: str
    version: str
    release: int
    summary: str
    url: str
    license: str
    llama_cpp_tag: str
    ggml_license: str             # License of the ggml-only subpackages
    bundled: tuple[Bundled, ...]  # in file order
    replaces: tuple[tuple[str, tuple[str, ...]], ...]  # (role, names): role "main" or a backend
    go_test_skips: tuple[GoTestSkip, ...]  # in file order
    llama_cpp_build_number: int   # N of the tag bN: llama.cpp's `git rev-list --count`
    llama_cpp_commit: str         # the tag's full commit id
    llama_cpp_install_manifest: Path  # upstream's recorded CPU install (names under lib/ollama)
    llama_cpp_compat_patches: tuple[str, ...]
    source_urls: tuple[tuple[str, str], ...]  # (key, url): ollama, llama_cpp
    vendor_tarball: str
    go_min_version: str
    go_libdir_variables: tuple[str, ...]
    go_license: str               # what go-vendor-tools verifies against the vendored files
    patches_dir: str
    backends: tuple[Backend, ...]  # in BACKENDS order
    cpu_x86_64: tuple[tuple[str, str], ...]  # (variant, level)
    cpu_aarch64: tuple[str, ...]
    packager: str
    changelog: tuple[ChangelogEntry, ...]  # newest first
    layout: str = "single"        # single (one spec, backends as %bcond) or split (a spec per backend)

    @property
    def evr(self) -> str:
        return f"{self.version}-{self.release}"

    def backend(self, name: str) -> Backend:
        return next(b for b in self.backends if b.name == name)


class _Reader:
    """Typed access to one mapping of the YAML document, with dotted key names."""

    def __init__(self, path: Path, data: dict[Any, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, message: str) -> NoReturn:
        raise ConfigError(self.path, self.key(name), message)

    # A key is required unless it has a default. The value has the type (one of the
    # types) asked for, or the reader fails.
    @overload
    def get(self, name: str, kind: type[_T], expected: str, default: _T | None = None) -> _T: ...
    @overload
    def get(self, name: str, kind: tuple[type[_T], type[_U]], expected: str,
            default: _T | _U | None = None) -> _T | _U: ...
    @overload
    def get(self, name: str, kind: tuple[type[_T], type[_U], type[_V]], expected: str,
            default: _T | _U | _V | None = None) -> _T | _U | _V: ...

    def get(self, name: str, kind: type[Any] | tuple[type[Any], ...], expected: str, default: Any = None) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if default is None:
                self.fail(name, f"missing; expected {expected}")
            return default
        value = self.data[name]
        # YAML reads `enabled: yes` as bool and `1` as int: bool is not an int here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(name, f"expected {expected}, got {_describe(value)}")
        return value

    def check(self, name: str, value: _T, check: Check) -> _T:
        """Fail unless `value` matches its grammar kind (a grammar.* validator)."""
        problem = check(value)
        if problem:
            self.fail(name, f"expected {problem}, got {_describe(value)}")
        return value

    def text(self, name: str, check: Check = grammar.text, default: str | None = None) -> str:
        """A string key, required unless it has a default (which is not checked)."""
        if name not in self.data and default is not None:
            self.seen.add(name)
            return default
        value = self.get(name, str, check(None) or "a string")
        return self.check(name, value, check)

    def strings(self, name: str, check: Check = grammar.text, expected: str = "a list of strings",
                required: bool = True) -> tuple[str, ...]:
        value = self.get(name, list, expected, None if required else [])
        for index, item in enumerate(value):
            self.check(f"{name}[{index}]", item, check)
        return tuple(value)

    def sub(self, name: str, required: bool = True) -> "_Reader":
        value = self.get(name, dict, "a mapping", None if required else {})
        return _Reader(self.path, value, f"{self.key(name)}.")

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.seen, key=str)
        if unknown:
            known = ", ".join(sorted(self.seen))
            self.fail(str(unknown[0]), f"unknown key; expected one of: {known}")


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    # One line, bounded: a hostile value never floods the terminal.
    return f"{type(value).__name__} {text[:80] + '...' if len(text) > 80 else text}"


class _Loader(yaml.SafeLoader):
    """safe_load without aliases (an alias bomb expands to gigabytes) or duplicate keys
    (YAML keeps the last one silently)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            # types-PyYAML leaves Parser.peek_event unannotated.
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed here", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                        key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def yaml_load(text: str) -> Any:
    """Parse packaging.yaml text (raises yaml.YAMLError or ValueError): the document, unvalidated."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader, stricter still


def load_config(path: StrPath) -> Config:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(path, None, f"larger than {MAX_CONFIG_BYTES} bytes; not a packaging.yaml")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(path, None, f"cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(path, None, f"not UTF-8 (byte {error.start})") from None
    try:
        data = yaml_load(text)
    except (ValueError, RecursionError) as error:   # an impossible date such as 2026-13-45
        raise ConfigError(path, None, f"not valid YAML: {' '.join(str(error).split())[:120]}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise ConfigError(path, None, f"not valid YAML ({where}): {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, None, f"expected a mapping at the top level, got {_describe(data)}")
    return parse_config(path, data)


def parse_config(path: StrPath, data: dict[Any, Any]) -> Config:
    """Validate the YAML document `data` of the packaging.yaml at `path` (ConfigError naming the key)."""
    path = Path(path)
    top = _Reader(path, data)
    name = top.text("name", grammar.name)
    raw_version = top.get("version", (str, int, float), "an upstream version like 0.32.15 or v0.33.0-rc2")
    try:
        upstream_version, version = parse_upstream(raw_version)
    except ValueError:
        top.fail("version", f"expected an upstream version like 0.32.15 or v0.33.0-rc2, got {_describe(raw_version)}")
    top.check("version", version, grammar.rpm_version)
    release = top.get("release", int, "a positive integer")
    if not 1 <= release <= 999999:
        top.fail("release", f"expected a positive integer (at most 999999), got {_describe(release)}")
    summary = top.text("summary", grammar.summary)
    url = top.text("url", lambda value: grammar.url(value, https_only=True))
    layout = top.text("layout", _layout_kind, default="single")
    license_ = top.text("license", grammar.spdx)

    llama = top.sub("llama_cpp")
    llama_tag = llama.text("tag", grammar.name)
    build_number = re.fullmatch(r"b([0-9]{1,9})", llama_tag, re.A)
    if not build_number:
        llama.fail("tag", f"expected a llama.cpp build tag b<number> like b10488, got {llama_tag!r}")
    commit = llama.text("commit", lambda v: None if isinstance(v, str) and re.fullmatch(r"[0-9a-f]{40}", v)
                        else "the tag's full 40-hex git commit id")
    manifest = llama.text("install_manifest", grammar.relative_path)
    manifest_path = path.parent / manifest
    if not manifest_path.is_file():
        llama.fail("install_manifest", f"expected an existing file, {manifest_path} is not one")
    compat_patches = llama.strings("compat_patches", grammar.patch_path,
                                   "a list of patch paths inside the Ollama tree")
    _no_duplicates(llama, "compat_patches", compat_patches, "%prep would apply it twice and git apply fails")
    ggml_license = llama.text("ggml_license", grammar.spdx)
    bundled = _bundled(llama)
    llama.reject_unknown()

    sources = top.sub("sources")
    source_urls: list[tuple[str, str]] = []
    for key in ("ollama", "llama_cpp"):
        template = sources.get(key, str, "a URL (placeholders {upstream_version}, {llama_cpp_tag})")
        url_ = _format(sources, key, template, upstream_version=upstream_version, llama_cpp_tag=llama_tag,
                       name=name)
        sources.check(key, url_, grammar.url)
        sources.check(key, url_.rsplit("/", 1)[-1], lambda v: grammar.file_name(v, "a URL ending in a file name"))
        source_urls.append((key, url_))
    vendor = sources.get("vendor", str, "a file name (placeholder {upstream_version})",
                         default="{name}-{upstream_version}-vendor.tar.bz2")
    vendor = sources.check("vendor", _format(sources, "vendor", vendor, upstream_version=upstream_version,
                                             name=name), grammar.file_name)
    _check_source_names(sources, source_urls, vendor)
    sources.reject_unknown()

    go = top.sub("go")
    go_min = go.text("min_version", grammar.go_version)
    go_vars = go.strings("libdir_variables", grammar.go_variable,
                         "a list of Go variables (importpath.Name) set to the library dir")
    go_license = go.text("license", grammar.spdx, default=license_)
    go_test_skips = _go_test_skips(go)
    go.reject_unknown()
    for key, part in [("go.license", go_license), ("llama_cpp.ggml_license", ggml_license)] + [
            (f"llama_cpp.bundled[{i}].license", b.license) for i, b in enumerate(bundled)]:
        missing = sorted(license_ids(part) - license_ids(license_))
        if missing:
            top.fail("license", f"does not cover {key} ({part!r}): {', '.join(missing)} missing")

    patches_dir = top.text("patches_dir", grammar.relative_path, default="patches")
    _check_patches(top, path.parent, patches_dir)
    _check_file_names(top, name, source_urls, vendor, path.parent, patches_dir)
    backends = _backends(top.sub("backends"))
    _check_backend_invariants(top, backends)
    replaces = _replaces(top.sub("replaces", required=False))
    cpu = top.sub("cpu_variants")
    cpu_x86 = _x86_variants(cpu.sub("x86_64"))
    cpu_arm = cpu.strings("aarch64", expected="a list of ggml aarch64 CPU variants")
    if not cpu_arm:
        cpu.fail("aarch64", "expected at least one variant: the aarch64 build requires the ggml-cpu package "
                            "that ships them")
    _no_duplicates(cpu, "aarch64", cpu_arm, "%files would list its library twice")
    for index, variant in enumerate(cpu_arm):
        if variant not in cpu_levels.AARCH64_VARIANTS:
            cpu.fail(f"aarch64[{index}]", f"unknown ggml CPU variant {variant!r}; expected one of: "
                     + ", ".join(cpu_levels.AARCH64_VARIANTS))
    cpu.reject_unknown()

    packager_r = top.sub("packager")
    packager_name = packager_r.text("name", grammar.person)
    email = packager_r.text("email", grammar.email)
    packager_r.reject_unknown()
    packager = f"{packager_name} <{email}>"

    changelog = _changelog(top, packager)
    top.reject_unknown()
    _check_replaces(top, name, replaces)

    expected_evr = f"{version}-{release}"
    if changelog[0].evr != expected_evr:
        top.fail("changelog[0].version", f"newest entry must be {expected_evr}, got {changelog[0].evr!r}")

    return Config(
        path=path, name=name, upstream_version=upstream_version, version=version, release=release,
        summary=summary, url=url, license=license_, llama_cpp_tag=llama_tag,
        ggml_license=ggml_license, bundled=bundled, replaces=replaces, go_test_skips=go_test_skips,
        llama_cpp_build_number=int(build_number.group(1)), llama_cpp_commit=commit,
        llama_cpp_install_manifest=manifest_path, llama_cpp_compat_patches=compat_patches,
        source_urls=tuple(source_urls),
        vendor_tarball=vendor, go_min_version=go_min, go_libdir_variables=go_vars, go_license=go_license,
        patches_dir=patches_dir, backends=backends, cpu_x86_64=cpu_x86, cpu_aarch64=cpu_arm,
        packager=packager, changelog=changelog, layout=layout,
    )


LAYOUTS = ("single", "split")


def _layout_kind(value: object) -> str | None:
    """A grammar-style check: None when `value` is a layout name, else what is expected."""
    if value is None or value not in LAYOUTS:
        return "single or split (one spec, or a source package per GPU backend)"
    return None


_LICENSE_WORDS = {"AND", "OR", "WITH"}


def license_ids(expression: str) -> set[str]:
    """The license (and exception) identifiers an SPDX expression names."""
    return {w for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9.+-]*", expression) if w not in _LICENSE_WORDS}


def _bundled(llama: _Reader) -> tuple[Bundled, ...]:
    items = llama.get("bundled", list, "a list of {name, version, license, path} mappings", default=[])
    result: list[Bundled] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            llama.fail(f"bundled[{index}]", f"expected a mapping, got {_describe(item)}")
        entry = _Reader(llama.path, item, f"{llama.key('bundled')}[{index}].")
        name = entry.text("name", grammar.name)
        raw = entry.get("version", (str, int, float), "a version like 0.53.1", default="")
        version = str(raw)
        if version:
            entry.check("version", version, lambda v: grammar.name(v, "a version like 0.53.1"))
        lic = entry.text("license", grammar.spdx)
        where = entry.text("path", grammar.relative_path)
        license_file = entry.text("license_file", grammar.relative_path, default="")
        entry.reject_unknown()
        if name in names:
            entry.fail("name", f"{name!r} is listed twice")
        names.add(name)
        result.append(Bundled(name, version, lic, where, license_file))
    return tuple(result)


def _replaces(section: _Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    result: list[tuple[str, tuple[str, ...]]] = []
    for role in section.data:
        if role not in ("main", *backends.names()):
            section.fail(str(role)[:40], f"unknown package role; expected main or one of: {', '.join(backends.names())}")
        names = section.strings(role, lambda v: grammar.name(v, "a package name"), "a list of package names")
        result.append((role, names))
    return tuple(result)


def _go_test_skips(go: _Reader) -> tuple[GoTestSkip, ...]:
    items = go.get("test_skips", list, "a list of {test|tree, reason} mappings", default=[])
    result: list[GoTestSkip] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            go.fail(f"test_skips[{index}]", f"expected a mapping, got {_describe(item)}")
        entry = _Reader(go.path, item, f"{go.key('test_skips')}[{index}].")
        kinds = [k for k in ("test", "tree") if k in item]
        if len(kinds) != 1:
            entry.fail("test", "expected exactly one of `test` (a test-name regex) or `tree` (an import path)")
        value = entry.text(kinds[0], grammar.go_test_regex if kinds[0] == "test" else grammar.go_import_path)
        reason = entry.text("reason", lambda v: grammar.text(v, "why the test cannot run in a Fedora build "
                                                                "(one line)"))
        entry.reject_unknown()
        result.append(GoTestSkip(kinds[0], value, reason))
    return tuple(result)


def _format(reader: _Reader, key: str, template: str, **values: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        names = ", ".join(f"{{{name}}}" for name in values)
        reader.fail(key, f"bad placeholder {error}; expected {names}")


def _check_patches(top: _Reader, root: Path, patches_dir: str) -> None:
    """patches_dir is a real directory inside the project and its *.patch entries are
    regular files: whatever lies there ends up inside the SRPM that Copr receives."""
    directory = root / patches_dir
    try:
        inside = directory.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside or directory.is_symlink():
        top.fail("patches_dir", f"expected a directory inside {root}, got {patches_dir!r}")
    if not directory.is_dir():
        # Without the patches Ollama cannot find its libraries in %{_libdir}/ollama.
        top.fail("patches_dir", f"expected an existing directory, {directory} is not one")
    for entry in sorted(directory.glob("*.patch")):
        problem = grammar.file_name(entry.name)
        if problem:
            top.fail("patches_dir", f"{entry}: expected {problem}")
        if entry.is_symlink() or not entry.is_file():
            top.fail("patches_dir", f"{entry}: expected a regular file (not a symlink or directory)")


# What %autosetup/%setup -a can unpack: the URL Sources are archives.
_ARCHIVE = re.compile(r".+\.(tar\.(gz|bz2|xz|zst)|tgz|tbz2|txz|zip)$")
# The vendor tarball must be reproducible: gzip from go_vendor_archive embeds the time.
_VENDOR_ARCHIVE = re.compile(r".+\.(tar\.(bz2|xz|zst)|tbz2|txz)$")


def _check_source_names(section: _Reader, source_urls: Sequence[tuple[str, str]], vendor: str) -> None:
    for key, url in source_urls:
        file_name = url.rsplit("/", 1)[-1]
        if not _ARCHIVE.fullmatch(file_name):
            section.fail(key, f"expected a URL of a .tar.gz, .tar.xz, .tar.bz2 or .zip archive (the spec unpacks "
                              f"it in %prep), got {file_name!r}")
    if vendor.endswith((".gz", ".tgz")):
        section.fail("vendor", f"{vendor}: go_vendor_archive's gzip output embeds the current time, so it is "
                               "not reproducible; use .tar.bz2 (Fedora's default) or .tar.xz")
    if not _VENDOR_ARCHIVE.fullmatch(vendor):
        section.fail("vendor", f"{vendor}: expected a .tar.bz2 or .tar.xz name")


def _check_file_names(top: _Reader, name: str, source_urls: Sequence[tuple[str, str]], vendor: str, base: Path,
                      patches_dir: str) -> None:
    """Every Source, every Patch and the spec share one directory (SOURCES): each needs its own name."""
    owners = {f"{name}.spec": "the spec"}
    claims = [(f"sources.{key}", url.rsplit("/", 1)[-1]) for key, url in source_urls]
    claims.append(("sources.vendor", vendor))
    claims += [(f"{project_path} (a Source of the spec)", file_name)
               for _, _, file_name, project_path in source_table.PROJECT_SOURCES]
    claims += [("patches_dir", f"{patches_dir}/{path.name}") for path in source_table.patch_files(base, patches_dir)]
    for key, value in claims:
        file_name = value.rsplit("/", 1)[-1]
        if file_name in owners:
            top.fail(key, f"{value!r}: file name {file_name!r} is also {owners[file_name]}'s; every Source, "
                          "Patch and the spec need their own name in SOURCES")
        owners[file_name] = key


def _check_replaces(top: _Reader, name: str, replaces: Sequence[tuple[str, Sequence[str]]]) -> None:
    """A replaced package is another package: obsoleting this package or one of its own
    subpackages (or one name from two roles) would make rpm remove what it installs."""
    seen: dict[str, str] = {}
    for role, names in replaces:
        for index, old in enumerate(names):
            if old == name or old.startswith(f"{name}-ggml-"):
                top.fail(f"replaces.{role}[{index}]", f"{old!r} is built by this spec ({name} or one of its "
                                                      "ggml subpackages); expected another package's name")
            if old in seen:
                top.fail(f"replaces.{role}[{index}]", f"{old!r} is also replaced by {seen[old]}; expected one "
                                                      "package to take over each name")
            seen[old] = role


def _check_backend_invariants(top: _Reader, backends: Sequence[Backend]) -> None:
    """What the spec's backend parts take for granted."""
    for backend in backends:
        key = f"backends.{backend.name}"
        if not backend.arches:
            top.fail(f"{key}.arches", "expected at least one architecture: the spec limits the backend to "
                                      "them with %ifnarch, which needs one")
        if not backend.host_compiler:
            continue
        if not backend.is_cuda:
            top.fail(f"{key}.host_compiler", f"{backend.host_compiler!r}: only a CUDA backend has a host "
                                             "compiler (nvcc's -DCMAKE_CUDA_HOST_COMPILER)")
        major = re.search(r"(?:g\+\+|gcc|c\+\+)-([0-9]+)$", backend.host_compiler)
        if major and f"gcc{major.group(1)}-c++" not in backend.build_requires:
            top.fail(f"{key}.build_requires", f"expected gcc{major.group(1)}-c++, the package of host_compiler "
                                              f"{backend.host_compiler} (the spec requires it on Fedora)")


def _no_duplicates(section: _Reader, key: str, items: Sequence[str], why: str) -> None:
    for index, item in enumerate(items):
        if item in items[:index]:
            section.fail(f"{key}[{index}]", f"{item!r} is listed twice: {why}")


def _backends(section: _Reader) -> tuple[Backend, ...]:
    result: list[Backend] = []
    for name in backends.names():
        b = section.sub(name)
        enabled = b.get("enabled", bool, "true or false (the %bcond default)")
        arches = b.strings("arches", expected="a list of architectures (x86_64, aarch64)")
        possible = backends.info(name).arches
        for index, arch in enumerate(arches):
            if arch not in possible:
                b.fail(f"arches[{index}]", f"expected one of {', '.join(possible)}, got {arch!r}")
        runner_dir = b.text("runner_dir", lambda v: grammar.file_name(v, "a directory name like cuda_v12"))
        targets = b.strings("gpu_targets", grammar.gpu_target, "a list of GPU architectures", required=False)
        host_compiler = b.text("host_compiler", grammar.absolute_path, default="")
        options = b.get("cmake_options", dict, "a mapping of CMake cache variables", default={})
        for key, value in options.items():
            problem = grammar.cmake_name(key)
            if problem:
                b.fail(f"cmake_options.{str(key)[:40]!r}", f"expected {problem}")
            b.check(f"cmake_options.{key}", value, grammar.cmake_value)
        result.append(Backend(
            name=name, enabled=enabled, arches=arches, runner_dir=runner_dir,
            gpu_targets=targets, host_compiler=host_compiler,
            cmake_options=tuple(options.items()),
            build_requires=b.strings("build_requires", grammar.dependency, required=False),
            requires=b.strings("requires", grammar.dependency, required=False),
            supplements=b.text("supplements", grammar.reverse_rich_dependency, default=""),
            bundled_runtimes=b.strings("bundled_runtimes", grammar.runtime_glob, "a list of file globs",
                                       required=False),
            requires_exclude=b.strings("requires_exclude", grammar.soname, "a list of library sonames like libcuda.so.1",
                                       required=False),
        ))
        b.reject_unknown()
        if result[-1].is_cuda:
            _check_cuda(b, result[-1])
    section.reject_unknown()
    # Every backend installs into its own runner dir, so CUDA 12 and 13 can be installed together.
    seen: dict[str, str] = {}
    for backend in result:
        if backend.runner_dir in seen:
            section.fail(f"{backend.name}.runner_dir", f"{backend.runner_dir!r} is also backends.{seen[backend.runner_dir]}'s; "
                         "expected one directory per backend")
        seen[backend.runner_dir] = backend.name
    return tuple(result)


# CUDA 13 dropped Maxwell, Pascal and Volta: sm_75 is its oldest architecture.
_CUDA_MIN_ARCH = {13: 75}


def _check_cuda(section: _Reader, backend: Backend) -> None:
    """The runner dir, the nvcc package, the compiler path and the architectures
    must all name one CUDA major, or nvcc fails deep inside %build."""
    runner = re.fullmatch(r"cuda_v([0-9]+)", backend.runner_dir)
    if not runner:
        section.fail("runner_dir", f"expected cuda_v<major> like cuda_v12, got {backend.runner_dir!r}")
    major = int(runner.group(1))
    named_major = re.fullmatch(r"cuda([0-9]+)", backend.name)
    if named_major and int(named_major.group(1)) != major:
        section.fail("runner_dir", f"backends.{backend.name} is CUDA {named_major.group(1)}, got {backend.runner_dir!r}")
    # NVIDIA's versioned package names: cuda-nvcc-13-0, cuda-cudart-13-0, libcublas-devel-13-0...
    named = [(f"{key} {name}", int(m.group(1))) for key, names in (("build_requires", backend.build_requires),
                                                                   ("requires", backend.requires))
             for name in names for m in [re.fullmatch(r"(?:cuda|libcublas|libnvjitlink)[a-z-]*-([0-9]+)-[0-9]+", name)]
             if m]
    named += [(f"cmake_options.{key} {value}", int(m.group(1))) for key, value in backend.cmake_options
              for m in [re.search(r"/cuda-([0-9]+)\.[0-9]+(/|$)", value)] if m]
    for what, other in named:
        if other != major:
            section.fail("runner_dir", f"{backend.runner_dir} is CUDA {major} but {what} is CUDA {other}")
    floor = _CUDA_MIN_ARCH.get(major, 0)
    for index, target in enumerate(backend.gpu_targets):
        number = re.match(r"[0-9]+", target)
        if number and int(number.group(0)) < floor:
            section.fail(f"gpu_targets[{index}]", f"CUDA {major} has no {target}: its oldest architecture is {floor}")


def _x86_variants(section: _Reader) -> tuple[tuple[str, str], ...]:
    result: list[tuple[str, str]] = []
    for variant, level in section.data.items():
        section.seen.add(variant)
        if isinstance(level, dict):
            # Long form for a variant this toolkit does not know yet (added by `bump`):
            # `name: {level: v3, features: [SSE42, AVX, ...]}`; its flags must all be known.
            level, features = _x86_long_form(section, variant, level)
        elif variant not in cpu_levels.X86_VARIANT_FEATURES:
            section.fail(str(variant), "unknown ggml CPU variant; expected one of: "
                         + ", ".join(cpu_levels.X86_VARIANT_FEATURES)
                         + " (or the long form {level: vN, features: [...]})")
        else:
            features = cpu_levels.X86_VARIANT_FEATURES[variant]
        if level not in cpu_levels.LEVELS:
            section.fail(variant, f"expected an x86-64 level ({', '.join(cpu_levels.LEVELS)}), got {_describe(level)}")
        lowest = cpu_levels.lowest_level(features)
        if cpu_levels.level_rank(level) < cpu_levels.level_rank(lowest):
            section.fail(variant, f"expected {lowest} or higher: its ISA flags need x86-64-{lowest}, got {level}")
        result.append((variant, level))
    if not result:
        section.fail("", "expected at least one variant")
    if "x64" not in section.data:
        section.fail("x64", "missing; the baseline variant must ship so every x86-64 CPU has a backend")
    if dict(result)["x64"] != cpu_levels.LEVELS[0]:
        # The spec requires the lowest level's package and recommends the others; the
        # baseline variant must be in the one every machine gets, and the -v1 package
        # must go on existing so an upgrade from it has a successor.
        section.fail("x64", f"expected {cpu_levels.LEVELS[0]}, got {dict(result)['x64']!r}: the baseline variant "
                            f"ships in the x86_64-{cpu_levels.LEVELS[0]} package every installation requires")
    return tuple(result)


def _x86_long_form(section: _Reader, variant: str, data: dict[Any, Any]) -> tuple[str, tuple[str, ...]]:
    if grammar.name(variant):
        section.fail(str(variant)[:40], f"expected {grammar.name(variant)}")
    entry = _Reader(section.path, data, f"{section.key(variant)}.")
    level = entry.get("level", str, f"an x86-64 level ({', '.join(cpu_levels.LEVELS)})")
    features = entry.strings("features", expected="a list of ggml ISA feature flags (may be empty)")
    for index, feature in enumerate(features):
        if feature not in cpu_levels.FEATURE_LEVEL:
            entry.fail(f"features[{index}]", f"unknown ISA feature {feature!r}; expected one of: "
                       + ", ".join(cpu_levels.FEATURE_LEVEL))
    entry.reject_unknown()
    return level, features


def _author(value: object) -> str | None:
    kind = "Name <e-mail>"
    match = re.fullmatch(r"(.+) <([^<>]+)>", value) if isinstance(value, str) else None
    if not match:
        return kind
    return grammar.person(match.group(1)) or grammar.email(match.group(2))


def _changelog(top: _Reader, packager: str) -> tuple[ChangelogEntry, ...]:
    entries = top.get("changelog", list, "a list of entries (version, date, text)")
    if not entries:
        top.fail("changelog", "expected at least one entry")
    result: list[ChangelogEntry] = []
    for index, raw in enumerate(entries):
        where = f"changelog[{index}]"
        if not isinstance(raw, dict):
            top.fail(where, f"expected a mapping with version, date, text, got {_describe(raw)}")
        entry = _Reader(top.path, raw, f"{where}.")
        evr = entry.text("version", grammar.evr)
        date = entry.get("date", (datetime.date, str), "a date YYYY-MM-DD")
        if isinstance(date, str):
            try:
                date = datetime.date.fromisoformat(date)
            except ValueError:
                entry.fail("date", f"expected a date YYYY-MM-DD, got {date!r}")
        text = entry.get("text", (str, list), "a string or a list of lines")
        lines = tuple(text) if isinstance(text, list) else tuple(text.strip().splitlines())
        if not lines:
            entry.fail("text", "expected non-empty lines")
        for line_no, line in enumerate(lines):
            entry.check(f"text[{line_no}]", line, grammar.changelog_line)
        author = entry.text("author", _author, default=packager)
        entry.reject_unknown()
        result.append(ChangelogEntry(evr=evr, date=date, author=author, lines=lines))
    for newer, older in zip(result, result[1:], strict=False):
        if newer.date < older.date:
            top.fail("changelog", f"entries must be newest first; {newer.evr} is older than {older.evr}")
    return tuple(result)
