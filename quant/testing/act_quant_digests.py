"""SHA-256 digests of ggml's x86 activation quantizers (Q8_0, Q8_1) on the
inputs of quant/act_quant_test.cc (ActQuantInputs), by calling ggml-cpu itself.

  build/venv-llamacpp/bin/python quant/testing/act_quant_digests.py [LIBDIR]

LIBDIR holds libggml-base.so / libggml-cpu.so (default: the llama_cpp package of
the running Python). Prints the CPU features the library reports and one digest
per format; act_quant_test.cc pins them.
"""
import ctypes
import hashlib
import os
import sys

import numpy as np

K = 512


def spec_matrix():
    s = 12345
    out = np.empty(2048, dtype=np.float32)
    for i in range(2048):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        v = (s >> 8) - 8388608
        out[i] = np.float32(v) / np.float32(8388608.0)
    return out.reshape(4, K)


def inputs():
    f = np.float32
    spec = spec_matrix()
    rows = [spec[r].copy() for r in range(4)]
    # Ties: amax = 127 * 2^e makes the multiplier 2^-e exactly, every other
    # element is (k + 0.5) * 2^e.
    ties = np.empty(K, dtype=np.float32)
    for b in range(K // 32):
        sc = f(2.0) ** (b - 8)
        for j in range(32):
            if j == 0:
                v = f(127.0) * sc
                if b % 2:
                    v = -v
            else:
                v = (f((j * 37 + b * 11) % 254 - 127) + f(0.5)) * sc
            ties[32 * b + j] = v
    rows.append(ties)
    rows.append(spec[0] * f(1e-3))
    rows.append(spec[1] * f(3.0e4))
    tiny = spec[2] * f(1e-37)
    for b in range(0, K // 32, 4):
        tiny[32 * b:32 * b + 32] = 0
    rows.append(tiny)
    mixed = np.zeros(K, dtype=np.float32)
    for b in range(K // 32):
        if b % 3 == 1:
            mixed[32 * b + b % 32] = f(5.0)
        elif b % 3 == 2:
            mixed[32 * b:32 * b + 32] = f(-0.25)
    rows.append(mixed)
    rows.append(np.rint(spec[3] * f(512.0)) / f(8.0))
    return np.stack(rows).astype(np.float32)


def main():
    libdir = sys.argv[1] if len(sys.argv) > 1 else None
    if libdir is None:
        import llama_cpp
        libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(libdir, "libggml-cpu.so"))
    cpu.ggml_cpu_init()
    feats = [n for n in ("avx", "avx2", "f16c", "avx512", "avx512_vnni")
             if getattr(cpu, "ggml_cpu_has_" + n)()]
    print("ggml-cpu features:", " ".join(feats))

    from_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)

    class Traits(ctypes.Structure):
        _fields_ = [("from_float", from_float_t), ("vec_dot", ctypes.c_void_p),
                    ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]

    cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(Traits)
    x = np.ascontiguousarray(inputs())
    for name, type_id, block_bytes in (("q8_0", 8, 34), ("q8_1", 9, 36)):
        out = np.zeros(x.shape[0] * (K // 32) * block_bytes, dtype=np.uint8)
        ff = cpu.ggml_get_type_traits_cpu(type_id).contents.from_float
        rb = (K // 32) * block_bytes
        for r in range(x.shape[0]):
            ff(x[r].ctypes.data, out.ctypes.data + r * rb, K)
        print(name, hashlib.sha256(out.tobytes()).hexdigest())


if __name__ == "__main__":
    main()
