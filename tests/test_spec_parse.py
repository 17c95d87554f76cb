"""The rendered spec, parsed by the real rpm parser, for every bcond/arch combination."""

import itertools
import re
import subprocess
import sys

import pytest

import standin
from conftest import REPO, STANDIN_MACROS, run_cli
from ollama_rpm.errors import ConfigError
from ollama_rpm.specgen import cpu_levels, parse
from ollama_rpm.specgen.config import BACKENDS, load_config

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine



@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "packaging.yaml")


@pytest.fixture(scope="module")
def el10_macros(tmp_path_factory):
    """The stand-ins as an epel-10 buildroot has them: where the CUDA 12 backend builds."""
    return standin.for_chroot("epel", "10", tmp_path_factory.mktemp("el10") / "el10.macros")


def expected_packages(cfg, arch, switches):
    names = ["ollama"]
    if arch == "x86_64":
        names += [f"ollama-ggml-cpu-x86_64-{lvl}" for lvl in cpu_levels.LEVELS
                  if lvl in {level for _, level in cfg.cpu_x86_64}]
    else:
        names.append("ollama-ggml-cpu")
    for backend in cfg.backends:
        # --with never builds a backend for an arch it does not list.
        if switches.get(backend.name, backend.enabled) and arch in backend.arches:
            names.append(f"ollama-ggml-{backend.name}")
    return names


COMBOS = [
    (arch, dict(zip(BACKENDS, states, strict=True)))
    for arch in ("x86_64", "aarch64")
    for states in itertools.product((None, True, False), repeat=len(BACKENDS))
]


@pytest.mark.parametrize("arch,switches", COMBOS,
                         ids=[f"{a}-" + ",".join(f"{k}={v}" for k, v in s.items()) for a, s in COMBOS])
def test_package_set_for_each_combination(rendered, cfg, el10_macros, arch, switches):
    switches = {k: v for k, v in switches.items() if v is not None}
    # --with cuda12 stops a Fedora >= 42 build (glibc 2.41): parse it as in epel-10,
    # with every x86-64 level packaged as on Fedora.
    cuda12 = switches.get("cuda12") and arch == "x86_64"
    parsed = parse.parse(
        rendered, target=arch, macro_files=[el10_macros if cuda12 else STANDIN_MACROS],
        with_=[k for k, v in switches.items() if v], without=[k for k, v in switches.items() if not v],
        defines=[("ollama_x86_64_level", "1")] if cuda12 else ())
    debug = [p for p in parsed.packages if p.endswith(("-debuginfo", "-debugsource"))]
    packages = [p for p in parsed.packages if p not in debug]
    assert packages == expected_packages(cfg, arch, switches)
    assert {"ollama-debuginfo", "ollama-debugsource"} <= set(debug)    # Fedora's find-debuginfo split
    isa = {"x86_64": "x86-64", "aarch64": "aarch-64"}[arch]
    for package in packages[1:]:
        # Every backend subpackage pins the main package of the same build.
        assert f"ollama({isa})" in parsed.requires[package], parsed.requires[package]


def test_main_package_requires_v1_and_recommends_higher_levels(rendered):
    parsed = parse.parse(rendered, target="x86_64", macro_files=[STANDIN_MACROS])
    assert "ollama-ggml-cpu-x86_64-v1(x86-64)" in parsed.requires["ollama"]
    assert parsed.recommends["ollama"] == [f"ollama-ggml-cpu-x86_64-{lvl}(x86-64)" for lvl in ("v2", "v3", "v4")]


def test_gpu_subpackages_supplement_their_driver_stack(rendered, cfg, el10_macros):
    parsed = parse.parse(rendered, target="x86_64", with_=["cuda", "cuda12"], macro_files=[el10_macros])
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


def test_cpu_build_strips_march_and_gpu_lists_are_explicit(rendered, el10_macros):
    parsed = parse.parse(rendered, target="x86_64", with_=["cuda", "cuda12"], macro_files=[el10_macros],
                             defines=[("__cflags_arch_x86_64", "-march=x86-64-v3 -mtune=generic")])
    build = parsed.build_script
    cpu_part = build.split("build-cpu", 1)[0]
    assert "-march=x86-64-v3" in cpu_part     # the distro flags, before stripping
    assert _cpu_flag_programs(cpu_part) == 2      # CFLAGS and CXXFLAGS
    cuda13, cuda12 = _backend_block(build, "cuda"), _backend_block(build, "cuda12")
    # upstream v0.32.15's llama_cuda_v13_linux / llama_cuda_v12_linux presets
    assert '-DCMAKE_CUDA_ARCHITECTURES="75-virtual;80-virtual;86-virtual;87-virtual;89-virtual;90-virtual;' \
           '90a-virtual;100-virtual;103-virtual;110-virtual;120-virtual;121-virtual"' in cuda13
    assert "-DOLLAMA_RUNNER_DIR=cuda_v13" in cuda13 and '-DCMAKE_CUDA_FLAGS="-t 4 -Xcompiler=' in cuda13
    assert "-DCMAKE_CUDA_COMPILER=/usr/local/cuda-13.0/bin/nvcc" in cuda13
    assert '-DCMAKE_CUDA_ARCHITECTURES="50-virtual;52-virtual;60;61;70;75;80;86;89;90;90a;100;120"' in cuda12
    assert "-DOLLAMA_RUNNER_DIR=cuda_v12" in cuda12 and "/usr/local/cuda-12.9/bin/nvcc" in cuda12
    assert "-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP=" in build and "FULLY_DISCONNECTED=ON" in build
    assert "-X=github.com/ollama/ollama/version.Version=0.32.15" in build


def _backend_block(build, name):
    """One backend's part of the expanded %build (from its marker to the next)."""
    match = re.search(rf"^# backend {name}\n(.*?)(?=^# backend |^# Go:)", build, re.M | re.S)
    assert match, f"no '# backend {name}' block in %build"
    return match.group(1)


def _cmake_args(block):
    """The arguments of the block's %cmake call, as bash (not a Python tokenizer) splits
    them, after the block's own shell lines before it (the flag variables it passes)."""
    start = block.index("/usr/bin/cmake -S")
    prefix = block[:block.rindex("\n", 0, start)]
    line = block[start:].split("\n/usr/bin/cmake --build", 1)[0]
    script = "args() { printf '%s\\0' \"$@\"; }\n" + prefix + "\n" + line.replace("/usr/bin/cmake", "args", 1)
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    # a ; the shell saw would end the command and run the rest as a command of its own
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return proc.stdout.split("\0")[:-1]


def _flags_arg(args, name):
    [value] = [a.split("=", 1)[1] for a in args if a.startswith(f"-D{name}=")]
    return value


def _buildroot_parse(spec, target, switches, defines=(), release=("fedora", "43")):
    """Parse as in a buildroot of `release`: stand-ins only for packages the spec BuildRequires."""
    with_ = [k for k, v in switches.items() if v]
    without = [k for k, v in switches.items() if v is False]
    first = parse.parse(spec, target=target, with_=with_, without=without,
                            macro_files=[standin.for_chroot(*release, spec.parent / "base.macros", ())],
                            defines=defines)
    macros = standin.for_chroot(*release, spec.parent / f"br-{target}.macros", first.buildrequires)
    return parse.parse(spec, target=target, with_=with_, without=without, macro_files=[macros],
                           defines=defines)


def test_standin_sections_name_real_packages():
    # the per-package stand-ins this suite relies on (a renamed header would silently drop them)
    assert {"rocm-rpm-macros", "rocm-compilersupport-macros"} <= standin.packages()


@pytest.mark.parametrize("arch,switches", COMBOS,
                         ids=[f"{a}-" + ",".join(f"{k}={v}" for k, v in s.items()) for a, s in COMBOS])
def test_every_macro_in_build_and_install_comes_from_a_buildrequires(rendered, arch, switches):
    # (CUDA 12 builds on EPEL only: test_cuda12_is_stopped_on_fedora)
    release = ("epel", "10") if switches.get("cuda12") and arch == "x86_64" else ("fedora", "43")
    parsed = _buildroot_parse(rendered, arch, switches, release=release)
    for section, script in (("%build", parsed.build_script), ("%install", parsed.install_script)):
        left = sorted(set(re.findall(r"%\{\??[A-Za-z_][\w]*", script)))
        assert not left, f"{section} keeps macros no BuildRequires defines: {left}"


@pytest.mark.parametrize("gpu_list", [None, "gfx1100;gfx1201", '"gfx1100"'],
                         ids=["fedora-quoted-list", "bare-list", "one-quoted"])
def test_rocm_compiler_and_gpu_list_reach_cmake_as_single_arguments(rendered, gpu_list):
    # The stand-in's value carries quotes as Fedora's does; the spec must not depend on it.
    defines = [("rocm_gpu_list_default", gpu_list)] if gpu_list else []
    parsed = _buildroot_parse(rendered, "x86_64", {"rocm": True}, defines=defines)
    args = _cmake_args(_backend_block(parsed.build_script, "rocm"))
    assert "-DCMAKE_HIP_COMPILER=/usr/lib64/rocm/llvm/bin/clang++" in args
    targets = [a for a in args if a.startswith("-DAMDGPU_TARGETS=")]
    assert len(targets) == 1, targets
    value = targets[0].split("=", 1)[1]
    # the list, any quotes of its own gone, still one ;-list (the shell split nothing off)
    expected = gpu_list.strip('"') if gpu_list else None
    assert '"' not in value, value
    if expected:
        assert value == expected
    else:
        assert value.startswith("gfx900;") and value.endswith(";gfx1201"), value
    assert "-DCMAKE_HIP_FLAGS_RELEASE=-DNDEBUG" in args   # Fedora's -O2, not CMake's -O3


def test_hip_host_code_gets_fedoras_flags_like_fedoras_rocm_packages(rendered):
    parsed = _buildroot_parse(rendered, "x86_64", {"rocm": True})
    hipflags = _flags_arg(_cmake_args(_backend_block(parsed.build_script, "rocm")), "CMAKE_HIP_FLAGS").split()
    # Fedora's hardening and debug flags, host-only where the device compile cannot take them
    for flag in ("-O2", "-g", "-Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3", "-Wp,-D_GLIBCXX_ASSERTIONS",
                 "-fstack-clash-protection", "-fasynchronous-unwind-tables"):
        assert flag in hipflags, (flag, hipflags)
    joined = " ".join(hipflags)
    assert "-Xarch_host -fstack-protector-strong" in joined and "-Xarch_host -fcf-protection" in joined
    assert not [f for f in hipflags if f.startswith(("-flto", "-specs=", "-mtls-dialect"))], hipflags
    # upstream's own HIP flag is kept, after Fedora's
    assert hipflags[-1] == "-parallel-jobs=4"


def test_hip_flags_drop_what_fedoras_real_flags_add_for_gcc_only(rendered, tmp_path):
    # Fedora 44's x86_64 flags carry GCC-only parts the stand-in trims: check the filter on them.
    fedora = ("-O2 -flto=auto -ffat-lto-objects -fexceptions -g -grecord-gcc-switches -pipe -Wall "
              "-Werror=format-security -Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3 -Wp,-D_GLIBCXX_ASSERTIONS "
              "-specs=/usr/lib/rpm/redhat/redhat-hardened-cc1 -fstack-protector-strong "
              "-specs=/usr/lib/rpm/redhat/redhat-annobin-cc1 -m64 -march=x86-64 -mtune=generic "
              "-fasynchronous-unwind-tables -fstack-clash-protection -fcf-protection -mtls-dialect=gnu2 "
              "-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer")
    parsed = _buildroot_parse(rendered, "x86_64", {"rocm": True}, defines=[("build_cxxflags", fedora)])
    hipflags = _flags_arg(_cmake_args(_backend_block(parsed.build_script, "rocm")), "CMAKE_HIP_FLAGS")
    assert hipflags == ("-O2 -fexceptions -g -grecord-gcc-switches -pipe -Wall -Werror=format-security "
                        "-Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3 -Wp,-D_GLIBCXX_ASSERTIONS "
                        "-Xarch_host -fstack-protector-strong -m64 -march=x86-64 -mtune=generic "
                        "-fasynchronous-unwind-tables -fstack-clash-protection -Xarch_host -fcf-protection "
                        "-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -parallel-jobs=4")


def test_cuda_host_code_keeps_fedoras_optimisation_level(rendered):
    parsed = _buildroot_parse(rendered, "x86_64", {"cuda": True, "cuda12": True}, release=("epel", "10"))
    for name in ("cuda", "cuda12"):
        args = _cmake_args(_backend_block(parsed.build_script, name))
        assert "-DCMAKE_CUDA_FLAGS_RELEASE=-DNDEBUG" in args, args


_REQUIRES_EXCLUDE = """
import rpm, sys
rpm.reloadConfig("x86_64-linux")
rpm.expandMacro("%{load:" + sys.argv[2] + "}")
for name in sys.argv[3:]:
    rpm.addMacro("_with_" + name, "--with-" + name)
rpm.spec(sys.argv[1])
print(rpm.expandMacro("%{__requires_exclude}"))
"""


@pytest.mark.parametrize("with_,driver_filtered", [((), False), (("cuda",), True), (("cuda12",), True)])
def test_cuda_backends_do_not_require_the_driver(rendered, el10_macros, with_, driver_filtered):
    out = subprocess.run([sys.executable, "-c", _REQUIRES_EXCLUDE, str(rendered), str(el10_macros), *with_],
                         capture_output=True, text=True, check=True).stdout.strip()
    pattern = re.compile(out)
    # rpm matches the filter against each generated dependency
    assert bool(pattern.search("libcuda.so.1()(64bit)")) is driver_filtered, out
    for kept in ("libcudart.so.13()(64bit)", "libcublas.so.13()(64bit)", "libcuda.so.2()(64bit)"):
        assert not pattern.search(kept), (kept, out)
    assert pattern.search("libggml-base.so.0()(64bit)")


EPEL = [
    # (%rhel, packaged x86-64 levels, the required one)
    (9, ["v2", "v3", "v4"], "v2"),
    (10, ["v3", "v4"], "v3"),
]


def _rhel_macros(tmp_path, rhel):
    """The stand-ins as an EPEL buildroot has them (tests/support/release-el<N>.standin)."""
    return standin.for_chroot("epel", str(rhel), tmp_path / f"el{rhel}.macros")


@pytest.mark.parametrize("rhel,levels,required", EPEL)
def test_epel_packages_no_level_below_the_distribution_baseline(rendered, cfg, tmp_path, rhel, levels, required):
    parsed = parse.parse(rendered, target="x86_64", macro_files=[_rhel_macros(tmp_path, rhel)])
    cpu = [p.rsplit("-", 1)[1] for p in parsed.packages if p.startswith("ollama-ggml-cpu-x86_64-")]
    assert cpu == levels
    assert [r for r in parsed.requires["ollama"] if "ggml-cpu" in r] == [f"ollama-ggml-cpu-x86_64-{required}(x86-64)"]
    assert parsed.recommends["ollama"] == [f"ollama-ggml-cpu-x86_64-{lvl}(x86-64)" for lvl in levels[1:]]
    # the variants of the dropped levels are deleted, not left unpackaged
    dropped = [v for v, lvl in cfg.cpu_x86_64 if lvl not in levels]
    assert dropped
    for variant in dropped:
        assert f"/libggml-cpu-{variant}.so" in parsed.install_script.split("Link-time symlinks", 1)[0]
    # the CPU variants still build without the distribution's -march
    assert f"-march=x86-64-{levels[0]}" in parsed.build_script.split("build-cpu", 1)[0]
    assert _cpu_flag_programs(parsed.build_script.split("build-cpu", 1)[0]) == 2


@pytest.mark.parametrize("rhel", [9, 10])
def test_epel_cuda_uses_els_own_gcc(rendered, tmp_path, rhel):
    el = parse.parse(rendered, target="x86_64", with_=["cuda", "cuda12"],
                         macro_files=[_rhel_macros(tmp_path, rhel)])
    # (Fedora >= 42 cannot build CUDA 12 at all: test_cuda12_is_stopped_on_fedora)
    fedora = parse.parse(rendered, target="x86_64", with_=["cuda"], macro_files=[STANDIN_MACROS])
    assert "gcc15-c++" in fedora.buildrequires
    assert "-DCMAKE_CUDA_HOST_COMPILER=/usr/bin/g++-15" in fedora.build_script
    # EL has no compat GCC packages; its own GCC (11, 14) is one nvcc accepts
    assert not [br for br in el.buildrequires if re.fullmatch(r"gcc\d+-c\+\+", br)], el.buildrequires
    assert "CMAKE_CUDA_HOST_COMPILER" not in el.build_script


def test_fedora_packages_every_level(rendered):
    parsed = parse.parse(rendered, target="x86_64", macro_files=[STANDIN_MACROS])
    assert [p for p in parsed.packages if "ggml-cpu" in p] == [f"ollama-ggml-cpu-x86_64-{lvl}" for lvl in cpu_levels.LEVELS]


def test_private_libraries_are_filtered(rendered):
    text = rendered.read_text()
    assert "%global __provides_exclude_from ^%{ollama_libdir}/.*$" in text
    assert "%global __requires_exclude ^lib(ggml|llama|mtmd)" in text


def _cpu_flag_programs(script: str) -> int:
    """How many CPU-build flag exports run the spec's sed program (the one the test below runs)."""
    return len(re.findall(r"(?m)^export C(XX)?FLAGS=\"\$\(echo '.*' \| sed -E '" + re.escape(_cpu_sed(script)) + r"'\)\"$",
                          script))


def _cpu_sed(script: str) -> str:
    return re.search(r"(?m)^export CFLAGS=\"\$\(echo '.*' \| sed -E '([^']+)'\)\"$", script).group(1)


@pytest.mark.parametrize("macros", ["fedora", "el9", "el10"])
def test_cpu_build_flags_lose_march_and_get_o3_and_keep_the_rest(rendered, tmp_path, macros):
    # The CPU build's flags, by the spec's own sed program, from each chroot's real-shaped
    # flags: no -march/-mtune (the variants carry their own), -O3 where Fedora says -O2
    # (doc/performance.md: tinyBLAS needs it), every hardening flag kept.
    files = {"fedora": STANDIN_MACROS, "el9": _rhel_macros(tmp_path, 9), "el10": _rhel_macros(tmp_path, 10)}
    parsed = parse.parse(rendered, target="x86_64", macro_files=[files[macros]])
    cpu_part = parsed.build_script.split("build-cpu", 1)[0]
    program = _cpu_sed(cpu_part)
    distro = re.search(r"(?m)^export CFLAGS=\"\$\(echo '(.*)' \| sed", cpu_part).group(1)
    assert "-O2" in distro.split() and any(f.startswith("-march=") for f in distro.split())
    out = subprocess.run(["sed", "-E", program], input=distro, capture_output=True, text=True,
                         check=True).stdout.split()
    assert "-O3" in out and "-O2" not in out
    assert not [f for f in out if f.startswith(("-march=", "-mtune="))]
    kept = [f for f in distro.split() if not f.startswith(("-march=", "-mtune=", "-O2"))]
    assert [f for f in out if f != "-O3"] == kept      # nothing else lost, order kept
    assert "-fstack-clash-protection" in out and "-fcf-protection" in out
    # after it, the GPU backends' builds get the distribution's flags back, -O2 and all
    after = parsed.build_script.split("build-cpu", 1)[1]
    assert re.search(r"(?m)^export CFLAGS='(.*)' CXXFLAGS=", after).group(1).split() == distro.split()


def test_both_cuda_backends_install_side_by_side(rendered, el10_macros):
    parsed = parse.parse(rendered, target="x86_64", with_=["cuda", "cuda12"], macro_files=[el10_macros])
    assert {"ollama-ggml-cuda", "ollama-ggml-cuda12"} <= set(parsed.packages)
    text = rendered.read_text()
    owned = {}
    for name in ("cuda", "cuda12"):
        section = text.split(f"\n%files ggml-{name}\n", 1)[1].split("\n%endif", 1)[0]
        owned[name] = section.split()
    # each owns only its own runner dir (upstream's cuda_v13 and cuda_v12), so no file conflicts
    assert owned == {"cuda": ["%{ollama_libdir}/cuda_v13/"], "cuda12": ["%{ollama_libdir}/cuda_v12/"]}
    assert "Conflicts:" not in text


def test_cuda12_is_stopped_on_fedora(rendered):
    """mock --rebuild --with cuda12 (not through ollama-rpm build) stops in the spec,
    naming the reason, on Fedora >= 42; without the switch nothing is said."""
    def query(*args):
        return subprocess.run(["rpmspec", "--target", "x86_64", "--load", str(STANDIN_MACROS), *args, "-q",
                               str(rendered)], capture_output=True, text=True)
    stopped = query("--with", "cuda12")
    assert stopped.returncode != 0
    assert "error: --with cuda12: CUDA 12.9's math headers" in stopped.stderr and "glibc 2.41" in stopped.stderr
    assert query("--with", "cuda").returncode == 0
    # the same spec where glibc is older (Fedora 41's rule is the release number)
    assert query("--with", "cuda12", "--define", "fedora 41").returncode == 0


BROKEN_SPEC = """\
Name: broken
Version: 1
Release: 1
Summary: a spec rpm refuses
License: MIT
%{warn:a warning before the error}
Requires: %{error:the real problem}
%description
broken
%files
"""


def test_a_failed_parse_names_rpms_first_error_not_its_last_line(tmp_path):
    spec = tmp_path / "broken.spec"
    spec.write_text(BROKEN_SPEC)
    with pytest.raises(ConfigError) as caught:
        parse.parse(spec, target="x86_64")
    message = str(caught.value)
    assert message.endswith("rpm cannot parse it: the real problem"), message
    assert "ValueError" not in message and "warning" not in message


def test_parse_without_a_target_reads_the_spec_for_the_host():
    parsed = parse.parse(REPO / "ollama.spec", macro_files=[STANDIN_MACROS])
    assert parsed.name == "ollama"
    assert parsed.version == load_config(REPO / "packaging.yaml").version


def test_first_error_prefers_the_first_error_line():
    stderr = "warning: early\nerror: first\nerror: second\nTraceback\nValueError: can't parse specfile\n"
    assert parse.first_error(stderr) == "first"
    assert parse.first_error("warning: only a warning\n") == "warning: only a warning"
    assert parse.first_error("") == "unknown error"
