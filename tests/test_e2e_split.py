"""End to end, split layout: from the same packaging.yaml and template, `ollama`
(Go, CPU levels, service) and `ollama-ggml-vulkan` (the fixture's Vulkan backend
only) are rendered, built as two SRPMs with the rpmbuild engine (ollama first),
installed together into a scratch root, linted and smoke-tested.
"""

import json
import shutil
import subprocess

import pytest

from conftest import STANDIN_MACROS, find_nvcc, run_cli
from e2e_support import (
    LIBDIR,
    VERSION,
    build_fixture_rpms,
    glibc_before_2_41_macros,
    rpm_deps,
    rpm_files,
    rpm_names,
    rpm_query,
)
from fixture import upstream
from ollama_rpm.check.lint import lint_paths

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "rpm2cpio", "unshare")),
                       reason="needs rpmbuild, go, cmake, rpm2cpio and unshare"),
]

EVR = f"{VERSION}-1.fc43"


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    # As conftest's fixture_rpms: default backends minus ROCm (the fixture has no HIP backend).
    result = build_fixture_rpms(tmp_path_factory.mktemp("e2e-split"), build_args=("--without", "rocm"),
                                layout="split")
    yield result
    result["server"].stop()


def _binary(rpms):
    return [r for r in rpms if "-debuginfo-" not in r.name and "-debugsource-" not in r.name]


def test_render_writes_one_spec_per_source_package(split):
    project = split["project"]
    assert (project / "ollama.spec").is_file() and (project / "ollama-ggml-vulkan.spec").is_file()
    out = split["steps"]["render"].stdout.split()
    assert [p.rsplit("/", 1)[-1] for p in out] == ["ollama.spec", "ollama-ggml-cuda.spec", "ollama-ggml-cuda12.spec",
                                                   "ollama-ggml-rocm.spec", "ollama-ggml-vulkan.spec"]
    proc = run_cli("render", "--check", "--layout", "split", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The main spec of the split layout builds no GPU backend and has no %bcond for one.
    main = (project / "ollama.spec").read_text()
    assert "%bcond" not in main and "ggml-vulkan" not in main


def test_one_srpm_per_source_package_and_what_each_builds(split):
    # `srpm` makes every SRPM of the layout; `build` builds the backends turned on (not CUDA, not ROCm here).
    assert [s.name for s in split["srpms"]] == [f"{name}-{EVR}.src.rpm" for name in (
        "ollama", "ollama-ggml-cuda", "ollama-ggml-cuda12", "ollama-ggml-rocm", "ollama-ggml-vulkan")]
    names = rpm_names(_binary(split["rpms"]))
    levels = sorted(set(split["cfg"]["cpu_variants"]["x86_64"].values()))
    assert set(names) == {"ollama", "ollama-ggml-vulkan", *(f"ollama-ggml-cpu-x86_64-{lvl}" for lvl in levels)}
    # each package from its own source package, same version-release
    for name, rpm in names.items():
        source = rpm_query(rpm, "--qf", "%{SOURCERPM}")
        expected = "ollama-ggml-vulkan" if name == "ollama-ggml-vulkan" else "ollama"
        assert source == f"{expected}-{EVR}.src.rpm", name
    assert (split["results"] / "ollama" / "x86_64").is_dir()
    assert (split["results"] / "ollama-ggml-vulkan" / "x86_64").is_dir()


def test_srpm_of_one_package_as_coprs_make_srpm_asks(split, tmp_path):
    proc = run_cli("srpm", "--layout", "split", "--package", "ollama-ggml-vulkan", "--outdir", tmp_path / "one",
                   "--macros", STANDIN_MACROS, cwd=split["project"], env=split["env"])
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "one").glob("*.src.rpm")] == [f"ollama-ggml-vulkan-{EVR}.src.rpm"]
    proc = run_cli("srpm", "--layout", "split", "--package", "ollama-ggml-metal", "--outdir", tmp_path / "none",
                   cwd=split["project"], env=split["env"])
    assert proc.returncode == 2 and "--package ollama-ggml-metal: not a source package" in proc.stderr


def test_the_backend_package_builds_no_go_and_no_cpu_variant(split):
    vulkan_srpm = split["srpms"][-1]
    sources = subprocess.run(["rpm", "-qlp", str(vulkan_srpm)], capture_output=True, text=True, check=True).stdout
    assert "vendor" not in sources and ".patch" not in sources      # no Go modules, no Go patches
    log = (split["results"] / "ollama-ggml-vulkan" / "x86_64" / "build.log").read_text(errors="replace")
    assert "-DGGML_VULKAN=ON" in log and "--target ggml-vulkan" in log
    assert "go build" not in log and "GGML_CPU_ALL_VARIANTS=ON" not in log
    assert "--target llama-server" not in log and "build-cpu" not in log
    main_log = (split["results"] / "ollama" / "x86_64" / "build.log").read_text(errors="replace")
    assert "GGML_VULKAN" not in main_log and "build-vulkan" not in main_log
    files = rpm_files(rpm_names(_binary(split["rpms"]))["ollama-ggml-vulkan"])
    libs = sorted(p for p in files if p.startswith(LIBDIR))
    assert libs == [f"{LIBDIR}/vulkan", f"{LIBDIR}/vulkan/libggml-vulkan.so"]
    assert "/usr/share/licenses/ollama-ggml-vulkan/llama.cpp-licenses/LICENSE" in files


def test_the_backend_requires_ollama_of_exactly_its_version_release(split):
    names = rpm_names(_binary(split["rpms"]))
    requires = rpm_deps(names["ollama-ggml-vulkan"], "--requires")
    assert f"ollama(x86-64) = {EVR}" in requires
    assert not [r for r in requires if r.startswith(("libggml", "libllama"))]
    provides = rpm_deps(names["ollama-ggml-vulkan"], "--provides")
    assert f"ollama-vulkan = {EVR}" in provides                   # Fedora's old package name moves with it
    obsoletes = rpm_query(names["ollama"], "--obsoletes")
    assert "ollama-vulkan" not in obsoletes                      # the main package no longer removes it


def test_main_and_backend_install_together_and_satisfy_each_other(split, tmp_path):
    root = tmp_path / "root"
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    rpms = [str(r) for r in _binary(split["rpms"])]
    # No glibc in the scratch root, and scriptlets would run systemctl: payloads only.
    # Without --replacefiles: a file in both packages would be a conflict here.
    proc = subprocess.run(["rpm", "--root", str(root), "-i", "--nodeps", "--noscripts", *rpms],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # Every dependency one of our packages has on another is met by the installed set
    # (rpm prints a Requires and the Provides meeting it in the same form).
    provided = set(subprocess.run(["rpm", "--root", str(root), "-qa", "--provides"], capture_output=True,
                                  text=True, check=True).stdout.splitlines())
    ours = [(rpm, r) for rpm in rpms for r in rpm_deps(rpm, "--requires") if r.startswith("ollama")]
    assert any(r == f"ollama(x86-64) = {EVR}" for _, r in ours)      # the backend's, among them
    missing = [(rpm, r) for rpm, r in ours if r not in provided]
    assert not missing, missing
    assert (root / LIBDIR.lstrip("/") / "vulkan" / "libggml-vulkan.so").is_file()
    assert (root / "usr/bin/ollama").is_file()


def test_specs_srpms_and_rpms_pass_the_lint_gate(split):
    project = split["project"]
    specs = [project / "ollama.spec", project / "ollama-ggml-vulkan.spec"]
    report = lint_paths([*specs, *split["srpms"], *split["rpms"]], project, macros=[STANDIN_MACROS])
    detail = "\n".join(f"{f.path}: {m}" for f in report.files for m in getattr(f, "messages", []))
    assert report.errors == 0 and report.warnings == 0, detail
    assert len(report.files) == len(split["rpms"]) + 2 + len(split["srpms"])
    # The command a packager runs: the project's specs and every RPM under the result dir.
    proc = run_cli("lint", "--resultdir", split["results"], "--macros", STANDIN_MACROS, cwd=project,
                   env=split["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ollama-ggml-vulkan.spec" in proc.stdout


def test_smoke_checks_the_combined_install(split):
    proc = run_cli("smoke", "--engine", "rootfs", "--json", "--timeout", "60", split["results"],
                   env=split["env"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert {"ollama", "ollama-ggml-vulkan", "ollama-ggml-cpu-x86_64-v1"} <= set(report["packages"])
    [gpu] = report["gpu"]
    assert gpu["package"] == "ollama-ggml-vulkan" and gpu["loads"] is True
    assert report["server_version"] == VERSION
    assert upstream.COMPAT_MARKER in "\n".join(report["server_log_tail"]) or report["cpu"]["loaded"]


# --- CUDA: the backend package built with NVIDIA's nvcc (no GPU needed) --------------

NVCC = find_nvcc()


@pytest.fixture(scope="module")
def split_cuda(tmp_path_factory):
    import os
    import re

    from fixture.project import configure_cuda
    if NVCC is None:
        pytest.skip("needs NVIDIA's nvcc (CUDA toolkit): set CUDACXX, put it on PATH or install it under "
                    "/usr/local/cuda (.ci/bootstrap does)")
    tmp = tmp_path_factory.mktemp("e2e-split-cuda")
    version = subprocess.run([NVCC, "--version"], capture_output=True, text=True, check=True).stdout
    major = int(re.search(r"release (\d+)\.", version).group(1))
    backend = "cuda12" if major == 12 else "cuda"
    stub = tmp / "driver-stub"
    stub.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(stub / "libcuda.so"),
                    str(STANDIN_MACROS.parent / "libcuda-stub.c")], check=True)

    def configure(project, cfg):
        return configure_cuda(project, cfg, major=major, gpu_targets=["75-virtual", "86"],
                              host_compiler=shutil.which("g++-12") or shutil.which("g++"), nvcc=NVCC,
                              backend=backend, driver_stub=stub / "libcuda.so")

    env = {"CUDACXX": NVCC, "PATH": os.pathsep.join([os.path.dirname(NVCC), os.environ["PATH"]])}
    macros = [glibc_before_2_41_macros(tmp / "glibc.macros")] if backend == "cuda12" else []
    result = build_fixture_rpms(tmp, configure=configure, env=env, layout="split", macros=macros,
                                build_args=("--with", backend, "--without", "rocm", "--without", "vulkan"))
    result.update(backend=backend, package=f"ollama-ggml-{backend}", runner=f"{LIBDIR}/cuda_v{major}")
    yield result
    result["server"].stop()


def test_cuda_backend_package_builds_alone_and_installs_with_ollama(split_cuda, tmp_path):
    names = rpm_names(_binary(split_cuda["rpms"]))
    assert split_cuda["package"] in names and "ollama-ggml-vulkan" not in names
    cuda = names[split_cuda["package"]]
    assert rpm_query(cuda, "--qf", "%{SOURCERPM}") == f"{split_cuda['package']}-{EVR}.src.rpm"
    files = rpm_files(cuda)
    assert f"{split_cuda['runner']}/libggml-cuda.so" in files
    assert not [p for p in files if "libcudart" in p or "libcublas" in p]          # bundled runtimes deleted
    requires = rpm_deps(cuda, "--requires")
    assert f"ollama(x86-64) = {EVR}" in requires and not [r for r in requires if r.startswith("libcuda.so.1")]
    log = (split_cuda["results"] / split_cuda["package"] / "x86_64" / "build.log").read_text(errors="replace")
    assert "--target ggml-cuda" in log and "go build" not in log and "GGML_CPU_ALL_VARIANTS=ON" not in log
    root = tmp_path / "root"
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    proc = subprocess.run(["rpm", "--root", str(root), "-i", "--nodeps", "--noscripts",
                           *map(str, _binary(split_cuda["rpms"]))], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (root / split_cuda["runner"].lstrip("/") / "libggml-cuda.so").is_file()
    report = lint_paths([split_cuda["project"] / "ollama.spec",
                         split_cuda["project"] / f"{split_cuda['package']}.spec", *split_cuda["srpms"],
                         *split_cuda["rpms"]], split_cuda["project"], macros=[STANDIN_MACROS])
    detail = "\n".join(f"{f.path}: {m}" for f in report.files for m in getattr(f, "messages", []))
    assert report.errors == 0 and report.warnings == 0, detail
