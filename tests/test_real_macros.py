"""The chroot matrix under the REAL macro files, where they have been fetched.

Runs only where OLLAMA_RPM_REAL_MACROS names a directory holding these public git
repositories as the session's `fetch` tool lays them out (OWNER+NAME/repo, bare),
never committed here; elsewhere (CI) the group is skipped with that reason:

- rpm-software-management+rpm: rpm's own macros.in at the tag of the rpm each
  release ships (EL 9: 4.16.1, EL 10: 4.19.1, Fedora 43/44/rawhide: 6.0.1), its
  @build-time@ paths filled in from the host rpm's macros file, and its
  %{getncpus proc|thread} (rpm >= 4.19) as the host's 4.18 takes it, bare;
- pepone+redhat-rpm-config: Fedora's redhat-rpm-config (its `macros`, and the
  `optflags` line of its `rpmrc` for the target arch), with %fedora or %rhel
  set to the release (it switches -march itself: RHEL 9 v2, RHEL 10 v3);
- yuwata+systemd-fedora: Fedora's systemd dist-git, whose macros.sysusers
  (Fedora >= 42: empty) or macros.sysusers.compat with the real
  sysusers.generate-pre.sh (EL) systemd.spec installs per release.

The packages no public git repository here holds (cmake-rpm-macros,
go-rpm-macros, go-vendor-tools, systemd's unit macros, ROCm's) keep their
stand-ins (tests/support/fedora-macros.standin, the sections not replaced
above). The commits are recorded in doc/verification.md ("Chroot matrix").
The checks are those of test_chroot_matrix.py (tests/chroot_support.py).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

import standin
from chroot_support import (
    CASES,
    RELEASES,
    case_id,
    check_release_behaviour,
    expected_single,
    query,
    rpmspec,
    unexpanded,
)
from ollama_rpm.specgen import backends

MACROS_ENV = "OLLAMA_RPM_REAL_MACROS"
RPM_REPO = "rpm-software-management+rpm"
REDHAT_REPO = "pepone+redhat-rpm-config"
SYSTEMD_REPO = "yuwata+systemd-fedora"
#: the rpm release each family ships, as a tag of rpm's repository
RPM_TAGS = {"4.16": "rpm-4.16.1-release", "4.19": "rpm-4.19.1-release", "6.0": "rpm-6.0.1-release"}
#: where Debian's rpm keeps what @name@ stands for in macros.in, when its own macros file lacks the macro
BUILD_PATHS = {"sysusersdir": "/usr/lib/sysusers.d", "RPMCONFIGDIR": "/usr/lib/rpm", "prefix": "/usr",
               "localstatedir": "/var"}


def _root():
    directory = os.environ.get(MACROS_ENV)
    return Path(directory) if directory else None


def _skip_reason():
    root = _root()
    if root is None:
        return f"{MACROS_ENV} is not set: no fetched macro repositories (rpm, redhat-rpm-config, systemd-fedora)"
    missing = [name for name in (RPM_REPO, REDHAT_REPO, SYSTEMD_REPO) if not (root / name / "repo").is_dir()]
    if missing:
        return f"{MACROS_ENV}={root} lacks {', '.join(missing)} (bring them with the fetch tool)"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")]


def _git(repo, *args):
    return subprocess.run(["git", "--git-dir", str(_root() / repo / "repo"), *args], capture_output=True,
                          text=True, check=True).stdout


def commits():
    """{repository: commit} of what this group reads (doc/verification.md records them)."""
    result = {tag: _git(RPM_REPO, "rev-parse", f"{tag}^{{commit}}").strip() for tag in RPM_TAGS.values()}
    result[REDHAT_REPO] = _git(REDHAT_REPO, "rev-parse", "HEAD").strip()
    result[SYSTEMD_REPO] = _git(SYSTEMD_REPO, "rev-parse", "HEAD").strip()
    return result


def _host_macro_values():
    values = {}
    for line in Path("/usr/lib/rpm/macros").read_text().splitlines():
        match = re.match(r"%(\w+)\s+(.*)$", line)
        if match:
            values.setdefault(match.group(1), match.group(2))
    return values


def _definitions(text):
    """[(name or None, lines)] of a macro file: a definition with its continuation
    lines (ending in a backslash, or inside an open brace); None for the rest."""
    result, depth = [], 0
    for line in text.splitlines():
        match = re.match(r"%(\w+)", line)
        continued = result and result[-1][0] is not None and (depth > 0 or result[-1][1][-1].endswith("\\"))
        if continued:
            result[-1][1].append(line)
        else:
            result.append((match.group(1) if match else None, [line]))
            depth = 0
        depth += line.count("{") - line.count("}")
    return result


def _platform_names(arch):
    """What `--target ARCH` defines from the host's platform macros (%_lib, %_arch...)."""
    names = {"_arch", "_os", "_vendor", "_gnu", "_host", "_host_alias", "_host_cpu", "_host_os", "_host_vendor",
             "_target", "_target_alias", "_target_cpu", "_target_os", "_target_vendor", "_target_platform",
             "_build", "_build_alias", "_build_cpu", "_build_os", "_build_vendor"}
    platform = Path(f"/usr/lib/rpm/platform/{arch}-linux/macros")
    if platform.exists():
        names |= {name for name, _ in _definitions(platform.read_text()) if name}
    return names


def rpm_macros(version, arch):
    """rpm's macros.in of `version`, without what the target's platform file sets
    (loaded after --target, it would undo it), its @name@ placeholders filled in:
    a definition `%name @X@` takes the host rpm's value of %name, else BUILD_PATHS."""
    host = _host_macro_values()
    skip = _platform_names(arch)
    lines = []
    for name, body in _definitions(_git(RPM_REPO, "show", f"{RPM_TAGS[version]}:macros.in")):
        if name in skip:
            continue
        for line in body:
            if re.search(r"@\w+@", line):
                if name in host and len(body) == 1:
                    line = f"%{name}\t{host[name]}"
                else:
                    # a build tool path nothing here knows: left out (its own
                    # definition) or empty (a line of a longer one)
                    line = re.sub(r"@(\w+)@", lambda m: BUILD_PATHS.get(m.group(1), ""), line)
                    if len(body) == 1 and line.split()[-1].startswith("%"):
                        line = ""
            lines.append(line)
    # rpm >= 4.19 counts CPUs per task kind (%{getncpus proc|thread}); the host's
    # rpm 4.18 takes no argument there: count them as it does.
    return "\n".join(lines).replace("%{getncpus %{?1}}", "%{getncpus}") + "\n"


def redhat_macros(arch):
    """Fedora's redhat-rpm-config macros, plus %optflags from its rpmrc for `arch`."""
    rpmrc = _git(REDHAT_REPO, "show", "HEAD:rpmrc")
    (optflags,) = [line.split(None, 2)[2] for line in rpmrc.splitlines() if line.startswith(f"optflags: {arch} ")]
    return _git(REDHAT_REPO, "show", "HEAD:macros") + f"\n%optflags {optflags}\n"


def sysusers_macros(release, workdir):
    """What Fedora's systemd.spec installs as macros.sysusers for the release."""
    if release.rpm_creates_sysusers:
        return _git(SYSTEMD_REPO, "show", "HEAD:macros.sysusers")
    script = workdir / "sysusers.generate-pre.sh"
    script.write_text(_git(SYSTEMD_REPO, "show", "HEAD:sysusers.generate-pre.sh"))
    script.chmod(0o755)
    return _git(SYSTEMD_REPO, "show", "HEAD:macros.sysusers.compat").replace(
        "%{_rpmconfigdir}/sysusers.generate-pre.sh", str(script))


def real_macros(chroot, dest, buildrequires=None):
    """The chroot's macro set from the real files, stand-ins for the rest."""
    release = RELEASES[(chroot.family, chroot.release)]
    replaced = ("(release)", "redhat-rpm-config")
    kept = "".join(body for package, body in standin.sections()
                   if not any(word in body.split("\n", 1)[0] for word in replaced)
                   and (package is None or buildrequires is None or package in set(buildrequires)))
    number = f"%fedora {release.number}\n%dist .fc{release.number}\n" if chroot.family == "fedora" else \
        f"%rhel {release.number}\n%dist .el{release.number}\n%epel {release.number}\n"
    text = (rpm_macros(release.rpm, chroot.arch) + kept + redhat_macros(chroot.arch) + number
            + sysusers_macros(release, Path(dest).parent))
    Path(dest).write_text(text)
    return Path(dest)


def test_real_sources_are_what_the_group_says(tmp_path):
    # rpm 4.19 and 6.0 define %x86_64, 4.16 does not: the difference the spec's fallback is for
    assert "%x86_64" not in rpm_macros("4.16", "x86_64")
    assert "%x86_64\tx86_64 x86_64_v2" in rpm_macros("4.19", "x86_64")
    assert "%_lib\t" not in rpm_macros("6.0", "aarch64")     # --target's platform value stays
    assert "%__cflags_arch_x86_64_level" in redhat_macros("x86_64")
    assert "%sysusers_create_compat() %nil" in sysusers_macros(RELEASES[("fedora", "43")], tmp_path)
    assert "sysusers.generate-pre.sh" in sysusers_macros(RELEASES[("epel", "9")], tmp_path)


@pytest.mark.parametrize("chroot,switches", CASES, ids=[case_id(c, s) for c, s in CASES])
def test_single_layout_under_real_macros(rendered, tmp_path, chroot, switches):
    result = query(rendered, chroot, switches, tmp_path, compose=real_macros)
    assert not unexpanded(result.expanded), unexpanded(result.expanded)
    # (-debuginfo/-debugsource: rpm's own build code adds them, the host's 4.18 as it
    # does, not the release's rpm; the stand-in matrix checks them)
    debug = ("-debuginfo", "-debugsource")
    assert [p for p in result.binary if not p.endswith(debug)] == \
        [p for p in expected_single(chroot, switches) if not p.endswith(debug)]
    check_release_behaviour(chroot, result)


def test_real_macros_stop_cuda12_on_fedora(rendered, tmp_path):
    for chroot in backends.offered_chroots():
        if chroot.arch != "x86_64":
            continue
        proc = rpmspec(rendered, chroot, real_macros(chroot, tmp_path / f"{chroot.name}.macros"),
                       {"cuda12": True}, "-q")
        assert (proc.returncode != 0) is backends.refused("cuda12", chroot), (chroot.name, proc.stderr)


@pytest.mark.parametrize("family,release", [("fedora", "43"), ("epel", "9"), ("epel", "10")])
def test_standin_compiler_flags_are_the_real_ones(tmp_path, family, release):
    """The flags the fixture and the real-upstream builds compile with (the
    stand-in's %build_cflags) are redhat-rpm-config's, less its gcc -specs= files
    (not installed here): frame pointers, -mtls-dialect=gnu2, RHEL's -march level."""
    (chroot,) = [c for c in backends.offered_chroots()
                 if (c.family, c.release, c.arch) == (family, release, "x86_64")]
    real = real_macros(chroot, tmp_path / "real.macros")
    fake = standin.for_chroot(family, release, tmp_path / "standin.macros")

    def cflags(macros):
        out = subprocess.run(["rpm", "--target", "x86_64", "--load", str(macros), "--eval", "%{build_cflags}"],
                             capture_output=True, text=True, check=True).stdout.split()
        return [flag for flag in out if not flag.startswith("-specs=")]

    assert cflags(fake) == cflags(real)
