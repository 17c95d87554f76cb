"""`ollama-rpm build --engine rpmbuild`: a real rpmbuild of tiny SRPMs made here."""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import STANDIN_MACROS, run_cli

pytestmark = pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is not installed")

TINY_SPEC = """\
%bcond vulkan 1
Name:           {name}
Version:        1.0
Release:        1
Summary:        A tiny package for build tests
License:        MIT
BuildArch:      noarch
BuildRequires:  {buildrequires}

%description
A tiny package for build tests.

%package vulkan
Summary: The Vulkan part
%description vulkan
The Vulkan part.

%prep
echo preparing

%build
mkdir -p build-cpu
echo '[ 50%] Building C object foo.o'
echo '[100%] Linking C shared library libfoo.so'
{build_fail}
echo built > build-cpu/out.txt

%install
install -Dpm 0644 build-cpu/out.txt %{{buildroot}}%{{_datadir}}/{name}/out.txt
%if %{{with vulkan}}
install -Dpm 0644 build-cpu/out.txt %{{buildroot}}%{{_datadir}}/{name}/vulkan.txt
%endif

%files
%{{_datadir}}/{name}/out.txt

%if %{{with vulkan}}
%files vulkan
%{{_datadir}}/{name}/vulkan.txt
%endif
"""

BUILD_FAIL = """\
echo 'compiling foo.c'
echo 'foo.c:3:5: error: expected declaration specifiers before '"'"'oops'"'"'' >&2
echo 'make[2]: *** [foo.o] Error 1' >&2
exit 1"""


def srpm_from_spec(tmp_path, name, text):
    """An SRPM built here with `rpmbuild -bs` from the spec text `text`."""
    work = tmp_path / f"srpm-{name}"
    work.mkdir()
    spec = work / f"{name}.spec"
    spec.write_text(text)
    subprocess.run(["rpmbuild", "-bs", "--define", f"_topdir {work}", "--define", f"_srcrpmdir {work}",
                    "--define", f"_sourcedir {work}", str(spec)], check=True, capture_output=True)
    (srpm,) = work.glob("*.src.rpm")
    return srpm


def make_srpm(tmp_path, name, fail=False, buildrequires="rpm"):
    """The tiny package's SRPM (its %build fails with `fail`)."""
    return srpm_from_spec(tmp_path, name, TINY_SPEC.format(name=name, buildrequires=buildrequires,
                                                           build_fail=BUILD_FAIL if fail else ""))


def build(project, tmp_path, srpm, *args):
    out = tmp_path / "out"
    proc = run_cli("build", "--engine", "rpmbuild", "--nodeps", "--macros", STANDIN_MACROS,
                   "--resultdir", out, "--srpm", srpm, *args, cwd=project, env={"CI": "true"})
    return proc, out


def host_arch():
    return subprocess.run(["rpm", "--eval", "%{_arch}"], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow  # rpmbuild
def test_rpmbuild_builds_and_reports_rpms(project, tmp_path):
    srpm = make_srpm(tmp_path, "tiny")
    proc, out = build(project, tmp_path, srpm)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    arch = host_arch()
    rpms = sorted(p.name for p in (out / arch).glob("*.rpm"))
    assert rpms == ["tiny-1.0-1.noarch.rpm", "tiny-vulkan-1.0-1.noarch.rpm"]
    table = proc.stdout[proc.stdout.index("\narch") + 1:].splitlines()
    assert table[2] == f"{arch:<6}  ok      {out}/{arch}/tiny-1.0-1.noarch.rpm"
    assert table[3].strip() == f"{out}/{arch}/tiny-vulkan-1.0-1.noarch.rpm"
    # The log is kept, and the progress lines follow the phases.
    log = (out / arch / "build.log").read_text()
    assert "Executing(%build)" in log and "Wrote: " in log
    steps = [line.split("] ", 1)[1] for line in proc.stdout.splitlines() if line.startswith(f"[{arch}] ")]
    assert steps.index("%prep (unpack, patch)") < steps.index("%build") < steps.index("%install") \
        < steps.index("package files")
    assert steps[-1] == f"done: 2 RPMs in {out}/{arch}"
    # The command line: --load for the macro stand-ins, _rpmdir per arch, --nodeps.
    command = next(line for line in proc.stdout.splitlines() if "building: rpmbuild" in line)
    assert f"--load {STANDIN_MACROS}" in command
    assert f"--define '_rpmdir {out}/{arch}'" in command
    assert "--nodeps" in command and f"--rebuild {srpm}" in command


@pytest.mark.slow  # rpmbuild
def test_rpmbuild_passes_defines_to_the_build(project, tmp_path):
    """--define reaches the spec's macros (as rocm_gpu_list_default narrows ROCm's targets)."""
    srpm = srpm_from_spec(tmp_path, "tiny", TINY_SPEC.format(
        name="tiny", buildrequires="rpm", build_fail='echo "tiny_value=%{?tiny_value} other=%{?tiny_other}"'))
    proc, out = build(project, tmp_path, srpm, "--define", "tiny_value gfx1100;gfx1201", "--define", "tiny_other 2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (out / host_arch() / "build.log").read_text()
    assert "tiny_value=gfx1100;gfx1201 other=2" in log


@pytest.mark.slow  # rpmbuild
def test_rpmbuild_passes_without(project, tmp_path):
    srpm = make_srpm(tmp_path, "tiny")
    proc, out = build(project, tmp_path, srpm, "--without", "vulkan")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in (out / host_arch()).glob("*.rpm")) == ["tiny-1.0-1.noarch.rpm"]


@pytest.mark.slow  # rpmbuild
def test_rpmbuild_failure_reports_phase_and_error(project, tmp_path):
    srpm = make_srpm(tmp_path, "broken", fail=True)
    proc, out = build(project, tmp_path, srpm)
    assert proc.returncode == 1
    arch = host_arch()
    assert "rpmbuild exit 1: %build failed: foo.c:3:5: error: expected declaration specifiers" in proc.stdout
    assert f"read {out}/{arch}/build.log" in proc.stdout
    excerpt = [line for line in proc.stdout.splitlines() if line.startswith("  > ")]
    assert len(excerpt) == 1 and "foo.c:3:5: error:" in excerpt[0]
    assert f"{arch:<6}  FAILED  rpmbuild exit 1: %build failed" in proc.stdout
    assert not list((out / arch).glob("*.rpm"))
    # The build tree is kept for a look, and named.
    kept = proc.stdout.split("(build tree kept in ")[1].split(")")[0]
    shutil.rmtree(kept)


@pytest.mark.slow  # rpmbuild
def test_rpmbuild_missing_build_dependencies(project, tmp_path):
    srpm = make_srpm(tmp_path, "needy", buildrequires="ollama-rpm-test-no-such-package >= 99")
    out = tmp_path / "out"
    proc = run_cli("build", "--engine", "rpmbuild", "--resultdir", out, "--srpm", srpm, cwd=project,
                   env={"CI": "true"})
    assert proc.returncode == 1
    assert "build dependencies failed" in proc.stdout and "--nodeps" in proc.stdout
    assert "ollama-rpm-test-no-such-package >= 99 is needed by" in proc.stdout


def test_rpmbuild_dry_run(project, tmp_path):
    srpm = make_srpm(tmp_path, "tiny")
    proc = run_cli("build", "--engine", "rpmbuild", "--dry-run", "--nodeps", "--macros", STANDIN_MACROS,
                   "--with", "cuda", "--resultdir", tmp_path / "out", "--srpm", srpm, cwd=project)
    assert proc.returncode == 0, proc.stderr
    arch = host_arch()
    assert proc.stdout.strip() == (
        f"rpmbuild --load {STANDIN_MACROS} --define '_topdir <temporary topdir>' "
        f"--define '_rpmdir {tmp_path}/out/{arch}' --define '_srcrpmdir <temporary topdir>/SRPMS' "
        "--define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' --nodeps --with cuda "
        f"--rebuild {srpm}")
    assert not (tmp_path / "out").exists()


def test_rpmbuild_dry_run_shows_defines_after_the_tree(project, tmp_path):
    srpm = make_srpm(tmp_path, "tiny")
    proc = run_cli("build", "--engine", "rpmbuild", "--dry-run", "--nodeps", "--define", "rocm_gpu_list_default gfx1100",
                   "--resultdir", tmp_path / "out", "--srpm", srpm, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert ("--define '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' "
            "--define 'rocm_gpu_list_default gfx1100' --nodeps --rebuild") in proc.stdout


def test_rpmbuild_rejects_mock_options(project, tmp_path):
    srpm = make_srpm(tmp_path, "tiny")
    proc = run_cli("build", "--engine", "rpmbuild", "--chroot", "fedora-43-x86_64", "--srpm", srpm, cwd=project)
    assert proc.returncode == 2 and "--chroot: applies to --engine mock only" in proc.stderr


CCACHE_SPEC = """\
Name:           {name}
Version:        1.0
Release:        1
Summary:        A package that compiles C, for ccache tests
License:        MIT
BuildArch:      noarch

%description
Compiles one C file with the distribution's flags.

%build
%set_build_flags
printf 'int answer(void) {{ return {value}; }}\\n' > answer.c
$CC $CFLAGS -c answer.c -o answer.o
echo "compiler: $(command -v $CC)"
echo built > out.txt

%install
install -Dpm 0644 out.txt %{{buildroot}}%{{_datadir}}/cached/out.txt

%files
%{{_datadir}}/cached/out.txt
"""


def _ccache_counts(ccache_dir):
    out = subprocess.run(["ccache", "--print-stats"], env={"CCACHE_DIR": str(ccache_dir), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout
    stats = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    hits = int(stats["direct_cache_hit"]) + int(stats["preprocessed_cache_hit"])
    return hits, int(stats["cache_miss"])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ccache") is None, reason="needs ccache")
def test_rpmbuild_ccache_second_build_hits(project, tmp_path):
    srpm = _ccache_srpm(tmp_path, "cached", 42)
    ccache_dir = tmp_path / "ccache"
    env = {"CI": "true", "CCACHE_DIR": str(ccache_dir), "OLLAMA_RPM_CACHE": str(tmp_path / "cache")}
    counts = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        proc = run_cli("build", "--engine", "rpmbuild", "--nodeps", "--macros", STANDIN_MACROS, "--ccache",
                       "--resultdir", out, "--srpm", srpm, cwd=project, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        log = (out / host_arch() / "build.log").read_text()
        assert "compiler: /usr/lib" in log and "/ccache/gcc" in log, log
        counts.append(_ccache_counts(ccache_dir))
    assert counts[0] == (0, 1)          # cold: compiled and stored
    assert counts[1] == (1, 1)          # warm: the same compile is a hit
    # The fixed build tree is removed after a successful build.
    assert not any((tmp_path / "cache" / "rpmbuild-ccache").glob("*/BUILD"))



def _ccache_srpm(tmp_path, name, value):
    """An SRPM named `name` whose %build compiles one C file with the distribution's flags."""
    return srpm_from_spec(tmp_path, name, CCACHE_SPEC.format(name=name, value=value))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ccache") is None, reason="needs ccache")
def test_split_layout_ccache_builds_each_package_in_its_own_fixed_tree(project, tmp_path):
    # The split layout's ollama and a backend package, built twice with --ccache:
    # both compile through ccache, each in a fixed tree of its own (the backend's
    # beside the main one, so backends can build side by side), and the second
    # round is served from the cache.
    srpms = [_ccache_srpm(tmp_path, "ollama", 1), _ccache_srpm(tmp_path, "ollama-ggml-vulkan", 2)]
    ccache_dir = tmp_path / "ccache"
    cache = tmp_path / "cache"
    env = {"CI": "true", "CCACHE_DIR": str(ccache_dir), "OLLAMA_RPM_CACHE": str(cache)}
    args = ["build", "--engine", "rpmbuild", "--layout", "split", "--nodeps", "--macros", STANDIN_MACROS,
            "--ccache", *[a for srpm in srpms for a in ("--srpm", srpm)]]
    arch = host_arch()
    dry = run_cli(*args, "--dry-run", "--outdir", tmp_path / "dry", cwd=project, env=env)
    assert dry.returncode == 0, dry.stderr
    assert f"--define '_topdir {cache}/rpmbuild-ccache/{arch}'" in dry.stdout
    assert f"--define '_topdir {cache}/rpmbuild-ccache/ollama-ggml-vulkan/{arch}'" in dry.stdout
    assert dry.stdout.count(f"CCACHE_DIR={ccache_dir}") == 2
    counts = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        proc = run_cli(*args, "--outdir", out, cwd=project, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for package in ("ollama", "ollama-ggml-vulkan"):
            log = (out / package / arch / "build.log").read_text()
            assert "compiler: /usr/lib" in log and "/ccache/gcc" in log, (package, log)
        counts.append(_ccache_counts(ccache_dir))
    assert counts == [(0, 2), (2, 2)]


def test_rpmbuild_ccache_is_rpmbuild_only(project, tmp_path):
    srpm = make_srpm(tmp_path, "tiny")
    proc = run_cli("build", "--engine", "mock", "--ccache", "--dry-run", "--srpm", srpm, cwd=project)
    assert proc.returncode == 2 and "--ccache: applies to --engine rpmbuild only" in proc.stderr


def test_rpmbuild_ccache_dry_run_names_the_cache_and_tree(project, tmp_path):
    if shutil.which("ccache") is None:
        pytest.skip("needs ccache")
    srpm = make_srpm(tmp_path, "tiny")
    proc = run_cli("build", "--engine", "rpmbuild", "--dry-run", "--ccache", "--nodeps", "--srpm", srpm,
                   "--resultdir", tmp_path / "out", cwd=project,
                   env={"CCACHE_DIR": str(tmp_path / "cc"), "OLLAMA_RPM_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"env CCACHE_DIR={tmp_path}/cc 'PATH=/usr/lib")
    assert f"--define '_topdir {tmp_path}/cache/rpmbuild-ccache/{host_arch()}'" in proc.stdout


GOCACHE_SPEC = """\
Name:           gocached
Version:        1.0
Release:        1
Summary:        A package that asks Go for its build cache
License:        MIT
BuildArch:      noarch

%description
Records where go would cache its builds.

%build
echo "gocache=$(go env GOCACHE)"
test -z "$(ls -A "$(go env GOCACHE)" 2>/dev/null)" && echo "gocache-empty=yes"
echo built > out.txt

%install
install -Dpm 0644 out.txt %{buildroot}%{_datadir}/gocached/out.txt

%files
%{_datadir}/gocached/out.txt
"""


@pytest.mark.slow  # rpmbuild
@pytest.mark.skipif(shutil.which("go") is None, reason="needs go")
@pytest.mark.parametrize("ccache", [False, True], ids=["plain", "ccache"])
def test_rpmbuild_gives_go_an_empty_build_cache_of_its_own(project, tmp_path, ccache):
    if ccache and shutil.which("ccache") is None:
        pytest.skip("needs ccache")
    srpm = srpm_from_spec(tmp_path, "gocached", GOCACHE_SPEC)
    users_cache = tmp_path / "users-go-build"
    users_cache.mkdir()
    (users_cache / "README").write_text("the user's own cache\n")
    env = {"CI": "true", "GOCACHE": str(users_cache), "CCACHE_DIR": str(tmp_path / "ccache"),
           "OLLAMA_RPM_CACHE": str(tmp_path / "cache")}
    proc = run_cli("build", "--engine", "rpmbuild", "--nodeps", "--macros", STANDIN_MACROS,
                   *(["--ccache"] if ccache else []), "--outdir", tmp_path / "out", "--srpm", srpm,
                   cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (tmp_path / "out" / host_arch() / "build.log").read_text()
    gocache = next(line.split("=", 1)[1] for line in log.splitlines() if line.startswith("gocache="))
    # Not the caller's cache: one inside the build's own tree, empty at the start
    # and gone with the tree after a successful build.
    assert gocache != str(users_cache) and gocache.endswith("/GOCACHE")
    assert "gocache-empty=yes" in log
    assert not Path(gocache).exists()
    assert (users_cache / "README").exists()


def test_a_backend_srpm_given_while_its_backend_is_off_is_refused_or_skipped_by_name(project, tmp_path):
    """packaging.yaml turns cuda off: its SRPM alone would build nothing (it was exit 0
    without a word): refused by name, with the way to turn it on, and built with --with.
    Among other SRPMs (the srpm step makes one per backend) it is skipped with a warning."""
    srpm = make_srpm(tmp_path, "ollama-ggml-cuda")
    args = ["build", "--engine", "rpmbuild", "--layout", "split", "--dry-run", "--nodeps", "--srpm", srpm,
            "--outdir", tmp_path / "out"]
    reason = (f"--srpm {srpm}: backend 'cuda' is off (packaging.yaml backends.cuda.enabled, "
              "--without, or not built for this arch)")
    proc = run_cli(*args, cwd=project)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"ollama-rpm: {reason}; add --with cuda to build it"
    proc = run_cli(*args, "--with", "cuda", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "ollama-ggml-cuda" in proc.stdout and "rpmbuild" in proc.stdout
    vulkan = make_srpm(tmp_path, "ollama-ggml-vulkan")
    proc = run_cli(*args, "--srpm", vulkan, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert f"ollama-rpm: warning: {reason}, skipped; add --with cuda to build it" in proc.stderr.splitlines()
    assert "ollama-ggml-vulkan" in proc.stdout and "ollama-ggml-cuda" not in proc.stdout
