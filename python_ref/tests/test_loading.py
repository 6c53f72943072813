"""config.json / safetensors handling: layouts the reference must accept, and bad input it must reject
with an error that names the problem."""

import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import sov_ref
from sov_ref.config import FULL, SLIDING, parse_config
from conftest import PY_REF, get_fixture, max_abs


def _clone(fx, tmp_path, config=None, tensors=None) -> str:
    """A copy of a fixture model with an edited config and/or tensor dict."""
    out = tmp_path / "model"
    out.mkdir(parents=True)
    with open(os.path.join(fx.path, "config.json")) as f:
        cfg = json.load(f)
    with open(out / "config.json", "w") as f:
        json.dump(config(cfg) if config else cfg, f)
    t = load_file(os.path.join(fx.path, "model.safetensors"))
    save_file(tensors(t) if tensors else t, str(out / "model.safetensors"))
    return str(out)


def _logits(path, tokens):
    return sov_ref.forward(sov_ref.load_weights(path), tokens).logits


# ------------------------------------------------------------------------------------------ accepted layouts

def test_multimodal_layout_with_nested_text_config_and_unused_shared_kv_weights(tmp_path):
    """`gemma4` config with text_config, `model.language_model.` prefix, vision tensors, and the k_proj/v_proj/
    k_norm that released checkpoints still carry on KV-shared layers: all accepted, same logits."""
    fx = get_fixture("e_style")
    cfg = fx.weights().config

    def nest(c):
        return {"model_type": "gemma4", "text_config": c, "vision_config": {"hidden_size": 8}}

    def relabel(t):
        out = {"model.language_model." + k[len("model."):]: v for k, v in t.items()}
        for spec in cfg.layers:
            if not spec.owns_kv:
                p = f"model.language_model.layers.{spec.index}.self_attn."
                kv = spec.num_kv_heads * spec.head_dim
                out[p + "k_proj.weight"] = np.ones((kv, cfg.hidden_size), np.float32)
                out[p + "v_proj.weight"] = np.ones((kv, cfg.hidden_size), np.float32)
                out[p + "k_norm.weight"] = np.ones(spec.head_dim, np.float32)
        out["model.vision_tower.patch_embedder.input_proj.weight"] = np.zeros((8, 768), np.float32)
        return out

    path = _clone(fx, tmp_path, nest, relabel)
    assert max_abs(_logits(path, fx.tokens), fx.result().logits) == 0.0


def test_untied_lm_head(tmp_path):
    fx = get_fixture("dense_style")
    untie = lambda c: dict(c, tie_word_embeddings=False)  # noqa: E731
    with pytest.raises(sov_ref.CheckpointError, match="missing tensor lm_head.weight"):
        sov_ref.load_weights(_clone(fx, tmp_path / "a", config=untie))

    def add_head(t):
        t["lm_head.weight"] = t["model.embed_tokens.weight"].copy()
        return t

    path = _clone(fx, tmp_path / "b", config=untie, tensors=add_head)
    assert max_abs(_logits(path, fx.tokens), fx.result().logits) == 0.0


def test_multimodal_config_ties_by_the_outer_flag():
    """Gemma4ForConditionalGeneration ties by its own (outer) config; text_config's flag is not consulted."""
    text = {"num_hidden_layers": 2, "tie_word_embeddings": False}
    assert parse_config({"model_type": "gemma4", "text_config": text}).tie_word_embeddings
    assert not parse_config({"model_type": "gemma4", "text_config": text,
                             "tie_word_embeddings": False}).tie_word_embeddings
    assert not parse_config(text).tie_word_embeddings


def test_bf16_checkpoint_is_widened_exactly(tmp_path):
    values = np.array([[1.0, -2.5, 3.140625], [0.0, 1e-3, -65280.0]], np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")  # bf16 = top 16 bits (these values fit exactly)
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, bits.nbytes]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())
    got = sov_ref.read_safetensors(str(path))["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, (bits.astype(np.uint32) << 16).view(np.float32))
    np.testing.assert_allclose(got, values, rtol=1e-2)


def test_legacy_global_head_dim_fields_resolve_like_per_layer_config():
    fx = get_fixture("moe_style")
    with open(os.path.join(fx.path, "config.json")) as f:
        raw = json.load(f)
    assert "per_layer_config" in raw
    legacy = {k: v for k, v in raw.items() if k != "per_layer_config"}
    legacy.update(global_head_dim=32, num_global_key_value_heads=1)
    assert parse_config(legacy).layers == parse_config(raw).layers
    # num_global_key_value_heads is only honoured together with attention_k_eq_v.
    no_keqv = dict(legacy, attention_k_eq_v=False)
    full = [l for l in parse_config(no_keqv).layers if l.layer_type == FULL]
    assert all(l.num_kv_heads == raw["num_key_value_heads"] and not l.v_from_k for l in full)


def test_transformers_defaults_for_missing_fields():
    cfg = parse_config({"num_hidden_layers": 12})
    types = [l.layer_type for l in cfg.layers]
    assert types == ([SLIDING] * 5 + [FULL]) * 2  # every 6th layer full
    assert [l.head_dim for l in cfg.layers][:6] == [256] * 5 + [512]
    assert cfg.has_ple and cfg.ple_dim == 256  # hidden_size_per_layer_input defaults to 256
    assert cfg.layers[0].window == 512 and cfg.layers[5].window is None
    assert parse_config({"num_hidden_layers": 2, "hidden_size_per_layer_input": None}).has_ple is False


def test_last_layer_is_forced_full():
    cfg = parse_config({"num_hidden_layers": 3, "layer_types": [SLIDING] * 3})
    assert [l.layer_type for l in cfg.layers] == [SLIDING, SLIDING, FULL]


def test_double_wide_mlp_only_on_shared_layers():
    cfg = get_fixture("e_style").weights().config
    assert [l.intermediate_size for l in cfg.layers] == [96, 96, 96, 96, 192, 192]
    assert [l.kv_source for l in cfg.layers] == [0, 1, 2, 3, 2, 3]


# ------------------------------------------------------------------------------------------ rejected input

@pytest.mark.parametrize("edit, message", [
    (lambda c: dict(c, layer_types=c["layer_types"][:-1]), "layer_types has 5 entries"),
    (lambda c: dict(c, layer_types=["sliding_attention"] * 5 + ["chunked"]), "layer_types\\[5\\]"),
    (lambda c: dict(c, num_kv_shared_layers=6), "num_kv_shared_layers"),
    (lambda c: dict(c, num_key_value_heads=3), "multiple of its KV head count"),
    (lambda c: dict(c, hidden_activation="silu"), "hidden_activation"),
    (lambda c: dict(c, rope_parameters={"sliding_attention": {"rope_type": "yarn"}}), "rope"),
    (lambda c: dict(c, hidden_size=0), "hidden_size"),
    (lambda c: {"model_type": "llama"}, "model_type"),
])
def test_bad_configs_are_rejected_with_a_named_field(edit, message):
    with open(os.path.join(get_fixture("e_style").path, "config.json")) as f:
        raw = json.load(f)
    with pytest.raises(sov_ref.ConfigError, match=message):
        parse_config(edit(raw))


def test_missing_tensor_is_named(tmp_path):
    fx = get_fixture("dense_style")
    path = _clone(fx, tmp_path, tensors=lambda t: {k: v for k, v in t.items()
                                                   if k != "model.layers.2.self_attn.k_norm.weight"})
    with pytest.raises(sov_ref.CheckpointError, match=r"missing tensor model\.layers\.2\.self_attn\.k_norm"):
        sov_ref.load_weights(path)


def test_wrong_shape_is_named(tmp_path):
    fx = get_fixture("dense_style")

    def grow(t):
        t["model.layers.0.mlp.up_proj.weight"] = np.zeros((97, 48), np.float32)
        return t

    with pytest.raises(sov_ref.CheckpointError, match=r"up_proj\.weight has shape \[97, 48\], expected \[96, 48\]"):
        sov_ref.load_weights(_clone(fx, tmp_path, tensors=grow))


def test_tensors_the_config_does_not_describe_are_rejected(tmp_path):
    """MoE weights in a checkpoint whose config says dense: a config/checkpoint mismatch, not to be ignored."""
    fx = get_fixture("dense_style")

    def add_router(t):
        t["model.layers.0.router.proj.weight"] = np.zeros((8, 48), np.float32)
        return t

    with pytest.raises(sov_ref.CheckpointError, match="router.proj.weight"):
        sov_ref.load_weights(_clone(fx, tmp_path, tensors=add_router))


def test_v_proj_on_a_k_eq_v_full_layer_is_rejected(tmp_path):
    fx = get_fixture("moe_style")

    def add_v(t):
        t["model.layers.1.self_attn.v_proj.weight"] = np.zeros((32, 72), np.float32)
        return t

    with pytest.raises(sov_ref.CheckpointError, match="v_proj"):
        sov_ref.load_weights(_clone(fx, tmp_path, tensors=add_v))


def test_truncated_safetensors_is_rejected(tmp_path):
    fx = get_fixture("moe_style")
    out = tmp_path / "m"
    shutil.copytree(fx.path, out)
    data = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(sov_ref.CheckpointError, match="do not fit"):
        sov_ref.load_weights(str(out))


def test_missing_files_are_named(tmp_path):
    with pytest.raises(sov_ref.CheckpointError, match="config.json"):
        sov_ref.load_weights(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(sov_ref.CheckpointError, match="no model.safetensors"):
        sov_ref.load_weights(str(tmp_path))


@pytest.mark.parametrize("tokens", [[2, 512], [-1], [], [[2, 3]]])
def test_bad_tokens_are_rejected(tokens):
    with pytest.raises(ValueError):
        sov_ref.forward(get_fixture("moe_style").weights(), np.array(tokens, dtype=np.int64))


# ------------------------------------------------------------------------------------------ command line

def test_cli_writes_logits_and_residuals(tmp_path):
    fx = get_fixture("e_style")
    out, res = tmp_path / "logits.npy", tmp_path / "res.npy"
    proc = subprocess.run([sys.executable, os.path.join(PY_REF, "gemma4_ref.py"), fx.path, "--tokens",
                           ",".join(map(str, fx.tokens)), "-o", str(out), "--residual-out", str(res)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert max_abs(np.load(out), fx.cases["logits"]) <= 1e-4
    assert np.load(res).shape == fx.cases["residual"].shape


def test_cli_module_form_and_decode(tmp_path):
    fx = get_fixture("kv_share_alt")
    k = int(fx.cases["decode_prefix"][0])
    out = tmp_path / "dec.npy"
    proc = subprocess.run([sys.executable, "-m", "sov_ref", fx.path, "--tokens", ",".join(map(str, fx.tokens)),
                           "--decode-prefix", str(k), "-o", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=PY_REF)
    assert proc.returncode == 0, proc.stderr
    assert max_abs(np.load(out), fx.cases["decode_logits"]) <= 1e-4


def test_cli_reports_errors_without_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(PY_REF, "gemma4_ref.py"), str(tmp_path), "--tokens",
                           "2,3", "-o", str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "config.json" in proc.stderr and "Traceback" not in proc.stderr
