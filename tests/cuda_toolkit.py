"""A CUDA toolkit for the CUDA tests: NVIDIA's (/usr/local/cuda-N) or the PyPI
wheels .ci/bootstrap installs, found through its nvcc; and the driver stub
(libcuda.so, SONAME libcuda.so.1) that the backend links against."""

import os
import re
import subprocess
from pathlib import Path

from conftest import REPO


def cuda_major(nvcc):
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"release (\d+)\.(\d+)", out).group(1))


def toolkit_dir(nvcc):
    return os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))


def runtime_dirs(nvcc):
    """Where the toolkit keeps libcudart/libcublas: what the system's CUDA packages
    put on the library path (NVIDIA's RPMs add it to /etc/ld.so.conf.d)."""
    toolkit = toolkit_dir(nvcc)
    return [os.path.join(toolkit, d) for d in ("lib64", "lib", "targets/x86_64-linux/lib")
            if os.path.isdir(os.path.join(toolkit, d))]


def toolkit_driver_stub(nvcc):
    """NVIDIA's stubs/libcuda.so in the toolkit of `nvcc`, if it has one."""
    toolkit = toolkit_dir(nvcc)
    for sub in ("lib64/stubs", "lib/stubs", "targets/x86_64-linux/lib/stubs"):
        path = os.path.join(toolkit, sub, "libcuda.so")
        if os.path.exists(path):
            return path
    return None


def build_driver_stub(dest):
    """tests/support/libcuda-stub.c as a library with the driver's SONAME, in `dest`."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    lib = dest / "libcuda.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(lib),
                    str(REPO / "tests" / "support" / "libcuda-stub.c")], check=True)
    if not (dest / "libcuda.so.1").is_symlink():
        (dest / "libcuda.so.1").symlink_to("libcuda.so")
    return lib
