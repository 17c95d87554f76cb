"""Tiny upstream tarballs and scratch projects whose Sources point at them.

The Ollama stand-in is a real Go module (go 1.19) with one dependency resolved by
a `replace => ./third_party/dep` directive, so `go mod vendor` works offline.
"""

from pathlib import Path

from conftest import copy_project, load_yaml, run_cli, write_yaml
from tarballs import tar_gz

VERSION = "0.32.15"
LLAMA_TAG = "b10488"
OLLAMA_TARBALL = f"ollama-{VERSION}.tar.gz"
LLAMA_TARBALL = f"llama.cpp-{LLAMA_TAG}.tar.gz"
VENDOR_TARBALL = f"ollama-{VERSION}-vendor.tar.bz2"
# Project files the spec ships (Source3, 10-15); made when the checkout lacks them.
PROJECT_SOURCE_FILES = ("go-vendor-tools.toml", "units/ollama.service", "units/ollama.user.service",
                        "sysusers/ollama.conf", "doc/README.Fedora", "doc/ollama-models-elsewhere.conf")
TEST_PATCH = "0001-test-fixture.patch"

OLLAMA_FILES = {
    "go.mod": ("module github.com/ollama/ollama\n\ngo 1.19\n\n"
               "require example.com/dep v1.0.0\n\n"
               "replace example.com/dep => ./third_party/dep\n"),
    "main.go": ('package main\n\nimport (\n\t"fmt"\n\n\t"example.com/dep"\n)\n\n'
                'func main() { fmt.Println(dep.Hello()) }\n'),
    "LICENSE": "MIT License\n\nCopyright (c) Ollama\n",
    "third_party/dep/go.mod": "module example.com/dep\n\ngo 1.19\n",
    "third_party/dep/dep.go": 'package dep\n\n// Hello greets.\nfunc Hello() string { return "hello" }\n',
    "third_party/dep/LICENSE": "BSD 3-Clause License\n\nCopyright (c) dep authors\n",
    "llama/compat/001-llama-cpp-hooks.patch": "",
}
LLAMA_FILES = {"CMakeLists.txt": "cmake_minimum_required(VERSION 3.24)\n", "LICENSE": "MIT\n"}


def tarball_bytes(top, files, extra=()):
    """A .tar.gz with `files` (relative path -> text) under `top/`; `extra`: raw TarInfo entries."""
    return tar_gz(top, files, extra=extra)


def ollama_tarball(files=None):
    return tarball_bytes(f"ollama-{VERSION}", files or OLLAMA_FILES)


def llama_tarball():
    return tarball_bytes(f"llama.cpp-{LLAMA_TAG}", LLAMA_FILES)


def make_upstream(directory):
    """Write both upstream tarballs to `directory`; returns (ollama path, llama path)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ollama = directory / OLLAMA_TARBALL
    llama = directory / LLAMA_TARBALL
    ollama.write_bytes(ollama_tarball())
    llama.write_bytes(llama_tarball())
    return ollama, llama


def make_project(dest, ollama_url, llama_url):
    """A scratch copy of this project whose Sources are `ollama_url` and `llama_url`."""
    root = copy_project(dest)
    for rel in PROJECT_SOURCE_FILES:
        path = root / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# test stand-in for {rel}\n")
    patches = root / "patches"
    patches.mkdir(exist_ok=True)
    (patches / TEST_PATCH).write_text(
        "Test fixture patch.\n\n--- a/README.test\n+++ b/README.test\n@@ -0,0 +1 @@\n+patched\n")
    cfg = load_yaml(root / "packaging.yaml")
    cfg["sources"]["ollama"] = ollama_url
    cfg["sources"]["llama_cpp"] = llama_url
    write_yaml(root / "packaging.yaml", cfg)
    return root


def pinned_project(tmp_path, env):
    """make_project() on local tarballs, with their sha256 already pinned in sources.lock."""
    ollama, llama = make_upstream(tmp_path / "mirror")
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    run_cli("sources", "--update-lock", cwd=root, env=env, check=True)
    return root


def tree_snapshot(directory):
    """Every path under `directory` (files and dirs), relative, sorted; [] if it does not exist."""
    directory = Path(directory)
    if not directory.exists():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))
