"""The chroot matrix's checks, shared by test_chroot_matrix.py (stand-in macros)
and test_real_macros.py (the real macro files where they were fetched): what
each chroot x arch x backend combination must give under `rpmspec -P`/`-q`."""

import itertools
import re
import subprocess
from dataclasses import dataclass

import standin
from conftest import REPO
from ollama_rpm.specgen import backends, cpu_levels
from ollama_rpm.specgen.config import load_config

CFG = load_config(REPO / "packaging.yaml")
RELEASES = {(r.family, r.release): r for r in backends.RELEASES}
# Lines of `rpmspec -P` output that may start with "%": sections and file-list directives.
SPEC_KEYWORDS = {"package", "description", "prep", "build", "install", "check", "files", "changelog", "pre",
                 "post", "preun", "postun", "pretrans", "posttrans", "triggerin", "triggerun", "triggerpostun", "triggerprein", "generate_buildrequires", "license", "doc",
                 "dir", "attr", "defattr", "ghost", "config", "verify", "exclude"}
UNEXPANDED = re.compile(r"%\{[?!]*[A-Za-z_]|%\[")


def buildable(arch):
    """The backends of packaging.yaml that can be built for `arch`, registry order."""
    return [b.name for b in CFG.backends if arch in b.arches]


def combinations(chroot):
    """Every on/off assignment of the backends buildable for the chroot's arch that
    the chroot allows (a backend refused there is only ever off)."""
    names = [n for n in buildable(chroot.arch) if not backends.refused(n, chroot)]
    return [dict(zip(names, states, strict=True)) for states in itertools.product((True, False), repeat=len(names))]


CASES = [(chroot, switches) for chroot in backends.offered_chroots() for switches in combinations(chroot)]


def case_id(chroot, switches):
    return chroot.name + ":" + (",".join(n for n, on in switches.items() if on) or "cpu-only")


@dataclass
class Query:
    expanded: str
    binary: list[str]
    source: dict[str, list[str]]
    pre: str
    requires_pre: list[str]


def rpmspec(spec, chroot, macros, switches, *args):
    flags = [arg for name, on in switches.items() for arg in (("--with", name) if on else ("--without", name))]
    return subprocess.run(["rpmspec", "--target", chroot.arch, "--load", str(macros),
                           "--define", f"_sourcedir {REPO / 'sysusers'}", *flags, *args, str(spec)],
                          capture_output=True, text=True)


def ok(proc, what):
    assert proc.returncode == 0 and "error:" not in proc.stderr, f"{what}: {proc.stderr.strip()}"
    return proc.stdout


def standin_macros(chroot, dest, buildrequires=None):
    """The chroot's stand-in macro set (tests/standin.py)."""
    return standin.for_chroot(chroot.family, chroot.release, dest, buildrequires)


def query(spec, chroot, switches, workdir, compose=standin_macros):
    """rpmspec -P and -q (binary and source headers) as in the chroot's buildroot:
    `compose(chroot, dest, buildrequires)` writes its macro set."""
    base = compose(chroot, workdir / f"{chroot.name}-base.macros", ())
    buildrequires = ok(rpmspec(spec, chroot, base, switches, "-q", "--srpm", "--qf", "[%{REQUIRENAME}\n]"),
                        "BuildRequires").split()
    macros = compose(chroot, workdir / f"{chroot.name}.macros", buildrequires)
    expanded = ok(rpmspec(spec, chroot, macros, switches, "-P"), "rpmspec -P")
    binary = ok(rpmspec(spec, chroot, macros, switches, "-q", "--qf", "%{NAME}\n"), "rpmspec -q").split()
    source_qf = "EXCLUSIVEARCH=[%{EXCLUSIVEARCH} ]\nBUILDREQUIRES=[%{REQUIRENAME} ]\nRELEASE=%{RELEASE}\n"
    source = {key: value.split() for key, _, value in (
        line.partition("=") for line in ok(rpmspec(spec, chroot, macros, switches, "-q", "--srpm", "--qf",
                                                     source_qf), "rpmspec -q --srpm").splitlines())}
    main = ok(rpmspec(spec, chroot, macros, switches, "-q", "--qf",
                        "%{NAME}\n%{PREIN}\n@@@\n[%{REQUIREFLAGS:deptype} %{REQUIRENAME}\n]@@@\n"),
               "rpmspec -q scriptlets").split("@@@\n")
    name, _, pre = main[0].partition("\n")
    assert name == binary[0]        # the first header queried is the main package's
    requires_pre = [line.split()[-1] for line in main[1].splitlines() if line.split()[0].startswith("pre")]
    return Query(expanded, binary, source, pre.strip() if pre.strip() != "(none)" else "", requires_pre)


def unexpanded(expanded):
    """Macros `rpmspec -P` left in lines that are not comments."""
    left = []
    for line in expanded.splitlines():
        if line.lstrip().startswith("#"):
            continue
        left += UNEXPANDED.findall(line)
        match = re.match(r"%([A-Za-z_]\w*)", line)
        if match and match.group(1) not in SPEC_KEYWORDS:
            left.append(line)
    return left


def expected_levels(chroot):
    floor = RELEASES[(chroot.family, chroot.release)].x86_64_level
    present = sorted({level for _, level in CFG.cpu_x86_64}, key=cpu_levels.LEVELS.index)
    return [level for level in present if int(level[1:]) >= floor]


def expected_single(chroot, switches):
    names = ["ollama"]
    if chroot.arch == "x86_64":
        names += [f"ollama-ggml-cpu-x86_64-{level}" for level in expected_levels(chroot)]
    else:
        names.append("ollama-ggml-cpu")
    names += [f"ollama-ggml-{name}" for name, on in switches.items() if on]
    return names + ["ollama-debuginfo", "ollama-debugsource"]


def check_release_behaviour(chroot, result):
    """The parts of a main package that differ by release: %dist, the level floor, %pre."""
    release = RELEASES[(chroot.family, chroot.release)]
    dist = f".fc{release.number}" if chroot.family == "fedora" else f".el{release.number}"
    assert result.source["RELEASE"] == [f"{CFG.release}{dist}"]
    assert chroot.arch in result.source["EXCLUSIVEARCH"], result.source["EXCLUSIVEARCH"]
    if chroot.arch == "x86_64":
        # the level the spec read from the release's own flags: its -march floor
        assert f"-march=x86-64{'' if release.x86_64_level == 1 else f'-v{release.x86_64_level}'} " \
            in result.expanded.split("build-cpu", 1)[0]
        required = [line for line in result.expanded.splitlines() if line.startswith("Requires:")
                    and "ggml-cpu-x86_64-" in line]
        assert required == [f"Requires:       ollama-ggml-cpu-x86_64-{expected_levels(chroot)[0]}(x86-64) = "
                            f"{CFG.version}-{CFG.release}{dist}"], required
    if release.rpm_creates_sysusers:
        assert result.pre == "" and "shadow-utils" not in result.requires_pre
    else:
        # EL: %pre makes the account from sysusers/ollama.conf before the files owned by it
        assert "useradd -r -g 'ollama' -d '/var/lib/ollama'" in result.pre, result.pre
        assert "getent group 'ollama' >/dev/null || groupadd -r 'ollama'" in result.pre
        assert "shadow-utils" in result.requires_pre
