"""The rendered spec, parsed by the real rpm parser, for every bcond/arch combination."""

import itertools

import pytest

from conftest import REPO, STANDIN_MACROS, run_cli
from ollama_rpm import config as config_mod, cpu_levels, specparse

BACKENDS = ("cuda", "rocm", "vulkan")


@pytest.fixture(scope="module")
def cfg():
    return config_mod.load(REPO / "packaging.yaml")


def expected_packages(cfg, arch, switches):
    names = ["ollama"]
    if arch == "x86_64":
        names += [f"ollama-ggml-cpu-x86_64-{lvl}" for lvl in cpu_levels.LEVELS
                  if lvl in {level for _, level in cfg.cpu_x86_64}]
    else:
        names.append("ollama-ggml-cpu")
    for backend in cfg.backends:
        default_on = backend.enabled and arch in backend.arches
        if switches.get(backend.name, default_on):
            names.append(f"ollama-ggml-{backend.name}")
    return names


COMBOS = [
    (arch, dict(zip(BACKENDS, states)))
    for arch in ("x86_64", "aarch64")
    for states in itertools.product((None, True, False), repeat=3)
]


@pytest.mark.parametrize("arch,switches", COMBOS,
                         ids=[f"{a}-" + ",".join(f"{k}={v}" for k, v in s.items()) for a, s in COMBOS])
def test_package_set_for_each_combination(rendered, cfg, arch, switches):
    switches = {k: v for k, v in switches.items() if v is not None}
    parsed = specparse.parse(
        rendered, target=arch, macro_files=[STANDIN_MACROS],
        with_=[k for k, v in switches.items() if v], without=[k for k, v in switches.items() if not v])
    debug = [p for p in parsed.packages if p.endswith(("-debuginfo", "-debugsource"))]
    packages = [p for p in parsed.packages if p not in debug]
    assert packages == expected_packages(cfg, arch, switches)
    assert {"ollama-debuginfo", "ollama-debugsource"} <= set(debug)    # Fedora's find-debuginfo split
    isa = {"x86_64": "x86-64", "aarch64": "aarch-64"}[arch]
    for package in packages[1:]:
        # Every backend subpackage pins the main package of the same build.
        assert f"ollama({isa})" in parsed.requires[package], parsed.requires[package]


def test_main_package_requires_v1_and_recommends_higher_levels(rendered):
    parsed = specparse.parse(rendered, target="x86_64", macro_files=[STANDIN_MACROS])
    assert "ollama-ggml-cpu-x86_64-v1(x86-64)" in parsed.requires["ollama"]
    assert parsed.recommends["ollama"] == [f"ollama-ggml-cpu-x86_64-{lvl}(x86-64)" for lvl in ("v2", "v3", "v4")]


def test_gpu_subpackages_supplement_their_driver_stack(rendered, cfg):
    parsed = specparse.parse(rendered, target="x86_64", with_=["cuda"], macro_files=[STANDIN_MACROS])
    for backend in cfg.backends:
        supplements = parsed.supplements[f"ollama-ggml-{backend.name}"]
        assert supplements == [f"(ollama and {backend.supplements})"]


def test_every_cpu_variant_lands_in_exactly_one_level_package(rendered, cfg):
    text = rendered.read_text()
    sections = text.split("\n%files ")
    owners = {}
    for section in sections[1:]:
        package = section.split("\n", 1)[0].strip()
        for line in section.splitlines():
            if "/libggml-cpu-" in line:
                variant = line.rsplit("libggml-cpu-", 1)[1].removesuffix(".so")
                owners.setdefault(variant, []).append(package)
    configured = dict(cfg.cpu_x86_64)
    for variant, level in configured.items():
        assert owners[variant] == [f"ggml-cpu-x86_64-{level}"], (variant, owners.get(variant))
    for variant in cfg.cpu_aarch64:
        assert owners[variant] == ["ggml-cpu"]
    assert set(owners) == set(configured) | set(cfg.cpu_aarch64)


def test_level_map_change_moves_the_variant(project):
    from conftest import load_yaml, write_yaml
    cfg = load_yaml(project / "packaging.yaml")
    cfg["cpu_variants"]["x86_64"]["sse42"] = "v3"
    write_yaml(project / "packaging.yaml", cfg)
    run_cli("render", cwd=project, check=True)
    text = (project / "ollama.spec").read_text()
    v3 = text.split("%files ggml-cpu-x86_64-v3\n", 1)[1].split("\n\n", 1)[0]
    v2 = text.split("%files ggml-cpu-x86_64-v2\n", 1)[1].split("\n\n", 1)[0]
    assert "libggml-cpu-sse42.so" in v3 and "libggml-cpu-sse42.so" not in v2


def test_cpu_build_strips_march_and_gpu_lists_are_explicit(rendered):
    parsed = specparse.parse(rendered, target="x86_64", with_=["cuda"], macro_files=[STANDIN_MACROS],
                             defines=[("__cflags_arch_x86_64", "-march=x86-64-v3 -mtune=generic")])
    build = parsed.build_script
    cpu_part = build.split("build-cpu", 1)[0]
    assert "-march=x86-64-v3" in cpu_part     # the distro flags, before stripping
    assert "sed -E 's/(^| )-m(arch|tune)=[^ ]+//g'" in cpu_part
    assert '-DCMAKE_CUDA_ARCHITECTURES="50-virtual;' in build
    # ROCm follows Fedora's stack (rocm-rpm-macros, not available on Debian: unexpanded here).
    assert '-DAMDGPU_TARGETS="%{rocm_gpu_list_default}"' in build
    assert "-DCMAKE_HIP_COMPILER=%{rocmllvm_bindir}/clang++" in build
    assert "-DCMAKE_CUDA_COMPILER=/usr/local/cuda-12.9/bin/nvcc" in build
    assert "-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP=" in build and "FULLY_DISCONNECTED=ON" in build
    assert "-X=github.com/ollama/ollama/version.Version=0.32.15" in build


def test_private_libraries_are_filtered(rendered):
    text = rendered.read_text()
    assert "%global __provides_exclude_from ^%{ollama_libdir}/.*$" in text
    assert "%global __requires_exclude ^lib(ggml|llama|mtmd)" in text


def test_march_stripping_sed_really_strips():
    import subprocess
    flags = "-O2 -g -march=x86-64-v3 -mtune=generic -fcf-protection -mno-omit-leaf-frame-pointer"
    out = subprocess.run(["sed", "-E", "s/(^| )-m(arch|tune)=[^ ]+//g"], input=flags,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["-O2", "-g", "-fcf-protection", "-mno-omit-leaf-frame-pointer"]
