"""Hostile input, the rest (issue 23): every class one parametrized test, each case a
real `ollama-rpm` process that exits with its documented code and one stderr line,
no traceback, the files as they were.

- bounded reads: a project file that is a FIFO, a symlink to /dev/zero or larger
  than its limit is refused, naming the file and the limit, before it is opened;
- values that lie: a YAML number where text is meant, go-vendor-tools.toml license
  entries that leave the tree or break the spec, a pinned tarball with unsafe entries;
- all-or-none writes: a split render with one unwritable target; output directories
  on a read-only file system;
- lint: a spec that is not the project's own render is parsed in the sandbox (its
  %(...) and %{lua:...} cannot touch the file system) or refused.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from conftest import REPO, load_yaml, run_cli, write_yaml
from hostile_support import refused, snapshot
from source_fixtures import VENDOR_TARBALL, pinned_project
from tarballs import tar_gz

pytestmark = pytest.mark.slow   # the CLI (and rpm) as processes

ENV = {"OLLAMA_RPM_RETRIES": "0", "OLLAMA_RPM_RETRY_BASE_DELAY": "0", "CI": "true"}
# A FIFO read would block forever: the bound on each case, far above a refusal's second.
HANG = 60


@pytest.fixture
def env(tmp_path):
    return dict(ENV, OLLAMA_RPM_CACHE=str(tmp_path / "cache"))


@pytest.fixture
def pinned(tmp_path, env):
    return pinned_project(tmp_path, env)


# --- bounded reads -----------------------------------------------------------------------

def _fifo(path, _limit):
    os.mkfifo(path)


def _dev_zero(path, _limit):
    path.symlink_to("/dev/zero")


def _too_large(path, limit):
    with open(path, "wb") as handle:          # sparse: no disk, no memory
        handle.truncate(limit + 1)


KINDS = {"fifo": (_fifo, "a FIFO, not a regular file"),
         "dev-zero-link": (_dev_zero, "a character device, not a regular file"),
         "over-the-limit": (_too_large, "larger than")}

# (file, its limit, the command that reads it first, in the pinned project)
# A patch may not be a symlink at all (it goes into the SRPM as it is): that refusal is older.
SYMLINK_PATCH = "expected a regular file (not a symlink or directory)"
READERS = {
    "packaging.yaml": ("packaging.yaml", 1 << 20, ["render", "-o", "out.spec"]),
    "template": ("ollama.spec.j2", 16 << 20, ["render", "-o", "out.spec"]),
    "sources.lock": ("sources.lock", 1 << 20, ["sources"]),
    "go-vendor-tools.toml": ("go-vendor-tools.toml", 1 << 20, ["vendor"]),
    "patch": ("patches/0001-test-fixture.patch", 16 << 20, ["render", "-o", "out.spec"]),
    "spec": ("ollama.spec", 16 << 20, ["render", "--check"]),
    "rpmlintrc": ("x.rpmlintrc", 16 << 20, ["lint", "--rpmlintrc", "x.rpmlintrc", "ollama.spec"]),
}
CASES = [(reader, kind) for reader in READERS for kind in KINDS]


@pytest.mark.parametrize("reader,kind", CASES, ids=[f"{r}-{k}" for r, k in CASES])
def test_project_files_are_read_bounded(pinned, env, reader, kind):
    name, limit, args = READERS[reader]
    make, needle = KINDS[kind]
    shutil.copy(REPO / "ollama.spec", pinned / "ollama.spec")
    path = pinned / name
    if path.exists():
        path.unlink()
    make(path, limit)
    if reader == "patch" and kind == "dev-zero-link":
        refused(args, cwd=pinned, code=2, needle=SYMLINK_PATCH, env=env, timeout=HANG)
        return
    line = refused(args, cwd=pinned, code=2, needle=needle, env=env, timeout=HANG)
    assert name in line and str(limit) in line, line
    assert not (pinned / "out.spec").exists()


# --- values that lie -----------------------------------------------------------------------

NUMBERS = {
    "version": (("version",), 0.1, "version: expected an upstream version"),
    "bundled-version": (("llama_cpp", "bundled", 0, "version"), 2.3, "bundled[0].version"),
    "go-min-version": (("go", "min_version"), 1.3, "go.min_version"),
    "llama-tag": (("llama_cpp", "tag"), 10488, "llama_cpp.tag"),
}


@pytest.mark.parametrize("keys,number,needle", NUMBERS.values(), ids=NUMBERS.keys())
def test_a_number_where_text_is_meant_is_refused_with_the_fix(project, keys, number, needle):
    cfg = load_yaml(project / "packaging.yaml")
    where = cfg
    for key in keys[:-1]:
        where = where[key]
    where[keys[-1]] = number
    write_yaml(project / "packaging.yaml", cfg)
    line = refused(["render", "-o", "out.spec"], cwd=project, code=2, needle=needle)
    assert f"the number {number!r}" in line and "quote it" in line, line


LICENSE_ENTRIES = {
    "path-leaves-the-tree": ({"path": "../../etc/passwd", "expression": "MIT"}, ".path"),
    "absolute-path": ({"path": "/etc/passwd", "expression": "MIT"}, ".path"),
    "expression-with-scriptlet": ({"path": "vendor/x/LICENSE", "expression": "MIT\n%pre\nid"}, ".expression"),
    "expression-with-macro": ({"path": "vendor/x/LICENSE", "expression": "MIT AND %(id)"}, ".expression"),
    "sha-not-hex": ({"path": "vendor/x/LICENSE", "expression": "MIT", "sha256sum": "x" * 64}, ".sha256sum"),
}


@pytest.mark.parametrize("entry,needle", LICENSE_ENTRIES.values(), ids=LICENSE_ENTRIES.keys())
def test_go_vendor_tools_license_entries_are_validated_before_use(pinned, env, entry, needle):
    toml = pinned / "go-vendor-tools.toml"
    fields = "".join(f"{key} = {json.dumps(value)}\n" for key, value in entry.items())
    with open(toml, "a", encoding="utf-8") as handle:
        handle.write("\n[[licensing.licenses]]\n" + fields)
    line = refused(["vendor"], cwd=pinned, code=2, needle="licensing.licenses[", env=env)
    assert needle in line and "go-vendor-tools.toml" in line, line


def _entry(name, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    data = b"x" if kind == tarfile.REGTYPE else None
    info.size = len(data or b"")
    return info, data


TOP = "ollama-0.32.15"
TARBALLS = {
    "dotdot-member": ([_entry(f"{TOP}/../../outside")], "'..' component"),
    "absolute-member": ([_entry("/etc/cron.d/x")], "absolute path"),
    "symlink-outside": ([_entry(f"{TOP}/vendor/escape", tarfile.SYMTYPE, "../../../../etc")], "outside the archive"),
    "symlink-absolute": ([_entry(f"{TOP}/vendor/escape", tarfile.SYMTYPE, "/etc")], "symlink to absolute path"),
    "hardlink-outside": ([_entry(f"{TOP}/vendor/h", tarfile.LNKTYPE, "/etc/shadow")], "hard link"),
    "through-a-symlink": ([_entry(f"{TOP}/vendor/inner", tarfile.SYMTYPE, "."), _entry(f"{TOP}/vendor/inner/x")],
                          "runs through the symlink"),
    "device": ([_entry(f"{TOP}/dev", tarfile.CHRTYPE)], "device file"),
}


@pytest.mark.parametrize("extra,needle", TARBALLS.values(), ids=TARBALLS.keys())
@pytest.mark.parametrize("where", ["cache", "source-dir"])
def test_a_pinned_vendor_tarball_is_judged_before_it_enters_the_srpm(pinned, env, tmp_path, extra, needle, where):
    """`vendor` would never make these; `srpm` must not trust them for their hash."""
    import hashlib
    data = tar_gz("ollama-0.32.15", {"vendor/modules.txt": "# example.com/dep v1.0.0\n"}, extra=extra)
    sha = hashlib.sha256(data).hexdigest()
    lock = json.loads((pinned / "sources.lock").read_text())
    lock["sources"][VENDOR_TARBALL] = {"url": "generated:go_vendor_archive", "sha256": sha}
    (pinned / "sources.lock").write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    source_dir = tmp_path / "src"
    if where == "cache":
        (tmp_path / "cache" / "sha256").mkdir(parents=True, exist_ok=True)
        (tmp_path / "cache" / "sha256" / sha).write_bytes(data)
    else:
        source_dir.mkdir()
        (source_dir / VENDOR_TARBALL).write_bytes(data)
    proc = run_cli("srpm", "--source-dir", source_dir, "--outdir", tmp_path / "out", cwd=pinned, env=env)
    line = proc.stderr.strip().splitlines()[-1]      # after the progress lines of the URL Sources
    assert proc.returncode == 5 and "Traceback" not in proc.stderr, proc.stderr
    assert line.startswith("ollama-rpm: ") and needle in line, line
    assert VENDOR_TARBALL in line and "not put into the SRPM" in line, line
    assert (where == "source-dir") == (source_dir / VENDOR_TARBALL).exists()     # the cache's copy never placed
    assert not list(tmp_path.rglob("*.src.rpm"))


# --- all or nothing --------------------------------------------------------------------------

SPLIT_BLOCKERS = {
    "last-is-a-directory": lambda out: (out / "ollama-ggml-vulkan.spec").mkdir(),
    "middle-is-a-device-link": lambda out: (out / "ollama-ggml-rocm.spec").symlink_to("/dev/null"),
}


@pytest.mark.parametrize("block", SPLIT_BLOCKERS.values(), ids=SPLIT_BLOCKERS.keys())
def test_a_split_render_writes_every_spec_or_none(project, block):
    out = project / "out"
    out.mkdir()
    for name in ("ollama.spec", "ollama-ggml-cuda.spec", "ollama-ggml-cuda12.spec"):
        (out / name).write_text("old\n")
    block(out)
    refused(["render", "--layout", "split", "-o", out / "ollama.spec"], cwd=project, code=2, needle="ollama-ggml-")
    assert all((out / name).read_text() == "old\n"
               for name in ("ollama.spec", "ollama-ggml-cuda.spec", "ollama-ggml-cuda12.spec"))
    assert not list(out.glob(".*.part*"))


def test_a_split_render_that_can_write_writes_every_spec(project):
    out = project / "out"
    proc = run_cli("render", "--layout", "split", "-o", out / "ollama.spec", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["ollama.spec", "ollama-ggml-cuda.spec", "ollama-ggml-cuda12.spec", "ollama-ggml-rocm.spec",
         "ollama-ggml-vulkan.spec"])


def _in_read_only_mount(directory, argv, cwd, env):
    """Run the CLI with `directory` bind-mounted read-only over itself, in a private
    mount namespace (root only: what a read-only file system looks like to root)."""
    script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"')
    full_env = dict(os.environ, PYTHONPATH=str(REPO / "tooling"), **env)
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                           str(directory), sys.executable, "-m", "ollama_rpm", *map(str, argv)],
                          cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


OUTDIRS = {
    "srpm-outdir": lambda tmp: (["srpm", "--source-dir", tmp / "src", "--outdir", tmp / "ro" / "out"], "--outdir"),
    "srpm-source-dir": lambda tmp: (["srpm", "--source-dir", tmp / "ro" / "src", "--outdir", tmp / "out"],
                                    "--source-dir"),
    "sources-dir": lambda tmp: (["sources", "--source-dir", tmp / "ro"], "--source-dir"),
}


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root for a read-only bind mount")
@pytest.mark.parametrize("make", OUTDIRS.values(), ids=OUTDIRS.keys())
def test_a_read_only_output_directory_is_named(pinned, env, tmp_path, make):
    (tmp_path / "ro").mkdir()
    args, flag = make(tmp_path)
    before = snapshot(tmp_path / "ro")
    proc = _in_read_only_mount(tmp_path / "ro", args, pinned, env)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert flag in lines[0] and str(tmp_path / "ro") in lines[0] and "read-only file system" in lines[0], lines[0]
    assert snapshot(tmp_path / "ro") == before


# --- lint runs no code from a foreign spec -------------------------------------------------

EVIL = """Name:           evil
Version:        1
Release:        1
Summary:        A spec that runs code while it is parsed
License:        MIT
%global shell_ran %(touch {marker}-shell; echo 1)
Release:        %{{shell_ran}}
%{{lua: io.open("{marker}-lua", "w"):write("ran")}}

%description
Parsing this spec runs a shell and Lua.

%files
"""


@pytest.fixture
def evil(tmp_path):
    spec = tmp_path / "evil.spec"
    spec.write_text(EVIL.format(marker=tmp_path / "ran"))
    return spec


def _ran(tmp_path):
    return sorted(p.name for p in tmp_path.glob("ran-*"))


@pytest.mark.skipif(not shutil.which("rpmlint") or not shutil.which("bwrap"), reason="needs rpmlint and bwrap")
def test_lint_parses_a_foreign_spec_in_the_sandbox(evil, tmp_path):
    proc = run_cli("lint", evil, cwd=REPO)
    assert proc.returncode in (0, 1), proc.stderr
    assert "evil.spec" in proc.stdout
    assert _ran(tmp_path) == []


@pytest.mark.skipif(not shutil.which("rpmlint"), reason="needs rpmlint")
def test_lint_refuses_a_foreign_spec_without_a_sandbox_unless_told(evil, tmp_path):
    no_bwrap = {"OLLAMA_RPM_BWRAP": str(tmp_path / "no-bwrap")}
    line = refused(["lint", evil], cwd=REPO, code=2, needle="--trust-spec", env=no_bwrap, watch=tmp_path)
    assert str(evil) in line and "not this project's own render" in line, line
    assert _ran(tmp_path) == []
    # The risk, accepted: rpm runs the spec's code as the user.
    proc = run_cli("lint", "--trust-spec", evil, cwd=REPO, env=no_bwrap)
    assert proc.returncode in (0, 1), proc.stderr
    assert _ran(tmp_path) == ["ran-lua", "ran-shell"]


@pytest.mark.skipif(not shutil.which("rpmlint"), reason="needs rpmlint")
def test_the_projects_own_spec_lints_without_a_sandbox(tmp_path):
    """The gate: the project's ollama.spec (a fresh render) needs no bwrap."""
    proc = run_cli("lint", "ollama.spec", cwd=REPO, env={"OLLAMA_RPM_BWRAP": str(tmp_path / "no-bwrap")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
