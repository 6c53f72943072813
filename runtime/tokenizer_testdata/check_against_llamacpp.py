"""Checks the committed tokenizer reference (gemma3_reference.json) against llama.cpp itself.

The C++ tokenizer test compares Sovereign with gemma3_reference.json; this script closes the loop by
tokenizing the same strings with llama.cpp (llama-cpp-python 0.3.36, `scripts/setup.sh --llamacpp`):

    build/venv-llamacpp/bin/python runtime/tokenizer_testdata/check_against_llamacpp.py

Last run (2026-11-27): parse_special 230/230, plain 230/230 identical.
"""
import json, sys, os
from llama_cpp import Llama
m = Llama(model_path=os.path.expanduser("~/.cache/sovereign/gemma-3-270m-q4_k_m.gguf"), vocab_only=True, verbose=False)
d = json.load(open("runtime/tokenizer_testdata/gemma3_reference.json"))
ok = ok2 = n = 0; bad = []
for c in d["cases"]:
    t = c["text"].encode("utf-8")
    ids = m.tokenize(t, add_bos=False, special=True)
    ids2 = m.tokenize(t, add_bos=False, special=False)
    n += 1
    ok += ids == c["ids"]; ok2 += ids2 == c["ids_no_special"]
    if ids != c["ids"] or ids2 != c["ids_no_special"]: bad.append((c["text"][:40], ids[:12], c["ids"][:12]))
print(f"llama.cpp vs committed reference: parse_special {ok}/{n}, plain {ok2}/{n}")
for b in bad[:8]: print(b)
sys.exit(1 if bad else 0)
