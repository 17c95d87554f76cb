"""Fedora review items in the rendered spec, read back with the real rpmspec:
License per subpackage, bundled() Provides, the upgrade path from Fedora's own
split ollama, the %check skip list and the ExclusiveArch reasons."""

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import REPO, STANDIN_MACROS, load_yaml, run_cli, write_yaml
from ollama_rpm.specgen.config import load_config
from ollama_rpm.specgen.config_checks import license_ids

pytestmark = [pytest.mark.slow,   # the CLI and rpm as processes, about a second each on a loaded 2-core machine
              pytest.mark.skipif(not shutil.which("rpmspec"), reason="needs rpmspec")]

CONFIG = load_config(REPO / "packaging.yaml")


def rpmspec(spec, *args):
    proc = subprocess.run(["rpmspec", "--load", str(STANDIN_MACROS), "--target", "x86_64",
                           "--define", f"_sourcedir {spec.parent}", *args, str(spec)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def per_package(spec, tag, *args):
    """NAME -> [values] of a dependency tag (provides, obsoletes) for each package."""
    out = rpmspec(spec, "-q", *args, "--qf", f"%{{NAME}}\\n[{tag}: %{{{tag}NEVRS}}\\n]")
    result, name = {}, None
    for line in out.splitlines():
        if line.startswith(f"{tag}: "):
            result[name].append(line.split(": ", 1)[1])
        else:
            name = line
            result.setdefault(name, [])
    return result


def test_each_package_has_its_own_license(rendered):
    out = rpmspec(rendered, "-q", "--qf", "%{NAME}\t%{LICENSE}\n")
    licenses = dict(line.split("\t") for line in out.splitlines())
    assert licenses.pop("ollama") == " ".join(CONFIG.license.split())
    for generated in ("ollama-debuginfo", "ollama-debugsource"):      # rpm's, the main License
        licenses.pop(generated, None)
    assert licenses and set(licenses) == {n for n in licenses if n.startswith("ollama-ggml-")}
    assert set(licenses.values()) == {CONFIG.ggml_license} == {"MIT"}


def test_main_license_covers_every_part():
    whole = license_ids(CONFIG.license)
    parts = [CONFIG.go_license, CONFIG.ggml_license, *(b.license for b in CONFIG.bundled)]
    for part in parts:
        assert license_ids(part) <= whole, part
    # what llama.cpp b10488 compiles in beyond MIT (see packaging.yaml)
    assert {"BSD-2-Clause", "Unlicense", "MIT-0", "LicenseRef-Fedora-Public-Domain"} <= whole


def test_bundled_libraries_are_provided_with_versions(rendered):
    provides = per_package(rendered, "PROVIDE")["ollama"]
    tag = CONFIG.llama_cpp_tag
    assert f"bundled(llama-cpp) = {tag}" in provides
    for entry in CONFIG.bundled:
        assert f"bundled({entry.name}) = {entry.version or tag}" in provides
    names = {b.name: b.version for b in CONFIG.bundled}
    assert names["cpp-httplib"] == "0.53.1" and names["json"] == "3.12.0"      # from the b10488 tree
    assert "minja" not in names          # gone from llama.cpp's vendor/ by b10488 (common/jinja is its own)
    text = rendered.read_text()
    assert "Bundled Software policy" in text and "no switch to use system copies" in text


@pytest.mark.parametrize("bconds, expect", [
    ((), {"ollama-ggml-rocm": "ollama-rocm", "ollama-ggml-vulkan": "ollama-vulkan"}),
    (("--without", "rocm"), {"ollama": "ollama-rocm", "ollama-ggml-vulkan": "ollama-vulkan"}),
    (("--without", "rocm", "--without", "vulkan"), {"ollama": "ollama-vulkan"}),
])
def test_upgrade_path_from_fedora_split_ollama(rendered, bconds, expect):
    version = f"{CONFIG.version}-{CONFIG.release}"
    obsoletes = per_package(rendered, "OBSOLETE", *bconds)
    provides = per_package(rendered, "PROVIDE", *bconds)
    assert f"ollama-base < {version}.fc43" in obsoletes["ollama"]
    assert f"ollama-base = {version}.fc43" in provides["ollama"]
    # Fedora's renaming guideline: an arch-specific package provides the %{?_isa} form too
    assert f"ollama-base(x86-64) = {version}.fc43" in provides["ollama"]
    for package, old in expect.items():
        assert f"{old} < {version}.fc43" in obsoletes[package], (package, obsoletes)
        # a built backend takes over the name; without one, the name is only obsoleted
        assert (f"{old} = {version}.fc43" in provides[package]) is (package != "ollama")
        assert (f"{old}(x86-64) = {version}.fc43" in provides[package]) is (package != "ollama")


def test_check_runs_go_tests_with_the_commented_skip_list(project):
    cfg = load_yaml(project / "packaging.yaml")
    cfg["go"]["test_skips"] = [
        {"test": "^TestPull$", "reason": "pulls from registry.ollama.ai"},
        {"tree": "github.com/ollama/ollama/integration", "reason": "needs a running server and models"},
    ]
    write_yaml(project / "packaging.yaml", cfg)
    run_cli("render", cwd=project, check=True)
    spec = project / "ollama.spec"
    check = spec.read_text().split("\n%check\n", 1)[1].split("\n%post\n", 1)[0]
    assert "#   -s '^TestPull$': pulls from registry.ollama.ai" in check
    assert ("#   -t 'github.com/ollama/ollama/integration': needs a running server and\n"
            "#       models") in check
    assert "\n%gocheck2 -s '^TestPull$' -t 'github.com/ollama/ollama/integration'\n" in check
    expanded = rpmspec(spec, "-P")
    assert "ollama_standin_gocheck2 -s '^TestPull$' -t 'github.com/ollama/ollama/integration'" in expanded


def test_license_file_listed_once(rendered):
    # %go_vendor_license_install installs the main module's LICENSE itself and
    # lists the directory (%license %dir): llama.cpp's texts are copied into it
    # and listed by full path, since a relative %license would list it again.
    text = rendered.read_text()
    files = text.split("\n%files -f %{go_vendor_license_filelist}\n", 1)[1]
    license_line = next(line for line in files.splitlines() if line.startswith("%license"))
    assert license_line.split()[1:] == ["%{_licensedir}/%{name}/llama.cpp-licenses"]
    install = text.split("\n%install\n", 1)[1].split("\n%check\n", 1)[0]
    assert "cp -pr llama.cpp-licenses %{buildroot}%{_licensedir}/%{name}/" in install
    prep = rendered.read_text().split("\n%prep\n", 1)[1].split("\n%build\n", 1)[0]
    wanted = ["LICENSE", *(b.license_file for b in CONFIG.bundled if b.license_file)]
    assert f"cp -p --parents {' '.join(wanted)} ../llama.cpp-licenses/" in prep


# The real llama.cpp tree at the pinned tag, where this machine has it.
REAL_LLAMA_CPP = Path(os.environ.get("OLLAMA_RPM_REAL_LLAMA_CPP",
                                     f"/work/real-sources/llama.cpp-{CONFIG.llama_cpp_tag}.tar.gz"))


@pytest.mark.skipif(not REAL_LLAMA_CPP.is_file(), reason="the real llama.cpp tarball is not on this machine")
def test_bundled_table_matches_the_real_llama_cpp_tree():
    """Every bundled entry exists at the pinned tag with the declared version, and
    vendor/ holds nothing the table forgot (sheredom is compiled out: LLAMA_SUBPROCESS=OFF)."""
    with tarfile.open(REAL_LLAMA_CPP) as tar:
        root = tar.getnames()[0].split("/")[0]
        names = {n[len(root) + 1:] for n in tar.getnames()}

        def read(path):
            return tar.extractfile(f"{root}/{path}").read().decode("utf-8", "replace")

        for entry in CONFIG.bundled:
            assert entry.path in names, entry
            if entry.license_file:
                assert entry.license_file in names, entry
        versions = {b.name: b.version for b in CONFIG.bundled}
        assert f'#define CPPHTTPLIB_VERSION "{versions["cpp-httplib"]}"' in read("vendor/cpp-httplib/httplib.h")
        json_h = read("vendor/nlohmann/json.hpp")
        major, minor, patch = versions["json"].split(".")
        for part, value in (("MAJOR", major), ("MINOR", minor), ("PATCH", patch)):
            assert re.search(rf"#define NLOHMANN_JSON_VERSION_{part} {value}\b", json_h)
        assert f"stb_image - v{versions['stb_image']} " in read("vendor/stb/stb_image.h")
        assert f"miniaudio - v{versions['miniaudio']} " in read("vendor/miniaudio/miniaudio.h")
        xx = read("vendor/hash/xxhash/xxhash.h")
        assert ".".join(re.search(rf"#define XXH_VERSION_{p}\s+(\d+)", xx).group(1)
                        for p in ("MAJOR", "MINOR", "RELEASE")) == versions["xxhash"]
        vendored = {n.split("/")[1] for n in names if n.startswith("vendor/") and n.count("/") >= 2}
        covered = {b.path.split("/")[1] for b in CONFIG.bundled if b.path.startswith("vendor/")}
        assert vendored - covered == {"sheredom"}, vendored - covered
        assert "#ifdef LLAMA_SUBPROCESS" in read("common/subproc.h")


def test_exclusive_arch_says_why(rendered):
    text = rendered.read_text()
    comment = text.split("\nExclusiveArch:", 1)[0].rsplit("\n\n", 1)[1]
    for word in ("ppc64le", "s390x", "riscv64", "z15", "little-endian"):
        assert word in comment, word
    # next to the tag, with the upstream reference Fedora asks for
    assert comment.startswith("# ExclusiveArch: ") and "scripts/install.sh" in comment
    assert re.search(r"(?m)^ExclusiveArch:  %\{x86_64\} aarch64$", text)


def test_only_the_vulkan_backend_opts_out_of_lto_with_its_reason(rendered):
    # Fedora's LTO opt-out, scoped to the Vulkan CMake build and explained there:
    # the CPU build before it and the Go build after it keep -flto=auto.
    # No --target: with it, Debian's rpmrc would replace the stand-in's %optflags.
    expanded = subprocess.run(["rpmspec", "--load", str(STANDIN_MACROS), "-P", str(rendered)],
                              capture_output=True, text=True, check=True).stdout
    build = expanded.split("\n%build\n", 1)[1].split("\n%install\n", 1)[0]
    before, rest = build.split("# backend vulkan\n", 1)
    vulkan, after = rest.split("\n# Go:", 1)
    assert "# No LTO for the Vulkan backend" in vulkan and "ggml_vk_load_shaders" in vulkan
    exports = [line for line in vulkan.splitlines() if line.startswith("export CFLAGS=")]
    cmake_flags = [line for line in vulkan.splitlines() if 'CFLAGS="${CFLAGS:-' in line]
    assert len(exports) == 2 and len(cmake_flags) == 1
    assert "-flto" not in exports[0] and "-flto" not in cmake_flags[0]
    assert vulkan.index(exports[0]) < vulkan.index(cmake_flags[0]) < vulkan.index("--target ggml-vulkan") \
        < vulkan.index(exports[1])
    assert "-flto=auto -ffat-lto-objects" in exports[1]          # restored for what follows
    assert "-flto=auto" in next(line for line in before.splitlines() if 'CFLAGS="${CFLAGS:-' in line)
    assert "ollama_lto" not in after and "_lto_cflags" not in after


def test_sqlite_bundled_by_the_go_modules_is_provided_as_vendor_recorded_it(project):
    """The version comes from the record `ollama-rpm vendor` writes into
    go-vendor-tools.toml, read from the vendored sqlite3-binding.c."""
    toml = project / "go-vendor-tools.toml"
    text = toml.read_text()
    end = "# END ollama-rpm vendor"
    assert end in text
    record = ("#\n# C code the vendored modules compile in (ollama.spec: Provides: bundled(NAME) = VERSION):\n"
              "#   bundled(sqlite) = 3.46.1 vendor/github.com/mattn/go-sqlite3/sqlite3-binding.c\n")
    if "bundled(sqlite)" not in text:
        toml.write_text(text.replace(end, record + end, 1))
    assert run_cli("render", cwd=project).returncode == 0
    provides = per_package(project / "ollama.spec", "PROVIDE")
    assert "bundled(sqlite) = 3.46.1" in provides["ollama"]
    assert not [p for name, ps in provides.items() if name != "ollama" for p in ps if "sqlite" in p]
    # a record in a shape vendor never writes is an error naming the file, not a silent drop
    toml.write_text(toml.read_text().replace("bundled(sqlite) = 3.46.1", "bundled(sqlite) = %(id)"))
    proc = run_cli("render", cwd=project)
    assert proc.returncode == 2 and "go-vendor-tools.toml" in proc.stderr and "bundled(NAME)" in proc.stderr


def test_split_backend_specs_provide_the_llama_cpp_they_compile(project):
    proc = run_cli("render", "--layout", "split", cwd=project)
    assert proc.returncode == 0, proc.stderr
    for spec in proc.stdout.split():
        if "ollama-ggml-" not in spec:
            continue
        text = Path(spec).read_text()
        assert re.search(r"(?m)^Provides:       bundled\(llama-cpp\) = %\{llama_cpp_tag\}$", text), spec
        assert "sqlite" not in text           # the Go code is not in a backend package
        assert "# ExclusiveArch: " in text.split("\nExclusiveArch:", 1)[0].rsplit("\n\n", 1)[1]
