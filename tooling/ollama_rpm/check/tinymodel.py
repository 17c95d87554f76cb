"""A tiny random-weight llama model in GGUF, for smoke-testing an installed Ollama.

A few layers, a 64-wide embedding and a small SentencePiece-style vocabulary are
enough for llama-server to load it and generate. The vocabulary has no byte
tokens (`<0xNN>`): random weights would emit them, and lone bytes are invalid
UTF-8 in a response. Instead every printable ASCII character and "\\n" is a
normal token, so any ASCII prompt tokenizes without byte fallback. (llama.cpp
b10488's llama-simple loads it and decodes 8 printable tokens in ~0.03 s.)

The same writer makes the benchmark's model (`BENCH_SHAPE`: 12 layers, 1024
wide, a 32000-token vocabulary padded with letter pieces, F16 matrices,
~200 M parameters): big enough that llama-server is compute bound and runs
the large-matrix kernels (repacked Q4_0, AMX) a tiny model never reaches.
`ollama-rpm smoke --model-shape bench` and bench/runtime.py use it.
"""

import dataclasses
import itertools
import os
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ollama_rpm.atomic import atomic_path
from ollama_rpm.errors import ToolError
from ollama_rpm.pathtypes import StrPath

SPACE = "\u2581"       # SentencePiece's word-boundary marker
WORDS = ("the", "sky", "is", "blue", "why", "and", "of", "to", "in", "a", "it", "on", "for", "with",
         "as", "at", "by", "an", "be", "or", "ollama", "fedora", "model", "token", "hello", "world")


@dataclass(frozen=True)
class TinyShape:
    layers: int = 2
    dim: int = 64
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 128
    context: int = 256
    vocab: int = 0          # tokens in all; 0: the base vocabulary only (~290), more: padded with letter pieces
    matrices: str = "f32"   # f32, f16 or q4_0 (rows a multiple of 32); norms stay F32


# The benchmark's model: hundreds of millions of parameters, most in the matrices.
BENCH_SHAPE = TinyShape(layers=12, dim=1024, heads=16, kv_heads=8, ffn=2816, context=2048, vocab=32000,
                        matrices="f16")
FILE_TYPES: dict[str, Callable[[Any], Any]] = {
    "f32": lambda gguf: gguf.LlamaFileType.ALL_F32, "f16": lambda gguf: gguf.LlamaFileType.MOSTLY_F16,
    "q4_0": lambda gguf: gguf.LlamaFileType.MOSTLY_Q4_0}
# What `ollama-rpm smoke --model-shape` offers: the benchmark's model in Q4_0, so that the
# best variant runs its repacked Q4_0 (and AMX) matrix kernels on matrices of real size.
SHAPES: dict[str, TinyShape] = {"tiny": TinyShape(), "bench": dataclasses.replace(BENCH_SHAPE, matrices="q4_0")}


def _padding() -> Iterator[str]:
    """Letter pieces for a bigger vocabulary: "aa", "▁aa", "ab"... then three letters, four."""
    for length in itertools.count(2):
        for letters in itertools.product(string.ascii_lowercase, repeat=length):
            piece = "".join(letters)
            yield piece
            yield SPACE + piece


def vocabulary(size: int = 0) -> tuple[list[str], list[float], list[int]]:
    """(tokens, scores, types): 3 specials, then pieces; longer pieces score higher (merge first).
    `size` > the base vocabulary pads it with letter pieces up to `size` tokens."""
    import gguf
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    pieces = [SPACE, "\n", *[c for c in string.printable if c.isprintable() and c != " "]]
    pieces += [SPACE + c for c in string.ascii_letters + string.digits]
    for word in WORDS:
        pieces += [word, SPACE + word]
    for piece in dict.fromkeys(pieces):            # keep order, drop duplicates
        tokens.append(piece)
        types.append(gguf.TokenType.NORMAL)
    if size > len(tokens):
        known = set(tokens)
        extra = itertools.islice((p for p in _padding() if p not in known), size - len(tokens))
        for piece in extra:
            tokens.append(piece)
            types.append(gguf.TokenType.NORMAL)
    scores = [0.0, 0.0, 0.0] + [float(len(t)) - i * 1e-4 for i, t in enumerate(tokens[3:])]
    return tokens, scores, [int(t) for t in types]


def write_tiny_gguf(path: StrPath, shape: TinyShape = TinyShape(), seed: int = 0) -> Path:
    """Write the model to `path` atomically; returns the path."""
    try:
        import gguf
        import numpy as np
    except ImportError as error:
        raise ToolError(f"building the smoke-test model needs the gguf library "
                        f"(python3-gguf, PyPI gguf): {error}") from None
    tokens, scores, types = vocabulary(shape.vocab)
    rng = np.random.default_rng(seed)

    def weight(*shape_: int) -> Any:                         # numpy (rows, cols) = ggml ne (cols, rows)
        return rng.standard_normal(shape_, dtype=np.float32) * 0.02

    path = Path(path)
    with atomic_path(path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), arch="llama")
        _add_metadata(writer, gguf, shape, tokens, scores, types)
        _add_tensors(writer, gguf, np, shape, len(tokens), weight)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o644)       # read by the service account in a mock chroot
    return path


def _add_metadata(writer: Any, gguf: Any, shape: TinyShape, tokens: list[str], scores: list[float],
                  types: list[int]) -> None:
    """The llama architecture's hyperparameters and the SentencePiece-style vocabulary."""
    writer.add_name("ollama-rpm smoke tiny")
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.dim)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_dimension_count(shape.dim // shape.heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(FILE_TYPES[shape.matrices](gguf))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)


def _matrix_writer(writer: Any, gguf: Any, np: Any, matrices: str) -> Callable[[str, Any], None]:
    """add(name, float32 array): the matrix in the shape's storage type."""
    def add(name: str, data: Any) -> None:
        if matrices == "q4_0":
            writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q4_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q4_0)
        else:
            writer.add_tensor(name, data.astype(np.float16 if matrices == "f16" else np.float32))
    return add


def _add_tensors(writer: Any, gguf: Any, np: Any, shape: TinyShape, vocab: int, weight: Callable[..., Any]) -> None:
    """Random weights (norms at one, F32) of every tensor llama.cpp's llama loader requires."""
    head_dim = shape.dim // shape.heads
    matrix = _matrix_writer(writer, gguf, np, shape.matrices)
    matrix("token_embd.weight", weight(vocab, shape.dim))
    writer.add_tensor("output_norm.weight", np.ones(shape.dim, dtype=np.float32))
    output = weight(vocab, shape.dim)
    output[:3] = 0.0       # <unk> <s> </s> never win under greedy sampling: generation runs to num_predict
    matrix("output.weight", output)
    for i in range(shape.layers):
        blk = f"blk.{i}."
        writer.add_tensor(blk + "attn_norm.weight", np.ones(shape.dim, dtype=np.float32))
        matrix(blk + "attn_q.weight", weight(shape.heads * head_dim, shape.dim))
        matrix(blk + "attn_k.weight", weight(shape.kv_heads * head_dim, shape.dim))
        matrix(blk + "attn_v.weight", weight(shape.kv_heads * head_dim, shape.dim))
        matrix(blk + "attn_output.weight", weight(shape.dim, shape.heads * head_dim))
        writer.add_tensor(blk + "ffn_norm.weight", np.ones(shape.dim, dtype=np.float32))
        matrix(blk + "ffn_gate.weight", weight(shape.ffn, shape.dim))
        matrix(blk + "ffn_up.weight", weight(shape.ffn, shape.dim))
        matrix(blk + "ffn_down.weight", weight(shape.dim, shape.ffn))
