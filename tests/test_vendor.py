"""`ollama-rpm vendor`: offline `go mod vendor`, a reproducible tarball, go-vendor-tools.toml."""

import hashlib
import shutil
import tarfile
import tomllib

import pytest

from conftest import run_cli
from ollama_rpm import lock as lock_mod
from ollama_rpm.errors import EXIT_CONFIG, EXIT_INTEGRITY, EXIT_TOOL
from source_fixtures import (OLLAMA_FILES, OLLAMA_TARBALL, VENDOR_TARBALL, VERSION, make_project,
                             make_upstream, tarball_bytes, tree_snapshot, pinned_project)

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs Go")


@pytest.fixture
def env(tmp_path):
    # GOPROXY=off: the fixture's one dependency must resolve through its replace directive.
    return {"OLLAMA_RPM_CACHE": str(tmp_path / "cache"), "CI": "true", "GOPROXY": "off",
            "GOFLAGS": "", "SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture
def project(tmp_path, env):
    return pinned_project(tmp_path, env)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_vendor_tarball_is_normalised_and_holds_vendor_at_its_root(project, env):
    proc = run_cli("vendor", cwd=project, env=env, check=True)
    tarball = project / "build" / "SOURCES" / VENDOR_TARBALL
    assert proc.stdout.strip() == str(tarball)
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[0] == "vendor"
    assert "vendor/modules.txt" in names
    assert "vendor/example.com/dep/dep.go" in names
    assert "vendor/example.com/dep/LICENSE" in names
    assert all(n == "vendor" or n.startswith("vendor/") for n in names)
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (1700000000, 0, 0, "root", "root"), m.name
        assert m.mode == (0o755 if m.isdir() else 0o644), m.name
    raw = tarball.read_bytes()
    assert raw[4:8] == b"\0\0\0\0", "gzip header mtime must be 0"


def test_two_runs_give_the_same_sha256(project, env, tmp_path):
    run_cli("vendor", cwd=project, env=env, check=True)
    first = sha(project / "build" / "SOURCES" / VENDOR_TARBALL)
    other = tmp_path / "other"
    run_cli("sources", "--source-dir", other, cwd=project, env=env, check=True)
    run_cli("vendor", "--source-dir", other, cwd=project, env=env, check=True)
    assert sha(other / VENDOR_TARBALL) == first


def test_update_lock_pins_the_tarball_and_a_changed_one_is_refused(project, env, tmp_path):
    lock_before = (project / "sources.lock").read_bytes()
    run_cli("vendor", cwd=project, env=env, check=True)
    assert (project / "sources.lock").read_bytes() == lock_before, "no pin without --update-lock"
    run_cli("vendor", "--update-lock", cwd=project, env=env, check=True)
    tarball = project / "build" / "SOURCES" / VENDOR_TARBALL
    assert lock_mod.load(project / "sources.lock").get(VENDOR_TARBALL).sha256 == sha(tarball)
    pinned = tarball.read_bytes()
    # Another SOURCE_DATE_EPOCH makes other bytes: the pin refuses them and keeps the old file.
    proc = run_cli("vendor", cwd=project, env=dict(env, SOURCE_DATE_EPOCH="1600000000"))
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    assert "sha256 mismatch" in proc.stderr and VENDOR_TARBALL in proc.stderr
    assert tarball.read_bytes() == pinned
    assert not [p for p in tree_snapshot(project / "build" / "SOURCES") if p.endswith(".part")]
    assert [p for p in tree_snapshot(tmp_path / "cache" / "sha256") if p.startswith(".")] == []


def test_go_vendor_tools_toml_lists_license_files_and_keeps_settings(project, env):
    toml = project / "go-vendor-tools.toml"
    toml.write_text('[licensing]\ndetector = "askalono"\nexclude_directories = ["docs"]\n')
    run_cli("vendor", cwd=project, env=env, check=True)
    text = toml.read_text()
    license_sha = hashlib.sha256(OLLAMA_FILES["third_party/dep/LICENSE"].encode()).hexdigest()
    assert f"vendor/example.com/dep/LICENSE {license_sha}" in text
    assert text.count("#   example.com/dep") == 1 and "#   example.com/dep v1.0.0\n" in text
    data = tomllib.loads(text)
    assert data == {"licensing": {"detector": "askalono", "exclude_directories": ["docs"]}}
    run_cli("vendor", cwd=project, env=env, check=True)
    assert toml.read_text() == text, "refreshing is deterministic and keeps the packager's part"


def test_empty_toml_gets_default_settings(project, env):
    (project / "go-vendor-tools.toml").write_text("")
    run_cli("vendor", cwd=project, env=env, check=True)
    data = tomllib.loads((project / "go-vendor-tools.toml").read_text())
    assert data["licensing"]["detector"] == "askalono"


def test_unsafe_ollama_tarball_is_refused(tmp_path, env):
    info = tarfile.TarInfo(f"ollama-{VERSION}/../../escape.txt")
    evil = tmp_path / "mirror" / OLLAMA_TARBALL
    evil.parent.mkdir()
    evil.write_bytes(tarball_bytes(f"ollama-{VERSION}", OLLAMA_FILES, [(info, b"")]))
    llama = tmp_path / "mirror" / "llama.cpp-b10488.tar.gz"
    llama.write_bytes(tarball_bytes("llama.cpp-b10488", {"x": "y"}))
    root = make_project(tmp_path / "project", evil.as_uri(), llama.as_uri())
    run_cli("sources", "--update-lock", cwd=root, env=env, check=True)
    proc = run_cli("vendor", cwd=root, env=env)
    assert proc.returncode == EXIT_INTEGRITY
    assert "unsafe archive entry" in proc.stderr and "'..'" in proc.stderr
    assert not (root / "build" / "SOURCES" / VENDOR_TARBALL).exists()
    assert not (tmp_path / "escape.txt").exists()


def test_go_failure_is_a_tool_error(tmp_path, env):
    files = dict(OLLAMA_FILES)
    files["go.mod"] = "module github.com/ollama/ollama\n\ngo 1.19\n\nrequire example.com/missing v1.0.0\n"
    ollama = tmp_path / "mirror" / OLLAMA_TARBALL
    ollama.parent.mkdir()
    ollama.write_bytes(tarball_bytes(f"ollama-{VERSION}", files))
    llama = tmp_path / "mirror" / "llama.cpp-b10488.tar.gz"
    llama.write_bytes(tarball_bytes("llama.cpp-b10488", {"x": "y"}))
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    run_cli("sources", "--update-lock", cwd=root, env=env, check=True)
    proc = run_cli("vendor", cwd=root, env=env)
    assert proc.returncode == EXIT_TOOL, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("ollama-rpm: ") and "go mod vendor" in error and "example.com/missing" in error
    assert not (root / "build" / "SOURCES" / VENDOR_TARBALL).exists()


def test_wrong_top_directory_is_reported(tmp_path, env):
    ollama = tmp_path / "mirror" / OLLAMA_TARBALL
    ollama.parent.mkdir()
    ollama.write_bytes(tarball_bytes("ollama-main", OLLAMA_FILES))
    llama = tmp_path / "mirror" / "llama.cpp-b10488.tar.gz"
    llama.write_bytes(tarball_bytes("llama.cpp-b10488", {"x": "y"}))
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    run_cli("sources", "--update-lock", cwd=root, env=env, check=True)
    proc = run_cli("vendor", cwd=root, env=env)
    assert proc.returncode == EXIT_INTEGRITY
    assert f"ollama-{VERSION}/" in proc.stderr and "ollama-main" in proc.stderr


def test_vendor_without_pin_for_ollama_is_a_config_error(tmp_path, env):
    ollama, llama = make_upstream(tmp_path / "mirror")
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    proc = run_cli("vendor", cwd=root, env=env)
    assert proc.returncode == EXIT_CONFIG
    assert "--update-lock" in proc.stderr
