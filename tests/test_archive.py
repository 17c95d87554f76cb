"""safe_extract: unsafe entries are refused and nothing is left behind."""

import io
import tarfile

import pytest

from ollama_rpm.errors import EXIT_INTEGRITY, IntegrityError, UsageError
from ollama_rpm.sources.archive import safe_extract
from source_fixtures import tarball_bytes, tree_snapshot

GOOD = {"go.mod": "module x\n", "sub/file.txt": "hello\n"}


def entry(name, kind=tarfile.REGTYPE, data=b"", linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o644
    return info, (data if kind == tarfile.REGTYPE else None)


def write(tmp_path, extra, files=GOOD):
    path = tmp_path / "in.tar.gz"
    path.write_bytes(tarball_bytes("top", files, extra))
    return path


def test_extracts_a_normal_tarball(tmp_path):
    tarball = write(tmp_path, [entry("top/link", tarfile.SYMTYPE, linkname="sub/file.txt"),
                               entry("top/hard", tarfile.LNKTYPE, linkname="top/go.mod")])
    dest = safe_extract(tarball, tmp_path / "out")
    assert (dest / "top" / "sub" / "file.txt").read_text() == "hello\n"
    assert (dest / "top" / "link").read_text() == "hello\n"
    assert (dest / "top" / "hard").read_text() == "module x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tar.gz", "out"]


UNSAFE = [
    ("dotdot", [entry("top/../../evil.txt", data=b"x")], "'..'"),
    ("absolute", [entry("/tmp/evil-ollama-rpm.txt", data=b"x")], "absolute"),
    ("symlink-escape", [entry("top/esc", tarfile.SYMTYPE, linkname="../../outside")], "outside"),
    ("symlink-absolute", [entry("top/esc", tarfile.SYMTYPE, linkname="/etc")], "absolute"),
    ("hardlink-escape", [entry("top/h", tarfile.LNKTYPE, linkname="../outside")], "outside"),
    ("device", [entry("top/dev", tarfile.CHRTYPE)], "device"),
    ("fifo", [entry("top/fifo", tarfile.FIFOTYPE)], "FIFO"),
    # Lexically inside, really outside: `a -> .` then `b -> a/..` is the parent of the tree.
    ("symlink-chain", [entry("top/a", tarfile.SYMTYPE, linkname="."),
                       entry("top/b", tarfile.SYMTYPE, linkname="a/../..")], "outside"),
    ("through-symlink", [entry("top/dir", tarfile.SYMTYPE, linkname=".."),
                         entry("top/c", tarfile.SYMTYPE, linkname="dir/.."),
                         entry("top/c/escaped.txt", data=b"x")], "outside"),
]


@pytest.mark.parametrize("case, extra, why", UNSAFE, ids=[c[0] for c in UNSAFE])
def test_unsafe_entries_are_refused_and_nothing_is_left(tmp_path, case, extra, why):
    tarball = write(tmp_path, extra)
    with pytest.raises(IntegrityError) as raised:
        safe_extract(tarball, tmp_path / "out")
    message = str(raised.value)
    assert "\n" not in message and str(tarball) in message and why in message
    assert raised.value.exit_code == EXIT_INTEGRITY
    # Nothing under dest, no temporary directory beside it, nothing written outside.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tar.gz"]
    assert not (tmp_path.parent / "outside").exists()
    assert not (tmp_path.parent / "evil.txt").exists()


def test_absolute_entry_is_not_written(tmp_path):
    target = tmp_path / "abs-target.txt"
    tarball = tmp_path / "abs.tar"
    with tarfile.open(tarball, "w") as tar:
        info, data = entry(str(target), data=b"pwned")
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(IntegrityError):
        safe_extract(tarball, tmp_path / "out")
    assert not target.exists()
    assert tree_snapshot(tmp_path) == ["abs.tar"]


def test_not_a_tarball_is_an_integrity_error(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b this is not gzip")
    with pytest.raises(IntegrityError, match="not a readable tar archive"):
        safe_extract(bad, tmp_path / "out")
    assert tree_snapshot(tmp_path) == ["bad.tar.gz"]


def test_existing_destination_is_refused(tmp_path):
    tarball = write(tmp_path, [])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("mine")
    with pytest.raises(UsageError):
        safe_extract(tarball, tmp_path / "out")
    assert (tmp_path / "out" / "keep").read_text() == "mine"
    assert tree_snapshot(tmp_path) == ["in.tar.gz", "out", "out/keep"]
