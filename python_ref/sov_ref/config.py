"""Gemma 4 text-decoder configuration: parsing `config.json` into per-layer geometry.

Everything the forward pass needs to know about a layer (attention type, head size, KV heads, window,
which layer's K/V it reads, MLP width, RoPE frequencies) is resolved here once, so the model code never
re-derives it. Defaults mirror transformers' `Gemma4TextConfig`, because a `config.json` that omits a field
means "the transformers default" to the model that produced it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import numpy as np

SLIDING = "sliding_attention"
FULL = "full_attention"
LAYER_TYPES = (SLIDING, FULL)

# transformers `Gemma4TextConfig` field defaults (the values a missing key stands for).
_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262_144,
    "hidden_size": 2304,
    "intermediate_size": 9216,
    "num_hidden_layers": 30,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "rms_norm_eps": 1e-6,
    "pad_token_id": 0,
    "tie_word_embeddings": True,
    "attention_bias": False,
    "sliding_window": 512,
    "final_logit_softcapping": None,
    "use_bidirectional_attention": None,
    "vocab_size_per_layer_input": 262_144,
    "hidden_size_per_layer_input": 256,
    "attention_k_eq_v": False,
    "num_kv_shared_layers": 0,
    "enable_moe_block": False,
    "use_double_wide_mlp": False,
    "num_experts": None,
    "top_k_experts": None,
    "moe_intermediate_size": None,
}
# Applied by `Gemma4TextConfig.__post_init__` when `rope_parameters` is absent.
_DEFAULT_ROPE: dict[str, dict[str, Any]] = {
    SLIDING: {"rope_type": "default", "rope_theta": 10_000.0},
    FULL: {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1_000_000.0},
}
_DEFAULT_GLOBAL_HEAD_DIM = 512  # `global_head_dim` when neither it nor `per_layer_config` is given
_DEFAULT_ROPE_THETA = 10_000.0  # PreTrainedConfig.default_theta
# Per-layer overrides the text decoder reads (`Gemma4TextAttention.__init__`); others are inert there.
_LAYER_OVERRIDE_KEYS = ("head_dim", "num_key_value_heads")
_SUPPORTED_ACTIVATIONS = ("gelu_pytorch_tanh",)


class ConfigError(ValueError):
    """The config.json describes something this reference cannot (or transformers would not) run."""


@dataclasses.dataclass(frozen=True)
class RopeSpec:
    rope_type: str  # "default" | "proportional"
    theta: float
    partial_rotary_factor: float
    factor: float  # proportional RoPE divides every inverse frequency by it (1.0 in all releases)

    def inv_freq(self, head_dim: int) -> np.ndarray:
        """Inverse frequencies [head_dim/2] (float32, as transformers builds them).

        Channel i is rotated together with channel i + head_dim/2 using inv_freq[i] (NeoX half split).
        default:      inv_freq_i = θ^(-2i/d) for every i < d/2.
        proportional: inv_freq_i = θ^(-2i/d) for i < ⌊partial·d/2⌋ (denominator is the FULL head dim d),
                      0 for the rest, so those channel pairs get cos=1, sin=0 and pass through unrotated.
        """
        half = head_dim // 2
        if self.rope_type == "default":
            exps = np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)
            return (np.float32(1.0) / (np.float32(self.theta) ** exps)).astype(np.float32)
        # int(p * d // 2) in transformers: float floor-division, then truncation.
        n_rot = int(self.partial_rotary_factor * head_dim // 2)
        exps = np.arange(0, 2 * n_rot, 2, dtype=np.float32) / np.float32(head_dim)
        inv = np.zeros(half, dtype=np.float32)
        inv[:n_rot] = np.float32(1.0) / (np.float32(self.theta) ** exps)
        return (inv / np.float32(self.factor)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    index: int
    layer_type: str  # SLIDING | FULL
    head_dim: int  # d for q, k and v of this layer
    num_kv_heads: int  # KV heads of the K/V this layer attends to (its own or its donor's)
    window: int | None  # sliding: key visible iff 0 <= q - k < window; None = plain causal
    kv_source: int  # layer whose K/V this layer attends over (== index when it computes its own)
    v_from_k: bool  # attention_k_eq_v on a full layer: no v_proj, V = raw k_proj output
    intermediate_size: int  # dense MLP width (doubled on KV-shared layers with use_double_wide_mlp)

    @property
    def owns_kv(self) -> bool:
        return self.kv_source == self.index


@dataclasses.dataclass(frozen=True)
class TextConfig:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    rms_norm_eps: float
    final_logit_softcapping: float | None
    sliding_window: int
    pad_token_id: int | None
    tie_word_embeddings: bool
    ple_dim: int  # hidden_size_per_layer_input; 0 = no Per-Layer Embeddings
    ple_vocab_size: int
    num_kv_shared_layers: int
    attention_k_eq_v: bool
    enable_moe: bool
    num_experts: int
    top_k_experts: int
    moe_intermediate_size: int
    rope: dict[str, RopeSpec]
    layers: tuple[LayerSpec, ...]

    @property
    def first_kv_shared_layer(self) -> int:
        return self.num_layers - self.num_kv_shared_layers

    @property
    def has_ple(self) -> bool:
        return self.ple_dim > 0


def _get(raw: dict[str, Any], key: str) -> Any:
    # An explicit null stays null (e.g. hidden_size_per_layer_input: null disables PLE).
    return raw.get(key, _DEFAULTS.get(key))


def _positive_int(raw: dict[str, Any], key: str) -> int:
    value = _get(raw, key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"config field '{key}' must be a positive integer, got {value!r}")
    return value


def text_config_dict(raw: dict[str, Any]) -> dict[str, Any]:
    """The text-decoder part of a config.json: flat `gemma4_text` or `text_config` of a `gemma4` config."""
    if not isinstance(raw, dict):
        raise ConfigError("config.json must hold a JSON object")
    if "text_config" in raw or raw.get("model_type") == "gemma4":
        text = raw.get("text_config")
        if not isinstance(text, dict):
            raise ConfigError("a 'gemma4' config needs a 'text_config' object")
        raw = text
    model_type = raw.get("model_type")
    if model_type not in (None, "gemma4_text"):
        raise ConfigError(f"expected model_type 'gemma4_text' (or a 'gemma4' wrapper), got {model_type!r}")
    return raw


def resolve_layer_types(raw: dict[str, Any], num_layers: int) -> list[str]:
    """`layer_types`, or transformers' default (every 6th layer full); the last layer is forced full."""
    types = raw.get("layer_types")
    if types is None:
        types = [SLIDING if (i + 1) % 6 else FULL for i in range(num_layers)]
    types = list(types)
    if len(types) != num_layers:
        raise ConfigError(f"layer_types has {len(types)} entries but num_hidden_layers is {num_layers}")
    for i, t in enumerate(types):
        if t not in LAYER_TYPES:
            raise ConfigError(f"layer_types[{i}] = {t!r}; expected one of {LAYER_TYPES}")
    if types[-1] != FULL:
        print(f"gemma4 config: last layer type {types[-1]!r} forced to {FULL!r} (as transformers does)",
              file=sys.stderr)
        types[-1] = FULL
    return types


def resolve_kv_sources(layer_types: list[str], num_kv_shared_layers: int) -> list[int]:
    """For each layer, the layer whose K/V it attends over.

    Layers >= first_shared = L - num_kv_shared_layers compute no K/V; each reads the K/V of the LAST layer
    before first_shared with the same layer type (transformers `kv_sharing_modes`). This differs from
    llama.cpp's "n_kv_start-2 for sliding, -1 for full" unless the last two non-shared layers are [S, F].
    """
    num_layers = len(layer_types)
    if not 0 <= num_kv_shared_layers < num_layers:
        raise ConfigError(f"num_kv_shared_layers must be in [0, {num_layers}) (at least one layer has to "
                          f"compute K/V), got {num_kv_shared_layers}")
    first_shared = num_layers - num_kv_shared_layers
    donors: dict[str, int] = {}
    for i in range(first_shared):
        donors[layer_types[i]] = i  # later layers overwrite: the last one of each type wins
    sources = []
    for i, t in enumerate(layer_types):
        if i < first_shared:
            sources.append(i)
        elif t in donors:
            sources.append(donors[t])
        else:
            raise ConfigError(f"layer {i} ({t}) shares K/V, but no layer before {first_shared} has that type "
                              "to provide it")
    return sources


def _layer_overrides(raw: dict[str, Any], layer_types: list[str], k_eq_v: bool) -> dict[int, dict[str, Any]]:
    """Per-layer `head_dim` / `num_key_value_heads` overrides.

    Newer transformers serialise them as `per_layer_config` ({"5": {"head_dim": 512, ...}}); older configs
    carry `global_head_dim` and `num_global_key_value_heads` (the latter only honoured with
    `attention_k_eq_v`), which apply to every full-attention layer.
    """
    num_layers = len(layer_types)
    per_layer = raw.get("per_layer_config")
    if per_layer is not None:
        if not isinstance(per_layer, dict):
            raise ConfigError("per_layer_config must be an object keyed by layer index")
        out: dict[int, dict[str, Any]] = {}
        for key, override in per_layer.items():
            try:
                idx = int(key)
            except (TypeError, ValueError):
                raise ConfigError(f"per_layer_config key {key!r} is not a layer index") from None
            if not 0 <= idx < num_layers or not isinstance(override, dict):
                raise ConfigError(f"per_layer_config[{key!r}] must be an object for a layer in [0, {num_layers})")
            ignored = sorted(set(override) - set(_LAYER_OVERRIDE_KEYS))
            if ignored:
                print(f"gemma4 config: per_layer_config[{key}] keys {ignored} are not read by the text decoder",
                      file=sys.stderr)
            out[idx] = {k: override[k] for k in _LAYER_OVERRIDE_KEYS if k in override}
        return out
    global_head_dim = raw.get("global_head_dim") or _DEFAULT_GLOBAL_HEAD_DIM
    override: dict[str, Any] = {"head_dim": global_head_dim}
    global_kv = raw.get("num_global_key_value_heads")
    if k_eq_v and global_kv is not None:
        override["num_key_value_heads"] = global_kv
    return {i: dict(override) for i, t in enumerate(layer_types) if t == FULL}


def _rope_specs(raw: dict[str, Any], layer_types: list[str]) -> dict[str, RopeSpec]:
    params = raw.get("rope_parameters")
    if params is None:
        params = _DEFAULT_ROPE
    if not isinstance(params, dict):
        raise ConfigError("rope_parameters must be an object keyed by layer type")
    specs = {}
    for t in sorted(set(layer_types)):
        p = params.get(t)
        if not isinstance(p, dict):
            raise ConfigError(f"rope_parameters has no entry for layer type {t!r}")
        rope_type = p.get("rope_type", p.get("type", "default"))
        if rope_type not in ("default", "proportional"):
            raise ConfigError(f"rope_parameters[{t!r}].rope_type = {rope_type!r} is not supported "
                              "(Gemma 4 uses 'default' and 'proportional')")
        theta = p.get("rope_theta", raw.get("rope_theta")) or _DEFAULT_ROPE_THETA
        partial = p.get("partial_rotary_factor", 1.0)
        factor = p.get("factor", 1.0)
        if not 0.0 < float(partial) <= 1.0 or float(theta) <= 0.0 or float(factor) <= 0.0:
            raise ConfigError(f"rope_parameters[{t!r}] has an invalid theta/partial_rotary_factor/factor: {p}")
        specs[t] = RopeSpec(rope_type, float(theta), float(partial), float(factor))
    return specs


def parse_config(raw_json: dict[str, Any]) -> TextConfig:
    """Validate a config.json object and resolve the per-layer geometry."""
    raw = text_config_dict(raw_json)
    # Tying is decided by the config of the model class that owns the LM head: the outer `gemma4` config
    # for a multimodal checkpoint (its text_config's flag is not consulted), else the text config.
    tie_owner = raw_json if raw is not raw_json else raw
    num_layers = _positive_int(raw, "num_hidden_layers")
    hidden = _positive_int(raw, "hidden_size")
    num_heads = _positive_int(raw, "num_attention_heads")
    vocab = _positive_int(raw, "vocab_size")
    window = _positive_int(raw, "sliding_window")
    intermediate = _positive_int(raw, "intermediate_size")

    activation = _get(raw, "hidden_activation")
    if activation not in _SUPPORTED_ACTIVATIONS:
        raise ConfigError(f"hidden_activation {activation!r} is not supported (expected gelu_pytorch_tanh)")
    if _get(raw, "attention_bias"):
        raise ConfigError("attention_bias=true is not supported: Gemma 4 has no biases")
    if _get(raw, "use_bidirectional_attention") == "all":
        raise ConfigError("use_bidirectional_attention='all' (non-causal text attention) is not supported")

    layer_types = resolve_layer_types(raw, num_layers)
    num_shared = int(_get(raw, "num_kv_shared_layers") or 0)
    kv_sources = resolve_kv_sources(layer_types, num_shared)
    k_eq_v = bool(_get(raw, "attention_k_eq_v"))
    double_wide = bool(_get(raw, "use_double_wide_mlp"))
    overrides = _layer_overrides(raw, layer_types, k_eq_v)

    base_head_dim = _positive_int(raw, "head_dim")
    base_kv_heads = _positive_int(raw, "num_key_value_heads")
    own_geometry = []
    for i, t in enumerate(layer_types):
        o = overrides.get(i, {})
        d = o.get("head_dim") or base_head_dim
        nkv = o.get("num_key_value_heads") or base_kv_heads
        if not isinstance(d, int) or d <= 0 or d % 2:
            raise ConfigError(f"layer {i}: head_dim must be a positive even integer, got {d!r}")
        if not isinstance(nkv, int) or nkv <= 0 or num_heads % nkv:
            raise ConfigError(f"layer {i}: num_attention_heads ({num_heads}) must be a multiple of its "
                              f"KV head count ({nkv!r})")
        own_geometry.append((d, nkv))

    # transformers builds one RoPE table per layer type, so every layer of a type needs the same head size.
    for t in set(layer_types):
        dims = {own_geometry[i][0] for i, lt in enumerate(layer_types) if lt == t}
        if len(dims) > 1:
            raise ConfigError(f"layers of type {t!r} have different head dims {sorted(dims)}")

    first_shared = num_layers - num_shared
    layers = []
    for i, t in enumerate(layer_types):
        src = kv_sources[i]
        d, _ = own_geometry[i]
        d_src, nkv_src = own_geometry[src]
        if d_src != d:
            raise ConfigError(f"layer {i} reads K/V of layer {src} but their head dims differ ({d} vs {d_src})")
        layers.append(LayerSpec(
            index=i, layer_type=t, head_dim=d, num_kv_heads=nkv_src,
            window=window if t == SLIDING else None, kv_source=src,
            v_from_k=k_eq_v and t == FULL,
            intermediate_size=intermediate * (2 if double_wide and i >= first_shared else 1)))

    ple_dim = int(_get(raw, "hidden_size_per_layer_input") or 0)
    ple_vocab = int(_get(raw, "vocab_size_per_layer_input") or 0)
    if ple_dim < 0 or (ple_dim and ple_vocab <= 0):
        raise ConfigError("hidden_size_per_layer_input / vocab_size_per_layer_input must be positive")

    enable_moe = bool(_get(raw, "enable_moe_block"))
    num_experts = top_k = moe_inter = 0
    if enable_moe:
        num_experts = _positive_int(raw, "num_experts")
        top_k = _positive_int(raw, "top_k_experts")
        moe_inter = _positive_int(raw, "moe_intermediate_size")
        if top_k > num_experts:
            raise ConfigError(f"top_k_experts ({top_k}) exceeds num_experts ({num_experts})")

    softcap = _get(raw, "final_logit_softcapping")
    if softcap is not None and float(softcap) <= 0.0:
        raise ConfigError(f"final_logit_softcapping must be positive or null, got {softcap!r}")
    eps = float(_get(raw, "rms_norm_eps"))
    if not math.isfinite(eps) or eps < 0.0:
        raise ConfigError(f"rms_norm_eps must be a finite non-negative number, got {eps!r}")

    return TextConfig(
        vocab_size=vocab, hidden_size=hidden, num_layers=num_layers, num_heads=num_heads,
        rms_norm_eps=eps, final_logit_softcapping=None if softcap is None else float(softcap),
        sliding_window=window, pad_token_id=_get(raw, "pad_token_id"),
        tie_word_embeddings=bool(_get(tie_owner, "tie_word_embeddings")),
        ple_dim=ple_dim, ple_vocab_size=ple_vocab if ple_dim else 0, num_kv_shared_layers=num_shared,
        attention_k_eq_v=k_eq_v, enable_moe=enable_moe, num_experts=num_experts, top_k_experts=top_k,
        moe_intermediate_size=moe_inter, rope=_rope_specs(raw, layer_types), layers=tuple(layers))
