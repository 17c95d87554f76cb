"""grammar: one validator per kind of value that reaches the spec, table-driven and
in process. (test_hostile_grammar.py feeds them through render and rpm.)"""

import pytest

from ollama_rpm import grammar
from ollama_rpm.specgen import cpu_levels

OK = None


def _cases(validator, good, bad):
    return [pytest.param(validator, value, True, id=f"{validator.__name__}-ok-{value!r}"[:60]) for value in good] + \
        [pytest.param(validator, value, False, id=f"{validator.__name__}-bad-{value!r}"[:60]) for value in bad]


# Values no validator may accept: not a string, blanks around, control characters,
# line breaks (a new spec tag), rpm macros (%{...} expands, %(...) runs a command).
NEVER = [None, 1, ["x"], "", " x", "x ", "x\ny", "x\tz", "a\x00b", "%{name}", "%(id)", "x%y"]

CASES = (
    _cases(grammar.text, ["Free text, with punctuation (and <brackets>)!", "é ü"], NEVER)
    + _cases(grammar.summary, ["Get up and running with LLMs"], NEVER + ["Ends with a period."])
    + _cases(grammar.changelog_line, ["Update to 0.33.0", "- a dash is fine"], NEVER + ["* would be a new entry"])
    + _cases(grammar.person, ["Jane Packager", "O'Brien"], NEVER + ["Jane <jane@x.org>"])
    + _cases(grammar.name, ["ollama", "b10488", "lib_x.y+z-1"], NEVER + ["-x", ".x", "a/b", "a b", "ä"])
    + _cases(grammar.file_name, ["ollama-0.32.15.tar.gz", "_x", "a~b"], NEVER + [".", "..", "a/b", "-x", "a b"])
    + _cases(grammar.relative_path, ["patches", "a/b/c.txt"],
             NEVER + ["/abs", "a/../b", "a//b", "./a", "a/", "a/-x"])
    + _cases(grammar.patch_path, ["llama/compat/001-x.patch"], NEVER + ["001-x.diff", "../x.patch"])
    + _cases(grammar.spdx, ["MIT", "MIT AND (Apache-2.0 OR BSD-3-Clause)", "GPL-2.0-or-later WITH x"],
             NEVER + ["MIT;", "MIT, BSD"])
    + _cases(grammar.dependency, ["gcc", "pkgconfig(vulkan)", "golang >= 1.26", "cuda-nvcc-13-0"],
             NEVER + ["golang >=1.26", "a b", "golang >= 1.2 3", "(a or b)"])
    + _cases(grammar.reverse_rich_dependency,
             ["(a or b)", "(a and (b or c))", "(a with b)", "(kmod-nvidia or xorg-x11-drv-nvidia >= 3:580)",
              "(a unless b)", "(a unless b else c)", "(a without b)", "(pkgconfig(x) and b)"],
             NEVER + ["a", "(a or b and c)", "(a if b)", "(a or (b if c))", "(a or)", "(or a)", "((a)",
                      "(a or b))", "(a without b without c)", "(a unless b else c else d)", "(a >= )"])
    + _cases(grammar.runtime_glob, ["libcublas*.so*", "sub/lib?.so"],
             NEVER + ["*", ".*", "*/x", "../x", "/abs", "a b", "lib[ab].so"])
    + _cases(grammar.cmake_name, ["GGML_CUDA", "_X1"], NEVER + ["1X", "A-B", "A B"])
    + _cases(grammar.cmake_value, ["ON", "-O2 -g", "a=b,c:d/e+f@g^h~i", "%{rocmllvm_bindir}/clang"],
             NEVER + ['"x"', "a;b", "$x", "`x`", "a|b", "a  b", "a\\b", "*.so", "{a,b}"])
    + _cases(grammar.gpu_target, ["86", "90a", "50-virtual", "gfx90a:xnack-", "%{rocm_gpu_list_default}"],
             NEVER + ["86;89", "sm 86", "%{other_macro}"])
    + _cases(grammar.url, ["https://github.com/ollama/ollama/archive/v1.tar.gz", "http://x/y", "file:///tmp/x"],
             NEVER + ["ftp://x/y", "https://x/$(id)", "https://x/a b", "https://x/'"])
    + _cases(grammar.email, ["jane@example.org", "a.b+c@x-y.example.co"],
             NEVER + ["jane", "jane@localhost", "<jane@x.org>", "jane@x.org "])
    + _cases(grammar.absolute_path, ["/usr/lib64/ollama", "/a"], NEVER + ["usr/lib", "/a/../b", "/a//b", "/a/"])
    + _cases(grammar.go_version, ["1.26", "1.26.0"], NEVER + ["1", "go1.26", "1.26rc1", "1.26.0.1"])
    + _cases(grammar.go_variable, ["github.com/ollama/ollama/version.Version"],
             NEVER + ["version", "a/b.1x", "a/b.c d"])
    + _cases(grammar.go_import_path, ["github.com/ollama/ollama/x/foo"], NEVER + ["a/../b", "/abs", "a b"])
    + _cases(grammar.evr, ["0.32.15-1", "0.33.0~rc2-1", "1.0-1.fc44"],
             NEVER + ["0.32.15", "1:0.32.15-1", "0.32.15-", "-1", "a b-1"])
    + _cases(grammar.rpm_version, ["0.32.15", "0.33.0~rc2", "1.0^20250101"], NEVER + ["1.0-1", "1 0", "1:0"])
    + _cases(grammar.go_test_regex, ["TestX", "^TestA$|^TestB$", "Test/sub-case"],
             NEVER + ["Test X", "'", "(", "a'b"])
    + _cases(grammar.soname, ["libcuda.so.1", "libggml-base.so", "libx.so.1.2.3"],
             NEVER + ["libcuda.so.", "cuda.so.1", "libx.so.1.2.3.4.5", "libx.so.1234567"])
)


@pytest.mark.parametrize("validator, value, accepted", CASES)
def test_validator(validator, value, accepted):
    problem = validator(value)
    if accepted:
        assert problem is OK
    else:
        # What was expected, as one line for the caller to put after the file and key.
        assert isinstance(problem, str) and problem and "\n" not in problem


def test_allowed_macros_are_only_the_listed_ones():
    for macro in grammar.MACRO_ALLOW_LIST:
        assert grammar.cmake_value(f"{macro}/x") is OK
        assert grammar.text(f"{macro}") is not OK         # text takes no macro at all
    problem = grammar.cmake_value("%{_libdir}")
    assert problem is not OK and all(m in problem for m in grammar.MACRO_ALLOW_LIST)


@pytest.mark.parametrize("validator, limit", [(grammar.name, grammar.MAX_LENGTH),
                                              (grammar.spdx, grammar.MAX_LICENSE_LENGTH)])
def test_lengths_are_bounded(validator, limit):
    assert validator("a" * limit) is OK
    assert "at most" in validator("a" * (limit + 1))


def test_a_value_that_is_not_a_string_says_so():
    assert grammar.name(3) == "a name of letters, digits and . _ + - (a string)"


# --- cpu_levels: ggml variants and x86-64 levels ----------------------------------------

@pytest.mark.parametrize("features, level", [
    ((), "v1"), (("SSE42",), "v2"), (("SSE42", "AVX"), "v2"), (("AVX2", "FMA"), "v3"),
    (("AVX_VNNI",), "v3"), (("AVX512", "SSE42"), "v4"), (("AMX_INT8",), "v4"),
])
def test_lowest_level_is_that_of_the_most_demanding_feature(features, level):
    assert cpu_levels.lowest_level(features) == level


def test_lowest_level_refuses_an_unknown_feature():
    with pytest.raises(KeyError):
        cpu_levels.lowest_level(("SSE42", "NEON"))


@pytest.mark.parametrize("variant, level", [
    ("x64", "v1"), ("sse42", "v2"), ("sandybridge", "v2"), ("ivybridge", "v2"), ("piledriver", "v2"),
    ("haswell", "v3"), ("alderlake", "v3"), ("skylakex", "v4"), ("icelake", "v4"), ("zen4", "v4"),
    ("sapphirerapids", "v4"),
])
def test_each_ggml_variant_has_the_level_its_features_need(variant, level):
    assert cpu_levels.lowest_level(cpu_levels.X86_VARIANT_FEATURES[variant]) == level


def test_every_variant_feature_has_a_level_and_levels_are_ordered():
    features = {f for fs in cpu_levels.X86_VARIANT_FEATURES.values() for f in fs}
    assert features <= set(cpu_levels.FEATURE_LEVEL)
    assert set(cpu_levels.FEATURE_LEVEL.values()) <= set(cpu_levels.LEVELS)
    assert [cpu_levels.level_rank(level) for level in cpu_levels.LEVELS] == [0, 1, 2, 3]
