"""Greedy continuations, token by token: Sovereign's `sov run --tokens` against llama.cpp on one GGUF.

    build/venv-llamacpp/bin/python bench/check_llamacpp_greedy.py --sov build/release/sov \
        -m ~/.cache/sovereign/gemma-3-270m-q4_k_m.gguf [-n 32] [--prompts FILE] [--logits-all]

llama.cpp side (llama-cpp-python): the prompt tokenized by llama.cpp (BOS added, control tokens parsed), one
llama_decode for the whole prompt (n_batch = n_ubatch = 512, as llama-cpp-python's defaults), then one token per
decode, each the argmax of the last row's logits: what `llama-cli --temp 0` prints. By default only the last row's
logits are requested (llama-cpp-python's default, logits_all=False); --logits-all asks for every row, which makes
llama.cpp run the last layer on every prompt row and can change its own first token in near-ties.
Sovereign side: `sov run -m MODEL --tokens IDS -n N` on the same ids (default numerics: llama.cpp's).
Prints, per prompt, the identical prefix length; exits 1 if any prompt falls short of -n.
"""

import argparse
import ctypes
import subprocess
import sys

import numpy as np

DEFAULT_PROMPTS = [
    "The quick brown fox",
    "Water boils at a temperature of",
    "List three colors:\n1.",
    "In 1969, the first humans",
    "import numpy as np\n\ndef softmax(x):\n",
    "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n",
    "Le chat est assis sur",
    "東京は日本の",
    "Q: What is 12 times 7?\nA:",
    "Photosynthesis is the process by which",
]


def llama_greedy(model_path, prompts, n_new, threads, logits_all):
    import llama_cpp as L
    from llama_cpp import Llama

    m = Llama(model_path=model_path, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=threads,
              n_threads_batch=threads, logits_all=logits_all, verbose=False)
    n_vocab = m.n_vocab()
    out = []
    for p in prompts:
        ids = m.tokenize(p.encode(), add_bos=True, special=True)
        m.reset()
        m.eval(ids)
        gen = []
        for _ in range(n_new):
            ptr = L.llama_get_logits_ith(m._ctx.ctx, -1)
            row = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))
            t = int(np.argmax(row))
            gen.append(t)
            m.eval([t])
        out.append((ids, gen))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sov", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--prompts", help="file with one prompt per line (\\n escapes allowed)")
    ap.add_argument("--logits-all", action="store_true")
    a = ap.parse_args()
    prompts = DEFAULT_PROMPTS
    if a.prompts:
        with open(a.prompts, encoding="utf-8") as f:
            prompts = [ln.rstrip("\n").replace("\\n", "\n") for ln in f if ln.strip()]

    ref = llama_greedy(a.model, prompts, a.n, a.threads, a.logits_all)
    short = 0
    for p, (ids, want) in zip(prompts, ref):
        r = subprocess.run([a.sov, "run", "-m", a.model, "--tokens", ",".join(map(str, ids)), "-n", str(a.n),
                            "-t", str(a.threads)], check=True, capture_output=True, text=True)
        got = [int(x) for x in r.stdout.replace("\n", "").split(",") if x.strip()]
        same = 0
        while same < min(len(got), len(want)) and got[same] == want[same]:
            same += 1
        short += same < a.n
        print(f"{same:3d}/{a.n}  {p[:50]!r}")
        if same < a.n:
            print(f"      llama.cpp {want[same:same + 5]}  sov {got[same:same + 5]}")
    print(f"{len(prompts) - short}/{len(prompts)} prompts identical for {a.n} tokens")
    sys.exit(1 if short else 0)


if __name__ == "__main__":
    main()
