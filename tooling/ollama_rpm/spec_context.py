"""Shape a validated Config into the plain data ollama.spec.j2 renders.

All decisions (numbering, grouping, text) are made here so the template stays
declarative, and so the same data drives `srpm` (which local files to copy).
"""

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ollama_rpm import cpu_levels, manifest

# Files of this project shipped as Sources: (number, spec name, path in the project).
PROJECT_SOURCES = (
    (3, "go-vendor-tools.toml", "go-vendor-tools.toml"),
    (10, "ollama.service", "units/ollama.service"),
    (11, "ollama.user.service", "units/ollama.user.service"),
    (12, "ollama.conf", "sysusers/ollama.conf"),
    (13, "ollama.sysconfig", "units/ollama.sysconfig"),
    (14, "README.Fedora", "doc/README.Fedora"),
)

# The llama/server CMake target that builds each GPU backend.
BUILD_TARGET = {"cuda": "ggml-cuda", "rocm": "ggml-hip", "vulkan": "ggml-vulkan"}

# The CMake cache variable that takes each backend's GPU architecture list.
GPU_TARGETS_VARIABLE = {"cuda": "CMAKE_CUDA_ARCHITECTURES", "rocm": "AMDGPU_TARGETS"}

BACKEND_TEXT = {
    "cuda": ("NVIDIA CUDA backend for Ollama",
             "The ggml CUDA backend, which runs models on NVIDIA GPUs. It uses the CUDA\n"
             "runtime libraries from NVIDIA's repository instead of bundled copies."),
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


@dataclass(frozen=True)
class SpecSource:
    number: int
    value: str            # what the Source tag says: a URL or a file name
    project_path: str     # file in this project to copy into SOURCES, or ""
    comment: str = ""     # a line above the tag in the spec

    @property
    def file_name(self):
        return self.value.rsplit("/", 1)[-1]


def sources(config):
    result = [SpecSource(number, value, "") for number, (_, value)
              in enumerate(config.source_urls)]
    result.append(SpecSource(len(result), config.vendor_tarball, "",
                             "Go modules of Source0: `ollama-rpm vendor` (go mod vendor, reproducible tar)"))
    result += [SpecSource(number, name, path) for number, name, path in PROJECT_SOURCES]
    return result


def patches(config, root):
    directory = Path(root) / config.patches_dir
    names = sorted(p.name for p in directory.glob("*.patch")) if directory.is_dir() else []
    return [{"number": index, "file": name, "path": f"{config.patches_dir}/{name}",
             "status": _upstream_status(directory / name)}
            for index, name in enumerate(names, start=1)]


def _upstream_status(patch):
    """The patch header's "Upstream status:" sentence, for the comment above its tag."""
    header = patch.read_text(encoding="utf-8", errors="replace").split("\n---", 1)[0]
    match = re.search(r"^Upstream[ -]status:\s*(.+?)(?:\.(?:\s|\Z)|\n\s*\n|\Z)", header, re.M | re.S | re.I)
    if not match:
        return ["(no upstream status in the patch header)"]
    text = "Upstream status: " + " ".join(match.group(1).split()).rstrip(".") + "."
    return textwrap.wrap(text, width=77)


def cpu_level_packages(config):
    by_level = {}
    for variant, level in config.cpu_x86_64:
        by_level.setdefault(level, []).append(variant)
    return [{"level": level, "variants": by_level[level],
             "description": _variants_description(LEVEL_CPUS[level], by_level[level])}
            for level in cpu_levels.LEVELS if level in by_level]


def _variants_description(cpus, variants):
    text = (f"ggml CPU backend variants that run on {cpus}: {', '.join(variants)}. "
            "Ollama loads the fastest variant the processor supports.")
    return textwrap.fill(text, width=79)


# nvcc compiles host code with the host compiler it is given flags for with
# -Xcompiler; the spec builds that list from Fedora's flags in this variable.
CUDA_HOST_FLAGS = "-Xcompiler=${ollama_cuda_host_flags}"


def backend_data(backend):
    options = dict(backend.cmake_options)
    if backend.name == "cuda":
        options["CMAKE_CUDA_FLAGS"] = " ".join(filter(None, [options.get("CMAKE_CUDA_FLAGS"), CUDA_HOST_FLAGS]))
    args = [f"-DOLLAMA_RUNNER_DIR={backend.runner_dir}"]
    args += [f"-D{name}={_cmake_value(value)}" for name, value in options.items()]
    if backend.gpu_targets:
        targets = ";".join(backend.gpu_targets)
        args.append(f'-D{GPU_TARGETS_VARIABLE[backend.name]}="{targets}"')
    if backend.host_compiler:
        args.append(f"-DCMAKE_CUDA_HOST_COMPILER={backend.host_compiler}")
    summary, description = BACKEND_TEXT[backend.name]
    return {
        "name": backend.name,
        "enabled": backend.enabled,
        # %bcond default: on for the listed arches only; "all" needs no %ifarch.
        "all_arches": set(backend.arches) == {"x86_64", "aarch64"},
        "arches": backend.arches,
        "runner_dir": backend.runner_dir,
        "build_target": BUILD_TARGET[backend.name],
        "cmake_args": args,
        "build_requires": backend.build_requires,
        "requires": backend.requires,
        "supplements": backend.supplements,
        "bundled_runtimes": backend.bundled_runtimes,
        "summary": summary,
        "description": description,
    }


def _cmake_value(value):
    """Quote a CMake value for the shell when it holds spaces or list separators."""
    return f'"{value}"' if any(c in value for c in " ;") else value


def changelog(config):
    result = []
    for entry in config.changelog:
        day = _DAYS[entry.date.weekday()]
        month = _MONTHS[entry.date.month - 1]
        header = f"* {day} {month} {entry.date.day:02d} {entry.date.year} {entry.author} - {entry.evr}"
        lines = [line if line.startswith("-") else f"- {line}" for line in entry.lines]
        result.append({"header": header, "lines": lines})
    return result


def build(config, root):
    """Everything the template needs, as plain dicts/lists/strings."""
    return {
        "name": config.name,
        "upstream_version": config.upstream_version,
        "version": config.version,
        "release": config.release,
        "summary": config.summary,
        "url": config.url,
        "license": config.license,
        "llama_cpp_tag": config.llama_cpp_tag,
        "llama_cpp_build": config.llama_cpp_build_number,
        "llama_cpp_commit": config.llama_cpp_commit,
        "compat_patches": config.llama_cpp_compat_patches,
        "private_files": manifest.packaged_files(manifest.load(config.llama_cpp_install_manifest)),
        "sources": sources(config),
        "patches": patches(config, root),
        "go_min_version": config.go_min_version,
        "go_libdir_variables": config.go_libdir_variables,
        "go_license": config.go_license,
        "cpu_levels": cpu_level_packages(config),
        "cpu_aarch64": config.cpu_aarch64,
        "cpu_aarch64_description": _variants_description("64-bit Arm processors", config.cpu_aarch64),
        "backends": [backend_data(b) for b in config.backends],
        "changelog": changelog(config),
    }
