"""Load and validate packaging.yaml, the one file a packager edits: what each key is.

Every problem is a ConfigError naming the file, the dotted key and what was
expected; nothing downstream ever sees an unvalidated value. Reading the YAML
safely and typed is yamlread's; the rules that tie keys of different sections
together are config_checks'.
"""

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ollama_rpm import grammar
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen import backends, config_checks, cpu_levels
from ollama_rpm.specgen.version import parse_upstream
from ollama_rpm.specgen.yamlread import Reader, describe, read_mapping

ARCHES = backends.ARCHES
# The backend registry's names (cuda: the current CUDA major, 13; cuda12: the
# previous one, for GPUs CUDA 13 dropped). packaging.yaml has a section for each.
BACKENDS = backends.names()


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


def load_config(path: StrPath) -> Config:
    path = Path(path)
    return parse_config(path, read_mapping(path))


class _Head(NamedTuple):
    """The top-level scalars."""
    name: str
    upstream_version: str
    version: str
    release: int
    summary: str
    url: str
    layout: str
    license: str


class _LlamaCpp(NamedTuple):
    tag: str
    build_number: int
    commit: str
    install_manifest: Path
    compat_patches: tuple[str, ...]
    ggml_license: str
    bundled: tuple[Bundled, ...]


class _Go(NamedTuple):
    min_version: str
    libdir_variables: tuple[str, ...]
    license: str
    test_skips: tuple[GoTestSkip, ...]


def parse_config(path: StrPath, data: dict[Any, Any]) -> Config:
    """Validate the YAML document `data` of the packaging.yaml at `path` (ConfigError naming the key)."""
    path = Path(path)
    top = Reader(path, data)
    head = _head(top)
    llama = _llama_cpp(top.sub("llama_cpp"), path.parent)
    source_urls, vendor = _sources(top.sub("sources"), head, llama.tag)
    go = _go(top.sub("go"), head.license)
    config_checks.check_license_covers(top, head.license, [
        ("go.license", go.license), ("llama_cpp.ggml_license", llama.ggml_license),
        *((f"llama_cpp.bundled[{i}].license", b.license) for i, b in enumerate(llama.bundled))])
    patches_dir = top.text("patches_dir", grammar.relative_path, default="patches")
    config_checks.check_patches(top, path.parent, patches_dir)
    config_checks.check_file_names(top, head.name, source_urls, vendor, path.parent, patches_dir)
    backend_list = _backends(top.sub("backends"))
    config_checks.check_backend_invariants(top, backend_list)
    replaces = _replaces(top.sub("replaces", required=False))
    cpu_x86, cpu_arm = _cpu_variants(top.sub("cpu_variants"))
    # Optional: the default author of changelog entries that name none (`bump`
    # writes each new entry's author, from here or the packager's environment).
    packager = _packager(top.sub("packager")) if "packager" in top.data else ""
    changelog = _changelog(top, packager)
    top.reject_unknown()
    config_checks.check_replaces(top, head.name, replaces)
    expected_evr = f"{head.version}-{head.release}"
    if changelog[0].evr != expected_evr:
        top.fail("changelog[0].version", f"newest entry must be {expected_evr}, got {changelog[0].evr!r}")
    return Config(
        path=path, name=head.name, upstream_version=head.upstream_version, version=head.version,
        release=head.release, summary=head.summary, url=head.url, license=head.license, llama_cpp_tag=llama.tag,
        ggml_license=llama.ggml_license, bundled=llama.bundled, replaces=replaces, go_test_skips=go.test_skips,
        llama_cpp_build_number=llama.build_number, llama_cpp_commit=llama.commit,
        llama_cpp_install_manifest=llama.install_manifest, llama_cpp_compat_patches=llama.compat_patches,
        source_urls=source_urls, vendor_tarball=vendor, go_min_version=go.min_version,
        go_libdir_variables=go.libdir_variables, go_license=go.license, patches_dir=patches_dir,
        backends=backend_list, cpu_x86_64=cpu_x86, cpu_aarch64=cpu_arm, packager=packager, changelog=changelog,
        layout=head.layout,
    )


def _head(top: Reader) -> _Head:
    name = top.text("name", grammar.name)
    raw_version = top.get("version", str, "an upstream version like 0.32.15 or v0.33.0-rc2")
    try:
        upstream_version, version = parse_upstream(raw_version)
    except ValueError:
        top.fail("version", f"expected an upstream version like 0.32.15 or v0.33.0-rc2, got {describe(raw_version)}")
    top.check("version", version, grammar.rpm_version)
    release = top.get("release", int, "a positive integer")
    if not 1 <= release <= 999999:
        top.fail("release", f"expected a positive integer (at most 999999), got {describe(release)}")
    return _Head(
        name=name, upstream_version=upstream_version, version=version, release=release,
        summary=top.text("summary", grammar.summary),
        url=top.text("url", lambda value: grammar.url(value, https_only=True)),
        layout=top.text("layout", _layout_kind, default="single"),
        license=top.text("license", grammar.spdx),
    )


def _llama_cpp(llama: Reader, base: Path) -> _LlamaCpp:
    tag = llama.text("tag", grammar.name)
    build_number = re.fullmatch(r"b([0-9]{1,9})", tag, re.A)
    if not build_number:
        llama.fail("tag", f"expected a llama.cpp build tag b<number> like b10488, got {tag!r}")
    commit = llama.text("commit", lambda v: None if isinstance(v, str) and re.fullmatch(r"[0-9a-f]{40}", v)
                        else "the tag's full 40-hex git commit id")
    manifest_path = base / llama.text("install_manifest", grammar.relative_path)
    if not manifest_path.is_file():
        llama.fail("install_manifest", f"expected an existing file, {manifest_path} is not one")
    compat_patches = llama.strings("compat_patches", grammar.patch_path,
                                   "a list of patch paths inside the Ollama tree")
    config_checks.no_duplicates(llama, "compat_patches", compat_patches,
                                "%prep would apply it twice and git apply fails")
    result = _LlamaCpp(tag=tag, build_number=int(build_number.group(1)), commit=commit,
                       install_manifest=manifest_path, compat_patches=compat_patches,
                       ggml_license=llama.text("ggml_license", grammar.spdx), bundled=_bundled(llama))
    llama.reject_unknown()
    return result


def _sources(sources: Reader, head: _Head, llama_tag: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """((key, URL) of ollama and llama_cpp, the vendor tarball's name), placeholders filled in."""
    source_urls: list[tuple[str, str]] = []
    for key in ("ollama", "llama_cpp"):
        template = sources.get(key, str, "a URL (placeholders {upstream_version}, {llama_cpp_tag})")
        url = _format(sources, key, template, upstream_version=head.upstream_version, llama_cpp_tag=llama_tag,
                      name=head.name)
        sources.check(key, url, grammar.url)
        sources.check(key, url.rsplit("/", 1)[-1], lambda v: grammar.file_name(v, "a URL ending in a file name"))
        source_urls.append((key, url))
    vendor = sources.get("vendor", str, "a file name (placeholder {upstream_version})",
                         default="{name}-{upstream_version}-vendor.tar.bz2")
    vendor = sources.check("vendor", _format(sources, "vendor", vendor, upstream_version=head.upstream_version,
                                             name=head.name), grammar.file_name)
    config_checks.check_source_names(sources, source_urls, vendor)
    sources.reject_unknown()
    return tuple(source_urls), vendor


def _go(go: Reader, license_: str) -> _Go:
    result = _Go(
        min_version=go.text("min_version", grammar.go_version),
        libdir_variables=go.strings("libdir_variables", grammar.go_variable,
                                    "a list of Go variables (importpath.Name) set to the library dir"),
        license=go.text("license", grammar.spdx, default=license_),
        test_skips=_go_test_skips(go),
    )
    go.reject_unknown()
    return result


def _cpu_variants(cpu: Reader) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(x86_64 (variant, level) pairs, aarch64 variants)."""
    cpu_x86 = _x86_variants(cpu.sub("x86_64"))
    cpu_arm = cpu.strings("aarch64", expected="a list of ggml aarch64 CPU variants")
    if not cpu_arm:
        cpu.fail("aarch64", "expected at least one variant: the aarch64 build requires the ggml-cpu package "
                            "that ships them")
    config_checks.no_duplicates(cpu, "aarch64", cpu_arm, "%files would list its library twice")
    for index, variant in enumerate(cpu_arm):
        if variant not in cpu_levels.AARCH64_VARIANTS:
            cpu.fail(f"aarch64[{index}]", f"unknown ggml CPU variant {variant!r}; expected one of: "
                     + ", ".join(cpu_levels.AARCH64_VARIANTS))
    cpu.reject_unknown()
    return cpu_x86, cpu_arm


def _packager(section: Reader) -> str:
    """`Name <e-mail>` of the packager."""
    name = section.text("name", grammar.person)
    email = section.text("email", grammar.email)
    section.reject_unknown()
    return f"{name} <{email}>"


LAYOUTS = ("single", "split")


def _layout_kind(value: object) -> str | None:
    """A grammar-style check: None when `value` is a layout name, else what is expected."""
    if value is None or value not in LAYOUTS:
        return "single or split (one spec, or a source package per GPU backend)"
    return None


def _bundled(llama: Reader) -> tuple[Bundled, ...]:
    items = llama.get("bundled", list, "a list of {name, version, license, path} mappings", default=[])
    result: list[Bundled] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        entry = llama.entry("bundled", index, item)
        name = entry.text("name", grammar.name)
        raw = entry.get("version", str, "a version like 0.53.1", default="")
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


def _replaces(section: Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    result: list[tuple[str, tuple[str, ...]]] = []
    for role in section.data:
        if role not in ("main", *backends.names()):
            section.fail(str(role)[:40], f"unknown package role; expected main or one of: {', '.join(backends.names())}")
        names = section.strings(role, lambda v: grammar.name(v, "a package name"), "a list of package names")
        result.append((role, names))
    return tuple(result)


def _go_test_skips(go: Reader) -> tuple[GoTestSkip, ...]:
    items = go.get("test_skips", list, "a list of {test|tree, reason} mappings", default=[])
    result: list[GoTestSkip] = []
    for index, item in enumerate(items):
        entry = go.entry("test_skips", index, item)
        kinds = [k for k in ("test", "tree") if k in item]
        if len(kinds) != 1:
            entry.fail("test", "expected exactly one of `test` (a test-name regex) or `tree` (an import path)")
        value = entry.text(kinds[0], grammar.go_test_regex if kinds[0] == "test" else grammar.go_import_path)
        reason = entry.text("reason", lambda v: grammar.text(v, "why the test cannot run in a Fedora build "
                                                                "(one line)"))
        entry.reject_unknown()
        result.append(GoTestSkip(kinds[0], value, reason))
    return tuple(result)


def _format(reader: Reader, key: str, template: str, **values: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        names = ", ".join(f"{{{name}}}" for name in values)
        reader.fail(key, f"bad placeholder {error}; expected {names}")


def _backends(section: Reader) -> tuple[Backend, ...]:
    result = tuple(_backend(section, name) for name in backends.names())
    section.reject_unknown()
    config_checks.check_runner_dirs(section, result)
    return result


def _backend(section: Reader, name: str) -> Backend:
    b = section.sub(name)
    enabled = b.get("enabled", bool, "true or false (the %bcond default)")
    arches = b.strings("arches", expected="a list of architectures (x86_64, aarch64)")
    possible = backends.info(name).arches
    for index, arch in enumerate(arches):
        if arch not in possible:
            b.fail(f"arches[{index}]", f"expected one of {', '.join(possible)}, got {arch!r}")
    backend = Backend(
        name=name, enabled=enabled, arches=arches,
        runner_dir=b.text("runner_dir", lambda v: grammar.file_name(v, "a directory name like cuda_v12")),
        gpu_targets=b.strings("gpu_targets", grammar.gpu_target, "a list of GPU architectures", required=False),
        host_compiler=b.text("host_compiler", grammar.absolute_path, default=""),
        cmake_options=_cmake_options(b),
        build_requires=b.strings("build_requires", grammar.dependency, required=False),
        requires=b.strings("requires", grammar.dependency, required=False),
        supplements=b.text("supplements", grammar.reverse_rich_dependency, default=""),
        bundled_runtimes=b.strings("bundled_runtimes", grammar.runtime_glob, "a list of file globs",
                                   required=False),
        requires_exclude=b.strings("requires_exclude", grammar.soname, "a list of library sonames like libcuda.so.1",
                                   required=False),
    )
    b.reject_unknown()
    if backend.is_cuda:
        config_checks.check_cuda(b, backend)
    return backend


def _cmake_options(b: Reader) -> tuple[tuple[str, str], ...]:
    options = b.get("cmake_options", dict, "a mapping of CMake cache variables", default={})
    for key, value in options.items():
        problem = grammar.cmake_name(key)
        if problem:
            b.fail(f"cmake_options.{str(key)[:40]!r}", f"expected {problem}")
        b.check(f"cmake_options.{key}", value, grammar.cmake_value)
    return tuple(options.items())


def _x86_variants(section: Reader) -> tuple[tuple[str, str], ...]:
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
            section.fail(variant, f"expected an x86-64 level ({', '.join(cpu_levels.LEVELS)}), got {describe(level)}")
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


def _x86_long_form(section: Reader, variant: str, data: dict[Any, Any]) -> tuple[str, tuple[str, ...]]:
    if grammar.name(variant):
        section.fail(str(variant)[:40], f"expected {grammar.name(variant)}")
    entry = Reader(section.path, data, f"{section.key(variant)}.")
    level = entry.get("level", str, f"an x86-64 level ({', '.join(cpu_levels.LEVELS)})")
    features = entry.strings("features", expected="a list of ggml ISA feature flags (may be empty)")
    for index, feature in enumerate(features):
        if feature not in cpu_levels.FEATURE_LEVEL:
            entry.fail(f"features[{index}]", f"unknown ISA feature {feature!r}; expected one of: "
                       + ", ".join(cpu_levels.FEATURE_LEVEL))
    entry.reject_unknown()
    return level, features


def author_problem(value: object) -> str | None:
    """None for a `Name <e-mail>` changelog author, else what was expected."""
    kind = "Name <e-mail>"
    match = re.fullmatch(r"(.+) <([^<>]+)>", value) if isinstance(value, str) else None
    if not match:
        return kind
    return grammar.person(match.group(1)) or grammar.email(match.group(2))


def _changelog(top: Reader, packager: str) -> tuple[ChangelogEntry, ...]:
    entries = top.get("changelog", list, "a list of entries (version, date, text)")
    if not entries:
        top.fail("changelog", "expected at least one entry")
    result = [_changelog_entry(top.entry("changelog", index, raw, "a mapping with version, date, text"), packager)
              for index, raw in enumerate(entries)]
    for newer, older in zip(result, result[1:], strict=False):
        if newer.date < older.date:
            top.fail("changelog", f"entries must be newest first; {newer.evr} is older than {older.evr}")
    return tuple(result)


def _changelog_entry(entry: Reader, packager: str) -> ChangelogEntry:
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
    if not packager and "author" not in entry.data:
        entry.fail("author", "expected Name <e-mail>: the entry names no author and packaging.yaml "
                             "has no packager to default to")
    author = entry.text("author", author_problem, default=packager)
    entry.reject_unknown()
    return ChangelogEntry(evr=evr, date=date, author=author, lines=lines)
