"""The systemd units in units/, checked with systemd's own tools.

systemd-analyze verify loads each unit the way the service manager does
(unknown keys, bad values, ExecStart that does not exist); systemd-analyze
security scores the sandbox of the system unit.
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_UNIT = ROOT / "units" / "ollama.service"
USER_UNIT = ROOT / "units" / "ollama.user.service"
SYSCONFIG = ROOT / "units" / "ollama.sysconfig"
SYSUSERS = ROOT / "sysusers" / "ollama.conf"

MAX_EXPOSURE = 1.5

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (package systemd)",
)


def unit_settings(path):
    """{(section, key): [values...]} of a unit file, in file order."""
    settings, section = {}, None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key.strip()), []).append(value.strip())
    return settings


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def stand_in(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def complaints(output, unit_name):
    """Lines of verify output that are about our unit."""
    return [l for l in output.splitlines() if unit_name in l or "Unknown" in l]


def security(unit_path, *extra):
    res = run(["systemd-analyze", "security", "--offline=true", "--no-pager",
               *extra, str(unit_path)])
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def exposure(unit_path):
    out = security(unit_path)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert m, out
    return float(m.group(1))


# ---- systemd-analyze verify ------------------------------------------------

@pytest.fixture
def system_root(tmp_path):
    """A scratch root holding the host's system units, our unit and a
    stand-in /usr/bin/ollama, so the unit is verified byte for byte."""
    host_units = Path("/usr/lib/systemd/system")
    if not (host_units / "sysinit.target").exists():
        pytest.skip("no systemd system units in /usr/lib/systemd/system")
    root = tmp_path / "root"
    unit_dir = root / "usr/lib/systemd/system"
    shutil.copytree(host_units, unit_dir, symlinks=True)
    shutil.copy(SYSTEM_UNIT, unit_dir / "ollama.service")
    stand_in(root / "usr/bin/ollama")
    return root


@needs_analyze
def test_system_unit_verifies(system_root):
    res = run(["systemd-analyze", "verify", f"--root={system_root}",
               "ollama.service"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert complaints(out, "ollama.service") == [], out


@needs_analyze
def test_verify_checks_execstart(system_root):
    # Control: the verify above would notice a missing /usr/bin/ollama.
    (system_root / "usr/bin/ollama").unlink()
    res = run(["systemd-analyze", "verify", f"--root={system_root}",
               "ollama.service"])
    assert res.returncode != 0
    assert "/usr/bin/ollama" in res.stdout + res.stderr


@needs_analyze
def test_user_unit_verifies(tmp_path):
    # systemd 252 cannot combine --user with --root ("Failed to initialize
    # unit search paths"), so verify a copy whose ExecStart points at a
    # stand-in; nothing else in the copy changes.
    exe = tmp_path / "bin" / "ollama"
    stand_in(exe)
    text = USER_UNIT.read_text()
    copy, n = re.subn(r"(?m)^ExecStart=/usr/bin/ollama ", f"ExecStart={exe} ", text)
    assert n == 1
    unit = tmp_path / "unit" / "ollama.service"
    unit.parent.mkdir()
    unit.write_text(copy)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(tmp_path))
    res = run(["systemd-analyze", "verify", "--user", str(unit)], env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert complaints(out, "ollama.service") == [], out


# ---- systemd-analyze security ----------------------------------------------

@needs_analyze
def test_system_unit_exposure():
    score = exposure(SYSTEM_UNIT)
    print(f"ollama.service exposure: {score}")
    assert score <= MAX_EXPOSURE


@needs_analyze
def test_upstream_style_unit_scores_badly(tmp_path):
    # What upstream's install.sh writes: no sandbox at all.
    unit = tmp_path / "ollama.service"
    unit.write_text(
        "[Unit]\nDescription=Ollama Service\nAfter=network-online.target\n\n"
        "[Service]\nExecStart=/usr/bin/ollama serve\nUser=ollama\nGroup=ollama\n"
        "Restart=always\nRestartSec=3\n\n[Install]\nWantedBy=default.target\n")
    score = exposure(unit)
    print(f"upstream-style unit exposure: {score}")
    assert score > 5


@needs_analyze
def test_gpu_devices_allowed():
    import json
    rows = json.loads(security(SYSTEM_UNIT, "--json=short"))
    row = next(r for r in rows if r["name"] == "DeviceAllow=")
    # systemd's own reading of the allow list: "char-drm:rw char-kfd:rw ..."
    acl = dict(tok.split(":") for tok in row["description"].split(": ", 1)[1].split())
    for group in ("char-nvidia-frontend", "char-nvidiactl", "char-nvidia-uvm",
                  "char-nvidia-caps", "char-kfd", "char-drm"):
        assert acl.get(group) == "rw", (group, acl)
    assert unit_settings(SYSTEM_UNIT)[("Service", "DevicePolicy")] == ["closed"]


def test_device_paths_are_not_globs():
    # DeviceAllow= paths are not globbed: "/dev/nvidia*" would silently
    # allow nothing. Globs only work in char-/block- group names.
    for entry in unit_settings(SYSTEM_UNIT)[("Service", "DeviceAllow")]:
        spec = entry.split()[0]
        assert spec.startswith(("char-", "block-")) or not re.search(r"[*?\[]", spec)


def test_sandbox_relaxations():
    s = unit_settings(SYSTEM_UNIT)
    # Break GPU stacks or Ollama itself (JIT, /proc/meminfo, device nodes).
    for key in ("MemoryDenyWriteExecute", "ProcSubset", "PrivateDevices"):
        assert ("Service", key) not in s, key
    assert s[("Service", "ProtectSystem")] == ["strict"]
    assert s[("Service", "CapabilityBoundingSet")] == [""]


def test_system_unit_layout():
    s = unit_settings(SYSTEM_UNIT)
    env = dict(kv.split("=", 1) for line in s[("Service", "Environment")]
               for kv in line.split())
    state = "/var/lib/" + s[("Service", "StateDirectory")][0]
    assert env["HOME"] == state == s[("Service", "WorkingDirectory")][0]
    assert env["OLLAMA_MODELS"].startswith(state + "/")
    assert s[("Service", "EnvironmentFile")] == ["-/etc/sysconfig/ollama"]
    assert s[("Install", "WantedBy")] == ["multi-user.target"]
    assert unit_settings(USER_UNIT)[("Install", "WantedBy")] == ["default.target"]


def test_unit_matches_sysusers():
    s = unit_settings(SYSTEM_UNIT)
    lines = [shlex.split(l) for l in SYSUSERS.read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    user = next(l for l in lines if l[0] == "u")  # u NAME ID GECOS HOME SHELL
    members = sorted(l[2] for l in lines if l[0] == "m" and l[1] == user[1])
    assert s[("Service", "User")] == s[("Service", "Group")] == [user[1]]
    assert sorted(s[("Service", "SupplementaryGroups")][0].split()) == members
    assert user[4] == "/var/lib/" + s[("Service", "StateDirectory")][0]


def test_sysconfig_documents_variables():
    text = SYSCONFIG.read_text()
    active = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert active == [], "everything in /etc/sysconfig/ollama stays commented out"
    documented = set(re.findall(r"(?m)^#([A-Z][A-Z0-9_]*)=", text))
    for var in ("OLLAMA_HOST", "OLLAMA_MODELS", "OLLAMA_KEEP_ALIVE", "OLLAMA_ORIGINS",
                "OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_LOADED_MODELS",
                "OLLAMA_FLASH_ATTENTION", "OLLAMA_VULKAN", "OLLAMA_NO_CLOUD",
                "OLLAMA_CONTEXT_LENGTH", "OLLAMA_DEBUG", "CUDA_VISIBLE_DEVICES",
                "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
                "HSA_OVERRIDE_GFX_VERSION"):
        assert var in documented, var
