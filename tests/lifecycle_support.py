"""A scratch root in which a package's scriptlets really run, and the checks of
its life cycle: install, upgrade, roll back, remove, reinstall.

The root is a minimal Debian 12 (.ci/lifecycle-root: a shell, coreutils,
getent, useradd/groupadd, setpriv and systemd's systemctl), copied fresh for
each test. The host's rpm installs into it with `rpm --root`, which runs each
scriptlet chrooted into the root; only `--nodeps` is given (the Debian tree is
not in the root's rpm database), never `--noscripts`. Fedora's pieces that the
scriptlets call are put in as Fedora has them:

- /usr/lib/systemd/systemd-update-helper: tests/support/systemd-update-helper.standin,
  which logs every call to /var/log/systemd-update-helper.calls and does what
  Fedora's helper does with the root's systemctl (presets on install, disable on
  removal; a restart mark is only logged, as the root is not booted);
- Fedora's preset policy (fedora-release's 99-default-disable.preset, `disable *`;
  nothing in Fedora's 90-default.preset names ollama), system and user.

The host's rpm is 4.18: like EL 9's 4.16 it creates no account from
%{_sysusersdir}/*.conf itself, so the account must come from the package's
%pre. The database is at /var/lib/rpm, as on Fedora and EL (Debian's rpm
defaults to ~/.rpmdb).
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from conftest import REPO

ROOT_SCRIPT = REPO / ".ci" / "lifecycle-root"
HELPER_STANDIN = REPO / "tests" / "support" / "systemd-update-helper.standin"
HELPER_LOG = "var/log/systemd-update-helper.calls"
UNIT = "ollama.service"
STATE_DIR = "var/lib/ollama"
MODELS_DIR = "var/lib/ollama/models"
DROP_IN = "etc/systemd/system/ollama.service.d/override.conf"
DROP_IN_TEXT = "[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0:11434\n"
# Fedora's preset policy for a unit no preset file names (fedora-release).
FEDORA_PRESET = "# Stand-in for fedora-release's 99-default-disable.preset\ndisable *\n"


def cached_root() -> Path:
    """The pristine tree (.ci/lifecycle-root builds it once, then prints its path)."""
    proc = subprocess.run([str(ROOT_SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, f".ci/lifecycle-root failed:\n{proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])


def binary_rpms(rpms):
    return [r for r in rpms if "-debuginfo-" not in r.name and "-debugsource-" not in r.name]


# The root's own rpm, run inside it: a private mount namespace gives it /proc and
# /dev (rpm's sysusers.sh reads /dev/fd), gone when it exits. rpm's unshare
# plugin (not installed on Fedora by default) cannot change mount propagation
# in a chroot: it is left out.
NATIVE = ('set -e; R=$1; shift; mount -t proc proc "$R/proc"; mount --bind /dev "$R/dev"; '
          'exec chroot "$R" "$@"')


class ScratchRoot:
    """One copy of the pristine tree, with Fedora's helper and presets in place.

    native=False: the host's rpm (4.18, no sysusers processing: EL 9's behaviour)
    installs with --root. native=True: the root's own rpm (4.20, which creates
    accounts from a package's sysusers.d provides: Fedora's behaviour) runs in it.
    """

    def __init__(self, pristine: Path, dest: Path, native: bool = False):
        self.path = Path(dest)
        self.native = native
        subprocess.run(["cp", "-a", str(pristine), str(self.path)], check=True)
        helper = self.path / "usr/lib/systemd/systemd-update-helper"
        shutil.copy(HELPER_STANDIN, helper)
        helper.chmod(0o755)
        for kind in ("system-preset", "user-preset"):
            preset = self.path / "usr/lib/systemd" / kind / "99-default-disable.preset"
            preset.parent.mkdir(parents=True, exist_ok=True)
            preset.write_text(FEDORA_PRESET)
        (self.path / HELPER_LOG).write_text("")
        self.rpm("--initdb")

    # -- running things ------------------------------------------------------
    def rpm(self, *args) -> subprocess.CompletedProcess:
        if not self.native:
            return subprocess.run(["rpm", "--root", str(self.path), "--dbpath", "/var/lib/rpm", *map(str, args)],
                                  capture_output=True, text=True)
        return self.native_run("rpm", "--dbpath", "/var/lib/rpm", "--define", "__transaction_unshare %{nil}",
                               *map(self.inside, args))

    def native_run(self, *args) -> subprocess.CompletedProcess:
        """A command of the root run inside it, with /proc and /dev."""
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", NATIVE, "sh",
                               str(self.path), *map(str, args)], capture_output=True, text=True,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})

    def inside(self, arg) -> str:
        """An RPM file given by its host path, copied into the root: its path there."""
        if not isinstance(arg, Path):
            return str(arg)
        if arg.resolve().is_relative_to(self.path.resolve()):
            return "/" + str(arg.resolve().relative_to(self.path.resolve()))
        dest = self.path / "tmp" / "rpms" / arg.parent.name / arg.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(arg, dest)
        return "/" + str(dest.relative_to(self.path))

    def rpmbuild(self, spec: Path, macros: Path) -> subprocess.CompletedProcess:
        """`rpmbuild -bb` by the root's own rpmbuild (4.20, whose sysusers generator adds
        the user()/group() provides that rpm >= 4.19 creates the account from): `spec`
        is inside the root, its directory the _topdir and SOURCES/ in it the _sourcedir;
        `macros` (Fedora's stand-ins) become a system macro file of the root."""
        # (Debian's rpmbuild 6.1 did not apply --load to the spec here; a system macro file it does.)
        (self.path / "etc" / "rpm").mkdir(exist_ok=True)
        shutil.copy(macros, self.path / "etc" / "rpm" / "macros.zz-fedora-standin")
        inner = "/" + str(spec.parent.relative_to(self.path))
        return self.native_run("rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {inner}",
                               "--define", f"_sourcedir {inner}/SOURCES", f"{inner}/{spec.name}")

    def chroot(self, *args, check=True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["chroot", str(self.path), *map(str, args)], capture_output=True, text=True,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
        if check:
            assert proc.returncode == 0, f"{args}: {proc.stdout}{proc.stderr}"
        return proc

    def as_service(self, script: str) -> subprocess.CompletedProcess:
        """A shell script run as the unit runs the server: user and group ollama, UMask 0077."""
        return self.chroot("setpriv", "--reuid=ollama", "--regid=ollama", "--clear-groups",
                           "sh", "-c", f"umask 0077; {script}", check=False)

    # -- what is there -----------------------------------------------------------
    def helper_calls(self) -> list[str]:
        return (self.path / HELPER_LOG).read_text().splitlines()

    def account(self, name: str, db: str = "passwd"):
        """The root's /etc/passwd (or group) entry of `name` as a list of fields, or None."""
        for line in (self.path / "etc" / db).read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return fields
        return None

    def owner(self, rel: str) -> tuple[str, str]:
        """The user and group names that own a path, read from the root's own account files."""
        st = os.lstat(self.path / rel)
        users = {int(f[2]): f[0] for f in (line.split(":") for line in (self.path / "etc/passwd").read_text().splitlines())}
        groups = {int(f[2]): f[0] for f in (line.split(":") for line in (self.path / "etc/group").read_text().splitlines())}
        return users.get(st.st_uid, str(st.st_uid)), groups.get(st.st_gid, str(st.st_gid))

    def unit_state(self, unit: str = UNIT) -> str:
        return self.chroot("systemctl", "is-enabled", unit, check=False).stdout.strip()

    def installed(self) -> dict[str, str]:
        out = self.rpm("-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\n").stdout
        return dict(line.split() for line in out.splitlines())

    def verify(self) -> list[str]:
        """`rpm -V` of every installed package: the lines it reports (none when clean)."""
        names = sorted(self.installed())
        if not names:
            return []
        proc = self.rpm("-V", "--nodeps", *names)
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def tree_digest(self, rel: str) -> dict[str, str]:
        """path -> sha256 (or "dir", "link") of everything under `rel`: user data to compare."""
        top = self.path / rel
        out = {}
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                full = Path(dirpath) / name
                key = str(full.relative_to(self.path))
                if full.is_symlink():
                    out[key] = "link"
                elif full.is_dir():
                    out[key] = "dir"
                else:
                    out[key] = hashlib.sha256(full.read_bytes()).hexdigest()
        return out

    def leftovers(self, paths) -> list[str]:
        """Those of `paths` (absolute, as rpm lists them) that are still in the root.

        A directory counts while it holds a file no installed package owns, or
        nothing at all: rpm removes a directory only once it is empty, and files
        of other packages may rightly keep it. They may do so without owning it:
        rpmbuild gives a /usr/lib/.build-id/XX subdirectory only to the first
        subpackage that needs it (it checks the shared buildroot), so a later
        subpackage's link can live in a subdirectory only the erased one owned.
        An empty directory under /usr/lib/.build-id does not count: the host's
        rpm 4.18 left one when the roll back erased the only package owning it."""
        owned = None
        left = []
        for p in paths:
            full = self.path / p.lstrip("/")
            if not os.path.lexists(full):
                continue
            if full.is_dir() and not full.is_symlink():
                inside = [str(Path(d, f).relative_to(self.path)) for d, _s, files in os.walk(full) for f in files]
                if not inside and p.startswith("/usr/lib/.build-id"):
                    continue
                owned = self.installed_paths() if owned is None else owned
                if inside and all("/" + f in owned for f in inside):
                    continue
            left.append(p)
        return sorted(left)

    def missing(self, paths) -> list[str]:
        """Those of `paths` (absolute, as rpm lists them) that are not in the root."""
        return sorted(p for p in paths if not os.path.lexists(self.path / p.lstrip("/")))

    def installed_paths(self) -> set[str]:
        """Every path the installed packages own."""
        out = self.rpm("-qal").stdout
        return {line for line in out.splitlines() if line.startswith("/")}

    def stray_rpm_files(self) -> list[str]:
        """.rpmnew/.rpmsave/.rpmorig files anywhere under /etc and /usr."""
        found = []
        for top in ("etc", "usr"):
            for dirpath, _dirs, files in os.walk(self.path / top):
                found += [str(Path(dirpath, f).relative_to(self.path)) for f in files
                          if f.endswith((".rpmnew", ".rpmsave", ".rpmorig"))]
        return found


def package_paths(rpms) -> set[str]:
    """Every path the given RPMs own."""
    out = subprocess.run(["rpm", "-qpl", *map(str, rpms)], capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if line.startswith("/")}


def model_script() -> str:
    """What `ollama pull` leaves: a blob named by its digest and a manifest naming it."""
    return ("set -e; m=/var/lib/ollama/models; mkdir -p $m/blobs $m/manifests/registry.ollama.ai/library/tiny; "
            "printf 'GGUF tiny weights' > $m/blobs/sha256-0123456789abcdef; "
            "printf '{\"layers\":[{\"digest\":\"sha256:0123456789abcdef\"}]}' "
            "> $m/manifests/registry.ollama.ai/library/tiny/latest; "
            "mkdir -p /var/lib/ollama/.ollama; printf 'key' > /var/lib/ollama/.ollama/id_ed25519")


class Lifecycle:
    """The steps of a package set's life in one scratch root. Each step returns the
    problems it found (empty: as it should be), so a test can also show that a
    broken package is caught."""

    def __init__(self, root: ScratchRoot):
        self.root = root
        self.user_data: dict[str, str] = {}

    def _calls_since(self, mark: int) -> list[str]:
        return self.root.helper_calls()[mark:]

    def _transaction(self, *args) -> tuple[list[str], list[str]]:
        mark = len(self.root.helper_calls())
        proc = self.root.rpm(*args)
        problems = [] if proc.returncode == 0 else [f"rpm {' '.join(map(str, args[:2]))}... failed "
                                                    f"({proc.returncode}): {proc.stderr.strip()[-800:]}"]
        problems += [f"rpm said: {line}" for line in proc.stderr.splitlines()
                     if "does not exist - using root" in line or "scriptlet failed" in line]
        return problems, self._calls_since(mark)

    def _account_and_state(self) -> list[str]:
        problems = []
        user, group = self.root.account("ollama"), self.root.account("ollama", "group")
        if user is None or group is None:
            return [f"no ollama account after install (user {user}, group {group})"]
        if user[3] != group[2]:
            problems.append(f"user ollama's primary group is gid {user[3]}, not group ollama ({group[2]})")
        if int(user[2]) >= 1000:
            problems.append(f"user ollama is not a system account (uid {user[2]})")
        if user[5] != "/var/lib/ollama":
            problems.append(f"user ollama's home is {user[5]}, not /var/lib/ollama")
        if self.root.owner(STATE_DIR) != ("ollama", "ollama"):
            problems.append(f"/var/lib/ollama is owned by {self.root.owner(STATE_DIR)}, not ollama:ollama")
        if (self.root.path / MODELS_DIR).exists() and self.root.owner(MODELS_DIR) != ("ollama", "ollama"):
            problems.append(f"/var/lib/ollama/models is owned by {self.root.owner(MODELS_DIR)}")
        return problems

    def _verify(self) -> list[str]:
        return [f"rpm -V: {line}" for line in self.root.verify()]

    # -- the steps ------------------------------------------------------------------
    def install(self, rpms) -> list[str]:
        """1. A first install: account, state directory, Fedora's preset, rpm -V clean."""
        problems, calls = self._transaction("-i", "--nodeps", *rpms)
        problems += self._account_and_state()
        for expected in (f"install-system-units {UNIT}", f"install-user-units {UNIT}"):
            if calls.count(expected) != 1:
                problems.append(f"expected one '{expected}' from %post, saw {calls}")
        if self.root.unit_state() != "disabled":
            problems.append(f"{UNIT} is {self.root.unit_state()!r} after install; Fedora's presets disable it")
        return problems + self._verify()

    def use(self) -> list[str]:
        """2. The service account writes a model; the admin adds a drop-in and enables the unit."""
        drop_in = self.root.path / DROP_IN
        drop_in.parent.mkdir(parents=True, exist_ok=True)
        drop_in.write_text(DROP_IN_TEXT)
        self.root.chroot("systemctl", "enable", UNIT)
        proc = self.root.as_service(model_script())
        problems = [] if proc.returncode == 0 else [
            f"the service account cannot write its models: {proc.stderr.strip()}"]
        self.user_data = self.root.tree_digest(STATE_DIR)
        problems += self._account_and_state()
        if self.root.unit_state() != "enabled":
            problems.append(f"{UNIT} did not get enabled")
        return problems

    def kept(self) -> list[str]:
        problems = []
        if not (self.root.path / STATE_DIR).is_dir():
            problems.append("/var/lib/ollama is gone, and the user data with it")
        now = self.root.tree_digest(STATE_DIR)
        if now != self.user_data:
            changed = sorted(set(now.items()) ^ set(self.user_data.items()))
            problems.append(f"user data under /var/lib/ollama changed: {changed[:6]}")
        drop_in = self.root.path / DROP_IN
        if not drop_in.is_file() or drop_in.read_text() != DROP_IN_TEXT:
            problems.append(f"the drop-in {DROP_IN} was changed or removed")
        if self.root.stray_rpm_files():
            problems.append(f".rpmnew/.rpmsave files: {self.root.stray_rpm_files()}")
        return problems

    def replace(self, rpms, *, oldpackage=False) -> list[str]:
        """3./4. Upgrade (or roll back, as `dnf downgrade` does) the installed set to `rpms`."""
        args = ("-U", "--nodeps", *(["--oldpackage"] if oldpackage else []), *rpms)
        before = self.root.installed_paths()
        problems, calls = self._transaction(*args)
        problems += self._account_and_state() + self.kept()
        stale = self.root.leftovers(before - package_paths(rpms))
        if stale:
            problems.append(f"left behind by the release replaced: {stale[:8]}")
        if self.root.unit_state() != "enabled":
            problems.append(f"{UNIT} is {self.root.unit_state()!r} after the update, not enabled")
        for expected in (f"mark-restart-system-units {UNIT}", f"mark-restart-user-units {UNIT}"):
            if calls.count(expected) != 1:
                problems.append(f"expected the restart requested once ('{expected}'), saw {calls}")
        unexpected = [c for c in calls if c.startswith(("install-", "remove-"))]
        if unexpected:
            problems.append(f"an update must not re-apply presets or disable the unit: {unexpected}")
        return problems + self._verify()

    def remove(self, rpms) -> list[str]:
        """5. Erase every package: user data, settings and the account stay, nothing else."""
        names = sorted(self.root.installed())
        problems, calls = self._transaction("-e", "--nodeps", *names)
        problems += self.kept()
        if self.root.installed():
            problems.append(f"still installed: {self.root.installed()}")
        if self.root.account("ollama") is None or self.root.account("ollama", "group") is None:
            problems.append("the ollama account was removed (Fedora keeps accounts)")
        for expected in (f"remove-system-units {UNIT}", f"remove-user-units {UNIT}"):
            if calls.count(expected) != 1:
                problems.append(f"expected one '{expected}' from %preun, saw {calls}")
        # /var/lib/ollama stays because it holds the user's data; everything else goes.
        left = [p for p in self.root.leftovers(package_paths(rpms)) if p != "/var/lib/ollama"]
        if left:
            problems.append(f"left behind by the package: {left[:8]}")
        for wants in ("etc/systemd/system/multi-user.target.wants/ollama.service",):
            if os.path.lexists(self.root.path / wants):
                problems.append(f"/{wants} still enables a removed unit")
        return problems

    def reinstall(self, rpms) -> list[str]:
        """After removal, installing again finds the models where they were."""
        problems, _calls = self._transaction("-i", "--nodeps", *rpms)
        return problems + self._account_and_state() + self.kept() + self._verify()


# --- small packages with the real spec's scriptlets (the broken-scriptlet fixtures) --------

SCRIPTLET_RE = r"(?ms)^((?:%if [^\n]*\n)?%(?:pre|post|preun|postun)\n.*?)(?=^%files\b)"


def real_scriptlets(spec_text: str) -> str:
    """The %pre/%post/%preun/%postun sections of a rendered spec, as they are
    (with the %if around the first, where there is one)."""
    import re
    match = re.search(SCRIPTLET_RE, spec_text)
    assert match, "no scriptlet sections before %files in the rendered spec"
    return match.group(1)


def unit_sources(spec_text: str) -> str:
    """The rendered spec's Source lines for the unit files and the sysusers file,
    so that %{SOURCEnn} in its scriptlets means the same file in the small spec."""
    import re
    lines = re.findall(r"(?m)^Source\d+:\s+(?:ollama\.service|ollama\.user\.service|ollama\.conf)$", spec_text)
    assert len(lines) == 3, lines
    return "\n".join(lines)


SMALL_SPEC = """Name:           ollama
Version:        {version}
Release:        {release}%{{?dist}}
Summary:        The real spec's scriptlets, unit and account on a stub payload
License:        MIT
BuildArch:      noarch
{sources}
%global debug_package %{{nil}}

%description
Lifecycle test fixture: the rendered spec's scriptlets with a stub binary.

%install
install -d %{{buildroot}}%{{_bindir}}
printf '#!/bin/sh\\necho ollama {release}\\n' > %{{buildroot}}%{{_bindir}}/ollama
chmod 0755 %{{buildroot}}%{{_bindir}}/ollama
install -Dpm 0644 %{{SOURCE10}} %{{buildroot}}%{{_unitdir}}/ollama.service
install -Dpm 0644 %{{SOURCE11}} %{{buildroot}}%{{_userunitdir}}/ollama.service
install -Dpm 0644 %{{SOURCE12}} %{{buildroot}}%{{_sysusersdir}}/ollama.conf
install -dm 0700 %{{buildroot}}%{{_sharedstatedir}}/ollama

{scriptlets}
%files
%{{_bindir}}/ollama
%{{_unitdir}}/ollama.service
%{{_userunitdir}}/ollama.service
%{{_sysusersdir}}/ollama.conf
%attr(0700,ollama,ollama) %dir %{{_sharedstatedir}}/ollama

%changelog
* Mon Nov 23 2026 Test <test@example.org> - {version}-{release}
- Lifecycle fixture
"""


def build_small(spec_text: str, where: Path, release: int, scriptlets: str, macros: Path,
                version: str = "0.32.15", root: "ScratchRoot | None" = None) -> Path:
    """One small `ollama` RPM with the given scriptlets, built with Fedora's macro
    stand-ins by the host's rpmbuild (4.18), or with root= by that root's own
    rpmbuild (4.20, whose sysusers generator adds the user()/group() provides
    that rpm >= 4.19 creates the account from); `where` is then inside the root."""
    where.mkdir(parents=True, exist_ok=True)
    sources = where / "SOURCES"
    sources.mkdir(exist_ok=True)
    shutil.copy(REPO / "units" / "ollama.service", sources / "ollama.service")
    shutil.copy(REPO / "units" / "ollama.user.service", sources / "ollama.user.service")
    shutil.copy(REPO / "sysusers" / "ollama.conf", sources / "ollama.conf")
    spec = where / f"ollama-{release}.spec"
    spec.write_text(SMALL_SPEC.format(version=version, release=release, sources=unit_sources(spec_text),
                                      scriptlets=scriptlets))
    if root is None:
        proc = subprocess.run(["rpmbuild", "-bb", "--nodeps", "--load", str(macros),
                               "--define", f"_topdir {where}", "--define", f"_sourcedir {sources}", str(spec)],
                              capture_output=True, text=True)
    else:
        proc = root.rpmbuild(spec, macros)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [rpm] = (where / "RPMS" / "noarch").glob(f"ollama-{version}-{release}.*.rpm")
    return rpm
