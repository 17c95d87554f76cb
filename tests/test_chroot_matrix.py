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

from pathlib import Path

import pytest

import standin
from chroot_support import (
    CASES,
    CFG,
    RELEASES,
    buildable,
    case_id,
    check_release_behaviour,
    expected_single,
    ok,
    query,
    rpmspec,
    unexpanded,
)
from conftest import copy_project, run_cli
from ollama_rpm.specgen import backends

pytestmark = pytest.mark.slow   # rpmspec and the CLI as processes

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
            proc = rpmspec(spec, chroot, standin.for_chroot(chroot.family, chroot.release,
                                                             tmp_path / "all.macros"), {}, "-q", "--srpm",
                            "--qf", "[%{EXCLUSIVEARCH} ]")
            assert chroot.arch not in ok(proc, spec.name).split()
            continue
        if backends.refused(backend.name, chroot):
            # the source package can be made here (Copr makes EPEL's SRPMs on Fedora);
            # %prep stops the binary build with the reason before anything compiles
            macros = standin.for_chroot(chroot.family, chroot.release, tmp_path / "all.macros")
            ok(rpmspec(spec, chroot, macros, {}, "-q", "--srpm"), spec.name)
            prep = ok(rpmspec(spec, chroot, macros, {}, "-P"), spec.name).split("%prep", 1)[1]
            stop = prep.index(f"error: {spec.stem}: {backends.info(backend.name).refused_reason}")
            # (before %autosetup unpacks anything, so before any compile)
            assert "glibc 2.41" in prep and prep.index("exit 1", stop) < prep.index("rpmuncompress")
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
    proc = rpmspec(rendered, chroot, macros, {name: True}, "-q")
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
    names = ok(rpmspec(broken, chroot, macros, {}, "-q", "--qf", "%{NAME}\n"), "rpmspec -q").split()
    assert "ollama-ggml-cpu" in names and not [n for n in names if "x86_64-v" in n]
    arches = ok(rpmspec(broken, chroot, macros, {}, "-q", "--srpm", "--qf", "[%{EXCLUSIVEARCH} ]"), "srpm")
    assert "x86_64" not in arches.split()
    # and the intact spec, under the same macros, is right
    assert query(rendered, chroot, {}, tmp_path).binary == expected_single(chroot, {"rocm": True,
                                                                                     "vulkan": True})
