"""The bump report: what changed between two releases that the spec cares about, from their tarballs."""

import json
import shutil
import zipfile

import pytest

from ollama_rpm.publish import bump_report
from tarballs import tar_gz

ROOT_CMAKE = """\
cmake_minimum_required(VERSION 3.24)
project(Ollama C CXX)
option(OLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH "skip" OFF)   # a comment (is dropped)
if(APPLE)
    set(CMAKE_INSTALL_RPATH "@loader_path")
    set(CMAKE_BUILD_WITH_INSTALL_RPATH ON)
{linux}endif()
set(OLLAMA_BUILD_DIR ${{CMAKE_BINARY_DIR}}/lib/ollama)
set(local_only 1)
install(TARGETS llama-server RUNTIME DESTINATION ${{OLLAMA_INSTALL_DIR}}
        COMPONENT llama-server)
{install}"""

LINUX_RPATH = """elseif(UNIX)
    set(CMAKE_INSTALL_RPATH "$ORIGIN")
    set(CMAKE_BUILD_WITH_INSTALL_RPATH ON)
"""


def presets(cuda13):
    return json.dumps({"version": 3, "configurePresets": [
        {"name": "base", "hidden": True, "cacheVariables": {"GGML_NATIVE": "OFF"}},
        {"name": "llama_cuda_v13_linux", "inherits": "base",
         "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": cuda13}}]})


def go_mod(requires):
    lines = "".join(f"\t{module} {version}\n" for module, version in requires.items())
    return f"module github.com/ollama/ollama\n\ngo 1.26.0\n\nrequire (\n{lines})\n\nrequire example.org/single v1.0.0\n"


def ollama(tmp_path, version, *, linux="", install="", mlx="aaaa", cuda13="75-virtual;80-virtual",
           requires=None, patches=None, llama="b10488"):
    patches = {"001-hooks.patch": "hooks\n", "models/003-laguna.patch": "laguna\n"} if patches is None else patches
    files = {"CMakeLists.txt": ROOT_CMAKE.format(linux=linux, install=install),
             "LLAMA_CPP_VERSION": f"{llama}\n", "MLX_VERSION": f"{mlx}\n", "MLX_C_VERSION": "cccc\n",
             "go.mod": go_mod(requires or {"github.com/a/kept": "v1.0.0", "github.com/b/gone": "v0.1.0"}),
             "llama/server/CMakePresets.json": presets(cuda13), "README.md": "not read\n"}
    files.update({f"llama/compat/{name}": text for name, text in patches.items()})
    path = tmp_path / f"ollama-{version}.tar.gz"
    path.write_bytes(tar_gz(f"ollama-{version}", files))
    return path


def test_the_report_lists_what_changed_for_the_spec(tmp_path):
    old = bump_report.read_tree(ollama(tmp_path, "0.32.15"), "0.32.15")
    new = bump_report.read_tree(ollama(
        tmp_path, "0.33.0-rc2", linux=LINUX_RPATH, mlx="bbbb", cuda13="75-virtual;120-virtual",
        install="install(FILES extra.txt DESTINATION lib/ollama)\n",
        requires={"github.com/a/kept": "v1.1.0", "github.com/c/new": "v2.0.0"},
        patches={"001-hooks.patch": "hooks v2\n", "002-vision.patch": "vision\n"}), "0.33.0-rc2")
    assert old.go_requires == {"github.com/a/kept": "v1.0.0", "github.com/b/gone": "v0.1.0",
                               "example.org/single": "v1.0.0"}

    def licenses(modules):
        known = {"github.com/a/kept": ["MIT"], "github.com/b/gone": ["ISC"], "github.com/c/new": ["MPL-2.0"]}
        return {module: known[module] for module, _version in modules}

    report = bump_report.compare(old, new, "0.33.0~rc2", "tests/data/upstream-install-manifest.txt",
                                 go_license="Apache-2.0 AND ISC AND MIT", licenses=licenses)
    text = report.text()
    assert text == """\
Bump report: ollama 0.32.15 -> 0.33.0-rc2 (RPM Version: 0.33.0~rc2)
Read it before building: '+' added, '-' removed, '~' changed, '!' needs the packager.

## Install manifest (upstream install() rules)
  + CMakeLists.txt: install(FILES extra.txt DESTINATION lib/ollama)
  ! install rules changed: re-record tests/data/upstream-install-manifest.txt from a real build before trusting %files

## CMake options and settings
  + CMakeLists.txt: set(CMAKE_BUILD_WITH_INSTALL_RPATH ON)
  + CMakeLists.txt: set(CMAKE_INSTALL_RPATH "$ORIGIN")

## CMake presets (llama/server/CMakePresets.json)
  ~ preset llama_cuda_v13_linux: CMAKE_CUDA_ARCHITECTURES '75-virtual;80-virtual' -> '75-virtual;120-virtual'

## Upstream version pins (*_VERSION)
  ~ MLX_VERSION: aaaa -> bbbb

## Go (go.mod)
  go 1.26
  - github.com/b/gone v0.1.0
  + github.com/c/new v2.0.0
  ~ github.com/a/kept v1.0.0 -> v1.1.0

## Go licenses
  - github.com/b/gone v0.1.0: ISC
  - github.com/a/kept v1.0.0: MIT
  + github.com/c/new v2.0.0: MPL-2.0
  + github.com/a/kept v1.1.0: MIT
  ! not yet in go.license: MPL-2.0; run `ollama-rpm vendor --update-license`

## llama.cpp compat patches (llama/compat)
  - llama/compat/models/003-laguna.patch
  + llama/compat/002-vision.patch
  ~ llama/compat/001-hooks.patch (content changed)
"""
    # The same release twice: every section says so, and the manifest still applies.
    same = bump_report.compare(old, old, "0.32.15", "m.txt").text()
    assert "+ " not in same and "- " not in same and "! " not in same
    assert "## Install manifest (upstream install() rules) (unchanged)\n  m.txt still applies (same llama.cpp " \
           "b10488, same install() rules)" in same
    written = bump_report.write(report, tmp_path / "build" / "bump-report.txt")
    assert written.read_text() == text


def test_a_new_llama_cpp_tag_asks_for_a_new_manifest_and_its_install_rules_count(tmp_path):
    old_llama = tmp_path / "llama.cpp-b10488.tar.gz"
    old_llama.write_bytes(tar_gz("llama.cpp-b10488", {"tools/server/CMakeLists.txt": "install(TARGETS llama-server)\n"}))
    new_llama = tmp_path / "llama.cpp-b10600.tar.gz"
    new_llama.write_bytes(tar_gz("llama.cpp-b10600", {"tools/server/CMakeLists.txt":
                                                      "install(TARGETS llama-server)\ninstall(TARGETS mtmd)\n"}))
    old = bump_report.read_tree(ollama(tmp_path, "0.32.15"), "0.32.15", old_llama)
    new = bump_report.read_tree(ollama(tmp_path, "0.34.0", llama="b10600"), "0.34.0", new_llama)
    report = bump_report.compare(old, new, "0.34.0", "m.txt")
    assert report.sections[0].lines == [
        "- llama.cpp b10488: tools/server/CMakeLists.txt: install(TARGETS llama-server)",
        "+ llama.cpp b10600: tools/server/CMakeLists.txt: install(TARGETS llama-server)",
        "+ llama.cpp b10600: tools/server/CMakeLists.txt: install(TARGETS mtmd)",
        "! llama.cpp b10488 -> b10600: re-record m.txt from a real build (doc/verification.md); %files follows it"]
    assert "~ LLAMA_CPP_VERSION: b10488 -> b10600" in report.text()


def test_cmake_commands_span_lines_and_skip_nested_calls_and_comments():
    text = 'install(TARGETS a # why\n   RUNTIME DESTINATION "x")\nif(FOO AND (BAR))\n  set(X $<IF:1,a,b>) # c\nendif()\n'
    assert bump_report.cmake_commands(text) == ['install(TARGETS a RUNTIME DESTINATION "x")', "if(FOO AND (BAR))",
                                                "set(X $<IF:1,a,b>)", "endif()"]


def _go_module_proxy(root, module, version, files):
    """A GOPROXY=file:// tree serving one module version (Go's module zip layout)."""
    base = root / module / "@v"
    base.mkdir(parents=True)
    (base / "list").write_text(f"{version}\n")
    (base / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-01-01T00:00:00Z"}))
    (base / f"{version}.mod").write_text(f"module {module}\n")
    with zipfile.ZipFile(base / f"{version}.zip", "w") as archive:
        archive.writestr(f"{module}@{version}/go.mod", f"module {module}\n")
        for name, text in files.items():
            archive.writestr(f"{module}@{version}/{name}", text)


MIT = """MIT License

Copyright (c) 2020 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


@pytest.mark.slow  # go
@pytest.mark.skipif(not shutil.which("go"), reason="needs go")
def test_module_licenses_come_from_the_module_proxy_and_askalono(tmp_path, monkeypatch):
    from ollama_rpm.sources.vendor import tool_path
    proxy = tmp_path / "proxy"
    _go_module_proxy(proxy, "example.org/mitlib", "v1.2.0", {"LICENSE": MIT, "lib.go": "package mitlib\n"})
    _go_module_proxy(proxy, "example.org/bare", "v0.1.0", {"bare.go": "package bare\n"})
    monkeypatch.setenv("GOPROXY", f"file://{proxy}")
    monkeypatch.setenv("GOSUMDB", "off")
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    found = bump_report.module_licenses([("example.org/mitlib", "v1.2.0"), ("example.org/bare", "v0.1.0"),
                                         ("example.org/absent", "v9.9.9")], tool_path("askalono", "askalono-cli"))
    assert found["example.org/mitlib"] == ["MIT"]
    assert found["example.org/bare"] == "no license file askalono recognises"
    assert isinstance(found["example.org/absent"], str) and "absent" in found["example.org/absent"]
