"""Which ggml CPU variant this CPU should load, as ggml's own scoring decides.

ggml dlopens every libggml-cpu-<variant>.so and keeps the one whose
ggml_backend_score() is highest: 0 when a feature the variant was built with
is missing from the CPU, else 1 plus a fixed weight per feature
(ggml-cpu/arch/x86/cpu-feats.cpp at b10488). The same arithmetic on
/proc/cpuinfo's flags tells which variant a correct install must load.
"""

from collections.abc import Collection, Iterable

from ollama_rpm.specgen import cpu_levels

# Feature -> ggml's score weight. AMX_TILE/AMX_BF16 are compiler flags of a
# variant that ggml's score does not check.
SCORE_WEIGHT: dict[str, int] = {
    "FMA": 1, "F16C": 1 << 1, "SSE42": 1 << 2, "BMI2": 1 << 3, "AVX": 1 << 4, "AVX2": 1 << 5,
    "AVX_VNNI": 1 << 6, "AVX512": 1 << 7, "AVX512_VBMI": 1 << 8, "AVX512_BF16": 1 << 9,
    "AVX512_VNNI": 1 << 10, "AMX_INT8": 1 << 11,
}

# Feature -> the /proc/cpuinfo flags ggml's cpuid check needs for it.
CPUINFO_FLAGS: dict[str, tuple[str, ...]] = {
    "SSE42": ("sse4_2",), "AVX": ("avx",), "F16C": ("f16c",), "FMA": ("fma",), "AVX2": ("avx2",),
    "BMI2": ("bmi2",), "AVX_VNNI": ("avx_vnni",),
    "AVX512": ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
    "AVX512_VBMI": ("avx512vbmi",), "AVX512_VNNI": ("avx512_vnni",), "AVX512_BF16": ("avx512_bf16",),
    "AMX_TILE": ("amx_tile",), "AMX_INT8": ("amx_int8",), "AMX_BF16": ("amx_bf16",),
}


def cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    """The flag set of the first processor in a /proc/cpuinfo text (x86: "flags")."""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def read_cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return cpu_flags(handle.read())


def has_feature(feature: str, flags: Collection[str]) -> bool:
    return all(flag in flags for flag in CPUINFO_FLAGS[feature])


def score(variant: str, flags: Collection[str]) -> int:
    """ggml_backend_score() of an x86 variant on a CPU with these flags."""
    total = 1
    for feature in cpu_levels.X86_VARIANT_FEATURES[variant]:
        weight = SCORE_WEIGHT.get(feature)
        if weight is None:
            continue
        if not has_feature(feature, flags):
            return 0
        total += weight
    return total


def best_variant(variants: Iterable[str], flags: Collection[str]) -> tuple[str | None, int]:
    """(variant, score) ggml would choose among `variants`, or (None, 0) if none can run."""
    known = [v for v in variants if v in cpu_levels.X86_VARIANT_FEATURES]
    scored = sorted(((score(v, flags), v) for v in known), key=lambda item: -item[0])
    if not scored or scored[0][0] <= 0:
        return None, 0
    return scored[0][1], scored[0][0]
