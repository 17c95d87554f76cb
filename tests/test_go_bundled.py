"""go_bundled: the C code vendored Go modules compile in, found in a vendored tree
and recorded in (and read back from) go-vendor-tools.toml's generated block."""

import pytest

from ollama_rpm.errors import ConfigError
from ollama_rpm.sources import vendor
from ollama_rpm.specgen import go_bundled

SQLITE = "vendor/github.com/mattn/go-sqlite3/sqlite3-binding.c"


def _tree(tmp_path, text):
    path = tmp_path / SQLITE
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return tmp_path


def test_detects_the_amalgamation_version(tmp_path):
    tree = _tree(tmp_path, '/* amalgamation */\n#define SQLITE_VERSION        "3.46.1"\n'
                           '#define SQLITE_VERSION_NUMBER 3046001\n')
    assert go_bundled.detect(tree) == [go_bundled.Bundled("sqlite", "3.46.1", SQLITE)]


def test_no_go_sqlite3_no_provide(tmp_path):
    (tmp_path / "vendor").mkdir()
    assert go_bundled.detect(tmp_path) == []


def test_a_version_line_gone_is_an_error_not_a_silent_drop(tmp_path):
    tree = _tree(tmp_path, "/* no version here */\n")
    with pytest.raises(ConfigError, match="SQLITE_VERSION"):
        go_bundled.detect(tree)


def test_record_round_trips_through_the_generated_block(tmp_path):
    bundled = [go_bundled.Bundled("sqlite", "3.46.1", SQLITE)]
    text = vendor.toml_text([], "x-vendor.tar.bz2", "", "b10488", bundled=bundled)
    toml = tmp_path / "go-vendor-tools.toml"
    toml.write_text(text)
    assert go_bundled.read(toml) == bundled
    assert text.index(go_bundled.HEADER) < text.index(vendor.END)
    # re-vendoring without the module drops the record
    toml.write_text(vendor.toml_text([], "x-vendor.tar.bz2", text, "b10488"))
    assert go_bundled.read(toml) == []


def test_missing_file_reads_as_nothing_recorded(tmp_path):
    assert go_bundled.read(tmp_path / "absent.toml") == []
