"""Hostile network answers and upstream releases: Copr, GitHub, `bump`.

Each class one parametrized test; each case a real `ollama-rpm` process against a
local fake server, checked for its exit code, its one stderr line and that nothing
was uploaded, written or committed."""

import pytest

from conftest import run_cli
from fakes import FakeCopr
from hostile_support import snapshot
from test_bump import bump, ollama_tarball, repo, upstream  # noqa: F401 (fixtures)
from test_bump import snapshot as repo_snapshot

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine

pytest.importorskip("copr.v3")

TOKEN = "tok-SECRET-1234567890"


def one_line(proc, code, needle):
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ollama-rpm: "), proc.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def copr():
    with FakeCopr(token=TOKEN) as server:
        server.add_project("alice", "ollama", ["fedora-44-x86_64"])
        yield server


@pytest.fixture
def home(tmp_path):
    (tmp_path / "home" / ".config").mkdir(parents=True)
    return tmp_path / "home"


@pytest.fixture
def srpm(tmp_path):
    path = tmp_path / "ollama-0.32.15-1.fc44.src.rpm"
    path.write_bytes(b"\xed\xab\xee\xdb fake srpm")
    return path


def write_config(home, text):
    path = home / ".config" / "copr"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def good_config(url, token=TOKEN):
    return f"[copr-cli]\nlogin = api-login\nusername = alice\ntoken = {token}\ncopr_url = {url}\nencrypted = False\n"


def submit(home, srpm, *args):
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "CI": "1"}
    return run_cli("copr", "submit", "--project", "alice/ollama", "--chroot", "fedora-44-x86_64",
                   "--srpm", srpm, "--poll-interval", "0.05", *args, env=env)


# (path prefix, fault answer, exit code, text in the line)
ANSWERS = {
    "project-200-list": ("/api_3/project", (200, [1, 2, 3]), 4, "not its API's JSON"),
    "project-200-number": ("/api_3/project", (200, 42), 4, "not its API's JSON"),
    "project-200-not-json": ("/api_3/project", (200, b"<html>oops</html>"), 4, "read project"),
    "project-500-no-error": ("/api_3/project", (500, {}), 4, "HTTP 500"),
    "upload-401-no-error": ("/api_3/build/create", (401, {"message": "no"}), 2, "token"),
    "upload-200-without-id": ("/api_3/build/create", (200, {"state": "pending"}), 4, "without id"),
    "upload-200-id-string": ("/api_3/build/create", (200, {"id": "1; rm"}), 4, "without id"),
    "build-200-state-number": ("/api_3/build/1000", (200, {"id": 1000, "state": 5}), 4, "without state"),
    "chroots-200-not-a-list": ("/api_3/build-chroot/list", (200, {"foo": 1}), 4, "not a list"),
}


@pytest.mark.parametrize("prefix,answer,code,needle", ANSWERS.values(), ids=ANSWERS.keys())
def test_copr_answers_off_the_api_are_errors(copr, home, srpm, prefix, answer, code, needle):
    write_config(home, good_config(copr.url))
    copr.fault(prefix, answer)
    proc = submit(home, srpm)
    one_line(proc, code, needle)
    assert "succeeded" not in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


CONFIGS = {
    "no-section": ("[other]\nlogin = a\ntoken = t\n", "copr-cli"),
    "no-copr-url": ("[copr-cli]\nlogin = api-login\ntoken = " + TOKEN + "\n", "copr-cli.copr_url"),
    "no-token": ("[copr-cli]\nlogin = api-login\ncopr_url = https://copr.example\n", "copr-cli.token"),
    "bad-url": ("[copr-cli]\nlogin = a\ntoken = " + TOKEN + "\ncopr_url = javascript:alert(1)\n", "copr_url"),
    "not-utf8": (b"[copr-cli]\nlogin = \xff\n", "not UTF-8"),
    "not-ini": ("login = a\n", "not an INI file"),
    "token-with-percent": (None, "write a % in a value as %%"),
    # Plain http only where the token stays on this machine (the fake Copr is on 127.0.0.1).
    "http-url": ("[copr-cli]\nlogin = a\ntoken = " + TOKEN + "\ncopr_url = http://copr.example.org\n",
                 "copr-cli.copr_url: http://copr.example.org: HTTPS is required"),
    "http-url-uppercase": ("[copr-cli]\nlogin = a\ntoken = " + TOKEN + "\ncopr_url = HTTP://copr.example.org/\n",
                           "HTTPS is required"),
}


@pytest.mark.parametrize("text,needle", CONFIGS.values(), ids=CONFIGS.keys())
def test_broken_copr_config_is_refused_before_any_request(copr, home, srpm, text, needle):
    token = "tok%SECRET%part-98765"
    write_config(home, good_config(copr.url, token) if text is None else text)
    proc = submit(home, srpm)
    one_line(proc, 2, needle)
    assert copr.requests == []
    assert "SECRET" not in proc.stdout + proc.stderr and "part-98765" not in proc.stdout + proc.stderr


ARGS = {
    "chroot-newline": (["--chroot", "fedora-44-x86_64\n"], "--chroot"),
    "chroot-arch": (["--chroot", "fedora-44-mips"], "--chroot"),
    "chroot-arabic": (["--chroot", "fedora-\u0664\u0664-x86_64"], "--chroot"),
    "wait-timeout-nan": (["--wait-timeout", "nan"], "--wait-timeout"),
    "wait-timeout-inf": (["--wait-timeout", "inf"], "--wait-timeout"),
}


@pytest.mark.parametrize("args,needle", ARGS.values(), ids=ARGS.keys())
def test_copr_arguments_are_checked_before_upload(copr, home, srpm, args, needle):
    write_config(home, good_config(copr.url))
    proc = submit(home, srpm, *args)
    one_line(proc, 2, needle)
    assert copr.requests == [] and copr.uploads == []


# --- GitHub and the upstream release ----------------------------------------------------

LATEST = "/repos/ollama/ollama/releases/latest"
GITHUB = {
    "500-empty-message": ((500, {"message": ""}), 4, "HTTP 500"),
    "500-null-message": ((500, {"message": None}), 4, "HTTP 500"),
    "500-newline-message": ((500, {"message": "\n\n"}), 4, "HTTP 500"),
    "403-absurd-reset": ((403, {"message": "API rate limit exceeded"},
                          {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9" * 40}), 4, "rate limit"),
    "403-superscript-reset": ((403, {"message": "API rate limit exceeded"},
                          {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1\u00b2"}), 4, "rate limit"),
    "latest-is-prerelease": ((200, {"tag_name": "v0.33.0-rc1", "prerelease": True}), 1, "pre-release"),
    "latest-is-draft": ((200, {"tag_name": "v0.33.0", "draft": True}), 1, "draft"),
    "latest-rc-tag-unflagged": ((200, {"tag_name": "v0.33.0-rc2"}), 1, "pre-release"),
    "tag-not-a-string": ((200, {"tag_name": ["v1"]}), 4, "tag_name"),
}


@pytest.mark.slow  # the whole bump
@pytest.mark.parametrize("answer,code,needle", GITHUB.values(), ids=GITHUB.keys())
def test_github_answers_stop_bump_cleanly(repo, upstream, answer, code, needle):
    upstream.release("0.33.0", "b10600")
    upstream.server.fault(LATEST, answer)
    before = repo_snapshot(repo)
    one_line(bump(repo, "--latest", upstream=upstream), code, needle)
    assert repo_snapshot(repo) == before


HOSTILE_RELEASES = {
    "llama-tag-newline": (dict(llama_tag="b10600\n%pre\nid"), "LLAMA_CPP_VERSION"),
    "llama-tag-shell": (dict(llama_tag="b1;touch${IFS}X"), "LLAMA_CPP_VERSION"),
    "compat-patch-shell": (dict(patches=("001-$(id).patch",)), "llama/compat patch"),
    "compat-patch-space": (dict(patches=("001 x.patch",)), "llama/compat patch"),
    "preset-quote": (dict(cuda12='75;80";touch X;"'), "CMAKE_CUDA_ARCHITECTURES"),
    "preset-macro": (dict(cuda12="75;%(id)"), "CMAKE_CUDA_ARCHITECTURES"),
    "go-line-arabic": (dict(go="1.\u0662\u0667"), "go.mod"),
}


@pytest.mark.slow  # the whole bump
@pytest.mark.parametrize("kw,needle", HOSTILE_RELEASES.values(), ids=HOSTILE_RELEASES.keys())
def test_malicious_release_stops_bump_before_any_write(repo, upstream, kw, needle):
    llama_tag = kw.pop("llama_tag", "b10600")
    upstream.server.releases.insert(0, {"tag_name": "v0.33.0", "prerelease": False})
    upstream.server.files["/ollama/archive/v0.33.0/ollama-0.33.0.tar.gz"] = ollama_tarball("0.33.0", llama_tag, **kw)
    upstream.add_llama("b10600")
    before = repo_snapshot(repo)
    one_line(bump(repo, "--latest", upstream=upstream), 1, needle)
    assert repo_snapshot(repo) == before


def _detach(repo):
    repo.git.checkout("-q", "--detach")


def _edit_template(repo):
    path = f"{repo.working_tree_dir}/ollama.spec.j2"
    with open(path, "a") as handle:
        handle.write("# local edit\n")


def _untracked_patch(repo):
    with open(f"{repo.working_tree_dir}/patches/0099-local.patch", "w") as handle:
        handle.write("--- a/x\n+++ b/x\n")


def _edit_unit(repo):
    with open(f"{repo.working_tree_dir}/units/ollama.service", "a") as handle:
        handle.write("# local\n")


REPOS = {
    "push-on-detached-head": (_detach, ["--push"], "HEAD is detached"),
    "dirty-template": (_edit_template, [], "ollama.spec.j2"),
    "untracked-patch": (_untracked_patch, [], "0099-local.patch"),
    "dirty-unit": (_edit_unit, [], "ollama.service"),
}


@pytest.mark.slow  # the whole bump
@pytest.mark.parametrize("make,args,needle", REPOS.values(), ids=REPOS.keys())
def test_bump_refuses_a_repository_it_cannot_commit_cleanly(repo, upstream, make, args, needle):
    upstream.release("0.33.0", "b10600")
    make(repo)
    before = repo_snapshot(repo), snapshot(repo.working_tree_dir)
    one_line(bump(repo, "--latest", *args, upstream=upstream), 2, needle)
    assert (repo_snapshot(repo), snapshot(repo.working_tree_dir)) == before
    assert upstream.server.requests == []


# --- downloads that drip -------------------------------------------------------------

STALLS = {
    "one-byte-a-tenth-second": ({"OLLAMA_RPM_STALL_SECONDS": "1"}, "stalled: under 1024 bytes/s for 1 s"),
    "under-a-raised-floor": ({"OLLAMA_RPM_STALL_SECONDS": "2", "OLLAMA_RPM_MIN_RATE": "100"},
                             "stalled: under 100 bytes/s for 2 s"),
}


@pytest.mark.parametrize("extra,needle", STALLS.values(), ids=STALLS.keys())
def test_a_download_that_drips_is_stopped_by_the_stall_rule(tmp_path, extra, needle):
    """The fake server sends one byte every 0.1 s: never a read timeout, and the total
    deadline (an hour) far away. The stall rule stops it, and says so."""
    from fakes import FileServer
    from source_fixtures import LLAMA_TARBALL, OLLAMA_TARBALL, llama_tarball, make_project, ollama_tarball

    with FileServer() as server:
        server.add("/" + OLLAMA_TARBALL, ollama_tarball(), faults=("trickle",))
        server.add("/" + LLAMA_TARBALL, llama_tarball())
        root = make_project(tmp_path / "project", server.file_url("/" + OLLAMA_TARBALL),
                            server.file_url("/" + LLAMA_TARBALL))
        env = {"OLLAMA_RPM_RETRIES": "0", "CI": "true", "OLLAMA_RPM_CACHE": str(tmp_path / "cache"), **extra}
        proc = run_cli("sources", "--update-lock", cwd=root, env=env, timeout=120)
    line = one_line(proc, 4, needle)
    assert OLLAMA_TARBALL in line and "OLLAMA_RPM_STALL_SECONDS" in line, line
    assert not (root / "sources.lock").exists()
    assert not list((tmp_path / "cache").rglob("*.part"))
