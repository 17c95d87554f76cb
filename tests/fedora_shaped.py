"""Small packages shaped like Fedora's own ollama package set, for the upgrade tests.

Fedora's rpms/ollama 0.24.0-4 (issue 24): a metapackage `ollama` over `ollama-base`
(/usr/bin/ollama, ollama.service, the sysusers file), `ollama-rocm` and
`ollama-vulkan`, everything under /usr/lib/ollama (v0.24.0 still built ggml in-tree:
the base and CPU variant libraries next to the runner directories). Its scriptlets
are Fedora's: no %pre (on Fedora >= 42 rpm creates the account from the sysusers
file), %systemd_post/%systemd_preun/%systemd_postun_with_restart on ollama-base.
The unit is modelled: Fedora's sets HOME=/var/lib/ollama and leaves OLLAMA_MODELS
at Ollama's default, $HOME/.ollama/models. Stub payloads: what rpm compares.

tests/test_upgrade.py installs them at file level (host rpm, --noscripts);
tests/test_lifecycle.py builds and installs them with the lifecycle root's own rpm,
scriptlets run.
"""

import subprocess
from pathlib import Path

from conftest import STANDIN_MACROS
from e2e_support import rpm_names

VERSION, RELEASE = "0.24.0", "4.fc43"
NAMES = ("ollama", "ollama-base", "ollama-rocm", "ollama-vulkan")
LIBS = ("libggml-base.so", "libggml-cpu-x64.so", "libggml-cpu-sse42.so", "libggml-cpu-sandybridge.so",
        "libggml-cpu-haswell.so", "libggml-cpu-alderlake.so", "libggml-cpu-skylakex.so", "libggml-cpu-icelake.so")
# Where Fedora's service keeps the models: Ollama's default under the unit's HOME.
MODELS_DIR = "var/lib/ollama/.ollama/models"
UNIT = """[Unit]
Description=Ollama (stand-in for Fedora's unit)
After=network-online.target
[Service]
ExecStart=/usr/bin/ollama serve
User=ollama
Group=ollama
Environment=HOME=/var/lib/ollama
[Install]
WantedBy=multi-user.target
"""

SPEC = """Name:           ollama
Version:        {version}
Release:        {release}
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
The ollama command, its libraries and its system service.

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
cd %{{buildroot}}
install -d usr/bin usr/lib/systemd/system usr/lib/sysusers.d usr/lib/ollama/rocm usr/lib/ollama/vulkan \\
    var/lib/ollama usr/share/licenses/ollama-base
printf '#!/bin/sh\\necho fedora ollama\\n' > usr/bin/ollama
chmod 0755 usr/bin/ollama
cat > usr/lib/systemd/system/ollama.service <<'EOF'
{unit}EOF
echo 'u ollama - "Ollama" /var/lib/ollama' > usr/lib/sysusers.d/ollama.conf
for lib in {libs}; do echo cpu > usr/lib/ollama/$lib; done
echo rocm > usr/lib/ollama/rocm/libggml-hip.so
echo vulkan > usr/lib/ollama/vulkan/libggml-vulkan.so
echo MIT > usr/share/licenses/ollama-base/LICENSE

%post base
%systemd_post ollama.service

%preun base
%systemd_preun ollama.service

%postun base
%systemd_postun_with_restart ollama.service

%files

%files base
%license /usr/share/licenses/ollama-base/LICENSE
/usr/bin/ollama
/usr/lib/systemd/system/ollama.service
/usr/lib/sysusers.d/ollama.conf
%dir /usr/lib/ollama
{lib_files}
%attr(0750,ollama,ollama) %dir /var/lib/ollama

%files rocm
/usr/lib/ollama/rocm/

%files vulkan
/usr/lib/ollama/vulkan/

%changelog
* Mon Nov 23 2026 Test <test@example.org> - {version}-{release}
- Stand-in
"""


def spec_text() -> str:
    return SPEC.format(version=VERSION, release=RELEASE, unit=UNIT, libs=" ".join(LIBS),
                       lib_files="\n".join(f"/usr/lib/ollama/{lib}" for lib in LIBS))


def build(where: Path) -> list[Path]:
    """Fedora's package set, built by the host's rpmbuild with Fedora's macro stand-ins."""
    where.mkdir(parents=True, exist_ok=True)
    spec = where / "ollama.spec"
    spec.write_text(spec_text())
    proc = subprocess.run(["rpmbuild", "-bb", "--nodeps", "--load", str(STANDIN_MACROS),
                           "--define", f"_topdir {where / 'top'}", str(spec)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return built(where / "top")


def built(topdir: Path) -> list[Path]:
    """The four RPMs rpmbuild left under `topdir`."""
    rpms = sorted((topdir / "RPMS").rglob("*.rpm"))
    assert sorted(rpm_names(rpms)) == sorted(NAMES)
    return rpms
