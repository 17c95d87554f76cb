"""Every chroot the toolkit offers, under that chroot's own macros and rpm behaviour.

For each chroot of backends.offered_chroots() (Fedora 43, 44, rawhide; EPEL 9,
10; x86_64 and aarch64) and every on/off combination of the backends that can
be built for its arch, the rendered spec (single layout, and each spec of the
split layout) is expanded with `rpmspec -P` and queried with `rpmspec -q`
(binary and source headers) under the chroot's stand-in macro set
(tests/standin.py: fedora-macros.standin, release-el9/el10.standin), as a
buildroot has them (package sections only for what the spec BuildRequires).
The test fails on any `error:`, a macro left unexpanded, a package missing or
extra, or an arch branch taken wrongly: x86_64 must get its level packages
from the release's -march floor up, aarch64 its one CPU package; the release's
%pre must create the account where rpm does not. What the stand-ins model and
what they cannot: doc/chroots.md. tests/test_real_macros.py runs the same
checks under the real macro files where they have been fetched.
"""

import itertools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import standin
from conftest import REPO, copy_project, run_cli
from ollama_rpm.specgen import backends, cpu_levels
from ollama_rpm.specgen.config import load_config

pytestmark = pytest.mark.slow   # rpmspec and the CLI as processes

CFG = load_config(REPO / "packaging.yaml")
RELEASES = {(r.family, r.release): r for r in backends.RELEASES}
# Lines of `rpmspec -P` output that may start with "%": sections and file-list directives.
SPEC_KEYWORDS = {"package", "description", "prep", "build", "install", "check", "files", "changelog", "pre",
                 "post", "preun", "postun", "pretrans", "posttrans", "generate_buildrequires", "license", "doc",
                 "dir", "attr", "defattr", "ghost", "config", "verify", "exclude"}
UNEXPANDED = re.compile(r"%\{[?!]*[A-Za-z_]|%\[")


def buildable(arch):
    """The backends of packaging.yaml that can be built for `arch`, registry order."""
    return [b.name for b in CFG.backends if arch in b.arches]


def combinations(chroot):
    """Every on/off assignment of the backends buildable for the chroot's arch that
    the chroot allows (a backend refused there is only ever off)."""
    names = [n for n in buildable(chroot.arch) if not backends.refused(n, chroot)]
    return [dict(zip(names, states, strict=True)) for states in itertools.product((True, False), repeat=len(names))]


CASES = [(chroot, switches) for chroot in backends.offered_chroots() for switches in combinations(chroot)]


def case_id(chroot, switches):
    return chroot.name + ":" + (",".join(n for n, on in switches.items() if on) or "cpu-only")


@dataclass
class Query:
    expanded: str
    binary: list[str]
    source: dict[str, list[str]]
    pre: str
    requires_pre: list[str]


def _rpmspec(spec, chroot, macros, switches, *args):
    flags = [arg for name, on in switches.items() for arg in (("--with", name) if on else ("--without", name))]
    return subprocess.run(["rpmspec", "--target", chroot.arch, "--load", str(macros),
                           "--define", f"_sourcedir {REPO / 'sysusers'}", *flags, *args, str(spec)],
                          capture_output=True, text=True)


def _ok(proc, what):
    assert proc.returncode == 0 and "error:" not in proc.stderr, f"{what}: {proc.stderr.strip()}"
    return proc.stdout


def query(spec, chroot, switches, workdir):
    """rpmspec -P and -q (binary and source headers) as in the chroot's buildroot."""
    family, release = chroot.family, chroot.release
    base = standin.for_chroot(family, release, workdir / f"{chroot.name}-base.macros", ())
    buildrequires = _ok(_rpmspec(spec, chroot, base, switches, "-q", "--srpm", "--qf", "[%{REQUIRENAME}\n]"),
                        "BuildRequires").split()
    macros = standin.for_chroot(family, release, workdir / f"{chroot.name}.macros", buildrequires)
    expanded = _ok(_rpmspec(spec, chroot, macros, switches, "-P"), "rpmspec -P")
    binary = _ok(_rpmspec(spec, chroot, macros, switches, "-q", "--qf", "%{NAME}\n"), "rpmspec -q").split()
    source_qf = "EXCLUSIVEARCH=[%{EXCLUSIVEARCH} ]\nBUILDREQUIRES=[%{REQUIRENAME} ]\nRELEASE=%{RELEASE}\n"
    source = {key: value.split() for key, _, value in (
        line.partition("=") for line in _ok(_rpmspec(spec, chroot, macros, switches, "-q", "--srpm", "--qf",
                                                     source_qf), "rpmspec -q --srpm").splitlines())}
    main = _ok(_rpmspec(spec, chroot, macros, switches, "-q", "--qf",
                        "%{NAME}\n%{PREIN}\n@@@\n[%{REQUIREFLAGS:deptype} %{REQUIRENAME}\n]@@@\n"),
               "rpmspec -q scriptlets").split("@@@\n")
    name, _, pre = main[0].partition("\n")
    assert name == binary[0]        # the first header queried is the main package's
    requires_pre = [line.split()[-1] for line in main[1].splitlines() if line.split()[0].startswith("pre")]
    return Query(expanded, binary, source, pre.strip() if pre.strip() != "(none)" else "", requires_pre)


def unexpanded(expanded):
    """Macros `rpmspec -P` left in lines that are not comments."""
    left = []
    for line in expanded.splitlines():
        if line.lstrip().startswith("#"):
            continue
        left += UNEXPANDED.findall(line)
        match = re.match(r"%([A-Za-z_]\w*)", line)
        if match and match.group(1) not in SPEC_KEYWORDS:
            left.append(line)
    return left


def expected_levels(chroot):
    floor = RELEASES[(chroot.family, chroot.release)].x86_64_level
    present = sorted({level for _, level in CFG.cpu_x86_64}, key=cpu_levels.LEVELS.index)
    return [level for level in present if int(level[1:]) >= floor]


def expected_single(chroot, switches):
    names = ["ollama"]
    if chroot.arch == "x86_64":
        names += [f"ollama-ggml-cpu-x86_64-{level}" for level in expected_levels(chroot)]
    else:
        names.append("ollama-ggml-cpu")
    names += [f"ollama-ggml-{name}" for name, on in switches.items() if on]
    return names + ["ollama-debuginfo", "ollama-debugsource"]


def check_release_behaviour(chroot, result):
    """The parts of a main package that differ by release: %dist, the level floor, %pre."""
    release = RELEASES[(chroot.family, chroot.release)]
    dist = f".fc{release.number}" if chroot.family == "fedora" else f".el{release.number}"
    assert result.source["RELEASE"] == [f"{CFG.release}{dist}"]
    assert chroot.arch in result.source["EXCLUSIVEARCH"], result.source["EXCLUSIVEARCH"]
    if chroot.arch == "x86_64":
        # the level the spec read from the release's own flags: its -march floor
        assert f"-march=x86-64{'' if release.x86_64_level == 1 else f'-v{release.x86_64_level}'} " \
            in result.expanded.split("build-cpu", 1)[0]
        required = [line for line in result.expanded.splitlines() if line.startswith("Requires:")
                    and "ggml-cpu-x86_64-" in line]
        assert required == [f"Requires:       ollama-ggml-cpu-x86_64-{expected_levels(chroot)[0]}(x86-64) = "
                            f"{CFG.version}-{CFG.release}{dist}"], required
    if release.rpm_creates_sysusers:
        assert result.pre == "" and "shadow-utils" not in result.requires_pre
    else:
        # EL: %pre makes the account from sysusers/ollama.conf before the files owned by it
        assert "useradd -r -g 'ollama' -d '/var/lib/ollama'" in result.pre, result.pre
        assert "getent group 'ollama' >/dev/null || groupadd -r 'ollama'" in result.pre
        assert "shadow-utils" in result.requires_pre


@pytest.fixture(scope="module")
def split_specs(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("split") / "project")
    out = run_cli("render", "--layout", "split", cwd=project, check=True)
    return {Path(p).stem: Path(p) for p in out.stdout.split()}


@pytest.mark.parametrize("chroot,switches", CASES, ids=[case_id(c, s) for c, s in CASES])
def test_single_layout_in_every_chroot(rendered, tmp_path, chroot, switches):
    result = query(rendered, chroot, switches, tmp_path)
    assert not unexpanded(result.expanded), unexpanded(result.expanded)
    assert result.binary == expected_single(chroot, switches)
    check_release_behaviour(chroot, result)
    # the BuildRequires of exactly the backends switched on
    for backend in CFG.backends:
        if backend.name in switches:
            present = [br for br in backend.build_requires if br.split()[0] in result.source["BUILDREQUIRES"]]
            assert bool(present) is switches[backend.name], (backend.name, present)


@pytest.mark.parametrize("chroot", backends.offered_chroots(), ids=lambda c: c.name)
def test_split_layout_in_every_chroot(split_specs, tmp_path, chroot):
    main = query(split_specs["ollama"], chroot, {}, tmp_path)
    assert not unexpanded(main.expanded), unexpanded(main.expanded)
    assert main.binary == [n for n in expected_single(chroot, {}) if not n.startswith("ollama-ggml-") or "cpu" in n]
    check_release_behaviour(chroot, main)
    for backend in CFG.backends:
        spec = split_specs[f"ollama-ggml-{backend.name}"]
        if chroot.arch not in backend.arches:
            # the arch branch: ExclusiveArch leaves this arch out (a build here is refused)
            proc = _rpmspec(spec, chroot, standin.for_chroot(chroot.family, chroot.release,
                                                             tmp_path / "all.macros"), {}, "-q", "--srpm",
                            "--qf", "[%{EXCLUSIVEARCH} ]")
            assert chroot.arch not in _ok(proc, spec.name).split()
            continue
        if backends.refused(backend.name, chroot):
            proc = _rpmspec(spec, chroot, standin.for_chroot(chroot.family, chroot.release,
                                                             tmp_path / "all.macros"), {}, "-q")
            assert proc.returncode != 0 and "glibc 2.41" in proc.stderr, proc.stderr
            continue
        result = query(spec, chroot, {}, tmp_path)
        assert not unexpanded(result.expanded), (spec.name, unexpanded(result.expanded))
        assert result.binary[0] == f"ollama-ggml-{backend.name}"
        assert chroot.arch in result.source["EXCLUSIVEARCH"]


REFUSED = [(chroot, name) for chroot in backends.offered_chroots() for name in buildable(chroot.arch)
           if backends.refused(name, chroot)]


@pytest.mark.parametrize("chroot,name", REFUSED, ids=[f"{c.name}:{n}" for c, n in REFUSED])
def test_refused_backend_stops_the_build_with_its_reason(rendered, tmp_path, chroot, name):
    macros = standin.for_chroot(chroot.family, chroot.release, tmp_path / "all.macros")
    proc = _rpmspec(rendered, chroot, macros, {name: True}, "-q")
    assert proc.returncode != 0
    assert f"error: --with {name}: {backends.info(name).refused_reason}" in proc.stderr


def test_the_matrix_covers_every_offered_chroot():
    assert {c.name for c, _ in CASES} == {f"{family}-{release}-{arch}" for family, release in
                                          [("fedora", "43"), ("fedora", "44"), ("fedora", "rawhide"),
                                           ("epel", "9"), ("epel", "10")] for arch in ("x86_64", "aarch64")}
    # EL 9 x86_64 with CUDA 12 is one of them; Fedora never is
    assert any(c.name == "epel-9-x86_64" and s.get("cuda12") for c, s in CASES)
    assert not any(c.family == "fedora" and s.get("cuda12") for c, s in CASES)


def test_el9_standin_models_rpm_4_16_without_x86_64(rendered, tmp_path):
    """Without the spec's %{x86_64} fallback, EL 9 x86_64 takes the aarch64 branch
    and ExclusiveArch leaves x86_64 out: what the stand-in must catch."""
    text = rendered.read_text()
    fallback = "%if 0%{!?x86_64:1}\n%global x86_64 x86_64 x86_64_v2 x86_64_v3 x86_64_v4 amd64 em64t\n%endif\n"
    assert fallback in text
    broken = tmp_path / "ollama.spec"
    broken.write_text(text.replace(fallback, ""))
    chroot = RELEASES[("epel", "9")].chroot("x86_64")
    macros = standin.for_chroot("epel", "9", tmp_path / "el9.macros")
    names = _ok(_rpmspec(broken, chroot, macros, {}, "-q", "--qf", "%{NAME}\n"), "rpmspec -q").split()
    assert "ollama-ggml-cpu" in names and not [n for n in names if "x86_64-v" in n]
    arches = _ok(_rpmspec(broken, chroot, macros, {}, "-q", "--srpm", "--qf", "[%{EXCLUSIVEARCH} ]"), "srpm")
    assert "x86_64" not in arches.split()
    # and the intact spec, under the same macros, is right
    assert query(rendered, chroot, {}, tmp_path).binary == expected_single(chroot, {"rocm": True,
                                                                                     "vulkan": True})
