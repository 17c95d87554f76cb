""".copr/Makefile: Copr's make_srpm contract, run on a clean clone (tools present, so no dnf)."""

import os
import shutil
import subprocess
import sys

import git
import pytest

from conftest import REPO, load_yaml, run_cli, write_yaml
from source_fixtures import make_upstream


def _not_in_a_clone(directory, names):
    """What a fresh clone lacks: caches anywhere, and the outputs at the top (build/,
    results/ and .cache/, where .ci/bootstrap keeps the CUDA wheels and the lifecycle
    test's scratch OS tree; tooling/ollama_rpm/builders/ is code)."""
    left_out = {".git", ".venv", "__pycache__", "sources.lock", ".hypothesis"}
    if os.path.samefile(directory, REPO):
        left_out |= {"build", "results", ".cache"}
    return [name for name in names if name in left_out]


def _clone(tmp_path):
    """A clean clone of this checkout, its Sources pointed at local tarballs and pinned.

    Copr's SRPM step has network; here the upstream tarballs are file:// URLs,
    pinned in a committed sources.lock exactly as a real repo pins GitHub's.
    """
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=_not_in_a_clone)
    ollama, llama = make_upstream(tmp_path / "upstream")
    cfg = load_yaml(source / "packaging.yaml")
    cfg["sources"]["ollama"] = ollama.as_uri()
    cfg["sources"]["llama_cpp"] = llama.as_uri()
    write_yaml(source / "packaging.yaml", cfg)
    run_cli("render", cwd=source, check=True)
    run_cli("sources", "--update-lock", "--source-dir", tmp_path / "pin", cwd=source, check=True,
            env={"OLLAMA_RPM_CACHE": str(tmp_path / "cache")})
    repo = git.Repo.init(source)
    repo.git.add("-A")
    repo.git.execute(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "x"])
    clone = tmp_path / "clone"
    git.Repo.clone_from(str(source), str(clone))
    return clone


def _env(tmp_path):
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("")
    env = dict(os.environ, GIT_CONFIG_GLOBAL=str(gitconfig), HOME=str(tmp_path))
    # dnf must not be needed here: the tools are present. Hide it to prove it.
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not os.path.exists(f"{p}/dnf"))
    # go-vendor-tools: Fedora's package puts go_vendor_archive on PATH; .ci/bootstrap, in the venv.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]])
    env.pop("PYTHONPATH", None)
    return env, gitconfig


def test_deps_target_needs_no_dnf_when_tools_are_present(tmp_path):
    env, _ = _env(tmp_path)
    proc = subprocess.run(["make", "-s", "-f", str(REPO / ".copr" / "Makefile"), "deps"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installing" not in proc.stdout


@pytest.mark.slow  # rpmbuild -bs through make
def test_make_srpm_on_a_clean_clone_leaves_one_srpm(tmp_path):
    clone = _clone(tmp_path)
    outdir = tmp_path / "out"
    outdir.mkdir()
    env, gitconfig = _env(tmp_path)
    proc = subprocess.run(["make", "-f", str(clone / ".copr" / "Makefile"), "srpm",
                           f"outdir={outdir}", f"spec={clone / 'ollama.spec'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    srpms = list(outdir.glob("*.src.rpm"))
    assert len(srpms) == 1, list(outdir.iterdir())
    assert str(clone) in gitconfig.read_text()          # marked safe.directory
    query = subprocess.run(["rpm", "-qp", "--qf", "%{NAME} %{ARCH} %{SOURCERPM}\n", str(srpms[0])],
                           capture_output=True, text=True)
    assert query.returncode == 0, query.stderr
    name, _, sourcerpm = query.stdout.split()
    assert name == "ollama" and sourcerpm == "(none)"   # a source package
