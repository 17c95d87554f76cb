"""doc/chroots.md's table is the one the chroot matrix data gives."""

from conftest import REPO
from ollama_rpm.specgen import backends, chroots
from ollama_rpm.specgen.config import load_config

CFG = load_config(REPO / "packaging.yaml")


def test_doc_table_matches_the_data():
    text = (REPO / "doc" / "chroots.md").read_text()
    assert chroots.BEGIN in text and chroots.END in text
    start = text.index(chroots.BEGIN)
    end = text.index(chroots.END) + len(chroots.END) + 1
    assert text[start:end] == chroots.table(CFG), \
        "doc/chroots.md is stale: regenerate its table with python -m ollama_rpm.specgen.chroots"


def test_table_has_a_row_per_offered_chroot_with_its_facts():
    rows = {row[0].strip("`"): row for row in chroots.rows(CFG)}
    assert set(rows) == {c.name for c in backends.offered_chroots()}
    assert rows["epel-9-x86_64"][4] == "x86-64-v2: v2, v3, v4"
    assert rows["epel-10-x86_64"][4] == "x86-64-v3: v3, v4"
    assert rows["fedora-44-x86_64"][4].startswith("x86-64-v1: v1,")
    assert "12.9 (`--with cuda12`)" in rows["epel-9-x86_64"][5]
    assert "cuda12: refused" in rows["fedora-43-x86_64"][5]
    assert rows["epel-10-aarch64"][5] == "none"
    assert rows["epel-9-x86_64"][6] == "`%pre` (useradd)" and rows["fedora-rawhide-x86_64"][6] == "rpm (sysusers.d)"
