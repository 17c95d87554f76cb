"""yamledit: surgical edits of packaging.yaml's text, in process (no CLI).

Every case checks both the exact text (comments and layout kept) and that the
edited text loads to the data the edit promises.
"""

import pytest
import yaml

from ollama_rpm.specgen import yamledit

VARIANTS = """\
name: ollama
cpu_variants:
  x86_64:
    # one line per ggml variant: its x86-64 level
    x64: v1        # the baseline
    # AVX without AVX2
    sandybridge: v2
    haswell: v3
    # removed upstream one day
    skylakex: v4
  aarch64: all
# after the block
version: 1
"""


@pytest.mark.parametrize("body, expected", [
    pytest.param(["x64: v1", "sandybridge: v2", "haswell: v3", "skylakex: v4"], VARIANTS, id="unchanged"),
    pytest.param(["x64: v1", "sandybridge: v2", "haswell: v3", "skylakex: v4", "zen4: v4"],
                 VARIANTS.replace("    skylakex: v4\n", "    skylakex: v4\n    zen4: v4\n"), id="added at the end"),
    pytest.param(["x64: v1", "sandybridge: v2", "haswell: v3"],
                 VARIANTS.replace("    # removed upstream one day\n    skylakex: v4\n", ""),
                 id="removed entry takes its own comment"),
    pytest.param(["x64: v2", "sandybridge: v2", "haswell: v3", "skylakex: v4"],
                 VARIANTS.replace("x64: v1        # the baseline", "x64: v2        # the baseline"),
                 id="changed value keeps its end-of-line comment"),
    pytest.param(["haswell: v3", "x64: v1", "sandybridge: v2", "skylakex: v4"],
                 VARIANTS.replace("    x64: v1        # the baseline\n    # AVX without AVX2\n    sandybridge: v2\n"
                                  "    haswell: v3\n",
                                  "    haswell: v3\n    x64: v1        # the baseline\n    # AVX without AVX2\n"
                                  "    sandybridge: v2\n"),
                 id="reordered entries carry their comments"),
    pytest.param(["x64: {level: v1, features: []}"],
                 VARIANTS.replace("    x64: v1        # the baseline\n    # AVX without AVX2\n    sandybridge: v2\n"
                                  "    haswell: v3\n    # removed upstream one day\n    skylakex: v4\n",
                                  "    x64: {level: v1, features: []}        # the baseline\n"),
                 id="flow value"),
])
def test_set_mapping_lines_keeps_the_packagers_comments(body, expected):
    edited = yamledit.set_mapping_lines(VARIANTS, ("cpu_variants", "x86_64"), body)
    assert edited == expected
    assert yaml.safe_load(edited)["cpu_variants"]["x86_64"] == yaml.safe_load("\n".join(body))
    assert yaml.safe_load(edited)["cpu_variants"]["aarch64"] == "all"


BLOCK_LIST = """\
backends:
  rocm:
    gpu_targets:
      # Fedora's ROCm stack
      - gfx900   # Vega
      # RDNA
      - gfx1030
      - gfx1100
    enabled: true
"""


@pytest.mark.parametrize("items, expected", [
    pytest.param(["gfx900", "gfx1030", "gfx1100"], BLOCK_LIST, id="unchanged"),
    pytest.param(["gfx900", "gfx1100", "gfx1200"],
                 BLOCK_LIST.replace("      # RDNA\n      - gfx1030\n", "").replace("- gfx1100\n", "- gfx1100\n      - gfx1200\n"),
                 id="item dropped and added"),
    pytest.param([], BLOCK_LIST.replace(
        "    gpu_targets:\n      # Fedora's ROCm stack\n      - gfx900   # Vega\n      # RDNA\n      - gfx1030\n      - gfx1100\n",
        "    gpu_targets: []\n"), id="emptied"),
])
def test_set_list_in_block_style_keeps_comments(items, expected):
    edited = yamledit.set_list(BLOCK_LIST, ("backends", "rocm", "gpu_targets"), items)
    assert edited == expected
    assert yaml.safe_load(edited)["backends"]["rocm"] == {"gpu_targets": items, "enabled": True}


@pytest.mark.parametrize("items, expected_line", [
    (["86", "89"], '  gpu_targets: ["86", "89"]  # CUDA\n'),     # strings, not the numbers 86 and 89
    ([], "  gpu_targets: []  # CUDA\n"),
    (["a b", "x:y"], '  gpu_targets: [a b, "x:y"]  # CUDA\n'),
])
def test_set_list_in_flow_style_keeps_the_end_of_line_comment(items, expected_line):
    text = "cuda:\n  gpu_targets: [75, 80]  # CUDA\n  enabled: false\n"
    edited = yamledit.set_list(text, ("cuda", "gpu_targets"), items)
    assert edited == "cuda:\n" + expected_line + "  enabled: false\n"
    assert yaml.safe_load(edited) == {"cuda": {"gpu_targets": items, "enabled": False}}


@pytest.mark.parametrize("value, expected", [
    ("0.33.0", "0.33.0"),
    ("0.33.0-rc2", "0.33.0-rc2"),
    ("a: b", '"a: b"'),
    ("# not a comment", '"# not a comment"'),
    ("yes", '"yes"'),            # a plain yes would load as a boolean
    ("1.10", '"1.10"'),          # ... and this as the float 1.1
    (" padded", '" padded"'),
    ("", '""'),
    (3, "3"),
])
def test_scalar_reads_back_as_the_same_value(value, expected):
    assert yamledit.scalar(value) == expected
    assert yaml.safe_load(f"k: {yamledit.scalar(value)}") == {"k": value}


@pytest.mark.parametrize("line, new, expected", [
    ("  min_version: 1.24   # go.mod's go line\n", "1.26", "  min_version: \"1.26\"   # go.mod's go line\n"),
    ("  min_version: '1.24'\n", "1.26.1", "  min_version: 1.26.1\n"),
    ("  min_version: 1.24\r\n", "1.25.3", "  min_version: 1.25.3\r\n"),
])
def test_set_scalar_keeps_the_comment_and_line_ending(line, new, expected):
    text = "go:\n" + line + "version: 2\n"
    edited = yamledit.set_scalar(text, ("go", "min_version"), new)
    assert edited == "go:\n" + expected + "version: 2\n"
    assert yaml.safe_load(edited)["go"]["min_version"] == new


@pytest.mark.parametrize("text, path, needle", [
    ("a:\n  b: 1\n", ("a", "c"), "key a.c not found"),
    ("a:\n  b: 1\n", ("x",), "key x not found"),
    ("a:\n  b:\n    c: 1\n", ("a", "b"), "a.b is not a one-line scalar"),
    ("a:\n  b: 1\n  c: 2\n", ("a",), "a is not a one-line scalar"),
])
def test_set_scalar_refuses_what_it_cannot_edit(text, path, needle):
    with pytest.raises(yamledit.EditError, match=needle):
        yamledit.set_scalar(text, path, "x")


def test_a_key_is_found_only_at_its_own_level():
    text = "outer:\n  inner:\n    name: deep\n  name: shallow\nname: top\n"
    assert yaml.safe_load(yamledit.set_scalar(text, ("outer", "name"), "new")) == \
        {"outer": {"inner": {"name": "deep"}, "name": "new"}, "name": "top"}
    assert yaml.safe_load(yamledit.set_scalar(text, ("name",), "new"))["name"] == "new"


def test_insert_list_item_goes_before_the_first_item_and_keeps_comments():
    text = "changelog:\n  # newest first\n  - version: 1-1\n    text:\n      - first\n"
    edited = yamledit.insert_list_item(text, ("changelog",), ["version: 2-1", "text:", "  - second"])
    assert edited == ("changelog:\n  # newest first\n  - version: 2-1\n    text:\n      - second\n"
                      "  - version: 1-1\n    text:\n      - first\n")
    assert [e["version"] for e in yaml.safe_load(edited)["changelog"]] == ["2-1", "1-1"]


def test_insert_list_item_refuses_a_flow_list():
    with pytest.raises(yamledit.EditError, match="changelog is not a block list"):
        yamledit.insert_list_item("changelog: []\n", ("changelog",), ["version: 1"])


@pytest.mark.parametrize("text, expected, needle", [
    ("a: [1\n", {"a": [1]}, "not valid YAML"),
    ("a: 1\n", {"a": 2}, "does not load to the expected data"),
])
def test_verify_refuses_a_wrong_edit(text, expected, needle):
    with pytest.raises(yamledit.EditError, match=needle):
        yamledit.verify(text, expected)


def test_verify_accepts_the_expected_data():
    yamledit.verify("a: 1  # c\n", {"a": 1})
