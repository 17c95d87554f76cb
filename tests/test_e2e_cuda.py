"""End to end with CUDA: the real template builds the fixture's real (tiny) CUDA
backend with NVIDIA's nvcc, no GPU needed.

The scratch project is configured for the installed toolkit's major version
(runner dir cuda_v<major>, a short architecture list mixing PTX-only targets and
one SASS+PTX target, an explicit host compiler), then goes through the same
render -> sources -> vendor -> srpm -> `build --engine rpmbuild --with cuda`
pipeline as test_e2e.py. The fixture's llama/server bundles the toolkit's
libcudart next to the backend, as upstream does, so the spec's deletion of the
bundled runtimes runs for real. Checked: the subpackage and its file, that the
system libcudart is required instead of a bundled copy, private libraries kept
out of Provides/Requires, exactly the configured architectures in the fat
binary ("no kernel image for this GPU" caught at build time), the module
linking cudart, cuBLAS and the driver (libcuda.so.1) as the real backend does,
with no Requires on the driver, Fedora's -O2 rather than CMake's -O3 for host
code, the module failing to load without a driver and loading with score 0
without a device, and rpmlint under the Fedora profile.

Toolkit: NVIDIA's (/usr/local/cuda, or CUDACXX), or the PyPI wheels
nvidia-cuda-nvcc, -crt, -runtime, -cccl, nvidia-nvvm and nvidia-cublas
(==13.0.*) installed with `pip install --target .cache/cuda` and CUDACXX set to
.cache/cuda/nvidia/cu13/bin/nvcc. The wheels lack the link-time names CMake
looks for (lib/libcudart.so, libcublas.so, libcublasLt.so -> *.so.13, and
lib64 -> lib) and the driver stub stubs/libcuda.so; the stub is built here
from tests/support/libcuda-stub.c when the toolkit has none (tests/cuda_toolkit.py).
"""

import ctypes.util
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import STANDIN_MACROS, find_nvcc
from cuda_fatbin import (
    cmake_arch_expectation,
    cuobjdump_archs,
    fatbin_archs,
    find_cuobjdump,
)
from cuda_toolkit import build_driver_stub, cuda_major, runtime_dirs, toolkit_driver_stub
from e2e_support import (
    LIBDIR,
    VERSION,
    build_fixture_rpms,
    glibc_before_2_41_macros,
    rpm_deps,
    rpm_files,
    rpm_names,
)
from fixture.project import configure_cuda
from ollama_rpm.check.lint import lint_paths

PRIVATE_LIB = re.compile(r"lib(ggml|llama|mtmd)")
#: a short subset of upstream's CUDA 13 list (all also valid for CUDA 12), plus
#: "86": SASS for sm_86 and PTX for compute_86
GPU_TARGETS = ["75-virtual", "80-virtual", "90-virtual", "86"]
BUNDLED = ("libcudart", "libcublas")
DRIVER = "libcuda.so.1"


NVCC = find_nvcc()
# nvcc 13 accepts GCC up to 15, CUDA 12.x not Fedora 42+'s GCC 15: name one it knows.
HOST_CXX = shutil.which("g++-12") or shutil.which("g++")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NVCC is None, reason="needs NVIDIA's nvcc (CUDA toolkit): set CUDACXX, put it on "
                                            "PATH or install it under /usr/local/cuda (.ci/bootstrap does)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "rpm2cpio", "cpio")),
                       reason="needs rpmbuild, go, cmake, rpm2cpio and cpio"),
    pytest.mark.skipif(HOST_CXX is None, reason="needs a C++ compiler for nvcc's host side"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-cuda")
    major = cuda_major(NVCC)
    # CUDA 13 is the default `cuda` backend; a CUDA 12 toolkit builds the `cuda12` one.
    backend = "cuda12" if major == 12 else "cuda"
    # Ours also stands in for the driver at run time (NVIDIA's stub dir has no libcuda.so.1).
    stub = build_driver_stub(tmp / "driver-stub")

    def configure(project, cfg):
        return configure_cuda(project, cfg, major=major, gpu_targets=GPU_TARGETS, host_compiler=HOST_CXX,
                              nvcc=NVCC, backend=backend,
                              driver_stub=None if toolkit_driver_stub(NVCC) else stub)

    # As the mock config does for NVIDIA's toolkit under /usr/local: nvcc on PATH and in CUDACXX.
    env = {"CUDACXX": NVCC, "PATH": os.pathsep.join([os.path.dirname(NVCC), os.environ["PATH"]])}
    macros = [glibc_before_2_41_macros(tmp / "glibc.macros")] if backend == "cuda12" else []
    result = build_fixture_rpms(tmp, configure=configure, env=env, macros=macros,
                                build_args=("--with", backend, "--without", "rocm"))
    result["major"] = major
    result["backend"] = backend
    result["package"] = f"ollama-ggml-{backend}"
    result["stub_dir"] = os.path.dirname(stub)
    result["runner"] = f"{LIBDIR}/cuda_v{major}"
    result["build_log"] = next(result["results"].rglob("build.log")).read_text(errors="replace")
    yield result
    result["server"].stop()


def _cuda_rpm(built):
    names = rpm_names(built["rpms"])
    assert built["package"] in names, sorted(names)
    return names[built["package"]]


def _extract(rpm, dest):
    dest.mkdir(parents=True, exist_ok=True)
    cpio = subprocess.run(["rpm2cpio", str(rpm)], capture_output=True, check=True).stdout
    subprocess.run(["cpio", "-idm", "--quiet"], input=cpio, cwd=dest, check=True)
    return dest


def test_the_cuda_subpackage_owns_the_backend(built):
    files = rpm_files(_cuda_rpm(built))
    backend = f"{built['runner']}/libggml-cuda.so"
    assert files[backend][:3] == ("-rwxr-xr-x", "root", "root"), files
    assert built["runner"] in files                                   # owns its runner dir
    assert all(p.startswith((built["runner"], "/usr/lib/.build-id")) for p in files), files


def test_bundled_toolkit_runtime_was_installed_then_deleted(built):
    log = built["build_log"]
    # upstream's install step really copied the toolkit's libcudart next to the backend...
    assert re.search(rf"Installing: \S+{re.escape(built['runner'])}/libcudart\.so\.{built['major']}\b", log), \
        "the fixture did not bundle libcudart: the deletion step was not exercised"
    # ...and %install deleted it again: no RPM ships a toolkit runtime
    for rpm in built["rpms"]:
        shipped = [p for p in rpm_files(rpm) if os.path.basename(p).startswith(BUNDLED)]
        assert not shipped, (rpm.name, shipped)


def test_nvcc_got_the_host_compiler_flags_and_architectures(built):
    nvcc_lines = [line for line in built["build_log"].splitlines()
                  if "ggml-cuda.cu" in line and re.search(r"\bnvcc\b", line) and " -c " in line]
    assert nvcc_lines, "no nvcc compile line in build.log"
    line = nvcc_lines[0]
    cuda = built["cfg"]["backends"][built["backend"]]
    assert f"-ccbin={HOST_CXX}" in line, line
    assert cuda["cmake_options"]["CMAKE_CUDA_FLAGS"] in line, line
    assert "--generate-code=arch=compute_86,code=[compute_86,sm_86]" in line, line
    # Fedora's flags reach the host compiler through one -Xcompiler list, "-Wp,"
    # unwrapped (the stand-ins carry Fedora's -Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3).
    xcompiler = re.search(r"-Xcompiler=(\S+)", line)
    assert xcompiler, line
    host_flags = xcompiler.group(1).split(",")
    assert {"-fstack-protector-strong", "-D_FORTIFY_SOURCE=3", "-fcf-protection", "-g"} <= set(host_flags), host_flags
    assert not [f for f in host_flags if f.startswith(("-Wp", "-flto"))], host_flags
    # Release host code is optimised as Fedora says (-O2 in the list), not with
    # CMake's CUDA default "-O3 -DNDEBUG": %cmake resets only the C/C++ release flags.
    assert "-O2" in host_flags, host_flags
    outside = line.replace(xcompiler.group(0), "").split()
    assert "-DNDEBUG" in outside and not [f for f in outside if re.fullmatch(r"-O\d", f)], line


def test_requires_the_system_cuda_runtime_and_no_private_library(built):
    rpm = _cuda_rpm(built)
    evr = f"{VERSION}-1.fc43"
    requires = rpm_deps(rpm, "--requires")
    assert f"libcudart.so.{built['major']}()(64bit)" in requires, requires
    assert f"ollama(x86-64) = {evr}" in requires, requires
    for req in built["cfg"]["backends"][built["backend"]]["requires"]:
        assert req in requires, requires
    # cuBLAS as an automatic soname dependency; the driver deliberately not
    # (filtered: see requires_exclude in packaging.yaml), the backend NEEDs it though
    assert f"libcublas.so.{built['major']}()(64bit)" in requires, requires
    assert not [r for r in requires if r.startswith("libcuda.so")], requires
    for query in ("--provides", "--requires"):
        leaked = [d for d in rpm_deps(rpm, query) if PRIVATE_LIB.match(d)]
        assert not leaked, (query, leaked)
    assert not [d for d in rpm_deps(rpm, "--provides") if d.startswith(BUNDLED)]


def test_fat_binary_holds_exactly_the_configured_architectures(built, tmp_path):
    root = _extract(_cuda_rpm(built), tmp_path / "root")
    lib = root / built["runner"].lstrip("/") / "libggml-cuda.so"
    needed = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "[libggml-base.so.0]" in needed and f"[libcudart.so.{built['major']}]" in needed, needed
    # linked like the real backend: cuBLAS and the driver API, not only the runtime
    assert f"[libcublas.so.{built['major']}]" in needed and f"[{DRIVER}]" in needed, needed
    assert "Library runpath: [$ORIGIN]" in needed, needed

    expected = cmake_arch_expectation(built["cfg"]["backends"][built["backend"]]["gpu_targets"])
    assert expected == ({"86"}, {"75", "80", "86", "90"})
    found = fatbin_archs(lib)
    cuobjdump = find_cuobjdump()
    if cuobjdump:
        assert cuobjdump_archs(lib, cuobjdump) == found       # the header reader agrees with NVIDIA's tool
    assert found == expected, f"SASS/PTX in the fat binary {found} != configured gpu_targets {expected}"


def test_backend_loads_against_the_system_runtime_and_scores_without_a_device(built, tmp_path):
    root = tmp_path / "root"
    names = rpm_names(built["rpms"])
    for name in ("ollama", "ollama-ggml-cuda"):
        _extract(names[name], root)
    cudart_dirs = runtime_dirs(NVCC)                                         # the system libcudart
    libdir = root / LIBDIR.lstrip("/")
    probe = ("import ctypes, sys\n"
             "lib = ctypes.CDLL(sys.argv[1])\n"
             "lib.ggml_backend_name.restype = ctypes.c_char_p\n"
             "print(lib.ggml_backend_name().decode(), lib.ggml_backend_score())\n")
    backend = str(libdir / f"cuda_v{built['major']}/libggml-cuda.so")
    system_driver = ctypes.util.find_library("cuda")
    if not system_driver:
        # No driver on this machine: the module does not load, so ggml's loader skips it
        # (what a user without the driver gets, since the package does not require it).
        env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join([str(libdir), *cudart_dirs]))
        proc = subprocess.run([sys.executable, "-c", probe, backend], capture_output=True, text=True, env=env)
        assert proc.returncode != 0 and DRIVER in proc.stderr, (proc.returncode, proc.stderr)
    # With a driver library (the real one, or the stub standing in for it) it loads.
    dirs = [str(libdir), *cudart_dirs] + ([] if system_driver else [built["stub_dir"]])
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(dirs))
    proc = subprocess.run([sys.executable, "-c", probe, backend], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    name, score = proc.stdout.split()
    assert name == "ggml-cuda"
    if not os.path.exists("/dev/nvidiactl"):
        assert score == "0"                # no GPU: the loader must not pick it


def test_cuda_rpm_lints_clean_under_the_fedora_profile(built):
    rpms = [rpm for name, rpm in rpm_names(built["rpms"]).items() if name.startswith(built["package"])]
    report = lint_paths(rpms, built["project"], macros=[STANDIN_MACROS])
    detail = "\n".join(f"{f.path}: {m}" for f in report.files for m in getattr(f, "messages", []))
    assert report.errors == 0 and report.warnings == 0, detail
