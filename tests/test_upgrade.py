"""Upgrading from Fedora's own split ollama to the built packages, with the real rpm.

Fedora ships ollama as a metapackage over ollama-base (/usr/bin/ollama and
ollama.service), ollama-rocm and ollama-vulkan. Small packages of that shape
(tests/fedora_shaped.py) are built with rpmbuild, installed into a scratch root
at file level (--noscripts; tests/test_lifecycle.py runs the scriptlets), and the fixture
RPMs (one session-wide build, conftest.fixture_rpms) are installed over them
with `rpm -U`, which applies Obsoletes: as dnf does. Without the
Provides/Obsoletes of packaging.yaml's `replaces`, ollama-base would stay and
its /usr/bin/ollama and ollama.service would conflict with the new ollama.
"""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import fedora_shaped
from e2e_support import VERSION, rpm_deps, rpm_names

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "rpm2cpio")),
                       reason="needs rpmbuild, go, cmake and rpm2cpio"),
]


@pytest.fixture(scope="module")
def fedora(tmp_path_factory):
    """Fedora's current package set (tests/fedora_shaped.py), built once."""
    return fedora_shaped.build(tmp_path_factory.mktemp("fedora-ollama"))


def rpm_root(root, *args):
    return subprocess.run(["rpm", "--root", str(root), *map(str, args)], capture_output=True, text=True)


def installed(root):
    out = rpm_root(root, "-qa", "--qf", "%{NAME} %{VERSION}\n").stdout
    return dict(line.split() for line in out.splitlines())


def new_rpms(fixture_rpms):
    return [r for r in fixture_rpms["rpms"] if "-debuginfo-" not in r.name and "-debugsource-" not in r.name]


def fedora_installed(root, rpms):
    """A scratch root with Fedora's package set in it. No glibc or systemd there:
    payload and rpm's own logic only (tests/test_lifecycle.py runs the scriptlets)."""
    assert rpm_root(root, "--initdb").returncode == 0
    old = rpm_root(root, "-i", "--nodeps", "--noscripts", *rpms)
    assert old.returncode == 0, old.stderr
    assert installed(root) == {name: fedora_shaped.VERSION for name in fedora_shaped.NAMES}
    return root


def test_fedora_names_are_provided_and_obsoleted(fixture_rpms):
    names = rpm_names(new_rpms(fixture_rpms))
    evr = f"{VERSION}-1.fc43"
    main = rpm_deps(names["ollama"], "--provides")
    assert f"ollama-base = {evr}" in main
    assert f"ollama-base < {evr}" in rpm_deps(names["ollama"], "--obsoletes")
    # Vulkan is built: its subpackage takes over ollama-vulkan.
    assert f"ollama-vulkan = {evr}" in rpm_deps(names["ollama-ggml-vulkan"], "--provides")
    assert f"ollama-vulkan < {evr}" in rpm_deps(names["ollama-ggml-vulkan"], "--obsoletes")
    # ROCm is not (--without rocm): the main package obsoletes ollama-rocm, without providing it.
    assert f"ollama-rocm < {evr}" in rpm_deps(names["ollama"], "--obsoletes")
    assert not [p for p in main if p.startswith("ollama-rocm")]


def test_upgrade_from_fedoras_layout_leaves_nothing_behind_and_keeps_the_models(fixture_rpms, fedora, tmp_path):
    root = fedora_installed(tmp_path / "root", fedora)
    old_files = [path for path in rpm_root(root, "-qla").stdout.split() if path.startswith("/")]
    assert "/usr/lib/ollama/libggml-base.so" in old_files and "/var/lib/ollama" in old_files
    # A pulled model, as the old service left it (not owned by any package).
    blob = root / fedora_shaped.MODELS_DIR / "blobs/sha256-0123"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"GGUF model bytes")
    manifest = root / fedora_shaped.MODELS_DIR / "manifests/registry.ollama.ai/library/tiny/latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    # `systemctl enable ollama` as done under the old package: a symlink nobody owns.
    wants = root / "etc/systemd/system/multi-user.target.wants/ollama.service"
    wants.parent.mkdir(parents=True)
    wants.symlink_to("/usr/lib/systemd/system/ollama.service")

    new = rpm_root(root, "-U", "--nodeps", "--noscripts", *new_rpms(fixture_rpms))
    assert new.returncode == 0, new.stdout + new.stderr              # no file conflicts
    now = installed(root)
    assert now["ollama"] == VERSION and not set(fedora_shaped.NAMES[1:]) & set(now), now
    assert "ollama-ggml-vulkan" in now
    # Nothing of Fedora's package set is left orphaned: each of its paths is gone or owned anew.
    orphans = []
    for path in old_files:
        if not os.path.lexists(root / path.lstrip("/")):
            continue
        owner = rpm_root(root, "-qf", "--qf", "%{NAME}\n", path)
        if owner.returncode != 0:
            orphans.append(path)
    assert orphans == [], orphans
    assert not (root / "usr/lib/ollama").exists()                     # the whole old library tree
    # The command is the new package's; what dnf resolves "ollama-base" to is too.
    assert rpm_root(root, "-qf", "--qf", "%{NAME}\n", "/usr/bin/ollama").stdout.split() == ["ollama"]
    assert "fedora ollama" not in (root / "usr/bin/ollama").read_bytes().decode("latin-1")
    assert rpm_root(root, "-q", "--whatprovides", "ollama-base", "--qf", "%{NAME}\n").stdout.split() == ["ollama"]
    # The account's definition and the state directory carry over, the models with it.
    assert rpm_root(root, "-qf", "--qf", "%{NAME}\n", "/usr/lib/sysusers.d/ollama.conf").stdout.split() == ["ollama"]
    assert rpm_root(root, "-qf", "--qf", "%{NAME}\n", "/var/lib/ollama").stdout.split() == ["ollama"]
    assert blob.read_bytes() == b"GGUF model bytes" and manifest.read_text() == "{}"
    assert (root / "usr/lib/systemd/system/ollama.service").is_file()
    # File level of "the unit stays enabled": the symlink survives and names the new unit,
    # at the same path, which is still wanted by multi-user.target.
    assert os.readlink(wants) == "/usr/lib/systemd/system/ollama.service"
    assert "WantedBy=multi-user.target" in (root / "usr/lib/systemd/system/ollama.service").read_text()
    # File level of "the account is kept": the same user name and home as Fedora's, so
    # systemd-sysusers (which never changes an existing account) leaves it as it is.
    users = [shlex.split(line) for line in (root / "usr/lib/sysusers.d/ollama.conf").read_text().splitlines()
             if line.startswith("u ")]
    assert [u[1] for u in users] == ["ollama"] and users[0][4] == "/var/lib/ollama"    # u NAME ID GECOS HOME


PLAIN_SPEC = f"""Name:           ollama
Version:        {VERSION}
Release:        1
Summary:        A new ollama that provides ollama-base but does not obsolete it
License:        MIT
BuildArch:      x86_64
Provides:       ollama-base
%global debug_package %{{nil}}
%description
Control.
%install
install -d %{{buildroot}}/usr/bin
echo new > %{{buildroot}}/usr/bin/ollama
%files
/usr/bin/ollama
"""


def test_without_obsoletes_the_upgrade_conflicts(fedora, tmp_path):
    # Control: what `rpm -U` does with a package that lacks the Obsoletes
    # (the old ollama-base stays and owns the same files).
    root = fedora_installed(tmp_path / "root", fedora)
    spec = tmp_path / "plain.spec"
    spec.write_text(PLAIN_SPEC)
    built = subprocess.run(["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {tmp_path / 'top'}", str(spec)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    plain = next(Path(tmp_path / "top" / "RPMS").rglob("ollama-*.rpm"))
    proc = rpm_root(root, "-U", "--nodeps", "--noscripts", plain)
    assert proc.returncode != 0
    assert "conflicts with file from package ollama-base" in proc.stderr
