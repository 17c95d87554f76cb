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
    proc = submit(home, "--project", "alice/ollama", "--srpm", srpm, "--config", tmp_path / "nope")
    assert proc.returncode == EXIT_CONFIG
    assert str(tmp_path / "nope") in proc.stderr and "no Copr API config" in proc.stderr


@pytest.mark.parametrize("chroots", [["fedora-rawhide-x86_64"], ["fedora-43-x86_64", "fedora-rawhide-x86_64"]])
def test_cuda_on_rawhide_is_refused_before_any_request(copr, home, srpm, chroots):
    write_config(home, copr.url)
    args = [a for c in chroots for a in ("--chroot", c)]
    proc = submit(home, "--project", "alice/ollama", *args, "--with", "cuda", "--srpm", srpm)
    assert proc.returncode == EXIT_CONFIG
    # the same words as `build --engine mock`: one source for NVIDIA's repositories
    assert "fedora-rawhide-x86_64: NVIDIA publishes no CUDA repository for rawhide" in proc.stderr
    assert copr.requests == [] and copr.uploads == []


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
