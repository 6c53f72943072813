"""Gemma 4 text decoder in NumPy: the readable reference (spec gemma4.md §2).

One function per step, shapes in comments. Notation: T new tokens, S keys (cached + new), H hidden size,
L layers, P per-layer-embedding width, nq query heads, nkv KV heads, d head dim of the layer, I MLP width,
E experts, K experts per token, V vocabulary. Weights are PyTorch `[out, in]`, so a Linear is `x @ W.T`.

Computation runs in the dtype the weights were loaded as. The default, float64, makes the reference's own
rounding negligible, so comparing anything with it measures the other side's float32 error only (on the
fixtures the float64 reference sits closer to transformers' fp32 run than a float32 run of itself does).
float32 mimics an fp32 run and halves memory for real checkpoints. Constants that transformers keeps as
float32 buffers of an fp32 model (the embedding scales √H and √P, RoPE frequencies and angles) use those
float32 values in both modes: they are part of what the fp32 model computes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .config import LayerSpec, TextConfig
from .weights import Weights, load_weights


# ------------------------------------------------------------------------------------------------ primitives

def rms_norm(x: np.ndarray, weight: np.ndarray | None, eps: float) -> np.ndarray:
    """x · (mean(x²) + eps)^(-1/2) over the last axis, times `weight` directly (NOT 1 + weight)."""
    mean_sq = np.mean(x * x, axis=-1, keepdims=True) + x.dtype.type(eps)
    y = x * mean_sq ** x.dtype.type(-0.5)
    return y if weight is None else y * weight


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (`gelu_pytorch_tanh`)."""
    c = x.dtype.type(math.sqrt(2.0 / math.pi))
    return x.dtype.type(0.5) * x * (1 + np.tanh(c * (x + x.dtype.type(0.044715) * x * x * x)))


def linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w.T  # [.., in] · [out, in]ᵀ -> [.., out]


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def rope_cos_sin(inv_freq: np.ndarray, positions: np.ndarray, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin tables [T, d] for NeoX pairs: frequency i drives channels i and i + d/2."""
    angles = positions.astype(np.float32)[:, None] * inv_freq[None, :]  # [T, d/2] (fp32, as transformers)
    angles = np.concatenate([angles, angles], axis=-1)  # [T, d]
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x [T, n, d]: y_i = x_i·cos − x_{i+d/2}·sin, y_{i+d/2} = x_{i+d/2}·cos + x_i·sin."""
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # [T, n, d]
    return x * cos[:, None, :] + rotated * sin[:, None, :]


def attention_mask(q_pos: np.ndarray, k_pos: np.ndarray, window: int | None) -> np.ndarray:
    """[T, S] bool, True = visible: causal, and on sliding layers 0 <= q - k < window (W keys incl. self)."""
    dist = q_pos[:, None] - k_pos[None, :]  # [T, S]
    visible = dist >= 0
    if window is not None:
        visible &= dist < window
    return visible


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Grouped-query attention with scale 1.0 (q/k RMSNorm replace 1/√d).

    q [T, nq, d], k/v [S, nkv, d], visible [T, S] -> [T, nq·d]. Query head h uses KV head h // (nq/nkv).
    """
    t, nq, d = q.shape
    group = nq // k.shape[1]
    k_rep = np.repeat(k, group, axis=1)  # [S, nq, d]
    v_rep = np.repeat(v, group, axis=1)  # [S, nq, d]
    scores = np.einsum("thd,shd->hts", q, k_rep)  # [nq, T, S]
    scores = np.where(visible[None], scores, -np.inf)
    probs = softmax(scores, axis=-1)  # [nq, T, S]
    out = np.einsum("hts,shd->thd", probs, v_rep)  # [T, nq, d]
    return out.reshape(t, nq * d)


def gated_mlp(x: np.ndarray, gate: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """(gelu_tanh(x·Gᵀ) ⊙ x·Uᵀ)·Dᵀ: [T, H] -> [T, I] -> [T, H]."""
    return linear(gelu_tanh(linear(x, gate)) * linear(x, up), down)


def softcap(logits: np.ndarray, cap: float | None) -> np.ndarray:
    if cap is None:
        return logits
    c = logits.dtype.type(cap)
    return np.tanh(logits / c) * c


# ------------------------------------------------------------------------------------------------ embeddings

def fp32_sqrt(n: int) -> float:
    """√n as stored in transformers' float32 `embed_scale` buffer."""
    return float(np.float32(math.sqrt(n)))


def embed_tokens(w: Weights, tokens: np.ndarray) -> np.ndarray:
    """e = E[id] · √H with the float32 √H of an fp32 model (not bf16-rounded as in a bf16 run: 8.485 vs 8.5)."""
    emb = w.globals["embed"]  # [V, H]
    return emb[tokens] * emb.dtype.type(fp32_sqrt(w.config.hidden_size))  # [T, H]


def per_layer_inputs(w: Weights, tokens: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Per-Layer Embeddings PLI [T, L, P] = (context part + token part) · 2^(-1/2).

    token part:   E_ple[id] · √P, row of L·P split into L blocks of P (layer l owns columns l·P..(l+1)·P).
    context part: (e · W_plmpᵀ) · H^(-1/2) from the SCALED embedding e, reshaped [T, L, P], then RMSNorm over
                  each P-slice with the one shared `per_layer_projection_norm` weight.
    """
    c, g = w.config, w.globals
    dt = embeddings.dtype.type
    t = tokens.shape[0]
    tok = g["ple_embed"][tokens] * dt(fp32_sqrt(c.ple_dim))  # [T, L·P]
    tok = tok.reshape(t, c.num_layers, c.ple_dim)  # [T, L, P]
    ctx = linear(embeddings, g["ple_model_proj"]) * dt(c.hidden_size ** -0.5)  # [T, L·P]
    ctx = rms_norm(ctx.reshape(t, c.num_layers, c.ple_dim), g["ple_proj_norm"], c.rms_norm_eps)  # [T, L, P]
    return (ctx + tok) * dt(2.0 ** -0.5)  # [T, L, P]


# ------------------------------------------------------------------------------------------------ KV cache

@dataclasses.dataclass
class KVCache:
    """Post-norm, post-RoPE K and post-norm V of every layer that computes K/V, plus their positions.

    Everything is kept (no eviction): the mask alone enforces the sliding window, which is the simplest way to
    be right about it. KV-shared layers have no entry; they read their source layer's.
    """
    keys: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)  # layer -> [S, nkv, d]
    values: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)  # layer -> [S, nkv, d]
    positions: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))  # [S]

    @property
    def length(self) -> int:
        return int(self.positions.shape[0])

    def append(self, layer: int, k: np.ndarray, v: np.ndarray) -> None:
        if layer in self.keys:
            self.keys[layer] = np.concatenate([self.keys[layer], k], axis=0)
            self.values[layer] = np.concatenate([self.values[layer], v], axis=0)
        else:
            self.keys[layer], self.values[layer] = k, v


# ------------------------------------------------------------------------------------------------ layer

def attention_block(w: Weights, spec: LayerSpec, x: np.ndarray, positions: np.ndarray,
                    cache: KVCache, k_positions: np.ndarray, trace: dict | None) -> np.ndarray:
    """x [T, H] -> attention output projected back to [T, H] (before post_attention_layernorm)."""
    c, p = w.config, w.layer(spec.index)
    eps, t, d = c.rms_norm_eps, x.shape[0], spec.head_dim
    cos, sin = rope_cos_sin(c.rope[spec.layer_type].inv_freq(d), positions, x.dtype)  # [T, d]

    a = rms_norm(x, p["input_norm"], eps)  # [T, H]
    q = linear(a, p["q_proj"]).reshape(t, c.num_heads, d)  # [T, nq, d]
    q = apply_rope(rms_norm(q, p["q_norm"], eps), cos, sin)  # [T, nq, d]

    if spec.owns_kv:
        k_raw = linear(a, p["k_proj"]).reshape(t, spec.num_kv_heads, d)  # [T, nkv, d]
        # attention_k_eq_v: V is the raw K projection, taken BEFORE k_norm and RoPE.
        v_raw = k_raw if spec.v_from_k else linear(a, p["v_proj"]).reshape(t, spec.num_kv_heads, d)
        k = apply_rope(rms_norm(k_raw, p["k_norm"], eps), cos, sin)  # [T, nkv, d]
        v = rms_norm(v_raw, None, eps)  # [T, nkv, d]  (v_norm: no weight, no RoPE)
        cache.append(spec.index, k, v)
    # A KV-shared layer attends over exactly what its source layer stored (same positions, already updated
    # for this step because the source layer ran earlier in the loop); it computes only its own q and o.
    keys, values = cache.keys[spec.kv_source], cache.values[spec.kv_source]  # [S, nkv, d]

    visible = attention_mask(positions, k_positions, spec.window)  # [T, S]
    o = attention(q, keys, values, visible)  # [T, nq·d]
    if trace is not None:
        trace.update(q=q, k=keys, v=values, attn=o)
    return linear(o, p["o_proj"])  # [T, H]


def moe_route(w: Weights, spec: LayerSpec, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Router on the RAW residual r [T, H] -> (expert ids [T, K], weights [T, K]).

    z = RMSNorm_noweight(r) ⊙ scale · H^(-1/2); softmax over all E logits; top-K; renormalise to sum 1;
    multiply each weight by its expert's per_expert_scale.
    """
    c, p = w.config, w.layer(spec.index)
    z = rms_norm(r, None, c.rms_norm_eps) * p["router_scale"] * r.dtype.type(c.hidden_size ** -0.5)  # [T, H]
    probs = softmax(linear(z, p["router_proj"]))  # [T, E]
    idx = np.argsort(-probs, axis=-1, kind="stable")[:, :c.top_k_experts]  # [T, K], largest first
    top = np.take_along_axis(probs, idx, axis=-1)  # [T, K]
    top = top / np.sum(top, axis=-1, keepdims=True)
    return idx, top * p["per_expert_scale"][idx]


def moe_experts(w: Weights, spec: LayerSpec, f: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_j weights_j · Expert_{idx_j}(f) per token; f [T, H] -> [T, H].

    Expert_e(u) = (gelu_tanh(u·G_eᵀ) ⊙ u·U_eᵀ)·D_eᵀ with [G_e; U_e] = gate_up_proj[e] (gate = first I_e rows).
    """
    p, inter = w.layer(spec.index), w.config.moe_intermediate_size
    out = np.zeros_like(f)  # [T, H]
    for e in np.unique(idx):
        rows, slot = np.nonzero(idx == e)  # tokens routed to e, and at which of their K slots
        gate_up = p["experts_gate_up"][e]  # [2·I_e, H]
        y = gated_mlp(f[rows], gate_up[:inter], gate_up[inter:], p["experts_down"][e])  # [n, H]
        out[rows] += y * weights[rows, slot][:, None]
    return out


def feed_forward_block(w: Weights, spec: LayerSpec, r: np.ndarray, trace: dict | None) -> np.ndarray:
    """r [T, H] (residual after attention) -> FFN output [T, H] after post_feedforward_layernorm."""
    c, p = w.config, w.layer(spec.index)
    eps = c.rms_norm_eps
    m = gated_mlp(rms_norm(r, p["pre_ffw_norm"], eps), p["gate_proj"], p["up_proj"], p["down_proj"])  # [T, H]
    if c.enable_moe:
        # The dense MLP runs as an always-on shared expert next to the routed experts.
        m1 = rms_norm(m, p["post_ffw_norm_1"], eps)  # [T, H]
        idx, weights = moe_route(w, spec, r)  # [T, K], [T, K]
        f2 = rms_norm(r, p["pre_ffw_norm_2"], eps)  # [T, H]
        m2 = rms_norm(moe_experts(w, spec, f2, idx, weights), p["post_ffw_norm_2"], eps)  # [T, H]
        m = m1 + m2
        if trace is not None:
            trace.update(expert_ids=idx, expert_weights=weights)
    return rms_norm(m, p["post_ffw_norm"], eps)  # [T, H]


def ple_block(w: Weights, spec: LayerSpec, x: np.ndarray, pli: np.ndarray) -> np.ndarray:
    """Per-layer-embedding injection: x [T, H], pli [T, P] -> RMSNorm((gelu(x·Wgᵀ) ⊙ pli)·Wpᵀ) [T, H]."""
    p = w.layer(spec.index)
    g = gelu_tanh(linear(x, p["ple_gate"])) * pli  # [T, P]
    return rms_norm(linear(g, p["ple_proj"]), p["ple_post_norm"], w.config.rms_norm_eps)  # [T, H]


def decoder_layer(w: Weights, spec: LayerSpec, x: np.ndarray, positions: np.ndarray, pli: np.ndarray | None,
                  cache: KVCache, k_positions: np.ndarray, trace: dict | None = None) -> np.ndarray:
    """One layer: x [T, H] -> [T, H]."""
    p, eps = w.layer(spec.index), w.config.rms_norm_eps
    o = attention_block(w, spec, x, positions, cache, k_positions, trace)  # [T, H]
    x = x + rms_norm(o, p["post_attn_norm"], eps)  # [T, H]
    x = x + feed_forward_block(w, spec, x, trace)  # [T, H]
    if pli is not None:
        x = x + ple_block(w, spec, x, pli)  # [T, H]
    # layer_scalar scales the WHOLE residual stream, in every variant (with or without PLE).
    return x * p["layer_scalar"]  # [T, H]


# ------------------------------------------------------------------------------------------------ model

@dataclasses.dataclass
class ForwardResult:
    logits: np.ndarray  # [T, V] after the final softcap
    residual: np.ndarray  # [L, T, H] residual stream after each decoder layer
    embeddings: np.ndarray  # [T, H] scaled token embeddings (input of layer 0)
    ple: np.ndarray | None  # [T, L, P] per-layer inputs, None without PLE
    traces: list[dict] | None = None  # per layer: q, k, v, attn (and expert_ids/weights) when requested


def check_tokens(config: TextConfig, tokens: Any) -> np.ndarray:
    arr = np.asarray(tokens)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"tokens must be a non-empty 1-D integer sequence, got shape {arr.shape} {arr.dtype}")
    arr = arr.astype(np.int64)
    limit = config.vocab_size if not config.has_ple else min(config.vocab_size, config.ple_vocab_size)
    bad = arr[(arr < 0) | (arr >= limit)]
    if bad.size:
        raise ValueError(f"token id {int(bad[0])} is outside the vocabulary [0, {limit})")
    return arr


def forward(w: Weights, tokens: Any, cache: KVCache | None = None, trace: bool = False) -> ForwardResult:
    """Run T new tokens at positions cache.length … cache.length+T-1 (a fresh cache when None).

    With a cache this is incremental decoding: K/V of earlier calls are attended to and the new K/V are
    appended, so `forward(prefix)` then `forward(next_token)` equals one `forward(prefix + next_token)`.
    """
    c = w.config
    tokens = check_tokens(c, tokens)
    cache = KVCache() if cache is None else cache
    positions = cache.length + np.arange(tokens.shape[0], dtype=np.int64)  # [T]
    k_positions = np.concatenate([cache.positions, positions])  # [S]

    x = embed_tokens(w, tokens)  # [T, H]
    embeddings = x
    pli = per_layer_inputs(w, tokens, x) if c.has_ple else None  # [T, L, P]
    residual, traces = [], ([] if trace else None)
    for spec in c.layers:
        layer_trace = {} if trace else None
        x = decoder_layer(w, spec, x, positions, None if pli is None else pli[:, spec.index], cache,
                          k_positions, layer_trace)
        residual.append(x)
        if traces is not None:
            traces.append(layer_trace)
    cache.positions = k_positions

    h = rms_norm(x, w.globals["final_norm"], c.rms_norm_eps)  # [T, H]
    logits = softcap(linear(h, w.lm_head), c.final_logit_softcapping)  # [T, V]
    return ForwardResult(logits=logits, residual=np.stack(residual), embeddings=embeddings, ple=pli,
                         traces=traces)


def decode(w: Weights, tokens: Any, prefix: int) -> np.ndarray:
    """Logits [T - prefix, V] of tokens[prefix:], prefilling tokens[:prefix] then feeding one at a time."""
    tokens = check_tokens(w.config, tokens)
    if not 0 < prefix < tokens.shape[0]:
        raise ValueError(f"decode prefix must be in (0, {tokens.shape[0]}), got {prefix}")
    cache = KVCache()
    forward(w, tokens[:prefix], cache)
    return np.concatenate([forward(w, tokens[i:i + 1], cache).logits for i in range(prefix, tokens.shape[0])])


class Gemma4Ref:
    """Convenience wrapper: `Gemma4Ref(model_dir).forward(tokens)` -> ForwardResult."""

    def __init__(self, model_dir: str, dtype: Any = np.float64):
        self.weights = load_weights(model_dir, dtype)
        self.config = self.weights.config

    def forward(self, tokens: Any, trace: bool = False) -> ForwardResult:
        return forward(self.weights, tokens, trace=trace)

    def logits_and_residuals(self, tokens: Any) -> tuple[np.ndarray, np.ndarray]:
        r = self.forward(tokens)
        return r.logits, r.residual

    def decode(self, tokens: Any, prefix: int) -> np.ndarray:
        return decode(self.weights, tokens, prefix)
