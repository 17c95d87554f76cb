"""Shape a validated Config into the plain data ollama.spec.j2 renders.

All decisions (numbering, grouping, text) are made here so the template stays
declarative, and so the same data drives `srpm` (which local files to copy).
"""

import re
import textwrap

from ollama_rpm import cpu_levels, manifest, source_table

# What kind of GPU toolkit each backend builds with (cuda12 is a second CUDA).
KIND = {"cuda": "cuda", "cuda12": "cuda", "rocm": "hip", "vulkan": "vulkan"}

# The llama/server CMake target that builds each kind of GPU backend.
BUILD_TARGET = {"cuda": "ggml-cuda", "hip": "ggml-hip", "vulkan": "ggml-vulkan"}

# The CMake cache variable that takes each kind's GPU architecture list.
GPU_TARGETS_VARIABLE = {"cuda": "CMAKE_CUDA_ARCHITECTURES", "hip": "AMDGPU_TARGETS"}

BACKEND_TEXT = {
    "cuda": ("NVIDIA CUDA 13 backend for Ollama",
             "The ggml CUDA backend built with CUDA 13, which runs models on NVIDIA GPUs\n"
             "from Turing (GeForce RTX 20xx) on. It uses the CUDA runtime libraries from\n"
             "NVIDIA's repository instead of bundled copies."),
    "cuda12": ("NVIDIA CUDA 12 backend for Ollama",
               "The ggml CUDA backend built with CUDA 12, for NVIDIA GPUs that CUDA 13 no\n"
               "longer supports (Maxwell, Pascal, Volta). It installs next to the CUDA 13\n"
               "backend; Ollama picks the one that fits each GPU."),
    "rocm": ("AMD ROCm backend for Ollama",
             "The ggml HIP backend, which runs models on AMD GPUs through Fedora's ROCm\n"
             "stack (hipBLAS, rocBLAS)."),
    "vulkan": ("Vulkan backend for Ollama",
               "The ggml Vulkan backend, which runs models on any GPU with a Vulkan driver\n"
               "(Mesa RADV/ANV/NVK or NVIDIA)."),
}

LEVEL_CPUS = {
    "v1": "any x86-64 processor",
    "v2": "x86-64-v2 processors (SSE4.2, POPCNT; Nehalem, Bulldozer and newer)",
    "v3": "x86-64-v3 processors (AVX2, FMA, BMI2; Haswell, Zen and newer)",
    "v4": "x86-64-v4 processors (AVX-512; Skylake-X, Zen 4 and newer)",
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def cpu_level_packages(config):
    by_level = {}
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


def _variants_description(cpus, variants):
    text = (f"ggml CPU backend variants that run on {cpus}: {', '.join(variants)}. "
            "Ollama loads the fastest variant the processor supports.")
    return textwrap.fill(text, width=79)


# nvcc compiles host code with the host compiler it is given flags for with
# -Xcompiler; the spec builds that list from Fedora's flags in this variable.
CUDA_HOST_FLAGS = "-Xcompiler=${ollama_cuda_host_flags}"
HIP_FLAGS = "${ollama_hip_flags}"

# %cmake sets CMAKE_<C|CXX>_FLAGS_RELEASE to -DNDEBUG so that Fedora's -O2 from
# CFLAGS/CXXFLAGS decides; CMake's default for CUDA and HIP (-O3 -DNDEBUG) would
# override it for host code. Device code keeps its own optimisation (ptxas,
# the AMDGPU backend default to -O3 regardless).
RELEASE_FLAGS_VARIABLE = {"cuda": "CMAKE_CUDA_FLAGS_RELEASE", "hip": "CMAKE_HIP_FLAGS_RELEASE"}

# Fedora's flags for the HIP compiler (clang), as Fedora's own ROCm packages
# (rocrand, rocm-examples, llama-cpp) derive them from build_cxxflags: the
# host-only hardening flags get -Xarch_host so the AMDGPU device compile does
# not see them, and -mtls-dialect=gnu2 is dropped. On top of what they do, the
# GCC-only parts go: GCC's LTO (clang links the device code itself) and the
# -specs= files (clang has no such option). They go to CMAKE_HIP_FLAGS on the
# command line, not through the HIPFLAGS environment variable: Ollama's
# llama/server caches CMAKE_HIP_FLAGS (-parallel-jobs=4) before ggml enables
# HIP, and a cached value wins over HIPFLAGS.
HIP_FLAGS_SED = ("s/^-fstack-protector-strong$/-Xarch_host -fstack-protector-strong/; "
                 "s/^-fcf-protection$/-Xarch_host -fcf-protection/; "
                 "/^-mtls-dialect=/d; /^-flto/d; /^-ffat-lto-objects$/d; /^-specs=/d")


def backend_data(backend, config=None):
    kind = KIND[backend.name]
    options = dict(backend.cmake_options)
    if kind == "cuda":
        options["CMAKE_CUDA_FLAGS"] = " ".join(filter(None, [options.get("CMAKE_CUDA_FLAGS"), CUDA_HOST_FLAGS]))
    if kind == "hip":
        options["CMAKE_HIP_FLAGS"] = " ".join(filter(None, [HIP_FLAGS, options.get("CMAKE_HIP_FLAGS")]))
    if kind in RELEASE_FLAGS_VARIABLE:
        options.setdefault(RELEASE_FLAGS_VARIABLE[kind], "-DNDEBUG")
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
        args.append(f'-D{GPU_TARGETS_VARIABLE[kind]}="{targets}"')
    compat_gcc = _compat_gcc_packages(backend)
    if backend.host_compiler:
        # Fedora's GCC is newer than nvcc accepts, so it names a compat GCC; EL's own
        # (RHEL 9: 11, RHEL 10: 14) is one nvcc accepts and EL has no such package.
        args.append(f"%{{?fedora:-DCMAKE_CUDA_HOST_COMPILER={backend.host_compiler}}}")
    summary, description = BACKEND_TEXT[backend.name]
    return {
        "name": backend.name,
        "kind": kind,
        "enabled": backend.enabled,
        # %bcond default: on for the listed arches only; "all" needs no %ifarch.
        "all_arches": set(backend.arches) == {"x86_64", "aarch64"},
        "arches": " ".join("%{x86_64}" if arch == "x86_64" else arch for arch in backend.arches),
        "arch_names": " ".join(backend.arches),
        "runner_dir": backend.runner_dir,
        "build_target": BUILD_TARGET[kind],
        "cmake_args": args,
        "gpu_targets_global": gpu_targets_global,
        "build_requires": [br for br in backend.build_requires if br not in compat_gcc],
        "fedora_build_requires": [br for br in backend.build_requires if br in compat_gcc],
        "requires": backend.requires,
        "requires_exclude": "|".join(_soname_regex(s) for s in backend.requires_exclude),
        "requires_exclude_list": ", ".join(backend.requires_exclude),
        "supplements": backend.supplements,
        "bundled_runtimes": backend.bundled_runtimes,
        "summary": summary,
        "description": description,
        "replaces": replaces(config).get(backend.name, []) if config else [],
    }


def _compat_gcc_packages(backend):
    """The BuildRequires that provide the host compiler (/usr/bin/g++-15 -> gcc15-c++)."""
    match = re.search(r"(?:g\+\+|gcc|c\+\+)-(\d+)$", backend.host_compiler or "")
    return {f"gcc{match.group(1)}-c++", f"gcc{match.group(1)}"} if match else set()


def _soname_regex(soname):
    """libcuda.so.1 -> the regex (spec-escaped) matching rpm's libcuda.so.1()(64bit)."""
    return "^" + soname.replace(".", "\\\\.") + "\\\\("


def _cmake_value(value):
    """Quote a CMake value for the shell when it holds spaces or list separators."""
    return f'"{value}"' if any(c in value for c in " ;") else value


def replaces(config):
    """Fedora package names each role takes over: {"main": [...], backend: [...]}."""
    return {role: list(names) for role, names in config.replaces}


def bundled(config):
    """`bundled(name) = version`; code that declares no version gets the llama.cpp
    tag it is pinned at (rpmlint warns about unversioned Provides)."""
    return [f"bundled({b.name}) = {b.version or '%{llama_cpp_tag}'}" for b in config.bundled]


def llama_cpp_license_files(config):
    """llama.cpp's LICENSE and the license texts of the code it bundles."""
    return ["LICENSE", *(b.license_file for b in config.bundled if b.license_file)]


def go_check_args(config):
    """The %gocheck2 options of the skip list, each with its reason for a comment."""
    flags = {"test": "-s", "tree": "-t"}
    result = []
    for skip in config.go_test_skips:
        arg = f"{flags[skip.kind]} '{skip.value}'"
        comment = textwrap.wrap(f"{arg}: {skip.reason}", width=75, break_long_words=False,
                                break_on_hyphens=False, subsequent_indent="    ")
        result.append({"arg": arg, "reason": skip.reason, "comment": comment})
    return result


def changelog(config):
    result = []
    for entry in config.changelog:
        day = _DAYS[entry.date.weekday()]
        month = _MONTHS[entry.date.month - 1]
        header = f"* {day} {month} {entry.date.day:02d} {entry.date.year} {entry.author} - {entry.evr}"
        lines = [line if line.startswith("-") else f"- {line}" for line in entry.lines]
        result.append({"header": header, "lines": lines})
    return result


def build(config, table=None):
    """Everything the template needs, as plain dicts/lists/strings (the source
    table as its typed entries: `sources`/`patches` to iterate, `source.<role>`)."""
    table = table or source_table.build(config)
    return {
        "name": config.name,
        "upstream_version": config.upstream_version,
        "version": config.version,
        "release": config.release,
        "summary": config.summary,
        "url": config.url,
        "license": config.license,
        "ggml_license": config.ggml_license,
        "bundled": bundled(config),
        "llama_cpp_license_files": llama_cpp_license_files(config),
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
        "backends": [backend_data(b, config) for b in config.backends],
        "hip_flags_sed": HIP_FLAGS_SED,
        "changelog": changelog(config),
    }
