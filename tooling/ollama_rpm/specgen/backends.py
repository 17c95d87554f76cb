"""The GPU backend registry: every fact about a backend that is not the packager's
choice, in one typed place.

packaging.yaml says what a build does with a backend (on or off, arches, GPU
list, BuildRequires); this module says what the backend *is*: which llama/server
CMake target and variables build it, which upstream preset holds its GPU list,
its package text, and where its toolkit comes from per chroot (NVIDIA's
repository for CUDA). spec_context, the template, mockcfg, copr_submit,
upstream_release and bump read it; a new backend is one entry in REGISTRY plus
its section in packaging.yaml.

Chroot names are parsed here too (one grammar for `build --chroot` and
`copr submit --chroot`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from ollama_rpm.errors import UsageError

# The architectures the toolkit packages (ExclusiveArch of the spec).
ARCHES = ("x86_64", "aarch64")


@dataclass(frozen=True)
class Toolkit:
    """What a kind of GPU toolkit needs in the spec's %build (shared by its backends)."""
    kind: str                           # cuda | hip | vulkan
    build_target: str                   # llama/server's CMake target that builds it
    gpu_targets_variable: str = ""      # CMake cache variable for the GPU list ("": none)
    # Fedora's flags for the device compiler: %build sets `flags_shell_variable`
    # from %{build_cxxflags}, one flag a line through `flags_sed`, joined with
    # `flags_joiner`, and `flags_variable` (CMake) gets it, before (HIP) or after
    # (CUDA) the value upstream/packaging.yaml sets. The name, the recipe and the
    # reference all live here; the template only prints them.
    flags_variable: str = ""
    flags_shell_variable: str = ""
    flags_sed: str = ""
    flags_joiner: str = " "
    flags_comment: tuple[str, ...] = ()
    flags_before: bool = False
    flags_prefix: str = ""              # how the device compiler takes them (nvcc: -Xcompiler=)
    # %cmake sets CMAKE_<C|CXX>_FLAGS_RELEASE to -DNDEBUG so Fedora's -O2 decides;
    # CMake's default for CUDA/HIP (-O3 -DNDEBUG) would override it for host code.
    # Device code keeps its own optimisation (ptxas and the AMDGPU backend use -O3).
    release_flags_variable: str = ""
    nvidia_repo: bool = False           # the toolkit comes from NVIDIA's repository
    # Why this backend is built without Fedora's LTO (%%_lto_cflags emptied for its
    # CMake build only, as Fedora's LTO opt-out asks, with the reason); () keeps LTO.
    no_lto_reason: tuple[str, ...] = ()

    @property
    def flags_reference(self) -> str:
        return f"{self.flags_prefix}${{{self.flags_shell_variable}}}" if self.flags_shell_variable else ""

    @property
    def flags_command(self) -> str:
        """The shell command whose output %build assigns to `flags_shell_variable`."""
        joiner = "," if self.flags_joiner == "," else f"'{self.flags_joiner}'"
        return (f"echo '%{{build_cxxflags}}' | tr ' ' '\\n' | sed -E '/^$/d; {self.flags_sed}' "
                f"| paste -sd{joiner} -")


# nvcc hands host flags to the host compiler as one comma-separated -Xcompiler
# list: no GCC LTO (nvcc links the device code itself), no "-Wp," (nvcc would
# split it on its commas).
CUDA = Toolkit("cuda", "ggml-cuda", "CMAKE_CUDA_ARCHITECTURES", "CMAKE_CUDA_FLAGS", "ollama_cuda_host_flags",
               flags_sed="/^-flto/d; /^-ffat-lto-objects$/d; s/^-Wp,//", flags_joiner=",",
               flags_comment=("nvcc passes Fedora's flags to the host compiler as one -Xcompiler list:",
                              "without LTO (nvcc links the device code itself) and with \"-Wp,\" dropped,",
                              "since nvcc splits the list on commas just as -Wp would."),
               flags_prefix="-Xcompiler=", release_flags_variable="CMAKE_CUDA_FLAGS_RELEASE", nvidia_repo=True)
# Fedora's flags for the HIP compiler (clang), as Fedora's own ROCm packages
# (rocrand, rocm-examples, llama-cpp) derive them from build_cxxflags: the
# host-only hardening flags get -Xarch_host so the AMDGPU device compile does
# not see them, and -mtls-dialect=gnu2 is dropped. On top of what they do, the
# GCC-only parts go: GCC's LTO (clang links the device code itself) and the
# -specs= files (clang has no such option). They go to CMAKE_HIP_FLAGS on the
# command line, not through the HIPFLAGS environment variable: Ollama's
# llama/server caches CMAKE_HIP_FLAGS (-parallel-jobs=4) before ggml enables
# HIP, and a cached value wins over HIPFLAGS.
HIP = Toolkit("hip", "ggml-hip", "AMDGPU_TARGETS", "CMAKE_HIP_FLAGS", "ollama_hip_flags",
              flags_sed=("s/^-fstack-protector-strong$/-Xarch_host -fstack-protector-strong/; "
                         "s/^-fcf-protection$/-Xarch_host -fcf-protection/; "
                         "/^-mtls-dialect=/d; /^-flto/d; /^-ffat-lto-objects$/d; /^-specs=/d"),
              flags_comment=("Fedora's flags for the HIP compiler (clang), as Fedora's ROCm packages adapt",
                             "them: host-only hardening behind -Xarch_host, no -mtls-dialect, and none of",
                             "GCC's LTO or -specs= files. Passed as CMAKE_HIP_FLAGS: llama/server caches",
                             "its own value before HIP is enabled, which would win over HIPFLAGS."),
              flags_before=True, release_flags_variable="CMAKE_HIP_FLAGS_RELEASE")
VULKAN = Toolkit("vulkan", "ggml-vulkan", no_lto_reason=(
    "No LTO for the Vulkan backend: gcc's LTO code generation of the partition",
    "holding ggml_vk_load_shaders runs alone for 30 minutes on one core, and no",
    "number of cores can split it; without LTO the same objects link in a second.",
    "Measured on Ollama 0.32.15 / llama.cpp b10488 (doc/verification.md)."))


@dataclass(frozen=True)
class BackendInfo:
    """One GPU backend: the packaging.yaml key, %bcond and subpackage suffix is `name`."""
    name: str
    toolkit: Toolkit
    summary: str
    description: str
    # Upstream's Linux configure preset in llama/server/CMakePresets.json that
    # holds the GPU list ({runner_dir} filled in); "" when upstream has none.
    preset: str = ""
    arches: tuple[str, ...] = ARCHES    # where the backend can be built at all
    # Fedora releases it cannot be built for: from this release on (0: none),
    # for this reason. The spec stops such a build with %{error:} and `build` /
    # `copr submit` refuse the chroot before they start.
    refused_on_fedora: int = 0
    refused_reason: str = ""

    @property
    def kind(self) -> str:
        return self.toolkit.kind

    @property
    def package(self) -> str:
        """The subpackage suffix (single layout) and source package suffix (split)."""
        return f"ggml-{self.name}"

    def preset_name(self, runner_dir: str) -> str:
        return self.preset.format(runner_dir=runner_dir) if self.preset else ""


REGISTRY: dict[str, BackendInfo] = {info.name: info for info in (
    BackendInfo(
        "cuda", CUDA, "NVIDIA CUDA 13 backend for Ollama",
        "The ggml CUDA backend built with CUDA 13, which runs models on NVIDIA GPUs\n"
        "from Turing (GeForce RTX 20xx) on. It uses the CUDA runtime libraries from\n"
        "NVIDIA's repository instead of bundled copies.",
        preset="llama_{runner_dir}_linux"),
    BackendInfo(
        "cuda12", CUDA, "NVIDIA CUDA 12 backend for Ollama",
        "The ggml CUDA backend built with CUDA 12, for NVIDIA GPUs that CUDA 13 no\n"
        "longer supports (Maxwell, Pascal, Volta). It installs next to the CUDA 13\n"
        "backend; Ollama picks the one that fits each GPU.",
        preset="llama_{runner_dir}_linux",
        refused_on_fedora=42,
        refused_reason="CUDA 12.9's math headers declare cospi/sinpi without the exception specification "
                       "that glibc 2.41 (Fedora 42 and newer) gives them, so the CUDA 12 backend does not "
                       "compile there; build it in an epel-9 or epel-10 chroot, or use --with cuda (CUDA 13)"),
    BackendInfo(
        "rocm", HIP, "AMD ROCm backend for Ollama",
        "The ggml HIP backend, which runs models on AMD GPUs through Fedora's ROCm\n"
        "stack (hipBLAS, rocBLAS).",
        preset="{runner_dir}_linux"),
    BackendInfo(
        "vulkan", VULKAN, "Vulkan backend for Ollama",
        "The ggml Vulkan backend, which runs models on any GPU with a Vulkan driver\n"
        "(Mesa RADV/ANV/NVK or NVIDIA)."),
)}


def names() -> tuple[str, ...]:
    """Backend names in registry order (packaging.yaml's backends, the spec's order)."""
    return tuple(REGISTRY)


def info(name: str) -> BackendInfo:
    return REGISTRY[name]


# --- chroots -----------------------------------------------------------------------

# One grammar for mock and Copr chroot names: <family>-<release>-<arch>.
_CHROOT = re.compile(r"(?P<family>[a-z][a-z0-9]*(?:-[a-z]+)?)-(?P<release>[0-9]{1,3}|rawhide|tumbleweed"
                     r"|stream-[0-9]{1,2})-(?P<arch>x86_64|aarch64|ppc64le|s390x|i386)", re.A)
# What this toolkit builds in (mock configs, NVIDIA repositories): Fedora and EPEL.
FAMILIES = ("fedora", "epel")


@dataclass(frozen=True)
class Chroot:
    name: str           # fedora-43-x86_64, epel-10-x86_64
    release: str        # "43" or "rawhide"
    arch: str
    family: str = "fedora"

    @property
    def release_number(self) -> int | None:
        return int(self.release) if self.release.isdigit() else None

    @property
    def supported(self) -> bool:
        """A Fedora/EPEL chroot of an arch the spec builds for."""
        return (self.family in FAMILIES and self.arch in ARCHES
                and not (self.family == "epel" and self.release == "rawhide"))


@dataclass(frozen=True)
class Release:
    """What a release the toolkit offers chroots for does to the spec: the facts the
    chroot matrix test (tests/test_chroot_matrix.py) models and doc/chroots.md shows."""
    family: str                 # fedora | epel
    release: str                # "43", "rawhide", "9"
    number: int                 # its %fedora / %rhel
    rpm: str                    # the rpm it ships (%x86_64 from 4.19, %bcond from 4.17.1)
    x86_64_level: int           # -march=x86-64-vN of its %build_cflags (1: the baseline)
    glibc: str                  # its glibc (>= 2.41 breaks CUDA 12.9's headers)
    rpm_creates_sysusers: bool  # rpm creates the accounts of %{_sysusersdir}/*.conf at install

    def chroot(self, arch: str) -> Chroot:
        return Chroot(f"{self.family}-{self.release}-{arch}", self.release, arch, self.family)


# The releases the toolkit offers chroots for (README), oldest family first.
# Fedora 42 and later: rpm creates sysusers accounts (Changes/RPMSuportForSystemdSysusers);
# RHEL 10's rpm 4.19 is built with that disabled, RHEL 9's 4.16 predates it.
RELEASES: tuple[Release, ...] = (
    Release("fedora", "43", 43, "6.0", 1, "2.42", True),
    Release("fedora", "44", 44, "6.0", 1, "2.43", True),
    Release("fedora", "rawhide", 45, "6.0", 1, "2.43", True),
    Release("epel", "9", 9, "4.16", 2, "2.34", False),
    Release("epel", "10", 10, "4.19", 3, "2.39", False),
)


def offered_chroots() -> tuple[Chroot, ...]:
    """Every chroot the toolkit offers: each release for each arch the spec builds."""
    return tuple(release.chroot(arch) for release in RELEASES for arch in ARCHES)


def refused(name: str, chroot: Chroot) -> bool:
    """Whether backend `name` cannot be built in `chroot` (its spec stops with %{error:})."""
    backend = REGISTRY[name]
    if chroot.family != "fedora" or not backend.refused_on_fedora:
        return False
    number = chroot.release_number
    return number is None or number >= backend.refused_on_fedora


# The chroot `build` and `smoke` use by default, and Copr's first: the first
# Fedora release whose Go reads go.mod's `go 1.26`.
DEFAULT_CHROOT = "fedora-44-x86_64"
DEFAULT_COPR_CHROOTS = (DEFAULT_CHROOT, "fedora-rawhide-x86_64")


def parse_chroot(name: str, option: str = "--chroot", any_copr: bool = False) -> Chroot:
    """A chroot name; `any_copr` also accepts Copr chroots this toolkit has no mock
    config for (centos-stream, opensuse, other arches)."""
    match = _CHROOT.fullmatch(name or "")
    chroot = match and Chroot(name, match.group("release"), match.group("arch"), match.group("family"))
    if not chroot or not (chroot.supported or any_copr) or (chroot.family == "epel" and chroot.release == "rawhide"):
        raise UsageError(f"{option} {str(name)[:60]}: expected a {'Copr' if any_copr else 'mock'} chroot like "
                         "fedora-44-x86_64, "
                         "fedora-rawhide-aarch64 or epel-10-x86_64 (arches: x86_64, aarch64)")
    return chroot


# --- NVIDIA's CUDA repositories ------------------------------------------------------

# NVIDIA's name for each chroot arch in its repository URLs.
NVIDIA_REPO_ARCH = {"x86_64": "x86_64", "aarch64": "sbsa"}
# Releases for which NVIDIA publishes a CUDA repository, per chroot family and
# arch, checked by hand against https://developer.download.nvidia.com/compute/cuda/repos/
# (EPEL chroots use NVIDIA's RHEL repositories).
NVIDIA_RELEASES: dict[str, dict[str, tuple[int, ...]]] = {
    "fedora": {"x86_64": (39, 41, 42, 43), "aarch64": (42,)},
    "epel": {"x86_64": (8, 9, 10), "aarch64": (8, 9, 10)},
}
NVIDIA_DISTRO = {"fedora": "fedora", "epel": "rhel"}
NVIDIA_REPO_URL = "https://developer.download.nvidia.com/compute/cuda/repos/{distro}{release}/{arch}/"
NVIDIA_GPG_KEY = "D42D0685.pub"


@dataclass(frozen=True)
class CudaRepo:
    release: int
    url: str
    repo_id: str
    distro: str
    warning: str | None = None


def check_cuda_release(release: int | None) -> None:
    """--cuda-repo-release names a release number NVIDIA could publish for (UsageError otherwise)."""
    if release is not None and not 8 <= release <= 99:
        raise UsageError(f"--cuda-repo-release {release}: expected a release number like 43 "
                         "(Fedora) or 10 (RHEL, for epel chroots)")


def cuda_repo(chroot: Chroot, override: int | None = None) -> CudaRepo:
    """NVIDIA's repository for a chroot: the one policy of `build` and `copr submit`.

    The chroot's own release when NVIDIA publishes it; otherwise the newest one
    below it (rawhide: the newest there is), with a warning naming it; `override`
    (--cuda-repo-release) wins. A chroot NVIDIA has nothing for is a UsageError.
    """
    if not chroot.supported:
        raise UsageError(f"{chroot.name}: NVIDIA publishes CUDA repositories for Fedora and EPEL "
                         f"(x86_64, aarch64) only")
    arch = NVIDIA_REPO_ARCH[chroot.arch]
    distro = NVIDIA_DISTRO[chroot.family]
    known = NVIDIA_RELEASES[chroot.family][chroot.arch]

    def repo(release: int, warning: str | None = None) -> CudaRepo:
        return CudaRepo(release, NVIDIA_REPO_URL.format(distro=distro, release=release, arch=arch),
                        f"cuda-{distro}{release}-{arch}", distro, warning)

    if override is not None:
        return repo(override)
    wanted = chroot.release_number
    if wanted is not None and wanted in known:
        return repo(wanted)
    older = [release for release in known if wanted is None or release < wanted]
    fallback = max(older) if older else min(known)
    what = f"{distro}{wanted}" if wanted is not None else f"{chroot.family} {chroot.release}"
    chosen = repo(fallback)
    return repo(fallback, f"{chroot.name}: NVIDIA publishes no CUDA repository for {what} ({arch}) as far as "
                          f"this tool knows; using {distro}{fallback} ({chosen.url}); pass --cuda-repo-release NN "
                          "to choose another")


def check_cuda12(chroot: Chroot, with_: Collection[str]) -> None:
    """Refuse a --with backend in a Fedora chroot it cannot be built for (the CUDA 12
    backend from Fedora 42 on, glibc 2.41): the same rule as the spec's %{error:}."""
    for name in with_:
        if name in REGISTRY and refused(name, chroot):
            raise UsageError(f"--with {name}: {chroot.name}: {REGISTRY[name].refused_reason}")
