"""Nothing from packaging.yaml becomes spec code: one grammar per kind of value.

A class test (each case a real `ollama-rpm render` refusing with exit 2, one line
naming the key, nothing written) and a property test over generated configs: for
any value the validator accepts, the rendered spec parses with rpm, has exactly the
sections and scriptlets of the stock config, scripts of the same length, and no `%(`.
"""

import copy
import re
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, STANDIN_MACROS, copy_project, load_yaml, write_yaml
from hostile_support import refused
from ollama_rpm import grammar
from ollama_rpm.errors import ConfigError
from ollama_rpm.specgen import parse, render
from ollama_rpm.specgen.config import parse_config
from ollama_rpm.specgen.yamlread import yaml_load

pytestmark = pytest.mark.slow   # the CLI and rpm as processes, about a second each on a loaded 2-core machine


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


B = ("backends",)
INJECTIONS = {
    "license-newline-pre": (("license",), "MIT\n%pre\nrm -rf /", "license"),
    "go-license-newline": (("go", "license"), "MIT\n%post\nid", "go.license"),
    "packager-name-newline": (("packager", "name"), "Eve\n%pre\nid", "packager.name"),
    "changelog-line-newline": (("changelog", 0, "text", 0), "fix\n%pre\nid", "changelog[0].text[0]"),
    "changelog-percent-paren": (("changelog", 0, "text", 0), "fix %(touch /tmp/x)", "changelog[0].text[0]"),
    "compat-patch-semicolon": (("llama_cpp", "compat_patches", 0), "a.patch; touch X", "compat_patches[0]"),
    "compat-patch-subshell": (("llama_cpp", "compat_patches", 0), "$(touch X).patch", "compat_patches[0]"),
    "compat-patch-dotdot": (("llama_cpp", "compat_patches", 0), "../../../etc/x.patch", "compat_patches[0]"),
    "build-requires-newline": (B + ("rocm", "build_requires", 0), "foo\nRequires: bar", "build_requires[0]"),
    "requires-newline": (B + ("rocm", "requires", 0), "foo\n%pre", "rocm.requires[0]"),
    "supplements-newline": (B + ("rocm", "supplements"), "(a or b)\n%pre\nid", "supplements"),
    "supplements-unbalanced": (B + ("rocm", "supplements"), "(a or b))", "supplements"),
    "vendor-newline": (("sources", "vendor"), "v.tar.gz\n%pre", "sources.vendor"),
    "llama-tag-trailing-newline": (("llama_cpp", "tag"), "b10488\n", "llama_cpp.tag"),
    "gpu-target-quote": (B + ("cuda", "gpu_targets", 0), '90"; touch X; echo "', "gpu_targets[0]"),
    "gpu-target-macro": (B + ("cuda", "gpu_targets", 0), "%{_bindir}", "gpu_targets[0]"),
    "runtime-dotdot": (B + ("rocm", "bundled_runtimes", 0), "../../../../../home/*", "bundled_runtimes[0]"),
    "runtime-star": (B + ("rocm", "bundled_runtimes", 0), "*", "bundled_runtimes[0]"),
    "runtime-brace": (B + ("rocm", "bundled_runtimes", 0), "{a,b}", "bundled_runtimes[0]"),
    "url-shell": (("url",), "https://x/%(touch X)", "url"),
    "source-url-subshell": (("sources", "ollama"), "https://x/$(id)/o.tar.gz", "sources.ollama"),
    "email-shell": (("packager", "email"), "a%(id)@b.c", "packager.email"),
    "cmake-value-shell": (B + ("vulkan", "cmake_options", "GGML_VULKAN"), "%(touch X)", "GGML_VULKAN"),
    "cmake-value-dollar": (B + ("vulkan", "cmake_options", "GGML_VULKAN"), "$(id)", "GGML_VULKAN"),
    "cmake-name": (B + ("vulkan", "cmake_options", "A;B"), "ON", "cmake_options"),
    "version-arabic-digits": (("version",), "\u0660.\u0663\u0662.15", "version"),
    "version-too-long": (("version",), "0." + "1" * 210, "version"),
    "summary-macro": (("summary",), "Run %{_bindir} models", "summary"),
    "host-compiler-dotdot": (B + ("cuda", "host_compiler"), "/usr/bin/../../bin/sh", "host_compiler"),
    "runner-dir-dotdot": (B + ("vulkan", "runner_dir"), "../x", "runner_dir"),
    "go-variable-shell": (("go", "libdir_variables", 0), "a.B;touch", "libdir_variables[0]"),
    "go-version-arabic": (("go", "min_version"), "1.\u0662\u0666", "go.min_version"),
    "name-newline": (("name",), "ollama\n%pre", "name"),
}


@pytest.mark.parametrize("path,value,needle", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_spec_injection_is_refused(project, path, value, needle):
    data = load_yaml(project / "packaging.yaml")
    _set(data, path, value)
    write_yaml(project / "packaging.yaml", data)
    refused(["render", "-o", project / "out.spec"], cwd=project, code=2, needle=needle)
    assert not (project / "out.spec").exists()


PATCH_ENTRIES = {
    "symlink": lambda d: (d / "0099-x.patch").symlink_to("/etc/hostname"),
    "dangling-symlink": lambda d: (d / "0099-x.patch").symlink_to("/nonexistent/x"),
    "directory": lambda d: (d / "0099-x.patch").mkdir(),
    "bad-name": lambda d: (d / "0099 $(id).patch").write_text("x"),
}


@pytest.mark.parametrize("make", PATCH_ENTRIES.values(), ids=PATCH_ENTRIES.keys())
def test_patches_entries_must_be_regular_files(project, make):
    make(project / "patches")
    refused(["render", "-o", project / "out.spec"], cwd=project, code=2, needle="patches_dir")


@pytest.mark.parametrize("value", ["..", "/etc", "patches/../.."], ids=["parent", "absolute", "escape"])
def test_patches_dir_stays_inside_the_project(project, value):
    data = load_yaml(project / "packaging.yaml")
    data["patches_dir"] = value
    write_yaml(project / "packaging.yaml", data)
    refused(["render", "-o", project / "out.spec"], cwd=project, code=2, needle="patches_dir")


def test_patches_dir_symlink_out_of_the_project(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "linked").symlink_to(outside)
    data = load_yaml(project / "packaging.yaml")
    data["patches_dir"] = "linked"
    write_yaml(project / "packaging.yaml", data)
    refused(["render", "-o", project / "out.spec"], cwd=project, code=2, needle="patches_dir")


# --- property: whatever the grammar accepts renders to a spec of the same shape ---------

SECTION = re.compile(r"^%(package|description|prep|generate_buildrequires|conf|build|install|check|clean"
                     r"|pre|post|preun|postun|pretrans|posttrans|preuntrans|postuntrans|verifyscript"
                     r"|(?:trans)?(?:file)?trigger\w*|files|changelog|sourcelist|patchlist)\b.*$", re.M)

# (path, a strategy of plausible values for that kind)
_BASE_LICENSE = " ".join(str(load_yaml(REPO / "packaging.yaml")["license"]).split())
_word = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,12}", fullmatch=True)
FIELDS = [
    (("summary",), st.from_regex(r"[A-Za-z][A-Za-z0-9 ,:()/'\"&;$-]{0,30}[a-z]", fullmatch=True)),
    # `license` must name every identifier of its parts (go.license, ggml, bundled): keep the
    # real one and add the drawn expression to it.
    (("license",), st.from_regex(r"(MIT|Apache-2\.0|[A-Z][A-Za-z0-9.-]{0,8})( (AND|OR) [A-Z][A-Za-z0-9.+-]{0,8}){0,3}",
                                 fullmatch=True).map(lambda v: f"({v}) AND {_BASE_LICENSE}")),
    (("go", "license"), st.just("MIT AND (Apache-2.0 OR BSD-3-Clause)")),
    (("url",), st.from_regex(r"https://[a-z0-9.-]{1,12}(/[A-Za-z0-9._~?=&+-]{0,10}){0,3}", fullmatch=True)),
    (("llama_cpp", "tag"), st.from_regex(r"b[1-9][0-9]{0,6}", fullmatch=True)),
    (("llama_cpp", "compat_patches", 0), st.from_regex(r"([a-z0-9_][a-z0-9_-]{0,5}/){0,3}[A-Za-z0-9_][A-Za-z0-9._+-]{0,8}\.patch",
                                                       fullmatch=True)),
    # (a reproducible archive: go_vendor_archive's gzip embeds the time)
    (("sources", "vendor"), st.from_regex(r"[a-z0-9_][a-z0-9._+~-]{0,15}\.tar\.(bz2|xz)", fullmatch=True)),
    (("go", "min_version"), st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True)),
    (("go", "libdir_variables", 0), st.from_regex(r"[a-z.]{1,8}(/[a-z0-9]{1,5}){0,2}\.[A-Z][A-Za-z0-9_]{0,8}",
                                                  fullmatch=True)),
    (("packager", "name"), st.from_regex(r"[A-Za-z][A-Za-z0-9 .,'&;$()\"-]{0,20}[A-Za-z]", fullmatch=True)),
    (("packager", "email"), st.from_regex(r"[a-z0-9._+-]{1,8}@[a-z0-9-]{1,8}\.[a-z]{2,4}", fullmatch=True)),
    (("changelog", 0, "text", 0), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ,.:;()'\"$`&|<>/\\!?#-]{0,40}[a-z]",
                                                fullmatch=True)),
    # (CUDA 13, the default cuda backend, starts at sm_75)
    (B + ("cuda", "gpu_targets", 0), st.from_regex(r"(7[5-9]|[89][0-9]|1[0-9]{2})[a-z]?(-virtual)?|%\{rocm_gpu_list_default\}",
                                                   fullmatch=True)),
    (B + ("rocm", "gpu_targets", 0), st.from_regex(r"gfx[0-9]{3,4}[a-z]?(:xnack[+-])?", fullmatch=True)),
    (B + ("vulkan", "cmake_options", "GGML_VULKAN"), st.from_regex(r"[A-Za-z0-9_./=+-]{1,10}( [A-Za-z0-9_.-]{1,5}){0,2}",
                                                                   fullmatch=True)),
    (B + ("rocm", "cmake_options", "CMAKE_HIP_COMPILER"),
     st.from_regex(r"(%\{rocmllvm_bindir\}|/usr/[a-z]{1,6})/[a-z+]{1,8}", fullmatch=True)),
    (B + ("rocm", "build_requires", 0), st.from_regex(r"[a-z][a-z0-9_.+-]{0,10}(\([a-z0-9]{1,6}\))?( >= [0-9.]{1,6})?",
                                                      fullmatch=True)),
    (B + ("rocm", "requires", 0), _word),
    (B + ("rocm", "supplements"), st.from_regex(r"\([a-z][a-z0-9-]{0,8}(( or [a-z][a-z0-9-]{0,8}){0,2}|( and [a-z][a-z0-9-]{0,8}){0,2})\)",
                                                fullmatch=True)),
    (B + ("rocm", "bundled_runtimes", 0), st.from_regex(r"lib[a-z0-9_*?]{1,8}\.so\*?(/[a-z]{1,4}\*)?", fullmatch=True)),
    (B + ("cuda", "host_compiler"), st.from_regex(r"(/[a-z0-9_+-]{1,6}){1,4}", fullmatch=True)),
]
# Hostile text: line breaks, macro and shell syntax, path tricks, other scripts' digits.
HOSTILE = st.text(alphabet=st.sampled_from(list("aZ09 .-_/%(){}$;`'\"\\|&<>*?~\n\r\t\x00\u0663\u2028#!^")),
                  min_size=1, max_size=24)
# (field index, value, whether the value is of the field's grammar by construction)
MUTATION = st.lists(st.sampled_from(range(len(FIELDS))).flatmap(
    lambda i: st.one_of(st.tuples(st.just(i), FIELDS[i][1], st.just(True)),
                        st.tuples(st.just(i), HOSTILE, st.just(False)))), min_size=1, max_size=4)

BASE = load_yaml(REPO / "packaging.yaml")


def _shape(spec_path):
    text = spec_path.read_text()
    parsed = parse.parse(spec_path, target="x86_64", with_=["cuda"], macro_files=[STANDIN_MACROS])
    scripts = [len(getattr(parsed, f).splitlines()) for f in ("prep_script", "build_script", "install_script")]
    return SECTION.findall(text) and [m.group(0) for m in SECTION.finditer(text)], scripts, parsed.packages


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("grammar") / "project")
    base_spec = root / "base.spec"
    base_spec.write_text(render.render_text(root, parse_config(root / "packaging.yaml", copy.deepcopy(BASE))))
    return root, _shape(base_spec)


@pytest.mark.slow  # 50 renders parsed by rpm
@settings(max_examples=50, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=MUTATION)
def test_accepted_configs_render_specs_of_the_same_shape(scratch, mutation):
    root, (base_sections, base_scripts, base_packages) = scratch
    data = copy.deepcopy(BASE)
    for index, value, _ in mutation:
        _set(data, FIELDS[index][0], value)
    # What goes through YAML is what the packager wrote: round-trip it like a file.
    data = yaml_load(yaml.safe_dump(data, sort_keys=False))
    try:
        cfg = parse_config(root / "packaging.yaml", data)
    except ConfigError as error:
        assert "\n" not in str(error)
        # Values drawn from a kind's own grammar are never refused: the property is not vacuous.
        assert not all(plausible for _, _, plausible in mutation), str(error)
        return
    text = render.render_text(root, cfg)
    assert "%(" not in text
    spec = root / "generated.spec"
    spec.write_text(text)
    sections, scripts, packages = _shape(spec)
    assert sections == base_sections
    assert scripts == base_scripts
    assert len(packages) == len(base_packages)


# --- rich dependencies: the validator agrees with rpm's own parser -------------------

RICH = ["(a)", "(a or b)", "(a or b or c)", "((a or b))", "(a or (b and c))", "(a >= 1 or b)",
        "(pkgconfig(foo) or bar >= 1.2)", "(a unless b)", "(a unless b else c)",
        "(a with b with c)", "(a without b)",
        "(a or a and a)", "(a and b or c)", "(a without b without c)", "(a if b else c else d)",
        "(a if b)", "(a or (b if c))", "(a or)", "()", "(a b)", "(a >=)", "(a or b))", "((a or b)", "(a unless b unless c)"]


def _rpm_parses_supplements(tmp_path, value):
    spec = tmp_path / "t.spec"
    spec.write_text(f"Name: t\nVersion: 1\nRelease: 1\nSummary: t\nLicense: MIT\n"
                    f"Supplements: {value}\n%description\nt\n")
    proc = subprocess.run(["rpmspec", "-q", "--qf", "[%{SUPPLEMENTS}\\n]", str(spec)],
                          capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip() == value


@pytest.mark.parametrize("value", RICH)
def test_rich_dependency_accepts_exactly_what_rpm_parses(tmp_path, value):
    """rpm refuses different operators at one level ("Cannot chain different ops"),
    chained unless/without, `if` in a reverse dependency and missing operands; so
    does the validator of `supplements`."""
    assert (grammar.reverse_rich_dependency(value) is None) == _rpm_parses_supplements(tmp_path, value)
