"""Surgical edits of a block-style YAML document's text.

`bump` changes a handful of values in packaging.yaml; re-dumping the whole
document would drop the packager's comments and layout. These helpers locate a
key by its path and replace only the lines that hold its value, keeping every
other byte. Callers check the result with yaml.safe_load (see `verify`).

Comments inside a replaced block stay: those before its first entry (the block's
header), the ones right above an entry and an entry's end-of-line comment go with
that entry while it exists. Only the comments of an entry that is removed go with it.
"""

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import yaml

Path = Sequence[str]      # keys from the document root: ("cpu_variants", "x86_64")


class EditError(Exception):
    """The document does not have the shape the edit expects."""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _key_match(line: str, key: str) -> re.Match[str] | None:
    return re.match(rf"^\s*{re.escape(key)}\s*:(\s|$)", line)


def _value_end(lines: Sequence[str], index: int, indent: int) -> int:
    """Index after the last line of the value of the key on line `index`."""
    inline = lines[index].split(":", 1)[1].split(" #", 1)[0].strip()
    last = index
    for j in range(index + 1, len(lines)):
        line = lines[j]
        if _is_filler(line):
            continue
        ind = _indent(line)
        if ind > indent or (ind == indent and not inline and line.lstrip().startswith("- ")):
            last = j
            continue
        break
    return last + 1


def locate(lines: Sequence[str], path: Path) -> tuple[int, int, int]:
    """(key line index, value end index, key indent) of the key at `path`."""
    start, end, parent_indent = 0, len(lines), -1
    found: int | None = None
    for key in path:
        child_indent: int | None = None
        found = None
        for i in range(start, end):
            line = lines[i]
            if _is_filler(line):
                continue
            ind = _indent(line)
            if ind <= parent_indent:
                break
            if child_indent is None:
                child_indent = ind
            if ind == child_indent and _key_match(line, key):
                found = i
                break
        if found is None or child_indent is None:
            raise EditError(f"key {'.'.join(path)} not found")
        start, end, parent_indent = found + 1, _value_end(lines, found, child_indent), child_indent
    if found is None:
        raise EditError("empty key path")
    return found, end, parent_indent


def scalar(value: object) -> str:
    """`value` as a YAML scalar: plain when that reads back the same, else double-quoted."""
    text = str(value)
    if not isinstance(value, str):
        return text
    try:
        if text and text == text.strip() and yaml.safe_load(f"k: {text}") == {"k": value} \
                and not re.search(r"[\[\]{},:#&*!|>'\"%@`]", text):
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text)


def _flow_list(prefix: str, items: Sequence[object], width: int = 100) -> list[str]:
    out: list[str] = []
    line = prefix + "["
    cont = " " * len(line)
    parts = [scalar(item) for item in items]
    for index, part in enumerate(parts):
        piece = part + ("," if index < len(parts) - 1 else "]")
        if line.endswith("["):
            line += piece
        elif len(line) + 1 + len(piece) > width:
            out.append(line)
            line = cont + piece
        else:
            line += " " + piece
    if not parts:
        line += "]"
    out.append(line)
    return out


def _comment_start(line: str) -> int | None:
    """Index of the ` #` that starts an end-of-line comment (outside quotes), or None."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and i > 0 and line[i - 1] in " \t":
            return len(line[:i].rstrip(" \t"))
    return None


def _without_comment(line: str) -> str:
    start = _comment_start(line)
    return (line if start is None else line[:start]).rstrip()


@dataclass
class _Entry:
    key: str                      # what identifies the entry across the edit
    comments: list[str]           # comment and blank lines right above it
    lines: list[str] = field(default_factory=list)   # the entry, nested lines included


def _split_block(lines: Sequence[str], child: int, key_of: Callable[[str], str]) -> tuple[list[str], list[_Entry]]:
    """(header comments, entries) of a block's body lines, each entry with the
    comments above it; `child` is the entries' indent."""
    header: list[str] = []
    entries: list[_Entry] = []
    pending: list[str] = []
    for line in lines:
        if _is_filler(line):
            pending.append(line)
        elif _indent(line) == child:
            if entries:
                entries.append(_Entry(key_of(line), pending, [line]))
            else:
                header, entries = pending, [_Entry(key_of(line), [], [line])]
            pending = []
        elif entries:
            entries[-1].lines += pending + [line]
            pending = []
    if not entries:
        return header + pending, []
    entries[-1].lines += pending
    return header, entries


def _rebuild(header: list[str], old: list[_Entry], new_lines: Sequence[tuple[str, str]]) -> list[str]:
    """New body lines (`(key, full line with newline)`), each with the comments its
    key had; an unchanged end-of-line comment moves onto the new line."""
    by_key = {entry.key: entry for entry in old}
    out = list(header)
    for key, line in new_lines:
        entry = by_key.get(key)
        if entry is None:
            out.append(line)
            continue
        out += entry.comments
        start = _comment_start(entry.lines[0].rstrip("\r\n")) if len(entry.lines) == 1 else None
        if start is not None and _comment_start(line.rstrip("\r\n")) is None:
            body = line.rstrip("\r\n")
            line = body + entry.lines[0].rstrip("\r\n")[start:] + line[len(body):]
        out.append(line)
    return out


def _mapping_key(line: str) -> str:
    return line.split(":", 1)[0].strip()


def _item_value(line: str) -> str:
    return _without_comment(line.strip()[1:].strip())


def set_scalar(text: str, path: Path, value: object) -> str:
    lines = text.splitlines(keepends=True)
    index, end, _ = locate(lines, path)
    line = lines[index]
    match = re.match(r"^(\s*[^:]+:\s*)(.*?)(\s+#.*)?(\r?\n)?$", line)
    if end != index + 1 or not match or not match.group(2):
        raise EditError(f"{'.'.join(path)} is not a one-line scalar")
    lines[index] = f"{match.group(1)}{scalar(value)}{match.group(3) or ''}{match.group(4) or ''}"
    return "".join(lines)


def set_list(text: str, path: Path, items: Sequence[object]) -> str:
    """Replace a list value, keeping its style (flow `[a, b]` or block `- a`) and,
    in a block list, the comments of the items that stay."""
    lines = text.splitlines(keepends=True)
    index, end, indent = locate(lines, path)
    key_prefix = lines[index].split(":", 1)[0] + ": "
    inline = lines[index].split(":", 1)[1].strip()
    if inline.startswith("["):
        new = [line + "\n" for line in _flow_list(key_prefix, items)]
        start = _comment_start(lines[index].rstrip("\r\n")) if end == index + 1 else None
        if start is not None:
            new[-1] = new[-1][:-1] + lines[index].rstrip("\r\n")[start:] + "\n"
    elif not items:
        new = [key_prefix + "[]\n"]
    else:
        body = lines[index + 1:end]
        item_indent = next((_indent(line) for line in body if line.lstrip().startswith("- ")), indent + 2)
        header, old = _split_block(body, item_indent, _item_value)
        rendered = [(scalar(i), " " * item_indent + "- " + scalar(i) + "\n") for i in items]
        new = [key_prefix.rstrip() + "\n"] + _rebuild(header, old, rendered)
    lines[index:end] = new
    return "".join(lines)


def set_mapping_lines(text: str, path: Path, body_lines: Sequence[str]) -> str:
    """Replace the body of a mapping with `body_lines` (already formatted `key: value`,
    no indent), keeping the comments of the keys that stay."""
    lines = text.splitlines(keepends=True)
    index, end, indent = locate(lines, path)
    body = lines[index + 1:end]
    child = next((_indent(line) for line in body if not _is_filler(line)), indent + 2)
    header, old = _split_block(body, child, _mapping_key)
    rendered = [(_mapping_key(line), " " * child + line + "\n") for line in body_lines]
    lines[index + 1:end] = _rebuild(header, old, rendered)
    return "".join(lines)


def insert_list_item(text: str, path: Path, item_lines: Sequence[str]) -> str:
    """Insert a block-sequence item (lines relative to the `- `) before the first item."""
    lines = text.splitlines(keepends=True)
    index, end, _ = locate(lines, path)
    first = next((j for j in range(index + 1, end) if lines[j].lstrip().startswith("- ")), None)
    if first is None:
        raise EditError(f"{'.'.join(path)} is not a block list")
    pad = " " * _indent(lines[first])
    new = [pad + ("- " if n == 0 else "  ") + line + "\n" for n, line in enumerate(item_lines)]
    lines[first:first] = new
    return "".join(lines)


def verify(text: str, expected: object) -> None:
    """Raise EditError unless `text` loads to exactly `expected`."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise EditError(f"edited text is not valid YAML: {error}") from None
    if loaded != expected:
        raise EditError("edited text does not load to the expected data")
