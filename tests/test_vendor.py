"""`ollama-rpm vendor`: Source2 by go-vendor-tools' go_vendor_archive, verified, pinned; the Go License.

Two kinds of Ollama stand-ins: the tiny in-memory module of source_fixtures
(one dependency behind a `replace`, no network) for the mechanics, and the
fixture tree (tests/fixture/trees/ollama) whose go.mod/go.sum pin two real
modules from the Go module proxy (golang.org/x/sync, BSD-3-Clause;
github.com/x448/float16, MIT) for vendoring, go.sum verification and license
detection on real third-party code. The proxy is reached once per session;
the tests then read a file:// copy of it.
"""

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tomllib
import zipfile

import pytest

from conftest import load_yaml, run_cli, write_yaml
from fixture import upstream
from ollama_rpm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INTEGRITY, EXIT_TOOL
from ollama_rpm.sources import lock, vendor
from source_fixtures import (
    OLLAMA_FILES,
    OLLAMA_TARBALL,
    VENDOR_TARBALL,
    VERSION,
    make_project,
    make_upstream,
    pinned_project,
    tarball_bytes,
    tree_snapshot,
)

pytestmark = [pytest.mark.slow,   # go mod vendor, go_vendor_archive, askalono
              pytest.mark.skipif(shutil.which("go") is None, reason="needs Go")]

REAL_MODULES = {"golang.org/x/sync": "v0.10.0", "github.com/x448/float16": "v0.8.4",
                # No license file, only a README (as in the real tree); and its Windows
                # half's dependency, which `go mod vendor` keeps too.
                "github.com/mattn/go-localereader": "v0.0.1", "golang.org/x/text": "v0.14.0"}


@pytest.fixture
def env(tmp_path):
    # GOPROXY=off: the in-memory module's one dependency resolves through its replace directive.
    return {"OLLAMA_RPM_CACHE": str(tmp_path / "cache"), "CI": "true", "GOPROXY": "off",
            "GOFLAGS": "", "SOURCE_DATE_EPOCH": "1700000000", "GOMODCACHE": str(tmp_path / "gomod")}


@pytest.fixture
def project(tmp_path, env):
    return pinned_project(tmp_path, env)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def members(tarball):
    with tarfile.open(tarball) as tar:
        return tar.getmembers()


# ------------------------------------------------------------------ mechanics (offline)

def test_tarball_is_go_vendor_archives_layout_normalised(project, env):
    proc = run_cli("vendor", cwd=project, env=env, check=True)
    tarball = project / "build" / "SOURCES" / VENDOR_TARBALL
    assert proc.stdout.strip() == str(tarball)
    assert "go_vendor_archive create" in proc.stderr
    assert tarball.read_bytes()[:3] == b"BZh"                         # bzip2: no timestamp inside
    entries = members(tarball)
    names = [m.name for m in entries]
    # go_vendor_archive's layout, no top directory: %setup -a2 unpacks it inside Ollama's tree.
    assert names[0] == "go.mod" and names[1] == "vendor"                # no go.sum upstream: none packed
    assert {"vendor/modules.txt", "vendor/example.com/dep/dep.go", "vendor/example.com/dep/LICENSE"} <= set(names)
    assert all(n in {"go.mod", "vendor"} or n.startswith("vendor/") for n in names)
    assert names[1:] == sorted(names[1:])
    for m in entries:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (1700000000, 0, 0, "", ""), m.name
        assert m.mode == (0o755 if m.isdir() else 0o644), m.name
    with tarfile.open(tarball) as tar:
        assert tar.extractfile("go.mod").read().decode() == OLLAMA_FILES["go.mod"]


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
    pin = lock.load(project / "sources.lock").get(VENDOR_TARBALL)
    assert pin.sha256 == sha(tarball) and pin.url == "generated:go_vendor_archive"
    pinned = tarball.read_bytes()
    # Another SOURCE_DATE_EPOCH makes other bytes: the pin refuses them and keeps the old file.
    proc = run_cli("vendor", cwd=project, env=dict(env, SOURCE_DATE_EPOCH="1600000000"))
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    assert "sha256 mismatch" in proc.stderr and VENDOR_TARBALL in proc.stderr
    assert tarball.read_bytes() == pinned
    assert not [p for p in tree_snapshot(project / "build" / "SOURCES") if p.endswith(".part")]
    assert [p for p in tree_snapshot(tmp_path / "cache" / "sha256") if p.startswith(".")] == []


def test_fedoras_own_command_gives_the_same_bytes(project, env, tmp_path):
    """A reviewer's `go_vendor_archive create` on Source0 regenerates Source2 byte for byte."""
    run_cli("vendor", cwd=project, env=env, check=True)
    sources = project / "build" / "SOURCES"
    # Where Python lacks TarInfo.replace (Debian 12), the same entry point with it backported.
    command = vendor.go_vendor_archive_command()
    out = tmp_path / "reviewer" / VENDOR_TARBALL
    out.parent.mkdir()
    subprocess.run([*command, "create", "--config", str(project / "go-vendor-tools.toml"), "--no-use-module-proxy",
                    "--output", str(out), str(sources / OLLAMA_TARBALL)],
                   env=dict(os.environ, **env), check=True, capture_output=True)
    assert sha(out) == sha(sources / VENDOR_TARBALL)


def test_go_vendor_tools_toml_lists_license_files_and_keeps_settings(project, env):
    toml = project / "go-vendor-tools.toml"
    toml.write_text('[archive]\ntidy = false\n\n[licensing]\ndetector = "askalono"\n'
                    'exclude_directories = ["docs", "llama.cpp-b1", "llama.cpp-licenses"]\n')
    run_cli("vendor", cwd=project, env=env, check=True)
    text = toml.read_text()
    license_sha = hashlib.sha256(OLLAMA_FILES["third_party/dep/LICENSE"].encode()).hexdigest()
    assert f"vendor/example.com/dep/LICENSE {license_sha}" in text
    # The exact command a reviewer runs to get the same bytes.
    assert ("#   SOURCE_DATE_EPOCH=1700000000 go_vendor_archive create --config go-vendor-tools.toml \\\n"
            f"#       --output {VENDOR_TARBALL} {OLLAMA_TARBALL}\n") in text
    assert text.count("#   example.com/dep") == 1 and "#   example.com/dep v1.0.0\n" in text
    data = tomllib.loads(text)
    # The packager's settings stay; only the llama.cpp exclusion follows the pinned tag.
    assert data == {"archive": {"tidy": False},
                    "licensing": {"detector": "askalono", "exclude_directories": ["docs", "llama.cpp-b10488",
                                                                                  "llama.cpp-licenses"]}}
    run_cli("vendor", cwd=project, env=env, check=True)
    assert toml.read_text() == text, "refreshing is deterministic and keeps the packager's part"


def test_empty_toml_gets_default_settings(project, env):
    (project / "go-vendor-tools.toml").write_text("")
    run_cli("vendor", cwd=project, env=env, check=True)
    data = tomllib.loads((project / "go-vendor-tools.toml").read_text())
    assert data["archive"] == {"use_top_level_dir": False, "tidy": False}
    assert data["licensing"]["detector"] == "askalono"
    assert data["licensing"]["exclude_directories"] == ["llama.cpp-b10488", "llama.cpp-licenses"]


@pytest.mark.parametrize("settings, key", [
    ("[archive]\nuse_top_level_dir = false\n", "archive.tidy"),           # go-vendor-tools' default: tidy
    ("[archive]\ntidy = false\nuse_top_level_dir = true\n", "archive.use_top_level_dir"),
    ("[archive]\ntidy = false\ncompression_type = \"gz\"\n", "archive.compression_type"),
    ("[archive]\ntidy = false\n\n[licensing]\nexclude_directories = [\"llama.cpp-b10488\"]\n",
     "licensing.exclude_directories"),                                    # llama.cpp counted as Go code
])
def test_archive_settings_the_spec_cannot_use_are_refused(project, env, settings, key):
    if "[licensing]" not in settings:
        settings += ('\n[licensing]\ndetector = "askalono"\n'
                     'exclude_directories = ["llama.cpp-b10488", "llama.cpp-licenses"]\n')
    (project / "go-vendor-tools.toml").write_text(settings)
    proc = run_cli("vendor", cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"ollama-rpm: {project / 'go-vendor-tools.toml'}: {key}: ")
    assert not (project / "build" / "SOURCES" / VENDOR_TARBALL).exists()


def test_a_gzip_vendor_name_is_refused(project, env):
    cfg = load_yaml(project / "packaging.yaml")
    cfg["sources"]["vendor"] = "ollama-{upstream_version}-vendor.tar.gz"
    write_yaml(project / "packaging.yaml", cfg)
    proc = run_cli("vendor", cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG
    assert "sources.vendor" in proc.stderr and "not reproducible" in proc.stderr


def test_unsafe_ollama_tarball_is_refused(tmp_path, env):
    info = tarfile.TarInfo(f"ollama-{VERSION}/../../escape.txt")
    evil = tmp_path / "mirror" / OLLAMA_TARBALL
    evil.parent.mkdir()
    evil.write_bytes(tarball_bytes(f"ollama-{VERSION}", OLLAMA_FILES, [(info, b"")]))
    llama = tmp_path / "mirror" / "llama.cpp-b10488.tar.gz"
    llama.write_bytes(tarball_bytes("llama.cpp-b10488", {"x": "y"}))
    root = make_project(tmp_path / "project", evil.as_uri(), llama.as_uri())
    # Neither pinned (it would go into the SRPM as it is) nor unpacked to vendor from.
    for args in (["sources", "--update-lock"], ["vendor", "--update-lock"]):
        proc = run_cli(*args, cwd=root, env=env)
        assert proc.returncode == EXIT_INTEGRITY, proc.stderr
        assert "unsafe archive entry" in proc.stderr and "'..'" in proc.stderr
        assert not (root / "sources.lock").exists()
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
    assert error.startswith("ollama-rpm: ") and "go_vendor_archive" in error and "example.com/missing" in error
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


# ------------------------------------------------------ real modules from the Go proxy

@pytest.fixture(scope="session")
def module_proxy(tmp_path_factory):
    """A file:// Go proxy holding the fixture's real modules, fetched once from the module proxy."""
    base = tmp_path_factory.mktemp("goproxy")
    tree = upstream.write_ollama_tree(base / "tree")
    env = dict(os.environ, GOMODCACHE=str(base / "modcache"), GOFLAGS="-modcacherw", GOSUMDB="off",
               GOTOOLCHAIN="local", GOWORK="off")
    if env.get("GOPROXY", "off") in ("off", ""):
        env["GOPROXY"] = "https://proxy.golang.org"
    subprocess.run(["go", "mod", "download", *(f"{m}@{v}" for m, v in REAL_MODULES.items())],
                   cwd=tree, env=env, check=True, capture_output=True)
    return base / "modcache" / "cache" / "download"


@pytest.fixture
def real_env(tmp_path, module_proxy):
    return {"OLLAMA_RPM_CACHE": str(tmp_path / "cache"), "CI": "true", "GOPROXY": module_proxy.as_uri(),
            "GOSUMDB": "off", "GOFLAGS": "", "GOMODCACHE": str(tmp_path / "gomod"),
            "SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture
def real_project(tmp_path, real_env):
    """A project whose Source0 is the fixture tree (real go.mod/go.sum), pinned."""
    mirror = tmp_path / "mirror"
    ollama = upstream.make_ollama_tarball(mirror, version=VERSION)
    llama = upstream.make_llama_cpp_tarball(mirror)
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    # The project's settings without the licenses entries that name files only the
    # real Ollama has; go-localereader's README is the same file in both.
    toml = root / "go-vendor-tools.toml"
    head, *entries = toml.read_text().split("\n[[licensing.licenses]]\n")
    kept = [e for e in entries if "vendor/github.com/mattn/go-localereader/" in e]
    assert len(kept) == 1
    toml.write_text(head + "".join("\n[[licensing.licenses]]\n" + e for e in kept))
    run_cli("sources", "--update-lock", cwd=root, env=real_env, check=True)
    return root


def test_real_modules_are_vendored_with_upstreams_go_mod_and_go_sum(real_project, real_env):
    run_cli("vendor", cwd=real_project, env=real_env, check=True)
    tarball = real_project / "build" / "SOURCES" / VENDOR_TARBALL
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        modules = tar.extractfile("vendor/modules.txt").read().decode()
        go_sum = tar.extractfile("go.sum").read().decode()
        go_mod = tar.extractfile("go.mod").read().decode()
    assert {"go.mod", "go.sum", "vendor/golang.org/x/sync/errgroup/errgroup.go",
            "vendor/golang.org/x/sync/LICENSE", "vendor/golang.org/x/sync/PATENTS",
            "vendor/github.com/x448/float16/float16.go", "vendor/github.com/x448/float16/LICENSE",
            "vendor/github.com/ollama-rpm/fixturedep/LICENSE",
            "vendor/github.com/mattn/go-localereader/README.md"} <= names
    assert not [n for n in names if n.startswith("vendor/github.com/mattn/go-localereader/LICEN")]
    # Only the imported package of x/sync, as `go mod vendor` prunes.
    assert not [n for n in names if n.startswith("vendor/golang.org/x/sync/semaphore")]
    for module, version in REAL_MODULES.items():
        assert f"# {module} {version}\n" in modules
    tree = upstream.OLLAMA_TREE
    assert go_sum == (tree / "go.sum").read_text() and go_mod == (tree / "go.mod").read_text()
    toml = (real_project / "go-vendor-tools.toml").read_text()
    assert "#   golang.org/x/sync v0.10.0\n#     vendor/golang.org/x/sync/LICENSE " in toml


def test_a_tampered_module_fails_go_sum_verification(real_project, real_env, module_proxy, tmp_path):
    """The proxy serves a float16 zip with one changed line: go.sum catches it, nothing is written."""
    proxy = tmp_path / "evil-proxy"
    shutil.copytree(module_proxy, proxy)
    zip_path = proxy / "github.com/x448/float16/@v/v0.8.4.zip"
    zip_path.chmod(0o644)
    original = zip_path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("/float16.go"):
                data += b"\n// an extra line the module's authors never wrote\n"
            dst.writestr(item, data)
    zip_path.write_bytes(out.getvalue())
    proc = run_cli("vendor", cwd=real_project, env=dict(real_env, GOPROXY=proxy.as_uri()))
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert "does not match go.sum" in error and "github.com/x448/float16@v0.8.4" in error
    assert not (real_project / "build" / "SOURCES" / VENDOR_TARBALL).exists()


def test_a_tampered_module_cache_is_caught_by_go_mod_verify(real_project, real_env, tmp_path):
    """`go mod vendor` trusts Go's module cache; the extra `go mod verify` does not."""
    run_cli("vendor", cwd=real_project, env=dict(real_env, GOFLAGS="-modcacherw"), check=True)
    # (GOFLAGS from the caller is replaced by -mod=mod, so the cache is read-only: make it writable.)
    cached = tmp_path / "gomod" / "github.com" / "x448" / "float16@v0.8.4" / "float16.go"
    cached.parent.chmod(0o755)
    cached.chmod(0o644)
    cached.write_text(cached.read_text() + "\n// tampered in the module cache\n")
    (real_project / "build" / "SOURCES" / VENDOR_TARBALL).unlink()
    proc = run_cli("vendor", cwd=real_project, env=real_env)
    assert proc.returncode == EXIT_INTEGRITY, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert "go mod verify" in error and "github.com/x448/float16" in error
    assert not (real_project / "build" / "SOURCES" / VENDOR_TARBALL).exists()


def test_go_license_is_derived_with_go_vendor_license_and_checked(real_project, real_env):
    cfg = load_yaml(real_project / "packaging.yaml")
    cfg["go"]["license"] = "MIT"
    write_yaml(real_project / "packaging.yaml", cfg)
    proc = run_cli("vendor", "--license", cwd=real_project, env=real_env)
    # Ollama's and the modules' MIT, x/sync's BSD-3-Clause: the configured "MIT" is short.
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "BSD-3-Clause AND MIT"
    error = proc.stderr.strip().splitlines()[-1]
    assert "packaging.yaml: go.license: 'MIT' does not match" in error and "'BSD-3-Clause AND MIT'" in error
    assert "detector askalono" in error

    run_cli("vendor", "--update-license", cwd=real_project, env=real_env, check=True)
    assert load_yaml(real_project / "packaging.yaml")["go"]["license"] == "BSD-3-Clause AND MIT"
    proc = run_cli("vendor", "--license", cwd=real_project, env=real_env, check=True)
    assert "go.license matches" in proc.stderr


def test_an_undetectable_license_file_fails_the_derivation(real_project, real_env):
    """A vendored license the detector cannot classify must not vanish from the expression."""
    toml = real_project / "go-vendor-tools.toml"
    text = toml.read_text()
    # Excluding x/sync's LICENSE leaves its module without one: go_vendor_license reports it.
    assert "[licensing]\n" in text and "exclude_files" not in text
    toml.write_text(text.replace("[licensing]\n", '[licensing]\nexclude_files = ["vendor/golang.org/x/sync/LICENSE"]\n', 1))
    proc = run_cli("vendor", "--license", cwd=real_project, env=real_env)
    assert proc.returncode == EXIT_TOOL, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert "go_vendor_license report failed" in error and "vendor/golang.org/x/sync" in error


def test_a_licenses_entry_naming_a_readme_is_checked_not_reported_gone(real_project, real_env):
    """go-localereader has no license file; the entry covering its README is current
    (no warning) until the README changes under it (a warning with the new sha256)."""
    proc = run_cli("vendor", cwd=real_project, env=real_env, check=True)
    assert "licensing.licenses" not in proc.stderr, proc.stderr
    toml = real_project / "go-vendor-tools.toml"
    text = toml.read_text()
    readme = 'path = "vendor/github.com/mattn/go-localereader/README.md"\nsha256sum = "'
    assert readme in text
    toml.write_text(text.replace(readme, readme + "0" * 64 + '"\n#', 1))
    proc = run_cli("vendor", cwd=real_project, env=real_env, check=True)
    assert "go-localereader/README.md changed (sha256 now " in proc.stderr, proc.stderr
