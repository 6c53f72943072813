"""`sov logits` against transformers on many small random Gemma 4 configs (needs torch; not on the test path).

    build/venv/bin/python tests/gemma4_sweep.py build/release/sov [--count 40] [--seed 0] [--ref64]

Configs come from python_ref/check_configs.py (layer patterns, windows, head dims, GQA ratios, PLE widths,
shared-layer counts, MoE sizes, RoPE parameters, untied heads, no softcap, the multimodal checkpoint layout).
Each model is built in float32 with eager attention, re-randomised like the fixtures, saved with
save_pretrained to a temporary directory and run through the `sov` binary. --ref64 also prints the distance of
both to the float64 NumPy reference, which tells fp32 conditioning (both far) from a sov bug (only sov far).
Nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python_ref"))

import check_configs  # noqa: E402
import make_fixtures  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sov")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--ref64", action="store_true")
    args = ap.parse_args()
    import torch
    from transformers import Gemma4Config, Gemma4ForCausalLM, Gemma4ForConditionalGeneration, Gemma4TextConfig
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    failures = 0
    for i in range(args.count):
        kw = check_configs.random_config(rng)
        multimodal = i % 5 == 4
        tc = Gemma4TextConfig(**kw)
        mk = dict(attn_implementation="eager", dtype=torch.float32)
        if tc.enable_moe_block:
            mk["experts_implementation"] = "eager"
        if multimodal:
            model = Gemma4ForConditionalGeneration._from_config(Gemma4Config(text_config=tc.to_dict()), **mk)
        else:
            model = Gemma4ForCausalLM._from_config(tc, **mk)
        model = model.eval()
        make_fixtures._randomise(model, torch.Generator().manual_seed(i))
        t = int(rng.integers(6, 30))
        tokens = np.concatenate([[2], rng.integers(3, kw["vocab_size"], size=t - 1)])
        with torch.no_grad():
            want = model(input_ids=torch.from_numpy(tokens)[None], use_cache=False,
                         output_hidden_states=True).logits[0].numpy()
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            out = os.path.join(tmp, "logits.npy")
            r = subprocess.run([args.sov, "logits", "-m", tmp, "--tokens", ",".join(map(str, tokens)), "-o", out],
                               capture_output=True, text=True)
            note = ""
            if r.returncode != 0:
                delta, note = float("inf"), r.stderr.strip()
            else:
                got = np.load(out)
                delta = float(np.abs(got - want).max())
                if args.ref64:
                    import sov_ref
                    ref = sov_ref.forward(sov_ref.load_weights(tmp, np.dtype("float64")), tokens).logits
                    note = f"hf-f64 {np.abs(want - ref).max():.2e} sov-f64 {np.abs(got - ref).max():.2e}"
        types = "".join("S" if x == "sliding_attention" else "F" for x in tc.layer_types)
        summary = (f"L={kw['num_hidden_layers']} {types} shared={kw['num_kv_shared_layers']} "
                   f"W={kw['sliding_window']} nq={kw['num_attention_heads']} "
                   f"nkv={kw['num_key_value_heads']}/{kw.get('num_global_key_value_heads')} "
                   f"d={kw['head_dim']}/{kw['global_head_dim']} keqv={int(kw['attention_k_eq_v'])} "
                   f"ple={kw['hidden_size_per_layer_input']} moe={int(tc.enable_moe_block)} "
                   f"tied={int(kw['tie_word_embeddings'])} cap={kw['final_logit_softcapping']} mm={int(multimodal)} T={t}")
        ok = delta <= args.tol
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {i:3d} max|dlogit| {delta:.2e}  {summary} {note}", flush=True)
    print(f"{args.count - failures}/{args.count} configs within {args.tol:g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
