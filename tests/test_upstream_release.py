"""upstream_release reads what a release depends on from its tarball: table-driven,
in-process, on small tarballs made by tests/tarballs.py."""

import json

import pytest

from ollama_rpm.publish.upstream_release import UpstreamError, read_ollama
from tarballs import tar_gz

GO_MOD = "module github.com/ollama/ollama\n\ngo 1.26.0\n"


def _ollama(tmp_path, presets):
    files = {"LLAMA_CPP_VERSION": "b10488\n", "go.mod": GO_MOD,
             "llama/server/CMakePresets.json": presets if isinstance(presets, str) else json.dumps(presets)}
    path = tmp_path / "ollama-0.32.15.tar.gz"
    path.write_bytes(tar_gz("ollama-0.32.15", files))
    return path


def test_presets_are_resolved_through_inherits(tmp_path):
    presets = {"version": 3, "configurePresets": [
        {"name": "base", "hidden": True, "cacheVariables": {"A": "1", "B": {"type": "STRING", "value": "2"}}},
        {"name": "llama_cuda_v13_linux", "inherits": "base", "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": "75;80"}},
        {"displayName": "a preset without a name is no preset"},
    ]}
    upstream = read_ollama(_ollama(tmp_path, presets), "0.32.15")
    assert upstream.llama_cpp_tag == "b10488" and upstream.go_version == "1.26"
    assert upstream.presets == {"llama_cuda_v13_linux": {"A": "1", "B": "2", "CMAKE_CUDA_ARCHITECTURES": "75;80"}}


@pytest.mark.parametrize("presets", [
    {"version": 3, "configurePresets": 5},                        # was a TypeError traceback
    {"version": 3, "configurePresets": "llama_cpu"},
    {"version": 3, "configurePresets": [{"name": "a", "inherits": "a"}]},
    {"version": 3, "configurePresets": [{"name": "a", "cacheVariables": ["not", "a", "mapping"]}]},
    [1, 2],
])
def test_presets_not_in_cmake_format_are_one_line_errors(tmp_path, presets):
    with pytest.raises(UpstreamError, match=r"CMakePresets\.json"):
        read_ollama(_ollama(tmp_path, presets), "0.32.15")
