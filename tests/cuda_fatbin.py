"""Which GPU architectures a CUDA fat binary holds: SASS (ELF cubins, sm_NN)
and PTX (compute_NN), read with NVIDIA's cuobjdump or, where it is not
installed, from the `.nv_fatbin` section's entry headers directly."""

import re
import shutil
import struct
import subprocess
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_ELF = 1, 2
ARCH_SPECIFIC = 0x100000


def cmake_arch_expectation(targets):
    """CMAKE_CUDA_ARCHITECTURES semantics: "86" -> SASS sm_86 and PTX compute_86,
    "86-real" -> SASS only, "86-virtual" -> PTX only. Returns (elf, ptx) sets of arch strings."""
    elf, ptx = set(), set()
    for target in targets:
        arch, _, kind = str(target).partition("-")
        if kind not in ("", "real", "virtual"):
            raise ValueError(f"not a CMake CUDA architecture: {target!r}")
        if kind in ("", "real"):
            elf.add(arch)
        if kind in ("", "virtual"):
            ptx.add(arch)
    return elf, ptx


def find_cuobjdump(extra_dirs=("/usr/local/cuda/bin",)):
    found = shutil.which("cuobjdump")
    if found:
        return found
    for d in extra_dirs:
        candidate = Path(d) / "cuobjdump"
        if candidate.is_file():
            return str(candidate)
    return None


def cuobjdump_archs(path, cuobjdump):
    """(elf, ptx) arch sets from `cuobjdump --list-elf` / `--list-ptx`."""
    def listing(flag):
        out = subprocess.run([cuobjdump, flag, str(path)], capture_output=True, text=True, check=True).stdout
        return {m.group(1) for m in re.finditer(r"\.sm_(\w+)\.(?:cubin|ptx)\b", out)}
    return listing("--list-elf"), listing("--list-ptx")


def _section(path, name):
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    strtab = header(shstrndx)
    for i in range(shnum):
        sh = header(i)
        start = strtab[4] + sh[0]
        if data[start:data.index(b"\0", start)].decode() == name:
            return data[sh[4]:sh[4] + sh[5]]
    return None


def fatbin_archs(path):
    """(elf, ptx) arch sets from the entry headers in the ELF file's .nv_fatbin
    section (a sequence of fatbins: magic, version, header size, payload size,
    then entries of kind 1 PTX / 2 ELF with the SM number at offset 0x1c and
    flags at 0x28, bit 0x100000 marking an arch-specific "a" target such as
    sm_90a). Like cuobjdump, a family "f" target reads as its plain number."""
    blob = _section(path, ".nv_fatbin")
    if blob is None:
        raise ValueError(f"{path}: no .nv_fatbin section")
    elf, ptx = set(), set()
    off = 0
    while off + 16 <= len(blob):
        magic, _version, hsize, fsize = struct.unpack_from("<IHHQ", blob, off)
        if magic != FATBIN_MAGIC:
            off += 8                      # fatbins are 8-byte aligned; skip padding
            continue
        entry, end = off + hsize, off + hsize + fsize
        while entry + 0x20 <= end:
            kind, _ver, ehsize, payload = struct.unpack_from("<HHIQ", blob, entry)
            arch, = struct.unpack_from("<I", blob, entry + 0x1C)
            flags, = struct.unpack_from("<Q", blob, entry + 0x28)
            name = f"{arch}a" if flags & ARCH_SPECIFIC else str(arch)
            {KIND_ELF: elf, KIND_PTX: ptx}.get(kind, set()).add(name)
            entry += ehsize + payload
        off = end
    return elf, ptx
