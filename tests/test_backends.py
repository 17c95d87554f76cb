"""The backend registry: one entry reaches the spec (both layouts), the mock
config, Copr's chroot setup and bump; one chroot grammar and one NVIDIA
repository policy for `build` and `copr submit`."""

import datetime
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_project
from ollama_rpm.builders import mockcfg
from ollama_rpm.errors import ConfigError, UsageError
from ollama_rpm.publish import bump, copr
from ollama_rpm.publish.upstream_release import Upstream
from ollama_rpm.sources import lock
from ollama_rpm.specgen import backends, context, cpu_levels, render
from ollama_rpm.specgen.config import load_config

FAKE_TOOLKIT = backends.Toolkit("fake", "ggml-fake", gpu_targets_variable="FAKE_GPU_ARCHS",
                                flags_variable="CMAKE_FAKE_FLAGS", flags_shell_variable="ollama_fake_flags",
                                flags_sed="/^-flto/d", flags_comment=("fake's flags",), flags_prefix="-Xfake=",
                                nvidia_repo=True)
FAKE = backends.BackendInfo("fakegpu", FAKE_TOOLKIT, "Fake GPU backend for Ollama",
                            "A backend that exists only in this test.", preset="fake_{runner_dir}_linux")
FAKE_SECTION = {"enabled": False, "arches": ["x86_64"], "runner_dir": "fake_v1", "gpu_targets": ["f1", "f2"],
                "cmake_options": {"GGML_FAKE": "ON"}, "build_requires": ["fake-devel"], "requires": ["fake-libs"],
                "supplements": "(fake-driver or fake-driver2)"}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """The registry with one more backend, and a project whose packaging.yaml configures it."""
    monkeypatch.setitem(backends.REGISTRY, FAKE.name, FAKE)
    project = copy_project(tmp_path / "project")
    data = yaml.safe_load((project / "packaging.yaml").read_text())
    data["backends"]["fakegpu"] = FAKE_SECTION
    (project / "packaging.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return project, load_config(project / "packaging.yaml")


def test_a_registered_backend_reaches_the_single_spec(fake):
    project, cfg = fake
    assert [b.name for b in cfg.backends][-1] == "fakegpu"
    spec = render.render_text(project, cfg)
    assert "%bcond_with fakegpu" in spec
    assert "%package ggml-fakegpu\nSummary:        Fake GPU backend for Ollama" in spec
    assert "%cmake_build --target ggml-fake" in spec
    assert '-DFAKE_GPU_ARCHS="f1;f2"' in spec
    # the flags variable is named once (the registry): the shell sets it, CMake gets it
    assert "# fake's flags\nollama_fake_flags=$(echo '%{build_cxxflags}' | tr ' ' '\\n' | sed -E '/^$/d; /^-flto/d' " \
           "| paste -sd' ' -)\n" in spec
    assert "-DCMAKE_FAKE_FLAGS=-Xfake=${ollama_fake_flags}" in spec
    assert "%{ollama_libdir}/fake_v1/" in spec


def test_a_registered_backend_gets_its_own_source_package_in_the_split_layout(fake):
    project, cfg = fake
    specs = dict((p.spec_file, text) for p, text in render.render_specs(project, cfg, "split"))
    assert list(specs)[-1] == "ollama-ggml-fakegpu.spec"
    text = specs["ollama-ggml-fakegpu.spec"]
    assert "Name:           ollama-ggml-fakegpu" in text and "ExclusiveArch:  %{x86_64}" in text
    assert "Requires:       ollama%{?_isa} = %{version}-%{release}" in text
    assert "BuildRequires:  fake-devel" in text and "--target ggml-fake" in text
    assert "ggml-fake" not in specs["ollama.spec"]


def test_a_registered_backend_reaches_the_mock_config_and_copr_chroot_setup(fake):
    _, cfg = fake
    chroot = backends.parse_chroot("fedora-43-x86_64")
    text, _ = mockcfg.render(chroot, cfg, ("fakegpu",))
    assert "compute/cuda/repos/fedora43/x86_64/" in text            # nvidia_repo from its toolkit
    text, _ = mockcfg.render(chroot, cfg, ())
    assert "nvidia" not in text.lower()
    setup, _ = copr.plan_chroots(cfg, ["fedora-43-x86_64", "fedora-43-aarch64"], ("fakegpu",), (), "single")
    assert setup["fedora-43-x86_64"].repos == ("https://developer.download.nvidia.com/compute/cuda/repos/fedora43/x86_64/",)
    assert setup["fedora-43-x86_64"].with_ == ("fakegpu",)
    assert setup["fedora-43-aarch64"].repos == ()                   # its arches are x86_64 only
    uploads = copr.plan_uploads(cfg, ["fedora-43-x86_64", "fedora-43-aarch64"], ("fakegpu",), ("rocm",),
                                       "split", {p.name: Path(f"{p.name}-1-1.src.rpm")
                                                 for p in context.packages(cfg, "split")})
    assert [(u.package, u.chroots) for u in uploads] == [
        ("ollama", ("fedora-43-x86_64", "fedora-43-aarch64")),
        ("ollama-ggml-vulkan", ("fedora-43-x86_64", "fedora-43-aarch64")),
        ("ollama-ggml-fakegpu", ("fedora-43-x86_64",))]


def test_a_registered_backend_gets_its_gpu_list_from_upstream_on_bump(fake, tmp_path):
    project, cfg = fake
    raw = (project / "packaging.yaml").read_text()
    presets = {"llama_cuda_v13_linux": {"CMAKE_CUDA_ARCHITECTURES": "75-virtual;80-virtual"},
               "llama_cuda_v12_linux": {"CMAKE_CUDA_ARCHITECTURES": "50-virtual;61"},
               "fake_fake_v1_linux": {"FAKE_GPU_ARCHS": "f1;f2;f3"}}
    upstream = Upstream(version="0.33.0", llama_cpp_tag=cfg.llama_cpp_tag, go_version=cfg.go_min_version,
                        compat_patches=list(cfg.llama_cpp_compat_patches), presets=presets)
    variants = [(name, cpu_levels.X86_VARIANT_FEATURES[name]) for name, _ in cfg.cpu_x86_64]
    plan = bump.plan(project, cfg, raw, lock.Lock(tmp_path / "sources.lock"),
                     bump.Release(upstream, variants, "0" * 64, "1" * 64), datetime.date(2026, 12, 1))
    new = yaml.safe_load(plan.yaml_text)
    assert new["backends"]["fakegpu"]["gpu_targets"] == ["f1", "f2", "f3"]
    assert "fakegpu GPU targets from upstream fake_v1: f1;f2;f3" in plan.changes
    assert '-DFAKE_GPU_ARCHS="f1;f2;f3"' in plan.spec_text


def test_bump_renders_every_spec_of_the_split_layout(tmp_path):
    project = copy_project(tmp_path / "project")
    raw = (project / "packaging.yaml").read_text().replace("\nname: ollama\n", "\nname: ollama\nlayout: split\n")
    (project / "packaging.yaml").write_text(raw)
    cfg = load_config(project / "packaging.yaml")
    upstream = Upstream(version="0.33.0", llama_cpp_tag=cfg.llama_cpp_tag, go_version=cfg.go_min_version,
                        compat_patches=list(cfg.llama_cpp_compat_patches), presets={
                            "llama_cuda_v13_linux": {"CMAKE_CUDA_ARCHITECTURES": "75-virtual"},
                            "llama_cuda_v12_linux": {"CMAKE_CUDA_ARCHITECTURES": "61"}})
    variants = [(name, cpu_levels.X86_VARIANT_FEATURES[name]) for name, _ in cfg.cpu_x86_64]
    plan = bump.plan(project, cfg, raw, lock.Lock(tmp_path / "sources.lock"),
                     bump.Release(upstream, variants, "0" * 64, "1" * 64), datetime.date(2026, 12, 1))
    assert list(plan.spec_texts) == ["ollama.spec", "ollama-ggml-cuda.spec", "ollama-ggml-cuda12.spec",
                                     "ollama-ggml-rocm.spec", "ollama-ggml-vulkan.spec"]
    assert all("Version:        0.33.0\n" in text for text in plan.spec_texts.values())
    assert '-DCMAKE_CUDA_ARCHITECTURES="75-virtual"' in plan.spec_texts["ollama-ggml-cuda.spec"]


@pytest.mark.parametrize("name, any_copr, family, release, arch", [
    ("fedora-44-x86_64", False, "fedora", "44", "x86_64"),
    ("fedora-rawhide-aarch64", False, "fedora", "rawhide", "aarch64"),
    ("epel-10-x86_64", False, "epel", "10", "x86_64"),
    ("centos-stream-9-x86_64", True, "centos-stream", "9", "x86_64"),
    ("opensuse-tumbleweed-x86_64", True, "opensuse", "tumbleweed", "x86_64"),
    ("fedora-44-ppc64le", True, "fedora", "44", "ppc64le"),
])
def test_one_chroot_grammar(name, any_copr, family, release, arch):
    chroot = backends.parse_chroot(name, any_copr=any_copr)
    assert (chroot.family, chroot.release, chroot.arch) == (family, release, arch)
    if any_copr:
        # Copr builds there, but mock configs and NVIDIA repositories are Fedora/EPEL x86_64/aarch64 only.
        with pytest.raises(UsageError, match="expected a mock chroot"):
            backends.parse_chroot(name)


@pytest.mark.parametrize("name", ["epel-rawhide-x86_64", "fedora-44", "fedora-44-x86_64 ", "Fedora-44-x86_64", ""])
def test_bad_chroots(name):
    with pytest.raises(UsageError):
        backends.parse_chroot(name, any_copr=True)


@pytest.mark.parametrize("chroot, release, warned", [
    ("fedora-43-x86_64", 43, False),
    ("fedora-44-x86_64", 43, True),
    ("fedora-rawhide-x86_64", 43, True),
    ("fedora-44-aarch64", 42, True),
    ("epel-9-x86_64", 9, False),
])
def test_one_nvidia_repository_policy_for_build_and_copr(chroot, release, warned):
    repo = backends.cuda_repo(backends.parse_chroot(chroot))
    assert repo.release == release and bool(repo.warning) == warned
    url, warning = copr.cuda_repo(chroot)
    assert url == repo.url and warning == repo.warning
    assert mockcfg.cuda_repo(backends.parse_chroot(chroot)) == repo


def test_the_committed_spec_is_the_single_layout():
    cfg = load_config(REPO / "packaging.yaml")
    assert cfg.layout == "single"
    assert [p.spec_file for p in context.packages(cfg)] == ["ollama.spec"]
    assert render.render_text(REPO, cfg) == (REPO / "ollama.spec").read_text()


def test_layout_is_validated(tmp_path):
    project = copy_project(tmp_path / "project")
    raw = (project / "packaging.yaml").read_text().replace("\nname: ollama\n", "\nname: ollama\nlayout: both\n")
    (project / "packaging.yaml").write_text(raw)
    with pytest.raises(ConfigError, match="layout.*single or split"):
        load_config(project / "packaging.yaml")
