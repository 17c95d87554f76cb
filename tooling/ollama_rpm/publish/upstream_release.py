"""What a packaged Ollama release depends on, read from its real tarballs.

From the Ollama tarball: LLAMA_CPP_VERSION, go.mod's `go` line, the CUDA/ROCm
architecture lists of llama/server/CMakePresets.json and the llama/compat
patches (in apply-patch.cmake's order); from the llama.cpp tarball: ggml's x86
CPU variants with their ISA feature flags. Not from release notes.
"""

import json
import re
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ollama_rpm import grammar
from ollama_rpm.errors import IntegrityError, OllamaRpmError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen import backends

_VARIANT_CALL = re.compile(r"^\s*ggml_add_cpu_backend_variant\s*\(\s*([^\s)]+)([^)]*)\)")
_X86_BRANCH = re.compile(r'^\s*(else)?if\s*\(\s*GGML_SYSTEM_ARCH\s+STREQUAL\s+"x86"\s*\)')
_BRANCH_END = re.compile(r"^\s*(elseif|else|endif)\s*\(")


class UpstreamError(OllamaRpmError):
    """The new release is not what the toolkit can package as is (exit 1)."""


@dataclass
class Upstream:
    version: str
    llama_cpp_tag: str
    go_version: str
    compat_patches: list[str]
    presets: dict[str, dict[str, object]]           # preset name -> resolved cacheVariables


def _members(tar_path: StrPath) -> tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]:
    """{path without the top directory: TarInfo} of the regular files in a tarball."""
    try:
        tar = tarfile.open(tar_path, "r:*")  # noqa: SIM115 - returned open; the caller closes it
    except (tarfile.TarError, OSError) as error:
        raise IntegrityError(f"{Path(tar_path).name}: not a readable tarball ({error})") from None
    files: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.isfile() and len(parts) > 1:
            files["/".join(parts[1:])] = member
    return tar, files


def _read(tar: tarfile.TarFile, files: Mapping[str, tarfile.TarInfo], name: str, tarball: str) -> str:
    member = files.get(name)
    handle = tar.extractfile(member) if member is not None else None   # None: not a regular file
    if handle is None:
        raise UpstreamError(f"{tarball}: has no {name}; the upstream layout changed")
    return handle.read().decode("utf-8", errors="replace")


def read_ollama(tar_path: StrPath, version: str) -> Upstream:
    name = Path(tar_path).name
    tar, files = _members(tar_path)
    with tar:
        tag = _read(tar, files, "LLAMA_CPP_VERSION", name).strip()
        _check(name, "LLAMA_CPP_VERSION", tag, grammar.name)
        go_mod = _read(tar, files, "go.mod", name)
        # ASCII digits and blanks only: \d and \s would take other scripts' digits and line breaks.
        match = re.search(r"^go[ \t]+([0-9]+\.[0-9]+(?:\.[0-9]+)?)[ \t]*$", go_mod, re.M | re.A)
        if not match:
            raise UpstreamError(f"{name}: go.mod has no `go 1.N` line")
        go_version = re.sub(r"^([0-9]+\.[0-9]+)\.0$", r"\1", match.group(1))
        _check(name, "go.mod go line", go_version, grammar.go_version)
        try:
            presets = json.loads(_read(tar, files, "llama/server/CMakePresets.json", name))
        except ValueError as error:
            raise UpstreamError(f"{name}: llama/server/CMakePresets.json is not JSON: {error}") from None
        # As llama/compat/apply-patch.cmake: every *.patch below llama/compat,
        # recursively, ordered by "<file name>|<path>".
        patches = sorted((path for path in files
                          if path.startswith("llama/compat/") and path.endswith(".patch")),
                         key=lambda path: f"{PurePosixPath(path).name}|{path}")
        for patch in patches:
            _check(name, "llama/compat patch", patch, grammar.patch_path)
    return Upstream(version=version, llama_cpp_tag=tag, go_version=go_version,
                    compat_patches=patches, presets=_resolve_presets(presets, name))


def _check(tarball: str, what: str, value: str, check: Callable[[object], str | None]) -> None:
    """A malicious or broken release stops the bump here, before anything is written."""
    problem = check(value)
    if problem:
        shown = repr(value if len(value) <= 60 else value[:60] + "...")
        raise UpstreamError(f"{tarball}: {what} {shown} is not {problem}; nothing changed")


def read_commit(tar_path: StrPath) -> str | None:
    """The commit id `git archive` records in the pax global header (GitHub's
    archives carry it; `git get-tar-commit-id` reads the same); None without one."""
    try:
        with tarfile.open(tar_path) as tar:
            tar.next()                        # the global header is read with the first member
            comment = tar.pax_headers.get("comment", "")
    except (tarfile.TarError, OSError) as error:
        raise UpstreamError(f"{Path(tar_path).name}: not a readable tarball: {error}") from None
    return comment if re.fullmatch(r"[0-9a-f]{40}", comment) else None


def _resolve_presets(data: object, tarball: str) -> dict[str, dict[str, object]]:
    if not isinstance(data, dict):
        raise UpstreamError(f"{tarball}: llama/server/CMakePresets.json is not a JSON object")
    listed = data.get("configurePresets", [])
    if not isinstance(listed, list):
        raise _not_presets(tarball)
    # CMake requires every preset to have a name: one without cannot be inherited or chosen.
    presets: dict[str, dict[str, Any]] = {p["name"]: p for p in listed
                                          if isinstance(p, dict) and isinstance(p.get("name"), str)}
    resolved: dict[str, dict[str, object]] = {}

    def resolve(name: str, seen: tuple[str, ...] = ()) -> dict[str, object]:
        if name in resolved:
            return resolved[name]
        preset = presets.get(name)
        if preset is None or name in seen:
            raise UpstreamError(f"{tarball}: CMakePresets.json preset {name!r} is missing or inherits itself")
        inherits = preset.get("inherits", [])
        variables: dict[str, object] = {}
        for parent in [inherits] if isinstance(inherits, str) else inherits:
            variables.update(resolve(parent, seen + (name,)))
        variables.update(preset.get("cacheVariables", {}))
        resolved[name] = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in variables.items()}
        return resolved[name]

    try:
        for name, preset in presets.items():
            if not preset.get("hidden"):
                resolve(name)
    except (TypeError, ValueError, AttributeError, RecursionError):
        raise _not_presets(tarball) from None
    return {name: resolved[name] for name, preset in presets.items() if not preset.get("hidden")}


def _not_presets(tarball: str) -> UpstreamError:
    return UpstreamError(f"{tarball}: llama/server/CMakePresets.json configurePresets are not "
                         "in CMake's preset format")


def has_preset(backend: str) -> bool:
    """Whether upstream keeps this backend's GPU list in a configure preset (registry)."""
    info = backends.info(backend)
    return bool(info.preset and info.toolkit.gpu_targets_variable)


def gpu_list(upstream: Upstream, backend: str, runner_dir: str) -> list[str]:
    """The GPU list of the backend's Linux preset (the registry names it: e.g.
    llama_cuda_v13_linux for runner dir cuda_v13)."""
    info = backends.info(backend)
    variable = info.toolkit.gpu_targets_variable
    preset = info.preset_name(runner_dir)
    values = upstream.presets.get(preset)
    if values is None or variable not in values:
        found = "no preset" if values is None else f"no {variable} in preset"
        raise UpstreamError(f"ollama {upstream.version}: llama/server/CMakePresets.json has {found} {preset!r} "
                            f"for backends.{backend} (runner dir {runner_dir}); check backends.{backend}.runner_dir")
    items = [item for item in str(values[variable]).split(";") if item]
    for item in items:
        _check(f"ollama {upstream.version}", f"CMakePresets.json {variable} entry", item, grammar.gpu_target)
    return items


def read_ggml_variants(tar_path: StrPath) -> list[tuple[str, tuple[str, ...]]]:
    """[(variant, (features...))] of ggml's x86 branch of GGML_CPU_ALL_VARIANTS."""
    name = Path(tar_path).name
    tar, files = _members(tar_path)
    with tar:
        text = _read(tar, files, "ggml/src/CMakeLists.txt", name)
    variants: list[tuple[str, tuple[str, ...]]] = []
    inside, indent = False, 0
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        if not inside:
            if _X86_BRANCH.match(code):
                inside, indent = True, len(code) - len(code.lstrip())
            continue
        if _BRANCH_END.match(code) and len(code) - len(code.lstrip()) <= indent:
            if variants:
                break
            # An x86 branch without variant calls: the one inside ggml_add_cpu_backend_variant()'s
            # own definition (llama.cpp b10488 defines the function above the calls). Look further.
            inside = False
        match = _VARIANT_CALL.match(code)
        if match:
            variants.append((match.group(1), tuple(match.group(2).split())))
    if not variants:
        raise UpstreamError(f"{name}: no x86 ggml_add_cpu_backend_variant() calls in ggml/src/CMakeLists.txt")
    return variants
