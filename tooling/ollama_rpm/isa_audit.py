"""Audit the instructions of ggml CPU variant libraries against their ISA budget.

Every instruction of every executable section is decoded (capstone; binutils'
objdump where capstone does not know an extension) and mapped to the ggml
feature token that enables it (SSE42, AVX, AVX2, AVX512, ...). A
library fails when it uses a feature outside its variant's own flags, or one
whose x86-64 level is above the level subpackage that ships it. This catches a
distribution -march leaking into the variants: an x64 variant full of AVX2
would crash with SIGILL on the CPUs it exists for.
"""

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ollama_rpm import cpu_levels
from ollama_rpm.errors import ToolError, UsageError

_LEGACY_PREFIXES = {0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0xF0}
_VARIANT_FILE = re.compile(r"^libggml-cpu-(?P<variant>[\w.]+)\.so$")
_LEVEL_PACKAGE = re.compile(r"-x86_64-(?P<level>v[1-4])$")

# capstone instruction groups -> ggml feature tokens. SSE3..SSE4.2 and POPCNT
# all come with ggml's SSE42 token (x86-64-v2); BMI1/LZCNT/MOVBE with the v3
# BMI2 token. SSE/SSE2 are the x86-64 baseline and cost nothing. Capstone 4
# (Debian 12's 4.0.2) names the F16C group "fc16", newer releases "f16c".
_GROUP_FEATURE = {
    "sse3": "SSE42", "ssse3": "SSE42", "sse41": "SSE42", "sse42": "SSE42",
    "avx": "AVX", "f16c": "F16C", "fc16": "F16C", "fma": "FMA", "avx2": "AVX2",
    "bmi": "BMI2", "bmi2": "BMI2",
    "avx512": "AVX512", "cdi": "AVX512", "dqi": "AVX512", "bwi": "AVX512", "vlx": "AVX512",
    "fma4": "FMA4", "xop": "XOP", "sse4a": "SSE4A", "tbm": "TBM", "3dnow": "3DNOW",
}
# Instructions whose extension capstone 4 does not group precisely.
_MNEMONIC_FEATURE = {
    "popcnt": "SSE42", "lzcnt": "BMI2", "tzcnt": "BMI2", "movbe": "BMI2",
    "vpdpbusd": "VNNI", "vpdpbusds": "VNNI", "vpdpwssd": "VNNI", "vpdpwssds": "VNNI",
    "vpermb": "AVX512_VBMI", "vpermi2b": "AVX512_VBMI", "vpermt2b": "AVX512_VBMI",
    "vpmultishiftqb": "AVX512_VBMI",
    "vcvtne2ps2bf16": "AVX512_BF16", "vcvtneps2bf16": "AVX512_BF16", "vdpbf16ps": "AVX512_BF16",
}
# F16C's two instructions, when VEX-encoded (their EVEX forms are AVX-512): by
# name too, so neither a group-name change nor objdump's fallback hides them.
_F16C_MNEMONICS = {"vcvtph2ps", "vcvtps2ph"}
# Features the audit knows but no ggml variant may use (AMD-only legacy).
_NEVER_ALLOWED_LEVEL = "never"  # also the level of UNDECODED bytes


@dataclass
class LibraryReport:
    path: str
    variant: str
    package_level: str            # "" when the library is not in a level subpackage
    instructions: int = 0
    features: dict = field(default_factory=dict)      # token -> count
    examples: dict = field(default_factory=dict)      # token -> "address: insn"
    violations: list = field(default_factory=list)    # human-readable lines

    @property
    def ok(self):
        return not self.violations


def _encoding_is_evex(code):
    for byte in code:
        if byte not in _LEGACY_PREFIXES:
            return byte == 0x62        # 0x62 in 64-bit mode is always EVEX
    return False


def _feature_of(md, insn):
    mnemonic = insn.mnemonic
    if mnemonic in _MNEMONIC_FEATURE:
        token = _MNEMONIC_FEATURE[mnemonic]
        if token == "VNNI":
            return "AVX512_VNNI" if _encoding_is_evex(insn.bytes) else "AVX_VNNI"
        return token
    if _encoding_is_evex(insn.bytes) or "zmm" in insn.op_str:
        return "AVX512"
    if mnemonic in _F16C_MNEMONICS:
        return "F16C"
    if mnemonic.startswith(("tdp", "tile")) and "tmm" in insn.op_str:
        return "AMX_TILE"
    found = None
    for group in insn.groups:
        token = _GROUP_FEATURE.get(md.group_name(group))
        if token and (found is None or _rank(token) > _rank(found)):
            found = token
    return found


def _rank(token):
    level = cpu_levels.FEATURE_LEVEL.get(token)
    return cpu_levels.level_rank(level) if level else 99


def _executable_sections(elf):
    for section in elf.iter_sections():
        if section["sh_type"] == "SHT_PROGBITS" and section["sh_flags"] & 0x4:  # SHF_EXECINSTR
            yield section


def audit_library(path, variant, package_level=""):
    try:
        import capstone
        from elftools.elf.elffile import ELFFile
    except ImportError as error:
        raise ToolError(f"audit-isa needs capstone and pyelftools (python3-capstone, "
                        f"python3-pyelftools): {error}") from None
    if variant not in cpu_levels.X86_VARIANT_FEATURES:
        raise UsageError(f"{path}: unknown ggml x86 CPU variant {variant!r}")
    report = LibraryReport(str(path), variant, package_level)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    fallback = _ObjdumpFallback(path)
    try:
        with open(path, "rb") as handle:
            elf = ELFFile(handle)
            if elf["e_machine"] != "EM_X86_64":
                # Decoding another architecture as x86 would "pass" on noise.
                raise UsageError(f"{path}: an ELF file for {elf['e_machine']}, not x86-64; cannot audit it")
            for section in _executable_sections(elf):
                _decode_section(md, section.data(), section["sh_addr"], report, fallback)
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror or error}") from None
    except UsageError:
        raise
    except Exception as error:       # pyelftools: ELFError, struct.error, ValueError on bad input
        raise UsageError(f"{path}: not a readable ELF file ({type(error).__name__}); truncated or not a library") from None
    _judge(report)
    return report


def _count(report, token, where):
    report.features[token] = report.features.get(token, 0) + 1
    report.examples.setdefault(token, where)


def _decode_section(md, data, base, report, fallback):
    """Decode with capstone; where it stops, resynchronise on objdump's decoding."""
    offset = 0
    while offset < len(data):
        for insn in md.disasm(data[offset:], base + offset):
            report.instructions += 1
            token = _feature_of(md, insn)
            if token:
                _count(report, token, f"{insn.address:#x}: {insn.mnemonic} {insn.op_str}")
            offset += insn.size
        if offset >= len(data):
            break
        address = base + offset
        size, token = fallback.lookup(address)
        report.instructions += 1
        if token:
            _count(report, token, f"{address:#x}: (objdump)")
        offset += size


class _ObjdumpFallback:
    """binutils' objdump for what capstone cannot decode (newer VEX/EVEX extensions).

    Bytes neither decoder knows count as UNDECODED, which fails the audit.
    """

    def __init__(self, path):
        self.path = path
        self.table = None

    def lookup(self, address):
        if self.table is None:
            self.table = self._load()
        return self.table.get(address, (1, "UNDECODED"))

    def _load(self):
        try:
            out = subprocess.run(["objdump", "-d", "-w", str(self.path)], capture_output=True,
                                 text=True).stdout
        except FileNotFoundError:
            return {}
        table = {}
        for line in out.splitlines():
            match = _OBJDUMP_LINE.match(line)
            if match and match.group(3) != "(bad)":
                code = bytes.fromhex(match.group(2).replace(" ", ""))
                table[int(match.group(1), 16)] = (len(code), _feature_from_text(code, match.group(3),
                                                                                match.group(4)))
        return table


_OBJDUMP_LINE = re.compile(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t(?:\{\w+\} )?(\S+)\s*(.*)$")


def _feature_from_text(code, mnemonic, operands):
    """Feature token of one objdump-decoded instruction ("" for baseline)."""
    if mnemonic in _MNEMONIC_FEATURE:
        token = _MNEMONIC_FEATURE[mnemonic]
        if token == "VNNI":
            return "AVX512_VNNI" if _encoding_is_evex(code) else "AVX_VNNI"
        return token
    if _encoding_is_evex(code) or "%zmm" in operands:
        return "AVX512"
    if mnemonic in _F16C_MNEMONICS:
        return "F16C"
    if "%tmm" in operands:
        return "AMX_TILE"
    first = next((b for b in code if b not in _LEGACY_PREFIXES), None)
    if first in (0xC4, 0xC5) or "%ymm" in operands:
        return "AVX"
    return ""


def _judge(report):
    allowed = set(cpu_levels.X86_VARIANT_FEATURES[report.variant])
    if "AVX512" in allowed:
        allowed |= {"AVX2", "FMA", "F16C", "AVX", "BMI2", "SSE42"}
    for token in sorted(report.features):
        where = report.examples[token]
        if token not in allowed:
            report.violations.append(f"uses {token} ({report.features[token]}x, e.g. {where}), "
                                     f"not in the {report.variant} variant's flags")
            continue
        level = cpu_levels.FEATURE_LEVEL.get(token, _NEVER_ALLOWED_LEVEL)
        if report.package_level and (level == _NEVER_ALLOWED_LEVEL or
                                     cpu_levels.level_rank(level) > cpu_levels.level_rank(report.package_level)):
            report.violations.append(f"uses {token} (x86-64-{level}) but ships in the "
                                     f"x86-64-{report.package_level} subpackage")


def _rpm_name(rpm_path):
    out = subprocess.run(["rpm", "-qp", "--qf", "%{NAME}", str(rpm_path)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(f"{rpm_path}: not a readable RPM: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout.strip()


def _extract_rpm(rpm_path, dest):
    cmd = f"rpm2cpio '{rpm_path}' | cpio -idm --quiet --no-absolute-filenames"
    proc = subprocess.run(["sh", "-c", cmd], cwd=dest, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"{rpm_path}: cannot unpack with rpm2cpio/cpio: {proc.stderr.strip()}")


def audit_paths(paths):
    """Audit RPMs (their libggml-cpu-*.so) and bare .so files; returns LibraryReports."""
    reports = []
    for path in map(Path, paths):
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        if path.suffix == ".rpm":
            name = _rpm_name(path)
            match = _LEVEL_PACKAGE.search(name)
            level = match.group("level") if match else ""
            with tempfile.TemporaryDirectory() as tmp:
                _extract_rpm(path.resolve(), tmp)
                for lib in sorted(Path(tmp).rglob("libggml-cpu-*.so")):
                    variant = _VARIANT_FILE.match(lib.name).group("variant")
                    report = audit_library(lib, variant, level)
                    report.path = f"{path.name}:{lib.relative_to(tmp)}"
                    reports.append(report)
        else:
            match = _VARIANT_FILE.match(path.name)
            if not match:
                raise UsageError(f"{path}: expected an RPM or a libggml-cpu-<variant>.so")
            reports.append(audit_library(path, match.group("variant")))
    return reports


def format_table(reports):
    rows = [("library", "variant", "level", "insns", "features used", "result")]
    for r in reports:
        features = ", ".join(f"{k}:{v}" for k, v in sorted(r.features.items())) or "baseline only"
        rows.append((r.path, r.variant, r.package_level or "-", str(r.instructions), features,
                     "ok" if r.ok else "FAIL"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    for r in reports:
        lines += [f"FAIL {r.path}: {v}" for v in r.violations]
    return "\n".join(lines)
