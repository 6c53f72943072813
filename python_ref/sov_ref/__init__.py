"""NumPy reference implementation of the Gemma 4 text decoder (see model.py) and its checkpoint loader."""

from .config import FULL, SLIDING, ConfigError, LayerSpec, RopeSpec, TextConfig, parse_config, resolve_kv_sources
from .model import (ForwardResult, Gemma4Ref, KVCache, attention, attention_mask, apply_rope, decode,
                    embed_tokens, forward, gelu_tanh, per_layer_inputs, rms_norm, rope_cos_sin, softcap)
from .weights import (CheckpointError, Weights, build_weights, load_weights, read_checkpoint_tensors, read_config,
                      read_safetensors)


def load_model(model_dir: str, dtype=None) -> Weights:
    """Config + weights of an HF-layout directory, ready for `forward` (computing in float64 by default)."""
    import numpy as np
    return load_weights(model_dir, np.float64 if dtype is None else dtype)


def run(model_dir: str, tokens, dtype=None):
    """(logits [T, V], residual after every layer [L, T, H]) for `tokens` of the model in `model_dir`."""
    result = forward(load_model(model_dir, dtype), tokens)
    return result.logits, result.residual
