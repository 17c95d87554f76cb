"""The end-to-end pipeline shared by the e2e tests: fixture sources served over
HTTP, a scratch project rendering the REAL template, then render -> sources ->
check-patches -> vendor -> srpm -> build --engine rpmbuild, each as a real
`ollama-rpm` process; plus small queries on the resulting RPMs."""

import os
import subprocess
import tarfile
from pathlib import Path

from conftest import STANDIN_MACROS, run_cli
from fakes import FileServer
from fixture import upstream
from fixture.project import make_fixture_project

VERSION = "0.32.15"
TAG = "b10488"
LIBDIR = "/usr/lib64/ollama"


def build_fixture_rpms(tmp, *, configure=None, build_args=(), macros=(), env=None, layout=None,
                       standin=STANDIN_MACROS):
    """Build the fixture into RPMs under `tmp`; returns the dict the e2e tests use.

    `configure(project, cfg)` may edit the scratch project (and its packaging.yaml)
    before the first step; `build_args` go to `ollama-rpm build` (e.g. --with cuda),
    `macros` are extra macro files for it, `env` extra environment for every step,
    `layout` the --layout of render, srpm and build (default: packaging.yaml's),
    `standin` the distribution's macro stand-ins (default Fedora's; standin.for_chroot
    makes another release's).
    The caller stops `result["server"]`; `result["srpms"]` lists every SRPM (main first).
    """
    tmp = Path(tmp)
    served = tmp / "served"
    served.mkdir()
    ollama_tgz = upstream.make_ollama_tarball(served, version=VERSION, llama_tag=TAG)
    llama_tgz = upstream.make_llama_cpp_tarball(served, tag=TAG)
    server = FileServer()
    server.start()
    server.add(f"/ollama/v{VERSION}/{ollama_tgz.name}", ollama_tgz.read_bytes(), faults=["500", "ok"])
    server.add(f"/llama.cpp/{TAG}/{llama_tgz.name}", llama_tgz.read_bytes())
    try:
        project, cfg = make_fixture_project(
            tmp / "project", server.file_url("/ollama/v{upstream_version}/ollama-{upstream_version}.tar.gz"),
            server.file_url("/llama.cpp/{llama_cpp_tag}/llama.cpp-{llama_cpp_tag}.tar.gz"))
        if configure is not None:
            cfg = configure(project, cfg) or cfg
        step_env = dict(upstream.go_offline_env(), OLLAMA_RPM_CACHE=str(tmp / "cache"), CI="true",
                        OLLAMA_RPM_RETRY_BASE_DELAY="0.01")
        step_env.update(env or {})
        steps = {}

        def step(name, *args):
            proc = run_cli(*args, cwd=project, env=step_env)
            steps[name] = proc
            assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            return proc

        layout_args = ("--layout", layout) if layout else ()
        step("render", "render", *layout_args)
        step("sources", "sources", "--update-lock")
        step("check-patches", "check-patches")
        step("vendor", "vendor", "--update-lock")
        # vendor records the C code the vendored modules bundle (bundled(sqlite)) in
        # go-vendor-tools.toml: the packager renders again, as after any config change
        step("render-after-vendor", "render", *layout_args)
        srpms = [Path(line) for line in step("srpm", "srpm", "--outdir", tmp / "srpm", "--macros", standin,
                                             *layout_args).stdout.strip().splitlines()]
        srpm = srpms[0]
        results = tmp / "results"
        extra_macros = [arg for m in macros for arg in ("--macros", m)]
        srpm_args = [arg for path in srpms for arg in ("--srpm", path)]
        step("build", "build", "--engine", "rpmbuild", *srpm_args, "--outdir", results, "--nodeps",
             *layout_args, *build_args, "--macros", standin, *extra_macros)
    except BaseException:
        server.stop()
        raise
    rpms = sorted(results.rglob("*.rpm"))
    return {"project": project, "cfg": cfg, "srpm": srpm, "srpms": srpms, "rpms": rpms, "server": server,
            "steps": steps, "tmp": tmp, "env": step_env, "results": results}


def rpm_query(rpm, *args):
    return subprocess.run(["rpm", "-qp", *args, str(rpm)], capture_output=True, text=True,
                          check=True).stdout


def rpm_names(rpms):
    """NAME -> path of each RPM."""
    return {rpm_query(rpm, "--qf", "%{NAME}"): rpm for rpm in rpms}


def rpm_files(rpm):
    """path -> (perms, user, group, flags) of one binary RPM."""
    out = rpm_query(rpm, "--qf", "[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t"
                                 "%{FILEFLAGS:fflags}\n]")
    return {cols[0]: tuple(cols[1:]) for cols in (line.split("\t") for line in out.splitlines())}


def rpm_deps(rpm, query):
    """The --provides / --requires lines of one RPM."""
    return rpm_query(rpm, query).splitlines()


def machine_test_skips(ollama_tarball: Path, version: str) -> list[dict[str, str]]:
    """go.test_skips for a build of the real tree on this machine: Go tests that
    fail for reasons of the machine, not of the package. rpmbuild runs as root here
    (mock and Koji build as an unprivileged user, where the permission tests pass),
    and a tarball made from the mirror lacks a large test-data blob. For scratch
    copies only (the real-upstream suite, bench_phases), never packaging.yaml."""
    skips = []
    if os.geteuid() == 0:
        skips.append({"test": "^TestWriteWithBackup_(FailsIfBackupFails|PermissionDenied|FileUnreadableButDirWritable)$",
                      "reason": "root ignores the file modes these tests rely on (this machine builds as root)"})
    with tarfile.open(ollama_tarball) as tar:
        names = set(tar.getnames())
    if f"ollama-{version}/tokenizer/testdata/gemma2/tokenizer.model" not in names:
        skips.append({"test": "^TestSentencePieceEncode$",
                      "reason": "the tarball made from the mirror lacks tokenizer/testdata/gemma2/tokenizer.model"})
    return skips


def glibc_before_2_41_macros(dest):
    """A macro file for building the CUDA 12 backend on this host: the spec stops
    --with cuda12 on Fedora >= 42 (glibc 2.41 clashes with CUDA 12's headers);
    Debian 12's glibc is 2.36, so model a Fedora release from before that."""
    path = Path(dest)
    path.write_text("# the build host's glibc predates 2.41, as Fedora 41's did\n%fedora 41\n%dist .fc41\n")
    return path
