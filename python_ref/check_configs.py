"""Runs transformers and the NumPy reference side by side on many small random configs (needs torch).

    build/venv/bin/python python_ref/check_configs.py [--count 40] [--seed 0]

The committed fixtures pin four layouts; this sweeps the rest of the config space the reference claims to
handle (layer patterns, windows, head dims, GQA ratios, PLE widths, shared-layer counts, MoE sizes, RoPE
parameters, untied heads, no softcap, the multimodal checkpoint layout) and fails on any disagreement
beyond the parity bar. Nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_fixtures  # noqa: E402
import sov_ref  # noqa: E402

S, F = make_fixtures.S, make_fixtures.F


def random_config(rng: np.random.Generator) -> dict:
    num_layers = int(rng.integers(2, 9))
    if rng.random() < 0.2:
        layer_types = None  # transformers' default pattern
        types = [S if (i + 1) % 6 else F for i in range(num_layers)]
        types[-1] = F
    else:
        types = [S if rng.random() < 0.6 else F for _ in range(num_layers)]
        types[-1] = F
        layer_types = types
    # Shared layers need a same-type donor among the non-shared ones.
    num_shared = 0
    for n in range(int(rng.integers(0, num_layers)), 0, -1):
        if set(types[:num_layers - n]) == set(types):
            num_shared = n
            break
    num_heads = int(rng.choice([2, 4, 6, 8]))
    kv_choices = [k for k in (1, 2, 3, 4, 6, 8) if num_heads % k == 0]
    head_dim = int(rng.choice([8, 12, 16, 24]))
    global_head_dim = int(rng.choice([8, 16, 32, 40]))
    k_eq_v = bool(rng.random() < 0.4)
    ple = int(rng.choice([0, 4, 8])) if rng.random() < 0.6 else 0
    moe = bool(rng.random() < 0.35)
    vocab = int(rng.choice([64, 128, 200]))
    hidden = int(rng.choice([16, 32, 40, 64]))
    cfg = dict(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=int(rng.choice([16, 24, 48])),
        num_hidden_layers=num_layers, layer_types=layer_types, num_attention_heads=num_heads,
        num_key_value_heads=int(rng.choice(kv_choices)), head_dim=head_dim, global_head_dim=global_head_dim,
        attention_k_eq_v=k_eq_v, sliding_window=int(rng.choice([1, 2, 3, 4, 7, 64])),
        hidden_size_per_layer_input=ple, vocab_size_per_layer_input=vocab,
        num_kv_shared_layers=num_shared, use_double_wide_mlp=bool(rng.random() < 0.5),
        final_logit_softcapping=None if rng.random() < 0.25 else float(rng.choice([10.0, 30.0])),
        tie_word_embeddings=bool(rng.random() < 0.8), rms_norm_eps=float(rng.choice([1e-6, 1e-5])),
        max_position_embeddings=256, pad_token_id=0, bos_token_id=2, eos_token_id=1,
        rope_parameters={
            S: {"rope_type": "default", "rope_theta": float(rng.choice([100.0, 10_000.0]))},
            F: {"rope_type": "proportional", "partial_rotary_factor": float(rng.choice([0.25, 0.5, 1.0])),
                "rope_theta": float(rng.choice([1e4, 1e6])), "factor": float(rng.choice([1.0, 1.0, 8.0]))}},
    )
    if k_eq_v:
        cfg["num_global_key_value_heads"] = int(rng.choice(kv_choices))
    if moe:
        experts = int(rng.choice([4, 8]))
        cfg.update(enable_moe_block=True, num_experts=experts, top_k_experts=int(rng.integers(1, experts)),
                   moe_intermediate_size=int(rng.choice([8, 16])))
    return cfg


def check_one(index: int, rng: np.random.Generator, multimodal_layout: bool) -> tuple[float, str]:
    import torch
    from transformers import Gemma4Config, Gemma4ForCausalLM, Gemma4ForConditionalGeneration, Gemma4TextConfig

    kwargs = random_config(rng)
    text_cfg = Gemma4TextConfig(**kwargs)
    model_kwargs = dict(attn_implementation="eager", dtype=torch.float32)
    if text_cfg.enable_moe_block:
        model_kwargs["experts_implementation"] = "eager"
    if multimodal_layout:
        model = Gemma4ForConditionalGeneration._from_config(Gemma4Config(text_config=text_cfg.to_dict()),
                                                            **model_kwargs).eval()
    else:
        model = Gemma4ForCausalLM._from_config(text_cfg, **model_kwargs).eval()
    gen = torch.Generator().manual_seed(index)
    make_fixtures._randomise(model, gen)
    seq_len = int(rng.integers(6, 30))
    tokens = np.concatenate([[2], rng.integers(3, kwargs["vocab_size"], size=seq_len - 1)])
    with torch.no_grad():
        # output_hidden_states disables transformers' KV-shared-layer slicing shortcut, which (5.24) indexes
        # per_layer_inputs even when the model has no PLE and crashes on KV sharing without PLE.
        want = model(input_ids=torch.from_numpy(tokens)[None], use_cache=False,
                     output_hidden_states=True).logits[0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        got = sov_ref.forward(sov_ref.load_weights(tmp), tokens).logits
    summary = (f"L={kwargs['num_hidden_layers']} types={''.join('S' if t == S else 'F' for t in text_cfg.layer_types)}"
               f" shared={kwargs['num_kv_shared_layers']} W={kwargs['sliding_window']} nq={kwargs['num_attention_heads']}"
               f" nkv={kwargs['num_key_value_heads']}/{kwargs.get('num_global_key_value_heads')} d={kwargs['head_dim']}"
               f"/{kwargs['global_head_dim']} keqv={int(kwargs['attention_k_eq_v'])}"
               f" ple={kwargs['hidden_size_per_layer_input']} moe={int(text_cfg.enable_moe_block)}"
               f" tied={int(kwargs['tie_word_embeddings'])} cap={kwargs['final_logit_softcapping']}"
               f" mm={int(multimodal_layout)} T={seq_len}")
    return float(np.max(np.abs(got - want))), summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    failures = 0
    for i in range(args.count):
        multimodal = i % 5 == 4
        delta, summary = check_one(i, rng, multimodal)
        ok = delta <= args.tol
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {i:3d} max|Δlogit| {delta:.2e}  {summary}", flush=True)
    print(f"{args.count - failures}/{args.count} configs within {args.tol:g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
