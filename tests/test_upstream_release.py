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


def test_ggml_variants_after_the_function_that_defines_them(tmp_path):
    """llama.cpp b10488's ggml/src/CMakeLists.txt: ggml_add_cpu_backend_variant() has an x86
    branch of its own (no calls in it) above the branch that calls it."""
    from ollama_rpm.publish.upstream_release import read_ggml_variants
    from tarballs import tar_gz
    text = """\
function(ggml_add_cpu_backend_variant tag_name)
    set(GGML_CPU_TAG_NAME ${tag_name})
    if (GGML_SYSTEM_ARCH STREQUAL "x86")
        foreach (feat NATIVE SSE42 AVX)
            set(GGML_${feat} OFF)
        endforeach()
    elseif (GGML_SYSTEM_ARCH STREQUAL "ARM")
        set(GGML_CPU_ARM_ARCH ON)
    endif()
    ggml_add_cpu_backend_variant_impl(${tag_name})
endfunction()

if (GGML_CPU_ALL_VARIANTS)
    if (GGML_SYSTEM_ARCH STREQUAL "x86")
        ggml_add_cpu_backend_variant(x64)
        ggml_add_cpu_backend_variant(sse42              SSE42)
        if (NOT MSVC)
            ggml_add_cpu_backend_variant(ivybridge      SSE42 AVX F16C)
        endif()
    elseif (GGML_SYSTEM_ARCH STREQUAL "ARM")
        ggml_add_cpu_backend_variant(armv8.2_1    DOTPROD)
    endif()
endif()
"""
    tarball = tmp_path / "llama.cpp-b10488.tar.gz"
    tarball.write_bytes(tar_gz("llama.cpp-b10488", {"ggml/src/CMakeLists.txt": text}))
    assert read_ggml_variants(tarball) == [("x64", ()), ("sse42", ("SSE42",)), ("ivybridge", ("SSE42", "AVX", "F16C"))]
