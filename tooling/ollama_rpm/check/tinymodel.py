"""A tiny random-weight llama model in GGUF, for smoke-testing an installed Ollama.

A few layers, a 64-wide embedding and a small SentencePiece-style vocabulary are
enough for llama-server to load it and generate. The vocabulary has no byte
tokens (`<0xNN>`): random weights would emit them, and lone bytes are invalid
UTF-8 in a response. Instead every printable ASCII character and "\\n" is a
normal token, so any ASCII prompt tokenizes without byte fallback. (llama.cpp
b10488's llama-simple loads it and decodes 8 printable tokens in ~0.03 s.)
"""

import os
import string
from collections.abc import Callable
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


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """(tokens, scores, types): 3 specials, then pieces; longer pieces score higher (merge first)."""
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
    tokens, scores, types = vocabulary()
    rng = np.random.default_rng(seed)

    def weight(*shape_: int) -> Any:                         # numpy (rows, cols) = ggml ne (cols, rows)
        return (rng.standard_normal(shape_) * 0.02).astype(np.float32)

    path = Path(path)
    with atomic_path(path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), arch="llama")
        _add_metadata(writer, gguf, shape, tokens, scores, types)
        _add_tensors(writer, np, shape, len(tokens), weight)
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
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)


def _add_tensors(writer: Any, np: Any, shape: TinyShape, vocab: int, weight: Callable[..., Any]) -> None:
    """Random weights (norms at one) of every tensor llama.cpp's llama loader requires."""
    head_dim = shape.dim // shape.heads
    writer.add_tensor("token_embd.weight", weight(vocab, shape.dim))
    writer.add_tensor("output_norm.weight", np.ones(shape.dim, dtype=np.float32))
    output = weight(vocab, shape.dim)
    output[:3] = 0.0       # <unk> <s> </s> never win under greedy sampling: generation runs to num_predict
    writer.add_tensor("output.weight", output)
    for i in range(shape.layers):
        blk = f"blk.{i}."
        writer.add_tensor(blk + "attn_norm.weight", np.ones(shape.dim, dtype=np.float32))
        writer.add_tensor(blk + "attn_q.weight", weight(shape.heads * head_dim, shape.dim))
        writer.add_tensor(blk + "attn_k.weight", weight(shape.kv_heads * head_dim, shape.dim))
        writer.add_tensor(blk + "attn_v.weight", weight(shape.kv_heads * head_dim, shape.dim))
        writer.add_tensor(blk + "attn_output.weight", weight(shape.dim, shape.heads * head_dim))
        writer.add_tensor(blk + "ffn_norm.weight", np.ones(shape.dim, dtype=np.float32))
        writer.add_tensor(blk + "ffn_gate.weight", weight(shape.ffn, shape.dim))
        writer.add_tensor(blk + "ffn_up.weight", weight(shape.ffn, shape.dim))
        writer.add_tensor(blk + "ffn_down.weight", weight(shape.dim, shape.ffn))
