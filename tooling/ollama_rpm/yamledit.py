"""Surgical edits of a block-style YAML document's text.

`bump` changes a handful of values in packaging.yaml; re-dumping the whole
document would drop the packager's comments and layout. These helpers locate a
key by its path and replace only the lines that hold its value, keeping every
other byte. Callers check the result with yaml.safe_load (see `verify`).
"""

import json
import re

import yaml


class EditError(Exception):
    """The document does not have the shape the edit expects."""


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _is_filler(line):
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _key_match(line, key):
    return re.match(rf"^\s*{re.escape(key)}\s*:(\s|$)", line)


def _value_end(lines, index, indent):
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


def locate(lines, path):
    """(key line index, value end index, key indent) of the key at `path`."""
    start, end, parent_indent = 0, len(lines), -1
    found = None
    for key in path:
        child_indent = None
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
        if found is None:
            raise EditError(f"key {'.'.join(path)} not found")
        start, end, parent_indent = found + 1, _value_end(lines, found, child_indent), child_indent
    return found, end, parent_indent


def scalar(value):
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


def _flow_list(prefix, items, width=100):
    out, line = [], prefix + "["
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


def set_scalar(text, path, value):
    lines = text.splitlines(keepends=True)
    index, end, indent = locate(lines, path)
    line = lines[index]
    match = re.match(r"^(\s*[^:]+:\s*)(.*?)(\s+#.*)?(\r?\n)?$", line)
    if end != index + 1 or not match or not match.group(2):
        raise EditError(f"{'.'.join(path)} is not a one-line scalar")
    lines[index] = f"{match.group(1)}{scalar(value)}{match.group(3) or ''}{match.group(4) or ''}"
    return "".join(lines)


def set_list(text, path, items):
    """Replace a list value, keeping its style (flow `[a, b]` or block `- a`)."""
    lines = text.splitlines(keepends=True)
    index, end, indent = locate(lines, path)
    key_prefix = lines[index].split(":", 1)[0] + ": "
    inline = lines[index].split(":", 1)[1].strip()
    if inline.startswith("["):
        new = [line + "\n" for line in _flow_list(key_prefix, items)]
    else:
        item_indent = next((_indent(l) for l in lines[index + 1:end] if l.lstrip().startswith("- ")),
                           indent + 2)
        new = [key_prefix.rstrip() + "\n"] + [" " * item_indent + "- " + scalar(i) + "\n" for i in items]
        if not items:
            new = [key_prefix + "[]\n"]
    lines[index:end] = new
    return "".join(lines)


def set_mapping_lines(text, path, body_lines):
    """Replace the body of a mapping with `body_lines` (already formatted, no indent)."""
    lines = text.splitlines(keepends=True)
    index, end, indent = locate(lines, path)
    child = next((_indent(l) for l in lines[index + 1:end] if not _is_filler(l)), indent + 2)
    # Keep comment lines that precede the first entry inside the block.
    lines[index + 1:end] = [" " * child + body + "\n" for body in body_lines]
    return "".join(lines)


def insert_list_item(text, path, item_lines):
    """Insert a block-sequence item (lines relative to the `- `) before the first item."""
    lines = text.splitlines(keepends=True)
    index, end, indent = locate(lines, path)
    first = next((j for j in range(index + 1, end) if lines[j].lstrip().startswith("- ")), None)
    if first is None:
        raise EditError(f"{'.'.join(path)} is not a block list")
    pad = " " * _indent(lines[first])
    new = [pad + ("- " if n == 0 else "  ") + line + "\n" for n, line in enumerate(item_lines)]
    lines[first:first] = new
    return "".join(lines)


def verify(text, expected):
    """Raise EditError unless `text` loads to exactly `expected`."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise EditError(f"edited text is not valid YAML: {error}") from None
    if loaded != expected:
        raise EditError("edited text does not load to the expected data")
