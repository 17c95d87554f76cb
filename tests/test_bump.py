"""`ollama-rpm bump` against a local fake GitHub API + file server, in a real git repo."""

import hashlib
import json
import pathlib
import re
import shutil
import time
from pathlib import Path

import git
import pytest

from conftest import copy_project, load_yaml, run_cli
from fakes import FakeGitHub, rate_limited
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INTEGRITY, EXIT_NETWORK
from tarballs import tar_gz

pytestmark = pytest.mark.slow   # the whole bump: render, rpm, rpmlint, git

TOKEN = "ghp_SECRETtoken0123456789"

GGML_X86 = """\
    if (GGML_SYSTEM_ARCH STREQUAL "x86")
        ggml_add_cpu_backend_variant(x64)
        ggml_add_cpu_backend_variant(sse42              SSE42)
        ggml_add_cpu_backend_variant(sandybridge        SSE42 AVX)
        if (NOT MSVC)
            ggml_add_cpu_backend_variant(ivybridge      SSE42 AVX F16C)
            ggml_add_cpu_backend_variant(piledriver     SSE42 AVX F16C FMA)
        endif()
        ggml_add_cpu_backend_variant(haswell            SSE42 AVX F16C FMA AVX2 BMI2)
        ggml_add_cpu_backend_variant(skylakex           SSE42 AVX F16C FMA AVX2 BMI2 AVX512)
        ggml_add_cpu_backend_variant(cannonlake         SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI)
        ggml_add_cpu_backend_variant(cascadelake        SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VNNI)
        ggml_add_cpu_backend_variant(icelake            SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI)
        if (NOT MSVC)
            ggml_add_cpu_backend_variant(cooperlake     SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VNNI AVX512_BF16)
            ggml_add_cpu_backend_variant(zen4           SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16)
        endif()
        ggml_add_cpu_backend_variant(alderlake          SSE42 AVX F16C FMA AVX2 BMI2 AVX_VNNI)
        if (NOT MSVC)
            ggml_add_cpu_backend_variant(sapphirerapids SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AMX_TILE AMX_INT8)
        endif()
{extra}    elseif (GGML_SYSTEM_ARCH STREQUAL "ARM")
        ggml_add_cpu_backend_variant(armv8.2_1    DOTPROD)
        ggml_add_cpu_backend_variant(armv9.2_2    DOTPROD MATMUL_INT8 SVE2 SME)
    endif()
"""


def presets(cuda12, rocm72, cuda13):
    return json.dumps({"version": 3, "configurePresets": [
        {"name": "default", "cacheVariables": {"GGML_NATIVE": "OFF"}},
        {"name": "llama_cuda_v12_base", "hidden": True, "inherits": ["default"],
         "cacheVariables": {"GGML_CUDA": "ON", "OLLAMA_RUNNER_DIR": "cuda_v12"}},
        {"name": "llama_cuda_v12_linux", "inherits": ["llama_cuda_v12_base"],
         "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": cuda12}},
        {"name": "llama_cuda_v12_windows", "inherits": ["llama_cuda_v12_base"],
         "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": "75;80"}},
        {"name": "llama_cuda_v13_base", "hidden": True, "inherits": ["default"],
         "cacheVariables": {"GGML_CUDA": "ON", "OLLAMA_RUNNER_DIR": "cuda_v13", "CMAKE_CUDA_FLAGS": "-t 4"}},
        {"name": "llama_cuda_v13_linux", "inherits": ["llama_cuda_v13_base"],
         "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": cuda13}},
        {"name": "rocm_v7_2_base", "inherits": ["default"], "cacheVariables": {"OLLAMA_RUNNER_DIR": "rocm_v7_2"}},
        {"name": "rocm_v7_2_linux", "inherits": ["rocm_v7_2_base"], "cacheVariables": {"AMDGPU_TARGETS": rocm72}},
    ]}, indent=2)


def tarball(top, files, commit=None):
    # `git archive` of a commit (GitHub's archives) records its id in the pax global header.
    return tar_gz(top, files, commit=commit)


PACKAGE_PATCH = "0001-fixture.patch"


def ollama_tarball(version, llama_tag, go="1.26.0",
                   patches=("001-llama-cpp-hooks.patch", "models/003-llama-cpp-laguna-metal.patch"),
                   cuda12="50-virtual;52-virtual;60;61;70;75;80;86;89;90;90a;100;120",
                   rocm72="gfx908:xnack-;gfx90a:xnack+;gfx90a:xnack-;gfx942;gfx950;gfx1030;gfx1100;gfx1101;"
                          "gfx1102;gfx1150;gfx1151;gfx1200;gfx1201", main_go="package main\n",
                   cuda13="75-virtual;80-virtual;86-virtual;87-virtual;89-virtual;90-virtual;90a-virtual;"
                          "100-virtual;103-virtual;110-virtual;120-virtual;121-virtual"):
    files = {"LLAMA_CPP_VERSION": f"{llama_tag}\n",
             "go.mod": f"module github.com/ollama/ollama\n\ngo {go}\n\nrequire (\n)\n",
             "llama/server/CMakePresets.json": presets(cuda12, rocm72, cuda13),
             "llama/compat/README.md": "compat\n", "llama/compat/compat.cmake": "",
             "main.go": main_go}
    for patch in patches:
        # Each compat patch adds one file to the llama.cpp tree (what %prep applies).
        name = patch.rsplit("/", 1)[-1]
        files[f"llama/compat/{patch}"] = f"--- /dev/null\n+++ b/compat/{name}.txt\n@@ -0,0 +1 @@\n+{name}\n"
    return tarball(f"ollama-{version}", files)


def llama_commit(tag):
    return hashlib.sha1(tag.encode()).hexdigest()


def llama_tarball(tag, extra="", commit=True):
    return tarball(f"llama.cpp-{tag}", {"ggml/src/CMakeLists.txt": "if (GGML_CPU_ALL_VARIANTS)\n"
                                        + GGML_X86.replace("{extra}", extra) + "endif()\n",
                                        "README.md": "llama.cpp\n"},
                   commit=llama_commit(tag) if commit else None)


class Upstream:
    """The fake GitHub + file server, with the "current" 0.32.15 and a "new" 0.33.0 release."""

    def __init__(self, server):
        self.server = server
        self.server.releases = [{"tag_name": "v0.32.15", "prerelease": False}]
        self.add_ollama("0.32.15", "b10488")
        self.add_llama("b10488")

    def add_ollama(self, version, llama_tag, **kw):
        self.server.files[f"/ollama/archive/v{version}/ollama-{version}.tar.gz"] = ollama_tarball(
            version, llama_tag, **kw)

    def add_llama(self, tag, extra="", commit=True):
        self.server.files[f"/llama/archive/{tag}/llama.cpp-{tag}.tar.gz"] = llama_tarball(tag, extra, commit)

    def release(self, version, llama_tag="b10600", extra="", **kw):
        self.server.releases.insert(0, {"tag_name": f"v{version}", "prerelease": False})
        self.add_ollama(version, llama_tag, **kw)
        if f"/llama/archive/{llama_tag}/llama.cpp-{llama_tag}.tar.gz" not in self.server.files or extra:
            self.add_llama(llama_tag, extra)


PACKAGER_EMAIL = "packagers@ollama-rpm-ci.net"


@pytest.fixture
def upstream():
    with FakeGitHub() as server:
        yield Upstream(server)


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def repo(tmp_path, upstream):
    """A git repo holding the project at 0.32.15, sources pointing at the fake file server, committed."""
    root = copy_project(tmp_path / "project")
    # Our patches target the real tree; the fake releases get one that fits them.
    for patch in (root / "patches").glob("*.patch"):
        patch.unlink()
    (root / "patches" / PACKAGE_PATCH).write_text(
        "Fixture patch.\n\n--- a/main.go\n+++ b/main.go\n@@ -1 +1,2 @@\n package main\n+// patched\n")
    config = root / "packaging.yaml"
    base = upstream.server.url + "/files"
    text = config.read_text()
    text = text.replace("https://github.com/ollama/ollama/archive/", f"{base}/ollama/archive/")
    # bump refuses a placeholder identity (a reserved example domain): a real-looking one
    text = text.replace("ollama-rpm@lists.example.org", PACKAGER_EMAIL)
    text = text.replace("https://github.com/ggml-org/llama.cpp/archive/", f"{base}/llama/archive/")
    config.write_text(text)
    assert run_cli("render", cwd=root).returncode == 0
    files = upstream.server.files
    ollama_name, llama_name = "ollama-0.32.15.tar.gz", "llama.cpp-b10488.tar.gz"
    (root / "sources.lock").write_text(json.dumps({"format": 1, "sources": {
        ollama_name: {"url": f"{base}/ollama/archive/v0.32.15/{ollama_name}",
                      "sha256": sha(files[f"/ollama/archive/v0.32.15/{ollama_name}"])},
        llama_name: {"url": f"{base}/llama/archive/b10488/{llama_name}",
                     "sha256": sha(files[f"/llama/archive/b10488/{llama_name}"])}}}, indent=2, sort_keys=True) + "\n")
    (root / ".gitignore").write_text("/build/\n")      # as the project's: bump writes its report there
    repository = git.Repo.init(root, initial_branch="main")
    with repository.config_writer() as cw:
        cw.set_value("user", "name", "Packager")
        cw.set_value("user", "email", "packager@ollama-rpm-ci.net")
    repository.git.add("-A")
    repository.git.commit("-q", "-m", "Ollama 0.32.15")
    return repository


# --timeout for bump: short only where a test waits on a hang, so that a loaded
# machine never turns a plain answer into a timeout.
TIMEOUT, HANG_TIMEOUT = "30", "2"


def bump(repo, *args, token=TOKEN, upstream=None, waits_on_hang=False):
    home = repo.working_tree_dir + "/../home"
    env = {"OLLAMA_RPM_GITHUB_API": upstream.server.url, "HOME": home, "XDG_CACHE_HOME": home + "/cache",
           "GITHUB_TOKEN": token, "OLLAMA_RPM_RETRIES": "1", "OLLAMA_RPM_RETRY_BASE_DELAY": "0.01"}
    timeout = HANG_TIMEOUT if waits_on_hang else TIMEOUT
    return run_cli("bump", "--timeout", timeout, *args, cwd=repo.working_tree_dir, env=env)


def snapshot(repo):
    root = repo.working_tree_dir
    return (repo.head.commit.hexsha, repo.git.status("--porcelain", "--untracked-files=all"),
            {name: sha(pathlib.Path(f"{root}/{name}").read_bytes()) for name in ("packaging.yaml", "sources.lock", "ollama.spec")},
            repo.git.ls_files("--stage"), repo.git.branch("-a", "-v"))


def assert_no_token(proc, repo):
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    home = repo.working_tree_dir + "/../home"
    for path in pathlib.Path(home).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"token leaked into {path}"


def test_bump_to_new_release_commits_everything(repo, upstream):
    upstream.release("0.33.0", "b10600", go="1.27.0", patches=("001-llama-cpp-hooks.patch", "002-vision.patch",
                                                                 "models/003-llama-cpp-laguna-metal.patch"),
                     cuda12="60;61;70;75;80;86;89;90;100;120", cuda13="75-virtual;80-virtual;120-virtual")
    before = repo.head.commit
    config_before = (repo.working_tree_dir + "/packaging.yaml")
    old_text = pathlib.Path(config_before).read_text()
    proc = bump(repo, "--latest", upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    assert repo.head.commit.parents == (before,)
    changed = sorted(repo.head.commit.stats.files)
    assert changed == ["ollama.spec", "packaging.yaml", "sources.lock"]
    assert repo.git.status("--porcelain") == ""
    assert repo.head.commit.message.startswith("Update to 0.33.0 (llama.cpp b10600)")

    root = repo.working_tree_dir
    cfg = load_yaml(f"{root}/packaging.yaml")
    assert cfg["version"] == "0.33.0" and cfg["release"] == 1
    # Recursive and ordered by file name, as upstream's apply-patch.cmake applies them.
    # (bump updates tag, commit and compat patches; the license/bundled records it keeps)
    assert {k: cfg["llama_cpp"][k] for k in ("tag", "commit", "install_manifest", "compat_patches")} == {
        "tag": "b10600", "commit": llama_commit("b10600"),
        "install_manifest": "tests/data/upstream-install-manifest.txt", "compat_patches": [
            "llama/compat/001-llama-cpp-hooks.patch", "llama/compat/002-vision.patch",
            "llama/compat/models/003-llama-cpp-laguna-metal.patch"]}
    assert cfg["llama_cpp"]["ggml_license"] == "MIT" and cfg["llama_cpp"]["bundled"]
    assert cfg["go"]["min_version"] == "1.27"
    # each CUDA backend follows the Linux preset of its own runner dir
    assert cfg["backends"]["cuda"]["gpu_targets"] == ["75-virtual", "80-virtual", "120-virtual"]
    assert cfg["backends"]["cuda12"]["gpu_targets"] == ["60", "61", "70", "75", "80", "86", "89", "90", "100", "120"]
    assert cfg["changelog"][0]["version"] == "0.33.0-1"
    assert "Update to 0.33.0 (llama.cpp b10600)" in cfg["changelog"][0]["text"]
    assert cfg["changelog"][1]["version"] == "0.32.15-1"
    # Comments and untouched lines survive.
    new_text = pathlib.Path(f"{root}/packaging.yaml").read_text()
    for line in old_text.splitlines():
        if line.lstrip().startswith("#"):
            assert line in new_text
    # The ROCm list is Fedora's macro, not upstream's: bump leaves it byte for byte.
    assert '    gpu_targets: ["%{rocm_gpu_list_default}"]' in new_text
    assert cfg["backends"]["rocm"]["gpu_targets"] == ["%{rocm_gpu_list_default}"]

    lock = json.loads(pathlib.Path(f"{root}/sources.lock").read_text())["sources"]
    files = upstream.server.files
    assert sorted(lock) == ["llama.cpp-b10600.tar.gz", "ollama-0.33.0.tar.gz"]
    assert lock["ollama-0.33.0.tar.gz"]["sha256"] == sha(files["/ollama/archive/v0.33.0/ollama-0.33.0.tar.gz"])
    assert lock["llama.cpp-b10600.tar.gz"]["url"].endswith("/llama/archive/b10600/llama.cpp-b10600.tar.gz")

    spec = pathlib.Path(f"{root}/ollama.spec").read_text()
    assert "Version:        0.33.0\n" in spec and "%global llama_cpp_tag b10600\n" in spec
    assert "%global llama_cpp_build 10600\n" in spec
    assert f"%global llama_cpp_commit {llama_commit('b10600')}\n" in spec
    assert "golang >= 1.27" in spec
    assert "- Update to 0.33.0 (llama.cpp b10600)" in spec
    assert run_cli("render", "--check", cwd=root).returncode == 0
    # The bump report, printed and written: against 0.32.15's real (fake-served) tarballs.
    report = Path(root, "build", "bump-report-0.33.0.txt").read_text()
    assert report in proc.stdout and f"bump report written to {root}/build/bump-report-0.33.0.txt" in proc.stdout
    assert report.startswith("Bump report: ollama 0.32.15 -> 0.33.0 (RPM Version: 0.33.0)\n")
    assert "  ~ go 1.26 -> 1.27 (BuildRequires golang >= 1.27)\n" in report
    assert "  + llama/compat/002-vision.patch\n" in report
    assert ("  ~ preset llama_cuda_v13_linux: CMAKE_CUDA_ARCHITECTURES '75-virtual;80-virtual;86-virtual;87-virtual;"
            "89-virtual;90-virtual;90a-virtual;100-virtual;103-virtual;110-virtual;120-virtual;121-virtual' -> "
            "'75-virtual;80-virtual;120-virtual'\n") in report
    assert "  ! llama.cpp b10488 -> b10600: re-record tests/data/upstream-install-manifest.txt" in report
    old_sha = sha(upstream.server.files["/ollama/archive/v0.32.15/ollama-0.32.15.tar.gz"])
    assert f"ollama-0.32.15.tar.gz  sha256 {old_sha} (the packaged release, for the report; matches its pin)" \
        in proc.stdout
    assert_no_token(proc, repo)
    # The token was sent to the API, and only there.
    assert f"Bearer {TOKEN}" in upstream.server.auth_seen


def test_a_packaged_tarball_that_no_longer_matches_its_pin_stops_the_bump(repo, upstream):
    upstream.release("0.33.0")
    upstream.server.files["/ollama/archive/v0.32.15/ollama-0.32.15.tar.gz"] = ollama_tarball("0.32.15", "b10400")
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == EXIT_INTEGRITY, proc.stdout + proc.stderr
    assert "ollama-0.32.15.tar.gz: sha256 " in proc.stderr and "differs from the pin" in proc.stderr
    assert snapshot(repo) == state


def test_second_run_does_nothing_and_uses_the_etag(repo, upstream):
    upstream.release("0.33.0")
    assert bump(repo, upstream=upstream).returncode == 0
    state = snapshot(repo)
    downloads = len([r for r in upstream.server.requests if r[1].startswith("/files/")])
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    assert "already at 0.33.0" in proc.stdout
    assert snapshot(repo) == state
    assert upstream.server.not_modified == 1, "the unchanged release must come back as a 304"
    assert len([r for r in upstream.server.requests if r[1].startswith("/files/")]) == downloads


def test_bump_to_a_named_prerelease(repo, upstream):
    upstream.release("0.33.0-rc2", "b10488")
    upstream.server.releases[0]["prerelease"] = True
    proc = bump(repo, "--to", "0.33.0-rc2", upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    cfg = load_yaml(repo.working_tree_dir + "/packaging.yaml")
    assert cfg["version"] == "0.33.0-rc2" and cfg["changelog"][0]["version"] == "0.33.0~rc2-1"
    lock = json.loads(pathlib.Path(repo.working_tree_dir + "/sources.lock").read_text())["sources"]
    assert "llama.cpp-b10488.tar.gz" in lock        # same llama.cpp, pin kept


def test_new_cpu_variant_with_known_flags_uses_the_long_form(repo, upstream):
    upstream.release("0.33.0", extra="        ggml_add_cpu_backend_variant(zen5  SSE42 AVX F16C FMA AVX2 BMI2 "
                                      "AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16)\n")
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    cfg = load_yaml(repo.working_tree_dir + "/packaging.yaml")
    assert cfg["cpu_variants"]["x86_64"]["zen5"]["level"] == "v4"
    assert cfg["cpu_variants"]["x86_64"]["haswell"] == "v3"
    assert list(cfg["cpu_variants"]["x86_64"])[-2:] == ["sapphirerapids", "zen5"]   # order kept, new last
    removed = [line for line in repo.git.show("HEAD", "--", "packaging.yaml").splitlines()
               if line.startswith("-    ") and not line.startswith("---")]
    variants = set(cfg["cpu_variants"]["x86_64"])
    assert not [line for line in removed if line.split(":")[0].strip("- ") in variants]  # no variant line moved
    assert "New ggml CPU variant zen5 in ollama-ggml-cpu-x86_64-v4" in cfg["changelog"][0]["text"]
    assert "libggml-cpu-zen5.so" in pathlib.Path(repo.working_tree_dir + "/ollama.spec").read_text()


def test_unknown_cpu_flag_names_the_variant(repo, upstream):
    upstream.release("0.33.0", extra="        ggml_add_cpu_backend_variant(diamondrapids SSE42 AVX F16C FMA AVX2 "
                                      "BMI2 AVX512 AVX10_2)\n")
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == EXIT_FAILED
    assert "'diamondrapids'" in proc.stderr and "'AVX10_2'" in proc.stderr
    assert snapshot(repo) == state


@pytest.mark.parametrize("fault,code,text", [
    ((500, {"message": "Server Error"}), EXIT_NETWORK, "HTTP 500"),
    ((401, {"message": "Bad credentials"}), EXIT_CONFIG, "HTTP 401"),
    ("hang", EXIT_NETWORK, "within 2 s"),
])
def test_api_faults_leave_the_repo_unchanged(repo, upstream, fault, code, text):
    upstream.release("0.33.0")
    upstream.server.fault("/repos/", fault)
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream, waits_on_hang=fault == "hang")
    assert proc.returncode == code, proc.stderr
    assert text in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert snapshot(repo) == state
    assert_no_token(proc, repo)


def test_rate_limit_explains_the_reset(repo, upstream):
    upstream.release("0.33.0")
    answer, reset = rate_limited(reset_in=1800)
    upstream.server.fault("/repos/", answer)
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == EXIT_NETWORK
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(reset))
    assert "rate limit" in proc.stderr and f"resets at {stamp} UTC" in proc.stderr and "(in 30 min)" in proc.stderr
    assert snapshot(repo) == state
    assert_no_token(proc, repo)


@pytest.mark.parametrize("prefix", ["/files/ollama/", "/files/llama/"])
@pytest.mark.parametrize("fault,code", [((500, b"oops"), EXIT_NETWORK), ("hang", EXIT_NETWORK)])
def test_download_faults_leave_the_repo_unchanged(repo, upstream, prefix, fault, code):
    upstream.release("0.33.0")
    upstream.server.fault(prefix, fault, fault)       # every attempt fails (the test allows one retry)
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream, waits_on_hang=fault == "hang")
    assert proc.returncode == code, proc.stderr
    assert "download" in proc.stderr and "gave up after 2 attempts" in proc.stderr
    assert snapshot(repo) == state


def test_a_transient_download_fault_is_retried(repo, upstream):
    upstream.release("0.33.0")
    upstream.server.fault("/files/ollama/", (500, b"oops"))
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    assert repo.head.commit.message.startswith("Update to 0.33.0")


def test_tarball_that_changes_between_downloads_is_an_integrity_error(repo, upstream):
    upstream.release("0.33.0")
    path = "/ollama/archive/v0.33.0/ollama-0.33.0.tar.gz"
    first = upstream.server.files[path]
    upstream.server.files[path] = [first, first[:-8] + b"\0" * 8]
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == EXIT_INTEGRITY
    assert "ollama-0.33.0.tar.gz" in proc.stderr and "differ" in proc.stderr
    assert snapshot(repo) == state


def test_llama_tarball_not_matching_its_existing_pin(repo, upstream):
    upstream.release("0.33.0", "b10488")
    upstream.add_llama("b10488", extra="        # regenerated archive\n")
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == EXIT_INTEGRITY
    assert "llama.cpp-b10488.tar.gz" in proc.stderr and "pin" in proc.stderr
    assert snapshot(repo) == state


def test_push_failure_rolls_back_the_commit(repo, upstream, tmp_path):
    upstream.release("0.33.0")
    repo.create_remote("origin", str(tmp_path / "missing.git"))
    state = snapshot(repo)
    proc = bump(repo, "--push", upstream=upstream)
    assert proc.returncode == EXIT_NETWORK
    assert "git push failed" in proc.stderr
    assert snapshot(repo) == state


def test_push_to_the_remote(repo, upstream, tmp_path):
    bare = git.Repo.init(tmp_path / "remote.git", bare=True)
    repo.create_remote("origin", bare.working_dir)
    repo.git.push("-q", "origin", "main")
    upstream.release("0.33.0")
    proc = bump(repo, "--push", upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    assert bare.commit("main").hexsha == repo.head.commit.hexsha
    assert bare.commit("main").message.startswith("Update to 0.33.0")


def test_no_commit_writes_files_only(repo, upstream):
    upstream.release("0.33.0")
    head = repo.head.commit.hexsha
    proc = bump(repo, "--no-commit", upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    assert repo.head.commit.hexsha == head
    assert sorted(line[3:] for line in repo.git.status("--porcelain").splitlines()) == [
        "ollama.spec", "packaging.yaml", "sources.lock"]


def test_dirty_config_is_refused(repo, upstream):
    upstream.release("0.33.0")
    config = repo.working_tree_dir + "/packaging.yaml"
    with open(config, "a") as handle:
        handle.write("# local edit\n")
    state = snapshot(repo)
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == EXIT_CONFIG and "uncommitted changes" in proc.stderr
    assert snapshot(repo) == state


def test_unknown_release(repo, upstream):
    proc = bump(repo, "--to", "9.9.9", upstream=upstream)
    assert proc.returncode == EXIT_CONFIG and "no release v9.9.9" in proc.stderr


def test_a_project_inside_a_bare_repository_is_a_usage_error(tmp_path):
    # Was GitPython's GitCommandError ("must be run in a work tree") from the dirty check.
    from ollama_rpm.errors import UsageError
    from ollama_rpm.publish import bump
    git.Repo.init(tmp_path / "bare.git", bare=True)
    root = copy_project(tmp_path / "bare.git")
    with pytest.raises(UsageError, match="bare git repository"):
        bump.bump(root=root, to="0.33.0")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_contrib_timer_and_service_verify(tmp_path):
    import subprocess

    from conftest import REPO
    checkout = tmp_path / "ollama-rpm"
    checkout.mkdir()
    (checkout / "ollama-rpm").symlink_to(REPO / "ollama-rpm")
    for name in ("ollama-rpm-bump.service", "ollama-rpm-bump.timer"):
        text = (REPO / "contrib" / name).read_text().replace("%h/", f"{tmp_path}/")
        (tmp_path / name).write_text(text)
    service = (tmp_path / "ollama-rpm-bump.service").read_text()
    assert "bump --latest --push" in service
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "ollama-rpm-bump.service"),
                           str(tmp_path / "ollama-rpm-bump.timer")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("entry,error", [
    ({"level": "v4", "features": ["SSE42", "AVX512"]}, None),
    ({"level": "v3", "features": ["AVX512"]}, "expected v4 or higher"),
    ({"level": "v4", "features": ["AVX10_2"]}, "cpu_variants.x86_64.newcpu.features[0]: unknown ISA feature 'AVX10_2'"),
    ({"level": "v4"}, "cpu_variants.x86_64.newcpu.features: missing"),
])
def test_config_long_form_for_new_variants(tmp_path, entry, error):
    from conftest import write_yaml
    from ollama_rpm.errors import ConfigError
    from ollama_rpm.specgen import config
    root = copy_project(tmp_path / "p")
    data = load_yaml(root / "packaging.yaml")
    data["cpu_variants"]["x86_64"]["newcpu"] = entry
    write_yaml(root / "packaging.yaml", data)
    if error is None:
        assert ("newcpu", "v4") in config.load_config(root / "packaging.yaml").cpu_x86_64
    else:
        with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace("]", r"\]")):
            config.load_config(root / "packaging.yaml")


def test_a_release_our_patch_no_longer_fits_is_refused_and_nothing_changes(repo, upstream):
    upstream.release("0.33.0", main_go="package main\n\nfunc main() {}\n")
    before = repo.head.commit
    config_before = pathlib.Path(repo.working_tree_dir + "/packaging.yaml").read_text()
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == 1
    assert f"{PACKAGE_PATCH} does not apply to ollama-0.33.0" in proc.stderr
    assert repo.head.commit == before and repo.git.status("--porcelain") == ""
    assert pathlib.Path(repo.working_tree_dir + "/packaging.yaml").read_text() == config_before


def test_bump_to_a_llama_cpp_tag_without_a_commit_id_changes_nothing(repo, upstream):
    upstream.release("0.33.0", "b10600")
    upstream.add_llama("b10600", commit=False)
    before = repo.head.commit
    proc = bump(repo, "--latest", upstream=upstream)
    assert proc.returncode != 0
    assert "llama.cpp-b10600.tar.gz records no git commit id" in proc.stderr
    assert "llama_cpp.commit" in proc.stderr
    assert repo.head.commit == before and repo.git.status("--porcelain") == ""


def test_split_layout_bump_commits_every_spec_in_one_commit(repo, upstream):
    root = repo.working_tree_dir
    config = f"{root}/packaging.yaml"
    with open(config) as handle:
        text = handle.read().replace("\nname: ollama\n", "\nname: ollama\nlayout: split\n", 1)
    with open(config, "w") as handle:
        handle.write(text)
    assert run_cli("render", cwd=root).returncode == 0
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "split layout")
    upstream.release("0.33.0", "b10600", cuda13="75-virtual;120-virtual")
    before = repo.head.commit
    proc = bump(repo, "--latest", upstream=upstream)
    assert proc.returncode == 0, proc.stderr
    assert repo.head.commit.parents == (before,)
    specs = ["ollama-ggml-cuda.spec", "ollama-ggml-cuda12.spec", "ollama-ggml-rocm.spec", "ollama-ggml-vulkan.spec",
             "ollama.spec"]
    assert sorted(repo.head.commit.stats.files) == sorted(["packaging.yaml", "sources.lock", *specs])
    assert repo.git.status("--porcelain") == ""
    for spec in specs:
        with open(f"{root}/{spec}") as handle:
            assert "Version:        0.33.0\n" in handle.read(), spec
    assert run_cli("render", "--check", cwd=root).returncode == 0


def _without_packager(repo, author="Ada Packager <ada@ollama-rpm-ci.net>"):
    """packaging.yaml with no packager: the existing entry names its author."""
    path = Path(repo.working_tree_dir) / "packaging.yaml"
    text = path.read_text()
    text = re.sub(r"(?m)^packager:\n(  .*\n)+", "", text)
    text = text.replace("  - version: 0.32.15-1\n", f"  - version: 0.32.15-1\n    author: {author}\n", 1)
    path.write_text(text)
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "no packager")


def test_placeholder_packager_is_refused_before_any_network(repo, upstream):
    path = Path(repo.working_tree_dir) / "packaging.yaml"
    path.write_text(path.read_text().replace(PACKAGER_EMAIL, "ollama-rpm@lists.example.org"))
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "placeholder")
    head = repo.head.commit.hexsha
    upstream.release("0.33.0")
    proc = bump(repo, upstream=upstream)
    assert proc.returncode == 2
    assert "packaging.yaml: packager" in proc.stderr and "reserved domain 'example.org'" in proc.stderr
    assert "RPM_PACKAGER" in proc.stderr
    assert repo.head.commit.hexsha == head and not upstream.server.requests


def test_new_entry_author_comes_from_rpm_packager(repo, upstream):
    _without_packager(repo)
    upstream.release("0.33.0")
    home = repo.working_tree_dir + "/../home"
    env = {"OLLAMA_RPM_GITHUB_API": upstream.server.url, "HOME": home, "XDG_CACHE_HOME": home + "/cache",
           "GITHUB_TOKEN": TOKEN, "RPM_PACKAGER": "Grace Builder <grace@ollama-rpm-ci.net>"}
    proc = run_cli("bump", "--timeout", TIMEOUT, cwd=repo.working_tree_dir, env=env)
    assert proc.returncode == 0, proc.stderr
    cfg = load_yaml(Path(repo.working_tree_dir) / "packaging.yaml")
    assert cfg["changelog"][0]["author"] == "Grace Builder <grace@ollama-rpm-ci.net>"
    assert cfg["changelog"][1]["author"] == "Ada Packager <ada@ollama-rpm-ci.net>"
    spec = (Path(repo.working_tree_dir) / "ollama.spec").read_text()
    assert re.search(r"(?m)^\* \w{3} \w{3} \d\d \d{4} Grace Builder <grace@ollama-rpm-ci.net> - 0\.33\.0-1$", spec)


def test_new_entry_author_falls_back_to_git(repo, upstream):
    _without_packager(repo)
    upstream.release("0.33.0")
    assert bump(repo, upstream=upstream).returncode == 0
    cfg = load_yaml(Path(repo.working_tree_dir) / "packaging.yaml")
    assert cfg["changelog"][0]["author"] == "Packager <packager@ollama-rpm-ci.net>"


def test_no_identity_anywhere_is_a_clear_error(repo, upstream):
    _without_packager(repo)
    with repo.config_writer() as cw:
        cw.remove_section("user")
    upstream.release("0.33.0")
    home = repo.working_tree_dir + "/../home"
    env = {"OLLAMA_RPM_GITHUB_API": upstream.server.url, "HOME": home, "XDG_CONFIG_HOME": home,
           "GIT_CONFIG_NOSYSTEM": "1", "GITHUB_TOKEN": TOKEN}
    proc = run_cli("bump", "--timeout", TIMEOUT, cwd=repo.working_tree_dir, env=env)
    assert proc.returncode == 2 and "no packager identity" in proc.stderr, proc.stderr


def test_an_entry_without_author_needs_a_packager(project):
    text = (project / "packaging.yaml").read_text()
    (project / "packaging.yaml").write_text(re.sub(r"(?m)^packager:\n(  .*\n)+", "", text))
    proc = run_cli("render", cwd=project)
    assert proc.returncode == 2 and "changelog[0].author" in proc.stderr and "no packager" in proc.stderr
