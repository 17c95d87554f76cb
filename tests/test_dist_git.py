"""`ollama-rpm dist-git DIR`: a Fedora dist-git tree that lints and expands with rpmautospec's macros."""

import hashlib
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from conftest import STANDIN_MACROS, run_cli
from rpmautospec_macros import macros_file
from source_fixtures import LLAMA_TARBALL, OLLAMA_TARBALL, TEST_PATCH, VENDOR_TARBALL, VERSION, pinned_project

pytestmark = [pytest.mark.slow,   # the CLI, go_vendor_archive, rpmspec, rpmlint
              pytest.mark.skipif(not (shutil.which("rpmspec") and shutil.which("go")), reason="needs rpmspec and Go")]

URL = "https://example.org/packaging/ollama-rpm.git"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist-git")
    env = {"OLLAMA_RPM_CACHE": str(tmp / "cache"), "CI": "true", "GOPROXY": "off", "GOFLAGS": ""}
    root = pinned_project(tmp, env)
    out = tmp / "rpms-ollama"
    proc = run_cli("dist-git", out, "--toolkit-url", URL, cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"root": root, "out": out, "env": env, "proc": proc}


def test_the_tree_holds_what_fedora_dist_git_holds(tree):
    out = tree["out"]
    names = sorted(p.name for p in out.iterdir())
    patches = {p.name for p in (tree["root"] / "patches").glob("*.patch")}
    assert TEST_PATCH in patches
    assert names == sorted({".gitignore", ".packit.yaml", "README.Fedora", "changelog", "go-vendor-tools.toml",
                            "ollama.conf", "ollama-models-elsewhere.conf", "ollama.rpmlintrc", "ollama.service",
                            "ollama.spec", "ollama.user.service", "sources", *patches})
    assert tree["proc"].stdout.split() == [str(out / name) for name in names]
    # fedpkg's lookaside list: Source0, Source1 and the vendor tarball (Source2), nothing kept in git.
    source_dir = tree["root"] / "build" / "SOURCES"
    expected = "".join(f"SHA512 ({name}) = {hashlib.sha512((source_dir / name).read_bytes()).hexdigest()}\n"
                       for name in (OLLAMA_TARBALL, LLAMA_TARBALL, VENDOR_TARBALL))
    assert (out / "sources").read_text() == expected
    assert all(re.fullmatch(r"SHA512 \(\S+\) = [0-9a-f]{128}", line) for line in expected.splitlines())
    assert (out / ".gitignore").read_text() == f"/{OLLAMA_TARBALL}\n/{LLAMA_TARBALL}\n/{VENDOR_TARBALL}\n"
    assert (out / "ollama.service").read_bytes() == (tree["root"] / "units" / "ollama.service").read_bytes()
    # Every Source and Patch the spec names is in git or in the lookaside list, as the file the project has.
    spec = (out / "ollama.spec").read_text()
    named = [v.rsplit("/", 1)[-1] for v in re.findall(r"^(?:Source|Patch)\d+: +(\S+)$", spec, re.MULTILINE)]
    lookaside = {OLLAMA_TARBALL, LLAMA_TARBALL, VENDOR_TARBALL}
    assert lookaside <= set(named) and "ollama-models-elsewhere.conf" in named
    assert [n for n in named if n not in lookaside and not (out / n).is_file()] == []
    assert (out / "ollama-models-elsewhere.conf").read_bytes() == \
        (tree["root"] / "doc" / "ollama-models-elsewhere.conf").read_bytes()


def test_the_spec_uses_rpmautospec_and_leaves_cuda_out(tree):
    spec = (tree["out"] / "ollama.spec").read_text()
    assert "\nRelease:        %autorelease\n" in spec and spec.endswith("\n%changelog\n%autochangelog\n")
    assert "cuda" not in spec.lower()
    assert "CPU, and optional GPU backends for ROCm and Vulkan.\n" in spec
    assert re.search(r"^%package ggml-rocm$", spec, re.M) and re.search(r"^%package ggml-vulkan$", spec, re.M)
    # The history before rpmautospec is its changelog file, newest first, as packaging.yaml has it.
    changelog = (tree["out"] / "changelog").read_text()
    assert re.match(rf"\* \w{{3}} \w{{3}} \d\d \d{{4}} .+ - {re.escape(VERSION)}-1\n- ", changelog)
    project_spec = (tree["root"] / "ollama.spec").read_text() if (tree["root"] / "ollama.spec").exists() else ""
    if project_spec:
        assert changelog.strip() == project_spec.split("\n%changelog\n", 1)[1].strip()


def test_packit_config_monitors_releases_and_runs_our_commands(tree):
    packit = yaml.safe_load((tree["out"] / ".packit.yaml").read_text())
    assert packit["specfile_path"] == "ollama.spec" and packit["downstream_package_name"] == "ollama"
    assert packit["upstream_tag_template"] == "v{version}"
    assert [job["job"] for job in packit["jobs"]] == ["pull_from_upstream", "koji_build", "bodhi_update"]
    assert packit["jobs"][0]["trigger"] == "release"
    assert packit["actions"]["post-upstream-clone"] == [f"git clone --depth 1 {URL} /tmp/ollama-rpm"]
    # Packit splits each command as a shell would (no shell runs it): bash gets one script each.
    scripts = [shlex.split(command) for command in packit["actions"]["pre-sync"]]
    assert [s[:2] for s in scripts] == [["bash", "-c"]] * 3
    assert [s[2] for s in scripts] == [
        'cd /tmp/ollama-rpm && ./ollama-rpm bump --to "$PACKIT_PROJECT_VERSION" --no-commit',
        "cd /tmp/ollama-rpm && ./ollama-rpm vendor --update-lock --license",
        'cd /tmp/ollama-rpm && ./ollama-rpm dist-git "$PACKIT_DOWNSTREAM_REPO"']


def test_the_spec_expands_with_rpmautospecs_macros_and_passes_lint(tree):
    macros, origin = macros_file()
    if macros is None:
        pytest.skip(origin)
    spec = tree["out"] / "ollama.spec"
    query = subprocess.run(["rpmspec", "--load", str(STANDIN_MACROS), "--load", str(macros), "-q", "--srpm",
                            "--qf", "%{NAME} %{VERSION} %{RELEASE}\n", str(spec)], capture_output=True, text=True)
    assert query.returncode == 0, query.stderr
    assert query.stdout.split() == ["ollama", VERSION, "1.fc43"]
    parsed = subprocess.run(["rpmspec", "--load", str(STANDIN_MACROS), "--load", str(macros), "-P", str(spec)],
                            capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    assert re.search(r"^Release:\s+1\.fc43$", parsed.stdout, re.M)
    assert re.search(r"^%changelog\n\* \w{3} \w{3} \d\d \d{4} .+ - " + re.escape(VERSION) + r"-1\.fc43\n- local build$",
                     parsed.stdout, re.M), parsed.stdout[-500:]
    lint = run_cli("lint", "--macros", STANDIN_MACROS, "--macros", macros, spec, cwd=tree["root"], env=tree["env"])
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_without_autorelease_macros_the_spec_does_not_parse(tree):
    """Control: the macros are what makes the Release valid (rpm rejects a literal %autorelease)."""
    proc = subprocess.run(["rpmspec", "--load", str(STANDIN_MACROS), "-q", "--srpm", "--qf", "%{RELEASE}\n",
                           str(tree["out"] / "ollama.spec")], capture_output=True, text=True)
    assert proc.returncode != 0 or "%autorelease" in proc.stdout


def test_no_origin_and_no_toolkit_url_is_a_usage_error(tmp_path):
    env = {"OLLAMA_RPM_CACHE": str(tmp_path / "cache"), "CI": "true", "GOPROXY": "off", "GOFLAGS": ""}
    root = pinned_project(tmp_path, env)
    proc = run_cli("dist-git", tmp_path / "out", cwd=root, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("ollama-rpm: --toolkit-url: not given and the project has no `origin`")
    assert not (tmp_path / "out").exists()
