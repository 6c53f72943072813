"""Position-by-position logits of `sov logits` against llama.cpp (llama-cpp-python) on one GGUF.

    build/venv-llamacpp/bin/python bench/check_llamacpp_logits.py --sov build/release/sov \
        -m /tmp/e2b-l10-q8_0.gguf [-n 24] [--seed 0] [--qmatmul int,f32] [-t 2]

Tokens: BOS (2) then n-1 uniform random ids in [3, vocab) from a fixed seed. llama.cpp: one
`Llama.eval` of all tokens with logits_all=True on a fresh context; sov: `sov logits --tokens ...`
once per SOV_QMATMUL value. Per position prints max |delta|, the reference's logit spread (std), the
Pearson correlation and whether the argmaxes agree; a summary line per mode. llama.cpp quantizes
activations (Q8_0 / Q8_K) inside its quantized matmuls, so small differences are expected; a
correlation falling with position is drift.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def llama_logits(path, tokens, threads):
    from llama_cpp import Llama

    llm = Llama(model_path=path, logits_all=True, n_ctx=max(64, len(tokens)), n_batch=len(tokens),
                n_ubatch=len(tokens), n_threads=threads, n_threads_batch=threads, verbose=False)
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32), llm.n_vocab()


def sov_logits(sov, path, tokens, threads, qmatmul):
    env = dict(os.environ, SOV_QMATMUL=qmatmul)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "logits.npy")
        cmd = [sov, "logits", "-m", path, "--tokens", ",".join(map(str, tokens)), "-o", out,
               "--threads", str(threads)]
        subprocess.run(cmd, check=True, env=env)
        return np.load(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sov", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-n", type=int, default=24, help="tokens, BOS included")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--qmatmul", default="int,f32", help="SOV_QMATMUL values to run")
    ap.add_argument("-t", "--threads", type=int, default=2)
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    from llama_cpp import Llama

    probe = Llama(model_path=a.model, vocab_only=True, verbose=False)
    vocab = probe.n_vocab()
    del probe
    tokens = [2] + [int(x) for x in rng.integers(3, vocab, size=a.n - 1)]
    print(f"model {a.model}\ntokens {','.join(map(str, tokens))}")
    ref, _ = llama_logits(a.model, tokens, a.threads)

    runs = {}
    for mode in a.qmatmul.split(","):
        got = sov_logits(a.sov, a.model, tokens, a.threads, mode)
        if got.shape != ref.shape:
            sys.exit(f"shape mismatch: sov {got.shape} vs llama.cpp {ref.shape}")
        runs[mode] = got
        print(f"\nSOV_QMATMUL={mode}\n pos  max|d|   ref_std   corr      argmax(sov,llama)")
        corrs, agree, maxd = [], 0, []
        for p in range(len(tokens)):
            r, g = ref[p].astype(np.float64), got[p].astype(np.float64)
            d = float(np.max(np.abs(r - g)))
            c = float(np.corrcoef(r, g)[0, 1])
            same = int(np.argmax(r)) == int(np.argmax(g))
            corrs.append(c), maxd.append(d)
            agree += same
            print(f" {p:3d}  {d:7.4f}  {r.std():7.4f}  {c:.6f}  {int(np.argmax(g))},{int(np.argmax(r))}"
                  f"{'' if same else f'  DIFF (llama.cpp gap {r.max() - r[int(np.argmax(g))]:.4f})'}")
        print(f" summary {mode}: max|d| {max(maxd):.4f}, corr min {min(corrs):.6f} mean "
              f"{np.mean(corrs):.6f}, argmax agree {agree}/{len(tokens)}")

    # Two sov modes differ only in matmul rounding: if they drift apart as much as sov and llama.cpp
    # do, the model amplifies rounding and the drift says nothing about correctness.
    modes = list(runs)
    for i in range(len(modes)):
        for j in range(i + 1, len(modes)):
            x, y = runs[modes[i]].astype(np.float64), runs[modes[j]].astype(np.float64)
            c = [float(np.corrcoef(x[p], y[p])[0, 1]) for p in range(len(tokens))]
            d = float(np.max(np.abs(x - y)))
            print(f"\nsov {modes[i]} vs sov {modes[j]}: max|d| {d:.4f}, corr min {min(c):.6f} mean "
                  f"{np.mean(c):.6f}; per position " + " ".join(f"{v:.4f}" for v in c))


if __name__ == "__main__":
    main()
