"""`ollama-rpm sources`: real HTTP over 127.0.0.1 with injected faults, pins, the cache."""

import hashlib
import json

import pytest

from conftest import run_cli
from fakes import FileServer
from ollama_rpm.errors import EXIT_CONFIG, EXIT_INTEGRITY, EXIT_NETWORK
from ollama_rpm.sources import lock
from source_fixtures import (
    LLAMA_TARBALL,
    OLLAMA_TARBALL,
    PROJECT_SOURCE_FILES,
    TEST_PATCH,
    llama_tarball,
    make_project,
    make_upstream,
    ollama_tarball,
    tree_snapshot,
)

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine

RETRIES = 2


@pytest.fixture
def server():
    srv = FileServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def env(tmp_path):
    return {"OLLAMA_RPM_CACHE": str(tmp_path / "cache"), "OLLAMA_RPM_RETRY_BASE_DELAY": "0.01",
            "OLLAMA_RPM_RETRIES": str(RETRIES), "OLLAMA_RPM_READ_TIMEOUT": "10", "CI": "true"}


@pytest.fixture
def data():
    return {OLLAMA_TARBALL: ollama_tarball(), LLAMA_TARBALL: llama_tarball()}


@pytest.fixture
def project(tmp_path, server, data):
    for name, body in data.items():
        server.add(f"/{name}", body)
    return make_project(tmp_path / "project", server.file_url(f"/{OLLAMA_TARBALL}"), server.file_url(f"/{LLAMA_TARBALL}"))


def sha(body):
    return hashlib.sha256(body).hexdigest()


def pin(project, server, pins):
    pinned = lock.load(project / "sources.lock")
    for name, digest in pins.items():
        pinned.set(name, server.file_url(f"/{name}"), digest)
    pinned.save()
    return (project / "sources.lock").read_bytes()


def assert_nothing_left(tmp_path, project):
    """No Source under its final name, no temporary file in the source dir or the cache."""
    assert tree_snapshot(project / "build" / "SOURCES") == []
    assert tree_snapshot(tmp_path / "cache" / "sha256") == []


def test_missing_pin_without_update_lock_is_a_config_error(tmp_path, project, server, env):
    proc = run_cli("sources", cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert OLLAMA_TARBALL in line and "--update-lock" in line and "sources.lock" in line
    assert server.total_hits == 0
    assert not (project / "sources.lock").exists()
    assert_nothing_left(tmp_path, project)


def test_update_lock_records_pins_and_collects_every_file(project, server, env, data):
    proc = run_cli("sources", "--update-lock", cwd=project, env=env, check=True)
    source_dir = project / "build" / "SOURCES"
    assert proc.stdout.strip() == str(source_dir)
    recorded = json.loads((project / "sources.lock").read_text())["sources"]
    assert recorded == {name: {"url": server.file_url(f"/{name}"), "sha256": sha(body)}
                        for name, body in data.items()}
    for name, body in data.items():
        assert (source_dir / name).read_bytes() == body
        assert server.hits[f"/{name}"] == 1
    for rel in PROJECT_SOURCE_FILES:
        assert (source_dir / rel.rsplit("/", 1)[-1]).read_bytes() == (project / rel).read_bytes()
    assert (source_dir / TEST_PATCH).read_bytes() == (project / "patches" / TEST_PATCH).read_bytes()
    assert not [p for p in tree_snapshot(source_dir) if p.endswith(".part")]


def test_second_run_makes_no_request_and_keeps_the_lock(tmp_path, project, server, env):
    run_cli("sources", "--update-lock", cwd=project, env=env, check=True)
    lock_bytes = (project / "sources.lock").read_bytes()
    hits = server.total_hits
    assert hits == 2
    run_cli("sources", cwd=project, env=env, check=True)
    assert server.total_hits == hits
    # A fresh source dir is filled from the cache, still without a request.
    other = tmp_path / "other-sources"
    run_cli("sources", "--source-dir", other, cwd=project, env=env, check=True)
    assert server.total_hits == hits
    assert (other / OLLAMA_TARBALL).read_bytes() == ollama_tarball()
    assert (project / "sources.lock").read_bytes() == lock_bytes


def test_without_update_lock_the_lock_is_unchanged_byte_for_byte(project, server, env, data):
    before = pin(project, server, {name: sha(body) for name, body in data.items()})
    run_cli("sources", cwd=project, env=env, check=True)
    assert (project / "sources.lock").read_bytes() == before
    assert server.total_hits == 2


def test_wrong_sha256_is_an_integrity_error_naming_both_hashes(tmp_path, project, server, env, data):
    wrong = "0" * 64
    before = pin(project, server, {OLLAMA_TARBALL: wrong, LLAMA_TARBALL: sha(data[LLAMA_TARBALL])})
    proc = run_cli("sources", cwd=project, env=env)
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert OLLAMA_TARBALL in line and server.file_url(f"/{OLLAMA_TARBALL}") in line
    assert wrong in line and sha(data[OLLAMA_TARBALL]) in line
    assert server.hits[f"/{OLLAMA_TARBALL}"] == 1, "a hash mismatch is not retried"
    assert (project / "sources.lock").read_bytes() == before
    assert_nothing_left(tmp_path, project)


def test_body_with_wrong_hash_from_server_is_refused(tmp_path, project, server, env, data):
    pin(project, server, {name: sha(body) for name, body in data.items()})
    server.add(f"/{OLLAMA_TARBALL}", data[OLLAMA_TARBALL], faults=["wrong"])
    proc = run_cli("sources", cwd=project, env=env)
    assert proc.returncode == EXIT_INTEGRITY
    assert "sha256 mismatch" in proc.stderr and sha(data[OLLAMA_TARBALL]) in proc.stderr
    assert_nothing_left(tmp_path, project)


def test_truncated_body_is_retried_then_a_network_error(tmp_path, project, server, env, data):
    pin(project, server, {name: sha(body) for name, body in data.items()})
    server.add(f"/{OLLAMA_TARBALL}", data[OLLAMA_TARBALL], faults=["truncate"])
    proc = run_cli("sources", cwd=project, env=env)
    assert proc.returncode == EXIT_NETWORK, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "truncated" in line and OLLAMA_TARBALL in line
    assert server.file_url(f"/{OLLAMA_TARBALL}") in line
    assert server.hits[f"/{OLLAMA_TARBALL}"] == RETRIES + 1
    assert_nothing_left(tmp_path, project)


def test_http_500_then_success(project, server, env, data):
    pin(project, server, {name: sha(body) for name, body in data.items()})
    server.add(f"/{OLLAMA_TARBALL}", data[OLLAMA_TARBALL], faults=["500", "500", "ok"])
    run_cli("sources", cwd=project, env=env, check=True)
    assert server.hits[f"/{OLLAMA_TARBALL}"] == 3
    assert (project / "build" / "SOURCES" / OLLAMA_TARBALL).read_bytes() == data[OLLAMA_TARBALL]


def test_http_500_forever_gives_up(tmp_path, project, server, env, data):
    pin(project, server, {name: sha(body) for name, body in data.items()})
    server.add(f"/{OLLAMA_TARBALL}", data[OLLAMA_TARBALL], faults=["500"])
    proc = run_cli("sources", cwd=project, env=env)
    assert proc.returncode == EXIT_NETWORK
    assert "HTTP 500" in proc.stderr and f"{RETRIES + 1} attempts" in proc.stderr
    assert server.hits[f"/{OLLAMA_TARBALL}"] == RETRIES + 1
    assert_nothing_left(tmp_path, project)


def test_http_404_is_not_retried(tmp_path, project, server, env, data):
    pin(project, server, {name: sha(body) for name, body in data.items()})
    server.add(f"/{OLLAMA_TARBALL}", b"", faults=["404"])
    proc = run_cli("sources", cwd=project, env=env)
    assert proc.returncode == EXIT_NETWORK
    line = proc.stderr.strip()
    assert "\n" not in line and "HTTP 404" in line and server.file_url(f"/{OLLAMA_TARBALL}") in line
    assert server.hits[f"/{OLLAMA_TARBALL}"] == 1
    assert_nothing_left(tmp_path, project)


def test_connection_reset_then_success(project, server, env, data):
    pin(project, server, {name: sha(body) for name, body in data.items()})
    server.add(f"/{LLAMA_TARBALL}", data[LLAMA_TARBALL], faults=["reset", "ok"])
    run_cli("sources", cwd=project, env=env, check=True)
    assert server.hits[f"/{LLAMA_TARBALL}"] == 2
    assert (project / "build" / "SOURCES" / LLAMA_TARBALL).read_bytes() == data[LLAMA_TARBALL]


def test_corrupt_cache_entry_is_downloaded_again(tmp_path, project, server, env, data):
    run_cli("sources", "--update-lock", cwd=project, env=env, check=True)
    cached = tmp_path / "cache" / "sha256" / sha(data[OLLAMA_TARBALL])
    (project / "build" / "SOURCES" / OLLAMA_TARBALL).unlink()
    cached.unlink()
    cached.write_bytes(b"garbage")
    run_cli("sources", cwd=project, env=env, check=True)
    assert server.hits[f"/{OLLAMA_TARBALL}"] == 2
    assert cached.read_bytes() == data[OLLAMA_TARBALL]


def test_changed_url_needs_update_lock(project, server, env, data):
    pinned = lock.load(project / "sources.lock")
    pinned.set(OLLAMA_TARBALL, "https://example.org/old/" + OLLAMA_TARBALL, sha(data[OLLAMA_TARBALL]))
    pinned.set(LLAMA_TARBALL, server.file_url(f"/{LLAMA_TARBALL}"), sha(data[LLAMA_TARBALL]))
    pinned.save()
    proc = run_cli("sources", cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG
    assert "example.org/old" in proc.stderr and "--update-lock" in proc.stderr
    assert server.total_hits == 0
    run_cli("sources", "--update-lock", cwd=project, env=env, check=True)
    assert lock.load(project / "sources.lock").get(OLLAMA_TARBALL).url == server.file_url(f"/{OLLAMA_TARBALL}")


def test_missing_project_file_fails_before_any_download(tmp_path, project, server, env):
    (project / "units" / "ollama.service").unlink()
    proc = run_cli("sources", "--update-lock", cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG
    assert "units/ollama.service" in proc.stderr
    assert server.total_hits == 0
    assert_nothing_left(tmp_path, project)


def test_file_urls_work(tmp_path, env):
    ollama, llama = make_upstream(tmp_path / "mirror")
    root = make_project(tmp_path / "fileproject", ollama.as_uri(), llama.as_uri())
    run_cli("sources", "--update-lock", cwd=root, env=env, check=True)
    assert (root / "build" / "SOURCES" / OLLAMA_TARBALL).read_bytes() == ollama.read_bytes()
    assert lock.load(root / "sources.lock").get(LLAMA_TARBALL).sha256 == sha(llama.read_bytes())


def test_missing_file_url_is_a_network_error(tmp_path, env):
    root = make_project(tmp_path / "fileproject", (tmp_path / "nope.tar.gz").as_uri(),
                        (tmp_path / "nope2.tar.gz").as_uri())
    # The URL's last component must still be the file name the lock uses.
    proc = run_cli("sources", "--update-lock", cwd=root, env=env)
    assert proc.returncode == EXIT_NETWORK
    assert "nope.tar.gz" in proc.stderr and "cannot read" in proc.stderr
    assert not (root / "sources.lock").exists()


class _Terminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_bar_on_a_terminal_and_quiet_in_ci(monkeypatch):
    from ollama_rpm.sources.fetch import Progress

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    terminal = _Terminal()
    bar = Progress("ollama.tar.gz", stream=terminal)
    bar.update(1 << 20, 2 << 20)
    bar.update(2 << 20, 2 << 20)
    bar.done()
    assert "\rollama.tar.gz [" in terminal.text and "2.0/2.0 MiB" in terminal.text
    assert terminal.text.endswith("\n")
    monkeypatch.setenv("CI", "true")
    quiet = _Terminal()
    bar = Progress("ollama.tar.gz", stream=quiet)
    bar.update(1, 2)
    bar.done()
    assert quiet.text == ""


def test_bad_retry_setting_is_a_usage_error(project, server, env, data):
    pin(project, server, {name: sha(body) for name, body in data.items()})
    proc = run_cli("sources", cwd=project, env=dict(env, OLLAMA_RPM_RETRY_BASE_DELAY="soon"))
    assert proc.returncode == EXIT_CONFIG
    assert "OLLAMA_RPM_RETRY_BASE_DELAY=soon" in proc.stderr
    assert server.total_hits == 0
