"""`ollama-rpm srpm` / build_srpm: every Source and Patch in a byte-identical SRPM."""

import shutil
import subprocess

import pytest

from conftest import STANDIN_MACROS, run_cli
from ollama_rpm.errors import EXIT_CONFIG, EXIT_INTEGRITY
from source_fixtures import (
    LLAMA_TARBALL,
    OLLAMA_TARBALL,
    TEST_PATCH,
    VENDOR_TARBALL,
    make_project,
    make_upstream,
    pinned_project,
    tree_snapshot,
)

pytestmark = [pytest.mark.slow,   # rpmbuild -bs
              pytest.mark.skipif(not (shutil.which("rpmbuild") and shutil.which("go")),
                                 reason="needs rpmbuild and Go")]


@pytest.fixture
def env(tmp_path):
    return {"OLLAMA_RPM_CACHE": str(tmp_path / "cache"), "CI": "true", "GOPROXY": "off", "GOFLAGS": ""}


@pytest.fixture
def project(tmp_path, env):
    return pinned_project(tmp_path, env)


def rpm_query(path, *args):
    return subprocess.run(["rpm", "-qp", *args, str(path)], capture_output=True, text=True, check=True).stdout


def test_srpm_lists_every_source_and_patch(project, env, tmp_path):
    proc = run_cli("srpm", "--outdir", tmp_path / "out", cwd=project, env=env, check=True)
    srpm = tmp_path / "out" / "ollama-0.32.15-1.src.rpm"
    assert proc.stdout.strip() == str(srpm)
    listed = set(rpm_query(srpm, "-l").split())
    expected = {"ollama.spec", OLLAMA_TARBALL, LLAMA_TARBALL, VENDOR_TARBALL, "go-vendor-tools.toml",
                "ollama.service", "ollama.user.service", "ollama.conf",
                "README.Fedora", "ollama-models-elsewhere.conf", *(p.name for p in (project / "patches").glob("*.patch"))}
    assert TEST_PATCH in expected
    assert listed == expected
    # The spec inside is the rendered one; the project's own ollama.spec is untouched.
    assert (project / "build" / "SOURCES" / "ollama.spec").is_file()
    assert tree_snapshot(tmp_path / "out") == ["ollama-0.32.15-1.src.rpm"]
    assert rpm_query(srpm, "--qf", "%{BUILDHOST}").strip() == "reproducible"


def test_two_runs_are_byte_identical(project, env, tmp_path):
    run_cli("srpm", "--outdir", tmp_path / "a", cwd=project, env=env, check=True)
    # Second run from scratch: fresh source dir (cache only) and a rebuilt vendor tarball.
    shutil.rmtree(project / "build")
    run_cli("srpm", "--outdir", tmp_path / "b", cwd=project, env=env, check=True)
    a = (tmp_path / "a" / "ollama-0.32.15-1.src.rpm").read_bytes()
    b = (tmp_path / "b" / "ollama-0.32.15-1.src.rpm").read_bytes()
    assert a == b


def test_build_srpm_api_with_standin_macros(project, env, tmp_path, monkeypatch):
    from ollama_rpm.builders.srpm import build_srpm

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    lines = []
    srpm = build_srpm(project, tmp_path / "out", source_dir=tmp_path / "src", macros=[STANDIN_MACROS],
                      report=lines.append)
    assert srpm == tmp_path / "out" / "ollama-0.32.15-1.fc43.src.rpm"
    assert rpm_query(srpm, "--qf", "%{BUILDTIME}").strip() == "1700000000"
    assert (tmp_path / "src" / VENDOR_TARBALL).is_file()
    assert any(VENDOR_TARBALL in line for line in lines)


def test_missing_pin_fails_before_building(tmp_path, env):
    ollama, llama = make_upstream(tmp_path / "mirror")
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    proc = run_cli("srpm", "--outdir", tmp_path / "out", cwd=root, env=env)
    assert proc.returncode == EXIT_CONFIG
    assert "--update-lock" in proc.stderr.strip().splitlines()[-1]
    assert tree_snapshot(tmp_path / "out") == []


def test_tampered_source_is_refused_and_no_srpm_is_written(project, env, tmp_path):
    run_cli("srpm", "--outdir", tmp_path / "out", cwd=project, env=env, check=True)
    (tmp_path / "out" / "ollama-0.32.15-1.src.rpm").unlink()
    vendor = project / "build" / "SOURCES" / VENDOR_TARBALL
    run_cli("vendor", "--update-lock", cwd=project, env=env, check=True)
    vendor.unlink()
    vendor.write_bytes(b"tampered")
    proc = run_cli("srpm", "--outdir", tmp_path / "out", cwd=project, env=env)
    assert proc.returncode == EXIT_INTEGRITY
    assert "sha256 mismatch" in proc.stderr and VENDOR_TARBALL in proc.stderr
    assert tree_snapshot(tmp_path / "out") == []


def test_missing_macro_file_is_a_usage_error(project, env, tmp_path):
    proc = run_cli("srpm", "--outdir", tmp_path / "out", "--macros", tmp_path / "nope.macros",
                   cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG
    assert "nope.macros" in proc.stderr


def test_stale_project_spec_is_not_overwritten(project, env, tmp_path):
    spec = project / "ollama.spec"
    spec.write_text("# stale\n")
    proc = run_cli("srpm", "--outdir", tmp_path / "out", "--source-dir", project, cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG
    assert "ollama.spec" in proc.stderr and "render" in proc.stderr
    assert spec.read_text() == "# stale\n"
    assert not (project / OLLAMA_TARBALL).exists(), "refused before placing any Source"
    assert tree_snapshot(tmp_path / "out") == []


def test_macro_files_from_the_environment_are_loaded(project, env, tmp_path):
    # Fedora's %dist comes from the stand-ins only when OLLAMA_RPM_MACROS names them.
    run_cli("srpm", "--outdir", tmp_path / "plain", cwd=project, env=env, check=True)
    assert [p.name for p in (tmp_path / "plain").iterdir()] == ["ollama-0.32.15-1.src.rpm"]
    env = dict(env, OLLAMA_RPM_MACROS=str(STANDIN_MACROS))
    run_cli("srpm", "--outdir", tmp_path / "fedora", cwd=project, env=env, check=True)
    assert [p.name for p in (tmp_path / "fedora").iterdir()] == ["ollama-0.32.15-1.fc43.src.rpm"]


# --- one SRPM step: `build` and `copr submit` make it as `srpm` does, macros included ---------------

def _srpm_passed_to_mock(state):
    from mock_support import recorded_argv
    (argv,) = recorded_argv(state)
    return argv[argv.index("--rebuild") + 1]


@pytest.mark.parametrize("how", ["--macros", "OLLAMA_RPM_MACROS"])
def test_build_makes_its_srpm_with_the_macros(project, env, tmp_path, how):
    from mock_support import install_fake_mock
    mock_env, state = install_fake_mock(tmp_path, {"*": {"exit": 0}})
    env = dict(env, **mock_env)
    args = ["--macros", STANDIN_MACROS] if how == "--macros" else []
    if how == "OLLAMA_RPM_MACROS":
        env["OLLAMA_RPM_MACROS"] = str(STANDIN_MACROS)
    out = tmp_path / "out"
    run_cli("build", "--chroot", "fedora-43-x86_64", "--outdir", out, *args, cwd=project, env=env, check=True)
    # %dist comes from the stand-ins: the SRPM mock got was made with them.
    assert _srpm_passed_to_mock(state) == str(out / "srpm" / "ollama-0.32.15-1.fc43.src.rpm")


def test_build_refuses_macros_that_would_do_nothing(project, env, tmp_path):
    srpm = tmp_path / "given.src.rpm"
    srpm.write_bytes(b"x")
    proc = run_cli("build", "--dry-run", "--srpm", srpm, "--macros", STANDIN_MACROS, cwd=project, env=env)
    assert proc.returncode == EXIT_CONFIG and "which --srpm skips" in proc.stderr


def test_copr_submit_makes_its_srpm_with_the_macros(project, env, tmp_path):
    pytest.importorskip("copr.v3")
    from fakes import FakeCopr
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    with FakeCopr() as copr:
        (home / ".config" / "copr").write_text(
            f"[copr-cli]\nlogin = api-login\nusername = alice\ntoken = tok-SECRET-1234567890\n"
            f"copr_url = {copr.url}\nencrypted = False\n")
        env = dict(env, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                   OLLAMA_RPM_MACROS=str(STANDIN_MACROS))
        run_cli("copr", "submit", "--project", "alice/ollama", "--chroot", "fedora-43-x86_64", "--no-wait",
                cwd=project, env=env, check=True)
        assert [name for name, _, _ in copr.uploads] == ["ollama-0.32.15-1.fc43.src.rpm"]


def test_srpm_with_a_config_elsewhere_uses_its_patches_files_and_lock(project, env, tmp_path):
    from ollama_rpm.specgen import source_table
    other = tmp_path / "elsewhere"
    other.mkdir()
    for rel in ("packaging.yaml", "sources.lock", "tests/data/upstream-install-manifest.txt",
                *(path for _, _, _, path in source_table.PROJECT_SOURCES)):
        (other / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / rel, other / rel)
    (other / "patches").mkdir()
    (other / "patches" / "0001-elsewhere.patch").write_text("--- a/README.else\n+++ b/README.else\n@@ -0,0 +1 @@\n+x\n")
    (project / "sources.lock").unlink()            # only the lock next to the config has the pins
    run_cli("srpm", "--config", other / "packaging.yaml", "--outdir", tmp_path / "out", cwd=project, env=env,
            check=True)
    listed = set(rpm_query(tmp_path / "out" / "ollama-0.32.15-1.src.rpm", "-l").split())
    assert "0001-elsewhere.patch" in listed and TEST_PATCH not in listed


def test_a_backend_package_alone_needs_no_go_modules_or_project_files(project, env, tmp_path):
    # As Copr's make_srpm asks for one package, in a fresh source directory: the
    # backend spec's Sources are the two tarballs, so nothing is vendored or copied.
    fresh = tmp_path / "SOURCES"
    proc = run_cli("srpm", "--layout", "split", "--package", "ollama-ggml-vulkan", "--outdir", tmp_path / "one",
                   "--source-dir", fresh, cwd=project, env=env, check=True)
    srpm = tmp_path / "one" / "ollama-ggml-vulkan-0.32.15-1.src.rpm"
    assert proc.stdout.strip() == str(srpm)
    backend_files = {"ollama-ggml-vulkan.spec", OLLAMA_TARBALL, LLAMA_TARBALL}
    assert set(rpm_query(srpm, "-l").split()) == backend_files
    assert {p.name for p in fresh.iterdir()} == backend_files
    assert "vendored" not in proc.stderr and "copied" not in proc.stderr
    # The main package, into the same directory, still gets its Go modules and project files.
    run_cli("srpm", "--layout", "split", "--package", "ollama", "--outdir", tmp_path / "main",
            "--source-dir", fresh, cwd=project, env=env, check=True)
    assert {VENDOR_TARBALL, "ollama.service", "go-vendor-tools.toml"} <= {p.name for p in fresh.iterdir()}
