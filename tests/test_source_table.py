"""The source table (numbered Sources/Patches with roles), one base directory for
everything packaging.yaml names, and --help for every subcommand."""

import dataclasses
import re
import shutil

import pytest

from conftest import REPO, copy_project, load_yaml, run_cli, write_yaml
from ollama_rpm import cli
from ollama_rpm.specgen import render, source_table
from ollama_rpm.specgen.config import load_config
from source_fixtures import (
    LLAMA_TARBALL,
    OLLAMA_TARBALL,
    TEST_PATCH,
    make_project,
    make_upstream,
)


def test_the_template_names_sources_by_role_never_by_number():
    template = (REPO / "ollama.spec.j2").read_text()
    assert not re.findall(r"SOURCE[0-9]|Source[0-9]|Patch[0-9]|-a ?[0-9]", template)
    assert "source.llama_cpp.number" in template and "source.readme.number" in template
    assert "source.models_drop_in.number" in template


def test_table_roles_numbers_and_the_rendered_tags_agree():
    config = load_config(REPO / "packaging.yaml")
    table = source_table.build(config)
    roles = [s.role for s in table.sources]
    assert roles == ["ollama", "llama_cpp", "vendor", "vendor_config", "system_unit", "user_unit", "sysusers",
                     "readme", "models_drop_in"]
    assert len({s.number for s in table.sources}) == len(table.sources)
    assert [s.role for s in table.url_sources] == ["ollama", "llama_cpp"]
    assert table.role("vendor").origin == "generated" and table.role("vendor").value == config.vendor_tarball
    assert [p.number for p in table.patches] == list(range(1, len(table.patches) + 1))
    spec = (REPO / "ollama.spec").read_text()
    for source in table.sources:
        assert re.search(rf"^Source{source.number}: +{re.escape(source.value)}$", spec, re.MULTILINE), source
    for patch in table.patches:
        assert re.search(rf"^Patch{patch.number}: +{re.escape(patch.file)}$", spec, re.MULTILINE), patch
    with pytest.raises(KeyError):
        table.role("nope")


def test_the_spec_follows_the_table_numbers():
    # Renumber two entries: every tag and every %{SOURCEn}/-aN in the spec follows.
    config = load_config(REPO / "packaging.yaml")
    table = source_table.build(config)
    moved = {"llama_cpp": 7, "readme": 20, "models_drop_in": 21}
    table = dataclasses.replace(table, sources=tuple(
        dataclasses.replace(s, number=moved.get(s.role, s.number)) for s in table.sources))
    spec = render.render_text(REPO, config, table)
    assert re.search(r"^Source7: +https://github.com/ggml-org/llama.cpp/", spec, re.MULTILINE)
    assert re.search(r"^Source20: +README.Fedora$", spec, re.MULTILINE)
    assert "%autosetup -N -n %{name}-%{upstream_version} -a7\n" in spec
    assert "cp -p %{SOURCE20} README.Fedora\n" in spec
    assert re.search(r"^Source21: +ollama-models-elsewhere.conf$", spec, re.MULTILINE)
    assert "cp -p %{SOURCE21} ollama-models-elsewhere.conf\n" in spec
    assert "%{SOURCE14}" not in spec and "%{SOURCE15}" not in spec and "-a1\n" not in spec
    assert spec.count("%{SOURCE3}") == 3        # go-vendor-tools.toml kept its number


def test_split_backend_specs_read_the_same_table_by_role():
    # The backend specs carry the table's ollama and llama_cpp entries (numbers as in the
    # table), nothing generated or from the project, and no patches.
    config = load_config(REPO / "packaging.yaml")
    table = source_table.build(config)
    table = dataclasses.replace(table, sources=tuple(
        dataclasses.replace(s, number=7 if s.role == "llama_cpp" else s.number) for s in table.sources))
    specs = {package.spec_file: text for package, text in render.render_specs(REPO, config, "split", table=table)}
    backend_specs = [text for name, text in specs.items() if name != "ollama.spec"]
    assert backend_specs
    for spec in backend_specs:
        assert re.findall(r"^(Source\d+|Patch\d+):", spec, re.MULTILINE) == ["Source0", "Source7"]
        assert re.search(r"^Source7: +https://github.com/ggml-org/llama.cpp/", spec, re.MULTILINE)
        assert "%autosetup -N -n ollama-%{upstream_version} -a7\n" in spec and "-a1\n" not in spec
        assert "%{SOURCE" not in spec
    assert "-a7\n" in specs["ollama.spec"] and "Patch1:" in specs["ollama.spec"]


# --- one base directory: the config file's -------------------------------------------------------

@pytest.fixture
def elsewhere(tmp_path):
    """A project on local tarballs, and a second config in another directory with its own
    patches, project files and (after `sources --update-lock`) its own sources.lock."""
    ollama, llama = make_upstream(tmp_path / "mirror")
    root = make_project(tmp_path / "project", ollama.as_uri(), llama.as_uri())
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy2(root / "packaging.yaml", other / "packaging.yaml")
    manifest = load_yaml(root / "packaging.yaml")["llama_cpp"]["install_manifest"]
    (other / manifest).parent.mkdir(parents=True)
    shutil.copy2(root / manifest, other / manifest)
    for _, _, _, path in source_table.PROJECT_SOURCES:
        (other / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, other / path)
    (other / "units" / "ollama.service").write_text("# the unit of the config elsewhere\n")
    (other / "patches").mkdir()
    (other / "patches" / "0001-elsewhere.patch").write_text(
        "Upstream status: elsewhere only.\n\n--- a/README.else\n+++ b/README.else\n@@ -0,0 +1 @@\n+else\n")
    return root, other


def test_render_reads_the_patches_next_to_the_config(elsewhere, tmp_path):
    root, other = elsewhere
    run_cli("render", "--config", other / "packaging.yaml", "-o", tmp_path / "x.spec", cwd=root, check=True)
    spec = (tmp_path / "x.spec").read_text()
    assert "Patch1:         0001-elsewhere.patch\n" in spec
    assert "# Upstream status: elsewhere only.\n" in spec
    assert TEST_PATCH not in spec


def test_sources_reads_lock_project_files_and_patches_next_to_the_config(elsewhere, tmp_path):
    root, other = elsewhere
    env = {"OLLAMA_RPM_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "src"
    run_cli("sources", "--config", other / "packaging.yaml", "--update-lock", "--source-dir", out,
            cwd=root, env=env, check=True)
    assert (other / "sources.lock").is_file() and not (root / "sources.lock").exists()
    assert (out / "ollama.service").read_text() == "# the unit of the config elsewhere\n"
    assert (out / "0001-elsewhere.patch").is_file() and not (out / TEST_PATCH).exists()
    assert (out / OLLAMA_TARBALL).is_file() and (out / LLAMA_TARBALL).is_file()
    # The pins are read from there too: without them the SRPM step stops.
    (other / "sources.lock").unlink()
    proc = run_cli("sources", "--config", other / "packaging.yaml", "--source-dir", out, cwd=root, env=env)
    assert proc.returncode == 2 and f"{other / 'sources.lock'}: {OLLAMA_TARBALL}: no sha256 pin" in proc.stderr


# --- invariants the template relies on ------------------------------------------------------------

def test_x64_at_v1_is_what_the_spec_requires(project):
    spec = (REPO / "ollama.spec").read_text()
    # The lowest level package is the required one; it holds the baseline variant.
    assert "Requires:       %{name}-ggml-cpu-x86_64-v1%{?_isa}" in spec
    assert re.search(r"%files ggml-cpu-x86_64-v1\n%dir %\{ollama_libdir\}\n%\{ollama_libdir\}/libggml-cpu-x64.so\n", spec)
    cfg = load_yaml(project / "packaging.yaml")
    cfg["cpu_variants"]["x86_64"]["x64"] = "v2"
    write_yaml(project / "packaging.yaml", cfg)
    proc = run_cli("render", cwd=project)
    assert proc.returncode == 2
    expected = (f"ollama-rpm: {project / 'packaging.yaml'}: cpu_variants.x86_64.x64: expected v1, got 'v2': the "
                "baseline variant ships in the x86_64-v1 package every installation requires")
    assert proc.stderr.strip().splitlines() == [expected]


# --- --help ------------------------------------------------------------------------------------------

def _subparsers(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, child in action.choices.items():
                yield name, child
                yield from ((f"{name} {n}", c) for n, c in _subparsers(child))


def test_every_subcommand_has_a_description_and_its_exit_codes():
    commands = dict(_subparsers(cli.build_parser()))
    assert {"render", "sources", "vendor", "check-patches", "srpm", "build", "lint", "audit-isa", "smoke",
            "copr", "copr submit", "bump"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        assert parser.description, name
        assert "\nexit codes:\n" in text, name
        codes = re.findall(r"^  ([0-9]+) ", text.split("\nexit codes:\n", 1)[1], re.MULTILINE)
        assert {"0", "2", "130"} <= set(codes), (name, codes)
    lint = commands["lint"].format_help()
    assert "  3 " not in lint.split("exit codes:")[1], "lint reports every failure but findings as 2"
    assert "  1 " in commands["render"].format_help().split("exit codes:")[1]


def test_output_directories_are_outdir_and_old_spellings_are_hidden(tmp_path):
    commands = dict(_subparsers(cli.build_parser()))
    for name in ("srpm", "build"):
        assert "--outdir DIR" in commands[name].format_help()
    assert "--resultdir" not in commands["build"].format_help()
    assert "--resultdir" not in commands["lint"].format_help() and "--rpm-dir DIR" in commands["lint"].format_help()
    parsed = cli.build_parser().parse_args(["build", "--resultdir", str(tmp_path)])
    assert parsed.outdir == tmp_path
    for name in ("srpm", "build", "lint"):
        assert "--macros FILE" in commands[name].format_help()
    assert "--with BACKEND" in commands["build"].format_help()


def test_build_outdir_alias_writes_to_the_same_place(tmp_path):
    project = copy_project(tmp_path / "project")
    srpm = tmp_path / "ollama-0.32.15-1.src.rpm"
    srpm.write_bytes(b"never opened by a dry run")
    new = run_cli("build", "--dry-run", "--outdir", tmp_path / "out", "--srpm", srpm, cwd=project, check=True)
    old = run_cli("build", "--dry-run", "--resultdir", tmp_path / "out", "--srpm", srpm, cwd=project, check=True)
    assert new.stdout == old.stdout and f"--resultdir {tmp_path / 'out'}/fedora-44-x86_64" in new.stdout
