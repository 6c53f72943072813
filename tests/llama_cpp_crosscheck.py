"""llama.cpp acceptance of `sov quantize` output (needs llama-cpp-python, numpy, safetensors; not run by ctest).

    python tests/llama_cpp_crosscheck.py build/<dir>/sov tests/fixtures [WORK_DIR]

1. Every transformers fixture, given a generated tokenizer.json (the fixtures have none; llama.cpp needs
   tokenizer.ggml.model, tokens and merges), -> `sov quantize --type F32` -> llama.cpp's logits against the
   recorded transformers logits.
2. A two-layer [sliding, full] model built from kquant_style's shapes (all rows multiples of 256, so the
   K-quants are used; llama.cpp refuses gemma4 models without any sliding layer) -> Q8_0 / Q5_K_M / Q4_K_M
   -> llama.cpp and `sov logits` on the same GGUF.
"""

import json
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

import llama_cpp


def write_tokenizer(d: str, vocab_size: int) -> None:
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "a": 4, "b": 5, "ab": 6}
    for i in range(len(vocab), vocab_size):
        vocab[f"tok{i}"] = i
    added = [{"id": i, "content": c, "special": True} for c, i in list(vocab.items())[:4]]
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump({"model": {"type": "BPE", "byte_fallback": True, "vocab": vocab, "merges": ["a b"]},
                   "added_tokens": added}, f)


def llama_logits(path: str, tokens: list[int]) -> np.ndarray:
    llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_batch=64, logits_all=True, verbose=False, n_threads=1)
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


def quantize(sov: str, src: str, dst: str, qt: str) -> None:
    subprocess.run([sov, "quantize", src, dst, "--type", qt, "--quiet"], check=True, capture_output=True)


def fixtures_f32(sov: str, fixtures: str, work: str) -> None:
    for name in sorted(os.listdir(fixtures)):
        fx = os.path.join(fixtures, name)
        if not os.path.exists(os.path.join(fx, "cases.safetensors")) or name == "kquant_style":
            continue
        if name == "kv_share_alt":
            # Built to show where llama.cpp's KV-donor rule differs from transformers; llama.cpp aborts on it.
            print(f"{name}: skipped (llama.cpp's KV-sharing layout assertion fails by design)")
            continue
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        for f in ("config.json", "model.safetensors"):
            if not os.path.exists(os.path.join(d, f)):
                os.symlink(os.path.abspath(os.path.join(fx, f)), os.path.join(d, f))
        cfg = json.load(open(os.path.join(fx, "config.json")))
        write_tokenizer(d, cfg.get("text_config", cfg)["vocab_size"])
        cases = load_file(os.path.join(fx, "cases.safetensors"))
        g = d + ".F32.gguf"
        quantize(sov, d, g, "F32")
        got = llama_logits(g, [int(t) for t in cases["tokens"]])
        ref = cases["logits"]
        print(f"{name} F32: llama.cpp vs transformers: max |dlogit| {np.abs(got - ref).max():.3g}; "
              f"top-1 agreement {np.mean(got.argmax(-1) == ref.argmax(-1)):.3f}")


def two_layer(sov: str, fixtures: str, work: str) -> None:
    src = os.path.join(fixtures, "kquant_style")
    d = os.path.join(work, "two_layer")
    os.makedirs(d, exist_ok=True)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["num_hidden_layers"] = 2
    cfg["layer_types"] = ["sliding_attention", "full_attention"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    rng = np.random.default_rng(7)
    out = {}
    for k, v in load_file(os.path.join(src, "model.safetensors")).items():
        out[k] = v
        if k.startswith("model.layers.0."):
            v1 = v if v.ndim != 2 else (rng.standard_normal(v.shape) / np.sqrt(v.shape[1])).astype(np.float32)
            out[k.replace("layers.0.", "layers.1.")] = v1
    save_file(out, os.path.join(d, "model.safetensors"))
    write_tokenizer(d, cfg["vocab_size"])
    tokens = [2] + [int(t) for t in rng.integers(3, cfg["vocab_size"], size=15)]
    for qt in ("F32", "Q8_0", "Q5_K_M", "Q4_K_M"):
        g = f"{d}.{qt}.gguf"
        quantize(sov, d, g, qt)
        npy = f"{d}.{qt}.npy"
        subprocess.run([sov, "logits", "-m", g, "--tokens", ",".join(map(str, tokens)), "-o", npy], check=True)
        ours = np.load(npy)
        theirs = llama_logits(g, tokens)
        diff = np.abs(theirs - ours)
        print(f"two_layer {qt}: llama.cpp vs sov on the same GGUF: max |dlogit| {diff.max():.3g}, "
              f"RMS {np.sqrt((diff ** 2).mean()):.3g} (logit std {ours.std():.3g}); "
              f"top-1 agreement {np.mean(ours.argmax(-1) == theirs.argmax(-1)):.3f}; "
              f"file {os.path.getsize(g) / 2 ** 20:.3f} MiB")
        if qt != "F32":
            # llama.cpp on the same weights dequantized to f32 (sov quantize --type F32 of the file): separates
            # how the two read the blocks from llama.cpp's quantized activations in its quantized matmuls.
            deq = f"{d}.{qt}.deq.gguf"
            quantize(sov, g, deq, "F32")
            diff = np.abs(llama_logits(deq, tokens) - ours)
            print(f"two_layer {qt}: llama.cpp on the dequantized-f32 GGUF vs sov on the {qt} GGUF: "
                  f"max |dlogit| {diff.max():.3g}, RMS {np.sqrt((diff ** 2).mean()):.3g}")


def main() -> int:
    sov, fixtures = sys.argv[1], sys.argv[2]
    work = sys.argv[3] if len(sys.argv) > 3 else "/tmp/sov_llama_cpp_check"
    os.makedirs(work, exist_ok=True)
    fixtures_f32(sov, fixtures, work)
    two_layer(sov, fixtures, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
