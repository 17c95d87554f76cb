"""The release loop on the real next tag: `bump` from the packaged release to v0.33.0-rc2.

Runs only where OLLAMA_RPM_REAL_SOURCES names a directory holding the real
ollama-<packaged>.tar.gz, ollama-<NEXT>.tar.gz and llama.cpp-<tag>.tar.gz (made with
`git archive`; never committed). A local server answers as GitHub's API
(/repos/ollama/ollama/releases/tags/...) and archive endpoints do and serves them
to a scratch git copy of this project; then, as real processes: `bump --to`,
`render --check`, `vendor --update-lock --license` (real modules from the Go module
proxy). The rehearsal is a test and a record (doc/verification.md), not a pin move:
the project itself stays on the packaged release.
"""

import hashlib
import json
import os
import re
from pathlib import Path

import git
import pytest

from conftest import REPO, copy_project, load_yaml, run_cli
from fakes import FakeGitHub

CONFIG = load_yaml(REPO / "packaging.yaml")
OLD = str(CONFIG["version"]).lstrip("v")
TAG = CONFIG["llama_cpp"]["tag"]
NEXT = os.environ.get("OLLAMA_RPM_REAL_NEXT", "0.33.0-rc2")
SOURCES_ENV = "OLLAMA_RPM_REAL_SOURCES"
TARBALLS = (f"ollama-{OLD}.tar.gz", f"ollama-{NEXT}.tar.gz", f"llama.cpp-{TAG}.tar.gz")


def _skip_reason():
    directory = os.environ.get(SOURCES_ENV)
    if not directory:
        return f"{SOURCES_ENV} is not set (a directory with {', '.join(TARBALLS)})"
    missing = [name for name in TARBALLS if not (Path(directory) / name).is_file()]
    return f"{SOURCES_ENV}={directory} lacks {', '.join(missing)}" if missing else None


pytestmark = [pytest.mark.real_upstream, pytest.mark.slow,
              pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")]


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_bump_to_the_next_real_tag(tmp_path):
    real = Path(os.environ[SOURCES_ENV])
    with FakeGitHub() as server:
        server.releases = [{"tag_name": f"v{NEXT}", "prerelease": "-" in NEXT},
                           {"tag_name": f"v{OLD}", "prerelease": False}]
        for version in (OLD, NEXT):
            server.files[f"/ollama/archive/v{version}/ollama-{version}.tar.gz"] = \
                (real / f"ollama-{version}.tar.gz").read_bytes()
        server.files[f"/llama/archive/{TAG}/llama.cpp-{TAG}.tar.gz"] = (real / f"llama.cpp-{TAG}.tar.gz").read_bytes()
        root = copy_project(tmp_path / "project")
        base = server.url + "/files"
        config = root / "packaging.yaml"
        # The changelog entry's author must be a real address (not packaging.yaml's placeholder).
        config.write_text(config.read_text()
                          .replace("https://github.com/ollama/ollama/archive/", f"{base}/ollama/archive/")
                          .replace("https://github.com/ggml-org/llama.cpp/archive/", f"{base}/llama/archive/")
                          .replace("ollama-rpm@lists.example.org", "packagers@ollama-rpm-ci.net"))
        env = {"OLLAMA_RPM_GITHUB_API": server.url, "HOME": str(tmp_path / "home"),
               "OLLAMA_RPM_CACHE": str(tmp_path / "cache")}
        assert run_cli("render", cwd=root, env=env).returncode == 0
        (root / "sources.lock").write_text(json.dumps({"format": 1, "sources": {
            f"ollama-{OLD}.tar.gz": {"url": f"{base}/ollama/archive/v{OLD}/ollama-{OLD}.tar.gz",
                                     "sha256": sha(real / f"ollama-{OLD}.tar.gz")},
            f"llama.cpp-{TAG}.tar.gz": {"url": f"{base}/llama/archive/{TAG}/llama.cpp-{TAG}.tar.gz",
                                        "sha256": sha(real / f"llama.cpp-{TAG}.tar.gz")}}},
            indent=2, sort_keys=True) + "\n")
        (root / ".gitignore").write_text("/build/\n/results/\n")
        repo = git.Repo.init(root, initial_branch="main")
        with repo.config_writer() as cw:
            cw.set_value("user", "name", "Packager")
            cw.set_value("user", "email", "packager@ollama-rpm-ci.net")
        repo.git.add("-A")
        repo.git.commit("-q", "-m", f"Ollama {OLD}")

        proc = run_cli("bump", "--to", f"v{NEXT}", cwd=root, env=env)
        (tmp_path / "bump.out").write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        rpm_version = NEXT.replace("-", "~")
        spec = (root / "ollama.spec").read_text()
        assert f"Version:        {rpm_version}\n" in spec
        assert repo.head.commit.message.startswith(f"Update to {NEXT} (llama.cpp {TAG})")
        lock = json.loads((root / "sources.lock").read_text())["sources"]
        assert lock[f"ollama-{NEXT}.tar.gz"]["sha256"] == sha(real / f"ollama-{NEXT}.tar.gz")
        assert lock[f"llama.cpp-{TAG}.tar.gz"]["sha256"] == sha(real / f"llama.cpp-{TAG}.tar.gz")
        assert f"ollama-{OLD}.tar.gz" not in lock
        report = (root / "build" / f"bump-report-{NEXT}.txt").read_text()
        assert report in proc.stdout
        assert report.startswith(f"Bump report: ollama {OLD} -> {NEXT} (RPM Version: {rpm_version})\n")
        if NEXT == "0.33.0-rc2":
            # What upstream changed between v0.32.15 and v0.33.0-rc2 that a spec cares about.
            assert "  + CMakeLists.txt: set(CMAKE_INSTALL_RPATH \"$ORIGIN\")\n" in report
            assert re.search(r"  ~ MLX_VERSION: 7f062ddc\w+ -> 27fec909\w+\n", report)
            assert "## Install manifest (upstream install() rules) (unchanged)\n" in report
            assert "## Go (go.mod) (unchanged)\n  go 1.26\n" in report
            assert "## llama.cpp compat patches (llama/compat) (unchanged)\n" in report
        assert run_cli("render", "--check", cwd=root, env=env).returncode == 0

        # The Go tree, re-vendored from the new tarball; its licenses still match go.license.
        proc = run_cli("vendor", "--update-lock", "--license", cwd=root, env=env)
        (tmp_path / "vendor.out").write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        lock = json.loads((root / "sources.lock").read_text())["sources"]
        vendor = f"ollama-{NEXT}-vendor.tar.bz2"
        assert lock[vendor]["url"] == "generated:go_vendor_archive"
        assert f"{vendor}: " in proc.stderr + proc.stdout and "modules vendored" in proc.stderr + proc.stdout
        assert "go.license matches the detected expression" in proc.stderr + proc.stdout
    # The project itself did not move.
    assert load_yaml(REPO / "packaging.yaml")["version"] == CONFIG["version"]
