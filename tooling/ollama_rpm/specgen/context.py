"""Shape a validated Config into the plain data ollama.spec.j2 renders.

All decisions (numbering, grouping, text) are made here so the template stays
declarative, and so the same data drives `srpm` (which local files to copy).
"""

import re
import textwrap
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from ollama_rpm.errors import UsageError
from ollama_rpm.specgen import backends, cpu_levels, go_bundled, manifest, source_table
from ollama_rpm.specgen.config import LAYOUTS, Backend, Config

# What the template reads: plain values, lists and mappings of them.
TemplateData = dict[str, object]

LEVEL_CPUS = {
    "v1": "any x86-64 processor",
    "v2": "x86-64-v2 processors (SSE4.2, POPCNT; Nehalem, Bulldozer and newer)",
    "v3": "x86-64-v3 processors (AVX2, FMA, BMI2; Haswell, Zen and newer)",
    "v4": "x86-64-v4 processors (AVX-512; Skylake-X, Zen 4 and newer)",
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def cpu_level_packages(config: Config) -> list[TemplateData]:
    by_level: dict[str, list[str]] = {}
    for variant, level in config.cpu_x86_64:
        by_level.setdefault(level, []).append(variant)
    present = [level for level in cpu_levels.LEVELS if level in by_level]
    # number: N of x86-64-vN, compared in the spec with the distribution's own
    # level; prev: the next lower packaged level (0: none), which is required
    # instead when the distribution's level lets it ship.
    return [{"level": level, "number": int(level[1:]),
             "prev": int(present[index - 1][1:]) if index else 0,
             "variants": by_level[level],
             "description": _variants_description(LEVEL_CPUS[level], by_level[level])}
            for index, level in enumerate(present)]


def _variants_description(cpus: str, variants: Sequence[str]) -> str:
    text = (f"ggml CPU backend variants that run on {cpus}: {', '.join(variants)}. "
            "Ollama loads the fastest variant the processor supports.")
    return textwrap.fill(text, width=79)


def backend_data(backend: Backend, config: Config | None = None) -> TemplateData:
    info = backends.info(backend.name)
    toolkit = info.toolkit
    kind = toolkit.kind
    options = dict(backend.cmake_options)
    if toolkit.flags_shell_variable:
        # Fedora's flags, adapted in %build into the toolkit's shell variable,
        # before (HIP) or after (CUDA) what upstream/packaging.yaml sets.
        own = options.get(toolkit.flags_variable)
        parts = [toolkit.flags_reference, own] if toolkit.flags_before else [own, toolkit.flags_reference]
        options[toolkit.flags_variable] = " ".join(filter(None, parts))
    if toolkit.release_flags_variable:
        options.setdefault(toolkit.release_flags_variable, "-DNDEBUG")
    args = [f"-DOLLAMA_RUNNER_DIR={backend.runner_dir}"]
    args += [f"-D{name}={_cmake_value(value)}" for name, value in options.items()]
    gpu_targets_global = ""
    if backend.gpu_targets:
        targets = ";".join(backend.gpu_targets)
        if "%" in targets:
            # A distribution macro (Fedora's %rocm_gpu_list_default carries its own
            # double quotes): expanded at build time with any quotes removed, then
            # quoted once here so the shell passes the ;-list as one argument.
            gpu_targets_global = ("%{lua:print((rpm.expand([[" + targets + "]]):gsub('\"', '')))}")
            targets = f"%{{ollama_{backend.name}_gpu_targets}}"
        args.append(f'-D{toolkit.gpu_targets_variable}="{targets}"')
    compat_gcc = _compat_gcc_packages(backend)
    if backend.host_compiler:
        # Fedora's GCC is newer than nvcc accepts, so it names a compat GCC; EL's own
        # (RHEL 9: 11, RHEL 10: 14) is one nvcc accepts and EL has no such package.
        args.append(f"%{{?fedora:-DCMAKE_CUDA_HOST_COMPILER={backend.host_compiler}}}")
    return {
        "name": backend.name,
        "kind": kind,
        "flags_shell_variable": toolkit.flags_shell_variable,
        "flags_command": toolkit.flags_command if toolkit.flags_sed else "",
        "flags_comment": list(toolkit.flags_comment),
        "no_lto_reason": list(toolkit.no_lto_reason),
        "enabled": backend.enabled,
        # %bcond default: on for the listed arches only; "all" needs no %ifarch.
        "all_arches": set(backend.arches) == {"x86_64", "aarch64"},
        "arches": " ".join("%{x86_64}" if arch == "x86_64" else arch for arch in backend.arches),
        "arch_names": " ".join(backend.arches),
        "runner_dir": backend.runner_dir,
        "build_target": toolkit.build_target,
        "cmake_args": args,
        "gpu_targets_global": gpu_targets_global,
        "build_requires": [br for br in backend.build_requires if br not in compat_gcc],
        "fedora_build_requires": [br for br in backend.build_requires if br in compat_gcc],
        "requires": backend.requires,
        "requires_exclude": "|".join(_soname_regex(s) for s in backend.requires_exclude),
        "requires_exclude_list": ", ".join(backend.requires_exclude),
        "supplements": backend.supplements,
        "bundled_runtimes": backend.bundled_runtimes,
        "summary": info.summary,
        "description": info.description,
        "refused_on_fedora": info.refused_on_fedora,
        "refused_reason": info.refused_reason,
        "replaces": replaces(config).get(backend.name, []) if config else [],
    }


def _compat_gcc_packages(backend: Backend) -> set[str]:
    """The BuildRequires that provide the host compiler (/usr/bin/g++-15 -> gcc15-c++)."""
    match = re.search(r"(?:g\+\+|gcc|c\+\+)-(\d+)$", backend.host_compiler or "")
    return {f"gcc{match.group(1)}-c++", f"gcc{match.group(1)}"} if match else set()


def _soname_regex(soname: str) -> str:
    """libcuda.so.1 -> the regex (spec-escaped) matching rpm's libcuda.so.1()(64bit)."""
    return "^" + soname.replace(".", "\\\\.") + "\\\\("


def _cmake_value(value: str) -> str:
    """Quote a CMake value for the shell when it holds spaces or list separators."""
    return f'"{value}"' if any(c in value for c in " ;") else value


def replaces(config: Config) -> dict[str, list[str]]:
    """Fedora package names each role takes over: {"main": [...], backend: [...]}."""
    return {role: list(names) for role, names in config.replaces}


def bundled(config: Config) -> list[str]:
    """`bundled(name) = version`; code that declares no version gets the llama.cpp
    tag it is pinned at (rpmlint warns about unversioned Provides)."""
    return [f"bundled({b.name}) = {b.version or '%{llama_cpp_tag}'}" for b in config.bundled]


def llama_cpp_license_files(config: Config) -> list[str]:
    """llama.cpp's LICENSE and the license texts of the code it bundles."""
    return ["LICENSE", *(b.license_file for b in config.bundled if b.license_file)]


def go_check_args(config: Config) -> list[TemplateData]:
    """The %gocheck2 options of the skip list, each with its reason for a comment."""
    flags = {"test": "-s", "tree": "-t"}
    result: list[TemplateData] = []
    for skip in config.go_test_skips:
        arg = f"{flags[skip.kind]} '{skip.value}'"
        comment = textwrap.wrap(f"{arg}: {skip.reason}", width=75, break_long_words=False,
                                break_on_hyphens=False, subsequent_indent="    ")
        result.append({"arg": arg, "reason": skip.reason, "comment": comment})
    return result


def changelog(config: Config) -> list[TemplateData]:
    result: list[TemplateData] = []
    for entry in config.changelog:
        day = _DAYS[entry.date.weekday()]
        month = _MONTHS[entry.date.month - 1]
        header = f"* {day} {month} {entry.date.day:02d} {entry.date.year} {entry.author} - {entry.evr}"
        lines = [line if line.startswith("-") else f"- {line}" for line in entry.lines]
        result.append({"header": header, "lines": lines})
    return result


@dataclass(frozen=True)
class SpecPackage:
    """One source package of a layout: its spec file and what it builds.

    single: one `ollama` spec with every backend as a %bcond subpackage (Fedora
    review). split: `ollama` (Go, CPU levels, service) plus one spec per GPU
    backend, `ollama-ggml-<backend>`, that builds only that backend.
    """
    name: str                   # the source package: ollama, ollama-ggml-vulkan
    backend: str = ""           # the backend a split backend spec builds; "" for ollama
    layout: str = "single"

    @property
    def spec_file(self) -> str:
        return f"{self.name}.spec"

    @property
    def main(self) -> bool:
        return not self.backend


def packages(config: Config, layout: str | None = None) -> list[SpecPackage]:
    """The source packages of `layout` (default: packaging.yaml's), main first."""
    layout = layout or config.layout
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}")
    main = SpecPackage(config.name, layout=layout)
    if layout == "single":
        return [main]
    return [main] + [SpecPackage(f"{config.name}-{backends.info(b.name).package}", b.name, layout)
                     for b in config.backends]


def backend_builds(config: Config, package: SpecPackage, arch: str, with_: Collection[str] = (),
                   without: Collection[str] = ()) -> bool:
    """Whether a split backend spec is built for `arch` given --with/--without
    (the %bcond defaults of the single layout: packaging.yaml's `enabled`)."""
    backend = config.backend(package.backend)
    wanted = backend.name in with_ or (backend.enabled and backend.name not in without)
    return wanted and arch in backend.arches


def check_backend_options(config: Config, with_: Iterable[str], without: Iterable[str]
                          ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """--with and --without name backends of `config` and do not contradict each other; each once, in order."""
    with_, without = tuple(dict.fromkeys(with_)), tuple(dict.fromkeys(without))
    known = [b.name for b in config.backends]
    for option, names in (("--with", with_), ("--without", without)):
        for backend in names:
            if backend not in known:
                raise UsageError(f"{option} {backend}: not a backend of {config.path}; expected one of: {', '.join(known)}")
    both = sorted(set(with_) & set(without))
    if both:
        raise UsageError(f"--with {both[0]} and --without {both[0]} contradict each other")
    return with_, without


_FAMILY = {"cuda": "CUDA", "hip": "ROCm", "vulkan": "Vulkan"}


def _families(config: Config) -> str:
    """The GPU stacks packaging.yaml has backends for, in prose: "CUDA, ROCm and Vulkan"."""
    names = list(dict.fromkeys(_FAMILY.get(backends.info(b.name).kind, b.name) for b in config.backends))
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def build(config: Config, package: SpecPackage | None = None,
          table: source_table.SourceTable | None = None, dist_git: bool = False) -> TemplateData:
    """Everything the template needs, as plain dicts/lists/strings, for one
    source package of the layout (default: the single-layout ollama spec); the
    source table as its typed entries: `sources`/`patches` to iterate, `source.<role>`.
    `dist_git`: Fedora dist-git's form, Release and %changelog from rpmautospec
    (%autorelease, %autochangelog) instead of packaging.yaml's."""
    package = package or SpecPackage(config.name)
    table = table or source_table.build(config)
    if not package.main:
        table = table.backend_spec()
    all_backends = [backend_data(b, config) for b in config.backends]
    own = next((b for b in all_backends if b["name"] == package.backend), None)
    if package.main:
        built = all_backends if package.layout == "single" else []
    elif own is None:   # a SpecPackage made by hand for a backend packaging.yaml lacks
        raise ValueError(f"backend {package.backend!r}")
    else:
        built = [own]
    return {
        "spec_name": package.name,
        "main": package.main,
        # The single layout switches its backends with %bcond; a split backend
        # spec always builds its own backend.
        "bconds": package.main and package.layout == "single",
        "backend": own,
        "name": config.name,
        "upstream_version": config.upstream_version,
        "version": config.version,
        "release": config.release,
        "summary": config.summary,
        "url": config.url,
        "license": config.license,
        "ggml_license": config.ggml_license,
        "bundled": bundled(config),
        # what the vendored Go modules compile in, as `ollama-rpm vendor` recorded it
        "go_bundled": [b.provide for b in go_bundled.read(table.base / table.role(source_table.VENDOR_CONFIG)
                                                          .project_path)] if package.main else [],
        "llama_cpp_license_files": llama_cpp_license_files(config) if package.main else ["LICENSE"],
        "replaces_main": replaces(config).get("main", []),
        "go_check_args": go_check_args(config),
        "llama_cpp_tag": config.llama_cpp_tag,
        "llama_cpp_build": config.llama_cpp_build_number,
        "llama_cpp_commit": config.llama_cpp_commit,
        "compat_patches": config.llama_cpp_compat_patches,
        "private_files": manifest.packaged_files(manifest.load(config.llama_cpp_install_manifest)),
        "sources": table.sources,
        "source": table.by_role,
        "patches": table.patches,
        "go_min_version": config.go_min_version,
        "go_libdir_variables": config.go_libdir_variables,
        "go_license": config.go_license,
        "cpu_levels": cpu_level_packages(config),
        "cpu_aarch64": config.cpu_aarch64,
        "cpu_aarch64_description": _variants_description("64-bit Arm processors", config.cpu_aarch64),
        "backends": built,
        "gpu_families": _families(config),
        "changelog": changelog(config),
        "dist_git": dist_git,
    }
