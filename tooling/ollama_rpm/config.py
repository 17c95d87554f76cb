"""Load and validate packaging.yaml, the one file a packager edits.

Every problem is a ConfigError naming the file, the dotted key and what was
expected; nothing downstream ever sees an unvalidated value.
"""

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ollama_rpm import cpu_levels
from ollama_rpm.errors import ConfigError
from ollama_rpm.version import parse_upstream

ARCHES = ("x86_64", "aarch64")
BACKENDS = ("cuda", "rocm", "vulkan")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_SIMPLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class Backend:
    name: str
    enabled: bool
    arches: tuple
    runner_dir: str
    gpu_targets: tuple
    host_compiler: str
    cmake_options: tuple          # ((name, value), ...) in file order
    build_requires: tuple
    requires: tuple
    supplements: str
    bundled_runtimes: tuple       # globs, relative to the runner dir


@dataclass(frozen=True)
class ChangelogEntry:
    evr: str
    date: datetime.date
    author: str
    lines: tuple


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
    llama_cpp_build_number: int   # N of the tag bN: llama.cpp's `git rev-list --count`
    llama_cpp_commit: str         # the tag's full commit id
    llama_cpp_install_manifest: Path  # upstream's recorded CPU install (names under lib/ollama)
    llama_cpp_compat_patches: tuple
    source_urls: tuple            # ((key, url), ...): ollama, llama_cpp
    vendor_tarball: str
    go_min_version: str
    go_libdir_variables: tuple
    go_license: str               # what go-vendor-tools verifies against the vendored files
    patches_dir: str
    backends: tuple               # Backend, in BACKENDS order
    cpu_x86_64: tuple             # ((variant, level), ...)
    cpu_aarch64: tuple
    packager: str
    changelog: tuple

    @property
    def evr(self):
        return f"{self.version}-{self.release}"

    def backend(self, name):
        return next(b for b in self.backends if b.name == name)


class _Reader:
    """Typed access to one mapping of the YAML document, with dotted key names."""

    def __init__(self, path, data, prefix=""):
        self.path, self.data, self.prefix = path, data, prefix
        self.seen = set()

    def key(self, name):
        return f"{self.prefix}{name}"

    def fail(self, name, message):
        raise ConfigError(self.path, self.key(name), message)

    def get(self, name, kind, expected, default=None, required=True):
        self.seen.add(name)
        if name not in self.data:
            if required:
                self.fail(name, f"missing; expected {expected}")
            return default
        value = self.data[name]
        # YAML reads `enabled: yes` as bool and `1` as int: bool is not an int here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(name, f"expected {expected}, got {_describe(value)}")
        return value

    def text(self, name, expected="a non-empty string", pattern=None, **kw):
        if name not in self.data and not kw.get("required", True):
            self.seen.add(name)
            return kw.get("default")
        value = self.get(name, str, expected, **kw)
        if not value.strip() or (pattern and not pattern.match(value)):
            self.fail(name, f"expected {expected}, got {value!r}")
        return value

    def strings(self, name, expected="a list of strings", **kw):
        value = self.get(name, list, expected, **kw)
        if value is None:
            return ()
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{name}[{index}]", f"expected a non-empty string, got {_describe(item)}")
        return tuple(value)

    def sub(self, name, required=True):
        value = self.get(name, dict, "a mapping", default={}, required=required)
        return _Reader(self.path, value, f"{self.key(name)}.")

    def reject_unknown(self):
        unknown = sorted(set(self.data) - self.seen, key=str)
        if unknown:
            known = ", ".join(sorted(self.seen))
            self.fail(str(unknown[0]), f"unknown key; expected one of: {known}")


def _describe(value):
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def load(path):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(path, None, f"cannot read: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except ValueError as error:          # e.g. an impossible date such as 2026-13-45
        raise ConfigError(path, None, f"not valid YAML: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ConfigError(path, None, f"not valid YAML ({where}): {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, None, f"expected a mapping at the top level, got {_describe(data)}")
    return parse(path, data)


def parse(path, data):
    top = _Reader(path, data)
    name = top.text("name", "a package name", pattern=_SIMPLE)
    raw_version = top.get("version", (str, int, float), "an upstream version like 0.32.15 or v0.33.0-rc2")
    try:
        upstream_version, version = parse_upstream(raw_version)
    except ValueError:
        top.fail("version", f"expected an upstream version like 0.32.15 or v0.33.0-rc2, got {raw_version!r}")
    release = top.get("release", int, "a positive integer")
    if release < 1:
        top.fail("release", f"expected a positive integer, got {release}")
    summary = top.text("summary", "one line of text without % or a trailing period",
                       pattern=re.compile(r"^[^%\n]*[^%\n.]$"))
    url = top.text("url", "an https:// URL", pattern=re.compile(r"^https://\S+$"))
    license_ = top.text("license", "an SPDX license expression")

    llama = top.sub("llama_cpp")
    llama_tag = llama.text("tag", "a llama.cpp tag like b10488", pattern=_SIMPLE)
    build_number = re.fullmatch(r"b(\d+)", llama_tag)
    if not build_number:
        llama.fail("tag", f"expected a llama.cpp build tag b<number> like b10488, got {llama_tag!r}")
    commit = llama.text("commit", "the tag's full 40-hex git commit id")
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        llama.fail("commit", f"expected the tag's full 40-hex git commit id, got {commit!r}")
    manifest = llama.text("install_manifest", "a file next to the config listing upstream's CPU install")
    manifest_path = Path(path).parent / manifest
    if not manifest_path.is_file():
        llama.fail("install_manifest", f"expected an existing file, {manifest_path} is not one")
    compat_patches = llama.strings("compat_patches", "a list of patch paths inside the Ollama tree")
    llama.reject_unknown()

    sources = top.sub("sources")
    source_urls = []
    for key in ("ollama", "llama_cpp"):
        template = sources.text(key, "a URL (placeholders {upstream_version}, {llama_cpp_tag})",
                                pattern=re.compile(r"^(https?|file)://\S+$"))
        try:
            source_urls.append((key, template.format(upstream_version=upstream_version,
                                                     llama_cpp_tag=llama_tag, name=name)))
        except (KeyError, IndexError, ValueError) as error:
            sources.fail(key, f"unknown placeholder {error}; expected {{upstream_version}}, {{llama_cpp_tag}} or {{name}}")
    vendor = sources.text("vendor", "a file name (placeholder {upstream_version})",
                          default="{name}-{upstream_version}-vendor.tar.gz", required=False)
    vendor = vendor.format(upstream_version=upstream_version, name=name)
    sources.reject_unknown()

    go = top.sub("go")
    go_min = go.text("min_version", "a Go version like 1.26", pattern=re.compile(r"^\d+\.\d+(\.\d+)?$"))
    go_vars = go.strings("libdir_variables", "a list of Go variables (importpath.Name) set to the library dir")
    for index, var in enumerate(go_vars):
        if not re.match(r"^[\w./-]+\.[A-Za-z_]\w*$", var):
            go.fail(f"libdir_variables[{index}]", f"expected importpath.Name, got {var!r}")
    go_license = go.text("license", "an SPDX expression (the Go code's share of `license`)",
                         required=False, default=license_)
    go.reject_unknown()

    patches_dir = top.text("patches_dir", "a directory next to the config", default="patches", required=False)
    if not (Path(path).parent / patches_dir).is_dir():
        # Without the patches Ollama cannot find its libraries in %{_libdir}/ollama.
        top.fail("patches_dir", f"expected an existing directory, {Path(path).parent / patches_dir} is not one")
    backends = _backends(top.sub("backends"))
    cpu = top.sub("cpu_variants")
    cpu_x86 = _x86_variants(cpu.sub("x86_64"))
    cpu_arm = cpu.strings("aarch64", "a list of ggml aarch64 CPU variants")
    for index, variant in enumerate(cpu_arm):
        if variant not in cpu_levels.AARCH64_VARIANTS:
            cpu.fail(f"aarch64[{index}]", f"unknown ggml CPU variant {variant!r}; expected one of: "
                     + ", ".join(cpu_levels.AARCH64_VARIANTS))
    cpu.reject_unknown()

    packager_r = top.sub("packager")
    packager_name = packager_r.text("name")
    email = packager_r.text("email", "an e-mail address", pattern=_EMAIL)
    packager_r.reject_unknown()
    packager = f"{packager_name} <{email}>"

    changelog = _changelog(top, packager)
    top.reject_unknown()

    expected_evr = f"{version}-{release}"
    if changelog[0].evr != expected_evr:
        top.fail("changelog[0].version", f"newest entry must be {expected_evr}, got {changelog[0].evr!r}")

    return Config(
        path=path, name=name, upstream_version=upstream_version, version=version, release=release,
        summary=summary, url=url, license=license_, llama_cpp_tag=llama_tag,
        llama_cpp_build_number=int(build_number.group(1)), llama_cpp_commit=commit,
        llama_cpp_install_manifest=manifest_path, llama_cpp_compat_patches=compat_patches, source_urls=tuple(source_urls),
        vendor_tarball=vendor, go_min_version=go_min, go_libdir_variables=go_vars, go_license=go_license,
        patches_dir=patches_dir, backends=backends, cpu_x86_64=cpu_x86, cpu_aarch64=cpu_arm,
        packager=packager, changelog=changelog,
    )


def _backends(section):
    result = []
    for name in BACKENDS:
        b = section.sub(name)
        enabled = b.get("enabled", bool, "true or false (the %bcond default)")
        arches = b.strings("arches", "a list of architectures (x86_64, aarch64)")
        for index, arch in enumerate(arches):
            if arch not in ARCHES:
                b.fail(f"arches[{index}]", f"expected one of {', '.join(ARCHES)}, got {arch!r}")
        runner_dir = b.text("runner_dir", "a directory name like cuda_v12", pattern=_SIMPLE)
        targets = b.strings("gpu_targets", "a list of GPU architectures", required=False)
        host_compiler = b.text("host_compiler", "an absolute path to a compiler", required=False, default="",
                               pattern=re.compile(r"^/[\w./+-]+$"))
        options = b.get("cmake_options", dict, "a mapping of CMake cache variables", default={}, required=False)
        for key, value in options.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
                b.fail(f"cmake_options.{key}", "expected a CMake variable name (letters, digits, _)")
            if not isinstance(value, str) or not re.match(r"^[^\s\"'`$;|&<>\\]+( [^\s\"'`$;|&<>\\]+)*$", value):
                b.fail(f"cmake_options.{key}", f"expected a quoted string without shell metacharacters, "
                       f"got {_describe(value)}")
        result.append(Backend(
            name=name, enabled=enabled, arches=arches, runner_dir=runner_dir,
            gpu_targets=targets, host_compiler=host_compiler,
            cmake_options=tuple(options.items()),
            build_requires=b.strings("build_requires", required=False),
            requires=b.strings("requires", required=False),
            supplements=b.text("supplements", "a rich dependency like (a or b)", required=False, default=""),
            bundled_runtimes=b.strings("bundled_runtimes", "a list of file globs", required=False),
        ))
        b.reject_unknown()
        if name == "cuda":
            _check_cuda(b, result[-1])
    section.reject_unknown()
    return tuple(result)


# CUDA 13 dropped Maxwell, Pascal and Volta: sm_75 is its oldest architecture.
_CUDA_MIN_ARCH = {13: 75}


def _check_cuda(section, backend):
    """The runner dir, the nvcc package, the compiler path and the architectures
    must all name one CUDA major, or nvcc fails deep inside %build."""
    runner = re.match(r"^cuda_v(\d+)$", backend.runner_dir)
    if not runner:
        section.fail("runner_dir", f"expected cuda_v<major> like cuda_v12, got {backend.runner_dir!r}")
    major = int(runner.group(1))
    named = [(f"build_requires {br}", int(m.group(1))) for br in backend.build_requires
             for m in [re.match(r"^cuda-nvcc-(\d+)-\d+$", br)] if m]
    named += [(f"cmake_options.{key} {value}", int(m.group(1))) for key, value in backend.cmake_options
              for m in [re.search(r"/cuda-(\d+)\.\d+(/|$)", value)] if m]
    for what, other in named:
        if other != major:
            section.fail("runner_dir", f"{backend.runner_dir} is CUDA {major} but {what} is CUDA {other}")
    floor = _CUDA_MIN_ARCH.get(major, 0)
    for index, target in enumerate(backend.gpu_targets):
        number = re.match(r"^(\d+)", target)
        if number and int(number.group(1)) < floor:
            section.fail(f"gpu_targets[{index}]", f"CUDA {major} has no {target}: its oldest architecture is {floor}")


def _x86_variants(section):
    result = []
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
    return tuple(result)


def _x86_long_form(section, variant, data):
    if not isinstance(variant, str) or not _SIMPLE.match(variant):
        section.fail(str(variant), "expected a ggml variant name")
    entry = _Reader(section.path, data, f"{section.key(variant)}.")
    level = entry.get("level", str, f"an x86-64 level ({', '.join(cpu_levels.LEVELS)})")
    features = entry.strings("features", "a list of ggml ISA feature flags (may be empty)")
    for index, feature in enumerate(features):
        if feature not in cpu_levels.FEATURE_LEVEL:
            entry.fail(f"features[{index}]", f"unknown ISA feature {feature!r}; expected one of: "
                       + ", ".join(cpu_levels.FEATURE_LEVEL))
    entry.reject_unknown()
    return level, features


def _changelog(top, packager):
    entries = top.get("changelog", list, "a list of entries (version, date, text)")
    if not entries:
        top.fail("changelog", "expected at least one entry")
    result = []
    for index, raw in enumerate(entries):
        where = f"changelog[{index}]"
        if not isinstance(raw, dict):
            top.fail(where, f"expected a mapping with version, date, text, got {_describe(raw)}")
        entry = _Reader(top.path, raw, f"{where}.")
        evr = entry.text("version", "version-release like 0.32.15-1")
        date = entry.get("date", (datetime.date, str), "a date YYYY-MM-DD")
        if isinstance(date, str):
            try:
                date = datetime.date.fromisoformat(date)
            except ValueError:
                entry.fail("date", f"expected a date YYYY-MM-DD, got {date!r}")
        text = entry.get("text", (str, list), "a string or a list of lines")
        lines = tuple(text) if isinstance(text, list) else tuple(text.strip().splitlines())
        if not lines or not all(isinstance(line, str) and line.strip() for line in lines):
            entry.fail("text", "expected non-empty lines")
        author = entry.text("author", required=False, default=packager)
        entry.reject_unknown()
        result.append(ChangelogEntry(evr=evr, date=date, author=author, lines=lines))
    for newer, older in zip(result, result[1:]):
        if newer.date < older.date:
            top.fail("changelog", f"entries must be newest first; {newer.evr} is older than {older.evr}")
    return tuple(result)
