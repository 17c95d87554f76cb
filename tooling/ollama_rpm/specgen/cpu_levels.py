"""ggml CPU variants and the x86-64 psABI levels able to run them.

ggml builds one `libggml-cpu-<variant>.so` per variant, each compiled with its
own ISA flags, and picks the best one at run time. We ship them in one
subpackage per x86-64 level so a machine only installs what it can execute.
"""

from collections.abc import Iterable

LEVELS = ("v1", "v2", "v3", "v4")

# ISA features (as ggml's CMake names them) -> the lowest psABI level that
# guarantees them. Features beyond a level's baseline (AVX on v2, AVX-VNNI on
# v3, VBMI/VNNI/BF16/AMX on v4) map to the level whose baseline the rest of the
# variant needs; ggml's score function rejects the variant on CPUs lacking them.
FEATURE_LEVEL: dict[str, str] = {
    "SSE42": "v2",
    "AVX": "v2",        # beyond v2's baseline; scored 0 on CPUs without it
    "F16C": "v2",
    "FMA": "v2",
    "AVX2": "v3",
    "BMI2": "v3",
    "AVX_VNNI": "v3",
    "AVX512": "v4",
    "AVX512_VBMI": "v4",
    "AVX512_VNNI": "v4",
    "AVX512_BF16": "v4",
    "AMX_TILE": "v4",
    "AMX_INT8": "v4",
    "AMX_BF16": "v4",
}

# ggml's x86 variants (ggml/src/CMakeLists.txt, ggml_add_cpu_backend_variant).
X86_VARIANT_FEATURES: dict[str, tuple[str, ...]] = {
    "x64": (),
    "sse42": ("SSE42",),
    "sandybridge": ("SSE42", "AVX"),
    "ivybridge": ("SSE42", "AVX", "F16C"),
    "piledriver": ("SSE42", "AVX", "F16C", "FMA"),
    "haswell": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"),
    "alderlake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX_VNNI"),
    "skylakex": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512"),
    "cannonlake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI"),
    "cascadelake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VNNI"),
    "icelake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI",
                "AVX512_VNNI"),
    "cooperlake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VNNI",
                   "AVX512_BF16"),
    "zen4": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI",
             "AVX512_VNNI", "AVX512_BF16"),
    "sapphirerapids": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI",
                       "AVX512_VNNI", "AVX512_BF16", "AMX_TILE", "AMX_INT8"),
}

# ggml's aarch64 Linux variants; all ship in one subpackage.
AARCH64_VARIANTS = (
    "armv8.0_1", "armv8.2_1", "armv8.2_2", "armv8.2_3",
    "armv8.6_1", "armv8.6_2", "armv9.2_1", "armv9.2_2",
)


def lowest_level(features: Iterable[str]) -> str:
    """The lowest x86-64 level whose CPUs can possibly run code built with `features`."""
    ranks = [LEVELS.index(FEATURE_LEVEL[f]) for f in features]
    return LEVELS[max(ranks, default=0)]


def level_rank(level: str) -> int:
    return LEVELS.index(level)
