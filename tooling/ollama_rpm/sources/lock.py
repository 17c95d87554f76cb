"""sources.lock: the sha256 pin of every downloaded Source, next to packaging.yaml.

JSON with sorted keys so the file is deterministic and diffs stay small.
Pins are changed only on request (`ollama-rpm sources --update-lock`, `bump`).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ollama_rpm import atomic, grammar
from ollama_rpm.errors import ConfigError
from ollama_rpm.pathtypes import StrPath

FORMAT = 1
# A pin is about 200 bytes: a lock of a MiB is not one.
MAX_LOCK_BYTES = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    url: str
    sha256: str


class Lock:
    def __init__(self, path: StrPath, pins: Mapping[str, Pin] | None = None) -> None:
        self.path = Path(path)
        self.pins: dict[str, Pin] = dict(pins or {})      # file name -> Pin

    def get(self, file_name: str) -> Pin | None:
        return self.pins.get(file_name)

    def set(self, file_name: str, url: str, sha256: str) -> None:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        self.pins[file_name] = Pin(url, sha256)

    def to_json(self) -> str:
        body = {"format": FORMAT,
                "sources": {name: {"url": pin.url, "sha256": pin.sha256}
                            for name, pin in sorted(self.pins.items())}}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    def save(self) -> None:
        atomic.write_text(self.path, self.to_json())


def load(path: StrPath) -> Lock:
    """The lock at `path`; an empty lock if the file does not exist."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return Lock(path)
    text = atomic.read_text(path, MAX_LOCK_BYTES)
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigError(path, None, f"not a readable JSON lock file: {error}") from None
    # `type(...) is int`: JSON true would pass as 1.
    if not isinstance(data, dict) or type(data.get("format")) is not int or data["format"] != FORMAT \
            or not isinstance(data.get("sources"), dict):
        raise ConfigError(path, "format", f"expected a format {FORMAT} lock with a 'sources' mapping")
    pins: dict[str, Pin] = {}
    for name, entry in data["sources"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not _SHA256.fullmatch(entry["sha256"]) or not isinstance(entry.get("url"), str) \
                or grammar.text(entry["url"]) or grammar.file_name(name):
            raise ConfigError(path, f"sources.{str(name)[:60]!r}",
                              "expected a file name mapped to {url: one line, sha256: 64 hex digits}")
        pins[name] = Pin(entry["url"], entry["sha256"])
    return Lock(path, pins)
