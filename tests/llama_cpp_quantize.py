"""Quantizes a GGUF with llama.cpp's own llama_model_quantize (llama-cpp-python), to compare with `sov quantize`.

Not part of `make test` (needs build/venv-llamacpp: `scripts/setup.sh --llamacpp`). Check used on 2026-11-27:

    build/release/sov synth --arch gemma4-e2b --layers 7 --type F32 -o /tmp/e2b7-f32.gguf
    build/venv-llamacpp/bin/python tests/llama_cpp_quantize.py /tmp/e2b7-f32.gguf /tmp/e2b7-lc-q4km.gguf Q4_K_M
    build/release/sov quantize /tmp/e2b7-f32.gguf /tmp/e2b7-sov-q4km.gguf --type Q4_K_M
    sha256sum /tmp/e2b7-lc-q4km.gguf /tmp/e2b7-sov-q4km.gguf   # identical: 9fbef075...fdb27, 921,313,120 bytes
    build/release/sov logits -m /tmp/e2b7-lc-q4km.gguf --tokens 2,818,5279 -o /tmp/lc.npy   # llama.cpp's file runs
"""
import ctypes
import sys

import llama_cpp

FTYPES = {"Q8_0": 7, "Q4_K_M": 15, "Q5_K_M": 17, "F16": 1, "BF16": 32}


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[3] not in FTYPES:
        print(f"usage: {sys.argv[0]} IN.gguf OUT.gguf {'|'.join(FTYPES)}", file=sys.stderr)
        return 2
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[sys.argv[3]]
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params))
    print("llama_model_quantize returned", rc)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
