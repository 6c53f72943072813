"""Loading a Hugging Face-layout Gemma 4 checkpoint (config.json + safetensors) into NumPy arrays.

The safetensors container is read directly (8-byte header length, JSON header, raw little-endian data)
rather than through `safetensors.numpy`, because released checkpoints are bf16, which NumPy has no dtype
for: bf16 is widened to f32 by shifting its 16 bits into the top half of a 32-bit word (exact).

The tensor table below is the single place that spells HF tensor names and their shapes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from .config import TextConfig, parse_config


class CheckpointError(ValueError):
    """The checkpoint files are missing, malformed or do not match the config."""


_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """All tensors of one .safetensors file (memory-mapped; bf16 widened to f32)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise CheckpointError(f"{path}: too short to be a safetensors file")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > size - 8:
                raise CheckpointError(f"{path}: header length {header_len} exceeds the file size {size}")
            header = json.loads(f.read(header_len))
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e}") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: malformed safetensors header ({e})") from e
    data_start = 8 + header_len
    raw = np.memmap(path, dtype=np.uint8, mode="r") if size > data_start else np.zeros(0, np.uint8)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_name, shape, (begin, end) = info["dtype"], list(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: malformed header entry for {name!r}") from None
        count = int(np.prod(shape, dtype=np.int64))
        itemsize = 2 if dtype_name == "BF16" else (_DTYPES[dtype_name].itemsize if dtype_name in _DTYPES else 0)
        if itemsize == 0:
            raise CheckpointError(f"{path}: tensor {name!r} has unsupported dtype {dtype_name}")
        if not 0 <= begin <= end <= size - data_start or end - begin != count * itemsize:
            raise CheckpointError(f"{path}: tensor {name!r} has data offsets {begin}..{end} that do not fit "
                                  f"its shape {shape} x {itemsize} bytes or the file")
        buf = raw[data_start + begin:data_start + end]
        if dtype_name == "BF16":
            bits = buf.view("<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = buf.view(_DTYPES[dtype_name])
        out[name] = arr.reshape(shape)
    return out


def read_checkpoint_tensors(model_dir: str) -> dict[str, np.ndarray]:
    """model.safetensors, or every shard listed in model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)
    if os.path.exists(index):
        try:
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{index}: cannot read the shard index ({e})") from e
        tensors: dict[str, np.ndarray] = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(model_dir, shard)))
        return tensors
    raise CheckpointError(f"{model_dir}: no model.safetensors or model.safetensors.index.json")


def read_config(model_dir: str) -> TextConfig:
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e}") from e
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from e
    return parse_config(raw)


# ---------------------------------------------------------------------------------------------------------
# Tensor table: (field, HF name relative to the text prefix, shape) for the model and for each layer.
# ---------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TensorSpec:
    field: str
    name: str
    shape: Callable[..., tuple[int, ...]]
    when: Callable[..., bool] = lambda *_: True


GLOBAL_TENSORS = (
    TensorSpec("embed", "embed_tokens.weight", lambda c: (c.vocab_size, c.hidden_size)),
    TensorSpec("final_norm", "norm.weight", lambda c: (c.hidden_size,)),
    TensorSpec("ple_embed", "embed_tokens_per_layer.weight",
               lambda c: (c.ple_vocab_size, c.num_layers * c.ple_dim), lambda c: c.has_ple),
    TensorSpec("ple_model_proj", "per_layer_model_projection.weight",
               lambda c: (c.num_layers * c.ple_dim, c.hidden_size), lambda c: c.has_ple),
    TensorSpec("ple_proj_norm", "per_layer_projection_norm.weight", lambda c: (c.ple_dim,), lambda c: c.has_ple),
)

# Shapes take (config, layer spec); `when` decides whether the layer has the tensor at all.
LAYER_TENSORS = (
    TensorSpec("input_norm", "input_layernorm.weight", lambda c, l: (c.hidden_size,)),
    TensorSpec("q_proj", "self_attn.q_proj.weight", lambda c, l: (c.num_heads * l.head_dim, c.hidden_size)),
    TensorSpec("q_norm", "self_attn.q_norm.weight", lambda c, l: (l.head_dim,)),
    TensorSpec("k_proj", "self_attn.k_proj.weight", lambda c, l: (l.num_kv_heads * l.head_dim, c.hidden_size),
               lambda c, l: l.owns_kv),
    TensorSpec("v_proj", "self_attn.v_proj.weight", lambda c, l: (l.num_kv_heads * l.head_dim, c.hidden_size),
               lambda c, l: l.owns_kv and not l.v_from_k),
    TensorSpec("k_norm", "self_attn.k_norm.weight", lambda c, l: (l.head_dim,), lambda c, l: l.owns_kv),
    TensorSpec("o_proj", "self_attn.o_proj.weight", lambda c, l: (c.hidden_size, c.num_heads * l.head_dim)),
    TensorSpec("post_attn_norm", "post_attention_layernorm.weight", lambda c, l: (c.hidden_size,)),
    TensorSpec("pre_ffw_norm", "pre_feedforward_layernorm.weight", lambda c, l: (c.hidden_size,)),
    TensorSpec("gate_proj", "mlp.gate_proj.weight", lambda c, l: (l.intermediate_size, c.hidden_size)),
    TensorSpec("up_proj", "mlp.up_proj.weight", lambda c, l: (l.intermediate_size, c.hidden_size)),
    TensorSpec("down_proj", "mlp.down_proj.weight", lambda c, l: (c.hidden_size, l.intermediate_size)),
    TensorSpec("post_ffw_norm", "post_feedforward_layernorm.weight", lambda c, l: (c.hidden_size,)),
    TensorSpec("layer_scalar", "layer_scalar", lambda c, l: (1,)),
    TensorSpec("ple_gate", "per_layer_input_gate.weight", lambda c, l: (c.ple_dim, c.hidden_size),
               lambda c, l: c.has_ple),
    TensorSpec("ple_proj", "per_layer_projection.weight", lambda c, l: (c.hidden_size, c.ple_dim),
               lambda c, l: c.has_ple),
    TensorSpec("ple_post_norm", "post_per_layer_input_norm.weight", lambda c, l: (c.hidden_size,),
               lambda c, l: c.has_ple),
    TensorSpec("router_proj", "router.proj.weight", lambda c, l: (c.num_experts, c.hidden_size),
               lambda c, l: c.enable_moe),
    TensorSpec("router_scale", "router.scale", lambda c, l: (c.hidden_size,), lambda c, l: c.enable_moe),
    TensorSpec("per_expert_scale", "router.per_expert_scale", lambda c, l: (c.num_experts,),
               lambda c, l: c.enable_moe),
    TensorSpec("experts_gate_up", "experts.gate_up_proj",
               lambda c, l: (c.num_experts, 2 * c.moe_intermediate_size, c.hidden_size), lambda c, l: c.enable_moe),
    TensorSpec("experts_down", "experts.down_proj",
               lambda c, l: (c.num_experts, c.hidden_size, c.moe_intermediate_size), lambda c, l: c.enable_moe),
    TensorSpec("pre_ffw_norm_2", "pre_feedforward_layernorm_2.weight", lambda c, l: (c.hidden_size,),
               lambda c, l: c.enable_moe),
    TensorSpec("post_ffw_norm_1", "post_feedforward_layernorm_1.weight", lambda c, l: (c.hidden_size,),
               lambda c, l: c.enable_moe),
    TensorSpec("post_ffw_norm_2", "post_feedforward_layernorm_2.weight", lambda c, l: (c.hidden_size,),
               lambda c, l: c.enable_moe),
)

# Real checkpoints still carry these on KV-shared layers; transformers ignores them, so do we.
_IGNORED_ON_SHARED_LAYERS = ("self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.k_norm.weight",
                             "self_attn.v_norm.weight")
_TEXT_PREFIXES = ("model.language_model.", "model.")


@dataclasses.dataclass
class Weights:
    config: TextConfig
    globals: dict[str, np.ndarray]
    layers: list[dict[str, np.ndarray]]
    lm_head: np.ndarray  # [V, H]; the embedding itself when tied

    def layer(self, i: int) -> dict[str, np.ndarray]:
        return self.layers[i]


def _text_prefix(names: list[str]) -> str:
    for prefix in _TEXT_PREFIXES:  # the longer prefix first: "model." also matches multimodal names
        if prefix + "embed_tokens.weight" in names:
            return prefix
    raise CheckpointError("no 'model.embed_tokens.weight' or 'model.language_model.embed_tokens.weight' in "
                          "the checkpoint")


def _take(tensors: dict[str, np.ndarray], name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    if name not in tensors:
        raise CheckpointError(f"missing tensor {name} (expected shape {list(shape)})")
    t = tensors[name]
    if tuple(t.shape) != tuple(shape):
        raise CheckpointError(f"tensor {name} has shape {list(t.shape)}, expected {list(shape)}")
    if not np.issubdtype(t.dtype, np.floating):
        raise CheckpointError(f"tensor {name} has non-float dtype {t.dtype}")
    return np.ascontiguousarray(t, dtype=dtype)


def build_weights(config: TextConfig, tensors: dict[str, np.ndarray], dtype: Any = np.float64) -> Weights:
    """Pick, shape-check and convert every tensor the config needs; reject unknown text tensors."""
    names = list(tensors)
    prefix = _text_prefix(names)
    used: set[str] = set()

    def take(rel: str, shape: tuple[int, ...]) -> np.ndarray:
        used.add(prefix + rel)
        return _take(tensors, prefix + rel, shape, dtype)

    glob = {s.field: take(s.name, s.shape(config)) for s in GLOBAL_TENSORS if s.when(config)}
    layers = []
    for spec in config.layers:
        lp = f"layers.{spec.index}."
        layers.append({s.field: take(lp + s.name, s.shape(config, spec))
                       for s in LAYER_TENSORS if s.when(config, spec)})
        if not spec.owns_kv:
            used.update(prefix + lp + n for n in _IGNORED_ON_SHARED_LAYERS)

    if config.tie_word_embeddings:
        lm_head = glob["embed"]
        used.add("lm_head.weight")  # a duplicate of the embedding when saved at all
    else:
        used.add("lm_head.weight")
        lm_head = _take(tensors, "lm_head.weight", (config.vocab_size, config.hidden_size), dtype)

    # Names under the text prefix that the table does not know mean a config/checkpoint mismatch (e.g. MoE
    # weights with enable_moe_block=false); vision/audio towers of a multimodal checkpoint are skipped.
    skip = ("model.vision_tower.", "model.audio_tower.", "model.embed_vision.", "model.embed_audio.")
    unknown = sorted(n for n in names if n.startswith(prefix) and n not in used and not n.startswith(skip))
    if unknown:
        more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise CheckpointError(f"checkpoint tensors not described by config.json: {unknown[:5]}{more}")
    return Weights(config=config, globals=glob, layers=layers, lm_head=lm_head)


def load_weights(model_dir: str, dtype: Any = np.float64) -> Weights:
    config = read_config(model_dir)
    return build_weights(config, read_checkpoint_tensors(model_dir), dtype)


__all__ = ["CheckpointError", "Weights", "TensorSpec", "GLOBAL_TENSORS", "LAYER_TENSORS", "read_safetensors",
           "read_checkpoint_tensors", "read_config", "build_weights", "load_weights"]
