"""`ollama-rpm audit-isa`: real gcc builds with ggml's variant flags, decoded with capstone."""

import shutil
import subprocess

import pytest

from conftest import run_cli
from ollama_rpm.check import isa_audit

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build test libraries")

# Vectorisable kernels, so the compiler really uses whatever ISA it is allowed.
KERNEL = r"""
float dot(const float *a, const float *b, int n) { float s = 0; for (int i = 0; i < n; i++) s += a[i] * b[i]; return s; }
void axpy(float *y, const float *x, float a, int n) { for (int i = 0; i < n; i++) y[i] += a * x[i]; }
void addi(int *a, const int *b, int n) { for (int i = 0; i < n; i++) a[i] += b[i] * 3; }
int bits(unsigned long x) { return __builtin_popcountl(x); }
"""

# ggml's per-variant compiler flags (ggml-cpu/CMakeLists.txt).
HASWELL = "-msse4.2 -mavx -mf16c -mfma -mavx2 -mbmi2"
VARIANT_FLAGS = {
    "x64": "",
    "sse42": "-msse4.2",
    "sandybridge": "-msse4.2 -mavx",
    "haswell": HASWELL,
    "skylakex": HASWELL + " -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw -mprefer-vector-width=512",
}


def build(tmp_path, variant, flags, subdir="ok"):
    src = tmp_path / "kernel.c"
    src.write_text(KERNEL)
    out = tmp_path / subdir / f"libggml-cpu-{variant}.so"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-O3", "-ffast-math", "-fPIC", "-shared", *flags.split(), str(src), "-o", str(out)],
                   check=True)
    return out


@pytest.mark.parametrize("variant", sorted(VARIANT_FLAGS))
def test_variant_built_with_its_own_flags_passes(tmp_path, variant):
    report = isa_audit.audit_library(build(tmp_path, variant, VARIANT_FLAGS[variant]), variant)
    assert report.ok, report.violations
    assert report.instructions > 50


def test_the_audit_sees_the_isa_each_variant_uses(tmp_path):
    used = {v: set(isa_audit.audit_library(build(tmp_path, v, f), v).features) for v, f in VARIANT_FLAGS.items()}
    assert not used["x64"]
    assert "SSE42" in used["sse42"]
    assert {"AVX2", "FMA"} <= used["haswell"]
    assert "AVX512" in used["skylakex"]


def test_global_march_leaking_into_x64_fails(tmp_path):
    lib = build(tmp_path, "x64", "-march=x86-64-v3")
    report = isa_audit.audit_library(lib, "x64")
    assert not report.ok
    assert any("AVX2" in v and "not in the x64 variant's flags" in v for v in report.violations)


def test_variant_above_its_subpackage_level_fails(tmp_path):
    lib = build(tmp_path, "skylakex", VARIANT_FLAGS["skylakex"])
    report = isa_audit.audit_library(lib, "skylakex", package_level="v3")
    assert any("AVX512" in v and "x86-64-v3 subpackage" in v for v in report.violations)
    assert isa_audit.audit_library(lib, "skylakex", package_level="v4").ok


def test_cli_prints_a_table_and_fails_on_a_leak(tmp_path):
    good = build(tmp_path, "haswell", HASWELL)
    bad = build(tmp_path, "x64", "-march=x86-64-v3", subdir="leak")
    proc = run_cli("audit-isa", good, bad)
    assert proc.returncode == 1
    assert "library" in proc.stdout and "haswell" in proc.stdout
    assert f"FAIL {bad}: uses AVX2" in proc.stdout
    assert run_cli("audit-isa", good).returncode == 0


def test_cli_rejects_unknown_inputs(tmp_path):
    stray = tmp_path / "libfoo.so"
    stray.write_bytes(b"\x7fELF")
    proc = run_cli("audit-isa", stray)
    assert proc.returncode == 2 and "libggml-cpu-<variant>.so" in proc.stderr
    proc = run_cli("audit-isa", tmp_path / "missing.rpm")
    assert proc.returncode == 2 and "no such file" in proc.stderr


VNNI_KERNEL = r"""
#include <immintrin.h>
__m256i dot_u8s8(__m256i acc, __m256i a, __m256i b) { return _mm256_dpbusd_avx_epi32(acc, a, b); }
"""


def test_instructions_capstone_cannot_decode_are_still_attributed(tmp_path):
    # Capstone 4 does not know AVX-VNNI's VEX vpdpbusd; the audit must still see it.
    src = tmp_path / "vnni.c"
    src.write_text(VNNI_KERNEL)
    lib = tmp_path / "libggml-cpu-alderlake.so"
    subprocess.run(["gcc", "-O2", "-fPIC", "-shared", *HASWELL.split(), "-mavxvnni", str(src), "-o", str(lib)],
                   check=True)
    report = isa_audit.audit_library(lib, "alderlake", package_level="v3")
    assert report.features.get("AVX_VNNI") == 1 and "UNDECODED" not in report.features
    assert report.ok
    as_haswell = isa_audit.audit_library(lib, "haswell")
    assert any("AVX_VNNI" in v and "haswell" in v for v in as_haswell.violations)


F16C_KERNEL = r"""
#include <immintrin.h>
float half_to_float(unsigned short h) { return _cvtsh_ss(h); }
"""


@pytest.mark.parametrize("variant", ["x64", "sse42", "sandybridge"])
def test_f16c_leak_fails_whatever_capstone_calls_the_group(tmp_path, variant):
    # Capstone 4.0.2 (Debian 12) names the F16C group "fc16": an audit keyed on
    # "f16c" alone let vcvtph2ps through in sandybridge (AVX allowed, F16C not).
    src = tmp_path / "f16c.c"
    src.write_text(F16C_KERNEL)
    lib = tmp_path / f"libggml-cpu-{variant}.so"
    subprocess.run(["gcc", "-O2", "-fPIC", "-shared", "-mf16c", str(src), "-o", str(lib)], check=True)
    disassembly = subprocess.run(["objdump", "-d", str(lib)], capture_output=True, text=True).stdout
    assert "vcvtph2ps" in disassembly
    report = isa_audit.audit_library(lib, variant, package_level="v2" if variant != "x64" else "v1")
    assert report.features.get("F16C", 0) >= 1, report.features
    assert any(v.startswith("uses F16C") and f"not in the {variant} variant's flags" in v
               for v in report.violations), report.violations
    assert isa_audit.audit_library(lib, "ivybridge").ok


@pytest.mark.slow
@pytest.mark.skipif(not all(shutil.which(t) for t in ("rpmbuild", "rpm2cpio", "cpio")),
                    reason="needs rpmbuild, rpm2cpio and cpio")
def test_an_rpm_anywhere_is_unpacked_and_audited(tmp_path):
    """The RPM is unpacked by rpm2cpio | cpio without a shell: a path with a quote,
    a space and a $ is just a path."""
    lib = build(tmp_path, "x64", "")
    spec = tmp_path / "level.spec"
    spec.write_text(f"""\
Name: ollama-ggml-cpu-x86_64-v1
Version: 1
Release: 1
Summary: audit test
License: MIT
%global debug_package %{{nil}}
%global __os_install_post %{{nil}}
%description
audit test
%install
install -D -m 0755 {lib} %{{buildroot}}/usr/lib64/ollama/libggml-cpu-x64.so
%files
/usr/lib64/ollama/libggml-cpu-x64.so
""")
    subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {tmp_path / 'rpmbuild'}",
                    "--target", "x86_64", str(spec)], check=True, capture_output=True)
    built = next((tmp_path / "rpmbuild" / "RPMS").rglob("*.rpm"))
    odd = tmp_path / "it's a $HOME" / built.name
    odd.parent.mkdir()
    shutil.copy(built, odd)
    reports = isa_audit.audit_paths([odd])
    assert [(r.path, r.variant, r.package_level, r.ok) for r in reports] == \
        [(f"{odd.name}:usr/lib64/ollama/libggml-cpu-x64.so", "x64", "v1", True)]
    assert reports[0].instructions > 0


def test_a_file_that_is_no_rpm_is_refused_by_name(tmp_path):
    fake = tmp_path / "x.rpm"
    fake.write_bytes(b"not an rpm")
    with pytest.raises(isa_audit.UsageError, match="x.rpm: not a readable RPM"):
        isa_audit.audit_paths([fake])
