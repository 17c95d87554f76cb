"""The upstream-shaped fixture builds, by hand, the way the spec builds it.

The slow tests unpack the generated tarballs and run the spec's %prep and
%build steps (patch, cmake CPU + Vulkan, go build) without rpm, then check
the install layout, ELF dynamic sections, the CPU variant the loader picks,
the compat patch, the version stamp and the patched library lookup.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import REPO, STANDIN_MACROS
from fixture.upstream import (
    COMPAT_MARKER,
    COMPAT_MODELS_MARKER,
    COMPAT_MODELS_PATCH,
    COMPAT_PATCH,
    COMPAT_UNPATCHED_MARKER,
    CPU_VARIANTS,
    GGML_VERSION,
    GO_PATCH_NAME,
    LLAMA_VERSION,
    RUNTIME_LIB,
    go_offline_env,
    make_llama_cpp_tarball,
    make_ollama_tarball,
    make_vendor_tarball,
    write_fixture_patches,
)
from ollama_rpm.specgen import manifest

VERSION = "0.32.15"
TAG = "b10488"

def _fedora_flag(macro: str) -> str:
    """Fedora x86_64's %{macro} as the stand-in models it (tests/support/
    fedora-macros.standin, the one place the flag list lives)."""
    return subprocess.run(["rpm", "--target", "x86_64", "--load", str(STANDIN_MACROS), "--eval", f"%{{{macro}}}"],
                          capture_output=True, text=True, check=True).stdout.strip()


# What the spec's CPU build compiles with: Fedora's flags, -march/-mtune stripped.
OPTFLAGS = re.sub(r"(^| )-m(arch|tune)=\S+", "", _fedora_flag("build_cflags")).strip()
LDFLAGS = _fedora_flag("build_ldflags")

CPU_FILES = {
    "llama-server", "llama-quantize",
    "libggml-base.so", "libggml-base.so.0", f"libggml-base.so.{GGML_VERSION}",
    "libggml.so", "libggml.so.0", f"libggml.so.{GGML_VERSION}",
    "libllama.so", "libllama.so.0", f"libllama.so.{LLAMA_VERSION}",
    "libmtmd.so", "libmtmd.so.0", f"libmtmd.so.{LLAMA_VERSION}",
    "libllama-common.so", "libllama-common.so.0", f"libllama-common.so.{LLAMA_VERSION}",
    "libllama-server-impl.so", "libllama-quantize-impl.so",
} | {f"libggml-cpu-{v}.so" for v in CPU_VARIANTS}
UPSTREAM_MANIFEST = REPO / "tests" / "data" / "upstream-install-manifest.txt"
VULKAN_FILES = {"vulkan/libggml-vulkan.so", f"vulkan/{RUNTIME_LIB}"}

needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("cmake", "go", "git", "patch", "readelf", "cc", "c++")),
    reason="cmake, go, git, patch, readelf and a C/C++ compiler are required")


# ------------------------------------------------------------------ helpers

def run(cmd, cwd=None, env=None, check=True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd!r} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dynamic(path: Path) -> dict:
    """SONAME, NEEDED, RUNPATH/RPATH of an ELF file (via readelf -d)."""
    out = run(["readelf", "-d", str(path)]).stdout
    info = {"SONAME": None, "NEEDED": [], "RUNPATH": None}
    for line in out.splitlines():
        m = re.search(r"\((SONAME|NEEDED|RUNPATH|RPATH)\)\s+.*\[(.*)\]", line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key == "NEEDED":
            info["NEEDED"].append(value)
        elif key in ("RUNPATH", "RPATH"):
            info["RUNPATH"] = value
        else:
            info["SONAME"] = value
    return info


def listing(root: Path) -> set:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def build_env(cflags: str = OPTFLAGS) -> dict:
    env = dict(os.environ)
    env.update(CFLAGS=cflags, CXXFLAGS=cflags, LDFLAGS=LDFLAGS)
    return env


def go_env() -> dict:
    # Fedora's %cmake exported LDFLAGS: reset before go build (FACTS.md)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CFLAGS", "CXXFLAGS", "LDFLAGS", "GOFLAGS")}
    env.update(GOFLAGS="-mod=vendor", GOPROXY="off", GOSUMDB="off",
               GOTOOLCHAIN="local", GOWORK="off", CGO_ENABLED="1")
    return env


def prep(workdir: Path, sources: Path, patches) -> Path:
    """%prep: unpack Source0, Source1 and Source2 inside it, apply patches."""
    run(["tar", "xzf", str(sources / f"ollama-{VERSION}.tar.gz")], cwd=workdir)
    top = workdir / f"ollama-{VERSION}"
    run(["tar", "xzf", str(sources / f"llama.cpp-{TAG}.tar.gz")], cwd=top)
    run(["tar", "xzf", str(sources / f"ollama-{VERSION}-vendor.tar.gz")], cwd=top)
    for patch in patches:
        with open(patch) as fh:
            subprocess.run(["patch", "-p1", "--fuzz=0"], cwd=top, stdin=fh, check=True,
                           stdout=subprocess.DEVNULL)
    # as the spec's %prep (and upstream's apply-patch.cmake): git apply
    for compat in (COMPAT_PATCH, COMPAT_MODELS_PATCH):
        subprocess.run(["git", "-C", f"llama.cpp-{TAG}", "apply", "--whitespace=nowarn", str(top / compat)],
                       cwd=top, check=True, env=dict(os.environ, GIT_CEILING_DIRECTORIES=str(top)))
    return top


def cmake_configure(top: Path, builddir: str, env: dict, *extra: str):
    cmd = [
        "cmake", "-S", "llama/server", "-B", builddir,
        # %cmake defaults
        "-DCMAKE_C_FLAGS_RELEASE=-DNDEBUG", "-DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG",
        "-DCMAKE_Fortran_FLAGS_RELEASE=-DNDEBUG", "-DCMAKE_VERBOSE_MAKEFILE=ON",
        "-DCMAKE_INSTALL_DO_STRIP=OFF", "-DINCLUDE_INSTALL_DIR=/usr/include",
        "-DLIB_INSTALL_DIR=/usr/lib64", "-DSYSCONF_INSTALL_DIR=/etc",
        "-DSHARE_INSTALL_PREFIX=/usr/share", "-DLIB_SUFFIX=64",
        # the spec's flags
        "-DCMAKE_INSTALL_PREFIX=/usr", "-DBUILD_SHARED_LIBS=ON",
        "-DCMAKE_BUILD_TYPE=Release", "-DOLLAMA_LIB_DIR=lib64/ollama",
        f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP={top}/llama.cpp-{TAG}",
        "-DFETCHCONTENT_FULLY_DISCONNECTED=ON",
        "-DOLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH=ON",
        "-DGGML_BACKEND_DL=ON", "-DGGML_NATIVE=OFF", "-DGGML_OPENMP=OFF",
        "-DGGML_BACKEND_DIR=/usr/lib64/ollama",
        *extra,
    ]
    run(cmd, cwd=top, env=env)


def cmake_build_install(top: Path, builddir: str, destdir: Path, env: dict,
                        component: bool = False):
    run(["cmake", "--build", builddir, "-j", str(os.cpu_count() or 2)], cwd=top, env=env)
    cmd = ["cmake", "--install", builddir]
    if component:
        cmd += ["--component", "llama-server"]
    run(cmd, cwd=top, env=dict(env, DESTDIR=str(destdir)))


def go_build(top: Path, pkglibdir: str, out: str = "build/ollama"):
    buildid = "0x" + hashlib.sha1(out.encode()).hexdigest()
    ldflags = (f"-B {buildid} "
               f"-X=github.com/ollama/ollama/version.Version={VERSION} "
               "-X=github.com/ollama/ollama/server.mode=release "
               f"-X=github.com/ollama/ollama/ml.PackageLibDir={pkglibdir} "
               "-linkmode=external")
    run(["go", "build", "-buildmode", "pie", "-tags", "rpm_crashtraceback",
         "-ldflags", ldflags, "-o", out, "."], cwd=top, env=go_env())
    return top / out


# ----------------------------------------------------------- fast (no build)

@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("sources")
    make_ollama_tarball(d, VERSION, TAG)
    make_llama_cpp_tarball(d, TAG)
    if shutil.which("go"):
        make_vendor_tarball(d, VERSION, TAG)
    return d


def test_tarballs_are_deterministic_and_github_shaped(tmp_path, sources):
    a = make_ollama_tarball(tmp_path / "a", VERSION, TAG)
    b = make_ollama_tarball(tmp_path / "b", VERSION, TAG)
    assert a.name == f"ollama-{VERSION}.tar.gz"
    assert sha256(a) == sha256(b) == sha256(sources / a.name)
    la = make_llama_cpp_tarball(tmp_path / "a", TAG)
    lb = make_llama_cpp_tarball(tmp_path / "b", TAG)
    assert la.name == f"llama.cpp-{TAG}.tar.gz"
    assert sha256(la) == sha256(lb)

    for tarball, top in ((a, f"ollama-{VERSION}"), (la, f"llama.cpp-{TAG}")):
        with tarfile.open(tarball) as tar:
            members = tar.getmembers()
        names = [m.name for m in members]
        assert names[0] == top
        assert all(n == top or n.startswith(top + "/") for n in names)
        assert names == sorted(names, key=lambda n: n.split("/"))
        assert {m.mtime for m in members} == {members[0].mtime}
        assert {(m.uid, m.gid) for m in members} == {(0, 0)}


def test_ollama_tree_contents(sources):
    with tarfile.open(sources / f"ollama-{VERSION}.tar.gz") as tar:
        def read(name):
            return tar.extractfile(f"ollama-{VERSION}/{name}").read().decode()
        names = set(tar.getnames())
        assert read("LLAMA_CPP_VERSION").strip() == TAG
        gomod = read("go.mod")
        assert "module github.com/ollama/ollama" in gomod
        assert re.search(r"^go 1\.19$", gomod, re.M)
        assert "replace github.com/ollama-rpm/fixturedep => ./third_party/fixturedep" in gomod
        assert 'var Version string = "0.0.0"' in read("version/version.go")
        assert "var mode string" in read("server/routes.go")
        assert 'import "C"' in read("main.go")
        server = read("llama/server/CMakeLists.txt")
        assert re.search(r'FetchContent_Declare\(\s*llama_cpp\s+GIT_REPOSITORY\s+'
                         r'"https://github.com/ggml-org/llama.cpp.git"\s+GIT_TAG', server)
        assert "FetchContent_MakeAvailable(llama_cpp)" in server
        assert "OLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH" in server
        for f in ("LICENSE", "README.md", "third_party/fixturedep/LICENSE", COMPAT_PATCH,
                  "ml/path.go", "cmd/cmd.go"):
            assert f"ollama-{VERSION}/{f}" in names
        assert not any("/vendor/" in n for n in names)


def test_cpu_variant_flags_match_ggml():
    assert CPU_VARIANTS["x64"] == []
    assert CPU_VARIANTS["sse42"] == ["-msse4.2"]
    assert CPU_VARIANTS["sandybridge"] == ["-msse4.2", "-mavx"]
    assert set(CPU_VARIANTS["haswell"]) == {"-msse4.2", "-mavx", "-mf16c", "-mfma",
                                            "-mavx2", "-mbmi2"}
    assert set(CPU_VARIANTS["skylakex"]) == set(CPU_VARIANTS["haswell"]) | {
        "-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw"}
    assert set(CPU_VARIANTS["alderlake"]) == set(CPU_VARIANTS["haswell"]) | {"-mavxvnni"}
    assert set(CPU_VARIANTS["icelake"]) == set(CPU_VARIANTS["skylakex"]) | {
        "-mavx512vbmi", "-mavx512vnni"}


@pytest.mark.skipif(not (shutil.which("patch") and shutil.which("git")), reason="patch(1) and git required")
def test_patches_apply_as_prep_applies_them(tmp_path, sources):
    patches = write_fixture_patches(tmp_path / "patches")
    assert [p.name for p in patches] == [GO_PATCH_NAME]
    if not (sources / f"ollama-{VERSION}-vendor.tar.gz").exists():
        pytest.skip("go missing: no vendor tarball")
    top = prep(tmp_path, sources, patches)
    assert "var PackageLibDir string" in (top / "ml/path.go").read_text()
    patched = (top / f"llama.cpp-{TAG}/src/llama.cpp").read_text()
    assert "llama_ollama_compat_info()" in patched and COMPAT_MODELS_MARKER in patched
    assert not [p for p in top.rglob("*") if p.suffix in (".orig", ".rej")]


@pytest.mark.skipif(not shutil.which("go"), reason="go required")
def test_go_mod_vendor_offline(tmp_path, sources):
    env = go_offline_env()
    assert env["GOSUMDB"] == "off" and "direct" not in env["GOPROXY"]   # go.sum, not a VCS
    tarball = make_vendor_tarball(tmp_path, VERSION, TAG, env=env)
    assert sha256(tarball) == sha256(sources / tarball.name)
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        modules = tar.extractfile("vendor/modules.txt").read().decode()
    assert "vendor/github.com/ollama-rpm/fixturedep/LICENSE" in names
    assert "vendor/github.com/ollama-rpm/fixturedep/fixturedep.go" in names
    assert "# github.com/ollama-rpm/fixturedep v0.1.0 => ./third_party/fixturedep" in modules
    # The two real modules from the proxy, with their licenses.
    assert "# golang.org/x/sync v0.10.0" in modules and "# github.com/x448/float16 v0.8.4" in modules
    assert {"vendor/golang.org/x/sync/LICENSE", "vendor/github.com/x448/float16/LICENSE"} <= names
    assert "## explicit" in modules


@needs_tools
def test_fetchcontent_needs_the_source_override(tmp_path, sources):
    """Like upstream, llama/server only configures offline because
    FETCHCONTENT_SOURCE_DIR_LLAMA_CPP is given."""
    run(["tar", "xzf", str(sources / f"ollama-{VERSION}.tar.gz")], cwd=tmp_path)
    top = tmp_path / f"ollama-{VERSION}"
    proc = run(["cmake", "-S", "llama/server", "-B", "b",
                "-DFETCHCONTENT_FULLY_DISCONNECTED=ON",
                "-DOLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH=ON"], cwd=top, check=False)
    assert proc.returncode != 0
    assert 'target "llama-server" which does not exist' in proc.stdout


# ------------------------------------------------------- slow: real builds

@pytest.fixture(scope="module")
def built(tmp_path_factory, sources):
    """The spec's %prep/%build/%install by hand: CPU, Vulkan, Go."""
    if not all(shutil.which(t) for t in ("cmake", "go", "git", "patch", "readelf")):
        pytest.skip("toolchain missing")
    work = tmp_path_factory.mktemp("build")
    patches = write_fixture_patches(work / "patches")
    top = prep(work, sources, patches)
    env = build_env()
    t0 = time.monotonic()

    cmake_configure(top, "build-cpu", env,
                    "-DGGML_CPU_ALL_VARIANTS=ON")
    # exactly the spec's step ...
    cmake_build_install(top, "build-cpu", work / "root-plain", env)
    # ... and upstream's own install (the superbuild uses --component)
    cmake_build_install(top, "build-cpu", work / "root", env, component=True)
    t_cpu = time.monotonic() - t0

    vk = ("-DOLLAMA_RUNNER_DIR=vulkan", "-DGGML_VULKAN=ON", "-DGGML_CPU_ALL_VARIANTS=OFF")
    cmake_configure(top, "build-vulkan", env, *vk)
    cmake_build_install(top, "build-vulkan", work / "root-vulkan-plain", env)
    # upstream's vulkan preset also sets OLLAMA_GPU_BACKEND=vulkan
    cmake_configure(top, "build-vulkan", env, *vk, "-DOLLAMA_GPU_BACKEND=vulkan")
    cmake_build_install(top, "build-vulkan", work / "root", env, component=True)
    t_vulkan = time.monotonic() - t0 - t_cpu

    libdir = work / "root/usr/lib64/ollama"
    ollama = go_build(top, "/usr/lib64/ollama")
    ollama_here = go_build(top, str(libdir), out="build/ollama-pkglibdir")
    t_go = time.monotonic() - t0 - t_cpu - t_vulkan
    print(f"\nfixture build times: cpu {t_cpu:.1f}s vulkan {t_vulkan:.1f}s go {t_go:.1f}s")
    return {"work": work, "top": top, "libdir": libdir, "ollama": ollama,
            "ollama_here": ollama_here}


@pytest.mark.slow
def test_cpu_and_vulkan_install_layout(built):
    libdir = built["libdir"]
    assert listing(libdir) == CPU_FILES | VULKAN_FILES
    # everything of the component install is under lib64/ollama
    assert {p.split("/")[0] for p in listing(built["work"] / "root")} == {"usr"}
    assert all(p.startswith("usr/lib64/ollama/") for p in listing(built["work"] / "root"))
    for name in ("libggml-base.so", "libggml.so", "libllama.so", "libmtmd.so", "libllama-common.so"):
        assert (libdir / name).is_symlink()
        assert (libdir / f"{name}.0").is_symlink()


@pytest.mark.slow
def test_cpu_install_has_the_shape_of_the_recorded_upstream_install(built):
    """Same names, file types and link targets as the real tree's recorded
    install (tests/data), except that the fixture builds a subset of the CPU
    variants: a re-recorded manifest with a new file fails here until the
    fixture installs it too."""
    libdir = built["libdir"]
    recorded = manifest.load(UPSTREAM_MANIFEST)
    fixture = {}
    for path in sorted(libdir.iterdir()):
        if path.is_dir():
            continue
        fixture[path.name] = os.readlink(path) if path.is_symlink() else ""
    variants = set(manifest.cpu_variants(recorded))
    expected = {e.name: e.target for e in recorded if not manifest.CPU_VARIANT.match(e.name)}
    expected.update({f"libggml-cpu-{v}.so": "" for v in CPU_VARIANTS})
    assert set(CPU_VARIANTS) <= variants
    assert fixture == expected


@pytest.mark.slow
def test_plain_install_also_installs_llama_cpp_files(built):
    """Upstream trap: a plain `cmake --install` also runs llama.cpp's and
    ggml's own install rules (headers, libs in the libdir, llama.pc)."""
    root = built["work"] / "root-plain"
    files = listing(root)
    inside = {p[len("usr/lib64/ollama/"):] for p in files if p.startswith("usr/lib64/ollama/")}
    assert inside == CPU_FILES
    outside = files - {f"usr/lib64/ollama/{p}" for p in inside}
    assert "usr/include/ggml.h" in outside and "usr/include/llama.h" in outside
    assert any(p.endswith("/libggml-base.so.0") for p in outside)
    assert any(p.endswith("pkgconfig/llama.pc") for p in outside)
    # ggml's own rule installs the modules with their RPATH rewritten
    for v in CPU_VARIANTS:
        assert dynamic(root / f"usr/lib64/ollama/libggml-cpu-{v}.so")["RUNPATH"] == "$ORIGIN"


@pytest.mark.slow
def test_vulkan_without_gpu_backend_name_bundles_too_much(built):
    """Upstream trap: without -DOLLAMA_GPU_BACKEND=vulkan the runner glob is
    libggml-* and catches ggml-base and the generic CPU backend too."""
    root = built["work"] / "root-vulkan-plain/usr/lib64/ollama"
    files = listing(root)
    assert files >= VULKAN_FILES
    assert "vulkan/libggml-base.so.0" in files
    assert "vulkan/libggml-cpu.so" in files
    assert "libggml-vulkan.so" in files  # ggml's GGML_BACKEND_DIR rule


@pytest.mark.slow
def test_elf_dynamic_sections(built):
    libdir = built["libdir"]
    expect_soname = {
        f"libggml-base.so.{GGML_VERSION}": "libggml-base.so.0",
        f"libggml.so.{GGML_VERSION}": "libggml.so.0",
        f"libllama.so.{LLAMA_VERSION}": "libllama.so.0",
        f"libmtmd.so.{LLAMA_VERSION}": "libmtmd.so.0",
        f"libllama-common.so.{LLAMA_VERSION}": "libllama-common.so.0",
    }
    for name, soname in expect_soname.items():
        assert dynamic(libdir / name)["SONAME"] == soname
    assert "libggml-base.so.0" in dynamic(libdir / f"libggml.so.{GGML_VERSION}")["NEEDED"]
    assert "libllama.so.0" in dynamic(libdir / f"libmtmd.so.{LLAMA_VERSION}")["NEEDED"]
    # as upstream: the executables NEED the unversioned impl libraries
    assert "libllama-server-impl.so" in dynamic(libdir / "llama-server")["NEEDED"]
    assert "libllama-quantize-impl.so" in dynamic(libdir / "llama-quantize")["NEEDED"]
    impl = dynamic(libdir / "libllama-server-impl.so")
    assert impl["SONAME"] == "libllama-server-impl.so"
    assert {"libllama.so.0", "libmtmd.so.0", "libllama-common.so.0"} <= set(impl["NEEDED"])
    for name in [*expect_soname, "llama-server", "llama-quantize", "libllama-server-impl.so",
                 "libllama-quantize-impl.so"]:
        assert dynamic(libdir / name)["RUNPATH"] == "$ORIGIN", name
    for v in CPU_VARIANTS:
        d = dynamic(libdir / f"libggml-cpu-{v}.so")
        assert d["SONAME"] is None
        assert "libggml-base.so.0" in d["NEEDED"]
        # globbed out of the build tree by install(CODE): CMake's build
        # RUNPATH (with the build directory) is kept -- as upstream.
        # Fix: -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON (test_global_march_still_builds).
        assert d["RUNPATH"].split(":")[0] == "$ORIGIN"
        assert "build-cpu/bin" in d["RUNPATH"]
    vk = dynamic(libdir / "vulkan/libggml-vulkan.so")
    assert vk["SONAME"] is None and "libggml-base.so.0" in vk["NEEDED"]
    assert vk["RUNPATH"] == "$ORIGIN"
    assert dynamic(libdir / f"vulkan/{RUNTIME_LIB}")["SONAME"] == RUNTIME_LIB


@pytest.mark.slow
def test_llama_server_picks_a_cpu_variant(built):
    libdir = built["libdir"]
    out = run([str(libdir / "llama-server"), "--list-devices"], cwd="/").stdout
    m = re.search(r"CPU: ggml-cpu-(\w+) \(score (\d+)\)", out)
    assert m, out
    assert m.group(1) in CPU_VARIANTS and int(m.group(2)) > 0
    assert f"path: {libdir}/libggml-cpu-{m.group(1)}.so" in out
    assert "self-test: ok" in out
    # the highest score among all candidates wins
    verbose = run([str(libdir / "llama-server"), "--list-devices"], cwd="/",
                  env=dict(os.environ, GGML_LOG_BACKENDS="1")).stdout
    scores = {Path(p).name: int(s) for p, s in re.findall(r"candidate (\S+) score (\d+)", verbose)}
    assert set(scores) == {f"libggml-cpu-{v}.so" for v in CPU_VARIANTS}
    assert scores["libggml-cpu-x64.so"] == 1
    assert max(scores.values()) == int(m.group(2))


@pytest.mark.slow
def test_compat_patch_is_applied(built):
    out = run([str(built["libdir"] / "llama-server"), "--list-devices"], cwd="/").stdout
    assert COMPAT_MARKER in out
    assert COMPAT_UNPATCHED_MARKER not in out


@pytest.mark.slow
def test_ollama_version_and_mode(built):
    env = dict(os.environ, OLLAMA_HOST="127.0.0.1:9")  # nothing listens there
    out = run([str(built["ollama"]), "--version"], env=env).stdout
    assert "Warning: could not connect to a running Ollama instance" in out
    assert f"Warning: client version is {VERSION}" in out
    assert run([str(built["ollama"]), "fixture-mode"]).stdout.strip() == "release"
    d = dynamic(built["ollama"])
    assert "libc.so.6" in d["NEEDED"]  # cgo + external linking


@pytest.mark.slow
def test_ollama_library_lookup(built):
    # -X ml.PackageLibDir=<existing dir>: used first
    out = run([str(built["ollama_here"]), "fixture-libdir"], cwd="/").stdout.strip()
    assert out == str(built["libdir"])
    # -X ml.PackageLibDir=/usr/lib64/ollama does not exist on this host:
    # falls back to upstream's order, here the executable's directory
    if not Path("/usr/lib64/ollama").is_dir():
        out = run([str(built["ollama"]), "fixture-libdir"], cwd="/").stdout.strip()
        assert out == str(built["ollama"].parent)
    # upstream order: exe/../lib/ollama wins over the exe's directory
    (built["top"] / "lib/ollama").mkdir(parents=True, exist_ok=True)
    out = run([str(built["ollama"]), "fixture-libdir"], cwd="/").stdout.strip()
    assert out == str(built["top"] / "lib/ollama")


@pytest.mark.slow
@needs_tools
def test_global_march_still_builds(tmp_path, sources):
    """-march=x86-64-v3 leaking into CFLAGS: the build still works (the ISA
    audit that catches the leak is tested elsewhere)."""
    patches = write_fixture_patches(tmp_path / "patches")
    top = prep(tmp_path, sources, patches)
    env = build_env(OPTFLAGS + " -march=x86-64-v3")
    cmake_configure(top, "build-cpu", env, "-DGGML_CPU_ALL_VARIANTS=ON",
                    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON")
    cmake_build_install(top, "build-cpu", tmp_path / "root", env, component=True)
    libdir = tmp_path / "root/usr/lib64/ollama"
    assert listing(libdir) == CPU_FILES
    # with CMAKE_BUILD_WITH_INSTALL_RPATH the globbed modules are clean too
    for v in CPU_VARIANTS:
        assert dynamic(libdir / f"libggml-cpu-{v}.so")["RUNPATH"] == "$ORIGIN"
    if "avx2" in Path("/proc/cpuinfo").read_text():
        out = run([str(libdir / "llama-server"), "--list-devices"], cwd="/").stdout
        assert re.search(r"CPU: ggml-cpu-\w+ \(score [1-9]\d*\)", out), out
