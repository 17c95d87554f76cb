"""The llama.cpp pin: build number and commit for CMake, the compat patches
applied as upstream applies them, and %files from upstream's install manifest."""

import shutil
import subprocess

import pytest

from conftest import REPO, load_yaml, run_cli, write_yaml
from fixture import upstream
from ollama_rpm.errors import EXIT_CONFIG, ConfigError
from ollama_rpm.sources import patchcheck
from ollama_rpm.specgen import manifest

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine

COMMIT = "9d77fa17254e1dee4b9e92504c91611a60b1359f"
MANIFEST = REPO / "tests" / "data" / "upstream-install-manifest.txt"


def _render(project):
    run_cli("render", cwd=project, check=True)
    return (project / "ollama.spec").read_text()


def test_build_number_and_commit_of_the_tag_go_to_cmake(project):
    spec = _render(project)
    assert "%global llama_cpp_build 10488\n" in spec
    assert f"%global llama_cpp_commit {COMMIT}\n" in spec
    assert "-DLLAMA_BUILD_NUMBER=%{llama_cpp_build}\n" in spec
    assert "-DLLAMA_BUILD_COMMIT=%{llama_cpp_commit}\n" in spec


@pytest.mark.parametrize("key,value,words", [
    ("commit", COMMIT[:7], ["llama_cpp.commit", "40-hex", COMMIT[:7]]),
    ("commit", COMMIT.upper(), ["llama_cpp.commit", "40-hex"]),
    ("commit", COMMIT + "\n", ["llama_cpp.commit", "40-hex"]),          # fullmatch, not match
    ("commit", None, ["llama_cpp.commit"]),
    ("tag", "master", ["llama_cpp.tag", "b<number>", "'master'"]),
    ("tag", "b10488rc", ["llama_cpp.tag", "b<number>"]),
    ("install_manifest", "nope.txt", ["llama_cpp.install_manifest", "existing file"]),
])
def test_bad_llama_cpp_pin_is_a_one_line_config_error(project, key, value, words):
    cfg = load_yaml(project / "packaging.yaml")
    if value is None:
        del cfg["llama_cpp"][key]
    else:
        cfg["llama_cpp"][key] = value
    write_yaml(project / "packaging.yaml", cfg)
    proc = run_cli("render", cwd=project)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "packaging.yaml" in lines[0], proc.stderr
    for word in words:
        assert word in lines[0]


def test_files_lists_every_private_library_of_the_manifest_and_no_glob(project):
    spec = _render(project)
    files = spec.split("%files -f", 1)[1].split("\n%files", 1)[0]
    for name in ("libllama-server-impl.so", "libllama-quantize-impl.so", "libggml-base.so.0",
                 "libggml-base.so.0.20.2", "libllama-common.so.0.1.2", "llama-server", "llama-quantize"):
        assert f"%{{ollama_libdir}}/{name}\n" in files, name
    assert "lib*" not in files and "libggml-cpu-" not in files
    assert "%{ollama_libdir}/libllama.so\n" not in files            # link-time symlink: deleted


def test_a_new_library_in_the_manifest_is_listed(project):
    path = project / "tests" / "data" / "upstream-install-manifest.txt"
    path.write_text(path.read_text() + "libllama-newthing.so\n")
    assert "%{ollama_libdir}/libllama-newthing.so\n" in _render(project)


def test_manifest_shapes():
    entries = manifest.load(MANIFEST)
    assert manifest.cpu_variants(entries) == sorted(load_yaml(REPO / "packaging.yaml")["cpu_variants"]["x86_64"])
    packaged = manifest.packaged_files(entries)
    assert "libllama-server-impl.so" in packaged and "libggml.so.0" in packaged
    assert "libggml.so" not in packaged and "libggml-cpu-x64.so" not in packaged


def test_malformed_manifest_line_names_file_and_line(tmp_path):
    bad = tmp_path / "m.txt"
    bad.write_text("# comment\nllama-server\nlib a.so -> b\n")
    with pytest.raises(ConfigError) as error:
        manifest.load(bad)
    assert "m.txt" in str(error.value) and "line 3" in str(error.value)


# --- compat patches: git apply, as upstream's apply-patch.cmake ------------------------

@pytest.fixture(scope="module")
def tarballs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tarballs")
    return upstream.make_ollama_tarball(d), upstream.make_llama_cpp_tarball(d)


COMPAT = [upstream.COMPAT_PATCH, upstream.COMPAT_MODELS_PATCH]


@pytest.mark.skipif(not shutil.which("git"), reason="git required")
def test_check_patches_applies_a_patch_gnu_patch_rejects(tarballs, tmp_path):
    ollama, llama = tarballs
    # The fixture's models patch is shaped like the real laguna patch: GNU patch
    # refuses it with --fuzz=0 (the old %prep), git apply takes it at offset 1.
    tree = upstream.write_llama_cpp_tree(tmp_path / "llama")
    ollama_tree = upstream.write_ollama_tree(tmp_path / "ollama")
    subprocess.run(["git", "apply", str(ollama_tree / upstream.COMPAT_PATCH)], cwd=tree, check=True)
    gnu = subprocess.run(["patch", "-p1", "--fuzz=0", "--dry-run", "-i",
                          str(ollama_tree / upstream.COMPAT_MODELS_PATCH)], cwd=tree,
                         capture_output=True, text=True)
    assert gnu.returncode != 0 and "FAILED" in gnu.stdout

    assert patchcheck.check(ollama, [], llama, COMPAT) == COMPAT


@pytest.mark.skipif(not shutil.which("git"), reason="git required")
def test_check_patches_cli_on_the_fixture_names_both_compat_patches(tmp_path):
    from fixture.project import make_fixture_project
    served = tmp_path / "served"
    ollama = upstream.make_ollama_tarball(served)
    llama = upstream.make_llama_cpp_tarball(served)
    project, _ = make_fixture_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    env = {"OLLAMA_RPM_CACHE": str(tmp_path / "cache")}
    run_cli("sources", "--update-lock", cwd=project, env=env, check=True)
    proc = run_cli("check-patches", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for patch in COMPAT:
        assert f"ok  {patch}" in proc.stdout


@pytest.mark.skipif(not shutil.which("git"), reason="git required")
def test_a_compat_patch_that_does_not_apply_names_itself(tarballs, tmp_path):
    _, llama = tarballs
    tree = upstream.write_ollama_tree(tmp_path / "tree")
    patch = tree / upstream.COMPAT_MODELS_PATCH
    patch.write_text(patch.read_text().replace(" const char * llama_print_system_info",
                                               " const char * llama_print_other_info"))
    ollama = upstream.deterministic_tarball(tree, tmp_path / "ollama-0.32.15.tar.gz", "ollama-0.32.15")
    with pytest.raises(patchcheck.PatchError) as error:
        patchcheck.check(ollama, [], llama, COMPAT)
    assert "003-llama-cpp-models-hook.patch does not apply to llama.cpp-b10488" in str(error.value)


def test_spec_prep_applies_compat_patches_with_git_and_requires_it(project):
    spec = _render(project)
    prep = spec.split("\n%prep\n", 1)[1].split("\n%generate_buildrequires", 1)[0]
    commands = [line for line in prep.splitlines() if not line.startswith("#")]
    assert not [line for line in commands if line.startswith("patch ") or "--fuzz" in line]
    for patch in load_yaml(project / "packaging.yaml")["llama_cpp"]["compat_patches"]:
        assert (f'GIT_CEILING_DIRECTORIES="$PWD" git -C llama.cpp-%{{llama_cpp_tag}} apply '
                f'--whitespace=nowarn "$PWD/{patch}"') in prep
    assert "BuildRequires:  git-core\n" in spec


@pytest.mark.skipif(not shutil.which("git"), reason="git required")
def test_prep_git_apply_is_not_fooled_by_a_repository_around_the_build_dir(tmp_path):
    """rpmbuild's BUILD directory may sit inside someone's git checkout. There a bare
    `git apply` resolves the patch's paths against that repository's top and silently
    skips them; the spec's ceiling (as apply-patch.cmake's) keeps git in the tree."""
    from fixture.project import make_fixture_project
    project, _ = make_fixture_project(tmp_path / "project", "https://example.invalid/o.tar.gz",
                                      "https://example.invalid/l.tar.gz")
    spec = _render(project)
    lines = [line.replace("%{llama_cpp_tag}", "b10488") for line in spec.splitlines()
             if " apply --whitespace=nowarn " in line and not line.startswith("#")]
    assert len(lines) == 2

    def prep(where, commands):
        subprocess.run(["git", "init", "-q", str(where)], check=True)
        top = upstream.write_ollama_tree(where / "BUILD" / "ollama-0.32.15")
        upstream.write_llama_cpp_tree(top / "llama.cpp-b10488")
        for command in commands:
            subprocess.run(["bash", "-ec", command], cwd=top, check=True)
        return (top / "llama.cpp-b10488" / "src" / "llama.cpp").read_text()

    patched = prep(tmp_path / "topdir", lines)
    assert "llama_ollama_compat_info()" in patched and upstream.COMPAT_MODELS_MARKER in patched
    # The same commands without the ceiling "succeed" and change nothing.
    bare = [line.replace('GIT_CEILING_DIRECTORIES="$PWD" ', "") for line in lines]
    assert upstream.COMPAT_MODELS_MARKER not in prep(tmp_path / "bare", bare)
