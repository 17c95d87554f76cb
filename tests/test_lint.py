"""The lint gate: real rpmlint, the Fedora profile and ollama.rpmlintrc, on the
rendered spec and on RPMs built here with the real rpmbuild."""

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import REPO, STANDIN_MACROS, run_cli
from ollama_rpm.check.lint import default_paths, licenses, lint_paths

pytestmark = [pytest.mark.slow,   # rpmlint, several seconds a run
              pytest.mark.skipif(not shutil.which("rpmlint") or not shutil.which("rpmbuild"),
                                 reason="needs rpmlint and rpmbuild")]

SUMMARY = re.compile(r"^lint (passed|FAILED).*: (\d+) files; (\d+) errors, (\d+) warnings, (\d+) filtered$",
                     re.MULTILINE)

# What redhat-rpm-config does on Fedora and Debian's rpm does not: debuginfo
# packages (find-debuginfo strips the binaries) and man pages gzipped by
# brp-compress, which is a bash script that Debian's /bin/sh (dash) cannot run.
FEDORA_BUILD_MACROS = r"""%_enable_debug_packages 1
%install %{?_enable_debug_packages:%{debug_package}}\
%%install\
%{nil}
%__os_install_post \
    bash /usr/lib/rpm/brp-compress %{_prefix} \
    /usr/lib/rpm/brp-elfperms \
    /usr/lib/rpm/brp-strip %{__strip} \
%{nil}
"""

TINY_SPEC = """Name:           {name}
Version:        1.0
Release:        1%{{?dist}}
Summary:        {summary}
License:        {license}
URL:            https://example.org/hello
Source0:        hello.c
Source1:        hello.service
Source2:        LICENSE
Source3:        README
Source4:        hello.1
BuildRequires:  gcc
BuildRequires:  systemd-rpm-macros

%description
A small daemon that greets the user, packaged the way Fedora packages a
service: a compiled binary, a systemd unit, a man page and the license text.

%prep
cp -p %{{SOURCE0}} %{{SOURCE1}} %{{SOURCE2}} %{{SOURCE3}} %{{SOURCE4}} .

%build
gcc %{{build_cflags}} %{{build_ldflags}} -o {name} hello.c

%install
install -Dpm 0755 {name} %{{buildroot}}%{{_bindir}}/{name}
install -Dpm 0644 hello.service %{{buildroot}}%{{_unitdir}}/{name}.service
install -Dpm 0644 hello.1 %{{buildroot}}%{{_mandir}}/man1/{name}.1
echo "greeting=hello" > state
install -Dpm 0644 state %{{buildroot}}%{{_datadir}}/{name}/state

%post
%systemd_post {name}.service

%preun
%systemd_preun {name}.service

%postun
%systemd_postun_with_restart {name}.service

%files
{license_line}
{doc_line}
{state_line}
%{{_bindir}}/{name}
%{{_unitdir}}/{name}.service
%{{_mandir}}/man1/{name}.1*

%changelog
* Mon Nov 23 2026 Test Packager <test@example.org> - 1.0-1
- Initial package
"""


def build_tiny(where, name="hello", license="MIT AND Apache-2.0", license_file=True, doc=True,
               state_mode="0644", summary="Greets the user from a small daemon"):
    """Build NAME's SRPM and binary RPMs with the real rpmbuild; return (spec, [rpms])."""
    where = Path(where)
    src = where / "src"
    src.mkdir(parents=True)
    (src / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
    (src / "hello.service").write_text(f"[Unit]\nDescription=Hello daemon\n\n[Service]\n"
                                       f"ExecStart=/usr/bin/{name}\n\n[Install]\nWantedBy=multi-user.target\n")
    (src / "LICENSE").write_text("MIT License\n\nCopyright (c) 2026 Test\n")
    (src / "README").write_text("Hello greets the user.\n")
    (src / "hello.1").write_text(f".TH {name.upper()} 1\n.SH NAME\n{name} \\- greet the user\n")
    spec = src / f"{name}.spec"
    spec.write_text(TINY_SPEC.format(
        name=name, license=license, summary=summary,
        license_line="%license LICENSE" if license_file else "",
        doc_line="%doc README" if doc else "",
        state_line=f"%attr({state_mode},root,root) %{{_datadir}}/{name}/state"))
    build_macros = where / "fedora-build.macros"
    build_macros.write_text(FEDORA_BUILD_MACROS)
    proc = subprocess.run(["rpmbuild", "--nodeps", "--load", str(STANDIN_MACROS), "--load", str(build_macros),
                           "--define", f"_topdir {where / 'top'}", "--define", f"_sourcedir {src}",
                           "-ba", str(spec)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rpms = sorted((where / "top").rglob("*.rpm"))
    assert any(p.name.endswith(".src.rpm") for p in rpms) and len(rpms) >= 2, rpms
    return spec, rpms


def main_rpm(rpms, name="hello"):
    return next(p for p in rpms if re.fullmatch(rf"{name}-1\.0-1\.fc43\.x86_64\.rpm", p.name))


def lint_cli(*args, cwd=REPO):
    return run_cli("lint", "--macros", STANDIN_MACROS, *args, cwd=cwd)


def assert_clean(report):
    for result in report.files:
        assert (result.errors, result.warnings) == (0, 0), (result.path, [m.text for m in result.messages])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("tiny"))


# --- clean ------------------------------------------------------------------

def test_rendered_spec_lints_clean(rendered):
    report = lint_paths([rendered], REPO, macros=[STANDIN_MACROS], strict=True)
    assert_clean(report)
    assert not report.failed
    # the vendor-tarball exception of ollama.rpmlintrc (and Fedora's
    # no-buildroot-tag filter) were applied, not absent
    assert report.files[0].filtered >= 2


def test_rendered_spec_cli_exit_0(rendered):
    proc = lint_cli("--strict", rendered)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SUMMARY.search(proc.stdout).groups()[:4] == ("passed", "1", "0", "0")


def test_tiny_fedora_like_package_lints_clean(tiny, tmp_path):
    spec, rpms = tiny
    # Fedora's profile alone (ollama.rpmlintrc's filters are about ollama's RPMs,
    # so in this complete run they would be unused filters, an error).
    empty = tmp_path / "empty.rpmlintrc"
    empty.write_text("")
    report = lint_paths([spec, *rpms], REPO, macros=[STANDIN_MACROS], rpmlintrc=empty)
    assert len(report.files) == len(rpms) + 1
    assert_clean(report)
    assert not report.failed and report.filtered > 0


# --- the gate failing -------------------------------------------------------

def test_broken_license_in_spec_fails(rendered, tmp_path):
    bad = tmp_path / "ollama.spec"
    text = rendered.read_text()
    bad.write_text(re.sub(r"^License:.*$", "License:        MIT AND GPL-2.0-or-foo", text, flags=re.M))
    proc = lint_cli(bad)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "E: invalid-license GPL-2.0-or-foo" in proc.stdout
    assert "MIT" not in re.findall(r"invalid-license (\S+)", proc.stdout)


def test_broken_license_in_rpm_fails(tmp_path):
    _, rpms = build_tiny(tmp_path, name="badlic", license="MIT AND GPL-2.0-or-foo")
    proc = lint_cli(main_rpm(rpms, "badlic"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # rpmlint's own TagsCheck, made an error by the profile's [Scoring]
    assert "badlic.x86_64: E: invalid-license GPL-2.0-or-foo" in proc.stdout


def test_world_writable_file_fails(tmp_path):
    _, rpms = build_tiny(tmp_path, name="wworld", state_mode="0666")
    proc = lint_cli(main_rpm(rpms, "wworld"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "wworld.x86_64: E: world-writable /usr/share/wworld/state 666" in proc.stdout


def test_missing_license_file_fails(tmp_path):
    _, rpms = build_tiny(tmp_path, name="nolic", license_file=False)
    proc = lint_cli(main_rpm(rpms, "nolic"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nolic.x86_64: E: no-license-file" in proc.stdout


def test_strict_fails_on_warnings(tmp_path):
    _, rpms = build_tiny(tmp_path, name="dotted", summary="Greets the user.")
    rpm = main_rpm(rpms, "dotted")
    normal, strict = lint_cli(rpm), lint_cli("--strict", rpm)
    assert normal.returncode == 0 and "W: summary-ended-with-dot" in normal.stdout, normal.stdout
    assert strict.returncode == 1 and "W: summary-ended-with-dot" in strict.stdout, strict.stdout


# --- report formats -------------------------------------------------------------

def test_json_and_junit_carry_the_text_counts(tiny, tmp_path):
    spec, rpms = tiny
    _, bad = build_tiny(tmp_path / "bad", name="wworld", state_mode="0666",
                        summary="Greets the user.")
    paths = [spec, *rpms, main_rpm(bad, "wworld")]
    text = lint_cli(*paths)
    json_out, junit_out = tmp_path / "lint.json", tmp_path / "lint.xml"
    as_json = lint_cli("--format", "json", "--output", json_out, *paths)
    as_junit = lint_cli("--format", "junit", "--output", junit_out, *paths)
    assert text.returncode == as_json.returncode == as_junit.returncode == 1
    _verdict, files, errors, warnings, filtered = SUMMARY.search(text.stdout).groups()
    counts = tuple(map(int, (files, errors, warnings, filtered)))
    assert counts[1] >= 1 and counts[2] >= 1, text.stdout

    data = json.loads(json_out.read_text())
    totals = data["totals"]
    assert (totals["files"], totals["errors"], totals["warnings"], totals["filtered"]) == counts
    assert data["result"] == "fail"
    assert sum(f["errors"] for f in data["files"]) == counts[1]
    assert any(m["check"] == "world-writable" for f in data["files"] for m in f["messages"])

    root = ET.parse(junit_out).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == counts[0]

    def prop(name):
        return sum(int(p.get("value")) for p in root.iter("property") if p.get("name") == name)
    assert (prop("rpmlint.errors"), prop("rpmlint.warnings"), prop("rpmlint.filtered")) == counts[1:]
    failures = root.findall(".//failure")
    assert len(failures) == counts[1] == int(root.get("failures"))
    assert any(f.get("type") == "world-writable" for f in failures)


def test_output_is_deterministic(tiny, tmp_path):
    spec, rpms = tiny
    first = lint_cli("--format", "json", spec, *rpms).stdout
    second = lint_cli("--format", "json", spec, *rpms).stdout
    assert first == second and json.loads(first)["totals"]["files"] == len(rpms) + 1


# --- licenses ---------------------------------------------------------------------

def test_profile_accepts_spdx_expression_and_rejects_unknown_id():
    assert licenses.invalid_symbols("MIT AND Apache-2.0") == []
    assert licenses.invalid_symbols("(MIT OR Apache-2.0) AND Apache-2.0 WITH LLVM-exception") == []
    assert licenses.invalid_symbols("GPL-2.0-or-foo") == ["GPL-2.0-or-foo"]
    assert licenses.invalid_symbols("GPL-2.0+") == ["GPL-2.0+"]        # deprecated SPDX id
    assert licenses.invalid_symbols("MIT AND") == ["MIT AND"]          # not an expression
    ids, exceptions = licenses.spdx_ids()
    assert len(ids) > 400 and "MIT" in ids and "LLVM-exception" in exceptions


@pytest.mark.parametrize("value, ok", [("MIT AND Apache-2.0", True), ("GPL-2.0-or-foo", False)])
def test_profile_license_verdict_through_rpmlint(rendered, tmp_path, value, ok):
    spec = tmp_path / "ollama.spec"
    spec.write_text(re.sub(r"^License:.*$", f"License:        {value}", rendered.read_text(), flags=re.M))
    proc = lint_cli(spec)
    assert proc.returncode == (0 if ok else 1), proc.stdout + proc.stderr
    assert ("invalid-license" in proc.stdout) is not ok


def test_macros_reach_the_spec_parser(rendered, tmp_path):
    spec = tmp_path / "ollama.spec"
    spec.write_text(re.sub(r"^License:.*$", "License:        %{test_license}", rendered.read_text(), flags=re.M))
    macros = tmp_path / "license.macros"
    macros.write_text("%test_license MIT AND Apache-2.0\n")
    without = lint_cli(spec)
    with_macros = lint_cli("--macros", macros, spec)
    assert without.returncode == 1 and "invalid-license %{test_license}" in without.stdout, without.stdout
    assert with_macros.returncode == 0, with_macros.stdout + with_macros.stderr


# --- defaults and usage errors ------------------------------------------------------

def test_default_paths_are_spec_and_resultdir_rpms(tiny, tmp_path):
    _, rpms = tiny
    results = tmp_path / "results" / "fedora-43-x86_64"
    results.mkdir(parents=True)
    for rpm in rpms:
        shutil.copy2(rpm, results / rpm.name)
    (tmp_path / "ollama.spec").write_text("")
    found = default_paths(tmp_path)
    assert found[0] == tmp_path / "ollama.spec"
    assert sorted(p.name for p in found[1:]) == sorted(p.name for p in rpms)


def test_default_run_lints_project_spec_and_results(rendered, tiny, tmp_path):
    from conftest import copy_project
    _, rpms = tiny
    proj = copy_project(tmp_path / "project")
    shutil.copy2(rendered, proj / "ollama.spec")
    (proj / "results" / "sub").mkdir(parents=True)
    for rpm in rpms:
        shutil.copy2(rpm, proj / "results" / "sub" / rpm.name)
    # (ollama.rpmlintrc's filters are about the ollama RPMs, which this run lacks:
    # in a complete run they would be unused, an error; keep the spec's one.)
    rpmlintrc = tmp_path / "spec-only.rpmlintrc"
    rpmlintrc.write_text("".join(line + "\n" for line in (REPO / "ollama.rpmlintrc").read_text().splitlines()
                                 if "invalid-url Source2" in line))
    proc = lint_cli("--format", "json", "--profile", REPO / "lint" / "fedora.toml",
                    "--rpmlintrc", rpmlintrc, cwd=proj)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = [f["path"] for f in json.loads(proc.stdout)["files"]]
    assert listed == ["ollama.spec", *sorted(f"results/sub/{r.name}" for r in rpms)]


def test_missing_rpmlint_is_a_one_line_usage_error(rendered):
    proc = run_cli("lint", rendered, cwd=REPO, env={"RPMLINT": "/nonexistent/rpmlint"})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "rpmlint not found" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "absent.rpm", "no such file"),
    (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt", "not a .spec or .rpm"),
    (lambda d: (d / "broken.rpm").write_bytes(b"not an rpm") and d / "broken.rpm", "rpmlint could not check it"),
])
def test_bad_inputs_exit_2_without_traceback(tmp_path, make, message):
    path = make(tmp_path)
    proc = lint_cli(path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and str(path.name) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreadable_file_exits_2(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = tmp_path / "x.spec"
    path.write_text("Name: x\n")
    path.chmod(0)
    proc = lint_cli(path)
    assert proc.returncode == 2 and "not readable" in proc.stderr


# --- the filters themselves ----------------------------------------------------------

def commented_filters(path):
    """(comment block, filter) for every addFilter() line: the "#" lines of its
    block (filters of one block share its reason; a blank line ends a block),
    "only-without:" markers left out."""
    result, comment = [], []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            if "only-without:" not in line:
                comment.append(line)
        elif line.startswith("addFilter("):
            result.append((list(comment), line))
        else:
            comment = []
    return result


def test_every_rpmlintrc_filter_has_a_reason():
    filters = commented_filters(REPO / "ollama.rpmlintrc")
    assert filters
    for comment, line in filters:
        words = " ".join(comment).split()
        assert len(words) >= 12, f"filter without a reviewer-grade reason: {line}"


def test_no_filter_for_checks_rpmlint_does_not_run_here():
    # rpmlint applies no-soname only to libraries directly in /lib* or /usr/lib*;
    # the private ollama modules never get it, so such a filter can only hide a
    # future mistake. Same for the 0750 state directory, now 0700 (which
    # Fedora's own configuration accepts).
    text = (REPO / "ollama.rpmlintrc").read_text()
    assert "no-soname" not in text and "non-standard-dir-perm" not in text


def test_profile_excuses_debug_packages_one_check_at_a_time():
    import tomllib
    filters = tomllib.loads((REPO / "lint" / "fedora.toml").read_text())["Filters"]
    debug = [f for f in filters if "debug" in f]
    assert debug
    for pattern in debug:
        # a named check, never "any check" (\S+) on a debug package
        assert re.search(r": (\[EW\]|[EW]): [a-z][a-z-]+", pattern), pattern


@pytest.fixture(scope="module")
def dotted(tmp_path_factory):
    """A package whose summary ends with a dot: one warning a filter can match."""
    return build_tiny(tmp_path_factory.mktemp("dotted"), name="dotted", summary="Greets the user.")


def write_rpmlintrc(path, *patterns):
    path.write_text("".join(f"# reason\naddFilter(r'{p}')\n" for p in patterns))
    return path


def test_unused_filter_fails_a_complete_run(dotted, tmp_path):
    spec, rpms = dotted
    used = r"^dotted\.x86_64: W: summary-ended-with-dot"
    unused = r"^dotted\.x86_64: W: no-soname /usr/lib64/nothing\.so$"
    only_used = lint_cli("--rpmlintrc", write_rpmlintrc(tmp_path / "a.rpmlintrc", used), spec, *rpms)
    assert only_used.returncode == 0, only_used.stdout + only_used.stderr
    both = lint_cli("--rpmlintrc", write_rpmlintrc(tmp_path / "b.rpmlintrc", used, unused), spec, *rpms)
    assert both.returncode == 1, both.stdout + both.stderr
    flagged = re.findall(r"E: unused-rpmlintrc-filter (.*)", both.stdout)
    assert flagged == [f'"{unused}"'], both.stdout
    # A filter used in one file only is used: per-file runs do not count on their own.
    assert "summary-ended-with-dot" not in " ".join(flagged)


def test_unused_filter_is_not_judged_on_a_partial_run(dotted, tmp_path):
    spec, _ = dotted
    rc = write_rpmlintrc(tmp_path / "c.rpmlintrc", r"^dotted\.x86_64: W: summary-ended-with-dot")
    proc = lint_cli("--rpmlintrc", rc, spec)
    assert proc.returncode == 0 and "unused-rpmlintrc-filter" not in proc.stdout, proc.stdout


@pytest.mark.parametrize("marker, flagged", [("dotted", False), ("dotted-gpu-backend", True)])
def test_only_without_filters_are_judged_where_the_package_is_missing(dotted, tmp_path, marker, flagged):
    # A filter for builds without a package (a backend switched off) is not
    # "unused" in a run that has that package; in any other run it is.
    spec, rpms = dotted
    rc = tmp_path / "d.rpmlintrc"
    rc.write_text("# reason\naddFilter(r'^dotted\\.x86_64: W: summary-ended-with-dot')\n\n"
                  f"# only-without: {marker}\n"
                  "addFilter(r'^dotted\\.x86_64: W: obsolete-not-provided dotted-gpu$')\n")
    proc = lint_cli("--rpmlintrc", rc, spec, *rpms)
    assert ("unused-rpmlintrc-filter" in proc.stdout) is flagged, proc.stdout
    assert proc.returncode == (1 if flagged else 0), proc.stdout + proc.stderr
