"""`ollama-rpm copr submit` against a local fake Copr, through the real copr.v3 client."""

from pathlib import Path

import pytest

from conftest import run_cli
from fakes import FakeCopr
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_NETWORK

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine

pytest.importorskip("copr.v3")

TOKEN = "tok-SECRET-1234567890"
NVIDIA_42 = "https://developer.download.nvidia.com/compute/cuda/repos/fedora42/x86_64/"
NVIDIA_43 = "https://developer.download.nvidia.com/compute/cuda/repos/fedora43/x86_64/"


@pytest.fixture
def copr():
    with FakeCopr(token=TOKEN) as server:
        yield server


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    return home


def write_config(home, url, token=TOKEN):
    path = home / ".config" / "copr"
    path.write_text(f"[copr-cli]\nlogin = api-login\nusername = alice\ntoken = {token}\n"
                    f"copr_url = {url}\nencrypted = False\n")
    return path


@pytest.fixture
def srpm(tmp_path):
    path = tmp_path / "ollama-0.32.15-1.fc43.src.rpm"
    path.write_bytes(b"\xed\xab\xee\xdb fake srpm payload")
    return path


def submit(home, *args, cwd=None):
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "CI": "1"}
    return run_cli("copr", "submit", *args, "--poll-interval", "0.05", cwd=cwd, env=env)


def assert_no_token(proc, home, token=TOKEN):
    assert token not in proc.stdout and token not in proc.stderr
    config = home / ".config" / "copr"
    for path in Path(home).rglob("*"):
        if path.is_file() and path != config:
            assert token.encode() not in path.read_bytes(), f"token leaked into {path}"


def test_happy_path_creates_project_configures_cuda_uploads_and_waits(copr, home, srpm):
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "fedora-42-x86_64",
                  "--chroot", "fedora-43-x86_64", "--with", "cuda", "--srpm", srpm)
    assert proc.returncode == 0, proc.stderr
    assert ("alice", "ollama") in copr.projects
    assert copr.chroots[("alice", "ollama", "fedora-42-x86_64")] == {
        "additional_repos": [NVIDIA_42], "with_opts": ["cuda"]}
    assert copr.chroots[("alice", "ollama", "fedora-43-x86_64")]["additional_repos"] == [NVIDIA_43]
    [(name, content, data)] = copr.uploads
    assert name == srpm.name and content == srpm.read_bytes()
    assert data["chroots"] == ["fedora-42-x86_64", "fedora-43-x86_64"]
    assert "created Copr project alice/ollama" in proc.stdout
    # dnf downgrade needs the previous build: say how long Copr keeps it.
    assert "note: Copr prunes superseded builds of alice/ollama older than 14 days" in proc.stdout
    assert f"{copr.url}/coprs/alice/ollama/build/1000/" in proc.stdout
    lines = proc.stdout.splitlines()
    assert any(line.split() == ["fedora-42-x86_64", "succeeded"] for line in lines)
    assert any(line.split() == ["fedora-43-x86_64", "succeeded"] for line in lines)
    assert "fedora-43-x86_64: running" in proc.stdout       # plain progress lines in CI
    assert_no_token(proc, home)


def test_existing_configured_project_is_left_alone(copr, home, srpm):
    copr.add_project("@ml", "ollama", ["fedora-43-x86_64"])
    copr.chroots[("@ml", "ollama", "fedora-43-x86_64")] = {"additional_repos": [NVIDIA_43], "with_opts": ["cuda"]}
    write_config(home, copr.url)
    proc = submit(home, "--project", "@ml/ollama", "--chroot", "fedora-43-x86_64", "--with", "cuda",
                  "--srpm", srpm)
    assert proc.returncode == 0, proc.stderr
    edits = [path for method, path, _ in copr.requests if method == "PUT"]
    assert edits == []
    assert f"{copr.url}/coprs/g/ml/ollama/build/1000/" in proc.stdout


def test_new_chroot_is_enabled_on_an_existing_project(copr, home, srpm):
    copr.add_project("alice", "ollama", ["fedora-42-x86_64"])
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "fedora-43-x86_64", "--srpm", srpm, "--no-wait")
    assert proc.returncode == 0, proc.stderr
    assert ("alice", "ollama", "fedora-43-x86_64") in copr.chroots
    assert copr.chroots[("alice", "ollama", "fedora-43-x86_64")]["with_opts"] == []   # no cuda asked
    assert "build 1000:" in proc.stdout
    assert copr.builds[1000]["polls"] == 0, "--no-wait must not poll"


def test_failed_build_exits_1_with_the_table(copr, home, srpm):
    copr.final_state = "failed"
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "fedora-43-x86_64", "--srpm", srpm)
    assert proc.returncode == EXIT_FAILED
    assert any(line.split() == ["fedora-43-x86_64", "failed"] for line in proc.stdout.splitlines())
    assert "Copr build 1000 failed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_server_error_is_a_network_error_and_redacts_an_echoed_token(copr, home, srpm):
    copr.fault("/api_3/project", (500, {"error": f"database exploded (auth {TOKEN})"}))
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--srpm", srpm)
    assert proc.returncode == EXIT_NETWORK
    assert "HTTP 500" in proc.stderr and "read project alice/ollama" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert_no_token(proc, home)


def test_500_on_upload(copr, home, srpm):
    copr.add_project("alice", "ollama", ["fedora-43-x86_64"])
    copr.fault("/api_3/build/create", (500, {"error": "Internal Server Error"}))
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "fedora-43-x86_64", "--srpm", srpm)
    assert proc.returncode == EXIT_NETWORK
    assert "HTTP 500" in proc.stderr and "upload" in proc.stderr
    assert copr.uploads == []
    assert_no_token(proc, home)


def test_copr_that_does_not_answer_times_out(copr, home, srpm):
    copr.add_project("alice", "ollama", ["fedora-43-x86_64"])
    copr.fault("/api_3/build/create", "hang")
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "fedora-43-x86_64", "--srpm", srpm,
                  "--api-timeout", "1")
    assert proc.returncode == EXIT_NETWORK
    assert "did not answer within 1 s" in proc.stderr
    assert_no_token(proc, home)


def test_gateway_timeout_504(copr, home, srpm):
    copr.fault("/api_3/project", (504, {"error": "Gateway Timeout"}))
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--srpm", srpm)
    assert proc.returncode == EXIT_NETWORK
    assert "timed out (HTTP 504)" in proc.stderr


def test_expired_token_is_a_clear_config_error(copr, home, srpm):
    old = "tok-EXPIRED-0987654321"
    write_config(home, copr.url, token=old)
    proc = submit(home, "--project", "alice/ollama", "--srpm", srpm)
    assert proc.returncode == EXIT_CONFIG
    assert "HTTP 401" in proc.stderr and "expired" in proc.stderr and "/api/" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert copr.uploads == []
    assert_no_token(proc, home, token=old)


def test_unknown_project_with_no_create(copr, home, srpm):
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/nope", "--srpm", srpm, "--no-create")
    assert proc.returncode == EXIT_CONFIG
    assert "Copr project alice/nope does not exist" in proc.stderr
    assert ("alice", "nope") not in copr.projects


def test_unknown_owner(copr, home, srpm):
    write_config(home, copr.url)
    proc = submit(home, "--project", "bob/ollama", "--srpm", srpm)
    assert proc.returncode == EXIT_CONFIG
    assert "unknown owner bob" in proc.stderr
    assert_no_token(proc, home)


def test_missing_config_file(home, srpm, tmp_path):
    proc = submit(home, "--project", "alice/ollama", "--srpm", srpm, "--copr-config", tmp_path / "nope")
    assert proc.returncode == EXIT_CONFIG
    assert str(tmp_path / "nope") in proc.stderr and "no Copr API config" in proc.stderr


NVIDIA_URL = "https://developer.download.nvidia.com/compute/cuda/repos/{}/x86_64/"


def test_cuda_with_the_default_chroots_follows_builds_repository_policy(copr, home, srpm):
    """fedora-44 and rawhide have no NVIDIA repository: like `build --engine mock`,
    the newest one below them (fedora43), with a warning, instead of failing."""
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--with", "cuda", "--srpm", srpm, "--no-wait")
    assert proc.returncode == 0, proc.stderr
    for chroot in ("fedora-44-x86_64", "fedora-rawhide-x86_64"):
        assert copr.chroots[("alice", "ollama", chroot)] == {"additional_repos": [NVIDIA_43], "with_opts": ["cuda"]}
        assert f"{chroot}: NVIDIA publishes no CUDA repository" in proc.stderr
    # the same URL `build` writes into its mock config for the same chroot
    from ollama_rpm.builders import mockcfg
    from ollama_rpm.specgen import backends
    for chroot in ("fedora-44-x86_64", "fedora-rawhide-x86_64"):
        assert mockcfg.cuda_repo(backends.parse_chroot(chroot)).url == NVIDIA_43
    proc = submit(home, "--project", "alice/ollama2", "--with", "cuda", "--cuda-repo-release", "42",
                  "--srpm", srpm, "--no-wait")
    assert proc.returncode == 0, proc.stderr
    assert copr.chroots[("alice", "ollama2", "fedora-rawhide-x86_64")]["additional_repos"] == [NVIDIA_42]


def test_without_and_other_backends_become_chroot_options(copr, home, srpm):
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "fedora-43-x86_64", "--chroot", "fedora-43-aarch64",
                  "--with", "cuda", "--without", "rocm", "--srpm", srpm, "--no-wait")
    assert proc.returncode == 0, proc.stderr
    assert copr.chroots[("alice", "ollama", "fedora-43-x86_64")]["without_opts"] == ["rocm"]
    # CUDA is x86_64 only (packaging.yaml's arches): no NVIDIA repository on aarch64
    assert copr.chroots[("alice", "ollama", "fedora-43-x86_64")]["additional_repos"] == [NVIDIA_43]
    assert copr.chroots[("alice", "ollama", "fedora-43-aarch64")]["additional_repos"] == []


@pytest.mark.parametrize("args, message", [
    (("--with", "metal"), "--with metal: not a backend of"),
    (("--without", "vulkan", "--with", "vulkan"), "contradict"),
    (("--chroot", "fedora-44-riscv64"), "--chroot fedora-44-riscv64: expected a Copr chroot"),
    (("--config", "nope.yaml"), "nope.yaml"),
])
def test_bad_submissions_are_refused_before_any_request(copr, home, srpm, args, message):
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--srpm", srpm, *args)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert copr.requests == []


def test_epel_chroots_get_nvidias_rhel_repository(copr, home, srpm):
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "epel-9-x86_64", "--chroot", "epel-10-x86_64",
                  "--with", "cuda", "--with", "cuda12", "--srpm", srpm, "--no-wait")
    assert proc.returncode == 0, proc.stderr
    for release in (9, 10):
        assert copr.chroots[("alice", "ollama", f"epel-{release}-x86_64")] == {
            "additional_repos": [f"https://developer.download.nvidia.com/compute/cuda/repos/rhel{release}/x86_64/"],
            "with_opts": ["cuda", "cuda12"]}


def test_cuda12_is_refused_on_fedora_with_new_glibc(copr, home, srpm):
    write_config(home, copr.url)
    proc = submit(home, "--project", "alice/ollama", "--chroot", "fedora-44-x86_64", "--with", "cuda12",
                  "--srpm", srpm)
    assert proc.returncode == EXIT_CONFIG and "glibc 2.41" in proc.stderr
    assert copr.requests == []


def test_bad_project_name(home, srpm):
    proc = submit(home, "--project", "just-a-name", "--srpm", srpm)
    assert proc.returncode == EXIT_CONFIG and "OWNER/NAME" in proc.stderr


def _split_srpms(tmp_path, names):
    paths = []
    for name in names:
        path = tmp_path / f"{name}-0.32.15-1.fc43.src.rpm"
        path.write_bytes(f"fake {name}".encode())
        paths.append(path)
    return paths


def test_split_layout_uploads_ollama_then_the_backends_as_one_batch(copr, home, tmp_path):
    write_config(home, copr.url)
    srpms = _split_srpms(tmp_path, ("ollama", "ollama-ggml-cuda", "ollama-ggml-rocm", "ollama-ggml-vulkan"))
    proc = submit(home, "--project", "alice/ollama", "--layout", "split", "--chroot", "fedora-43-x86_64",
                  "--chroot", "fedora-43-aarch64", "--with", "cuda", *[a for s in srpms for a in ("--srpm", s)])
    assert proc.returncode == 0, proc.stderr
    uploads = [(name.rsplit("-", 2)[0], data) for name, _, data in copr.uploads]
    assert [name for name, _ in uploads] == ["ollama", "ollama-ggml-cuda", "ollama-ggml-rocm", "ollama-ggml-vulkan"]
    ollama, cuda, rocm, vulkan = (data for _, data in uploads)
    # ollama first, alone; the first backend after it; the others in the same batch
    assert "after_build_id" not in ollama and "with_build_id" not in ollama
    assert cuda["after_build_id"] == 1000 and "with_build_id" not in cuda
    assert rocm["with_build_id"] == 1001 and vulkan["with_build_id"] == 1001
    # each package in the chroots of its arches (packaging.yaml: CUDA and ROCm x86_64 only)
    assert ollama["chroots"] == vulkan["chroots"] == ["fedora-43-x86_64", "fedora-43-aarch64"]
    assert cuda["chroots"] == rocm["chroots"] == ["fedora-43-x86_64"]
    # the specs have no %bcond: no with_opts; NVIDIA's repository where the CUDA package builds
    assert copr.chroots[("alice", "ollama", "fedora-43-x86_64")] == {"additional_repos": [NVIDIA_43], "with_opts": []}
    assert copr.chroots[("alice", "ollama", "fedora-43-aarch64")]["additional_repos"] == []
    assert all(copr.builds[build_id]["polls"] >= 2 for build_id in (1000, 1001, 1002, 1003))
    lines = proc.stdout.splitlines()
    assert any(line.split() == ["ollama-ggml-cuda", "fedora-43-x86_64", "succeeded"] for line in lines)
    assert f"build 1001 (ollama-ggml-cuda): {copr.url}/coprs/alice/ollama/build/1001/" in proc.stdout


def test_split_layout_without_a_backend_uploads_no_package_for_it(copr, home, tmp_path):
    write_config(home, copr.url)
    srpms = _split_srpms(tmp_path, ("ollama", "ollama-ggml-rocm", "ollama-ggml-vulkan"))
    proc = submit(home, "--project", "alice/ollama", "--layout", "split", "--chroot", "fedora-43-x86_64",
                  "--without", "rocm", *[a for s in srpms for a in ("--srpm", s)], "--no-wait")
    assert proc.returncode == 0, proc.stderr
    assert [name.rsplit("-", 2)[0] for name, _, _ in copr.uploads] == ["ollama", "ollama-ggml-vulkan"]
    assert copr.uploads[1][2]["after_build_id"] == 1000
    # a package turned on without its SRPM is refused before anything is sent to Copr
    copr.uploads.clear()
    copr.requests.clear()
    proc = submit(home, "--project", "alice/ollama", "--layout", "split", "--chroot", "fedora-43-x86_64",
                  "--srpm", srpms[0], "--no-wait")
    assert proc.returncode == EXIT_CONFIG and "--srpm: none given for ollama-ggml-rocm" in proc.stderr
    assert copr.requests == [] and copr.uploads == []


def test_no_prune_note_where_a_copr_admin_turned_auto_prune_off(copr, home, srpm):
    write_config(home, copr.url)
    copr.add_project("alice", "kept", ["fedora-43-x86_64"])
    copr.projects[("alice", "kept")]["auto_prune"] = False
    proc = submit(home, "--project", "alice/kept", "--chroot", "fedora-43-x86_64", "--srpm", srpm)
    assert proc.returncode == 0, proc.stderr
    assert "Copr prunes" not in proc.stdout
