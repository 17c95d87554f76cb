"""`ollama-rpm build --engine mock`: generated configs read the way mock reads them,
the exact mock commands (a fake `mock` first on PATH records them), failure decoding,
the chroot matrix, and a real mock build where mock can run."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import copy_project, load_yaml, run_cli, write_yaml
from mock_support import (
    LOGS,
    MOCK_ETC,
    install_fake_mock,
    load_mock_config,
    recorded_argv,
    repos,
)

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine

NVIDIA = "https://developer.download.nvidia.com/compute/cuda/repos"


@pytest.fixture
def srpm(tmp_path):
    path = tmp_path / "ollama-0.32.15-1.fc43.src.rpm"
    path.write_bytes(b"stand-in: the fake mock never opens it")
    return path


def dry_run_configs(project, tmp_path, *args):
    """Run a dry run and return ({chroot: config_opts as mock reads it}, stdout, stderr)."""
    out = tmp_path / "out"
    proc = run_cli("build", "--engine", "mock", "--dry-run", "--resultdir", out, *args, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert not out.exists(), "a dry run writes nothing"
    configs, current, text = {}, None, []
    for line in proc.stdout.splitlines(keepends=True):
        if line.startswith("# ==> "):
            current, text = Path(line[len("# ==> "):].split(" <==")[0]), []
        elif line.startswith("# command for ") and current:
            cfg = tmp_path / current.name
            cfg.write_text("".join(text))
            configs[current.name[len("ollama-"):-len(".cfg")]] = load_mock_config(cfg)
            current = None
        elif current:
            text.append(line)
    return configs, proc.stdout, proc.stderr


# --- configs: every chroot and backend combination ------------------------------
@pytest.mark.parametrize("chroot,repo,repo_arch,fallback", [
    ("fedora-42-x86_64", "fedora42", "x86_64", None),
    ("fedora-43-x86_64", "fedora43", "x86_64", None),
    ("fedora-44-x86_64", "fedora43", "x86_64", "fedora43"),
    ("fedora-42-aarch64", "fedora42", "sbsa", None),
    ("fedora-43-aarch64", "fedora42", "sbsa", "fedora42"),
    ("epel-9-x86_64", "rhel9", "x86_64", None),
    ("epel-10-x86_64", "rhel10", "x86_64", None),
])
def test_cuda_config_adds_nvidia_repo_host_gcc_and_path(project, tmp_path, srpm, chroot, repo, repo_arch, fallback):
    configs, _, stderr = dry_run_configs(project, tmp_path, "--chroot", chroot, "--with", "cuda", "--srpm", srpm)
    opts = configs[chroot]
    found = repos(opts["dnf.conf"])
    repo_id = f"cuda-{repo}-{repo_arch}"
    url = f"{NVIDIA}/{repo}/{repo_arch}/"
    assert found[repo_id]["baseurl"] == url
    assert found[repo_id]["gpgcheck"] == "1"
    assert found[repo_id]["gpgkey"] == url + "D42D0685.pub"
    # The stock repositories are still there, expanded for the chroot's release.
    family, release = chroot.split("-")[:2]
    if family == "fedora":
        assert found["fedora"]["gpgkey"].endswith(f"RPM-GPG-KEY-fedora-{release}-primary")
        # nvcc 13.0 takes GCC <= 15; Fedora's is newer
        assert opts["chroot_additional_packages"] == ["gcc15", "gcc15-c++"]
    else:
        assert found["epel"]["gpgkey"].endswith(f"RPM-GPG-KEY-EPEL-{release}")
        assert opts["chroot_additional_packages"] == []      # EL's own GCC (11, 14) suits nvcc
    assert opts["environment"]["PATH"] == "/usr/local/cuda-13.0/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    assert opts["environment"]["CUDACXX"] == "/usr/local/cuda-13.0/bin/nvcc"
    assert opts["root"] == f"ollama-{chroot}-cuda"
    assert opts["plugin_conf"]["ccache_enable"] is True
    assert opts["plugin_conf"]["ccache_opts"]["max_cache_size"] == "20G"
    assert opts["plugin_conf"]["ccache_opts"]["hashdir"] is True      # mock's defaults kept
    assert opts["rpmbuild_networking"] is False
    assert opts["macros"]["%packager"] == "Ollama RPM Packagers <ollama-rpm@lists.example.org>"
    assert opts["macros"]["%_topdir"] == "/builddir/build"
    if fallback:
        assert f"using {fallback}" in stderr and "--cuda-repo-release" in stderr
    else:
        assert "NVIDIA" not in stderr
    if "aarch64" in chroot:
        assert "backends.cuda.arches is ['x86_64']" in stderr and "builds nothing on aarch64" in stderr


@pytest.mark.parametrize("chroot, newest", [("fedora-rawhide-x86_64", "fedora43/x86_64"),
                                            ("fedora-rawhide-aarch64", "fedora42/sbsa")])
def test_cuda_on_rawhide_uses_the_newest_nvidia_repository_with_a_warning(project, tmp_path, srpm, chroot, newest):
    # The registry's one policy (copr submit follows it too): a release NVIDIA has
    # no repository for takes the newest one below it; rawhide is above them all.
    configs, _, stderr = dry_run_configs(project, tmp_path, "--chroot", chroot, "--with", "cuda", "--srpm", srpm)
    assert f"{NVIDIA}/{newest}/" in configs[chroot]["dnf.conf"]
    assert f"{chroot}: NVIDIA publishes no CUDA repository for fedora rawhide" in stderr
    assert "--cuda-repo-release" in stderr
    configs, _, _ = dry_run_configs(project, tmp_path, "--chroot", chroot, "--with", "cuda",
                                    "--cuda-repo-release", "42", "--srpm", srpm)
    assert "cuda-fedora42-" in configs[chroot]["dnf.conf"]


def test_cuda12_builds_only_where_glibc_is_older_than_2_41(project, tmp_path, srpm):
    proc = run_cli("build", "--dry-run", "--resultdir", tmp_path / "out", "--chroot", "fedora-44-x86_64",
                   "--with", "cuda12", "--srpm", srpm, cwd=project)
    assert proc.returncode == 2 and "glibc 2.41" in proc.stderr and "epel-9" in proc.stderr
    configs, _, _ = dry_run_configs(project, tmp_path, "--chroot", "epel-9-x86_64", "--chroot", "epel-10-x86_64",
                                    "--with", "cuda", "--with", "cuda12", "--srpm", srpm)
    for chroot, release in (("epel-9-x86_64", 9), ("epel-10-x86_64", 10)):
        opts = configs[chroot]
        assert f"cuda-rhel{release}-x86_64" in repos(opts["dnf.conf"])
        # both toolkits on PATH, the CUDA 13 nvcc as CUDACXX (the spec names each compiler itself)
        assert opts["environment"]["PATH"].startswith("/usr/local/cuda-13.0/bin:/usr/local/cuda-12.9/bin:")
        assert opts["root"] == f"ollama-{chroot}-cuda-cuda12"


@pytest.mark.parametrize("chroot", ["fedora-42-x86_64", "fedora-43-x86_64", "fedora-44-x86_64", "fedora-42-aarch64",
                                    "fedora-43-aarch64", "fedora-rawhide-x86_64", "fedora-rawhide-aarch64",
                                    "epel-9-x86_64", "epel-10-x86_64"])
@pytest.mark.parametrize("flags", [(), ("--without", "vulkan"), ("--with", "rocm", "--without", "vulkan"),
                                   ("--without", "rocm", "--without", "vulkan")])
def test_config_without_cuda_is_stock_plus_ccache(project, tmp_path, srpm, chroot, flags):
    configs, _stdout, stderr = dry_run_configs(project, tmp_path, "--chroot", chroot, *flags, "--srpm", srpm)
    opts = configs[chroot]
    stock = load_mock_config(MOCK_ETC / f"{chroot}.cfg")
    # ROCm and Vulkan come from Fedora: the repositories are exactly the stock ones.
    assert repos(opts["dnf.conf"]) == repos(stock["dnf.conf"])
    assert opts["dnf.conf"] == stock["dnf.conf"]
    assert opts["chroot_additional_packages"] == []
    assert opts["environment"] == stock["environment"]
    assert opts["plugin_conf"]["ccache_enable"] is True
    with_ = [flags[i + 1] for i, f in enumerate(flags) if f == "--with"]
    assert opts["root"] == f"ollama-{chroot}" + "".join(f"-{n}" for n in sorted(with_))
    assert opts["root"] != stock["root"]
    assert "warning" not in stderr


def test_cuda_repo_release_override(project, tmp_path, srpm):
    configs, _, stderr = dry_run_configs(project, tmp_path, "--chroot", "fedora-43-x86_64", "--with", "cuda",
                                         "--cuda-repo-release", "41", "--srpm", srpm)
    assert repos(configs["fedora-43-x86_64"]["dnf.conf"])["cuda-fedora41-x86_64"]["baseurl"] == \
        f"{NVIDIA}/fedora41/x86_64/"
    assert "warning" not in stderr


def test_host_compiler_from_config(project, tmp_path, srpm):
    data = load_yaml(project / "packaging.yaml")
    data["backends"]["cuda"]["host_compiler"] = "/usr/bin/g++-14"
    data["backends"]["cuda"]["build_requires"] = ["cuda-nvcc-13-1", "gcc14-c++"]
    data["backends"]["cuda"]["cmake_options"]["CMAKE_CUDA_COMPILER"] = "/usr/local/cuda-13.1/bin/nvcc"
    data["backends"]["cuda"]["cmake_options"]["CUDAToolkit_ROOT"] = "/usr/local/cuda-13.1"
    write_yaml(project / "packaging.yaml", data)
    configs, _, _ = dry_run_configs(project, tmp_path, "--chroot", "fedora-42-x86_64", "--with", "cuda", "--srpm", srpm)
    opts = configs["fedora-42-x86_64"]
    assert opts["chroot_additional_packages"] == ["gcc14", "gcc14-c++"]
    assert opts["environment"]["CUDACXX"] == "/usr/local/cuda-13.1/bin/nvcc"


def test_dry_run_prints_exact_commands(project, tmp_path, srpm):
    out = tmp_path / "out"
    proc = run_cli("build", "--dry-run", "--chroot", "fedora-42-x86_64", "--chroot", "fedora-43-x86_64",
                   "--with", "cuda", "--without", "vulkan", "--resultdir", out, "--srpm", srpm, cwd=project)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("mock ")]
    assert commands == [
        f"mock -r {out}/ollama-{c}.cfg --rebuild {srpm} --resultdir {out}/{c} --with cuda --without vulkan"
        for c in ("fedora-42-x86_64", "fedora-43-x86_64")]
    assert not out.exists()


def test_dry_run_passes_defines_to_mock(project, tmp_path, srpm):
    out = tmp_path / "out"
    proc = run_cli("build", "--dry-run", "--chroot", "fedora-43-x86_64", "--define", "rocm_gpu_list_default gfx1100",
                   "--resultdir", out, "--srpm", srpm, cwd=project)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("mock ")]
    assert commands == [f"mock -r {out}/ollama-fedora-43-x86_64.cfg --rebuild {srpm} --resultdir "
                        f"{out}/fedora-43-x86_64 --define 'rocm_gpu_list_default gfx1100'"]


@pytest.mark.parametrize("args,message", [
    (("--with", "opencl"), "--with opencl: not a backend of"),
    (("--without", "metal"), "--without metal: not a backend of"),
    (("--with", "cuda", "--without", "cuda"), "contradict"),
    (("--chroot", "centos-9-x86_64"), "--chroot centos-9-x86_64: expected a mock chroot"),
    (("--chroot", "fedora-43-ppc64le"), "--chroot fedora-43-ppc64le"),
    (("--nodeps",), "--nodeps: applies to --engine rpmbuild only"),
    (("--cuda-repo-release", "4"), "--cuda-repo-release 4"),
    (("--chroot", "epel-rawhide-x86_64"), "--chroot epel-rawhide-x86_64: expected a mock chroot"),
    (("--define", "rocm_gpu_list_default"), "--define 'rocm_gpu_list_default': expected 'MACRO VALUE'"),
    (("--define", "1x gfx1100"), "--define '1x gfx1100': expected 'MACRO VALUE'"),
])
def test_bad_arguments(project, tmp_path, srpm, args, message):
    proc = run_cli("build", "--dry-run", "--resultdir", tmp_path / "out", "--srpm", srpm, *args, cwd=project)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_backend_error_names_known_ones(project, tmp_path, srpm):
    proc = run_cli("build", "--dry-run", "--with", "opencl", "--srpm", srpm, cwd=project)
    assert "expected one of: cuda, cuda12, rocm, vulkan" in proc.stderr


# --- running the fake mock ----------------------------------------------------------
def success_step(rpms=("ollama-0.32.15-1.fc43.x86_64.rpm", "ollama-cuda-0.32.15-1.fc43.x86_64.rpm")):
    return {"exit": 0, "slow": True, "rpms": ["ollama-0.32.15-1.fc43.src.rpm", *rpms],
            "logs": {"state.log": LOGS / "success.state.log", "root.log": LOGS / "success.root.log",
                     "build.log": LOGS / "success.build.log"}}


def test_mock_success_runs_exact_command_and_lists_rpms(project, tmp_path, srpm):
    env, state = install_fake_mock(tmp_path, {"fedora-43-x86_64": success_step()})
    out = tmp_path / "out"
    proc = run_cli("build", "--chroot", "fedora-43-x86_64", "--with", "cuda", "--without", "rocm",
                   "--resultdir", out, "--srpm", srpm, cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = out / "ollama-fedora-43-x86_64.cfg"
    assert recorded_argv(state) == [["-r", str(cfg), "--rebuild", str(srpm), "--resultdir",
                                     str(out / "fedora-43-x86_64"), "--with", "cuda", "--without", "rocm"]]
    # The config on disk is the one mock read.
    assert load_mock_config(cfg)["root"] == "ollama-fedora-43-x86_64-cuda"
    assert (state / "fedora-43-x86_64.loaded.json").read_text() == \
        '{"root": "ollama-fedora-43-x86_64-cuda", "ccache": true}'
    assert not list(out.glob(".*.part"))
    # Progress, as plain lines (CI=true): the phases in order, CMake percentages per backend.
    lines = proc.stdout.splitlines()
    progress = [line.split("] ", 1)[1] for line in lines if line.startswith("[fedora-43-x86_64] ")]
    for expected in ("install build dependencies", "%prep (unpack, patch)", "%build", "CMake build: cpu",
                     "CMake build: cpu 40%", "CMake build: cpu 100%", "CMake build: cuda",
                     "CMake build: cuda 60%", "Go build", "%install", "%check", "package files"):
        assert expected in progress, (expected, progress)
    assert progress.index("CMake build: cpu") < progress.index("CMake build: cuda") < progress.index("Go build") \
        < progress.index("%install") < progress.index("%check")
    # Summary table: RPMs, binary only.
    table = proc.stdout[proc.stdout.index("chroot "):]
    assert f"fedora-43-x86_64  ok      {out}/fedora-43-x86_64/ollama-0.32.15-1.fc43.x86_64.rpm" in table
    assert f"{out}/fedora-43-x86_64/ollama-cuda-0.32.15-1.fc43.x86_64.rpm" in table
    assert ".src.rpm" not in table
    assert (out / "fedora-43-x86_64" / "mock-output.log").exists()


def test_old_results_in_chroot_dir_are_not_reported(project, tmp_path, srpm):
    out = tmp_path / "out"
    stale = out / "fedora-43-x86_64" / "ollama-0.1-1.fc43.x86_64.rpm"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    (stale.parent / "build.log").write_text("error: Bad exit status from /var/tmp/rpm-tmp.x (%build)\n")
    env, _ = install_fake_mock(tmp_path, {"*": success_step()})
    proc = run_cli("build", "--chroot", "fedora-43-x86_64", "--resultdir", out, "--srpm", srpm, cwd=project, env=env)
    assert proc.returncode == 0
    assert "ollama-0.1-1" not in proc.stdout
    assert "Bad exit status" not in (stale.parent / "build.log").read_text()


@pytest.mark.parametrize("code,logs,console,log_name,phase,error_line", [
    (10, {"build.log": "nvcc-error.build.log", "root.log": "success.root.log"}, None, "build.log", "%build",
     '/usr/include/bits/mathcalls.h(206): error: exception specification is incompatible'),
    (10, {"build.log": "cmake-error.build.log"}, None, "build.log", "%build",
     "CMake Error at /usr/share/cmake/Modules/FindPackageHandleStandardArgs.cmake:227 (message):"),
    (10, {"build.log": "go-error.build.log"}, None, "build.log", "%build",
     'llm/server.go:27:2: cannot find package "github.com/ollama/ollama/x/imagegen" in:'),
    (10, {"build.log": "files-error.build.log"}, None, "build.log", "files",
     "error: File not found: /builddir/build/BUILD/ollama-0.32.15-build/BUILDROOT/usr/lib64/ollama/libggml-cpu-x64.so"),
    (30, {"root.log": "missing-deps.root.log"}, None, "root.log", None,
     "No match for argument: cuda-nvcc-12-9"),
    (20, {"root.log": "chroot-error.root.log"}, None, "root.log", None,
     ">>> Curl error (6): Couldn't resolve host name for https://mirrors.fedoraproject.org/metalink?repo=fedora-42&arch=x86_64"),
    (40, {}, "bad-srpm.console", "mock-output.log", None,
     "ERROR: Error reading SRPM /tmp/broken.src.rpm: error reading header from package"),
    (60, {}, "locked.console", "mock-output.log", None, "ERROR: Build root is locked by another process."),
])
def test_mock_failure_is_decoded(project, tmp_path, srpm, code, logs, console, log_name, phase, error_line):
    step = {"exit": code, "logs": {name: LOGS / sample for name, sample in logs.items()}}
    if console:
        step["console"] = LOGS / console
    env, _ = install_fake_mock(tmp_path, {"*": step})
    out = tmp_path / "out"
    proc = run_cli("build", "--chroot", "fedora-43-x86_64", "--resultdir", out, "--srpm", srpm,
                   cwd=project, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    from ollama_rpm.builders.buildlog import MOCK_EXIT_CODES
    description = MOCK_EXIT_CODES[code][0]
    assert f"mock exit {code}: {description}" in proc.stdout
    log = out / "fedora-43-x86_64" / log_name
    assert f"read {log}" in proc.stdout
    assert "first error" in proc.stdout and f"at {log}:" in proc.stdout
    assert "> " in proc.stdout and error_line in proc.stdout
    if phase:
        assert f"in {phase}: " in proc.stdout
    # Only the lines around the first error, not a wall of log.
    excerpt = proc.stdout[proc.stdout.index("first error"):proc.stdout.index("\nchroot ")]
    assert len(excerpt.strip().splitlines()) <= 9
    assert "Traceback" not in excerpt


def test_matrix_keeps_going_and_fails_at_end(project, tmp_path, srpm):
    env, state = install_fake_mock(tmp_path, {
        "fedora-42-x86_64": {"exit": 10, "logs": {"build.log": LOGS / "nvcc-error.build.log"}},
        "fedora-43-x86_64": success_step(),
    })
    out = tmp_path / "out"
    proc = run_cli("build", "--chroot", "fedora-42-x86_64", "--chroot", "fedora-43-x86_64", "--with", "cuda",
                   "--resultdir", out, "--srpm", srpm, cwd=project, env=env)
    assert proc.returncode == 1
    assert [argv[argv.index("--resultdir") + 1] for argv in recorded_argv(state)] == \
        [str(out / "fedora-42-x86_64"), str(out / "fedora-43-x86_64")]
    table = proc.stdout[proc.stdout.index("\nchroot ") + 1:].splitlines()
    assert table[0].split() == ["chroot", "result", "RPMs", "or", "error"]
    assert table[2].startswith("fedora-42-x86_64  FAILED  mock exit 10: build failed in %build: "
                               "/usr/include/bits/mathcalls.h(206): error:")
    assert table[3].strip() == f"see {out}/fedora-42-x86_64/build.log:"+ str(_line_of(
        LOGS / "nvcc-error.build.log", "/usr/include/bits/mathcalls.h(206): error"))
    assert table[4].startswith(f"fedora-43-x86_64  ok      {out}/fedora-43-x86_64/ollama-0.32.15-1.fc43.x86_64.rpm")
    assert table[5].strip() == f"{out}/fedora-43-x86_64/ollama-cuda-0.32.15-1.fc43.x86_64.rpm"
    assert len(table) == 6


def _line_of(path, text):
    return next(n for n, line in enumerate(Path(path).read_text().splitlines(), 1) if text in line)


def test_mock_missing_is_a_tool_error(project, tmp_path, srpm):
    env = {"PATH": str(tmp_path / "empty"), "CI": "true"}
    (tmp_path / "empty").mkdir()
    proc = run_cli("build", "--chroot", "fedora-43-x86_64", "--resultdir", tmp_path / "out", "--srpm", srpm,
                   cwd=project, env=env)
    assert proc.returncode == 3
    assert "mock: not found on PATH" in proc.stderr and "--engine rpmbuild" in proc.stderr


# --- real mock ------------------------------------------------------------------
REAL_CHROOT = f"fedora-43-{os.uname().machine}"


def _mock_usable():
    """None when real mock can build here, else why not (the skip reason)."""
    mock = shutil.which("mock")
    if not mock:
        return "mock is not installed (it is packaged for Fedora/EPEL, not for Debian)"
    try:
        proc = subprocess.run([mock, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`mock --version` failed: {error}"
    if proc.returncode != 0:
        return f"`mock --version` exits {proc.returncode}: {proc.stderr.strip()[:200]}"
    if os.geteuid() != 0:
        import grp
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
        try:
            group = grp.getgrnam("mock")
        except KeyError:
            return "there is no mock group on this machine"
        if user not in group.gr_mem and group.gr_gid not in os.getgroups():
            return f"user {user} is not in the mock group (usermod -a -G mock {user}, then log in again)"
    if not Path(f"/etc/mock/{REAL_CHROOT}.cfg").exists():
        return f"no stock mock config /etc/mock/{REAL_CHROOT}.cfg (mock-core-configs)"
    return None


MOCK_UNUSABLE = _mock_usable()


@pytest.mark.skipif(MOCK_UNUSABLE is not None, reason=f"real mock unavailable: {MOCK_UNUSABLE}")
def test_real_mock_builds_a_tiny_srpm(tmp_path):
    """Needs network for the chroot's packages; takes minutes on a cold cache."""
    from test_build_rpmbuild import make_srpm
    project = copy_project(tmp_path / "project")
    srpm = make_srpm(tmp_path, "tiny", fail=False)
    out = tmp_path / "out"
    proc = run_cli("build", "--engine", "mock", "--chroot", REAL_CHROOT, "--without", "rocm", "--without", "cuda",
                   "--resultdir", out, "--srpm", srpm, cwd=project, env={"CI": "true"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rpms = sorted(p.name for p in (out / REAL_CHROOT).glob("*.noarch.rpm"))
    assert rpms == ["tiny-1.0-1.noarch.rpm", "tiny-vulkan-1.0-1.noarch.rpm"]  # Release has no %{?dist}
    assert "Executing(%build)" in (out / REAL_CHROOT / "build.log").read_text()
    assert f"{REAL_CHROOT}  ok" in proc.stdout


# --- split layout ------------------------------------------------------------------
def _split_srpms(tmp_path, names=("ollama", "ollama-ggml-vulkan", "ollama-ggml-rocm", "ollama-ggml-cuda")):
    paths = []
    for name in names:
        path = tmp_path / f"{name}-0.32.15-1.fc43.src.rpm"
        path.write_bytes(b"stand-in")
        paths.append(path)
    return paths


def test_split_layout_builds_ollama_first_then_each_backend_in_its_own_root(project, tmp_path):
    srpms = _split_srpms(tmp_path)
    env, state = install_fake_mock(tmp_path, {"*": success_step(rpms=("x-0.32.15-1.fc43.x86_64.rpm",))})
    out = tmp_path / "out"
    proc = run_cli("build", "--layout", "split", "--chroot", "fedora-43-x86_64", "--chroot", "fedora-43-aarch64",
                   "--with", "cuda", "--jobs", "2", "--resultdir", out,
                   *[a for s in srpms for a in ("--srpm", s)], cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    argv = recorded_argv(state)
    built = [(Path(a[a.index("--rebuild") + 1]).name.rsplit("-", 2)[0], Path(a[a.index("--resultdir") + 1]))
             for a in argv]
    # ollama first, on both chroots; then the backends (ROCm and CUDA: x86_64 only)
    assert built[:2] == [("ollama", out / "ollama" / "fedora-43-x86_64"), ("ollama", out / "ollama" / "fedora-43-aarch64")]
    assert sorted(built[2:]) == sorted([
        ("ollama-ggml-vulkan", out / "ollama-ggml-vulkan" / "fedora-43-x86_64"),
        ("ollama-ggml-vulkan", out / "ollama-ggml-vulkan" / "fedora-43-aarch64"),
        ("ollama-ggml-rocm", out / "ollama-ggml-rocm" / "fedora-43-x86_64"),
        ("ollama-ggml-cuda", out / "ollama-ggml-cuda" / "fedora-43-x86_64")])
    for a in argv:
        assert "--with" not in a and "--without" not in a          # the split specs have no %bconds
        package = Path(a[a.index("--rebuild") + 1]).name.rsplit("-", 2)[0]
        # backends side by side (--jobs 2): each in a root of its own
        assert (a[a.index("--uniqueext") + 1] == package) if package != "ollama" else "--uniqueext" not in a
    # the chroot config carries what the CUDA package needs
    assert "cuda/repos/fedora43/x86_64" in (out / "ollama-fedora-43-x86_64.cfg").read_text()
    assert "package " in proc.stdout and "ollama-ggml-cuda fedora-43-x86_64" in proc.stdout


def test_split_layout_passes_defines_to_every_build(project, tmp_path):
    proc = run_cli("build", "--layout", "split", "--dry-run", "--chroot", "fedora-44-x86_64", "--without", "rocm",
                   "--define", "rocm_gpu_list_default gfx1100", "--resultdir", tmp_path / "out", cwd=project)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("mock ")]
    assert len(commands) == 2
    assert all(c.endswith(" --define 'rocm_gpu_list_default gfx1100'") for c in commands), commands


def test_split_layout_dry_run_and_missing_srpms(project, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("build", "--layout", "split", "--dry-run", "--chroot", "fedora-44-x86_64", "--without", "rocm",
                   "--resultdir", out, cwd=project)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("mock ")]
    assert [c.split("--rebuild ")[1].split(" --resultdir")[0] for c in commands] == [
        "'<ollama SRPM>'", "'<ollama-ggml-vulkan SRPM>'"]
    assert not out.exists()
    # The SRPMs given are the packages built: one backend alone, against an ollama built elsewhere.
    srpms = _split_srpms(tmp_path, ("ollama-ggml-vulkan",))
    proc = run_cli("build", "--layout", "split", "--dry-run", "--chroot", "fedora-44-x86_64", "--resultdir", out,
                   "--srpm", srpms[0], cwd=project)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("mock ")]
    assert [c.split("--rebuild ")[1].split(" --resultdir")[0] for c in commands] == ["'<ollama-ggml-vulkan SRPM>'"]
