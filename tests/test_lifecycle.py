"""The packages' life on a machine, with their scriptlets run: install, use,
upgrade, roll back, remove, reinstall (tests/lifecycle_support.py has the
scratch root and the checks of each step; doc/lifecycle.md what they prove).

EL 9's behaviour: the fixture built with EPEL 9's macro stand-ins (so with the
%pre that creates the account), release N and N+1 (same version, release 2,
README.Fedora changed), installed by the host's rpm 4.18, which like EL 9's
4.16 creates no account from sysusers.d. Fedora's behaviour: small packages
with the rendered spec's scriptlets, units and sysusers file, built and
installed by the scratch root's own rpm 4.20, which creates the account
itself. A CPU level swap and the split layout's backend removal run on EPEL 9
builds too. Fedora's own package set (tests/fedora_shaped.py) is upgraded to the
session's fixture RPMs under Fedora's behaviour. Small packages with one
scriptlet deliberately broken show that each step's checks fail.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

import fedora_shaped
from conftest import STANDIN_MACROS, run_cli, write_yaml
from e2e_support import LIBDIR, VERSION, build_fixture_rpms, rpm_names
from lifecycle_support import (
    DROP_IN,
    Lifecycle,
    ScratchRoot,
    binary_rpms,
    build_small,
    cached_root,
    package_paths,
    real_scriptlets,
)
from standin import for_chroot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "rpm2cpio", "cpio", "chroot",
                                                         "unshare", "debootstrap")),
                       reason="needs rpmbuild, go, cmake, rpm2cpio, cpio, chroot, unshare and debootstrap"),
    pytest.mark.skipif(os.geteuid() != 0, reason="scriptlets run chrooted in the scratch root: needs root"),
]

N, N1 = f"{VERSION}-1.el9", f"{VERSION}-2.el9"
CLEAN = {"install": [], "use": [], "replace": [], "remove": [], "reinstall": []}


@pytest.fixture(scope="module")
def pristine():
    return cached_root()


@pytest.fixture(scope="module")
def el9_macros(tmp_path_factory):
    return for_chroot("epel", "9", tmp_path_factory.mktemp("el9") / "epel-9.macros")


def _bump(project, cfg):
    cfg["release"] = 2
    cfg["changelog"].insert(0, {"version": f"{VERSION}-2", "date": "2026-11-30",
                                "text": ["README.Fedora: a note on rolling back"]})
    readme = project / "doc" / "README.Fedora"
    readme.write_text(readme.read_text() + "\nRelease 2 of the lifecycle fixture.\n")
    write_yaml(project / "packaging.yaml", cfg)
    return cfg


@pytest.fixture(scope="module")
def el9_releases(tmp_path_factory, el9_macros):
    """The fixture as an EPEL 9 build (default backends minus ROCm), releases N and N+1."""
    builds = []
    try:
        for name, configure in (("n", None), ("n1", _bump)):
            builds.append(build_fixture_rpms(tmp_path_factory.mktemp(f"lifecycle-el9-{name}"), configure=configure,
                                             build_args=("--without", "rocm"), standin=el9_macros))
        yield [binary_rpms(b["rpms"]) for b in builds]
    finally:
        for build in builds:
            build["server"].stop()


def test_el9_install_upgrade_rollback_remove_reinstall(el9_releases, pristine, tmp_path):
    n, n1 = el9_releases
    assert set(rpm_names(n)) == set(rpm_names(n1))
    # EL 9 builds for x86-64-v2: no v1 level package (the spec drops the levels below the flags).
    assert "ollama-ggml-cpu-x86_64-v1" not in rpm_names(n) and "ollama-ggml-cpu-x86_64-v2" in rpm_names(n)
    root = ScratchRoot(pristine, tmp_path / "root")
    life = Lifecycle(root)
    readme = root.path / "usr/share/doc/ollama/README.Fedora"

    assert life.install(n) == []
    assert root.installed()["ollama"] == N
    assert life.use() == []
    assert root.owner("var/lib/ollama/models") == ("ollama", "ollama")

    assert life.replace(n1) == []                                   # upgrade
    assert set(root.installed().values()) == {N1}
    assert "Release 2 of the lifecycle fixture." in readme.read_text()

    assert life.replace(n, oldpackage=True) == []                   # roll back (dnf downgrade)
    assert set(root.installed().values()) == {N}
    assert "Release 2 of the lifecycle fixture." not in readme.read_text()

    assert life.remove(n) == []
    assert (root.path / "var/lib/ollama/models/blobs/sha256-0123456789abcdef").is_file()
    assert (root.path / DROP_IN).is_file()
    assert life.reinstall(n) == []
    # Each transaction ran the scriptlets: presets at each install, a restart
    # requested once per update, the units disabled once (at the removal).
    calls = root.helper_calls()
    assert calls.count("install-system-units ollama.service") == 2
    assert calls.count("mark-restart-system-units ollama.service") == 2
    assert calls.count("remove-system-units ollama.service") == 1


def test_cpu_level_swap_keeps_the_service(el9_releases, pristine, tmp_path):
    # dnf swap ollama-ggml-cpu-x86_64-v2 ollama-ggml-cpu-x86_64-v4: ollama itself is not touched.
    names = rpm_names(el9_releases[0])
    root = ScratchRoot(pristine, tmp_path / "root")
    life = Lifecycle(root)
    assert life.install([names["ollama"], names["ollama-ggml-cpu-x86_64-v2"]]) == []
    assert life.use() == []
    mark = len(root.helper_calls())
    v2 = package_paths([names["ollama-ggml-cpu-x86_64-v2"]])
    v4 = package_paths([names["ollama-ggml-cpu-x86_64-v4"]])
    assert root.rpm("-i", "--nodeps", names["ollama-ggml-cpu-x86_64-v4"]).returncode == 0
    assert root.rpm("-e", "--nodeps", "ollama-ggml-cpu-x86_64-v2").returncode == 0
    assert root.leftovers(v2 - root.installed_paths()) == []        # (the directories ollama owns too stay)
    assert root.missing(v4) == []
    assert set(root.installed()) == {"ollama", "ollama-ggml-cpu-x86_64-v4"}
    assert root.helper_calls()[mark:] == []                          # no scriptlet of ollama ran
    assert root.unit_state() == "enabled"
    assert life.kept() == [] and root.verify() == []


@pytest.fixture(scope="module")
def el9_split(tmp_path_factory, el9_macros):
    """The fixture in the split layout as an EPEL 9 build: ollama (and its CPU
    level packages) and ollama-ggml-vulkan from two SRPMs."""
    result = build_fixture_rpms(tmp_path_factory.mktemp("lifecycle-el9-split"), build_args=("--without", "rocm"),
                                layout="split", standin=el9_macros)
    yield result
    result["server"].stop()


def test_split_layout_backend_removal_keeps_the_server_on_cpu(el9_split, pristine, tmp_path):
    rpms = binary_rpms(el9_split["rpms"])
    assert {"ollama", "ollama-ggml-vulkan"} <= set(rpm_names(rpms))
    root = ScratchRoot(pristine, tmp_path / "root")
    life = Lifecycle(root)
    assert life.install(rpms) == []
    assert life.use() == []
    assert (root.path / LIBDIR.lstrip("/") / "vulkan/libggml-vulkan.so").is_file()
    mark = len(root.helper_calls())
    proc = root.rpm("-e", "--nodeps", "ollama-ggml-vulkan")
    assert proc.returncode == 0, proc.stderr
    assert not (root.path / LIBDIR.lstrip("/") / "vulkan").exists()
    assert root.helper_calls()[mark:] == [] and root.unit_state() == "enabled"
    assert life.kept() == [] and root.verify() == []
    # What is left installed is exactly these packages (rpm -V is clean): the
    # server runs from them on the CPU alone.
    left = [r for r in rpms if rpm_names([r]).keys() <= set(root.installed())]
    assert "ollama-ggml-vulkan" not in rpm_names(left) and "ollama" in rpm_names(left)
    proc = run_cli("smoke", "--engine", "rootfs", "--json", "--timeout", "60", *left, env=el9_split["env"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["gpu"] == [] and "ollama-ggml-vulkan" not in report["packages"]
    assert report["server_version"] == VERSION


# --- from Fedora's own packages to ours, scriptlets run ----------------------------------------

def test_upgrade_from_fedoras_packages_keeps_account_models_and_enablement(fixture_rpms, pristine, tmp_path):
    """Fedora's ollama 0.24.0-4 set (tests/fedora_shaped.py: ollama over ollama-base,
    -rocm, -vulkan under /usr/lib/ollama, with Fedora's scriptlets) built and installed
    by the root's own rpm 4.20, which creates the account from its sysusers file as
    Fedora's rpm does; used as an admin would; then the fixture RPMs (the session's
    Fedora build) installed over it with `rpm -U`, as `dnf upgrade` would, every
    scriptlet run. Fedora's ollama-base is erased as obsoleted: its %preun sees $1 = 0
    and disables ollama.service, so the unit stays enabled only thanks to our
    triggers on ollama-base."""
    ours = binary_rpms(fixture_rpms["rpms"])
    root = ScratchRoot(pristine, tmp_path / "root", native=True)
    spec = root.path / "tmp" / "fedora" / "ollama.spec"
    spec.parent.mkdir(parents=True)
    spec.write_text(fedora_shaped.spec_text())
    proc = root.rpmbuild(spec, STANDIN_MACROS)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    fedora = fedora_shaped.built(spec.parent)
    assert "user(ollama)" in " ".join(root.rpm("-qp", "--provides", rpm_names(fedora)["ollama-base"]).stdout.split())

    proc = root.rpm("-i", "--nodeps", *fedora)
    assert proc.returncode == 0 and "scriptlet failed" not in proc.stderr, proc.stderr
    assert root.installed() == {name: f"{fedora_shaped.VERSION}-{fedora_shaped.RELEASE}" for name in fedora_shaped.NAMES}
    assert root.helper_calls() == ["install-system-units ollama.service"]      # Fedora's %post: the preset
    user, group = root.account("ollama"), root.account("ollama", "group")
    assert user is not None and group is not None and user[3] == group[2], (user, group)
    fedora_paths = root.installed_paths()
    # The admin: a model pulled where Fedora's service keeps them ($HOME/.ollama/models),
    # then Lifecycle.use: a drop-in, `systemctl enable ollama.service` and a model where
    # our unit keeps them (/var/lib/ollama/models), both written as the service account.
    fedora_model = f"/{fedora_shaped.MODELS_DIR}/blobs/sha256-fedora"
    proc = root.as_service(f"mkdir -p $(dirname {fedora_model}) && printf 'GGUF from Fedora' > {fedora_model}")
    assert proc.returncode == 0, proc.stderr
    life = Lifecycle(root)
    assert life.use() == []
    assert fedora_model.lstrip("/") in life.user_data and "var/lib/ollama/models/blobs" in life.user_data
    wants = root.path / "etc/systemd/system/multi-user.target.wants/ollama.service"
    assert os.path.lexists(wants)
    mark = len(root.helper_calls())

    proc = root.rpm("-U", "--nodeps", *ours)
    assert proc.returncode == 0, proc.stdout + proc.stderr                  # no file conflicts
    assert "scriptlet failed" not in proc.stderr and "warning" not in proc.stderr, proc.stderr
    # Obsoletes: only our packages are left, and nothing of Fedora's on disk without an owner.
    assert root.installed() == {name: f"{VERSION}-1.fc43" for name in rpm_names(ours)}
    assert root.leftovers(fedora_paths - package_paths(ours)) == []
    assert not (root.path / "usr/lib/ollama").exists()
    # The account and group keep their IDs; the state directory, both models, the key and
    # the drop-in are as they were, owned by the account.
    assert (root.account("ollama"), root.account("ollama", "group")) == (user, group)
    assert life.kept() == []
    for path in ("var/lib/ollama", "var/lib/ollama/.ollama/models", "var/lib/ollama/models"):
        assert root.owner(path) == ("ollama", "ollama"), path
    # Fedora's %preun ran (it disabled the unit), and the unit is enabled again.
    assert root.helper_calls()[mark:] == ["remove-system-units ollama.service"]
    assert root.unit_state() == "enabled" and os.path.lexists(wants)
    assert not os.path.lexists(root.path / "var/lib/rpm-state/ollama.service-enabled")     # the triggers' note
    assert root.verify() == []


# --- small packages: the rendered scriptlets under both rpm behaviours, and broken ones ------

def _small(family, spec, scriptlets, pristine, tmp_path, el9_macros):
    """(root, N, N+1) for a small package: el9 built and installed by the host's rpm
    with EPEL 9's macros; fedora built and installed by the root's own rpm 4.20."""
    native = family == "fedora"
    root = ScratchRoot(pristine, tmp_path / "root", native=native)
    where = root.path / "tmp" if native else tmp_path
    macros = STANDIN_MACROS if native else el9_macros
    built_in = root if native else None
    return (root, build_small(spec, where / "n", 1, scriptlets, macros, root=built_in),
            build_small(spec, where / "n1", 2, scriptlets, macros, root=built_in))


def _small_lifecycle(root, n, n1) -> dict[str, list[str]]:
    life = Lifecycle(root)
    found = {"install": life.install([n])}
    found["use"] = life.use()
    found["replace"] = life.replace([n1]) + life.replace([n], oldpackage=True)
    found["remove"] = life.remove([n])
    found["reinstall"] = life.reinstall([n])
    return found


@pytest.mark.parametrize("family", ["el9", "fedora"])
def test_small_packages_with_the_real_scriptlets_pass(family, rendered, pristine, tmp_path, el9_macros):
    """el9: the account from %pre (%sysusers_create_compat). fedora: no %pre; the
    root's rpmbuild turns ollama.conf into user()/group() provides and the root's
    rpm creates the account from them, as Fedora's rpm 6 does. Also the control
    for the broken packages below."""
    spec = rendered.read_text()
    root, n, n1 = _small(family, spec, real_scriptlets(spec), pristine, tmp_path, el9_macros)
    provides = root.rpm("-qp", "--provides", n).stdout.splitlines()
    scripts = root.rpm("-qp", "--scripts", n).stdout
    if family == "fedora":
        assert any(p.startswith("user(ollama) = ") for p in provides), provides
        assert "useradd" not in scripts
    else:
        assert not any(p.startswith("user(") for p in provides), provides
        assert "useradd -r -g 'ollama' -d '/var/lib/ollama'" in scripts
    assert _small_lifecycle(root, n, n1) == CLEAN
    user = root.account("ollama")
    assert user[4:] == ["Ollama LLM server", "/var/lib/ollama", "/usr/sbin/nologin"], user


BROKEN = {
    # %preun disables the unit on every update, not only on removal (the helper
    # called by hand, without %systemd_preun's "$1 -eq 0").
    "preun-disables-on-update": (
        lambda s: s.replace("%systemd_preun ollama.service",
                            "/usr/lib/systemd/systemd-update-helper remove-system-units ollama.service || :", 1),
        "replace", "not enabled"),
    # %postun deletes the state directory, the models with it.
    "postun-deletes-models": (
        lambda s: s.replace("%postun\n", "%postun\nif [ $1 -eq 0 ]; then rm -rf /var/lib/ollama; fi\n", 1),
        "remove", "/var/lib/ollama is gone"),
    # %pre without the account: where rpm does not create it (EL 9), nobody does.
    "no-account-in-pre": (
        lambda s: re.sub(r"(?m)^%sysusers_create_compat .*$", ": no account", s, count=1),
        "install", "no ollama account"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_scriptlet_fails_the_lifecycle(name, rendered, pristine, tmp_path, el9_macros):
    spec = rendered.read_text()
    breaks, step, message = BROKEN[name]
    broken = breaks(real_scriptlets(spec))
    assert broken != real_scriptlets(spec), f"{name}: the breakage did not apply to the rendered scriptlets"
    found = _small_lifecycle(*_small("el9", spec, broken, pristine, tmp_path, el9_macros))
    assert any(message in problem for problem in found[step]), found


SHARED_PREFIX_SPEC = """\
Name: prefix
Version: 1
Release: 1
Summary: Two subpackages whose binaries' build-ids start alike
License: MIT
%global debug_package %{nil}
%global _build_id_links compat
%description
Two subpackages whose binaries' build-ids start alike.
%package first
Summary: first
%description first
first
%package second
Summary: second
%description second
second
%build
printf 'int main(void){return 0;}\\n' > m.c
gcc -Wl,--build-id=0x74aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa m.c -o first
gcc -Wl,--build-id=0x74bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb m.c -o second
%install
install -D first %{buildroot}/usr/bin/prefix-first
install -D second %{buildroot}/usr/bin/prefix-second
%files first
/usr/bin/prefix-first
%files second
/usr/bin/prefix-second
"""


def test_build_id_subdir_kept_by_another_package_is_no_leftover(pristine, tmp_path):
    # rpmbuild gives /usr/lib/.build-id/74 to the first subpackage only; erasing
    # it leaves the directory, unowned, holding the second one's link.
    top = tmp_path / "top"
    spec = top / "prefix.spec"
    top.mkdir()
    spec.write_text(SHARED_PREFIX_SPEC)
    built = subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    first, second = (top / "RPMS" / "x86_64" / f"prefix-{n}-1-1.x86_64.rpm" for n in ("first", "second"))
    assert "/usr/lib/.build-id/74" in package_paths([first])
    assert "/usr/lib/.build-id/74" not in package_paths([second])      # rpm's quirk, as it is
    root = ScratchRoot(pristine, tmp_path / "root")
    assert root.rpm("-i", "--nodeps", first, second).returncode == 0
    assert root.rpm("-e", "--nodeps", "prefix-first").returncode == 0
    assert (root.path / "usr/lib/.build-id/74").is_dir()
    assert root.leftovers(package_paths([first]) - root.installed_paths()) == []
    # A file nobody owns in that directory is a leftover again.
    (root.path / "usr/lib/.build-id/74/stray").write_text("")
    assert root.leftovers(package_paths([first]) - root.installed_paths()) == ["/usr/lib/.build-id/74"]
