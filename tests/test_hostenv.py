"""hostenv: one CI detection, one live-display rule and one cache root, which every wing
obeys (issue 13: three CI detections and two cache paths had drifted apart)."""

import ast
import importlib.util
import io
import os
from pathlib import Path

import pytest

from ollama_rpm import hostenv
from ollama_rpm.builders import builder, progress
from ollama_rpm.publish import github
from ollama_rpm.sources import fetch

PACKAGE = Path(hostenv.__file__).parent


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), ("", False), ("0", False), ("false", False), ("False", False), ("no", False), ("off", False),
    ("true", True), ("1", True), ("yes", True), ("TRUE", True), ("woodpecker", True),
])
def test_in_ci(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert hostenv.in_ci() is expected


@pytest.mark.parametrize(("ci", "term", "stream", "expected"), [
    (None, "xterm", Tty(), True),
    ("true", "xterm", Tty(), False),
    ("woodpecker", "xterm", Tty(), False),
    ("false", "xterm", Tty(), True),
    (None, "dumb", Tty(), False),
    (None, "xterm", io.StringIO(), False),
    (None, "xterm", object(), False),       # no isatty at all
])
def test_every_display_follows_the_one_rule(monkeypatch, ci, term, stream, expected):
    """The build panel, the download bar and the Copr wait line ask the same question."""
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("TERM", term)
    assert hostenv.live_display(stream) is expected
    assert fetch.Progress("x", stream=stream).enabled is expected
    live = progress.RichDisplay if importlib.util.find_spec("rich") else progress.PlainDisplay
    assert type(progress.make_display(stream)) is (live if expected else progress.PlainDisplay)


def test_a_real_terminal_is_live_until_closed(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    master, slave = os.openpty()
    stream = os.fdopen(slave, "w")
    try:
        assert hostenv.live_display(stream) is True
    finally:
        stream.close()
        os.close(master)
    assert hostenv.live_display(stream) is False      # isatty() on a closed file raises ValueError


@pytest.mark.parametrize(("env", "expected"), [
    ({"OLLAMA_RPM_CACHE": "/c/ollama", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}, "/c/ollama"),
    ({"XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/ollama-rpm"),
    ({"OLLAMA_RPM_CACHE": "", "XDG_CACHE_HOME": "", "HOME": "/home/u"}, "/home/u/.cache/ollama-rpm"),
])
def test_every_cache_lives_under_the_one_root(monkeypatch, env, expected):
    for name in ("OLLAMA_RPM_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    root = Path(expected)
    assert hostenv.cache_root() == root
    assert fetch.Cache().root == root
    assert github.cache_dir() == root / "github"
    assert github.GitHub(base="http://127.0.0.1:9", token="").cache == root / "github"
    assert builder.ccache_topdir("x86_64") == root / "rpmbuild-ccache" / "x86_64"


def test_the_github_cache_honours_ollama_rpm_cache(monkeypatch, tmp_path):
    """The divergence issue 13 names: the ETag cache ignored OLLAMA_RPM_CACHE."""
    monkeypatch.setenv("OLLAMA_RPM_CACHE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert github.GitHub(base="http://127.0.0.1:9", token="").cache.is_relative_to(tmp_path / "elsewhere")


def test_cache_errors_name_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("OLLAMA_RPM_CACHE", str(tmp_path / "c"))
    assert hostenv.cache_hint() == f"; check OLLAMA_RPM_CACHE={tmp_path / 'c'}"
    assert str(fetch.Cache().error(tmp_path, "full")).endswith(hostenv.cache_hint())
    monkeypatch.delenv("OLLAMA_RPM_CACHE")
    assert hostenv.cache_hint() == ""


def _string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


@pytest.mark.parametrize("name", ["CI", "OLLAMA_RPM_CACHE", "XDG_CACHE_HOME"])
def test_only_hostenv_reads_these_variables(name):
    """A second reader of $CI or of the cache variables is how the copies drifted apart."""
    readers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if name in _string_constants(path))
    assert readers == ["hostenv.py"], f"{name} is read outside hostenv: {readers}"

