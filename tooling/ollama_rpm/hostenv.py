"""What the toolkit reads from the machine it runs on, decided once for every wing.

Whether it runs under CI (plain, deterministic output), whether a stream can take a
display that redraws itself, and where its cache lives. Downloads, the GitHub
answers and the ccache trees all live under the one cache root, so one setting
(`OLLAMA_RPM_CACHE`) moves all of them.
"""

import os
from pathlib import Path
from typing import TextIO

CI_ENV = "CI"
CACHE_ENV = "OLLAMA_RPM_CACHE"
# CI services set CI=true (GitHub, GitLab), CI=1 or their own name (Woodpecker);
# these values are the usual ways to switch it off again.
_CI_OFF = frozenset({"", "0", "false", "no", "off"})


def in_ci() -> bool:
    """True when $CI is set to anything but an explicit no (empty, 0, false, no, off)."""
    return os.environ.get(CI_ENV, "").strip().lower() not in _CI_OFF


def live_display(stream: TextIO) -> bool:
    """Whether `stream` may get a display that redraws itself (\\r, escape codes):
    a terminal that understands them, and not CI, whose logs must stay plain."""
    if in_ci() or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):     # no isatty, or a closed stream
        return False


def cache_root() -> Path:
    """$OLLAMA_RPM_CACHE, else $XDG_CACHE_HOME/ollama-rpm, else ~/.cache/ollama-rpm."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ollama-rpm"


def cache_hint() -> str:
    """'; check OLLAMA_RPM_CACHE=...' when the user moved the cache, for errors about it."""
    env = os.environ.get(CACHE_ENV)
    return f"; check {CACHE_ENV}={env}" if env else ""
