"""doc/config.md against the loader of packaging.yaml (specgen/config.py).

The reference table cannot drift from the schema: the set of keys the loader
knows is read from the loader itself (its "unknown key; expected one of: ..."
answer, section by section) and must equal the documented set; each row's
default, type and example are tried on a copy of the project's packaging.yaml;
each spec token it names must appear in the template or the rendered spec.
"""

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ollama_rpm.errors import ConfigError
from ollama_rpm.specgen import backends
from ollama_rpm.specgen.config import parse_config
from ollama_rpm.specgen.yamlread import yaml_load

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "doc" / "config.md"
CONFIG = ROOT / "packaging.yaml"
BASE = yaml_load(CONFIG.read_text())
UNKNOWN = "zz_not_a_key"

# What a placeholder stands for when a row is tried on the document.
PLACEHOLDER = {"<backend>": "cuda", "<variant>": "haswell", "<role>": "main"}
# Defaults are tried where no other key depends on them (cuda's host compiler
# needs its gcc package in build_requires).
DEFAULTS_IN = {**PLACEHOLDER, "<backend>": "rocm"}


def rows() -> list[dict[str, str]]:
    result = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 6, line
        key, kind, default, example, spec, _ = cells
        result.append({"key": key.strip("`"), "type": kind, "default": default, "example": example, "spec": spec})
    return result


ROWS = rows()


def literal(cell: str) -> tuple[bool, Any]:
    """(True, value) when the cell is exactly one `YAML literal`."""
    match = re.fullmatch(r"`([^`]*)`", cell)
    return (True, yaml.safe_load(match.group(1))) if match else (False, None)


def parse(data: dict[str, Any]) -> Any:
    return parse_config(CONFIG, data)


def known_keys(document: dict[str, Any], path: list[Any]) -> set[str]:
    """The keys the loader accepts in the mapping at `path`, from its own error message."""
    data = copy.deepcopy(document)
    target = data
    for step in path:
        target = target[step]
    target[UNKNOWN] = 1
    with pytest.raises(ConfigError) as caught:
        parse(data)
    assert caught.value.key is not None and caught.value.key.endswith(UNKNOWN), caught.value
    return set(re.search(r"unknown key; expected one of: (.*)$", caught.value.message).group(1).split(", "))


def long_form(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with haswell in the long form {level, features}."""
    data = copy.deepcopy(document)
    data["cpu_variants"]["x86_64"]["haswell"] = {"level": "v3",
                                                 "features": ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"]}
    return data


def skips(field: str, value: str) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["go"]["test_skips"] = [{field: value, "reason": "why"}]
    return data


def schema() -> set[str]:
    """Every key the loader knows, in the table's notation."""
    keys: set[str] = set()

    def add(prefix: str, names: set[str]) -> None:
        keys.update(f"{prefix}{name}" for name in names)

    add("", known_keys(BASE, []))
    for section in ("llama_cpp", "sources", "go", "cpu_variants", "packager"):
        add(f"{section}.", known_keys(BASE, [section]))
    backend_names = known_keys(BASE, ["backends"])
    assert backend_names == set(backends.names())
    keys.add("backends.<backend>")
    for name in backend_names:
        add("backends.<backend>.", known_keys(BASE, ["backends", name]))
    add("llama_cpp.bundled[].", known_keys(BASE, ["llama_cpp", "bundled", 0]))
    add("go.test_skips[].", known_keys(skips("test", "^TestX$"), ["go", "test_skips", 0]))
    add("go.test_skips[].", known_keys(skips("tree", "github.com/ollama/ollama/x"), ["go", "test_skips", 0]))
    add("changelog[].", known_keys(BASE, ["changelog", 0]))
    add("cpu_variants.x86_64.<variant>.", known_keys(long_form(BASE), ["cpu_variants", "x86_64", "haswell"]))
    # Mappings whose keys are names, not a schema: one row each for their entries.
    keys.update({"cpu_variants.x86_64.<variant>", "replaces.<role>"})
    return keys


def test_every_key_of_the_loader_is_documented_and_nothing_else():
    documented = [row["key"] for row in ROWS]
    assert len(documented) == len(set(documented)), "a key documented twice"
    assert set(documented) == schema()


def base_for(key: str) -> dict[str, Any]:
    if key.startswith("cpu_variants.x86_64.<variant>."):
        return long_form(BASE)
    if key == "go.test_skips[].test":
        return skips("test", "^TestX$")
    if key in ("go.test_skips[].tree", "go.test_skips[].reason"):
        return skips("tree", "github.com/ollama/ollama/x")
    return copy.deepcopy(BASE)


def locate(data: dict[str, Any], key: str, placeholder: dict[str, str] = PLACEHOLDER
           ) -> tuple[dict[str, Any], str, str]:
    """(the mapping holding `key`, its last name, the dotted name the loader reports)."""
    parts = key.split(".")
    target, reported = data, []
    for part in parts[:-1]:
        part = placeholder.get(part, part)
        if part.endswith("[]"):
            target = target[part[:-2]][0]
            reported.append(f"{part[:-2]}[0]")
        else:
            target = target.setdefault(part, {})
            reported.append(part)
    last = placeholder.get(parts[-1], parts[-1])
    return target, last, ".".join([*reported, last])


def error_of(data: dict[str, Any]) -> ConfigError | None:
    try:
        parse(data)
    except ConfigError as error:
        return error
    return None


def is_about(error: ConfigError | None, reported: str) -> bool:
    return error is not None and (error.key or "").startswith(reported)


@pytest.mark.parametrize("row", ROWS, ids=[row["key"] for row in ROWS])
def test_default(row):
    data = base_for(row["key"])
    target, last, reported = locate(data, row["key"], DEFAULTS_IN)
    written = copy.deepcopy(data)
    target.pop(last, None)
    error = error_of(data)
    if row["default"].startswith("required"):
        assert error is not None, f"{reported} is documented as required but may be left out"
        if "one of" in row["default"]:
            assert is_about(error, reported.rsplit(".", 1)[0]), error
        else:
            assert error.key == reported and "missing" in error.message, error
        return
    assert not is_about(error, reported), f"{reported} is documented as optional: {error}"
    is_literal, value = literal(row["default"])
    if is_literal:
        # Writing the documented default out changes nothing.
        explicit = copy.deepcopy(written)
        holder, name, _ = locate(explicit, row["key"], DEFAULTS_IN)
        holder[name] = value
        assert parse(explicit) == parse(data)


def wrong_value(kind: str) -> Any:
    return "not that" if kind.startswith(("list", "mapping")) else [[1]]


@pytest.mark.parametrize("row", ROWS, ids=[row["key"] for row in ROWS])
def test_a_value_of_another_type_is_refused_naming_the_key(row):
    data = base_for(row["key"])
    target, last, reported = locate(data, row["key"])
    target[last] = wrong_value(row["type"])
    assert is_about(error_of(data), reported), f"{reported}: {row['type']} documented, {target[last]!r} accepted"


@pytest.mark.parametrize("row", [r for r in ROWS if r["example"]], ids=[r["key"] for r in ROWS if r["example"]])
def test_the_example_is_accepted(row):
    is_literal, value = literal(row["example"])
    assert is_literal, f"{row['key']}: the example is one `YAML value`"
    data = base_for(row["key"])
    target, last, reported = locate(data, row["key"])
    target[last] = value
    error = error_of(data)
    assert not is_about(error, reported), error


def test_spec_tokens_appear_in_the_template_or_the_rendered_spec():
    text = (ROOT / "ollama.spec.j2").read_text() + (ROOT / "ollama.spec").read_text()
    tokens = [(row["key"], token) for row in ROWS for token in re.findall(r"`([^`]+)`", row["spec"])]
    assert len(tokens) > 50
    missing = [(key, token) for key, token in tokens if token not in text]
    assert not missing
