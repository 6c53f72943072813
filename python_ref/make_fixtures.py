"""Builds tiny random-weight Gemma 4 text models and records transformers' float32 outputs as fixtures.

    build/venv/bin/python python_ref/make_fixtures.py --out tests/fixtures [--only e_style]

Needs torch + transformers (python_ref/requirements-fixtures.txt, installed by `scripts/setup.sh --fixtures`).
For each fixture, tests/fixtures/<name>/ gets:
  config.json, model.safetensors   save_pretrained of the random model (the `model.` tensor prefix)
  cases.safetensors                tokens int32 [T]; embeddings f32 [T,H] (scaled input of layer 0);
                                   residual f32 [L,T,H] (output of each decoder layer, via forward hooks);
                                   logits f32 [T,V]; ple f32 [T,L,P] (PLE models); decode_prefix int32 [1];
                                   decode_logits f32 [T-k,V] (prefill k tokens, then one at a time);
                                   MoE models: expert_ids int32 [L,T,K], expert_weights f32 [L,T,K];
                                   per layer l: q.l [T,nq,d] and k.l [T,nkv,d] after norm + RoPE, v.l
                                   [T,nkv,d] after v_norm (k/v only on layers computing K/V), attn.l
                                   [T,nq·d] attention output before o_proj
  meta.json                        versions, seed, description, self-consistency figures
Deterministic: fixed seeds, one CPU thread, weights drawn in sorted-name order.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from typing import Any

import numpy as np

S, F = "sliding_attention", "full_attention"
ROPE = {S: {"rope_type": "default", "rope_theta": 10_000.0},
        F: {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1_000_000.0}}
COMMON = dict(vocab_size=512, final_logit_softcapping=30.0, rms_norm_eps=1e-6, max_position_embeddings=256,
              rope_parameters=ROPE, tie_word_embeddings=True, pad_token_id=0, bos_token_id=2, eos_token_id=1,
              use_bidirectional_attention=None)

# name -> (seed, sequence length T, decode prefix k, description, Gemma4TextConfig kwargs)
FIXTURES: dict[str, tuple[int, int, int, str, dict[str, Any]]] = {
    "e_style": (1234, 24, 7,
        "E2B/E4B-like: PLE, sliding+full layers, KV sharing of both types (donors 2/S and 3/F), "
        "double-wide MLP on shared layers, proportional RoPE on full layers",
        dict(COMMON, vocab_size_per_layer_input=512, hidden_size=72, intermediate_size=96, num_hidden_layers=6,
             layer_types=[S, S, S, F, S, F], num_kv_shared_layers=2, use_double_wide_mlp=True,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16, global_head_dim=32,
             attention_k_eq_v=False, sliding_window=4, hidden_size_per_layer_input=8)),
    "moe_style": (2345, 24, 9,
        "26B-A4B-like: MoE (8 experts, top-2) beside the dense MLP on every layer, attention_k_eq_v with "
        "num_global_key_value_heads=1, no PLE",
        dict(COMMON, hidden_size=72, intermediate_size=48, num_hidden_layers=4, layer_types=[S, F, S, F],
             num_attention_heads=4, num_key_value_heads=2, num_global_key_value_heads=1, head_dim=16,
             global_head_dim=32, attention_k_eq_v=True, sliding_window=4, hidden_size_per_layer_input=0,
             num_kv_shared_layers=0, enable_moe_block=True, num_experts=8, top_k_experts=2,
             moe_intermediate_size=24)),
    "dense_style": (3456, 28, 11,
        "31B-like dense: layers [S,S,F,S,S,F], attention_k_eq_v with num_global_key_value_heads=2 "
        "(8 query heads, 4 sliding KV heads), window 5, no PLE",
        dict(COMMON, vocab_size=256, hidden_size=48, intermediate_size=96, num_hidden_layers=6,
             layer_types=[S, S, F, S, S, F],
             num_attention_heads=8, num_key_value_heads=4, num_global_key_value_heads=2, head_dim=16,
             global_head_dim=32, attention_k_eq_v=True, sliding_window=5, hidden_size_per_layer_input=0,
             num_kv_shared_layers=0)),
    "kv_share_alt": (4567, 22, 6,
        "KV-sharing layout where HF's donor rule (last non-shared layer of the same type: S->2, F->1) differs "
        "from llama.cpp's n_kv_start-2/-1 rule (S->1, F->2): layers [S,F,S,F,S,F], 3 shared, PLE, "
        "double-wide MLP",
        dict(COMMON, vocab_size=256, vocab_size_per_layer_input=256, hidden_size=48, intermediate_size=64,
             num_hidden_layers=6, layer_types=[S, F, S, F, S, F], num_kv_shared_layers=3, use_double_wide_mlp=True,
             num_attention_heads=4, num_key_value_heads=1, head_dim=16, global_head_dim=32,
             attention_k_eq_v=False, sliding_window=4, hidden_size_per_layer_input=8)),
    "kquant_style": (5678, 24, 7,
        "Every matrix row a multiple of 256 (H = I = nq*d = 256, vocab 256) so that Q4_K/Q5_K/Q6_K are used "
        "without the row-size fallbacks; one full-attention layer (proportional RoPE) keeps the file < 2 MB",
        dict(COMMON, vocab_size=256, hidden_size=256, intermediate_size=256, num_hidden_layers=1,
             layer_types=[F], num_attention_heads=2, num_key_value_heads=1, head_dim=128, global_head_dim=128,
             attention_k_eq_v=False, sliding_window=4, hidden_size_per_layer_input=0,
             num_kv_shared_layers=0)),
}

EMBED_STD_TIMES_SQRT_H = 3.0  # logits ≈ normed h · E_row, std ≈ 3: O(1..10), mostly below the softcap of 30
# One-layer kquant_style: the residual stays close to the input embedding, so the logit of the input token
# itself is ~|E_row|² and saturates the softcap at the default scale; a smaller table keeps it below 0.9·30.
EMBED_STD_OVERRIDE = {"kquant_style": 2.0}
ROUTER_STD = 1.5  # router logits std ≈ 1.5 (its input has unit norm): clear top-k margins, not one-hot


def _randomise(model, gen, embed_std_times_sqrt_h: float = EMBED_STD_TIMES_SQRT_H) -> None:
    """Replace every parameter (and layer_scalar) with non-trivial random values; fail on anything unknown."""
    import torch

    def normal(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float32)

    cfg = model.config.get_text_config()
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            leaf = name.split(".")
            owner = leaf[-2] if len(leaf) >= 2 else ""
            if name.endswith("embed_tokens.weight"):
                p.copy_(normal(p.shape, embed_std_times_sqrt_h / math.sqrt(cfg.hidden_size)))
            elif name.endswith("embed_tokens_per_layer.weight"):
                p.copy_(normal(p.shape, 1.0 / math.sqrt(cfg.hidden_size_per_layer_input)))
            elif "norm" in owner and leaf[-1] == "weight":
                p.copy_(1.0 + 0.1 * normal(p.shape, 1.0))
            elif name.endswith("router.proj.weight"):
                p.copy_(normal(p.shape, ROUTER_STD))
            elif name.endswith("router.scale") or name.endswith("router.per_expert_scale"):
                p.copy_(uniform(p.shape, 0.5, 1.5))
            elif name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
                p.copy_(normal(p.shape, 1.0 / math.sqrt(p.shape[-1])))
            elif leaf[-1] == "weight" and p.dim() == 2:
                p.copy_(normal(p.shape, 1.0 / math.sqrt(p.shape[1])))
            else:
                raise RuntimeError(f"make_fixtures: no randomisation rule for parameter {name} {tuple(p.shape)}")
        for name, b in sorted(model.named_buffers(), key=lambda kv: kv[0]):
            if name.endswith("layer_scalar"):
                b.copy_(uniform(b.shape, 0.5, 1.5))
            # embed_scale and the RoPE inv_freq buffers are non-persistent: derived from the config, untouched.


def _record_forward(model, input_ids):
    """Full-sequence forward with hooks: embeddings, per-layer residual, PLE inputs, router choices, and the
    attention internals (q and k after norm + RoPE, v after v_norm, the attention output before o_proj)."""
    import torch
    from transformers.models.gemma4 import modeling_gemma4

    layers = model.model.layers
    residual: list = [None] * len(layers)
    ple: list = [None] * len(layers)
    experts: list = [None] * len(layers)
    attn: list = [dict() for _ in layers]
    store: dict = {"layer": None}
    hooks = [model.model.embed_tokens.register_forward_hook(
        lambda m, a, out: store.__setitem__("emb", out.detach().clone()))]

    # q and k are RoPE'd inline in the attention forward: record the calls (q first, then k if computed).
    original_rope = modeling_gemma4.apply_rotary_pos_emb

    def recording_rope(x, cos, sin, unsqueeze_dim=1):
        y = original_rope(x, cos, sin, unsqueeze_dim=unsqueeze_dim)
        slot = attn[store["layer"]]
        slot["k" if "q" in slot else "q"] = y[0].detach().clone()  # [T, heads, d]
        return y

    for i, layer in enumerate(layers):
        hooks.append(layer.self_attn.register_forward_pre_hook(
            lambda m, args, i=i: store.__setitem__("layer", i)))
        hooks.append(layer.self_attn.o_proj.register_forward_pre_hook(
            lambda m, args, i=i: attn[i].__setitem__("attn", args[0][0].detach().clone())))
        if getattr(layer.self_attn, "v_norm", None) is not None:
            hooks.append(layer.self_attn.v_norm.register_forward_hook(
                lambda m, args, out, i=i: attn[i].__setitem__("v", out[0].detach().clone())))

        def post(m, args, out, i=i):
            residual[i] = (out[0] if isinstance(out, tuple) else out).detach().clone()

        def pre(m, args, kwargs, i=i):
            pli = args[1] if len(args) > 1 else kwargs.get("per_layer_input")
            ple[i] = None if pli is None else pli.detach().clone()

        hooks.append(layer.register_forward_hook(post))
        hooks.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
        if getattr(layer, "enable_moe_block", False):
            def route(m, args, out, i=i):
                _, weights, index = out
                experts[i] = (index.detach().clone(), weights.detach().clone(), out[0].detach().clone())
            hooks.append(layer.router.register_forward_hook(route))
    modeling_gemma4.apply_rotary_pos_emb = recording_rope
    try:
        with torch.no_grad():
            out = model(input_ids=input_ids, use_cache=False, output_hidden_states=True)
    finally:
        modeling_gemma4.apply_rotary_pos_emb = original_rope
        for h in hooks:
            h.remove()
    with torch.no_grad():
        final_normed = model.model.norm(residual[-1])[0].numpy()
    rec = {
        "final_normed": final_normed,
        "logits": out.logits[0].numpy(),
        "embeddings": store["emb"][0].numpy(),
        "residual": torch.stack([r[0] for r in residual]).numpy(),
        "hidden_states_last": out.hidden_states[-1][0].numpy(),
    }
    for i, slot in enumerate(attn):
        for key, value in slot.items():
            rec[f"{key}.{i}"] = value.numpy()
    if ple[0] is not None:
        rec["ple"] = torch.stack([p[0] for p in ple], dim=1).numpy()  # [T, L, P]
    if experts[0] is not None:
        rec["expert_ids"] = torch.stack([e[0] for e in experts]).numpy().astype(np.int32)  # [L, T, K]
        rec["expert_weights"] = torch.stack([e[1] for e in experts]).numpy()  # [L, T, K]
        rec["router_probs"] = torch.stack([e[2] for e in experts]).numpy()  # [L, T, E]
    return rec


def _decode_logits(model, input_ids, prefix: int) -> np.ndarray:
    """Prefill `prefix` tokens with a cache, then feed the rest one at a time."""
    import torch

    with torch.no_grad():
        out = model(input_ids=input_ids[:, :prefix], use_cache=True)
        cache, steps = out.cache, []
        for i in range(prefix, input_ids.shape[1]):
            out = model(input_ids=input_ids[:, i:i + 1], cache=cache, use_cache=True)
            cache = out.cache
            steps.append(out.logits[0, -1])
    return torch.stack(steps).numpy()


def _routing_margin(rec: dict, k: int) -> float:
    """Smallest gap between the k-th and (k+1)-th router probability: tiny gaps would make top-k fragile."""
    probs = np.sort(rec["router_probs"], axis=-1)[..., ::-1]
    return float(np.min(probs[..., k - 1] - probs[..., k])) if probs.shape[-1] > k else 1.0


def build_fixture(name: str, out_dir: str) -> dict:
    import torch
    import transformers
    from safetensors.numpy import save_file
    from transformers import Gemma4ForCausalLM, Gemma4TextConfig

    seed, seq_len, prefix, description, kwargs = FIXTURES[name]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    config = Gemma4TextConfig(**kwargs)
    model_kwargs = dict(attn_implementation="eager", dtype=torch.float32)
    if config.enable_moe_block:
        model_kwargs["experts_implementation"] = "eager"  # the plain per-expert loop
    model = Gemma4ForCausalLM._from_config(config, **model_kwargs).eval()
    _randomise(model, gen, EMBED_STD_OVERRIDE.get(name, EMBED_STD_TIMES_SQRT_H))

    rng = np.random.default_rng(seed)
    tokens = np.concatenate([[2], rng.integers(3, config.vocab_size, size=seq_len - 1)]).astype(np.int64)
    input_ids = torch.from_numpy(tokens)[None]

    rec = _record_forward(model, input_ids)
    decode = _decode_logits(model, input_ids, prefix)

    target = os.path.join(out_dir, name)
    if os.path.isdir(target):
        shutil.rmtree(target)
    model.save_pretrained(target, safe_serialization=True)
    gen_cfg = os.path.join(target, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)  # sampling defaults: irrelevant to parity

    # The saved checkpoint must reproduce the recorded run (guards against unsaved buffers / tying surprises).
    reloaded = Gemma4ForCausalLM.from_pretrained(target, **model_kwargs).eval()
    with torch.no_grad():
        reload_logits = reloaded(input_ids=input_ids, use_cache=False).logits[0].numpy()
    reload_delta = float(np.max(np.abs(reload_logits - rec["logits"])))
    if reload_delta != 0.0:
        raise RuntimeError(f"{name}: reloaded checkpoint gives different logits (max |Δ| {reload_delta})")

    cases = {
        "tokens": tokens.astype(np.int32),
        "embeddings": rec["embeddings"].astype(np.float32),
        "residual": rec["residual"].astype(np.float32),
        "logits": rec["logits"].astype(np.float32),
        "decode_prefix": np.array([prefix], dtype=np.int32),
        "decode_logits": decode.astype(np.float32),
    }
    for key in rec:
        if key in ("ple", "expert_ids", "expert_weights") or key.split(".")[0] in ("q", "k", "v", "attn"):
            cases[key] = rec[key]
    save_file({k: np.ascontiguousarray(v) for k, v in cases.items()}, os.path.join(target, "cases.safetensors"))

    decode_delta = float(np.max(np.abs(decode - rec["logits"][prefix:])))
    last_layer_delta = float(np.max(np.abs(rec["hidden_states_last"] - rec["residual"][-1])))
    meta = {
        "description": description,
        "seed": seed,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "numpy": np.__version__},
        "dtype": "float32",
        "attn_implementation": "eager",
        "experts_implementation": model_kwargs.get("experts_implementation"),
        "num_tokens": int(seq_len),
        "decode_prefix": int(prefix),
        "decode_vs_full_logits_max_abs": decode_delta,
        # transformers' output_hidden_states[-1] is NOT the last layer's output but its final-normed version,
        # which is why the residual stream is recorded with forward hooks.
        "output_hidden_states_last_vs_last_layer_output_max_abs": last_layer_delta,
        "output_hidden_states_last_vs_final_norm_of_last_layer_max_abs":
            float(np.max(np.abs(rec["hidden_states_last"] - rec["final_normed"]))),
        "logits_abs_max": float(np.max(np.abs(rec["logits"]))),
        "logits_std": float(np.std(rec["logits"])),
        "residual_abs_max": float(np.max(np.abs(rec["residual"]))),
    }
    if "router_probs" in rec:
        meta["router_topk_min_margin"] = _routing_margin(rec, config.top_k_experts)
    with open(os.path.join(target, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    ap.add_argument("--only", action="append", choices=sorted(FIXTURES), help="build only these fixtures")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(1)  # one reduction order: byte-identical regeneration
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or sorted(FIXTURES):
        meta = build_fixture(name, args.out)
        print(f"{name}: |logits| max {meta['logits_abs_max']:.3f} std {meta['logits_std']:.3f}; "
              f"decode vs full max |Δ| {meta['decode_vs_full_logits_max_abs']:.2e}"
              + (f"; router top-k margin {meta['router_topk_min_margin']:.3e}"
                 if "router_topk_min_margin" in meta else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
