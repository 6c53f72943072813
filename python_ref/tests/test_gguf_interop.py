"""GGUF interoperability between Sovereign's reader/writer and the PyPI `gguf` package (gguf-py).

gguf-py writes a file holding every metadata value type and several tensor types; `sov gguf-info`
must read it, and `sov gguf-info --copy-to` re-writes it through Sovereign's writer; gguf-py's
GGUFReader must then read Sovereign's file back with identical keys, types, values, shapes and data.

The `sov` binary is taken from $SOV_BIN, else build/{release,debug,asan}/sov.
"""

import os
import subprocess

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sov_bin():
    candidates = [os.environ.get("SOV_BIN", "")] + [
        os.path.join(REPO, "build", d, "sov") for d in ("release", "debug", "asan")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.skip("sov binary not built: set SOV_BIN or build build/release/sov")


VT = gguf.GGUFValueType
QT = gguf.GGMLQuantizationType

SCALARS = [
    ("x.u8", 200, VT.UINT8), ("x.i8", -100, VT.INT8), ("x.u16", 60000, VT.UINT16),
    ("x.i16", -30000, VT.INT16), ("x.u32", 4000000000, VT.UINT32), ("x.i32", -2000000000, VT.INT32),
    ("x.f32", 0.25, VT.FLOAT32), ("x.bool", True, VT.BOOL), ("x.str", "tab\there \u2581", VT.STRING),
    ("x.u64", 2**63 + 5, VT.UINT64), ("x.i64", -(2**62), VT.INT64), ("x.f64", 1e-300, VT.FLOAT64),
]
ARRAYS = [
    ("a.u8", [0, 255], VT.UINT8), ("a.i8", [-1, 1], VT.INT8), ("a.u16", [7, 65535], VT.UINT16),
    ("a.i16", [-7, 7], VT.INT16), ("a.u32", [1, 2, 3], VT.UINT32), ("a.i32", [-5, 5], VT.INT32),
    ("a.f32", [1.5, -2.0], VT.FLOAT32), ("a.bool", [True, False, True], VT.BOOL),
    ("a.u64", [2**64 - 1], VT.UINT64), ("a.i64", [-(2**63)], VT.INT64), ("a.f64", [0.1], VT.FLOAT64),
    ("a.str", ["<pad>", "", "a b", "\u2581x"] + [f"t{i}" for i in range(40)], VT.STRING),
]


def _write_py(path):
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(path, "gemma4")
    for k, v, t in SCALARS:
        w.add_key_value(k, v, t)
    for k, v, t in ARRAYS:
        w.add_key_value(k, v, VT.ARRAY, sub_type=t)
    tensors = {
        "token_embd.weight": rng.standard_normal((3, 64)).astype(np.float32),
        "blk.0.attn_norm.weight": rng.standard_normal(64).astype(np.float16),
        "blk.0.row.weight": rng.standard_normal((1, 8)).astype(np.float32),  # trailing ne 1
        "blk.0.idx": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    for name, a in tensors.items():
        w.add_tensor(name, a)
    raw = {  # quantized payloads: the bytes only have to travel unchanged
        "blk.0.attn_q.weight": (QT.Q8_0, (2, 2 * 34)),
        "blk.0.ffn_up.weight": (QT.Q4_K, (2, 144)),
        "blk.0.ffn_down.weight": (QT.Q6_K, (1, 210)),
        "blk.0.iq.weight": (QT.IQ2_XXS, (1, 66)),
    }
    for name, (qt, shape) in raw.items():
        w.add_tensor(name, rng.integers(0, 256, shape, dtype=np.uint8), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _fields(reader):
    out = {}
    for name, f in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        out[name] = (tuple(f.types), f.contents())
    return out


def _tensors(reader):
    out = {}
    for t in reader.tensors:
        shape = [int(x) for x in t.shape]
        while len(shape) > 1 and shape[-1] == 1:  # ggml writes n_dims without trailing 1s
            shape.pop()
        out[t.name] = (int(t.tensor_type), shape, bytes(np.asarray(t.data).tobytes()))
    return out


def test_gguf_py_file_reads_and_round_trips_through_sov(tmp_path):
    sov = _sov_bin()
    src, dst = str(tmp_path / "py.gguf"), str(tmp_path / "sov.gguf")
    _write_py(src)
    res = subprocess.run([sov, "gguf-info", src, "--items", "3", "--copy-to", dst],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "x.u64" in out and "UINT64" in out and str(2**63 + 5) in out
    assert "ARRAY[STRING]" in out and "(44 items)" in out
    assert "blk.0.iq.weight" in out and "iq2_xxs" in out and "q4_K" in out

    a, b = gguf.GGUFReader(src), gguf.GGUFReader(dst)
    assert _fields(a) == _fields(b)
    assert list(_fields(b)) == list(_fields(a))  # same order
    ta, tb = _tensors(a), _tensors(b)
    assert ta == tb
    assert list(tb) == list(ta)
    # The data section is where both readers say, and aligned.
    for t in b.tensors:
        assert t.data_offset % 32 == 0
    assert os.path.getsize(dst) % 32 == 0


def test_sov_rejects_a_truncated_file_with_a_clear_error(tmp_path):
    sov = _sov_bin()
    src = str(tmp_path / "py.gguf")
    _write_py(src)
    with open(src, "rb") as f:
        data = f.read()
    cut = str(tmp_path / "cut.gguf")
    for n, why in ((100, "cannot fit in a file of 100 bytes"), (600, "unexpected end of file"),
                   (len(data) - 40, "runs past the end of file")):
        with open(cut, "wb") as f:
            f.write(data[:n])
        res = subprocess.run([sov, "gguf-info", cut], capture_output=True, text=True)
        assert res.returncode == 1
        assert "cut.gguf" in res.stderr and why in res.stderr, (n, res.stderr)
