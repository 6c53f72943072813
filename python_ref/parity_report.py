"""Prints the NumPy reference's agreement with every fixture (the figures quoted in reports).

    build/venv/bin/python python_ref/parity_report.py [tests/fixtures]
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from safetensors.numpy import load_file  # noqa: E402

import sov_ref  # noqa: E402


def report(fixtures_dir: str) -> None:
    print("| fixture | dtype | max abs dlogit | worst layer | its max abs d | / max abs x | decode max abs d "
          "| HF decode vs full |")
    print("|---|---|---|---|---|---|---|---|")
    for name in sorted(os.listdir(fixtures_dir)):
        path = os.path.join(fixtures_dir, name)
        if not os.path.exists(os.path.join(path, "cases.safetensors")):
            continue
        cases = load_file(os.path.join(path, "cases.safetensors"))
        with open(os.path.join(path, "meta.json")) as f:
            meta = json.load(f)
        for dtype in (np.float32, np.float64):
            weights = sov_ref.load_weights(path, dtype)
            result = sov_ref.forward(weights, cases["tokens"])
            d_logit = np.max(np.abs(result.logits - cases["logits"]))
            d_layer = np.max(np.abs(result.residual - cases["residual"]), axis=(1, 2))
            worst = int(np.argmax(d_layer))
            rel = d_layer[worst] / np.max(np.abs(cases["residual"][worst]))
            k = int(cases["decode_prefix"][0])
            d_dec = np.max(np.abs(sov_ref.decode(weights, cases["tokens"], k) - cases["decode_logits"]))
            print(f"| {name} | {np.dtype(dtype).name} | {d_logit:.2e} | {worst} | {d_layer[worst]:.2e} | {rel:.1e} "
                  f"| {d_dec:.2e} | {meta['decode_vs_full_logits_max_abs']:.2e} |")


if __name__ == "__main__":
    report(sys.argv[1] if len(sys.argv) > 1 else
           os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
