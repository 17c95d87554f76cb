#!/usr/bin/env python3
"""Runtime speed of what we ship: llama-server and the ggml CPU variants built as
the spec builds them ("ours") against the same built as upstream builds them.

    .venv/bin/python bench/runtime.py --sources DIR [--work DIR] [--chroot DIR]
        [--reps N] [--types f16,q8_0,q4_0] [--variants zen4,haswell,x64] [--no-ollama]
        [--drop-flags "FLAG ..." ...] [--write-doc [PATH]]

--sources holds the real ollama-<version>.tar.gz and llama.cpp-<tag>.tar.gz that
packaging.yaml names (without them: a one-line reason, exit 0). Everything
happens under --work (default build/bench-runtime), and finished steps found
there are reused (each leaves a stamp file):

1. ours: the ollama tarball with patches/ applied (%autopatch -p1), llama.cpp
   unpacked in it, and the compat patch lines of the rendered spec's %prep;
   upstream: both trees as they come (upstream's configure applies the compat
   patch itself).
2. ours is built by the rendered spec's %build (`rpmspec -P` with the Fedora
   stand-in macros, --target x86_64) from its start to the CPU `%cmake_build`,
   whose targets become the narrowed list (llama-server, llama-quantize and
   the variants measured), then `cmake --install --component llama-server` as
   %install does. Note: llama.cpp's ggml target depends on every CPU variant
   (add_dependencies in ggml_add_backend_library), so all of them are built
   anyway; the list only names what the benchmark needs.
3. upstream is the same llama/server project configured with the arguments
   upstream's superbuild (cmake/local.cmake) gives its CPU build, CMake's
   Release (-O3), CMake's default generator, no distribution flags.
4. One run directory per build and variant holding exactly one
   libggml-cpu-<variant>.so; the server's /proc/PID/maps must show that one
   mapped and no other (a release build's log does not name the variant).
5. A random-weight llama GGUF (check/tinymodel.BENCH_SHAPE, F16), quantized to
   Q8_0 and Q4_0 by upstream's llama-quantize.
6. Per variant and type, ours and upstream servers run side by side and are
   asked in turn (warm-up, then --reps each): prompt processing of 512 token
   ids and generation of 128 tokens, read from the response's `timings`.
7. `ollama serve` (the Go binary built from our tree with the spec's -X
   ldflags, ml.PackageLibOllamaPath set to ours' run directory of the best
   variant; modules from the proxy, or the vendor tarball when --sources has
   it) against ours' llama-server alone, in turn: Ollama's overhead. No
   upstream Go binary: every token is computed in llama-server, which Ollama
   runs as a child; the Go side only relays requests, so how it was compiled
   does not enter the figures.

--drop-flags (may be given more than once): one more build each, ours-less,
ours-less2, ..., ours' script in a build directory of its own with those
distribution flags removed right before the CPU configure; they run in the same
rounds as ours and upstream, and a table each gives ours-less / ours: what the
flags cost.

Prints Markdown tables; --write-doc also writes them, the machine and the
flags each build used to doc/performance.md (and a plot beside it when
matplotlib is importable). No figure is checked against anything.
"""

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tooling")]

from ollama_rpm import atomic  # noqa: E402
from ollama_rpm.check import cpu_select, tinymodel  # noqa: E402
from ollama_rpm.check.smoke_session import free_port  # noqa: E402
from ollama_rpm.sources.archive import safe_extract  # noqa: E402
from ollama_rpm.specgen import cpu_levels  # noqa: E402
from ollama_rpm.specgen.config import load_config  # noqa: E402

SPEC = REPO / "ollama.spec"
STANDIN = REPO / "tests" / "support" / "fedora-macros.standin"
CHROOT_RUN = REPO / "tests" / "support" / "chroot-run"
SPEC_CPU_TARGETS = "--target llama-server llama-quantize"
TYPES = ("f16", "q8_0", "q4_0")
BUILDS = ("ours", "upstream")
LESS = "ours-less"          # ours without the flags a --drop-flags names

SEED = 42
PP_TOKENS, TG_TOKENS = 512, 128
CTX = 1024
# Greedy sampling, as the same sampler chain in llama-server and in Ollama. A random model
# falls into loops of one token; Ollama ends an answer after 31 identical tokens in a row
# (llm/llama_server.go, "token repeat limit", with no final "done" chunk), so a repeat
# penalty keeps generation going to its 128 tokens in both servers.
SAMPLING: dict[str, Any] = {"temperature": 0, "seed": SEED, "repeat_penalty": 1.5, "repeat_last_n": 64}
# Upstream's superbuild (cmake/local.cmake at v0.32.15): ollama_add_llama_server_build's
# arguments plus the CPU build's own (_cpu_args on Linux). FETCHCONTENT_SOURCE_DIR_LLAMA_CPP
# and CMAKE_INSTALL_PREFIX are added per run; the superbuild's
# OLLAMA_LLAMA_CPP_SKIP_COMPAT_PATCH=ON is left out: it patches its own fetched tree first,
# and here llama/server patches the unpatched copy itself, its default.
UPSTREAM_CMAKE_ARGS = ("-DCMAKE_BUILD_TYPE=Release", "-DOLLAMA_LIB_DIR:STRING=lib/ollama", "-DOLLAMA_RUNNER_DIR=",
                       "-DGGML_NATIVE=OFF", "-DGGML_OPENMP=OFF", "-DBUILD_SHARED_LIBS=ON", "-DGGML_BACKEND_DL=ON",
                       "-DGGML_CPU_ALL_VARIANTS=ON")
FLAG_ENV = ("CFLAGS", "CXXFLAGS", "LDFLAGS", "CPPFLAGS", "FFLAGS", "MAKEFLAGS", "CMAKE_GENERATOR")
CACHE_KEYS = ("CMAKE_GENERATOR", "CMAKE_BUILD_TYPE", "CMAKE_C_FLAGS", "CMAKE_C_FLAGS_RELEASE", "CMAKE_CXX_FLAGS",
              "CMAKE_CXX_FLAGS_RELEASE", "CMAKE_SHARED_LINKER_FLAGS", "CMAKE_MODULE_LINKER_FLAGS",
              "CMAKE_EXE_LINKER_FLAGS")
_SECTION = re.compile(r"^%(prep|build|install|check|files|package|description|changelog|pre|post|preun|postun"
                      r"|generate_buildrequires|conf)\b")
_MAPPED_CPU = re.compile(r"(?P<path>/\S*/libggml-cpu-[\w.]+\.so)$", re.M)


def less_label(number: int) -> str:
    """The build of the number-th --drop-flags: ours-less, ours-less2, ..."""
    return LESS if number == 1 else f"{LESS}{number}"


class BenchError(Exception):
    """A step failed: one line saying which and where its log is."""


# ---------------------------------------------------------------- figures

@dataclass(frozen=True)
class Stat:
    median: float
    low: float
    high: float


def summarise(values: Sequence[float]) -> Stat:
    if not values:
        raise ValueError("no values")
    return Stat(statistics.median(values), min(values), max(values))


def fmt_stat(stat: Stat | None, digits: int = 1) -> str:
    """"123.4 [120.1-125.0]" (median [min-max]); the median alone when all values agree."""
    if stat is None:
        return "-"
    if stat.low == stat.high:
        return f"{stat.median:.{digits}f}"
    return f"{stat.median:.{digits}f} [{stat.low:.{digits}f}-{stat.high:.{digits}f}]"


def fmt_ratio(ours: Stat | None, theirs: Stat | None) -> str:
    if ours is None or theirs is None or theirs.median == 0:
        return "-"
    return f"{ours.median / theirs.median:.2f}"


def fmt_mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- the spec

def rendered_spec(spec: Path = SPEC) -> str:
    """`rpmspec -P` of the spec with the Fedora stand-in macros, for x86_64."""
    proc = subprocess.run(["rpmspec", "--target", "x86_64", "--load", str(STANDIN), "-P", str(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"rpmspec -P {spec} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def spec_section(expanded: str, name: str) -> str:
    """The body of the first %<name> section of an expanded spec."""
    body: list[str] | None = None
    for line in expanded.splitlines():
        match = _SECTION.match(line)
        if match and body is not None:
            break
        if match and match.group(1) == name:
            body = []
        elif body is not None:
            body.append(line)
    if body is None:
        raise BenchError(f"{SPEC.name}: no %{name} section in the rendered spec")
    return "\n".join(body) + "\n"


def compat_patch_lines(expanded: str) -> list[str]:
    """%prep's commands that apply Ollama's compat patches to the llama.cpp tree."""
    lines = [line for line in spec_section(expanded, "prep").splitlines()
             if re.search(r"\bgit -C llama\.cpp-\S+ apply\b", line)]
    if not lines:
        raise BenchError(f"{SPEC.name}: %prep applies no compat patch (no `git -C llama.cpp-... apply` line)")
    return lines


def cpu_build_script(expanded: str, targets: Sequence[str]) -> str:
    """%build from its start through the CPU `%cmake_build`, that line building `targets`."""
    out: list[str] = []
    for line in spec_section(expanded, "build").splitlines():
        if line.rstrip().endswith(SPEC_CPU_TARGETS):
            out.append(line.rstrip()[: -len(SPEC_CPU_TARGETS)] + "--target " + " ".join(targets))
            return "\n".join(out) + "\n"
        out.append(line)
    raise BenchError(f"{SPEC.name}: %build has no line ending in `{SPEC_CPU_TARGETS}` (the CPU %cmake_build)")


def go_ldflags(expanded: str, libdir: str) -> str:
    """The -X flags %build gives `go build`, with the library directory set to `libdir`."""
    match = re.search(r'^export LDFLAGS="(-X=[^"]*)"', spec_section(expanded, "build"), re.M)
    if not match:
        raise BenchError(f"{SPEC.name}: %build sets no Go -X ldflags (export LDFLAGS=\"-X=...\")")
    return re.sub(r"(ml\.PackageLibOllamaPath=)\S+", lambda m: m.group(1) + libdir, match.group(1))


def build_targets(variants: Sequence[str]) -> list[str]:
    return ["llama-server", "llama-quantize", *(f"ggml-cpu-{v}" for v in variants)]


# ---------------------------------------------------------------- where things run

@dataclass(frozen=True)
class Place:
    """The host, or a Debian sid chroot entered through tests/support/chroot-run."""
    work: Path
    chroot: Path | None = None

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [str(CHROOT_RUN), *argv] if self.chroot else list(argv)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in FLAG_ENV}
        # As in rpmbuild's BUILD directory: no git repository around the trees (ggml stamps
        # the enclosing repository's commit into ggml-base, so every commit here rebuilt it).
        env.update(LC_ALL="C.UTF-8", GIT_CEILING_DIRECTORIES=str(self.work), **extra)
        if self.chroot:
            env.update(OLLAMA_RPM_REAL_ROCM_CHROOT=str(self.chroot), OLLAMA_RPM_CHROOT_BINDS=str(self.work))
        return env

    def has(self, tool: str) -> bool:
        if self.chroot is None:
            return shutil.which(tool) is not None
        return any((self.chroot / d / tool).exists() for d in ("usr/bin", "usr/local/bin", "bin"))

    def compiler(self) -> str:
        self.work.mkdir(parents=True, exist_ok=True)      # the chroot sees the work directory only
        proc = subprocess.run(self.argv(["gcc", "--version"]), cwd=self.work, env=self.env(), capture_output=True,
                              text=True)
        return proc.stdout.splitlines()[0] if proc.returncode == 0 and proc.stdout else "gcc: not found"

    @property
    def name(self) -> str:
        return f"chroot {self.chroot}" if self.chroot else "host"


def run_logged(place: Place, argv: Sequence[str], cwd: Path, log: Path, what: str) -> float:
    """Run `argv` at `place` with its output in `log`; seconds taken. BenchError on failure."""
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(place.argv(argv), cwd=cwd, env=place.env(), stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise BenchError(f"{what} failed (exit {proc.returncode}); see {log}")
    return time.monotonic() - start


# ---------------------------------------------------------------- sources and trees

@dataclass(frozen=True)
class Sources:
    version: str
    tag: str
    ollama: Path
    llama: Path
    vendor: Path | None


def find_sources(directory: str | None) -> Sources | str:
    """The tarballs packaging.yaml names, or why they cannot be used."""
    if not directory:
        return "no --sources DIR given (it must hold the real tarballs packaging.yaml names)"
    cfg = load_config(REPO / "packaging.yaml")
    folder = Path(directory)
    ollama = folder / f"ollama-{cfg.upstream_version}.tar.gz"
    llama = folder / f"llama.cpp-{cfg.llama_cpp_tag}.tar.gz"
    missing = [p.name for p in (ollama, llama) if not p.is_file()]
    if missing:
        return f"{' and '.join(missing)} not in {folder}"
    vendor = folder / f"ollama-{cfg.upstream_version}-vendor.tar.bz2"
    return Sources(cfg.upstream_version, cfg.llama_cpp_tag, ollama, llama, vendor if vendor.is_file() else None)


def _extract_into(tarball: Path, parent: Path, top: str) -> Path:
    """Unpack `tarball` (one top directory `top`) to parent/top."""
    scratch = parent / f".unpack-{top}"
    shutil.rmtree(scratch, ignore_errors=True)
    safe_extract(tarball, scratch)
    (scratch / top).rename(parent / top)
    scratch.rmdir()
    return parent / top


def prepare_ours(src: Sources, root: Path, expanded: str) -> Path:
    """ollama-VER with patches/ applied and llama.cpp-TAG inside, compat-patched as %prep does."""
    tree = root / f"ollama-{src.version}"
    stamp = tree / ".bench-prepared"
    if stamp.exists():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    _extract_into(src.ollama, root, tree.name)
    _extract_into(src.llama, tree, f"llama.cpp-{src.tag}")
    for patch in sorted((REPO / "patches").glob("*.patch")):
        _check(subprocess.run(["patch", "-p1", "-s", "--fuzz=0", "-i", str(patch)], cwd=tree,
                              capture_output=True, text=True), f"patch -p1 {patch.name}")
    script = "set -e\n" + "\n".join(compat_patch_lines(expanded)) + "\n"
    _check(subprocess.run(["bash", "-c", script], cwd=tree, capture_output=True, text=True), "compat patches")
    if src.vendor:
        subprocess.run(["tar", "-xf", str(src.vendor)], cwd=tree, check=True)
    stamp.write_text("prepared\n")
    return tree


def prepare_upstream(src: Sources, root: Path) -> tuple[Path, Path]:
    """ollama-VER and an unpatched llama.cpp-TAG beside it, as the tarballs have them."""
    tree, llama = root / f"ollama-{src.version}", root / f"llama.cpp-{src.tag}"
    stamp = root / ".bench-prepared"
    if stamp.exists():
        return tree, llama
    for old in (tree, llama):
        shutil.rmtree(old, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    _extract_into(src.ollama, root, tree.name)
    _extract_into(src.llama, root, llama.name)
    stamp.write_text("prepared\n")
    return tree, llama


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        raise BenchError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")


# ---------------------------------------------------------------- builds

@dataclass
class Build:
    label: str
    build_dir: Path
    libdir: Path            # llama-server, llama-quantize and the libraries, copied from the build
    compiler: str = ""
    seconds: float | None = None   # None: reused
    flags: dict[str, str] = field(default_factory=dict)


def skip_unmeasured(build_dir: Path, variants: Sequence[str]) -> str:
    """Shell lines that drop the variants not measured from libggml's dependencies.

    ggml_add_backend_library makes the ggml target depend on every CPU variant
    (add_dependencies), so any target that links ggml builds all fourteen. The
    edge is order-only (ggml dlopens the modules; nothing links them): removing
    the unmeasured ones from Ninja's libggml.so line or from Makefile2's ggml.dir
    rules changes no compile or link command of what is built."""
    others = sorted(set(cpu_levels.X86_VARIANT_FEATURES) - set(variants))
    if not others:
        return ""
    names = "|".join(re.escape(v) for v in others)
    ninja, make = shlex.quote(str(build_dir / "build.ninja")), shlex.quote(str(build_dir / "CMakeFiles" / "Makefile2"))
    return (f"if [ -f {ninja} ]; then sed -i -E '/^build [^:]*libggml\\.so[^:]*:/ s# [^ ]*/libggml-cpu-({names})\\.so##g' {ninja}; "
            f"else sed -i -E '\\#/ggml\\.dir/all: .*/ggml-cpu-({names})\\.dir/all$#d' {make}; fi\n")


def collect_outputs(build_dir: Path, dest: Path) -> str:
    """Shell lines copying llama-server, llama-quantize and the libraries from the build's
    output directory (with variants left unbuilt `cmake --install` would stop at the first)."""
    out, dest_q = "$(dirname \"$(find " + shlex.quote(str(build_dir)) + " -name llama-server -type f | head -n 1)\")", shlex.quote(str(dest))
    return (f"bench_out={out}\nrm -rf {dest_q} && mkdir -p {dest_q}\n"
            f'cp -P "$bench_out"/llama-server "$bench_out"/llama-quantize "$bench_out"/lib*.so* {dest_q}/\n')


def _before_last(script: str, lines: str) -> str:
    head, _, last = script.rstrip("\n").rpartition("\n")
    return f"{head}\n{lines}{last}\n"


def ours_script(expanded: str, targets: Sequence[str], variants: Sequence[str], build_dir: Path, dest: Path) -> str:
    """%build through the CPU build (unmeasured variants skipped), then its outputs to `dest`."""
    return (_before_last(cpu_build_script(expanded, targets), skip_unmeasured(build_dir, variants))
            + collect_outputs(build_dir, dest))


def drop_flags_lines(flags: Sequence[str]) -> str:
    """Shell lines removing each of `flags` (whole words) from CFLAGS, CXXFLAGS and LDFLAGS."""
    return (f"bench_drop={shlex.quote(' ' + ' '.join(flags) + ' ')}\nset -f\n"
            "for bench_var in CFLAGS CXXFLAGS LDFLAGS; do\n"
            "  bench_kept=\n"
            '  for bench_word in $(printenv "$bench_var"); do\n'
            '    case "$bench_drop" in *" $bench_word "*) ;; *) bench_kept="$bench_kept $bench_word" ;; esac\n'
            "  done\n"
            '  export "$bench_var=${bench_kept# }"\n'
            "done\nset +f\n")


def ours_less_script(expanded: str, targets: Sequence[str], variants: Sequence[str], flags: Sequence[str],
                     build_dir: Path, dest: Path) -> str:
    """ours' script in its own build directory, `flags` removed from the distribution flags
    right before its CPU configure (after the spec's edits and %cmake's defaults)."""
    script = ours_script(expanded, targets, variants, build_dir, dest)
    missing = [f for f in flags if not re.search(r"(?<![^\s'\"])" + re.escape(f) + r"(?![^\s'\"])", script)]
    if missing:
        raise BenchError(f"--drop-flags: {' '.join(missing)} not among the flags of the spec's CPU build")
    configure = re.search(r'^\s*/usr/bin/cmake -S .* -B ("[^"]+")', script, re.M)
    if configure is None:
        raise BenchError(f"{SPEC.name}: the CPU build has no configure line (/usr/bin/cmake -S ... -B \"DIR\")")
    script = script[:configure.start()] + drop_flags_lines(flags) + script[configure.start():]
    return script.replace(configure.group(1), f'"{build_dir.name}"')      # in its configure and build lines


def upstream_configure(tree: Path, llama: Path, build_dir: Path, dest: Path, generator: str | None) -> str:
    """Upstream's configure of llama/server, with no distribution flags."""
    configure = ["cmake", *(["-G", generator] if generator else []), "-S", str(tree / "llama" / "server"),
                 "-B", str(build_dir), *UPSTREAM_CMAKE_ARGS, f"-DCMAKE_INSTALL_PREFIX={dest.parent}",
                 f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP={llama}"]
    return "unset " + " ".join(FLAG_ENV) + "\n" + shlex.join(configure) + "\n"


def upstream_script(configure: str, build_dir: Path, dest: Path, variants: Sequence[str]) -> str:
    """`configure`, then the CPU build of the measured variants, then its outputs to `dest`."""
    build = ["cmake", "--build", str(build_dir), "--parallel", str(os.cpu_count() or 1),
             "--target", *build_targets(variants)]
    return configure + skip_unmeasured(build_dir, variants) + shlex.join(build) + "\n" + collect_outputs(build_dir, dest)


def _stamp(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def run_build(place: Place, build: Build, script: str, cwd: Path, targets: Sequence[str], configure: str) -> Build:
    """Run a build script once; a stamp naming the targets, compiler and script makes later runs
    reuse it. `configure` is the part of the script that sets the tree's flags: when it (or the
    compiler) changed, the build starts from a new tree; other changes (more or fewer variants)
    build in the old one."""
    stamp = build.build_dir.parent / f".bench-built-{build.label}"
    build.compiler = place.compiler()
    want = {"targets": list(targets), "compiler": build.compiler,
            "script": hashlib.sha256(script.encode()).hexdigest(),
            "tree": hashlib.sha256(f"{build.compiler}\n{configure}".encode()).hexdigest()}
    had = _stamp(stamp)
    if had == want and (build.libdir / "llama-server").exists():
        print(f"[{build.label}] reusing the build in {build.build_dir} ({build.compiler})", flush=True)
    else:
        # CMake takes CFLAGS/CXXFLAGS/LDFLAGS from the environment at a tree's first configure
        # only and keeps them in its cache: new flags need a new tree, as rpmbuild's BUILD is.
        if had.get("tree") != want["tree"]:
            shutil.rmtree(build.build_dir, ignore_errors=True)
        script_file = build.build_dir.parent / f"build-{build.label}.sh"
        script_file.write_text("set -e\n" + script)
        log = build.build_dir.parent / f"build-{build.label}.log"
        print(f"[{build.label}] building {' '.join(targets)} with {build.compiler} ({place.name}); log: {log}",
              flush=True)
        build.seconds = run_logged(place, ["nice", "-n", "10", "bash", str(script_file)], cwd, log,
                                   f"the {build.label} build")
        stamp.write_text(json.dumps(want))
        print(f"[{build.label}] built in {build.seconds / 60:.1f} min", flush=True)
    build.flags = cmake_cache_flags(build.build_dir / "CMakeCache.txt")
    return build


def cmake_cache_flags(cache: Path) -> dict[str, str]:
    """The compiler and linker settings a build used, as its CMakeCache.txt has them."""
    found: dict[str, str] = {}
    if not cache.exists():
        return found
    for line in cache.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        name = key.split(":", 1)[0]
        if name in CACHE_KEYS:
            found[name] = value
    return found


def variant_compile_flags(build_dir: Path, variant: str) -> str:
    """The compile flags of a variant's C++ objects, as build.ninja or its flags.make has them."""
    marker = f"ggml-cpu-{variant}.dir/"
    ninja = build_dir / "build.ninja"
    if ninja.exists():
        current = ""
        for line in ninja.read_text(errors="replace").splitlines():
            if line.startswith("build "):
                current = line
            elif line.startswith("  FLAGS = ") and marker in current and "CXX_COMPILER" in current:
                return line.split("=", 1)[1].strip()
        return "?"
    for flags in build_dir.rglob(f"ggml-cpu-{variant}.dir/flags.make"):
        for line in flags.read_text(errors="replace").splitlines():
            if line.startswith("CXX_FLAGS = "):
                return line.split("=", 1)[1].strip()
    return "?"


# ---------------------------------------------------------------- run directories

def run_dir(libdir: Path, dest: Path, variant: str) -> Path:
    """A fresh copy of an installed library directory with exactly one CPU variant module
    (made again on every run: a rebuild must not leave an older copy measured)."""
    module = f"libggml-cpu-{variant}.so"
    if not (libdir / module).exists():
        raise BenchError(f"{libdir}: no {module} (was ggml-cpu-{variant} built?)")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(libdir, dest, symlinks=True,
                    ignore=lambda _d, names: [n for n in names if n.startswith("libggml-cpu-") and n != module])
    return dest


def loaded_modules(maps_text: str) -> set[str]:
    """The ggml CPU variant modules a process has mapped (the text of /proc/PID/maps)."""
    return {m.group("path") for m in _MAPPED_CPU.finditer(maps_text)}


def check_variant(pid: int, directory: Path, variant: str, label: str, chroot: Path | None = None) -> None:
    """ggml must have loaded exactly the run directory's one module: fail loudly otherwise.
    (The host reads a chrooted process's maps with the chroot's path in front.)"""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError as error:
        raise BenchError(f"{label}: cannot read /proc/{pid}/maps: {error}") from None
    loaded = loaded_modules(maps)
    want = f"{chroot or ''}{directory / f'libggml-cpu-{variant}.so'}"
    if loaded != {want}:
        raise BenchError(f"{label}: ggml loaded {', '.join(sorted(loaded)) or 'no CPU variant'}, expected only {want}")


# ---------------------------------------------------------------- the model

def make_models(place: Place, work: Path, quantize_dir: Path, types: Sequence[str]) -> dict[str, Path]:
    """The benchmark's F16 model and its quantizations, made once under work/model."""
    folder = work / "model"
    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / "bench-f16.gguf"
    if not f16.exists():
        start = time.monotonic()
        tinymodel.write_tiny_gguf(f16, tinymodel.BENCH_SHAPE, seed=SEED)
        print(f"[model] wrote {f16} ({f16.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - start:.0f} s",
              flush=True)
    models = {"f16": f16}
    for kind in types:
        if kind == "f16":
            continue
        out = folder / f"bench-{kind}.gguf"
        if not out.exists():
            part = out.with_name(out.name + ".part")
            run_logged(place, [str(quantize_dir / "llama-quantize"), str(f16), str(part), kind.upper()],
                       quantize_dir, folder / f"quantize-{kind}.log", f"llama-quantize {kind}")
            part.rename(out)
        models[kind] = out
    return {k: v for k, v in models.items() if k in types}


def prompt_ids(vocab: int, count: int, rep: int) -> list[int]:
    """`count` token ids of normal tokens, different for every repetition (no prompt cache hit)."""
    import random
    rng = random.Random(SEED * 1000 + rep)
    return [rng.randrange(3, vocab) for _ in range(count)]


def prompt_text(count: int, rep: int) -> str:
    """About `count` tokens of text for Ollama (letter pieces of the padded vocabulary)."""
    import random
    rng = random.Random(SEED * 1000 + rep)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join(rng.choice(letters) + rng.choice(letters) for _ in range(count))


# ---------------------------------------------------------------- servers

def http_json(port: int, method: str, path: str, body: dict[str, Any] | None = None,
              timeout: float = 600) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data or b"null")
    except ValueError:
        return response.status, data.decode(errors="replace")


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM of a process, in KiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else None


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@dataclass
class Server:
    label: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    peak_kib: int | None = None


def wait_ready(server: Server, path: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.label} exited with {server.proc.returncode} before it was ready; "
                             f"see {server.log}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_json(server.port, "GET", path, timeout=5)[0] == 200:
                return
        time.sleep(0.5)
    raise BenchError(f"{server.label} not ready after {timeout:.0f} s; see {server.log}")


def stop(server: Server, pids: Sequence[int]) -> None:
    """Record the peak RSS of `pids` (the server or its runner), then stop the server."""
    peaks = [p for p in (peak_rss_kib(pid) for pid in pids) if p is not None]
    server.peak_kib = max(peaks) if peaks else None
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@contextlib.contextmanager
def llama_server(place: Place, label: str, directory: Path, model: Path, threads: int,
                 variant: str) -> Iterator[Server]:
    """llama-server from a run directory, checked to have loaded `variant`."""
    port = free_port()
    log = place.work / "logs" / f"{label}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cwd = place.work / "empty-cwd"           # ggml also searches the current directory
    cwd.mkdir(exist_ok=True)
    argv = [str(directory / "llama-server"), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--threads", str(threads), "--ctx-size", str(CTX), "--parallel", "1", "--seed", str(SEED)]
    with log.open("wb") as out:
        proc = subprocess.Popen(place.argv(argv), cwd=cwd, env=place.env(), stdout=out, stderr=subprocess.STDOUT)
    server = Server(label, port, proc, log)
    try:
        wait_ready(server, "/health")
        check_variant(proc.pid, directory, variant, label, place.chroot)
        yield server
    finally:
        stop(server, [proc.pid])


def measure_llama(server: Server, vocab: int, rep: int) -> tuple[float, float]:
    """(prompt tokens/s over 512 ids, generated tokens/s over 128) from llama-server's timings."""
    base = {"cache_prompt": False, "ignore_eos": True, **SAMPLING}
    status, pp = http_json(server.port, "POST", "/completion",
                           {**base, "prompt": prompt_ids(vocab, PP_TOKENS, rep), "n_predict": 1})
    if status != 200 or pp["timings"]["prompt_n"] < PP_TOKENS:
        raise BenchError(f"{server.label}: prompt request answered {status}: {str(pp)[:200]}")
    status, tg = http_json(server.port, "POST", "/completion",
                           {**base, "prompt": prompt_ids(vocab, 1, rep), "n_predict": TG_TOKENS})
    if status != 200 or tg["timings"]["predicted_n"] != TG_TOKENS:
        raise BenchError(f"{server.label}: generation request answered {status}: {str(tg)[:200]}")
    return float(pp["timings"]["prompt_per_second"]), float(tg["timings"]["predicted_per_second"])


# ---------------------------------------------------------------- Ollama

def build_ollama(tree: Path, out: Path, ldflags: str, vendored: bool) -> Path:
    """`go build` of our patched tree with the spec's -X flags. Always on the host: the binary
    runs llama-server as a child process, and a glibc-2.36 binary also runs in a sid chroot."""
    stamp = out.with_name(out.name + ".ldflags")
    if out.exists() and stamp.exists() and stamp.read_text() == ldflags:
        return out
    env = {k: v for k, v in os.environ.items() if k not in FLAG_ENV}
    env.update(CGO_ENABLED="1", GOFLAGS="-mod=vendor" if vendored else "-mod=mod")
    log = out.with_name("go-build.log")
    start = time.monotonic()
    with log.open("w") as handle:
        proc = subprocess.run(["nice", "-n", "10", "go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out),
                               "."], cwd=tree, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise BenchError(f"go build of ollama failed; see {log}")
    stamp.write_text(ldflags)
    print(f"[ollama] go build in {time.monotonic() - start:.0f} s", flush=True)
    return out


def ollama_env(place: Place, port: int) -> dict[str, str]:
    home = place.work / "ollama" / "home"
    home.mkdir(parents=True, exist_ok=True)
    return place.env(OLLAMA_HOST=f"127.0.0.1:{port}", OLLAMA_MODELS=str(place.work / "ollama" / "models"),
                     HOME=str(home), OLLAMA_NO_CLOUD="1", OLLAMA_KEEP_ALIVE="30m")


@contextlib.contextmanager
def ollama_server(place: Place, binary: Path, label: str) -> Iterator[Server]:
    port = free_port()
    log = place.work / "logs" / f"{label}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(place.argv([str(binary), "serve"]), cwd=place.work / "empty-cwd",
                                env=ollama_env(place, port), stdout=out, stderr=subprocess.STDOUT)
    server = Server(label, port, proc, log)
    runners: list[int] = []
    try:
        wait_ready(server, "/api/version")
        yield server
    finally:
        runners = children(proc.pid)
        stop(server, runners or [proc.pid])


def ollama_import(place: Place, binary: Path, server: Server, name: str, model: Path) -> None:
    modelfile = place.work / "ollama" / f"Modelfile.{name}"
    modelfile.write_text(f"FROM {model}\n")
    proc = subprocess.run(place.argv([str(binary), "create", name, "-f", str(modelfile)]), cwd=place.work,
                          env=ollama_env(place, server.port), capture_output=True, text=True)
    _check(proc, f"ollama create {name}")


def measure_ollama(server: Server, name: str, threads: int, rep: int) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s) from /api/generate's counts and durations."""
    options = {"num_thread": threads, "num_ctx": CTX, **SAMPLING}
    results = []
    for prompt, predict in ((prompt_text(PP_TOKENS, rep), 1), (prompt_text(1, rep), TG_TOKENS)):
        status, body = http_json(server.port, "POST", "/api/generate",
                                 {"model": name, "prompt": prompt, "raw": True, "stream": False,
                                  "options": {**options, "num_predict": predict}})
        if status != 200 or not isinstance(body, dict):
            raise BenchError(f"{server.label}: /api/generate answered {status}: {str(body)[:200]}")
        if body.get("done") is not True:
            raise BenchError(f"{server.label}: /api/generate stopped before its final answer (done: "
                             f"{body.get('done')!r}; Ollama's token repeat limit?): {str(body)[-200:]}")
        results.append(body)
    pp, tg = results
    if tg.get("eval_count") != TG_TOKENS or pp.get("prompt_eval_count", 0) < PP_TOKENS // 2:
        raise BenchError(f"{server.label}: /api/generate evaluated {pp.get('prompt_eval_count')} prompt and "
                         f"{tg.get('eval_count')} generated tokens, expected ~{PP_TOKENS} and {TG_TOKENS}")
    return (pp["prompt_eval_count"] / pp["prompt_eval_duration"] * 1e9,
            tg["eval_count"] / tg["eval_duration"] * 1e9)


# ---------------------------------------------------------------- the runs

@dataclass
class Row:
    variant: str
    kind: str
    labels: tuple[str, ...]     # the builds measured, in the order of a round
    pp: dict[str, list[float]] = field(default_factory=dict)
    tg: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, int | None] = field(default_factory=dict)

    def add(self, label: str, figures: tuple[float, float]) -> None:
        self.pp.setdefault(label, []).append(figures[0])
        self.tg.setdefault(label, []).append(figures[1])

    def stat(self, which: str, label: str) -> Stat | None:
        values = (self.pp if which == "pp" else self.tg).get(label)
        return summarise(values) if values else None

    def ratio(self, which: str, pair: tuple[str, str] | None = None) -> str:
        """pair[0] / pair[1] (default: the first two labels): the median [min-max] of the ratios
        within each repetition (the two ran in the same round, so the machine's slow drifts
        cancel), or, where the repetitions do not pair up, the ratio of the medians."""
        first, second = pair or (self.labels[0], self.labels[1])
        figures = self.pp if which == "pp" else self.tg
        a, b = figures.get(first, []), figures.get(second, [])
        if a and len(a) == len(b) and all(b):
            return fmt_stat(summarise([x / y for x, y in zip(a, b, strict=True)]), digits=2)
        return fmt_ratio(self.stat(which, first), self.stat(which, second))


def interleave(row: Row, servers: Sequence[tuple[Server, Any]], reps: int) -> None:
    """One warm-up each, then `reps` rounds of A, B, ..., every figure taken with the others
    idle; each round starts one server later (A B C, B C A, C A B, ...; with two: A B, B A), so
    over a multiple of their number of rounds each server holds each place equally often and
    whatever favours a place cancels out."""
    for rep in range(reps + 1):
        shift = rep % len(servers)
        for server, measure in [*servers[shift:], *servers[:shift]]:
            figures = measure(server, rep)
            if rep:
                row.add(server.label.split(":")[0], figures)
    print(f"  {row.variant} {row.kind}: " + "; ".join(
        f"{label} pp {fmt_stat(row.stat('pp', label))} tg {fmt_stat(row.stat('tg', label))}"
        for label in row.labels), flush=True)


def bench_pair(place: Place, dirs: dict[str, Path], variant: str, kind: str, model: Path,
               args: argparse.Namespace) -> Row:
    """ours, upstream and the ours-less builds `dirs` has, in turn, each its own llama-server."""
    row = Row(variant, kind, (*BUILDS, *(label for label in dirs if label.startswith(LESS))))
    vocab = tinymodel.BENCH_SHAPE.vocab
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(llama_server(place, f"{b}:{variant}-{kind}", dirs[b], model, args.threads,
                                                    variant)) for b in row.labels]
        interleave(row, [(s, lambda srv, rep: measure_llama(srv, vocab, rep)) for s in servers], args.reps)
    for server in servers:
        row.rss[server.label.split(":")[0]] = server.peak_kib
    return row


def point_libdir(link: Path, target: Path) -> None:
    """Point the Go binary's library directory (a symlink, baked in by -X) at `target`."""
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def bench_ollama(place: Place, binary: Path, libdir: Path, ours_dir: Path, variant: str, kind: str, model: Path,
                 args: argparse.Namespace) -> Row:
    row = Row(variant, kind, ("llama-server", "ollama"))
    name = f"bench-{kind.replace('_', '-')}"
    vocab = tinymodel.BENCH_SHAPE.vocab
    point_libdir(libdir, ours_dir)
    with contextlib.ExitStack() as stack:
        direct = stack.enter_context(llama_server(place, f"llama-server:{variant}-{kind}", ours_dir, model,
                                                  args.threads, variant))
        ollama = stack.enter_context(ollama_server(place, binary, f"ollama:{variant}-{kind}"))
        ollama_import(place, binary, ollama, name, model)
        interleave(row, [(direct, lambda srv, rep: measure_llama(srv, vocab, rep)),
                         (ollama, lambda srv, rep: measure_ollama(srv, name, args.threads, rep))], args.reps)
        runners = children(ollama.proc.pid)
        if not runners:
            raise BenchError(f"{ollama.label}: no runner process left after the requests; see {ollama.log}")
        for pid in runners:
            check_variant(pid, ours_dir, variant, f"{ollama.label} runner {pid}", place.chroot)
    row.rss = {"llama-server": direct.peak_kib, "ollama": ollama.peak_kib}
    return row


# ---------------------------------------------------------------- reporting

def speed_table(rows: Sequence[Row], pair: tuple[str, str] | None = None) -> str:
    a, b = pair or ((rows[0].labels[0], rows[0].labels[1]) if rows else BUILDS)
    header = ["variant", "type", f"pp{PP_TOKENS} {a}", f"pp{PP_TOKENS} {b}", "ratio",
              f"tg{TG_TOKENS} {a}", f"tg{TG_TOKENS} {b}", "ratio", f"peak RSS MiB {a} / {b}"]
    body = []
    for row in rows:
        pa, pb, ta, tb = (row.stat("pp", a), row.stat("pp", b), row.stat("tg", a), row.stat("tg", b))
        body.append([row.variant, row.kind, fmt_stat(pa), fmt_stat(pb), row.ratio("pp", (a, b)), fmt_stat(ta),
                     fmt_stat(tb), row.ratio("tg", (a, b)), f"{fmt_mib(row.rss.get(a))} / {fmt_mib(row.rss.get(b))}"])
    return markdown_table(header, body)


def machine_summary() -> str:
    flags = cpu_select.read_cpu_flags()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    isa = " ".join(sorted(f for f in flags if re.match(r"(avx|amx|fma|f16c|bmi2|sse4_2)", f)))
    return f"{model}, {os.cpu_count()} CPUs, {platform.release()}; ISA flags: {isa}"


def build_summary(builds: Sequence[Build], variants: Sequence[str]) -> str:
    lines = []
    for build in builds:
        took = "reused" if build.seconds is None else f"{build.seconds / 60:.1f} min"
        lines.append(f"- **{build.label}** ({build.compiler}; build {took}):")
        lines += [f"  - `{key}` = `{value}`" for key, value in build.flags.items()]
        lines += [f"  - ggml-cpu-{v} C++ objects: `{variant_compile_flags(build.build_dir, v)}`" for v in variants]
    return "\n".join(lines)


def write_doc(path: Path, report: str, rows: Sequence[Row]) -> None:
    """The report at `path` and, when matplotlib is importable, its plot beside it (PATH.png)."""
    png = write_plot(path.with_suffix(".png"), rows)
    if png:
        report += f"\n![tokens/s per variant and type, ours and upstream (bars: medians, lines: min-max)]({png.name})\n"
    atomic.write_text(path, report)
    print(f"wrote {path}")


def write_plot(png: Path, rows: Sequence[Row]) -> Path | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        print("plot skipped: matplotlib is not importable (pip install '.[bench]')")
        return None
    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4))
    for ax, which in zip(axes, ("pp", "tg"), strict=True):
        for offset, label in ((-0.2, "ours"), (0.2, "upstream")):
            stats = [r.stat(which, label) or Stat(0, 0, 0) for r in rows]
            ax.bar([i + offset for i in range(len(rows))], [s.median for s in stats], width=0.4, label=label,
                   yerr=[[s.median - s.low for s in stats], [s.high - s.median for s in stats]], capsize=3)
        ax.set_xticks(range(len(rows)), [f"{r.variant}\n{r.kind}" for r in rows])
        ax.set_ylabel("tokens/s")
        ax.set_title(f"pp{PP_TOKENS}" if which == "pp" else f"tg{TG_TOKENS}")
        ax.legend()
    figure.tight_layout()
    with atomic.atomic_path(png) as tmp:
        figure.savefig(tmp, format="png")
        os.chmod(tmp, 0o644)                 # as atomic.write_text leaves a page
    print(f"wrote {png}")
    return png


def shown_command(argv: Sequence[str]) -> str:
    """The command line for the page, with this machine's directories as placeholders."""
    placeholders = {"--sources": "$SOURCES", "--work": "$WORKDIR", "--chroot": "$CHROOT"}
    words, previous = [".venv/bin/python", "bench/runtime.py"], ""
    for arg in argv:
        option, eq, _ = arg.partition("=")
        if eq and option in placeholders:
            words.append(f"{option}={placeholders[option]}")
        elif previous in placeholders:
            words.append(placeholders[previous])
        else:
            words.append(shlex.quote(arg))
        previous = "" if previous in placeholders else arg
    return " ".join(words)


def report_text(args: argparse.Namespace, builds: Sequence[Build], variants: Sequence[str], rows: Sequence[Row],
                ollama_rows: Sequence[Row]) -> str:
    parts = ["# Runtime performance: our build against upstream's", "",
             "Written by `bench/runtime.py` (what it builds and measures: its docstring). "
             "Figures: tokens/s, median [min-max] of the repetitions; ratio: ours / upstream, the median [min-max] of the ratios within each repetition (the two ran back to back).", "",
             f"Command: `{shown_command(sys.argv[1:])}`", "",
             f"Machine: {machine_summary()}", "",
             f"Model: random-weight llama (check/tinymodel.py), {tinymodel.BENCH_SHAPE}, quantized by "
             f"upstream's llama-quantize; {args.threads} threads, ctx {CTX}, "
             f"repetitions: {args.reps} after one warm-up, ours and upstream taking turns.", "",
             "## llama-server", "", speed_table(rows), ""]
    if ollama_rows:
        parts += ["## Through `ollama serve` (ours)", "",
                  "The packaged Go binary driving our llama-server, against that llama-server alone "
                  "(ratio: llama-server / ollama).", "", speed_table(ollama_rows), ""]
    for number, flags in enumerate(args.drop_flags, 1):
        label = less_label(number)
        parts += [f"## {label}: ours less `{' '.join(flags)}`", "",
                  f"ours without these flags, measured in the same rounds (ratio: {label} / ours).", "",
                  speed_table(rows, (label, "ours")), ""]
    parts += ["## Builds", "", build_summary(builds, variants), ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- main

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sources", default=os.environ.get("OLLAMA_RPM_REAL_SOURCES"),
                        help="directory with the real tarballs (default: $OLLAMA_RPM_REAL_SOURCES)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench-runtime",
                        help="work directory; finished builds there are reused (default build/bench-runtime)")
    parser.add_argument("--chroot", type=Path, help="build and run inside this Debian sid tree (tests/support/chroot-run)")
    parser.add_argument("--reps", type=int, default=5, help="measurements per build, after one warm-up (default 5)")
    parser.add_argument("--types", default=",".join(TYPES), help=f"model types (default {','.join(TYPES)})")
    parser.add_argument("--variants", help="CPU variants (default: the one ggml picks here, haswell, x64)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads (default: all CPUs)")
    parser.add_argument("--no-ollama", action="store_true", help="skip the `ollama serve` comparison")
    parser.add_argument("--drop-flags", metavar="FLAGS", type=str.split, action="append", default=[],
                        help="also build ours without these distribution flags (ours-less; given again: "
                             "ours-less2, ...) and measure it in the same rounds: what the flags cost")
    parser.add_argument("--write-doc", nargs="?", type=Path, const=REPO / "doc" / "performance.md",
                        metavar="PATH", help="write the report (default doc/performance.md) and a PNG plot")
    args = parser.parse_args(argv)
    bad = [t for t in args.types.split(",") if t not in TYPES]
    if bad or args.reps < 1:
        parser.error(f"--types takes {','.join(TYPES)} and --reps at least 1")
    return args


def default_variants() -> list[str]:
    flags = cpu_select.read_cpu_flags()
    best, _ = cpu_select.best_variant(cpu_levels.X86_VARIANT_FEATURES, flags)
    chosen = [best] if best else []
    return list(dict.fromkeys([*chosen, *(v for v in ("haswell", "x64") if cpu_select.score(v, flags) > 0)]))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    src = find_sources(args.sources)
    if isinstance(src, str):
        print(f"runtime benchmark skipped: {src}")
        return 0
    if platform.machine() != "x86_64":
        print(f"runtime benchmark skipped: x86_64 only (the CPU variants measured), this is {platform.machine()}")
        return 0
    try:
        run(args, src)
    except BenchError as error:
        print(f"runtime benchmark failed: {error}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace, src: Sources) -> None:
    work = args.work.resolve()
    place = Place(work, args.chroot.resolve() if args.chroot else None)
    root = work / ("chroot-" + place.chroot.name if place.chroot else "host")
    variants = args.variants.split(",") if args.variants else default_variants()
    types = [t for t in TYPES if t in args.types.split(",")]
    expanded = rendered_spec()
    print(f"runtime benchmark: {machine_summary()}\n  variants {', '.join(variants)}; types {', '.join(types)}; "
          f"{place.name}, compiler: {place.compiler()}", flush=True)
    builds = build_both(place, src, root, expanded, variants)
    builds += [build_less(place, builds[0], root, expanded, variants, flags, less_label(number))
               for number, flags in enumerate(args.drop_flags, 1)]
    dirs = {(b.label, v): run_dir(b.libdir, root / "run" / f"{b.label}-{v}", v) for b in builds for v in variants}
    models = make_models(place, work, dirs["upstream", variants[0]], types)
    rows = [bench_pair(place, {b.label: dirs[b.label, v] for b in builds}, v, t, models[t], args)
            for v in variants for t in types]
    ollama_rows = []
    if not args.no_ollama:
        # one binary for every variant: its library directory is a symlink to the variant's run directory
        libdir = root / "run" / "ollama-libdir"
        binary = build_ollama(root / "ours" / f"ollama-{src.version}", root / "ollama",
                              go_ldflags(expanded, str(libdir)), src.vendor is not None)
        ollama_rows = [bench_ollama(place, binary, libdir, dirs["ours", v], v, t, models[t], args)
                       for v in variants for t in ("f16", "q4_0") if t in types]
    report = report_text(args, builds, variants, rows, ollama_rows)
    print("\n" + report)
    if args.write_doc:
        write_doc(args.write_doc, report, rows)


def build_both(place: Place, src: Sources, root: Path, expanded: str, variants: Sequence[str]) -> list[Build]:
    targets = build_targets(variants)
    ours_tree = prepare_ours(src, root / "ours", expanded)
    up_tree, up_llama = prepare_upstream(src, root / "upstream")
    ours = Build("ours", ours_tree / "build-cpu", root / "ours" / "out")
    upstream = Build("upstream", root / "upstream" / "build-cpu", root / "upstream" / "out")
    ours_configure = cpu_build_script(expanded, targets).rstrip("\n").rpartition("\n")[0]   # less the build line
    run_build(place, ours, ours_script(expanded, targets, variants, ours.build_dir, ours.libdir), ours_tree, targets,
              ours_configure)
    generator = None if place.has("make") else "Ninja"
    if generator:
        print("[upstream] no make here: Ninja instead of CMake's default Unix Makefiles", flush=True)
    up_configure = upstream_configure(up_tree, up_llama, upstream.build_dir, upstream.libdir, generator)
    run_build(place, upstream, upstream_script(up_configure, upstream.build_dir, upstream.libdir, variants),
              root / "upstream", targets, up_configure)
    return [ours, upstream]


def build_less(place: Place, ours: Build, root: Path, expanded: str, variants: Sequence[str],
               flags: Sequence[str], label: str) -> Build:
    """ours without `flags`: ours' prepared tree, a build directory of its own."""
    targets = build_targets(variants)
    tree = ours.build_dir.parent
    less = Build(label, tree / f"{ours.build_dir.name}{label.removeprefix('ours')}", root / label / "out")
    less.libdir.parent.mkdir(parents=True, exist_ok=True)
    script = ours_less_script(expanded, targets, variants, flags, less.build_dir, less.libdir)
    return run_build(place, less, script, tree, targets, script.rstrip("\n").rpartition("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
