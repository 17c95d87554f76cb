"""Read packaging.yaml safely, and typed: the strict YAML loader and the key reader.

The loader refuses aliases and duplicate keys; the reader gives typed access to
one mapping of the document and fails with a ConfigError naming the file and
the dotted key. What the keys mean is config.py's business.
"""

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

import yaml

from ollama_rpm import atomic, grammar
from ollama_rpm.errors import ConfigError

# packaging.yaml is a few KiB: a bound keeps a pathological file from eating memory.
MAX_CONFIG_BYTES = 1 << 20

# A grammar-style check: None when the value is acceptable, else what was expected.
Check = Callable[[object], str | None]
_T = TypeVar("_T")
_U = TypeVar("_U")
_V = TypeVar("_V")


class Reader:
    """Typed access to one mapping of the YAML document, with dotted key names."""

    def __init__(self, path: Path, data: dict[Any, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, message: str) -> NoReturn:
        raise ConfigError(self.path, self.key(name), message)

    # A key is required unless it has a default. The value has the type (one of the
    # types) asked for, or the reader fails.
    @overload
    def get(self, name: str, kind: type[_T], expected: str, default: _T | None = None) -> _T: ...
    @overload
    def get(self, name: str, kind: tuple[type[_T], type[_U]], expected: str,
            default: _T | _U | None = None) -> _T | _U: ...
    @overload
    def get(self, name: str, kind: tuple[type[_T], type[_U], type[_V]], expected: str,
            default: _T | _U | _V | None = None) -> _T | _U | _V: ...

    def get(self, name: str, kind: type[Any] | tuple[type[Any], ...], expected: str, default: Any = None) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if default is None:
                self.fail(name, f"missing; expected {expected}")
            return default
        value = self.data[name]
        # YAML reads `enabled: yes` as bool and `1` as int: bool is not an int here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and kind in (str, (str, list)):
                # `version: 0.10` is the float 0.1: the text the packager meant is gone.
                self.fail(name, f"expected {expected} as text, got the number {value!r} (YAML reads unquoted "
                                f"digits as a number: 0.10 becomes 0.1); quote it: {name}: \"...\"")
            self.fail(name, f"expected {expected}, got {describe(value)}")
        return value

    def check(self, name: str, value: _T, check: Check) -> _T:
        """Fail unless `value` matches its grammar kind (a grammar.* validator)."""
        problem = check(value)
        if problem:
            self.fail(name, f"expected {problem}, got {describe(value)}")
        return value

    def text(self, name: str, check: Check = grammar.text, default: str | None = None) -> str:
        """A string key, required unless it has a default (which is not checked)."""
        if name not in self.data and default is not None:
            self.seen.add(name)
            return default
        value = self.get(name, str, check(None) or "a string")
        return self.check(name, value, check)

    def strings(self, name: str, check: Check = grammar.text, expected: str = "a list of strings",
                required: bool = True) -> tuple[str, ...]:
        value = self.get(name, list, expected, None if required else [])
        for index, item in enumerate(value):
            self.check(f"{name}[{index}]", item, check)
        return tuple(value)

    def sub(self, name: str, required: bool = True) -> "Reader":
        value = self.get(name, dict, "a mapping", None if required else {})
        return Reader(self.path, value, f"{self.key(name)}.")

    def entry(self, name: str, index: int, item: object, expected: str = "a mapping") -> "Reader":
        """The reader of item `index` of the list `name`, which must be a mapping."""
        if not isinstance(item, dict):
            self.fail(f"{name}[{index}]", f"expected {expected}, got {describe(item)}")
        return Reader(self.path, item, f"{self.key(name)}[{index}].")

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.seen, key=str)
        if unknown:
            known = ", ".join(sorted(self.seen))
            self.fail(str(unknown[0]), f"unknown key; expected one of: {known}")


def describe(value: object) -> str:
    """A value as an error message shows it: its type and a bounded repr."""
    if value is None:
        return "nothing"
    text = repr(value)
    # One line, bounded: a hostile value never floods the terminal.
    return f"{type(value).__name__} {text[:80] + '...' if len(text) > 80 else text}"


class _Loader(yaml.SafeLoader):
    """safe_load without aliases (an alias bomb expands to gigabytes) or duplicate keys
    (YAML keeps the last one silently)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            # types-PyYAML leaves Parser.peek_event unannotated.
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed here", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                        key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def yaml_load(text: str) -> Any:
    """Parse packaging.yaml text (raises yaml.YAMLError or ValueError): the document, unvalidated."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader, stricter still


def read_mapping(path: Path) -> dict[Any, Any]:
    """The YAML document at `path`, which must be a mapping (ConfigError naming the file otherwise)."""
    text = atomic.read_text(path, MAX_CONFIG_BYTES)
    try:
        data = yaml_load(text)
    except (ValueError, RecursionError) as error:   # an impossible date such as 2026-13-45
        raise ConfigError(path, None, f"not valid YAML: {' '.join(str(error).split())[:120]}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise ConfigError(path, None, f"not valid YAML ({where}): {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, None, f"expected a mapping at the top level, got {describe(data)}")
    return data
