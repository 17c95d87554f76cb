"""End to end: the real template builds an Ollama-shaped fixture into RPMs.

render -> sources (real HTTP on 127.0.0.1) -> vendor (go mod vendor) -> srpm ->
build --engine rpmbuild -> binary RPMs, which are inspected, audited for their
ISA, linted with the Fedora profile and installed into a scratch root. The
build's distribution flags carry -march=x86-64-v3, as an EL-style build would,
to prove the CPU variants do not inherit it.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, STANDIN_MACROS, run_cli
from e2e_support import LIBDIR, TAG, VERSION
from e2e_support import rpm_files as _files
from e2e_support import rpm_names as _by_name
from fixture import upstream
from ollama_rpm.check import isa_audit
from ollama_rpm.check.lint import lint_paths

PRIVATE_LIB = re.compile(r"lib(ggml|llama|mtmd)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "go", "cmake", "rpm2cpio")),
                       reason="needs rpmbuild, go, cmake and rpm2cpio"),
]


@pytest.fixture(scope="module")
def built(fixture_rpms):
    # One build per session (conftest.fixture_rpms), shared with test_upgrade.
    return fixture_rpms


def test_sources_were_downloaded_over_http_with_a_retry_and_pinned(built):
    server, project = built["server"], built["project"]
    assert server.hits[f"/ollama/v{VERSION}/ollama-{VERSION}.tar.gz"] == 2      # a 500, then the file
    lock = (project / "sources.lock").read_text()
    for name in (f"ollama-{VERSION}.tar.gz", f"llama.cpp-{TAG}.tar.gz", f"ollama-{VERSION}-vendor.tar.bz2"):
        assert name in lock


def test_patches_were_checked_as_prep_applies_them(built):
    out = built["steps"]["check-patches"].stdout
    assert f"ok  {upstream.GO_PATCH_NAME}" in out and f"ok  {upstream.COMPAT_PATCH}" in out
    # shaped like the real laguna patch: git apply takes it, patch --fuzz=0 does not
    assert f"ok  {upstream.COMPAT_MODELS_PATCH}" in out


def test_the_expected_set_of_rpms(built):
    names = set(_by_name(built["rpms"]))
    levels = sorted({level for level in built["cfg"]["cpu_variants"]["x86_64"].values()})
    main = {"ollama", "ollama-ggml-vulkan", *(f"ollama-ggml-cpu-x86_64-{lvl}" for lvl in levels)}
    assert {n for n in names if not n.endswith(("-debuginfo", "-debugsource"))} == main
    assert "ollama-debuginfo" in names and "ollama-debugsource" in names
    assert built["srpm"].name == f"ollama-{VERSION}-1.fc43.src.rpm"


def test_every_file_in_the_right_subpackage_with_mode_and_owner(built):
    names = _by_name(built["rpms"])
    main = _files(names["ollama"])
    assert main["/usr/bin/ollama"][:3] == ("-rwxr-xr-x", "root", "root")
    assert main["/var/lib/ollama"][:3] == ("drwx------", "ollama", "ollama")
    # Settings are systemd drop-ins: no new /etc/sysconfig file (Fedora asks for none).
    assert not [p for p in main if p.startswith("/etc/")], [p for p in main if p.startswith("/etc/")]
    for path in ("/usr/lib/systemd/system/ollama.service", "/usr/lib/systemd/user/ollama.service",
                 "/usr/lib/sysusers.d/ollama.conf", "/usr/share/doc/ollama/README.Fedora"):
        assert main[path][:3] == ("-rw-r--r--", "root", "root"), path
    for path in (f"{LIBDIR}/llama-server", f"{LIBDIR}/llama-quantize", f"{LIBDIR}/libggml-base.so.{upstream.GGML_VERSION}",
                 f"{LIBDIR}/libllama-server-impl.so", f"{LIBDIR}/libllama-quantize-impl.so"):
        assert main[path][0] == "-rwxr-xr-x", path
    assert f"{LIBDIR}/libggml-base.so" not in main                         # no link-time symlinks
    assert any(p.startswith("/usr/share/licenses/ollama/vendor/") for p in main)
    assert {"/usr/share/licenses/ollama/LICENSE", "/usr/share/licenses/ollama/llama.cpp-licenses/LICENSE",
            "/usr/share/licenses/ollama/llama.cpp-licenses/vendor/cpp-httplib/LICENSE"} <= set(main)

    for variant, level in built["cfg"]["cpu_variants"]["x86_64"].items():
        owners = [n for n, rpm in names.items() if not n.endswith("debuginfo")
                  and f"{LIBDIR}/libggml-cpu-{variant}.so" in _files(rpm)]
        assert owners == [f"ollama-ggml-cpu-x86_64-{level}"], variant
    vulkan = _files(names["ollama-ggml-vulkan"])
    assert f"{LIBDIR}/vulkan/libggml-vulkan.so" in vulkan
    assert not [p for p in vulkan if "fixture-runtime" in p], "bundled runtime must be deleted"

    for name, rpm in names.items():
        if name.endswith(("-debuginfo", "-debugsource")):
            continue
        for path in _files(rpm):
            if os.path.basename(path).startswith(("libggml", "libllama", "libmtmd", "llama-")):
                assert path.startswith(LIBDIR + "/"), path


def test_no_private_library_in_provides_or_requires(built):
    # (debuginfo packages provide "<lib>-<evr>.debug()" names: not loadable libraries)
    for rpm in built["rpms"]:
        if "-debuginfo-" in rpm.name:
            continue
        for query in ("--provides", "--requires"):
            deps = subprocess.run(["rpm", "-qp", query, rpm], capture_output=True, text=True,
                                  check=True).stdout
            leaked = [d for d in deps.splitlines() if PRIVATE_LIB.match(d)]
            assert not leaked, (rpm.name, query, leaked)


def test_bundled_llama_cpp_is_declared(built):
    provides = subprocess.run(["rpm", "-qp", "--provides", _by_name(built["rpms"])["ollama"]],
                              capture_output=True, text=True, check=True).stdout.splitlines()
    assert f"bundled(llama-cpp) = {TAG}" in provides


def test_backends_pin_the_main_package_and_main_pins_v1(built):
    names = _by_name(built["rpms"])
    evr = f"{VERSION}-1.fc43"
    requires = subprocess.run(["rpm", "-qp", "--requires", names["ollama"]], capture_output=True,
                              text=True, check=True).stdout
    assert f"ollama-ggml-cpu-x86_64-v1(x86-64) = {evr}" in requires
    for name in names:
        if name.startswith("ollama-ggml-") and not name.endswith("debuginfo"):
            requires = subprocess.run(["rpm", "-qp", "--requires", names[name]], capture_output=True,
                                      text=True, check=True).stdout
            assert f"ollama(x86-64) = {evr}" in requires, name


def test_cpu_variants_stay_within_their_isa_despite_a_global_march(built):
    level_rpms = [rpm for name, rpm in _by_name(built["rpms"]).items()
                  if name.startswith("ollama-ggml-cpu-x86_64-") and not name.endswith("debuginfo")]
    reports = isa_audit.audit_paths(level_rpms)
    assert {r.variant for r in reports} == set(upstream.CPU_VARIANTS)
    assert all(r.ok for r in reports), isa_audit.format_table(reports)
    x64 = next(r for r in reports if r.variant == "x64")
    assert not x64.features, x64.features            # baseline x86-64 only, every byte decoded
    skylakex = next(r for r in reports if r.variant == "skylakex")
    assert "AVX512" in skylakex.features          # the variants did get their own flags


def test_cli_audit_isa_on_the_built_rpms(built):
    proc = run_cli("audit-isa", *[r for r in built["rpms"] if "ggml-cpu" in r.name and "debug" not in r.name])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "libggml-cpu-x64.so" in proc.stdout and "FAIL" not in proc.stdout


def test_spec_srpm_and_rpms_lint_clean_under_the_fedora_profile(built):
    spec = built["project"] / "ollama.spec"
    report = lint_paths([spec, built["srpm"], *built["rpms"]], built["project"], macros=[STANDIN_MACROS])
    detail = "\n".join(f"{f.path}: {m}" for f in report.files for m in getattr(f, "messages", []))
    assert report.errors == 0 and report.warnings == 0, detail
    assert len(report.files) == len(built["rpms"]) + 2


def test_rpms_install_into_a_scratch_root_and_run(built, tmp_path):
    root = tmp_path / "root"
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    rpms = [str(r) for r in built["rpms"] if not r.name.startswith(("ollama-debug",))
            and "-debuginfo-" not in r.name]
    # No glibc in the scratch root, and scriptlets would run systemctl: install the payload only.
    proc = subprocess.run(["rpm", "--root", str(root), "-i", "--nodeps", "--noscripts", *rpms],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    installed = subprocess.run(["rpm", "--root", str(root), "-qa", "--qf", "%{NAME}\n"],
                               capture_output=True, text=True, check=True).stdout.split()
    assert "ollama" in installed and "ollama-ggml-cpu-x86_64-v1" in installed

    ollama = root / "usr/bin/ollama"
    version = subprocess.run([str(ollama), "--version"], capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"], "OLLAMA_HOST": "127.0.0.1:9"})
    assert f"client version is {VERSION}" in version.stdout + version.stderr
    # The package's -X stamps are in the binary: version, release mode, library dir.
    buildinfo = subprocess.run(["go", "version", "-m", str(ollama)], capture_output=True, text=True,
                               check=True).stdout
    assert f"ml.PackageLibDir={LIBDIR}" in buildinfo and "server.mode=release" in buildinfo

    # llama-server finds its private libraries through $ORIGIN and loads the best
    # CPU variant this machine can run from the installed level packages.
    server = root / LIBDIR.lstrip("/") / "llama-server"
    devices = subprocess.run([str(server), "--list-devices"], capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"]}, cwd=tmp_path)
    assert devices.returncode == 0, devices.stderr
    assert upstream.COMPAT_MARKER in devices.stdout + devices.stderr
    assert re.search(r"libggml-cpu-\w+\.so", devices.stdout + devices.stderr)
    # The pinned tag's build number and commit reached llama.cpp's CMake.
    version = subprocess.run([str(server), "--version"], capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"]}, cwd=tmp_path)
    commit = built["cfg"]["llama_cpp"]["commit"]
    assert f"(build {TAG[1:]}, commit {commit})" in version.stdout + version.stderr
    runpath = subprocess.run(["readelf", "-d", str(server)], capture_output=True, text=True).stdout
    assert "[$ORIGIN]" in runpath and "BUILD" not in runpath


def test_the_models_drop_in_example_is_shipped_and_verifies_with_the_unit(built, tmp_path):
    # %doc of the main package, the project's file as is; installed next to the unit it
    # extends, systemd reads it as a drop-in of ollama.service without a complaint.
    doc = "/usr/share/doc/ollama/ollama-models-elsewhere.conf"
    rpm = _by_name(built["rpms"])["ollama"]
    assert _files(rpm)[doc][:3] == ("-rw-r--r--", "root", "root")
    if shutil.which("systemd-analyze") is None or not Path("/usr/lib/systemd/system/sysinit.target").exists():
        pytest.skip("systemd-analyze is not installed (package systemd)")
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    proc = subprocess.run(["rpm", "--root", str(root), "-i", "--nodeps", "--noscripts", rpm],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    installed = root / doc.lstrip("/")
    assert installed.read_bytes() == (REPO / "doc" / "ollama-models-elsewhere.conf").read_bytes()
    drop_ins = root / "etc/systemd/system/ollama.service.d"
    for text, clean in ((installed.read_text(), True),
                        (installed.read_text().replace("ReadWritePaths=", "ReadWritePath="), False)):  # control
        drop_ins.mkdir(parents=True, exist_ok=True)
        (drop_ins / "models-elsewhere.conf").write_text(text)
        res = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "ollama.service"],
                             capture_output=True, text=True)
        out = res.stdout + res.stderr
        about_ours = [line for line in out.splitlines() if "ollama.service" in line or "Unknown" in line]
        if clean:
            assert res.returncode == 0 and about_ours == [], out
        else:
            assert "ReadWritePath" in out, out


def _build_log(built):
    logs = sorted(built["results"].rglob("build.log"))
    assert logs, "no build.log under the result dir"
    return logs[0].read_text(errors="replace")


def test_check_ran_the_go_tests_minus_the_skip_list(built):
    # %check's %gocheck2 ran the fixture's Go tests; the fixture's failing
    # stand-ins for network/integration tests are in go.test_skips (a run that
    # did not honour the list would have failed the build).
    log = _build_log(built)
    assert re.search(r"(?m)^ok\s+github\.com/ollama/ollama/version\b", log), log[-3000:]
    assert not re.search(r"(?m)^(ok|FAIL|\?)\s+github\.com/ollama/ollama/integration\b", log)
    assert not re.search(r"(?m)^(=== RUN|--- \w+:)\s+TestFixtureNeedsNetwork", log)


def test_no_file_is_listed_twice(built):
    # %go_vendor_license_install already lists Ollama's LICENSE: %license must not repeat it.
    assert "listed twice" not in _build_log(built)


def _compiles_per_tree(log):
    """{CMake build tree: its C/C++ compile lines} in the order %build ran them."""
    trees, current = {}, None
    for line in log.splitlines():
        configure = re.match(r"^\+ /usr/bin/cmake -S llama/server -B (build-\S+)", line)
        if configure:
            current = trees.setdefault(configure.group(1), [])
        elif current is not None and re.search(r"/(cc|c\+\+|gcc|g\+\+) ", line) and " -c " in line:
            current.append(line)
    return trees


def test_cmake_builds_use_ninja_fedoras_lto_flags_and_o3_for_the_cpu_build(built):
    # Ninja (no make jobserver for gcc's LTO link to mistake) with Fedora's
    # -flto=auto kept on every C/C++ compile line of the CPU build; the Vulkan
    # backend alone opts out (its one huge LTRANS job, doc/verification.md).
    log = _build_log(built)
    assert re.search(r"(?m)^\+ /usr/bin/cmake -S llama/server -B build-cpu .*-G Ninja\b", log), log[:3000]
    trees = _compiles_per_tree(log)
    cpu = [line for line in trees["build-cpu"] if "ggml-base.dir/" in line or "ggml-cpu" in line]
    assert cpu, "no ggml compile line in build-cpu"
    assert all("-flto=auto" in line for line in cpu), cpu[0]
    # -O3 for the CPU build (the spec's stated override, doc/performance.md), hardening kept;
    # the GPU backend's build keeps Fedora's -O2
    assert all("-O3" in line.split() and "-O2" not in line.split() for line in cpu), cpu[0]
    assert all("-fstack-clash-protection" in line and "-D_FORTIFY_SOURCE=3" in line for line in cpu), cpu[0]
    vulkan = [line for line in trees["build-vulkan"] if "ggml-vulkan.dir/" in line or "ggml-base.dir/" in line]
    assert vulkan, "no ggml compile line in build-vulkan"
    assert not any("-flto" in line for line in vulkan), vulkan[0]
    assert all("-O2" in line.split() and "-O3" not in line.split() for line in vulkan), vulkan[0]
    assert "jobserver unavailable" not in log
