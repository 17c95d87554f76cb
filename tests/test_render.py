"""`ollama-rpm render`: determinism, --check, atomic output, bad config input."""

import pytest

from conftest import REPO, load_yaml, run_cli, write_yaml
from ollama_rpm.errors import EXIT_CONFIG

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine


def test_render_writes_spec_from_default_config(project):
    proc = run_cli("render", cwd=project, check=True)
    spec = (project / "ollama.spec").read_text()
    assert proc.stdout.strip().endswith("ollama.spec")
    assert "Version:        0.32.15\n" in spec
    assert "%global llama_cpp_tag b10488\n" in spec
    assert "{{" not in spec and "{%" not in spec


def test_two_renders_are_byte_identical(project, tmp_path):
    run_cli("render", "-o", tmp_path / "a.spec", cwd=project, check=True)
    run_cli("render", "-o", tmp_path / "b.spec", cwd=project, check=True)
    assert (tmp_path / "a.spec").read_bytes() == (tmp_path / "b.spec").read_bytes()


def test_committed_spec_matches_a_fresh_render():
    proc = run_cli("render", "--check", cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_reports_drift_with_a_diff(project):
    run_cli("render", cwd=project, check=True)
    spec = project / "ollama.spec"
    spec.write_text(spec.read_text().replace("Release:        1%{?dist}", "Release:        7%{?dist}"))
    before = spec.read_bytes()
    proc = run_cli("render", "--check", cwd=project)
    assert proc.returncode == 1
    assert "-Release:        7%{?dist}" in proc.stdout
    assert "+Release:        1%{?dist}" in proc.stdout
    assert "out of date" in proc.stderr
    assert spec.read_bytes() == before, "--check must not write"


def test_check_without_spec_is_drift(project):
    proc = run_cli("render", "--check", cwd=project)
    assert proc.returncode == 1
    assert not (project / "ollama.spec").exists()


def test_replaced_unit_package_gets_the_triggers_that_keep_the_unit_enabled(project):
    # replaces.main names the package that held ollama.service (Fedora's ollama-base):
    # one %triggerun/%triggerpostun pair per name; none without such names.
    run_cli("render", cwd=project, check=True)
    spec = (project / "ollama.spec").read_text()
    assert spec.count("%triggerun -- ollama-base\n") == 1 and spec.count("%triggerpostun -- ollama-base\n") == 1
    cfg = load_yaml(project / "packaging.yaml")
    cfg["replaces"]["main"] = ["ollama-base", "ollama-server"]
    write_yaml(project / "packaging.yaml", cfg)
    run_cli("render", cwd=project, check=True)
    spec = (project / "ollama.spec").read_text()
    assert spec.count("%triggerpostun -- ollama-server\n") == 1 and spec.count("%triggerun -- ") == 2
    del cfg["replaces"]["main"]
    write_yaml(project / "packaging.yaml", cfg)
    run_cli("render", cwd=project, check=True)
    assert "%trigger" not in (project / "ollama.spec").read_text()


def test_prerelease_maps_to_tilde(project):
    cfg = load_yaml(project / "packaging.yaml")
    cfg["version"] = "v0.33.0-rc2"
    cfg["changelog"][0]["version"] = "0.33.0~rc2-1"
    write_yaml(project / "packaging.yaml", cfg)
    run_cli("render", cwd=project, check=True)
    spec = (project / "ollama.spec").read_text()
    assert "Version:        0.33.0~rc2\n" in spec
    assert "%global upstream_version 0.33.0-rc2\n" in spec
    assert "archive/v0.33.0-rc2/ollama-0.33.0-rc2.tar.gz" in spec


def _mutate(cfg, dotted, value):
    keys = dotted.split(".")
    node = cfg
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


_DELETE = object()

BAD_INPUTS = [
    # (dotted key, bad value, words the one-line error must contain)
    ("colour", "blue", ["colour", "unknown key"]),
    ("backends.vulkan.shader_cache", True, ["backends.vulkan.shader_cache", "unknown key"]),
    ("backends.metal", {"enabled": True}, ["backends.metal", "unknown key"]),
    ("release", "one", ["release", "positive integer", "'one'"]),
    ("release", 0, ["release", "positive integer"]),
    ("backends.cuda.enabled", "yes please", ["backends.cuda.enabled", "true or false"]),
    ("version", "latest", ["version", "upstream version", "'latest'"]),
    ("version", "0.32", ["version"]),
    ("version", _DELETE, ["version", "missing"]),
    ("cpu_variants.x86_64.pentium4", "v1", ["cpu_variants.x86_64.pentium4", "unknown ggml CPU variant"]),
    ("cpu_variants.x86_64.haswell", "v2", ["cpu_variants.x86_64.haswell", "v3 or higher"]),
    ("cpu_variants.x86_64.skylakex", "v5", ["cpu_variants.x86_64.skylakex", "x86-64 level"]),
    ("cpu_variants.aarch64.0", "armv7", ["cpu_variants.aarch64[0]", "unknown ggml CPU variant"]),
    ("backends.rocm.arches.0", "ppc64le", ["backends.rocm.arches[0]", "x86_64"]),
    ("backends.cuda.gpu_targets", "80;90", ["backends.cuda.gpu_targets", "list"]),
    ("packager.email", "not-an-address", ["packager.email", "e-mail"]),
    ("changelog.0.version", "0.1-1", ["changelog[0].version", "0.32.15-1"]),
    ("changelog.0.date", "23/11/2026", ["changelog[0].date", "YYYY-MM-DD"]),
    ("sources.ollama", "https://x/{nope}.tar.gz", ["sources.ollama", "placeholder"]),
    ("go.libdir_variables.0", "PackageLibDir", ["go.libdir_variables[0]", "importpath.Name"]),
    ("patches_dir", "nope", ["patches_dir", "existing directory"]),
    ("backends.cuda.runner_dir", "cuda_v12", ["backends.cuda.runner_dir", "CUDA 12", "cuda-nvcc-13-0"]),
    ("backends.cuda12.runner_dir", "cuda_v13", ["backends.cuda12.runner_dir", "CUDA 12"]),
    ("backends.cuda.requires.0", "cuda-cudart-12-9", ["backends.cuda.runner_dir", "requires cuda-cudart-12-9"]),
    ("backends.cuda.build_requires.2", "cuda-cccl-12-9", ["backends.cuda.runner_dir", "cuda-cccl-12-9"]),
    ("backends.vulkan.runner_dir", "rocm_v7_2", ["backends.vulkan.runner_dir", "backends.rocm", "one directory"]),
    ("backends.cuda.requires_exclude.0", "cuda driver", ["backends.cuda.requires_exclude[0]", "soname"]),
    ("backends.cuda.runner_dir", "cuda12", ["backends.cuda.runner_dir", "cuda_v<major>"]),
    ("summary", "Runs %{lua: os.exit()}", ["summary", "without %"]),
    ("backends.cuda.host_compiler", "g++-14; rm -rf /", ["backends.cuda.host_compiler", "absolute path"]),
    ("backends.rocm.cmake_options.GGML_HIP", "ON; rm -rf /", ["cmake_options.GGML_HIP", "shell"]),
    # License parts, bundled code, replaced packages, the %check skip list.
    ("license", "MIT AND Apache-2.0", ["license", "does not cover go.license", "BSD-3-Clause"]),
    ("llama_cpp.ggml_license", "GPL-2.0-only", ["license", "llama_cpp.ggml_license", "GPL-2.0-only"]),
    ("llama_cpp.bundled.0.license", "GPL-3.0-only", ["license", "llama_cpp.bundled[0].license", "GPL-3.0-only"]),
    ("llama_cpp.bundled.1.name", "cpp-httplib", ["llama_cpp.bundled[1].name", "twice"]),
    ("llama_cpp.bundled.0.version", "0.53 beta", ["llama_cpp.bundled[0].version", "'0.53 beta'"]),
    ("llama_cpp.bundled.0.colour", "blue", ["llama_cpp.bundled[0].colour", "unknown key"]),
    ("llama_cpp.bundled.0", "cpp-httplib", ["llama_cpp.bundled[0]", "mapping"]),
    ("replaces.metal", ["ollama-metal"], ["replaces.metal", "main or one of"]),
    ("replaces.main.0", "ollama base", ["replaces.main[0]", "package name"]),
    ("go.test_skips", [{"reason": "needs the network"}], ["go.test_skips[0]", "exactly one of"]),
    ("go.test_skips", [{"test": "TestA", "tree": "x", "reason": "r"}], ["go.test_skips[0]", "exactly one of"]),
    ("go.test_skips", [{"test": "Test(", "reason": "r"}], ["go.test_skips[0].test", "regex"]),
    ("go.test_skips", [{"test": "TestA'; rm -rf /'", "reason": "r"}], ["go.test_skips[0].test", "regex"]),
    ("go.test_skips", [{"test": "TestA"}], ["go.test_skips[0].reason", "missing"]),
    # Invariants the template relies on (issue 13).
    ("cpu_variants.x86_64.x64", "v2", ["cpu_variants.x86_64.x64", "expected v1", "'v2'"]),
    ("cpu_variants.aarch64", [], ["cpu_variants.aarch64", "at least one"]),
    ("cpu_variants.aarch64.1", "armv8.0_1", ["cpu_variants.aarch64[1]", "'armv8.0_1' is listed twice"]),
    ("llama_cpp.compat_patches.1", "llama/compat/001-llama-cpp-hooks.patch",
     ["llama_cpp.compat_patches[1]", "listed twice", "git apply"]),
    ("sources.llama_cpp", "https://example.org/{upstream_version}/ollama-{upstream_version}.tar.gz",
     ["sources.llama_cpp", "'ollama-0.32.15.tar.gz'", "also sources.ollama's"]),
    ("sources.vendor", "ollama-{upstream_version}-vendor.zip", ["sources.vendor", "a .tar.bz2 or .tar.xz name"]),
    ("sources.ollama", "https://example.org/ollama-{upstream_version}-vendor.tar.bz2",
     ["sources.vendor", "'ollama-0.32.15-vendor.tar.bz2'", "also sources.ollama's"]),
    ("sources.ollama", "https://example.org/ollama-{upstream_version}.rpm", ["sources.ollama", "archive"]),
    ("sources.vendor", "ollama-{upstream_version}-vendor.tar.gz", ["sources.vendor", "not reproducible"]),
    ("replaces.main.0", "ollama", ["replaces.main[0]", "'ollama' is built by this spec"]),
    ("replaces.vulkan.0", "ollama-ggml-vulkan", ["replaces.vulkan[0]", "built by this spec"]),
    ("replaces.rocm.0", "ollama-base", ["replaces.rocm[0]", "also replaced by main"]),
    ("backends.vulkan.arches", [], ["backends.vulkan.arches", "at least one", "%ifnarch"]),
    ("backends.rocm.host_compiler", "/usr/bin/g++-15", ["backends.rocm.host_compiler", "only a CUDA backend"]),
    ("backends.cuda.build_requires.6", "cuda-nvcc-13-0", ["backends.cuda.build_requires", "gcc15-c++"]),
]


@pytest.mark.parametrize("key,value,words", BAD_INPUTS, ids=[b[0] + "=" + repr(b[1]) for b in BAD_INPUTS])
def test_bad_config_is_one_line_error_and_writes_nothing(project, key, value, words):
    cfg = load_yaml(project / "packaging.yaml")
    _mutate(cfg, key, value)
    write_yaml(project / "packaging.yaml", cfg)
    proc = run_cli("render", cwd=project)
    assert proc.returncode == EXIT_CONFIG
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "packaging.yaml" in lines[0]
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (project / "ollama.spec").exists()
    assert [p.name for p in project.iterdir() if p.name.startswith(".ollama.spec")] == []


def test_bad_config_leaves_existing_spec_untouched(project):
    run_cli("render", cwd=project, check=True)
    before = (project / "ollama.spec").read_bytes()
    cfg = load_yaml(project / "packaging.yaml")
    cfg["version"] = "not.a.version!"
    write_yaml(project / "packaging.yaml", cfg)
    assert run_cli("render", cwd=project).returncode == EXIT_CONFIG
    assert (project / "ollama.spec").read_bytes() == before


def test_invalid_yaml_names_the_line(project):
    (project / "packaging.yaml").write_text("name: ollama\nversion: [0.32\n")
    proc = run_cli("render", cwd=project)
    assert proc.returncode == EXIT_CONFIG
    assert "packaging.yaml" in proc.stderr and "YAML" in proc.stderr and "line" in proc.stderr


def test_missing_config_file(project):
    proc = run_cli("render", "--config", project / "nope.yaml", cwd=project)
    assert proc.returncode == EXIT_CONFIG
    assert "nope.yaml" in proc.stderr and "cannot read" in proc.stderr


def test_patches_are_listed_from_the_directory_in_order(project):
    patches = project / "patches"
    patches.mkdir(exist_ok=True)
    for old in patches.glob("*.patch"):
        old.unlink()
    (patches / "0002-second.patch").write_text("x")
    (patches / "0001-first.patch").write_text("x")
    (patches / "notes.txt").write_text("not a patch")
    run_cli("render", cwd=project, check=True)
    spec = (project / "ollama.spec").read_text()
    assert "Patch1:         0001-first.patch\n" in spec
    assert "Patch2:         0002-second.patch\n" in spec
    assert "notes.txt" not in spec


def test_impossible_date_is_a_one_line_error(project):
    text = (project / "packaging.yaml").read_text().replace("date: 2026-11-23", "date: 2026-13-45")
    (project / "packaging.yaml").write_text(text)
    proc = run_cli("render", cwd=project)
    assert proc.returncode == EXIT_CONFIG
    assert len(proc.stderr.strip().splitlines()) == 1 and "packaging.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cuda_13_refuses_architectures_it_dropped(project):
    cfg = load_yaml(project / "packaging.yaml")
    cuda = cfg["backends"]["cuda"]
    assert cuda["runner_dir"] == "cuda_v13"          # the default CUDA backend is CUDA 13
    cuda["gpu_targets"] = ["70", "75-virtual", "80", "90"]
    write_yaml(project / "packaging.yaml", cfg)
    proc = run_cli("render", cwd=project)
    assert proc.returncode == EXIT_CONFIG
    assert "backends.cuda.gpu_targets[0]" in proc.stderr and "oldest architecture is 75" in proc.stderr
    cuda["gpu_targets"] = ["75-virtual", "80", "90"]
    write_yaml(project / "packaging.yaml", cfg)
    assert run_cli("render", cwd=project).returncode == 0


def test_a_variant_missing_from_the_level_map_is_warned_about(project):
    proc = run_cli("render", cwd=project, check=True)
    assert "warning" not in proc.stderr
    cfg = load_yaml(project / "packaging.yaml")
    del cfg["cpu_variants"]["x86_64"]["haswell"]
    write_yaml(project / "packaging.yaml", cfg)
    proc = run_cli("render", cwd=project, check=True)
    assert "warning" in proc.stderr and "no level for haswell" in proc.stderr
    assert "libggml-cpu-haswell.so" not in (project / "ollama.spec").read_text()
