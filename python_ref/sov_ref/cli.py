"""Command line: run the NumPy reference on a model directory and save logits (and optionally more)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .config import ConfigError
from .model import decode, forward
from .weights import CheckpointError, load_weights


def _parse_tokens(text: str) -> list[int]:
    try:
        tokens = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tokens must be comma-separated integers, got {text!r}") from None
    if not tokens:
        raise argparse.ArgumentTypeError("--tokens is empty")
    return tokens


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gemma4_ref", description=(
        "NumPy reference forward pass of a Gemma 4 text decoder (HF-layout directory: config.json + "
        "model.safetensors). Saves logits [T, V] as .npy."))
    ap.add_argument("model_dir")
    ap.add_argument("--tokens", required=True, type=_parse_tokens, help="comma-separated token ids, e.g. 2,5,7")
    ap.add_argument("-o", "--out", required=True, help="output .npy for the logits [T, V]")
    ap.add_argument("--residual-out", help="also save the residual stream after every layer [L, T, H] (.npy)")
    ap.add_argument("--decode-prefix", type=int, default=0,
                    help="K > 0: prefill K tokens, then feed the rest one by one; saves those logits [T-K, V]")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                    help="compute dtype (float64: the reference's own rounding is negligible; float32: less memory)")
    args = ap.parse_args(argv)

    try:
        weights = load_weights(args.model_dir, np.dtype(args.dtype))
        if args.decode_prefix:
            logits = decode(weights, args.tokens, args.decode_prefix)
            residual = None
        else:
            result = forward(weights, args.tokens)
            logits, residual = result.logits, result.residual
    except (ConfigError, CheckpointError, ValueError) as e:
        print(f"gemma4_ref: error: {e}", file=sys.stderr)
        return 1
    np.save(args.out, logits.astype(np.float32))
    if args.residual_out:
        if residual is None:
            print("gemma4_ref: error: --residual-out needs a full forward (no --decode-prefix)", file=sys.stderr)
            return 1
        np.save(args.residual_out, residual.astype(np.float32))
    print(f"logits {list(logits.shape)} -> {args.out}; last-position argmax {int(np.argmax(logits[-1]))}")
    return 0
