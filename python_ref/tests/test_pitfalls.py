"""Spec §6 pitfalls: direct checks, plus "mutation" tests that re-introduce each known mistake into the
reference and show the fixtures catch it (the logits move by far more than the 1e-4 parity bar). A
fixture that could not tell a pitfall apart from the right answer would be no guard for the C++ runtime.
"""

import dataclasses

import numpy as np
import pytest

import sov_ref
from sov_ref import model as m
from sov_ref.config import FULL, SLIDING, RopeSpec, parse_config, resolve_kv_sources
from conftest import get_fixture, max_abs

CAUGHT = 1e-2  # a mutation must move some logit by >= 100x the parity tolerance


def _logit_gap(name: str, weights=None) -> float:
    fx = get_fixture(name)
    result = sov_ref.forward(weights or fx.weights(), fx.tokens)
    return max_abs(result.logits, fx.cases["logits"])


# --------------------------------------------------------------------------------------- sliding window

def test_window_mask_has_exactly_w_keys_including_self():
    w = 4
    q = np.arange(12)
    visible = m.attention_mask(q, q, w)
    for i in q:
        assert set(np.nonzero(visible[i])[0]) == set(range(max(0, i - w + 1), i + 1))
    assert not visible[10, 6], "key at distance exactly W is excluded"
    assert visible[10, 7], "key at distance W-1 is visible"
    full = m.attention_mask(q, q, None)
    assert np.array_equal(full, np.tril(np.ones((12, 12), bool)))


def test_window_edge_in_a_long_prefill():
    """Sliding layer 0: output at t depends on tokens t-W+1..t only, inside one prefill longer than W."""
    fx = get_fixture("dense_style")
    weights, w = fx.weights(), fx.weights().config.sliding_window
    assert weights.config.layers[0].layer_type == SLIDING
    tokens = fx.tokens.copy()
    base = sov_ref.forward(weights, tokens).residual[0]
    t = len(tokens) - 3
    outside, inside = tokens.copy(), tokens.copy()
    outside[t - w] = (outside[t - w] + 1) % weights.config.vocab_size
    inside[t - w + 1] = (inside[t - w + 1] + 1) % weights.config.vocab_size
    np.testing.assert_array_equal(sov_ref.forward(weights, outside).residual[0][t], base[t])
    assert max_abs(sov_ref.forward(weights, inside).residual[0][t], base[t]) > 1e-3


@pytest.mark.parametrize("shift", [-1, +1])
def test_window_off_by_one_is_caught(monkeypatch, shift):
    original = m.attention_mask
    monkeypatch.setattr(m, "attention_mask", lambda q, k, w: original(q, k, None if w is None else w + shift))
    for name in ("e_style", "dense_style"):
        assert _logit_gap(name) > CAUGHT


def test_ignoring_the_window_is_caught(monkeypatch):
    original = m.attention_mask
    monkeypatch.setattr(m, "attention_mask", lambda q, k, w: original(q, k, None))
    assert _logit_gap("moe_style") > CAUGHT


# --------------------------------------------------------------------------------------- RoPE

def test_proportional_rope_frequencies_use_the_full_head_dim():
    spec = RopeSpec("proportional", 1e6, 0.25, 1.0)
    inv = spec.inv_freq(512)  # a real full layer: 64 rotated pairs out of 256
    assert inv.shape == (256,)
    assert np.all(inv[:64] > 0) and np.all(inv[64:] == 0)
    np.testing.assert_allclose(inv[:64], 1e6 ** (-2.0 * np.arange(64) / 512), rtol=1e-6)
    default = RopeSpec("default", 1e4, 1.0, 1.0).inv_freq(256)
    np.testing.assert_allclose(default, 1e4 ** (-2.0 * np.arange(128) / 256), rtol=1e-6)


def test_proportional_rope_rotates_only_the_first_pairs_neox_style():
    d, n_rot = 32, 4  # the fixtures' full layers: 0.25 · 32 / 2 = 4 pairs
    inv = RopeSpec("proportional", 1e6, 0.25, 1.0).inv_freq(d)
    x = np.random.default_rng(0).standard_normal((3, 2, d)).astype(np.float32)
    cos, sin = m.rope_cos_sin(inv, np.array([0, 5, 17]), np.float32)
    y = m.apply_rope(x, cos, sin)
    rotated = np.r_[0:n_rot, d // 2:d // 2 + n_rot]  # channel i pairs with i + d/2
    still = np.setdiff1d(np.arange(d), rotated)
    np.testing.assert_array_equal(y[0], x[0])  # position 0: identity
    np.testing.assert_array_equal(y[1:, :, still], x[1:, :, still])
    assert np.all(np.abs(y[1:, :, rotated] - x[1:, :, rotated]) > 0)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-6)


def test_rope_matches_llama_cpp_freq_factor_formulation():
    """llama.cpp: NeoX over the whole head with divisors [1]*n_rot + [1e30]*rest must give the same result."""
    d, theta = 32, 1e6
    pos = np.arange(20, dtype=np.float64)
    factors = np.r_[np.ones(4), np.full(12, 1e30)]
    angles = pos[:, None] * theta ** (-2.0 * np.arange(d // 2) / d) / factors
    ours = pos[:, None] * RopeSpec("proportional", theta, 0.25, 1.0).inv_freq(d).astype(np.float64)
    np.testing.assert_allclose(np.cos(ours), np.cos(angles), atol=1e-6)
    np.testing.assert_allclose(np.sin(ours), np.sin(angles), atol=1e-6)


def test_proportional_rope_as_ordinary_partial_rope_is_caught(monkeypatch):
    """The classic mistake: denominator = rotary width (2·n_rot) instead of the full head dim."""
    original = RopeSpec.inv_freq

    def partial_rope(self, head_dim):
        if self.rope_type != "proportional":
            return original(self, head_dim)
        n_rot = int(self.partial_rotary_factor * head_dim // 2)
        inv = np.zeros(head_dim // 2, np.float32)
        inv[:n_rot] = self.theta ** (-np.arange(0, 2 * n_rot, 2) / (2 * n_rot))
        return inv

    monkeypatch.setattr(RopeSpec, "inv_freq", partial_rope)
    assert _logit_gap("e_style") > CAUGHT


# --------------------------------------------------------------------------------------- norms, scales

def test_gemma3_style_one_plus_w_norm_is_caught(monkeypatch):
    original = m.rms_norm
    monkeypatch.setattr(m, "rms_norm", lambda x, w, eps: original(x, None if w is None else 1 + w, eps))
    assert _logit_gap("e_style") > CAUGHT


def test_attention_scale_one_over_sqrt_d_is_caught(monkeypatch):
    original = m.attention
    monkeypatch.setattr(m, "attention", lambda q, k, v, vis: original(q / np.sqrt(q.shape[-1]), k, v, vis))
    assert _logit_gap("dense_style") > CAUGHT


def test_layer_scalar_on_models_without_ple_is_caught():
    fx = get_fixture("dense_style")
    scalars = [float(p["layer_scalar"][0]) for p in fx.weights().layers]
    assert all(abs(s - 1.0) > 0.01 for s in scalars), "the fixture must carry non-trivial layer scalars"
    weights = fx.weights()
    layers = [dict(p, layer_scalar=np.ones_like(p["layer_scalar"])) for p in weights.layers]
    assert _logit_gap("dense_style", dataclasses.replace(weights, layers=layers)) > CAUGHT


def test_missing_final_softcap_is_caught(monkeypatch):
    monkeypatch.setattr(m, "softcap", lambda logits, cap: logits)
    assert _logit_gap("moe_style") > CAUGHT


def test_embedding_scale_is_exact_fp32_sqrt_h_not_bf16():
    fx = get_fixture("e_style")
    weights = fx.weights()
    h = weights.config.hidden_size  # 72: √72 = 8.485 (bf16 would round to 8.5)
    emb = weights.globals["embed"][fx.tokens]
    # Exact product with the float32 √H, rounded once to float32: what transformers' fp32 multiply returns.
    np.testing.assert_array_equal(fx.cases["embeddings"], (emb * np.float32(np.sqrt(h))).astype(np.float32))
    assert max_abs(fx.cases["embeddings"], emb * np.float32(8.5)) > 1e-3


def test_ple_token_part_without_sqrt_p_is_caught(monkeypatch):
    original = m.per_layer_inputs

    def unscaled_token_part(w, tokens, e):
        c = w.config
        tok = w.globals["ple_embed"][tokens].reshape(len(tokens), c.num_layers, c.ple_dim)
        # original = (ctx + tok·√P)/√2  ->  (ctx + tok)/√2
        return original(w, tokens, e) - tok * np.float32((np.sqrt(c.ple_dim) - 1) / np.sqrt(2.0))

    monkeypatch.setattr(m, "per_layer_inputs", unscaled_token_part)
    assert _logit_gap("e_style") > CAUGHT


def test_ple_overall_scale_is_pinned_by_the_ple_tensor():
    """A common factor on PLI is normalised away by post_per_layer_input_norm (logits barely move), so the
    1/√2 is only observable in the recorded `ple` tensor itself: check it there."""
    fx = get_fixture("e_style")
    ple = fx.result().ple
    assert max_abs(ple * np.float32(np.sqrt(2.0)), fx.cases["ple"]) > 0.1
    assert max_abs(ple, fx.cases["ple"]) <= 1e-5 * np.max(np.abs(fx.cases["ple"]))


# --------------------------------------------------------------------------------------- KV sharing

def _llama_cpp_kv_sources(layer_types, num_shared):
    """llama.cpp layer_reuse_cb: shared sliding layers read n_kv_start-2, shared full layers n_kv_start-1."""
    n_kv = len(layer_types) - num_shared
    return [i if i < n_kv else (n_kv - 2 if t == SLIDING else n_kv - 1) for i, t in enumerate(layer_types)]


def test_kv_donors_follow_the_hf_rule_on_released_layouts():
    e2b = ([SLIDING] * 4 + [FULL]) * 7
    e4b = ([SLIDING] * 5 + [FULL]) * 7
    assert resolve_kv_sources(e2b, 20)[15:] == [13 if t == SLIDING else 14 for t in e2b[15:]]
    assert resolve_kv_sources(e4b, 18)[24:] == [22 if t == SLIDING else 23 for t in e4b[24:]]
    # On these layouts llama.cpp's positional rule happens to agree.
    assert resolve_kv_sources(e2b, 20) == _llama_cpp_kv_sources(e2b, 20)
    assert resolve_kv_sources(e4b, 18) == _llama_cpp_kv_sources(e4b, 18)


def test_kv_donor_on_a_layout_where_llama_cpp_differs():
    fx = get_fixture("kv_share_alt")
    cfg = fx.weights().config
    types = [l.layer_type for l in cfg.layers]
    hf = [l.kv_source for l in cfg.layers]
    assert types == [SLIDING, FULL, SLIDING, FULL, SLIDING, FULL] and cfg.num_kv_shared_layers == 3
    assert hf == [0, 1, 2, 1, 2, 1]
    lc = _llama_cpp_kv_sources(types, 3)
    assert lc != hf
    # llama.cpp's rule would even pair layers of different type (and head dim) here.
    assert any(types[lc[i]] != types[i] for i in range(3, 6))
    assert _logit_gap("kv_share_alt") <= 1e-4  # and transformers agrees with the HF rule


def test_wrong_same_type_donor_is_caught():
    fx = get_fixture("kv_share_alt")
    weights = fx.weights()
    cfg = weights.config
    layers = list(cfg.layers)
    layers[4] = dataclasses.replace(layers[4], kv_source=0)  # an earlier sliding layer, not the last one
    wrong = dataclasses.replace(weights, config=dataclasses.replace(cfg, layers=tuple(layers)))
    assert _logit_gap("kv_share_alt", wrong) > CAUGHT


def test_no_same_type_donor_is_a_config_error():
    raw = {"num_hidden_layers": 4, "layer_types": [FULL, FULL, SLIDING, FULL], "num_kv_shared_layers": 2,
           "hidden_size_per_layer_input": 0}
    with pytest.raises(sov_ref.ConfigError, match="no layer before 2"):
        parse_config(raw)


# --------------------------------------------------------------------------------------- K=V, MoE

@pytest.mark.parametrize("mistake", ["v_after_k_norm_and_rope", "v_with_k_norm_weight"])
def test_k_eq_v_value_mistakes_are_caught(monkeypatch, mistake):
    """K=V layers: V must be the RAW k_proj output through a weightless norm, without RoPE."""
    fx = get_fixture("moe_style")
    weights = fx.weights()
    assert any(l.v_from_k for l in weights.config.layers)
    original = m.KVCache.append

    def append(self, layer, k, v):
        if weights.config.layers[layer].v_from_k:
            if mistake == "v_after_k_norm_and_rope":
                v = k
            else:  # v is already RMS-normalised, so this is k_norm applied to the raw projection
                v = v * weights.layers[layer]["k_norm"]
        original(self, layer, k, v)

    monkeypatch.setattr(m.KVCache, "append", append)
    assert _logit_gap(fx.name) > CAUGHT


def test_router_fed_the_pre_normed_expert_input_is_caught(monkeypatch):
    original = m.moe_route

    def route_on_normed_input(w, spec, r):
        eps = w.config.rms_norm_eps
        return original(w, spec, m.rms_norm(r, w.layer(spec.index)["pre_ffw_norm_2"], eps))

    monkeypatch.setattr(m, "moe_route", route_on_normed_input)
    assert _logit_gap("moe_style") > CAUGHT


def test_softmax_after_top_k_is_equivalent(monkeypatch):
    """Softmax over all E then renormalising the top-k equals a softmax over the k selected logits."""
    def route(w, spec, r):
        c, p = w.config, w.layer(spec.index)
        z = m.rms_norm(r, None, c.rms_norm_eps) * p["router_scale"] * r.dtype.type(c.hidden_size ** -0.5)
        logits = m.linear(z, p["router_proj"])
        idx = np.argsort(-logits, axis=-1, kind="stable")[:, :c.top_k_experts]
        weights = m.softmax(np.take_along_axis(logits, idx, axis=-1))
        return idx, weights * p["per_expert_scale"][idx]

    monkeypatch.setattr(m, "moe_route", route)
    assert _logit_gap("moe_style") <= 1e-4


def test_experts_use_gelu_tanh_not_silu(monkeypatch):
    def silu_experts(w, spec, f, idx, weights):
        p, inter = w.layer(spec.index), w.config.moe_intermediate_size
        out = np.zeros_like(f)
        for e in np.unique(idx):
            rows, slot = np.nonzero(idx == e)
            gate_up = p["experts_gate_up"][e]
            g = m.linear(f[rows], gate_up[:inter])
            y = m.linear(g / (1 + np.exp(-g)) * m.linear(f[rows], gate_up[inter:]), p["experts_down"][e])
            out[rows] += y * weights[rows, slot][:, None]
        return out

    monkeypatch.setattr(m, "moe_experts", silu_experts)
    assert _logit_gap("moe_style") > CAUGHT


def test_router_and_layer_scales_are_non_trivial():
    for name in ("moe_style", "e_style", "dense_style"):
        layers = get_fixture(name).weights().layers
        assert all(abs(float(p["layer_scalar"][0]) - 1.0) > 1e-3 for p in layers)
        for p in layers:
            assert np.std(p["input_norm"]) > 0.02, "norm weights must not be all ones"
            if "router_scale" in p:
                assert np.std(p["router_scale"]) > 0.1 and np.std(p["per_expert_scale"]) > 0.1
