"""The Debian ROCm stand-ins of the real-upstream ROCm test agree with Fedora's
stand-ins and with the chroot make-rocm-chroot makes (the real build itself runs
only with OLLAMA_RPM_REAL_ROCM_CHROOT: tests/test_real_upstream.py)."""

import re
from pathlib import Path

import standin
from conftest import REPO

SUPPORT = REPO / "tests" / "support"
_DEFINITION = re.compile(r"^%([A-Za-z_]\w*)\s+(.*)$", re.M)


def _macros(text):
    return dict(_DEFINITION.findall(text))


def test_the_debian_rocm_standin_replaces_every_rocm_compiler_macro():
    (fedora,) = [body for package, body in standin.sections() if package == "rocm-compilersupport-macros"]
    debian = {name: value for name, value in _macros((SUPPORT / "debian-rocm.standin").read_text()).items()
              if name.startswith("rocm")}
    assert set(debian) == set(_macros(fedora)), (sorted(debian), sorted(_macros(fedora)))
    assert all(value != _macros(fedora)[name] for name, value in debian.items()), debian


def test_the_rocm_compiler_standin_is_where_the_chroot_installs_it():
    bindir = _macros((SUPPORT / "debian-rocm.standin").read_text())["rocmllvm_bindir"]
    script = (SUPPORT / "make-rocm-chroot").read_text()
    installed = re.findall(r'install -Dm 0755 "\$here/debian-rocm-clang\.standin" "\$dir(\S+)"', script)
    assert installed == [f"{bindir}/clang++"], installed
    # It hands everything to Debian's clang, which make-rocm-chroot installs (llvm-21).
    wrapper = (SUPPORT / "debian-rocm-clang.standin").read_text()
    real = re.search(r"^real=(\S+)$", wrapper, re.M).group(1)
    assert real.startswith("/usr/lib/llvm-21/bin/") and "llvm-21" in script
    assert Path(SUPPORT / "chroot-run").stat().st_mode & 0o111
