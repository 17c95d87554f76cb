"""sysusers/ollama.conf applied by the real systemd-sysusers to a scratch root."""

import shutil
import subprocess
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "sysusers" / "ollama.conf"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None,
    reason="systemd-sysusers is not installed (package systemd)",
)


def table(path):
    """name -> fields of a colon-separated passwd/group file."""
    return {f[0]: f for f in (line.split(":") for line in path.read_text().splitlines() if line)}


def members(group_entry):
    return [m for m in group_entry[3].split(",") if m]


def system_id_max(kind):
    """Upper bound of system UIDs/GIDs systemd was built with."""
    try:
        out = subprocess.run(["pkg-config", f"--variable=system_{kind}_max", "systemd"],
                             capture_output=True, text=True).stdout.strip()
        if out:
            return int(out)
    except FileNotFoundError:
        pass
    defs = Path("/etc/login.defs")
    if defs.exists():
        for line in defs.read_text().splitlines():
            parts = line.split()
            if parts[:1] == [f"SYS_{kind.upper()}_MAX"]:
                return int(parts[1])
    pytest.skip("cannot tell the system ID range (no pkg-config systemd, no login.defs)")


def apply(root):
    res = subprocess.run(["systemd-sysusers", f"--root={root}", str(CONF)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture
def fedora_like_root(tmp_path):
    """render and video already exist (Fedora's basic.conf), video has a member."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\nvideo:x:39:alice\nrender:x:105:\n")
    return tmp_path


def test_creates_system_account(fedora_like_root):
    apply(fedora_like_root)
    user = table(fedora_like_root / "etc/passwd")["ollama"]
    group = table(fedora_like_root / "etc/group")["ollama"]
    _, _, uid, gid, _, home, shell = user
    assert home == "/var/lib/ollama"
    assert shell == "/usr/sbin/nologin"
    assert gid == group[2]
    assert 0 < int(uid) <= system_id_max("uid")
    assert 0 < int(gid) <= system_id_max("gid")


def test_leaves_the_gpu_groups_alone(fedora_like_root):
    # The unit gives the service render and video (SupplementaryGroups=); the
    # file adds no members (see test_no_member_lines).
    apply(fedora_like_root)
    groups = table(fedora_like_root / "etc/group")
    assert groups["render"] == ["render", "x", "105", ""]
    assert members(groups["video"]) == ["alice"]


def test_idempotent(fedora_like_root):
    apply(fedora_like_root)
    before = [(fedora_like_root / "etc" / f).read_text() for f in ("passwd", "group")]
    apply(fedora_like_root)
    after = [(fedora_like_root / "etc" / f).read_text() for f in ("passwd", "group")]
    assert before == after


def conf_lines():
    return [line.split() for line in CONF.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_account_cannot_log_in(fedora_like_root):
    # Plain "u" (see the comment in ollama.conf for why not "u!"): the account
    # still gets a locked password and no login shell.
    apply(fedora_like_root)
    shadow = table(fedora_like_root / "etc/shadow")["ollama"]
    assert shadow[1].startswith("!"), shadow
    assert table(fedora_like_root / "etc/passwd")["ollama"][6].endswith("nologin")


def test_only_line_types_every_supported_rpm_applies():
    # rpm's sysusers.sh before 6.0 (EL 9/10) skips "u!" lines: no account at all.
    assert sorted({line[0] for line in conf_lines()}) == ["u"]


def test_no_member_lines():
    # rpm passes a package's sysusers lines to its sysusers.sh sorted by their
    # Provides, groupmember(ollama/...) before user(ollama), and the script makes a
    # missing member user itself (primary group the "m" group, home /): so an "m"
    # line would create the account wrongly (test_lifecycle shows it with rpm 4.20).
    assert not [line for line in conf_lines() if line[0] == "m"]
