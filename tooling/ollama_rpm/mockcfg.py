"""Mock configs for a build: the stock chroot config plus what the backends need.

A generated config is a Python file that mock reads the way it reads its own:
`include('fedora-43-x86_64.cfg')` is replaced by the stock config's text
(resolved against /etc/mock), then the whole file is exec'd with `config_opts`
in scope. Templated values of the stock config (`{{ releasever }}` in dnf.conf)
are expanded by mock after every file is loaded, so text appended here is
plain (no Jinja).

What each backend adds:
- cuda, cuda12: NVIDIA's repository for the chroot's release appended to
  `config_opts['dnf.conf']` (CUDA is not in Fedora or EPEL), on Fedora the GCC
  that CUDA accepts as host compiler in `config_opts['chroot_additional_packages']`,
  and the CUDA bin directory on the build's PATH (NVIDIA installs nvcc under
  /usr/local).
- rocm, vulkan: everything is in Fedora; nothing beyond the BuildRequires.
Every config turns on mock's ccache plugin, keeps rpmbuild offline and gets a
root name of its own, so its cached chroot never mixes with the stock one.

The facts about NVIDIA's repositories (which distribution releases have one,
per arch) live here only: `copr submit` asks `cuda_repo` too.
"""

import re
from dataclasses import dataclass

from ollama_rpm.errors import UsageError

# NVIDIA's name for each chroot arch in its repository URLs.
NVIDIA_REPO_ARCH = {"x86_64": "x86_64", "aarch64": "sbsa"}
# Releases for which NVIDIA publishes a CUDA repository, per chroot family and
# arch, checked by hand against https://developer.download.nvidia.com/compute/cuda/repos/
# (EPEL chroots use NVIDIA's RHEL repositories). A release missing here falls
# back to the newest known one below it (with a warning); rawhide has none.
NVIDIA_RELEASES = {
    "fedora": {"x86_64": (39, 41, 42, 43), "aarch64": (42,)},
    "epel": {"x86_64": (8, 9, 10), "aarch64": (8, 9, 10)},
}
NVIDIA_DISTRO = {"fedora": "fedora", "epel": "rhel"}
NVIDIA_REPO_URL = "https://developer.download.nvidia.com/compute/cuda/repos/{distro}{release}/{arch}/"
NVIDIA_GPG_KEY = "D42D0685.pub"

# CUDA <= 12.9's math headers declare cospi/sinpi without the exception
# specification glibc >= 2.41 gives them: the CUDA 12 backend only compiles
# where glibc is older. Fedora 42 has glibc 2.41; EPEL 9 has 2.34, EPEL 10 2.39.
FIRST_FEDORA_WITH_GLIBC_2_41 = 42

_CHROOT = re.compile(r"^(?P<family>fedora|epel)-(?P<release>\d+|rawhide)-(?P<arch>x86_64|aarch64)$")


@dataclass(frozen=True)
class Chroot:
    name: str           # fedora-43-x86_64, epel-10-x86_64
    release: str        # "43" or "rawhide"
    arch: str
    family: str = "fedora"

    @property
    def release_number(self):
        return int(self.release) if self.release.isdigit() else None


def parse_chroot(name, option="--chroot"):
    match = _CHROOT.match(name)
    if not match or (match.group("family") == "epel" and match.group("release") == "rawhide"):
        raise UsageError(f"{option} {name}: expected a mock chroot like fedora-44-x86_64, "
                         "fedora-rawhide-aarch64 or epel-10-x86_64 (arches: x86_64, aarch64)")
    return Chroot(name, match.group("release"), match.group("arch"), match.group("family"))


@dataclass(frozen=True)
class CudaRepo:
    release: int
    url: str
    repo_id: str
    warning: str = None


def cuda_repo(chroot, override=None):
    """NVIDIA's repository for this chroot, with a warning when it is a fallback.

    Rawhide has no NVIDIA repository: a UsageError unless `override` names a release.
    """
    arch = NVIDIA_REPO_ARCH[chroot.arch]
    distro = NVIDIA_DISTRO[chroot.family]
    known = NVIDIA_RELEASES[chroot.family][chroot.arch]

    def repo(release, warning=None):
        return CudaRepo(release, NVIDIA_REPO_URL.format(distro=distro, release=release, arch=arch),
                        f"cuda-{distro}{release}-{arch}", warning)

    if override is not None:
        return repo(override)
    wanted = chroot.release_number
    if wanted is None:
        raise UsageError(f"{chroot.name}: NVIDIA publishes no CUDA repository for rawhide; build CUDA in a "
                         f"numbered release (newest known: {distro}{max(known)}), or name one with "
                         "--cuda-repo-release NN")
    if wanted in known:
        return repo(wanted)
    older = [release for release in known if release < wanted]
    fallback = max(older) if older else min(known)
    chosen = repo(fallback)
    warning = (f"{chroot.name}: NVIDIA publishes no CUDA repository for {distro}{wanted} ({arch}) as far as "
               f"this tool knows; using {distro}{fallback} ({chosen.url}); pass --cuda-repo-release NN to "
               "choose another")
    return repo(fallback, warning)


def check_cuda12(chroot, with_):
    """Refuse --with cuda12 where CUDA 12's headers cannot compile (glibc >= 2.41)."""
    if "cuda12" not in with_ or chroot.family != "fedora":
        return
    number = chroot.release_number
    if number is None or number >= FIRST_FEDORA_WITH_GLIBC_2_41:
        raise UsageError(f"--with cuda12: {chroot.name} has glibc 2.41 or newer, whose cospi/sinpi "
                         "declarations CUDA 12.9's headers contradict; build the CUDA 12 backend in "
                         "epel-9 or epel-10 chroots (or use --with cuda, CUDA 13)")


def gcc_packages(host_compiler):
    """/usr/bin/g++-14 -> ("gcc14", "gcc14-c++"): Fedora's compat GCC packages."""
    if not host_compiler:
        return ()
    match = re.search(r"(?:g\+\+|gcc|c\+\+)-(\d+)$", host_compiler)
    if not match:
        return ()
    version = match.group(1)
    return (f"gcc{version}", f"gcc{version}-c++")


def cuda_bindir(build_requires):
    """/usr/local/cuda-12.9/bin from `cuda-nvcc-12-9` in the BuildRequires."""
    for req in build_requires:
        match = re.match(r"^cuda-(?:nvcc|compiler|toolkit)-(\d+)-(\d+)\b", req)
        if match:
            return f"/usr/local/cuda-{match.group(1)}.{match.group(2)}/bin"
    return "/usr/local/cuda/bin"


def _py(value):
    """A Python literal for the config (repr is valid Python, deterministic)."""
    return repr(value)


def _block(text):
    """A triple-quoted literal, readable in the config, for text without quotes or backslashes."""
    if '"""' in text or "\\" in text:
        return _py(text)
    return '"""' + text + '"""'


def root_name(chroot, with_):
    suffix = "".join(f"-{name}" for name in sorted(with_))
    return f"ollama-{chroot.name}{suffix}"


def render(chroot, config, with_=(), cuda_release=None, packager=None):
    """(text of the mock config, [warnings]) for one chroot and the backends turned on.

    `with_` are the backends passed as `--with` (they change the chroot);
    `config` is the loaded packaging.yaml.
    """
    warnings = []
    lines = [
        "# Generated by `ollama-rpm build --engine mock`; do not edit (it is rewritten on every build).",
        f"# Chroot {chroot.name}; backends turned on with --with: {', '.join(sorted(with_)) or 'none'}.",
        f"include({_py(chroot.name + '.cfg')})",
        "",
        "# A root of its own: the extra repositories and packages never mix with the stock chroot's cache.",
        f"config_opts['root'] = {_py(root_name(chroot, with_))}",
        "",
        "# Builds are offline (llama.cpp and the Go modules are Sources of the SRPM).",
        "config_opts['rpmbuild_networking'] = False",
        "",
        "# Compiler cache: rebuilds of the large CMake trees reuse objects.",
        "config_opts['plugin_conf']['ccache_enable'] = True",
        "config_opts['plugin_conf']['ccache_opts']['max_cache_size'] = '20G'",
        "config_opts['plugin_conf']['ccache_opts']['compress'] = 'on'",
    ]
    if packager:
        lines += ["", f"config_opts['macros']['%packager'] = {_py(packager)}"]
    cuda_backends = [b for b in config.backends if b.is_cuda and b.name in with_]
    if cuda_backends:
        check_cuda12(chroot, with_)
        repo = cuda_repo(chroot, cuda_release)
        if repo.warning:
            warnings.append(repo.warning)
        for cuda in cuda_backends:
            if chroot.arch not in cuda.arches:
                warnings.append(f"{chroot.name}: packaging.yaml backends.{cuda.name}.arches is "
                                f"{list(cuda.arches)}; --with {cuda.name} builds nothing on {chroot.arch}")
        repo_text = (
            f"\n[{repo.repo_id}]\n"
            f"name=NVIDIA CUDA for {NVIDIA_DISTRO[chroot.family]}{repo.release} ({chroot.arch})\n"
            f"baseurl={repo.url}\n"
            "enabled=1\n"
            "gpgcheck=1\n"
            f"gpgkey={repo.url}{NVIDIA_GPG_KEY}\n"
            "skip_if_unavailable=False\n"
        )
        # Fedora's GCC is newer than nvcc accepts: the compat GCC the spec names
        # (EL's own GCC, 11 on EL9 and 14 on EL10, is one nvcc accepts).
        packages = []
        if chroot.family == "fedora":
            for cuda in cuda_backends:
                packages += [p for p in gcc_packages(cuda.host_compiler) if p not in packages]
        bindirs = [cuda_bindir(cuda.build_requires) for cuda in cuda_backends]
        lines += [
            "",
            "# CUDA is not in Fedora or EPEL: NVIDIA's repository for this release.",
            f"config_opts['dnf.conf'] += {_block(repo_text)}",
        ]
        if packages:
            lines += [
                "# CUDA's host compiler: Fedora's newer default GCC is rejected by nvcc.",
                f"config_opts['chroot_additional_packages'] = list(config_opts.get('chroot_additional_packages') or []) + {_py(packages)}",
            ]
        lines += [
            "# NVIDIA installs nvcc outside PATH.",
            "config_opts['environment']['PATH'] = "
            f"{_py(''.join(d + ':' for d in bindirs))} + config_opts['environment'].get('PATH', '/usr/bin:/bin:/usr/sbin:/sbin')",
            f"config_opts['environment']['CUDACXX'] = {_py(bindirs[0] + '/nvcc')}",
        ]
    return "\n".join(lines) + "\n", warnings
