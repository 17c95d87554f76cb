"""The real Ollama and llama.cpp, end to end, with the project's own commands.

Runs only where OLLAMA_RPM_REAL_SOURCES names a directory holding the real
`ollama-<version>.tar.gz` and `llama.cpp-<tag>.tar.gz` of packaging.yaml (made
with `git archive --prefix=...`; never committed). CI has neither the tarballs
nor GitHub, so there the group is skipped with that reason and the fixture
suite is the gate. Run it with `pytest -m real_upstream`.

The tarballs are served over HTTP on 127.0.0.1 to a scratch copy of this
project whose only change is the two Source URLs; then, as real processes:
render, sources --update-lock, check-patches, vendor (real modules from the Go
module proxy), srpm, build --engine rpmbuild of the CPU package set (ROCm and
Vulkan off), audit-isa of every level package, and an install into a scratch
root that runs `ollama --version` and `llama-server --version`, and
`ollama-rpm smoke --engine rootfs` on the RPMs (serve, import a tiny model,
generate, best CPU variant loaded).

With OLLAMA_RPM_REAL_VULKAN_SDK=DIR (a VULKAN_SDK layout: include/ with Vulkan
headers >= 1.4 and SPIR-V headers, share/cmake/SPIRV-Headers, lib/libvulkan.so,
bin/glslc; Debian 12's own
headers are too old, see doc/verification.md) the split layout's
ollama-ggml-vulkan source package is built too (only its backend: no Go, no CPU
variants), installed with the CPU package set, and smoke loads it (Mesa's
lavapipe is a Vulkan device without a GPU). Without it those tests skip.

With OLLAMA_RPM_REAL_ROCM_CHROOT=DIR (a Debian sid chroot with HIP, hipBLAS,
rocBLAS and rpm 6, made by tests/support/make-rocm-chroot DIR; needs root) the
split layout's ollama-ggml-rocm source package is built the way the spec's
%build builds it (Fedora's flags, the HIP flags rewrite, its cmake line) by the
chroot's rpmbuild (tests/support/chroot-run), for one GPU target
(--define 'rocm_gpu_list_default gfx1100'), with debian-rocm.standin pointing
the ROCm compiler macros at Debian's layout. Then: libggml-hip.so needs the
system hipBLAS, rocBLAS and amdhip64, carries gfx1100 code objects only, `ldd -r`
is clean in the chroot next to the CPU package set, the package holds what the
build installed less the toolkit runtimes, and `ollama-rpm smoke` run in the
chroot (no AMD GPU there) loads the backend, finds no device and still
generates with the best CPU variant. Without it those tests skip.

With OLLAMA_RPM_REAL_CUDACXX=NVCC (the nvcc of a CUDA 13 toolkit: NVIDIA's
/usr/local/cuda-13.0/bin/nvcc, or .cache/cuda/nvidia/cu13/bin/nvcc, the PyPI
wheels .ci/bootstrap installs) the split layout's ollama-ggml-cuda source
package is built the same way by this machine's rpmbuild, for one PTX target
(89-virtual); only what a Fedora builder has elsewhere changes in the scratch
packaging.yaml: the toolkit's path, the host compiler (this machine's g++) and
the driver stub to link with where the toolkit has none (tests/support/libcuda-stub.c).
Then: libggml-cuda.so needs the system cudart, cuBLAS and the driver, the
package requires the first two and not the driver, its fat binary holds PTX for
the one target only, `ldd -r` next to the CPU package set is clean but for the
absent driver, and smoke (the toolkit's libraries made system libraries in a
mount namespace of its own, as NVIDIA's packages do with ld.so.conf.d; needs root)
skips the backend for want of the driver and generates with the best CPU variant.

The CPU build takes about 20 minutes on 2 cores. OLLAMA_RPM_REAL_WORKDIR=DIR
keeps the run in DIR, and a later session reuses a finished one from there
(delete DIR to rebuild); phase wall times go to DIR/phases.json.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, STANDIN_MACROS, copy_project, load_yaml, run_cli, write_yaml
from cuda_fatbin import cmake_arch_expectation, fatbin_archs
from cuda_toolkit import build_driver_stub, cuda_major, runtime_dirs, toolkit_driver_stub
from e2e_support import machine_test_skips, rpm_names, rpm_query
from fakes import FileServer
from fixture.project import use_cuda_toolkit
from ollama_rpm.specgen import manifest

LIBDIR = "/usr/lib64/ollama"
CONFIG = load_yaml(REPO / "packaging.yaml")
VERSION = str(CONFIG["version"]).lstrip("v")
TAG = CONFIG["llama_cpp"]["tag"]
COMMIT = CONFIG["llama_cpp"]["commit"]
SOURCES_ENV = "OLLAMA_RPM_REAL_SOURCES"
TARBALLS = (f"ollama-{VERSION}.tar.gz", f"llama.cpp-{TAG}.tar.gz")
VULKAN_SDK = os.environ.get("OLLAMA_RPM_REAL_VULKAN_SDK")
ROCM_CHROOT = os.environ.get("OLLAMA_RPM_REAL_ROCM_CHROOT")
SUPPORT = REPO / "tests" / "support"
# make-rocm-chroot installs the rocm-llvm stand-in here; debian-rocm.standin names it.
ROCM_CLANG_STANDIN = "usr/local/lib/ollama-rpm-standin/rocm-llvm/bin/clang++"
ROCM_TARGET = "gfx1100"
ROCM = CONFIG["backends"]["rocm"]
CUDA_NVCC = os.environ.get("OLLAMA_RPM_REAL_CUDACXX")
CUDA_TARGET = "89-virtual"
CUDA = CONFIG["backends"]["cuda"]


def _skip_reason():
    directory = os.environ.get(SOURCES_ENV)
    if not directory:
        return f"{SOURCES_ENV} is not set (a directory with {' and '.join(TARBALLS)})"
    missing = [name for name in TARBALLS if not (Path(directory) / name).is_file()]
    if missing:
        return f"{SOURCES_ENV}={directory} lacks {', '.join(missing)}"
    return None


pytestmark = [
    pytest.mark.real_upstream,
    pytest.mark.slow,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]

# Everything the CPU package set holds besides debuginfo: the main package and
# one ggml-cpu package per x86-64 level of packaging.yaml's variant map.
LEVELS = sorted(set(CONFIG["cpu_variants"]["x86_64"].values()))
EXPECTED_PACKAGES = {"ollama", *(f"ollama-ggml-cpu-x86_64-{level}" for level in LEVELS)}
INSTALLED_LINE = re.compile(r"^-- (?:Installing|Up-to-date): \S*?" + re.escape(LIBDIR) + r"/([^/\s]+)$")


class _Project:
    """A scratch copy of this project whose two Source URLs point at the real
    tarballs, served on 127.0.0.1; `step` runs one `ollama-rpm` command, timed."""

    def __init__(self, work, env=None):
        self.work = work
        self.server = FileServer()
        self.server.start()
        for name in TARBALLS:
            self.server.add(f"/{name}", (Path(os.environ[SOURCES_ENV]) / name).read_bytes())
        self.root = copy_project(work / "project")
        cfg = load_yaml(self.root / "packaging.yaml")
        cfg["sources"]["ollama"] = self.server.file_url("/ollama-{upstream_version}.tar.gz")
        cfg["sources"]["llama_cpp"] = self.server.file_url("/llama.cpp-{llama_cpp_tag}.tar.gz")
        cfg["go"]["test_skips"] = [*cfg["go"].get("test_skips", []),
                                    *machine_test_skips(Path(os.environ[SOURCES_ENV]) / TARBALLS[0], VERSION)]
        write_yaml(self.root / "packaging.yaml", cfg)
        # One cache for every run in the work directory: downloads, the vendor
        # tarball and ccache (its fixed build tree's path must not change, or
        # nothing hits) are shared by the CPU and Vulkan builds and by reruns.
        self.env = {"OLLAMA_RPM_CACHE": str(work.parent / "cache"), "CI": "true", **(env or {})}
        self.phases, self.outputs = {}, {}

    def step(self, name, *args):
        start = time.monotonic()
        proc = run_cli(*args, cwd=self.root, env=self.env)
        self.phases[name] = round(time.monotonic() - start, 1)
        self.outputs[name] = proc.stdout + proc.stderr
        (self.work / f"{name}.out").write_text(self.outputs[name])
        assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{self.outputs[name][-6000:]}"
        return proc

    def save(self, **state):
        state.update(phases=self.phases, outputs=self.outputs,
                     rpms=sorted(str(p) for p in (self.work / "results").rglob("*.rpm")))
        (self.work / "phases.json").write_text(json.dumps(self.phases, indent=2) + "\n")
        (self.work / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        return state


def _run_pipeline(work):
    """The single layout's CPU package set: every step, timed (saved as JSON)."""
    run = _Project(work)
    try:
        run.step("render", "render")
        run.step("sources", "sources", "--update-lock")
        run.step("check-patches", "check-patches")
        run.step("vendor", "vendor")
        srpm = run.step("srpm", "srpm", "--outdir", work / "srpm", "--macros", STANDIN_MACROS
                        ).stdout.strip().splitlines()[-1]
        run.step("build", "build", "--engine", "rpmbuild", "--ccache", "--srpm", srpm, "--outdir", work / "results",
                 "--nodeps", "--without", "rocm", "--without", "vulkan", "--macros", STANDIN_MACROS)
    finally:
        run.server.stop()
    return run.save(srpm=srpm)


def _run_split_vulkan(work):
    """The split layout's ollama-ggml-vulkan source package alone, built with the SDK."""
    # CMake finds SPIRV-Headers' package config under the SDK (share/cmake/SPIRV-Headers).
    run = _Project(work, {"VULKAN_SDK": VULKAN_SDK, "CMAKE_PREFIX_PATH": VULKAN_SDK})
    try:
        run.step("render", "render", "--layout", "split")
        run.step("sources", "sources", "--update-lock")
        srpm = run.step("srpm", "srpm", "--layout", "split", "--package", "ollama-ggml-vulkan",
                        "--outdir", work / "srpm", "--macros", STANDIN_MACROS).stdout.strip().splitlines()[-1]
        run.step("build", "build", "--engine", "rpmbuild", "--ccache", "--layout", "split", "--srpm", srpm,
                 "--outdir", work / "results", "--nodeps", "--macros", STANDIN_MACROS)
    finally:
        run.server.stop()
    return run.save(srpm=srpm)


def _chroot_env(work):
    """The environment that runs `rpmbuild` (and chroot-run) in the ROCm chroot,
    with the directories a build reads and writes mounted at their own paths."""
    bindir = work / "chroot-bin"
    bindir.mkdir(parents=True, exist_ok=True)
    if not (bindir / "rpmbuild").is_symlink():
        (bindir / "rpmbuild").symlink_to(SUPPORT / "chroot-run")
    binds = [str(work.parent), str(REPO), tempfile.gettempdir()]
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "OLLAMA_RPM_CHROOT_BINDS": ":".join(binds)}


def _run_split_rocm(work):
    """The split layout's ollama-ggml-rocm source package alone, built by the ROCm chroot's rpmbuild."""
    run = _Project(work, _chroot_env(work))
    try:
        run.step("render", "render", "--layout", "split")
        run.step("sources", "sources", "--update-lock")
        srpm = run.step("srpm", "srpm", "--layout", "split", "--package", "ollama-ggml-rocm",
                        "--outdir", work / "srpm", "--macros", STANDIN_MACROS).stdout.strip().splitlines()[-1]
        run.step("build", "build", "--engine", "rpmbuild", "--layout", "split", "--srpm", srpm,
                 "--outdir", work / "results", "--nodeps", "--macros", STANDIN_MACROS,
                 "--macros", SUPPORT / "debian-rocm.standin", "--define", f"rocm_gpu_list_default {ROCM_TARGET}")
    finally:
        run.server.stop()
    return run.save(srpm=srpm)


def _host_cxx():
    return shutil.which("g++-12") or shutil.which("g++")


def _run_split_cuda(work):
    """The split layout's ollama-ggml-cuda source package alone, by this machine's
    rpmbuild, with the toolkit of CUDA_NVCC and one PTX target."""
    run = _Project(work, {"CUDACXX": CUDA_NVCC,
                          "PATH": f"{os.path.dirname(CUDA_NVCC)}{os.pathsep}{os.environ['PATH']}"})
    try:
        # What a Fedora builder has elsewhere: the toolkit (NVIDIA's under /usr/local/cuda-13.0),
        # its host compiler (gcc15-c++) and the driver stub (cuda-driver-devel).
        cfg = load_yaml(run.root / "packaging.yaml")
        use_cuda_toolkit(cfg["backends"]["cuda"], nvcc=CUDA_NVCC, host_compiler=_host_cxx(), gpu_targets=[CUDA_TARGET],
                         driver_stub=None if toolkit_driver_stub(CUDA_NVCC) else build_driver_stub(work / "driver-stub"))
        write_yaml(run.root / "packaging.yaml", cfg)
        run.step("render", "render", "--layout", "split")
        run.step("sources", "sources", "--update-lock")
        srpm = run.step("srpm", "srpm", "--layout", "split", "--package", "ollama-ggml-cuda",
                        "--outdir", work / "srpm", "--macros", STANDIN_MACROS).stdout.strip().splitlines()[-1]
        run.step("build", "build", "--engine", "rpmbuild", "--layout", "split", "--srpm", srpm, "--with", "cuda",
                 "--outdir", work / "results", "--nodeps", "--macros", STANDIN_MACROS)
    finally:
        run.server.stop()
    return run.save(srpm=srpm)


def _in_chroot(work, *cmd, cwd=None):
    """A command run in the ROCm chroot (tests/support/chroot-run), `work`'s parent mounted."""
    env = dict(os.environ, OLLAMA_RPM_REAL_ROCM_CHROOT=ROCM_CHROOT, **_chroot_env(work))
    return subprocess.run([str(SUPPORT / "chroot-run"), *map(str, cmd)], capture_output=True, text=True,
                          env=env, cwd=cwd or work)


def _load_or_run(work, pipeline):
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "state.json"
    state = json.loads(saved.read_text()) if saved.is_file() else pipeline(work)
    state["work"] = work
    state["rpms"] = [Path(p) for p in state["rpms"]]
    state["names"] = rpm_names(state["rpms"])
    return state


def _workdir(tmp_path_factory, name):
    keep = os.environ.get("OLLAMA_RPM_REAL_WORKDIR")
    return Path(keep) / name if keep else tmp_path_factory.mktemp(name)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return _load_or_run(_workdir(tmp_path_factory, "cpu"), _run_pipeline)


@pytest.fixture(scope="module")
def real_vulkan(tmp_path_factory):
    if not VULKAN_SDK:
        pytest.skip("OLLAMA_RPM_REAL_VULKAN_SDK is not set (a Vulkan SDK layout with headers >= 1.4)")
    return _load_or_run(_workdir(tmp_path_factory, "vulkan"), _run_split_vulkan)


@pytest.fixture(scope="module")
def real_rocm(tmp_path_factory):
    if not ROCM_CHROOT:
        pytest.skip("OLLAMA_RPM_REAL_ROCM_CHROOT is not set (a Debian sid chroot with ROCm: "
                    "tests/support/make-rocm-chroot DIR, as root)")
    if not (Path(ROCM_CHROOT) / ROCM_CLANG_STANDIN).is_file():
        pytest.skip(f"OLLAMA_RPM_REAL_ROCM_CHROOT={ROCM_CHROOT} lacks /{ROCM_CLANG_STANDIN} "
                    "(make it with tests/support/make-rocm-chroot)")
    if os.geteuid() != 0:
        pytest.skip("OLLAMA_RPM_REAL_ROCM_CHROOT: building in the chroot needs root (mount, chroot)")
    return _load_or_run(_workdir(tmp_path_factory, "rocm"), _run_split_rocm)


@pytest.fixture(scope="module")
def real_cuda(tmp_path_factory):
    if not CUDA_NVCC:
        pytest.skip("OLLAMA_RPM_REAL_CUDACXX is not set (the nvcc of a CUDA 13 toolkit, e.g. "
                    ".cache/cuda/nvidia/cu13/bin/nvcc from .ci/bootstrap)")
    if not os.access(CUDA_NVCC, os.X_OK) or cuda_major(CUDA_NVCC) != 13:
        pytest.skip(f"OLLAMA_RPM_REAL_CUDACXX={CUDA_NVCC}: not the nvcc of a CUDA 13 toolkit")
    if not _host_cxx():
        pytest.skip("OLLAMA_RPM_REAL_CUDACXX: no g++ for nvcc's host side")
    return _load_or_run(_workdir(tmp_path_factory, "cuda"), _run_split_cuda)


def _main_rpms(state):
    return {n: p for n, p in state["names"].items() if not n.endswith(("-debuginfo", "-debugsource"))}


def test_compat_patches_apply_as_upstream_applies_them(real):
    out = real["outputs"]["check-patches"]
    for patch in CONFIG["llama_cpp"]["compat_patches"]:
        assert f"ok  {patch}" in out, out


def test_the_cpu_package_set_is_built(real):
    assert set(_main_rpms(real)) == EXPECTED_PACKAGES
    assert "ollama-debuginfo" in real["names"]


def test_install_matches_the_recorded_upstream_manifest(real):
    """What `cmake --install --component llama-server` installed (rpmbuild's log)
    is what tests/data records; a new upstream layout fails here until re-recorded."""
    log = (real["work"] / "results" / "x86_64" / "build.log").read_text(errors="replace")
    installed = sorted({m.group(1) for line in log.splitlines() for m in [INSTALLED_LINE.match(line)] if m})
    recorded = manifest.load(REPO / CONFIG["llama_cpp"]["install_manifest"])
    assert installed == sorted(e.name for e in recorded)
    # Links and their targets, as the RPMs hold them (link-time lib*.so are deleted).
    packaged = {}
    for rpm in _main_rpms(real).values():
        out = rpm_query(rpm, "--qf", "[%{FILENAMES}\t%{FILELINKTOS}\n]")
        packaged.update(line.split("\t") for line in out.splitlines())
    for entry in recorded:
        path = f"{LIBDIR}/{entry.name}"
        if entry.is_link and entry.name.endswith(".so"):
            assert path not in packaged, path
        else:
            assert packaged.get(path) == entry.target, (path, packaged.get(path))
    assert sorted(manifest.cpu_variants(recorded)) == sorted(CONFIG["cpu_variants"]["x86_64"])


def test_every_level_package_passes_the_isa_audit(real):
    levels = [p for n, p in _main_rpms(real).items() if n.startswith("ollama-ggml-cpu-x86_64-")]
    proc = run_cli("audit-isa", *levels)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for variant in CONFIG["cpu_variants"]["x86_64"]:
        assert f"libggml-cpu-{variant}.so" in proc.stdout, variant
    (real["work"] / "audit-isa.out").write_text(proc.stdout)


@pytest.fixture(scope="module")
def installed(real, tmp_path_factory):
    root = tmp_path_factory.mktemp("real-root") / "root"
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    # No glibc in the scratch root, and scriptlets would run systemctl: the payload only.
    proc = subprocess.run(["rpm", "--root", str(root), "-i", "--nodeps", "--noscripts",
                           *map(str, _main_rpms(real).values())], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return root


def test_installed_ollama_reports_its_version(installed, tmp_path):
    proc = subprocess.run([str(installed / "usr/bin/ollama"), "--version"], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "OLLAMA_HOST": "127.0.0.1:9"})
    assert f"client version is {VERSION}" in proc.stdout + proc.stderr


def test_installed_llama_server_finds_its_libraries_and_reports_the_tag(installed, tmp_path):
    server = installed / LIBDIR.lstrip("/") / "llama-server"
    ldd = subprocess.run(["ldd", str(server)], capture_output=True, text=True).stdout
    assert "not found" not in ldd, ldd
    assert f"{installed}{LIBDIR}/libllama-server-impl.so" in ldd
    proc = subprocess.run([str(server), "--version"], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": os.environ["PATH"]})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"(build {TAG[1:]}, commit {COMMIT})" in out, out
    (installed.parent / "llama-server-version.out").write_text(out)


def test_the_installed_packages_answer_a_prompt_with_the_best_cpu_variant(real):
    """`ollama-rpm smoke` on the real RPMs: install, serve, import the benchmark's model
    (--model-shape bench: ~200M parameters in Q4_0, so the chosen variant runs its
    repacked and AMX matrix kernels), generate, and ggml loads the variant cpu_select
    picks for this CPU."""
    rpms = [str(p) for p in _main_rpms(real).values()]
    proc = run_cli("smoke", "--engine", "rootfs", "--model-shape", "bench", "--json", *rpms)
    (real["work"] / "smoke.json").write_text(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["generate"] == "ok" and checks["cpu variant"] == "ok", checks


def test_the_split_vulkan_package_builds_only_its_backend(real_vulkan):
    assert set(_main_rpms(real_vulkan)) == {"ollama-ggml-vulkan"}
    files = rpm_query(_main_rpms(real_vulkan)["ollama-ggml-vulkan"], "--qf", "[%{FILENAMES}\n]").split()
    assert f"{LIBDIR}/vulkan/libggml-vulkan.so" in files, files
    assert not [f for f in files if f.startswith("/usr/bin") or "libggml-cpu" in f], files
    log = next((real_vulkan["work"] / "results").rglob("build.log")).read_text(errors="replace")
    assert "go build" not in log and "ggml-cpu-haswell" not in log


def test_cpu_set_and_split_vulkan_install_together_and_smoke_loads_vulkan(real, real_vulkan):
    rpms = [str(p) for p in [*_main_rpms(real).values(), *_main_rpms(real_vulkan).values()]]
    proc = run_cli("smoke", "--engine", "rootfs", "--json", *rpms)
    (real_vulkan["work"] / "smoke.json").write_text(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    checks = {c["name"]: c["status"] for c in json.loads(proc.stdout)["checks"]}
    assert checks.get("gpu ollama-ggml-vulkan") == "ok", checks
    assert checks["generate"] == "ok", checks


ROCM_LIB = f"{LIBDIR}/{ROCM['runner_dir']}/libggml-hip.so"


def _rocm_rpm(state):
    return _main_rpms(state)["ollama-ggml-rocm"]


def _unpacked(state, *rpms):
    """The payload of `rpms` under state's work directory (the chroot sees it there).
    rpm2archive, not rpm2cpio: the ROCm chroot's rpm 6.1 writes v6 packages
    (%_rpmformat 6: 64-bit file sizes), which rpm2cpio refuses ("files over 4GB
    not supported by cpio")."""
    root = state["work"] / ("unpacked-" + "-".join(sorted(Path(r).name.split("-0")[0] for r in rpms)))
    if not root.is_dir():
        root.mkdir()
        for rpm in rpms:
            with open(rpm, "rb") as package:
                payload = subprocess.run(["rpm2archive", "-"], stdin=package, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-xz", "-f", "-"], input=payload, cwd=root, check=True)
    return root


def test_the_split_rocm_package_is_built_by_the_specs_build(real_rocm):
    """Only the backend (no Go, no CPU variants), with the spec's cmake line, for the one target."""
    assert set(_main_rpms(real_rocm)) == {"ollama-ggml-rocm"}
    log = next((real_rocm["work"] / "results").rglob("build.log")).read_text(errors="replace")
    assert "go build" not in log and "ggml-cpu-haswell" not in log
    defines = _configure_defines(log)
    assert defines["AMDGPU_TARGETS"] == ROCM_TARGET, defines
    assert defines["CMAKE_HIP_COMPILER"] == f"/{ROCM_CLANG_STANDIN}", defines
    assert defines["OLLAMA_RUNNER_DIR"] == ROCM["runner_dir"], defines
    # The HIP flags rewrite: Fedora's flags, host-only hardening, no GCC LTO.
    hip_flags = defines["CMAKE_HIP_FLAGS"]
    assert "-Xarch_host -fstack-protector-strong" in hip_flags and "-Xarch_host -fcf-protection" in hip_flags
    assert "-flto" not in hip_flags and "-D_FORTIFY_SOURCE=3" in hip_flags and hip_flags.endswith("-parallel-jobs=4")
    assert "HIP and hipBLAS found" in log
    compiled = [line for line in log.splitlines() if "-x hip -c " in line and "ggml-cuda" in line]
    assert len(compiled) > 100 and all(f"--offload-arch={ROCM_TARGET}" in line for line in compiled)


def _needed(state, rpm, path):
    """The NEEDED entries (readelf -d) of `path` as `rpm` ships it."""
    dynamic = subprocess.run(["readelf", "-d", str(_unpacked(state, rpm) / path.lstrip("/"))],
                             capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)


def _configure_defines(log):
    """{NAME: value} of the -D settings of the spec's one configure of llama/server,
    from rpmbuild's shell trace: bash (Fedora's /bin/sh) quotes an argument with
    spaces, dash (Debian's) does not; a value runs to the next -D or -G."""
    (configure,) = [line for line in log.splitlines() if line.startswith("+ /usr/bin/cmake -S llama/server")]
    args = re.split(r"\s+(?='?-(?:G\s|D\w+(?::\w+)?=))", configure)
    return {m.group(1): m.group(2) for arg in args for m in [re.fullmatch(r"'?-D(\w+)(?::\w+)?=(.*?)'?", arg)] if m}


def _runner_payload(state, backend, rpm):
    """What the build's `cmake --install` put in the backend's runner directory
    less its bundled toolkit runtimes, what the package holds there, and all of
    the package's files."""
    log = next((state["work"] / "results").rglob("build.log")).read_text(errors="replace")
    runner = f"{LIBDIR}/{backend['runner_dir']}/"
    installed = {m.group(1) for line in log.splitlines()
                 for m in [re.match(r"^-- (?:Installing|Up-to-date): \S*?" + re.escape(runner) + r"(\S+)$", line)] if m}
    bundled = [re.compile(re.escape(g).replace(r"\*", ".*") + r"(/.*)?$") for g in backend["bundled_runtimes"]]
    assert [name for name in installed if any(p.match(name) for p in bundled)], sorted(installed)
    expected = {name for name in installed if not any(p.match(name) for p in bundled)}
    out = rpm_query(rpm, "--qf", "[%{FILENAMES}\t%{FILEMODES:perms}\n]")
    files = dict(line.split("\t") for line in out.splitlines())
    packaged = {path[len(runner):] for path, mode in files.items() if path.startswith(runner) and mode[0] != "d"}
    assert not [f for f in files if f.startswith("/usr/bin") or "libggml-cpu" in f or "libggml-base" in f], files
    return expected, packaged


def test_the_rocm_package_holds_what_the_build_installed_less_the_toolkit_runtimes(real_rocm):
    expected, packaged = _runner_payload(real_rocm, ROCM, _rocm_rpm(real_rocm))
    assert expected == packaged == {"libggml-hip.so"}, (sorted(expected), sorted(packaged))


def test_libggml_hip_needs_the_system_rocm_libraries(real_rocm):
    needed = _needed(real_rocm, _rocm_rpm(real_rocm), ROCM_LIB)
    # rocBLAS comes through hipBLAS: with Fedora's -Wl,--as-needed it is no
    # direct NEEDED (seen in session 5 of doc/verification.md, ROCm); the package requires it by name.
    for soname in ("libhipblas.so.", "libamdhip64.so."):
        assert any(n.startswith(soname) for n in needed), needed
    # ...which the package requires, as the system's packages provide them
    requires = rpm_query(_rocm_rpm(real_rocm), "--requires").split()
    assert all(f"{n}()(64bit)" in requires for n in needed if n.startswith(("libhipblas", "libamdhip64"))), requires
    assert {"hipblas", "rocblas"} <= set(requires), requires


def test_libggml_hip_carries_code_objects_for_the_requested_target_only(real_rocm):
    root = _unpacked(real_rocm, _rocm_rpm(real_rocm))
    # llvm-objdump --offloading writes each bundle next to its input: a copy of its own.
    probe = real_rocm["work"] / "offloading"
    probe.mkdir(exist_ok=True)
    lib = probe / "libggml-hip.so"
    lib.write_bytes((root / ROCM_LIB.lstrip("/")).read_bytes())
    proc = _in_chroot(real_rocm["work"], "/usr/lib/llvm-21/bin/llvm-objdump", "--offloading", lib)
    assert proc.returncode == 0, proc.stderr
    (real_rocm["work"] / "offloading.out").write_text(proc.stdout)
    targets = set(re.findall(r"amdgcn-amd-amdhsa-*(gfx[0-9a-z]+)", proc.stdout))
    assert targets == {ROCM_TARGET}, proc.stdout[:2000]


def test_cpu_set_and_split_rocm_link_cleanly_in_the_chroot(real_rocm, real):
    """`ldd -r` of every library the ROCm package adds, installed next to the CPU
    package set: the system ROCm libraries resolve from the chroot's /usr, nothing
    is missing, no symbol is undefined."""
    root = _unpacked(real_rocm, *_main_rpms(real).values(), _rocm_rpm(real_rocm))
    lib = root / ROCM_LIB.lstrip("/")
    # As Ollama starts llama-server: its library directory on LD_LIBRARY_PATH (the
    # backend's RUNPATH, $ORIGIN, is its own directory, not libggml-base's).
    proc = _in_chroot(real_rocm["work"], "env", f"LD_LIBRARY_PATH={root}{LIBDIR}", "ldd", "-r", lib)
    (real_rocm["work"] / "ldd-r.out").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "not found" not in proc.stdout and "undefined symbol" not in proc.stdout + proc.stderr, proc.stdout
    resolved = dict(re.findall(r"^\s+(\S+) => (\S+)", proc.stdout, re.M))
    for soname in ("libhipblas.so.", "librocblas.so.", "libamdhip64.so."):
        (path,) = [p for name, p in resolved.items() if name.startswith(soname)]
        assert path.startswith("/usr/lib/"), (soname, path)
    assert resolved["libggml-base.so.0"] == f"{root}{LIBDIR}/libggml-base.so.0", resolved


def test_smoke_in_the_chroot_loads_rocm_skips_it_without_a_gpu_and_uses_the_cpu(real_rocm, real):
    rpms = [*_main_rpms(real).values(), _rocm_rpm(real_rocm)]
    proc = _in_chroot(real_rocm["work"], REPO / "ollama-rpm", "smoke", "--engine", "rootfs", "--json", *rpms)
    (real_rocm["work"] / "smoke.json").write_text(proc.stdout)
    (real_rocm["work"] / "smoke.err").write_text(proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks.get("gpu ollama-ggml-rocm") == "ok", checks
    assert checks["generate"] == "ok" and checks["cpu variant"] == "ok", checks


CUDA_LIB = f"{LIBDIR}/{CUDA['runner_dir']}/libggml-cuda.so"


def _cuda_rpm(state):
    return _main_rpms(state)["ollama-ggml-cuda"]


def test_the_split_cuda_package_is_built_by_the_specs_build(real_cuda):
    """Only the backend, with the spec's cmake line: the one target, Fedora's host
    flags through -Xcompiler (no GCC LTO), upstream's -t 4."""
    assert set(_main_rpms(real_cuda)) == {"ollama-ggml-cuda"}
    log = next((real_cuda["work"] / "results").rglob("build.log")).read_text(errors="replace")
    assert "go build" not in log and "ggml-cpu-haswell" not in log
    defines = _configure_defines(log)
    assert defines["CMAKE_CUDA_ARCHITECTURES"] == CUDA_TARGET, defines
    assert defines["CMAKE_CUDA_COMPILER"] == os.path.realpath(CUDA_NVCC), defines
    assert defines["OLLAMA_RUNNER_DIR"] == CUDA["runner_dir"], defines
    cuda_flags = defines["CMAKE_CUDA_FLAGS"]
    assert cuda_flags.startswith("-t 4 -Xcompiler="), cuda_flags
    assert "-fstack-protector-strong" in cuda_flags and "-D_FORTIFY_SOURCE=3" in cuda_flags, cuda_flags
    assert "-flto" not in cuda_flags, cuda_flags
    compiled = [line for line in log.splitlines() if re.search(r"\bnvcc\b.* -c \S*ggml-cuda/\S+\.cu\b", line)]
    arch = CUDA_TARGET.partition("-")[0]
    assert len(compiled) > 100, len(compiled)
    assert all(re.findall(r"--generate-code=\S+", line) == [f"--generate-code=arch=compute_{arch},code=[compute_{arch}]"]
               for line in compiled), compiled[0]


def test_the_cuda_package_holds_what_the_build_installed_less_the_toolkit_runtimes(real_cuda):
    expected, packaged = _runner_payload(real_cuda, CUDA, _cuda_rpm(real_cuda))
    assert expected == packaged == {"libggml-cuda.so"}, (sorted(expected), sorted(packaged))


def test_libggml_cuda_needs_the_system_cuda_libraries_and_requires_all_but_the_driver(real_cuda):
    needed = _needed(real_cuda, _cuda_rpm(real_cuda), CUDA_LIB)
    assert {"libcudart.so.13", "libcublas.so.13", "libcuda.so.1"} <= set(needed), needed
    requires = rpm_query(_cuda_rpm(real_cuda), "--requires").split()
    for soname in ("libcudart.so.13", "libcublas.so.13"):
        assert f"{soname}()(64bit)" in requires, requires
    assert "cuda-cudart-13-0" in requires, requires
    assert not [r for r in requires if r.startswith("libcuda.so")], requires


def test_libggml_cuda_carries_ptx_for_the_requested_target_only(real_cuda):
    root = _unpacked(real_cuda, _cuda_rpm(real_cuda))
    assert fatbin_archs(root / CUDA_LIB.lstrip("/")) == cmake_arch_expectation([CUDA_TARGET])


def test_cpu_set_and_split_cuda_link_cleanly_but_for_the_absent_driver(real_cuda, real):
    root = _unpacked(real_cuda, *_main_rpms(real).values(), _cuda_rpm(real_cuda))
    env = dict(os.environ, LANG="C", LD_LIBRARY_PATH=os.pathsep.join(
        [f"{root}{LIBDIR}", *runtime_dirs(CUDA_NVCC)]))
    proc = subprocess.run(["ldd", "-r", str(root / CUDA_LIB.lstrip("/"))], capture_output=True, text=True, env=env)
    out = proc.stdout + proc.stderr
    (real_cuda["work"] / "ldd-r.out").write_text(out)
    assert re.findall(r"^\s+(\S+) => not found", out, re.M) == ["libcuda.so.1"], out
    undefined = set(re.findall(r"undefined symbol: (\S+?),?\s", out))
    assert undefined and all(re.fullmatch(r"cu[A-Z]\w*", name) for name in undefined), sorted(undefined)
    resolved = dict(re.findall(r"^\s+(\S+) => (\S+)", out, re.M))
    assert resolved["libggml-base.so.0"] == f"{root}{LIBDIR}/libggml-base.so.0", resolved
    for soname in ("libcudart.so.13", "libcublas.so.13"):
        assert resolved[soname].startswith(tuple(runtime_dirs(CUDA_NVCC))), (soname, resolved[soname])


def _with_system_cuda_runtime(work, *cmd):
    """`cmd` in a mount namespace of its own whose /etc/ld.so.cache also holds the
    toolkit's runtime directories, as NVIDIA's packages arrange with ld.so.conf.d."""
    conf = work / "ld.so.conf"
    conf.write_text("include /etc/ld.so.conf\n" + "".join(f"{d}\n" for d in runtime_dirs(CUDA_NVCC)))
    cache = work / "ld.so.cache"
    subprocess.run(["ldconfig", "-f", str(conf), "-C", str(cache)], check=True)
    script = 'mount --bind "$0" /etc/ld.so.cache && exec "$@"'
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(cache),
                           *map(str, cmd)], capture_output=True, text=True)


def test_smoke_skips_cuda_without_the_driver_and_uses_the_cpu(real_cuda, real):
    if os.geteuid() != 0:
        pytest.skip("OLLAMA_RPM_REAL_CUDACXX: smoke with the CUDA runtime as a system library needs root (mount)")
    rpms = [*_main_rpms(real).values(), _cuda_rpm(real_cuda)]
    proc = _with_system_cuda_runtime(real_cuda["work"], REPO / "ollama-rpm", "smoke", "--engine", "rootfs",
                                     "--json", *rpms)
    (real_cuda["work"] / "smoke.json").write_text(proc.stdout)
    (real_cuda["work"] / "smoke.err").write_text(proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    checks = {c["name"]: (c["status"], c["detail"]) for c in report["checks"]}
    assert checks["gpu ollama-ggml-cuda"][0] == "skip" and "libcuda.so.1" in checks["gpu ollama-ggml-cuda"][1], checks
    assert checks["libraries"][0] == "ok" and "libcuda.so.1 absent" in checks["libraries"][1], checks
    assert checks["generate"][0] == "ok" and checks["cpu variant"][0] == "ok", checks
