"""textout: the one redaction and the one table printer every command uses (issue 13: two
`redact`s that hid different secrets, and a table printer per command)."""

from pathlib import Path

import pytest

from ollama_rpm import textout
from ollama_rpm.builders import builder
from ollama_rpm.check import isa_audit, smoke
from ollama_rpm.publish import bump_apply, copr, github

TOKEN = "tok-SECRET-1234567890"


@pytest.mark.parametrize(("text", "secrets", "expected"), [
    ("token tok-SECRET-1234567890 sent", [TOKEN], "token *** sent"),
    ("nothing to hide", [TOKEN], "nothing to hide"),
    ("a abc b", ["abc"], "a *** b"),                          # short secrets are hidden too
    ("x", [""], "x"),                                         # an unset token hides nothing
    # a secret inside a longer one: the longer is hidden whole, in any order given
    ("url https://u:tok-SECRET@host", ["tok", "tok-SECRET"], "url https://u:***@host"),
    ("url https://u:tok-SECRET@host", ["tok-SECRET", "tok"], "url https://u:***@host"),
    ("a.b a-b", ["a.b"], "*** a-b"),                          # literal, not a pattern
    ("***x*", ["*"], "*********x***"),                        # one pass: a replacement is not searched again
])
def test_redact(text, secrets, expected):
    assert textout.redact(text, secrets) == expected


def test_github_and_bump_use_the_one_redaction():
    assert github.redact is textout.redact
    assert bump_apply.redact is textout.redact


@pytest.mark.parametrize("secret", [TOKEN, "abc", "tok"])
def test_copr_hides_what_the_github_client_hides(tmp_path, secret):
    """Copr's session redacts its token with the same rule as GitHub's (short tokens included)."""
    pytest.importorskip("copr.v3")
    config = tmp_path / "copr"
    config.write_text(f"[copr-cli]\nlogin = api-login\nusername = alice\ntoken = {secret}\n"
                      "copr_url = https://copr.example.org\n", encoding="utf-8")
    session = copr.Session(config)
    text = f"HTTP 500: bad key {secret}, and again {secret}!"
    assert session.redact(text) == textout.redact(text, [secret]) == "HTTP 500: bad key ***, and again ***!"


def test_table_pads_every_column_but_the_last():
    assert textout.table(("a", "bb", "c"), [("xxx", "y", ""), ("", "", "z z")]) == [
        "a    bb  c",
        "xxx  y",
        "         z z",
    ]


def test_table_rule_is_as_wide_as_each_column_and_the_last_heading():
    assert textout.table(("name", "state"), [("fedora-44-x86_64", "succeeded")], rule=True) == [
        "name              state",
        "----------------  -----",
        "fedora-44-x86_64  succeeded",
    ]
    assert textout.table(("name",), [], rule=True) == ["name", "----"]


def test_table_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        textout.table(("a", "b", "c"), [("1", "2")])


# The four reports that print a table, pinned to the layout they had before they shared
# one printer (each was written out by hand).

def test_copr_state_table():
    states = {"fedora-44-x86_64": "succeeded", "epel-9-aarch64": "failed"}
    assert copr.table(states) == [
        "chroot            state",
        "----------------  -----",
        "epel-9-aarch64    failed",
        "fedora-44-x86_64  succeeded",
    ]


def test_build_matrix_table():
    results = [builder.BuildResult("fedora-44-x86_64", True, 0, [Path("results/a.rpm"), Path("results/b.rpm")]),
               builder.BuildResult("epel-9-x86_64", False, 1, summary="mock failed",
                                   log=Path("results/x/build.log")),
               builder.BuildResult("aarch64", True, 0, [])]
    assert builder.table(results, "chroot").splitlines() == [
        "chroot            result  RPMs or error",
        "----------------  ------  -------------",
        "fedora-44-x86_64  ok      results/a.rpm",
        "                          results/b.rpm",
        "epel-9-x86_64     FAILED  mock failed",
        "                          see results/x/build.log",
        "aarch64           ok      (no binary RPMs)",
    ]


def test_smoke_table():
    report = smoke.Report("rpm", ["ollama"])
    report.add("install", "ok", "3 packages")
    report.add("a-long-check-name", "FAIL", "it broke")
    report.add("x", "skip", "")
    assert report.table().splitlines() == [
        "check              result  detail",
        "install            ok      3 packages",
        "a-long-check-name  FAIL    it broke",
        "x                  skip",
    ]


def test_isa_audit_table():
    reports = [isa_audit.LibraryReport("libggml-cpu-haswell.so", "haswell", "v3", 120, {"avx2": 3, "fma": 1}),
               isa_audit.LibraryReport("p.rpm:usr/lib/libggml-cpu-x64.so", "x64", "", 5, {},
                                       violations=["uses avx"])]
    assert isa_audit.format_table(reports).splitlines() == [
        "library                           variant  level  insns  features used  result",
        "libggml-cpu-haswell.so            haswell  v3     120    avx2:3, fma:1  ok",
        "p.rpm:usr/lib/libggml-cpu-x64.so  x64      -      5      baseline only  FAIL",
        "FAIL p.rpm:usr/lib/libggml-cpu-x64.so: uses avx",
    ]
