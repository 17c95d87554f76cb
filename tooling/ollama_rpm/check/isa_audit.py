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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ollama_rpm import textout
from ollama_rpm.errors import ToolError, UsageError
from ollama_rpm.pathtypes import StrPath
from ollama_rpm.specgen import cpu_levels

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
    features: dict[str, int] = field(default_factory=dict)      # token -> count
    examples: dict[str, str] = field(default_factory=dict)      # token -> "address: insn"
    violations: list[str] = field(default_factory=list)    # human-readable lines

    @property
    def ok(self) -> bool:
        return not self.violations


def _encoding_is_evex(code: bytes) -> bool:
    for byte in code:
        if byte not in _LEGACY_PREFIXES:
            return byte == 0x62        # 0x62 in 64-bit mode is always EVEX
    return False


# capstone and pyelftools objects are untyped (Any).
def _feature_of(md: Any, insn: Any) -> str | None:
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
    found: str | None = None
    for group in insn.groups:
        group_token = _GROUP_FEATURE.get(md.group_name(group))
        if group_token and (found is None or _rank(group_token) > _rank(found)):
            found = group_token
    return found


def _rank(token: str) -> int:
    level = cpu_levels.FEATURE_LEVEL.get(token)
    return cpu_levels.level_rank(level) if level else 99


def _executable_sections(elf: Any) -> Iterator[Any]:
    for section in elf.iter_sections():
        if section["sh_type"] == "SHT_PROGBITS" and section["sh_flags"] & 0x4:  # SHF_EXECINSTR
            yield section


def audit_library(path: StrPath, variant: str, package_level: str = "") -> LibraryReport:
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


def _count(report: LibraryReport, token: str, where: str) -> None:
    report.features[token] = report.features.get(token, 0) + 1
    report.examples.setdefault(token, where)


def _decode_section(md: Any, data: bytes, base: int, report: LibraryReport, fallback: "_ObjdumpFallback") -> None:
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

    def __init__(self, path: StrPath) -> None:
        self.path = path
        self.table: dict[int, tuple[int, str]] | None = None

    def lookup(self, address: int) -> tuple[int, str]:
        if self.table is None:
            self.table = self._load()
        return self.table.get(address, (1, "UNDECODED"))

    def _load(self) -> dict[int, tuple[int, str]]:
        try:
            out = subprocess.run(["objdump", "-d", "-w", str(self.path)], capture_output=True,
                                 text=True).stdout
        except FileNotFoundError:
            return {}
        table: dict[int, tuple[int, str]] = {}
        for line in out.splitlines():
            match = _OBJDUMP_LINE.match(line)
            if match and match.group(3) != "(bad)":
                code = bytes.fromhex(match.group(2).replace(" ", ""))
                table[int(match.group(1), 16)] = (len(code), _feature_from_text(code, match.group(3),
                                                                                match.group(4)))
        return table


_OBJDUMP_LINE = re.compile(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t(?:\{\w+\} )?(\S+)\s*(.*)$")


def _feature_from_text(code: bytes, mnemonic: str, operands: str) -> str:
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


def _judge(report: LibraryReport) -> None:
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


def _rpm_name(rpm_path: Path) -> str:
    # On stdin ("-"): rpm globs its file arguments and drops quotes from them.
    with open(rpm_path, "rb") as package:
        out = subprocess.run(["rpm", "-qp", "--qf", "%{NAME}", "-"], stdin=package,
                             capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(f"{rpm_path}: not a readable RPM: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout.strip()


def _extract_rpm(rpm_path: Path, dest: str) -> None:
    """`rpm2cpio RPM | cpio -idm` into `dest`: two processes and a pipe, no shell."""
    cpio_cmd = ["cpio", "-idm", "--quiet", "--no-absolute-filenames"]
    try:
        with subprocess.Popen(["rpm2cpio", str(rpm_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as producer:
            try:
                consumer = subprocess.run(cpio_cmd, stdin=producer.stdout, cwd=dest, capture_output=True)
            finally:
                # Ours closed, cpio holds the only reader: rpm2cpio sees EPIPE if cpio stops early.
                if producer.stdout:
                    producer.stdout.close()
            errors = producer.stderr.read() if producer.stderr else b""
    except FileNotFoundError as error:
        raise ToolError(f"{error.filename}: command not found; audit-isa unpacks RPMs with rpm2cpio and cpio") from None
    if producer.returncode != 0 or consumer.returncode != 0:
        detail = (errors + consumer.stderr).decode(errors="replace").strip()
        raise ToolError(f"{rpm_path}: cannot unpack with rpm2cpio/cpio: {detail}")


def audit_paths(paths: Iterable[StrPath]) -> list[LibraryReport]:
    """Audit RPMs (their libggml-cpu-*.so) and bare .so files; returns LibraryReports."""
    reports: list[LibraryReport] = []
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
                    lib_match = _VARIANT_FILE.match(lib.name)
                    if lib_match is None:
                        raise UsageError(f"{path}: {lib.name} is not named libggml-cpu-<variant>.so")
                    report = audit_library(lib, lib_match.group("variant"), level)
                    report.path = f"{path.name}:{lib.relative_to(tmp)}"
                    reports.append(report)
        else:
            match = _VARIANT_FILE.match(path.name)
            if not match:
                raise UsageError(f"{path}: expected an RPM or a libggml-cpu-<variant>.so")
            reports.append(audit_library(path, match.group("variant")))
    return reports


def format_table(reports: Iterable[LibraryReport]) -> str:
    rows: list[tuple[str, ...]] = []
    reports = list(reports)
    for r in reports:
        features = ", ".join(f"{k}:{v}" for k, v in sorted(r.features.items())) or "baseline only"
        rows.append((r.path, r.variant, r.package_level or "-", str(r.instructions), features,
                     "ok" if r.ok else "FAIL"))
    lines = textout.table(("library", "variant", "level", "insns", "features used", "result"), rows)
    for r in reports:
        lines += [f"FAIL {r.path}: {v}" for v in r.violations]
    return "\n".join(lines)
