"""reproducible: SOURCE_DATE_EPOCH and byte-identical tarballs, in process."""

import calendar
import datetime
import gzip
import io
import os
import tarfile

import pytest

from conftest import REPO
from ollama_rpm.errors import UsageError
from ollama_rpm.sources import reproducible
from ollama_rpm.specgen.config import load_config


@pytest.fixture(scope="module")
def config():
    return load_config(REPO / "packaging.yaml")


@pytest.mark.parametrize("raw, expected", [("0", 0), ("1700000000", 1700000000), ("01", 1)])
def test_source_date_epoch_from_the_environment(monkeypatch, config, raw, expected):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", raw)
    assert reproducible.source_date_epoch(config) == expected


@pytest.mark.parametrize("raw", ["-1", "1.5", "now", "1e9", " 1", "١٢"])
def test_source_date_epoch_refuses_what_is_not_whole_seconds(monkeypatch, config, raw):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", raw)
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH=.*expected a non-negative integer"):
        reproducible.source_date_epoch(config)


@pytest.mark.parametrize("raw", [None, ""])
def test_source_date_epoch_defaults_to_the_newest_changelog_day(monkeypatch, config, raw):
    if raw is None:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", raw)
    newest = max(entry.date for entry in config.changelog)
    epoch = reproducible.source_date_epoch(config)
    assert epoch == calendar.timegm(newest.timetuple())
    assert datetime.datetime.fromtimestamp(epoch, datetime.UTC).time() == datetime.time(0, 0)


def _tree(base, mtime):
    top = base / "vendor"
    (top / "b" / "c").mkdir(parents=True)
    (top / "a.txt").write_text("a\n")
    (top / "b" / "run.sh").write_text("#!/bin/sh\n")
    (top / "b" / "run.sh").chmod(0o700)
    (top / "b" / "c" / "data").write_bytes(b"\0\1")
    (top / "b" / "c" / "data").chmod(0o600)
    (top / "link").symlink_to("a.txt")
    for path in [top, *top.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return base


def _written(base, mtime=1234):
    out = io.BytesIO()
    reproducible.write_tar_gz(out, base, "vendor", mtime)
    return out.getvalue()


def test_the_same_tree_gives_the_same_bytes_whatever_its_file_times(tmp_path):
    first = _written(_tree(tmp_path / "one", 1_600_000_000))
    second = _written(_tree(tmp_path / "two", 1_700_000_000))
    assert first == second
    assert _written(tmp_path / "one", mtime=1235) != first       # the mtime given is the one used


def test_entries_are_sorted_owned_by_root_with_normalised_modes(tmp_path):
    data = _written(_tree(tmp_path, 1_600_000_000))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        names = [m.name for m in tar.getmembers()]
    assert names == sorted(names)
    assert names == ["vendor", "vendor/a.txt", "vendor/b", "vendor/b/c", "vendor/b/c/data", "vendor/b/run.sh",
                     "vendor/link"]
    expected_modes = {"vendor": 0o755, "vendor/a.txt": 0o644, "vendor/b": 0o755, "vendor/b/c": 0o755,
                      "vendor/b/c/data": 0o644, "vendor/b/run.sh": 0o755, "vendor/link": 0o777}
    assert {name: m.mode for name, m in members.items()} == expected_modes
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members.values()} == {(0, 0, "root", "root", 1234)}
    assert members["vendor/link"].issym() and members["vendor/link"].linkname == "a.txt"


def test_the_gzip_header_carries_no_name_and_no_time(tmp_path):
    data = _written(_tree(tmp_path, 1_600_000_000))
    assert data[:3] == b"\x1f\x8b\x08"
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert flags & 0x08 == 0 and mtime == 0              # FNAME unset, MTIME 0
    assert gzip.decompress(data)                          # and it is a complete stream
