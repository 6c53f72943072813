"""Layer by layer: Sovereign's tapped values against llama.cpp's own tensors, on one GGUF.

    build/venv-llamacpp/bin/python bench/compare_llamacpp_taps.py --sov build/release/sov \
        -m ~/.cache/sovereign/gemma-3-270m-q4_k_m.gguf --tokens 2,818,5,1000 \
        [--numerics llama.cpp] [--dump llama_taps.npz]

llama.cpp side: the low-level llama-cpp-python API with a graph-evaluation callback (`cb_eval`) that copies
every float32 tensor llama.cpp computes for one batch of the tokens (flash attention off, fp16 KV cache:
llama-cpp-python's defaults). Sovereign side: `sov logits --taps DIR` (gemma3 GGUFs). Pairs compared:
scaled embeddings (`inp_scaled` / `embed`), each layer's intermediate values (attn_norm, Qcur, Kcur, Vcur,
kqv_out, ..., ffn_post_norm: same names on both sides) and output (`l_out-L` / `LL_resid`) and the final
norm (`result_norm` / `final_norm`); bench/check_llamacpp_logits.py compares every position's logits.
Per pair and position it prints max |delta| and max |delta| / max |value|; the first position that moves
away from rounding level shows where two runs part.

llama.cpp's last layer only computes the rows it outputs (the last token here), so layer L-1 and the
final norm are compared on that row alone.
"""

import argparse
import ctypes
import glob
import os
import subprocess
import tempfile

import numpy as np


class GgmlTensor(ctypes.Structure):
    # ggml.h `struct ggml_tensor` of the ggml bundled with llama-cpp-python 0.3.36.
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4),
                ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16),
                ("flags", ctypes.c_int32), ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64),
                ("extra", ctypes.c_void_p)]


def llama_tensors(model_path, tokens, threads):
    import llama_cpp as L

    dump = {}

    def cb(t, ask, _):
        tensor = ctypes.cast(t, ctypes.POINTER(GgmlTensor)).contents
        if ask:
            return True
        if tensor.type != 0 or not tensor.data:  # float32 only
            return True
        ne, nb = list(tensor.ne), list(tensor.nb)
        raw = np.ctypeslib.as_array(ctypes.cast(tensor.data, ctypes.POINTER(ctypes.c_uint8)),
                                    shape=(nb[3] * ne[3],))
        view = np.lib.stride_tricks.as_strided(raw.view(np.float32), shape=(ne[3], ne[2], ne[1], ne[0]),
                                               strides=(nb[3], nb[2], nb[1], nb[0]))
        dump[tensor.name.decode()] = np.array(view)
        return True

    callback = L.ggml_backend_sched_eval_callback(cb)
    L.llama_backend_init()
    model = L.llama_model_load_from_file(model_path.encode(), L.llama_model_default_params())
    if not model:
        raise SystemExit(f"llama.cpp could not load {model_path}")
    cp = L.llama_context_default_params()
    cp.n_ctx = max(64, len(tokens))
    cp.n_batch = cp.n_ubatch = len(tokens)
    cp.n_threads = cp.n_threads_batch = threads
    cp.cb_eval = callback
    cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
    ctx = L.llama_init_from_model(model, cp)
    ids = (L.llama_token * len(tokens))(*tokens)
    if L.llama_decode(ctx, L.llama_batch_get_one(ids, len(tokens))) != 0:
        raise SystemExit("llama_decode failed")
    L.llama_free(ctx)
    L.llama_model_free(model)
    return dump


# Intermediate tensors compared when both sides have them, in graph order.
OPS = ["attn_norm", "Qcur", "Kcur", "Vcur", "kqv_out", "attn_post_norm", "sa_out", "ffn_norm", "ffn_gate",
       "ffn_up", "ffn_geglu", "ffn_out", "ffn_post_norm"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sov", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--tokens", required=True, help="comma-separated ids, BOS included")
    ap.add_argument("--numerics", default="llama.cpp")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--dump", help="also save llama.cpp's tensors to this .npz")
    a = ap.parse_args()
    tokens = [int(x) for x in a.tokens.split(",")]

    ref = llama_tensors(a.model, tokens, a.threads)
    if a.dump:
        np.savez(a.dump, **ref)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([a.sov, "logits", "-m", a.model, "--tokens", a.tokens, "-o", f"{d}/logits.npy",
                        "--numerics", a.numerics, "--taps", d, "-t", str(a.threads)], check=True)
        ours = {os.path.basename(p)[:-4]: np.load(p) for p in glob.glob(f"{d}/*.npy")}

    def row(name, want, got):
        print(f"{name:>17}  " + "  ".join(f"{np.abs(g - w).max():9.3g} ({np.abs(g - w).max() / max(np.abs(w).max(), 1e-30):7.1e})"
                                          for w, g in zip(want, got)))

    print(f"tokens {a.tokens}\nper position: max |delta| (relative to max |value|)")
    row("embed", ref["inp_scaled"].reshape(len(tokens), -1), ours["xx_embed_p0"])
    layers = sorted(int(k.split("_")[0]) for k in ours if k.endswith("_resid_p0"))
    for l in layers:
        # Per-op taps (sov logits --taps on gemma3 writes them under llama.cpp's names).
        for name in OPS:
            mine = ours.get(f"{l:02d}_{name}_p0")
            theirs = ref.get(f"{name}-{l}")
            if mine is None or theirs is None:
                continue
            want = theirs.reshape(-1, mine.shape[1])
            row(f"{l:2d} {name}", want, mine[-want.shape[0]:])
        want = ref[f"l_out-{l}"].reshape(-1, ours[f"{l:02d}_resid_p0"].shape[1])
        got = ours[f"{l:02d}_resid_p0"][-want.shape[0]:]
        row(f"layer {l}", want, got)
    want = ref["result_norm"].reshape(-1, ours["xx_final_norm_p0"].shape[1])
    row("final norm", want, ours["xx_final_norm_p0"][-want.shape[0]:])

if __name__ == "__main__":
    main()
