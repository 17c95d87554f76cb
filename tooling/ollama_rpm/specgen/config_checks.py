"""What packaging.yaml's keys must agree on across sections.

config.py reads each key with its own grammar; the checks here hold between
keys (and against the project's files): licenses that cover each other, names
that share one SOURCES directory, a CUDA major named the same everywhere.
Each fails with a ConfigError naming the key at fault.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ollama_rpm import atomic, grammar
from ollama_rpm.specgen import source_table
from ollama_rpm.specgen.yamlread import Reader

if TYPE_CHECKING:
    from ollama_rpm.specgen.config import Backend

_LICENSE_WORDS = {"AND", "OR", "WITH"}
# What %autosetup/%setup -a can unpack: the URL Sources are archives.
_ARCHIVE = re.compile(r".+\.(tar\.(gz|bz2|xz|zst)|tgz|tbz2|txz|zip)$")
# The vendor tarball must be reproducible: gzip from go_vendor_archive embeds the time.
_VENDOR_ARCHIVE = re.compile(r".+\.(tar\.(bz2|xz|zst)|tbz2|txz)$")
# CUDA 13 dropped Maxwell, Pascal and Volta: sm_75 is its oldest architecture.
_CUDA_MIN_ARCH = {13: 75}


def license_ids(expression: str) -> set[str]:
    """The license (and exception) identifiers an SPDX expression names."""
    return {w for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9.+-]*", expression) if w not in _LICENSE_WORDS}


def check_license_covers(top: Reader, license_: str, parts: Sequence[tuple[str, str]]) -> None:
    """The package's License names every license of its parts: (key, SPDX expression)."""
    for key, part in parts:
        missing = sorted(license_ids(part) - license_ids(license_))
        if missing:
            top.fail("license", f"does not cover {key} ({part!r}): {', '.join(missing)} missing")


def no_duplicates(section: Reader, key: str, items: Sequence[str], why: str) -> None:
    for index, item in enumerate(items):
        if item in items[:index]:
            section.fail(f"{key}[{index}]", f"{item!r} is listed twice: {why}")


def check_patches(top: Reader, root: Path, patches_dir: str) -> None:
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
        if entry.is_symlink() or entry.is_dir():
            top.fail("patches_dir", f"{entry}: expected a regular file (not a symlink or directory)")
        atomic.check_regular(entry)          # a FIFO would block the read, a huge file fill memory


def check_source_names(section: Reader, source_urls: Sequence[tuple[str, str]], vendor: str) -> None:
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


def check_file_names(top: Reader, name: str, source_urls: Sequence[tuple[str, str]], vendor: str, base: Path,
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


def check_replaces(top: Reader, name: str, replaces: Sequence[tuple[str, Sequence[str]]]) -> None:
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


def check_backend_invariants(top: Reader, backends: Sequence[Backend]) -> None:
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


def check_runner_dirs(section: Reader, backends: Sequence[Backend]) -> None:
    """Every backend installs into its own runner dir, so CUDA 12 and 13 can be installed together."""
    seen: dict[str, str] = {}
    for backend in backends:
        if backend.runner_dir in seen:
            section.fail(f"{backend.name}.runner_dir", f"{backend.runner_dir!r} is also "
                         f"backends.{seen[backend.runner_dir]}'s; expected one directory per backend")
        seen[backend.runner_dir] = backend.name


def _cuda_majors_named(backend: Backend) -> list[tuple[str, int]]:
    """(what, CUDA major) for every package name and CMake path of `backend` that names a major."""
    # NVIDIA's versioned package names: cuda-nvcc-13-0, cuda-cudart-13-0, libcublas-devel-13-0...
    packages = re.compile(r"(?:cuda|libcublas|libnvjitlink)[a-z-]*-([0-9]+)-[0-9]+")
    named = [(f"{key} {name}", int(m.group(1)))
             for key, names in (("build_requires", backend.build_requires), ("requires", backend.requires))
             for name in names for m in [packages.fullmatch(name)] if m]
    named += [(f"cmake_options.{key} {value}", int(m.group(1))) for key, value in backend.cmake_options
              for m in [re.search(r"/cuda-([0-9]+)\.[0-9]+(/|$)", value)] if m]
    return named


def check_cuda(section: Reader, backend: Backend) -> None:
    """The runner dir, the nvcc package, the compiler path and the architectures
    must all name one CUDA major, or nvcc fails deep inside %build."""
    runner = re.fullmatch(r"cuda_v([0-9]+)", backend.runner_dir)
    if not runner:
        section.fail("runner_dir", f"expected cuda_v<major> like cuda_v12, got {backend.runner_dir!r}")
    major = int(runner.group(1))
    named_major = re.fullmatch(r"cuda([0-9]+)", backend.name)
    if named_major and int(named_major.group(1)) != major:
        section.fail("runner_dir", f"backends.{backend.name} is CUDA {named_major.group(1)}, got {backend.runner_dir!r}")
    for what, other in _cuda_majors_named(backend):
        if other != major:
            section.fail("runner_dir", f"{backend.runner_dir} is CUDA {major} but {what} is CUDA {other}")
    floor = _CUDA_MIN_ARCH.get(major, 0)
    for index, target in enumerate(backend.gpu_targets):
        number = re.match(r"[0-9]+", target)
        if number and int(number.group(0)) < floor:
            section.fail(f"gpu_targets[{index}]", f"CUDA {major} has no {target}: its oldest architecture is {floor}")
