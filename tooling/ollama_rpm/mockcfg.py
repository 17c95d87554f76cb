"""Mock configs for a build: the stock chroot config plus what the backends need.

A generated config is a Python file that mock reads the way it reads its own:
`include('fedora-43-x86_64.cfg')` is replaced by the stock config's text
(resolved against /etc/mock), then the whole file is exec'd with `config_opts`
in scope. Templated values of the stock config (`{{ releasever }}` in dnf.conf)
are expanded by mock after every file is loaded, so text appended here is
plain (no Jinja).

What each backend adds:
- cuda: NVIDIA's repository for the chroot's Fedora release appended to
  `config_opts['dnf.conf']` (CUDA is not in Fedora), the GCC that CUDA accepts
  as host compiler in `config_opts['chroot_additional_packages']`, and the CUDA
  bin directory on the build's PATH (NVIDIA installs nvcc under /usr/local).
- rocm, vulkan: everything is in Fedora; nothing beyond the BuildRequires.
Every config turns on mock's ccache plugin, keeps rpmbuild offline and gets a
root name of its own, so its cached chroot never mixes with the stock one.
"""

import re
from dataclasses import dataclass

from ollama_rpm.errors import UsageError

# Fedora releases for which NVIDIA publishes a CUDA repository, by chroot arch
# (NVIDIA's name for the arch in the URL). Checked by hand against
# https://developer.download.nvidia.com/compute/cuda/repos/ ; a release missing
# here falls back to the newest known one below it (with a warning), and
# `--cuda-repo-release NN` overrides the choice.
NVIDIA_REPO_ARCH = {"x86_64": "x86_64", "aarch64": "sbsa"}
NVIDIA_FEDORA_RELEASES = {
    "x86_64": (39, 41, 42, 43),
    "aarch64": (42,),
}
NVIDIA_REPO_URL = "https://developer.download.nvidia.com/compute/cuda/repos/fedora{release}/{arch}/"
NVIDIA_GPG_KEY = "D42D0685.pub"

_CHROOT = re.compile(r"^fedora-(?P<release>\d+|rawhide)-(?P<arch>x86_64|aarch64)$")


@dataclass(frozen=True)
class Chroot:
    name: str           # fedora-43-x86_64
    release: str        # "43" or "rawhide"
    arch: str

    @property
    def release_number(self):
        return int(self.release) if self.release.isdigit() else None


def parse_chroot(name):
    match = _CHROOT.match(name)
    if not match:
        raise UsageError(f"--chroot {name}: expected a mock chroot like fedora-43-x86_64, "
                         "fedora-rawhide-aarch64 (arches: x86_64, aarch64)")
    return Chroot(name, match.group("release"), match.group("arch"))


@dataclass(frozen=True)
class CudaRepo:
    release: int
    url: str
    warning: str = None


def cuda_repo(chroot, override=None):
    """NVIDIA's repository for this chroot, with a warning when it is a fallback."""
    arch = NVIDIA_REPO_ARCH[chroot.arch]
    known = NVIDIA_FEDORA_RELEASES[chroot.arch]
    if override is not None:
        return CudaRepo(override, NVIDIA_REPO_URL.format(release=override, arch=arch))
    wanted = chroot.release_number
    if wanted in known:
        return CudaRepo(wanted, NVIDIA_REPO_URL.format(release=wanted, arch=arch))
    if wanted is None:
        fallback = max(known)
        why = f"{chroot.name}: rawhide has no NVIDIA CUDA repository"
    else:
        older = [release for release in known if release < wanted]
        fallback = max(older) if older else min(known)
        why = f"{chroot.name}: NVIDIA publishes no CUDA repository for Fedora {wanted} ({arch}) as far as this tool knows"
    url = NVIDIA_REPO_URL.format(release=fallback, arch=arch)
    warning = f"{why}; using fedora{fallback} ({url}); pass --cuda-repo-release NN to choose another"
    return CudaRepo(fallback, url, warning)


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
    if "cuda" in with_:
        cuda = config.backend("cuda")
        repo = cuda_repo(chroot, cuda_release)
        if repo.warning:
            warnings.append(repo.warning)
        if chroot.arch not in cuda.arches:
            warnings.append(f"{chroot.name}: packaging.yaml backends.cuda.arches is {list(cuda.arches)}; "
                            f"building CUDA for {chroot.arch} because --with cuda was given")
        repo_id = f"cuda-fedora{repo.release}-{NVIDIA_REPO_ARCH[chroot.arch]}"
        repo_text = (
            f"\n[{repo_id}]\n"
            f"name=NVIDIA CUDA for Fedora {repo.release} ({chroot.arch})\n"
            f"baseurl={repo.url}\n"
            "enabled=1\n"
            "gpgcheck=1\n"
            f"gpgkey={repo.url}{NVIDIA_GPG_KEY}\n"
            "skip_if_unavailable=False\n"
        )
        packages = list(gcc_packages(cuda.host_compiler))
        bindir = cuda_bindir(cuda.build_requires)
        lines += [
            "",
            "# CUDA is not in Fedora: NVIDIA's repository for this release.",
            f"config_opts['dnf.conf'] += {_block(repo_text)}",
        ]
        if packages:
            lines += [
                f"# CUDA's host compiler ({cuda.host_compiler}): Fedora's newer default GCC is rejected by nvcc.",
                f"config_opts['chroot_additional_packages'] = list(config_opts.get('chroot_additional_packages') or []) + {_py(packages)}",
            ]
        lines += [
            "# NVIDIA installs nvcc outside PATH.",
            "config_opts['environment']['PATH'] = "
            f"{_py(bindir + ':')} + config_opts['environment'].get('PATH', '/usr/bin:/bin:/usr/sbin:/sbin')",
            f"config_opts['environment']['CUDACXX'] = {_py(bindir + '/nvcc')}",
        ]
    return "\n".join(lines) + "\n", warnings
