"""Upgrading from Fedora's own split ollama to the built packages, with the real rpm.

Fedora ships ollama as a metapackage over ollama-base (/usr/bin/ollama and
ollama.service), ollama-rocm and ollama-vulkan. Small packages of that shape
are built here with rpmbuild, installed into a scratch root, and the fixture
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

from e2e_support import VERSION, rpm_deps, rpm_names

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "rpm2cpio")),
                       reason="needs rpmbuild, go, cmake and rpm2cpio"),
]

# An older Fedora build, as `rpm -q` would show it.
OLD_VERSION, OLD_RELEASE = "0.19.0", "1.fc43"

FEDORA_SHAPED_SPEC = f"""Name:           ollama
Version:        {OLD_VERSION}
Release:        {OLD_RELEASE}
Summary:        Stand-in for Fedora's ollama metapackage
License:        MIT
BuildArch:      x86_64
Requires:       ollama-base = %{{version}}-%{{release}}
Recommends:     ollama-rocm = %{{version}}-%{{release}}
Recommends:     ollama-vulkan = %{{version}}-%{{release}}
%global debug_package %{{nil}}

%description
Metapackage, shaped like Fedora's ollama.

%package base
Summary:        Stand-in for Fedora's ollama-base
%description base
The ollama command and its system service.

%package rocm
Summary:        Stand-in for Fedora's ollama-rocm
Requires:       ollama-base = %{{version}}-%{{release}}
%description rocm
ROCm backend.

%package vulkan
Summary:        Stand-in for Fedora's ollama-vulkan
Requires:       ollama-base = %{{version}}-%{{release}}
%description vulkan
Vulkan backend.

%install
install -d %{{buildroot}}/usr/bin %{{buildroot}}/usr/lib/systemd/system \\
    %{{buildroot}}/usr/lib/ollama/rocm %{{buildroot}}/usr/lib/ollama/vulkan
printf '#!/bin/sh\\necho fedora ollama\\n' > %{{buildroot}}/usr/bin/ollama
chmod 0755 %{{buildroot}}/usr/bin/ollama
printf '[Service]\\nExecStart=/usr/bin/ollama serve\\n' > %{{buildroot}}/usr/lib/systemd/system/ollama.service
echo rocm > %{{buildroot}}/usr/lib/ollama/rocm/libggml-hip.so
echo vulkan > %{{buildroot}}/usr/lib/ollama/vulkan/libggml-vulkan.so

%files

%files base
/usr/bin/ollama
/usr/lib/systemd/system/ollama.service

%files rocm
/usr/lib/ollama/rocm/

%files vulkan
/usr/lib/ollama/vulkan/

%changelog
* Mon Nov 23 2026 Test <test@example.org> - {OLD_VERSION}-{OLD_RELEASE}
- Stand-in
"""

OLD_NAMES = ("ollama", "ollama-base", "ollama-rocm", "ollama-vulkan")


@pytest.fixture(scope="module")
def fedora_split(tmp_path_factory):
    where = tmp_path_factory.mktemp("fedora-ollama")
    spec = where / "ollama.spec"
    spec.write_text(FEDORA_SHAPED_SPEC)
    proc = subprocess.run(["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {where / 'top'}", str(spec)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rpms = sorted((where / "top" / "RPMS").rglob("*.rpm"))
    assert sorted(rpm_names(rpms)) == sorted(OLD_NAMES)
    return rpms


def rpm_root(root, *args):
    return subprocess.run(["rpm", "--root", str(root), *map(str, args)], capture_output=True, text=True)


def installed(root):
    out = rpm_root(root, "-qa", "--qf", "%{NAME} %{VERSION}\n").stdout
    return dict(line.split() for line in out.splitlines())


def new_rpms(fixture_rpms):
    return [r for r in fixture_rpms["rpms"] if "-debuginfo-" not in r.name and "-debugsource-" not in r.name]


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


def test_rpm_upgrade_replaces_fedora_split_packages(fixture_rpms, fedora_split, tmp_path):
    root = tmp_path / "root"
    assert rpm_root(root, "--initdb").returncode == 0
    # No glibc or systemd in the scratch root: payload and rpm's own logic only.
    old = rpm_root(root, "-i", "--nodeps", "--noscripts", *fedora_split)
    assert old.returncode == 0, old.stderr
    assert set(installed(root)) == set(OLD_NAMES)

    new = rpm_root(root, "-U", "--nodeps", "--noscripts", *new_rpms(fixture_rpms))
    assert new.returncode == 0, new.stdout + new.stderr          # no file conflicts
    now = installed(root)
    assert now["ollama"] == VERSION
    for gone in ("ollama-base", "ollama-rocm", "ollama-vulkan"):
        assert gone not in now, now
    assert "ollama-ggml-vulkan" in now
    # The files now belong to the new packages; the old backend trees are gone.
    owner = rpm_root(root, "-qf", "--qf", "%{NAME}\n", "/usr/bin/ollama").stdout.split()
    assert owner == ["ollama"]
    assert "fedora ollama" not in (root / "usr/bin/ollama").read_bytes().decode("latin-1")
    assert not (root / "usr/lib/ollama/rocm").exists()
    assert not (root / "usr/lib/ollama/vulkan").exists()
    # What dnf resolves "ollama-base" to is now the new package.
    assert rpm_root(root, "-q", "--whatprovides", "ollama-base", "--qf", "%{NAME}\n").stdout.split() == ["ollama"]


def test_without_obsoletes_the_upgrade_conflicts(fedora_split, tmp_path):
    # Control: what `rpm -U` does with a package that lacks the Obsoletes
    # (the old ollama-base stays and owns the same files).
    root = tmp_path / "root"
    assert rpm_root(root, "--initdb").returncode == 0
    assert rpm_root(root, "-i", "--nodeps", "--noscripts", *fedora_split).returncode == 0
    spec = tmp_path / "plain.spec"
    spec.write_text(FEDORA_SHAPED_SPEC.replace(f"Version:        {OLD_VERSION}", f"Version:        {VERSION}")
                    .replace("Name:           ollama", "Name:           ollama\nProvides:       ollama-base")
                    .split("%package base")[0]
                    + "%install\ninstall -d %{buildroot}/usr/bin\necho new > %{buildroot}/usr/bin/ollama\n"
                      "%files\n/usr/bin/ollama\n")
    built = subprocess.run(["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {tmp_path / 'top'}", str(spec)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    plain = next(Path(tmp_path / "top" / "RPMS").rglob("ollama-*.rpm"))
    proc = rpm_root(root, "-U", "--nodeps", "--noscripts", plain)
    assert proc.returncode != 0
    assert "conflicts with file from package ollama-base" in proc.stderr


# ---- Fedora's current package set: 0.24.0-4 and its file layout -----------------------

# Fedora 45's ollama 0.24.0-4 as last seen (doc/verification.md): the same four names,
# everything under /usr/lib/ollama (v0.24.0 still built ggml in-tree: the base and
# CPU variant libraries next to the runner directories), its own sysusers file and
# state directory, the unit in ollama-base. Payload only: what rpm -U compares.
FEDORA_CURRENT = ("0.24.0", "4.fc45")
FEDORA_LIBS = ("libggml-base.so", "libggml-cpu-x64.so", "libggml-cpu-sse42.so", "libggml-cpu-sandybridge.so",
               "libggml-cpu-haswell.so", "libggml-cpu-alderlake.so", "libggml-cpu-skylakex.so",
               "libggml-cpu-icelake.so")
FEDORA_CURRENT_SPEC = FEDORA_SHAPED_SPEC.replace(f"Version:        {OLD_VERSION}", f"Version:        {FEDORA_CURRENT[0]}") \
    .replace(f"Release:        {OLD_RELEASE}", f"Release:        {FEDORA_CURRENT[1]}") \
    .replace("echo rocm > %{buildroot}/usr/lib/ollama/rocm/libggml-hip.so\n",
             "echo rocm > %{buildroot}/usr/lib/ollama/rocm/libggml-hip.so\n"
             + "".join(f"echo cpu > %{{buildroot}}/usr/lib/ollama/{lib}\n" for lib in FEDORA_LIBS)
             + "install -d %{buildroot}/usr/lib/sysusers.d %{buildroot}/var/lib/ollama "
               "%{buildroot}/usr/share/licenses/ollama-base\n"
               "echo 'u ollama - \"Ollama\" /var/lib/ollama' > %{buildroot}/usr/lib/sysusers.d/ollama.conf\n"
               "echo MIT > %{buildroot}/usr/share/licenses/ollama-base/LICENSE\n") \
    .replace("%files base\n/usr/bin/ollama\n/usr/lib/systemd/system/ollama.service\n",
             "%files base\n/usr/bin/ollama\n/usr/lib/systemd/system/ollama.service\n%dir /usr/lib/ollama\n"
             + "".join(f"/usr/lib/ollama/{lib}\n" for lib in FEDORA_LIBS)
             + "/usr/lib/sysusers.d/ollama.conf\n%license /usr/share/licenses/ollama-base/LICENSE\n"
               "%attr(0750,ollama,ollama) %dir /var/lib/ollama\n")


@pytest.fixture(scope="module")
def fedora_current(tmp_path_factory):
    where = tmp_path_factory.mktemp("fedora-ollama-0.24")
    spec = where / "ollama.spec"
    spec.write_text(FEDORA_CURRENT_SPEC)
    proc = subprocess.run(["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {where / 'top'}", str(spec)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rpms = sorted((where / "top" / "RPMS").rglob("*.rpm"))
    assert sorted(rpm_names(rpms)) == sorted(OLD_NAMES)
    return rpms


def test_upgrade_from_fedoras_current_layout_leaves_nothing_behind_and_keeps_the_models(
        fixture_rpms, fedora_current, tmp_path):
    root = tmp_path / "root"
    assert rpm_root(root, "--initdb").returncode == 0
    old = rpm_root(root, "-i", "--nodeps", "--noscripts", *fedora_current)
    assert old.returncode == 0, old.stderr
    assert installed(root) == {name: FEDORA_CURRENT[0] for name in OLD_NAMES}
    old_files = [path for path in rpm_root(root, "-qla").stdout.split() if path.startswith("/")]
    assert "/usr/lib/ollama/libggml-base.so" in old_files and "/var/lib/ollama" in old_files
    # A pulled model, as the old service left it (not owned by any package).
    blob = root / "var/lib/ollama/models/blobs/sha256-0123"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"GGUF model bytes")
    manifest = root / "var/lib/ollama/models/manifests/registry.ollama.ai/library/tiny/latest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    # `systemctl enable ollama` as done under the old package: a symlink nobody owns.
    wants = root / "etc/systemd/system/multi-user.target.wants/ollama.service"
    wants.parent.mkdir(parents=True)
    wants.symlink_to("/usr/lib/systemd/system/ollama.service")

    new = rpm_root(root, "-U", "--nodeps", "--noscripts", *new_rpms(fixture_rpms))
    assert new.returncode == 0, new.stdout + new.stderr              # no file conflicts
    now = installed(root)
    assert now["ollama"] == VERSION and not set(OLD_NAMES[1:]) & set(now), now
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
