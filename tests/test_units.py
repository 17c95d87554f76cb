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

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_UNIT = ROOT / "units" / "ollama.service"
USER_UNIT = ROOT / "units" / "ollama.user.service"
README = ROOT / "doc" / "README.Fedora"
TEMPLATE = ROOT / "ollama.spec.j2"
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
    return [line for line in output.splitlines() if unit_name in line or "Unknown" in line]


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
    # Settings are drop-ins: Fedora asks for no new /etc/sysconfig files.
    assert ("Service", "EnvironmentFile") not in s
    assert s[("Install", "WantedBy")] == ["multi-user.target"]
    assert unit_settings(USER_UNIT)[("Install", "WantedBy")] == ["default.target"]


def test_unit_matches_sysusers():
    s = unit_settings(SYSTEM_UNIT)
    lines = [shlex.split(line) for line in SYSUSERS.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    user = next(f for f in lines if f[0] == "u")  # u NAME ID GECOS HOME SHELL
    assert s[("Service", "User")] == s[("Service", "Group")] == [user[1]]
    # GPU device groups come from the unit alone (sysusers/ollama.conf has no "m" lines).
    assert sorted(s[("Service", "SupplementaryGroups")][0].split()) == ["render", "video"]
    assert user[4] == "/var/lib/" + s[("Service", "StateDirectory")][0]


def test_state_directory_is_private_as_packaged():
    # The unit re-applies StateDirectoryMode= at every start: it must agree with
    # the mode the package ships (rpm -V would flag the difference), 0700 being
    # the only mode Fedora's rpmlint configuration accepts under /var/lib.
    s = unit_settings(SYSTEM_UNIT)
    assert s[("Service", "StateDirectoryMode")] == ["0700"]
    assert s[("Service", "UMask")] == ["0077"]
    spec = TEMPLATE.read_text()
    assert "%attr(0700,ollama,ollama) %dir %{_sharedstatedir}/ollama" in spec
    assert "install -dm 0700 %{buildroot}%{_sharedstatedir}/ollama" in spec
    assert "sysconfig" not in spec


def test_readme_documents_variables():
    text = README.read_text()
    settings = text[text.index("Settings\n--------"):text.index("Listening on the network")]
    documented = set(re.findall(r"(?m)^  ([A-Z][A-Z0-9_]+) ", settings))
    for var in ("OLLAMA_HOST", "OLLAMA_MODELS", "OLLAMA_KEEP_ALIVE", "OLLAMA_ORIGINS",
                "OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_LOADED_MODELS",
                "OLLAMA_FLASH_ATTENTION", "OLLAMA_VULKAN", "OLLAMA_NO_CLOUD", "OLLAMA_IGPU_ENABLE",
                "OLLAMA_CONTEXT_LENGTH", "OLLAMA_DEBUG", "CUDA_VISIBLE_DEVICES",
                "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
                "HSA_OVERRIDE_GFX_VERSION"):
        assert var in documented, var
    assert "/etc/sysconfig/ollama" not in text.replace("There is no /etc/sysconfig file", "")


def readme_drop_ins():
    """The [Service] snippets README.Fedora tells users to put in a drop-in."""
    snippets, current = [], None
    for line in README.read_text().splitlines():
        stripped = line.strip()
        if stripped == "[Service]":
            current = ["[Service]"]
            snippets.append(current)
        elif current is not None and re.match(r"^\s+(or\s+)?[A-Z][A-Za-z]+=", line):
            setting = re.sub(r"^or\s+", "", stripped).split("  #")[0].strip()
            current.append(setting)
        else:
            current = None
    return [s for s in snippets if len(s) > 1]


def test_readme_has_drop_in_examples():
    keys = {line.split("=", 1)[0] for snippet in readme_drop_ins() for line in snippet[1:]}
    assert {"Environment", "ReadWritePaths", "StateDirectoryMode", "UMask"} <= keys, keys


@needs_analyze
@pytest.mark.parametrize("broken", [False, True])
def test_readme_drop_ins_load_cleanly(system_root, broken):
    # Every drop-in README.Fedora shows, as "systemctl edit ollama" saves it,
    # is read and accepted by systemd; the control (a misspelt key) shows that
    # verify does read the drop-in directory.
    drop_in = system_root / "etc/systemd/system/ollama.service.d"
    drop_in.mkdir(parents=True)
    body = "\n".join(line for snippet in readme_drop_ins() for line in snippet) + "\n"
    if broken:
        body += "[Service]\nEnviroment=OLLAMA_DEBUG=1\n"
    (drop_in / "override.conf").write_text(body)
    res = run(["systemd-analyze", "verify", f"--root={system_root}", "ollama.service"])
    out = res.stdout + res.stderr
    if broken:
        assert "Enviroment" in out, out
    else:
        assert res.returncode == 0, out
        assert complaints(out, "ollama.service") == [], out


# ---- the drop-in example for models outside /var/lib/ollama -------------------

MODELS_DROP_IN = ROOT / "doc" / "ollama-models-elsewhere.conf"


def test_models_drop_in_allows_writes_where_it_points_the_models():
    settings = unit_settings(MODELS_DROP_IN)
    models = [v.split("=", 1)[1] for v in settings[("Service", "Environment")] if v.startswith("OLLAMA_MODELS=")]
    assert models == ["/srv/ollama/models"]
    assert settings[("Service", "ReadWritePaths")] == models
    # Nothing else of the sandbox is relaxed by default.
    assert set(settings) == {("Service", "Environment"), ("Service", "ReadWritePaths")}
    # The unit hides /var/lib only by ProtectSystem=strict: the drop-in's path is what opens.
    unit = unit_settings(SYSTEM_UNIT)
    assert unit[("Service", "ProtectSystem")] == ["strict"] and unit[("Service", "ProtectHome")] == ["yes"]


@needs_analyze
@pytest.mark.parametrize("variant", ["as shipped", "below /home", "misspelt"])
def test_models_drop_in_verifies_with_the_unit(system_root, variant):
    text = MODELS_DROP_IN.read_text()
    if variant == "below /home":
        text = text.replace("/srv/ollama/models", "/home/models").replace("#ProtectHome=", "ProtectHome=")
    if variant == "misspelt":           # control: verify reads the drop-in directory
        text = text.replace("ReadWritePaths=", "ReadWritePath=")
    drop_in = system_root / "etc/systemd/system/ollama.service.d"
    drop_in.mkdir(parents=True)
    (drop_in / "models-elsewhere.conf").write_text(text)
    res = run(["systemd-analyze", "verify", f"--root={system_root}", "ollama.service"])
    out = res.stdout + res.stderr
    if variant == "misspelt":
        assert "ReadWritePath" in out, out
    else:
        assert res.returncode == 0, out
        assert complaints(out, "ollama.service") == [], out
