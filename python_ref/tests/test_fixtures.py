"""The NumPy reference reproduces every transformers fixture (tests/fixtures/*, float32 eager runs).

The reference is checked in its default float64 mode (its own rounding negligible) and in float32 mode.

Tolerances
----------
* logits: max |Δ| <= 1e-4 (the project's parity bar).
* residual stream after layer l, PLE inputs: max |Δ| <= RTOL_MAX · max|x| with RTOL_MAX = 1e-5.
  Why this size: the fixtures are float32 computations (unit roundoff u = 2^-24 ≈ 6e-8). Every block's
  output is a reduction over n <= a few hundred terms (H, I, S·d) followed by RMSNorms and softmaxes that can
  amplify relative error, and the error compounds through the layers, so a float32 run sits tens of u
  (relative to the largest entry) away from the exact result. Measured (`python_ref/parity_report.py`):
  at most 2.7e-6 · max|x| (≈45 u) against the float64 reference, the same size against the float32 one; so
  the gap is the fixture's own rounding, not an approximation in the reference. 1e-5 (≈170 u) leaves ~4×
  headroom while any real modelling mistake moves values by O(1e-2..1) relative (see test_pitfalls.py).
* embeddings: exact after rounding to float32 (one correctly rounded multiply by the float32 √H).
"""

import numpy as np
import pytest

import sov_ref
from conftest import FIXTURE_NAMES, get_fixture, max_abs

LOGIT_ATOL = 1e-4
RTOL_MAX = 1e-5
MOE_FIXTURES = [n for n in FIXTURE_NAMES if "expert_ids" in get_fixture(n).cases]


def _rel_bound(reference: np.ndarray) -> float:
    return RTOL_MAX * float(np.max(np.abs(reference)))


def test_fixture_files_are_complete(fixture):
    c, cfg = fixture.cases, fixture.weights().config
    t, h, length, v = len(fixture.tokens), cfg.hidden_size, cfg.num_layers, cfg.vocab_size
    assert fixture.tokens[0] == 2, "sequences start with BOS"
    assert t > 2 * cfg.sliding_window, "sequences must be longer than twice the window"
    assert c["embeddings"].shape == (t, h)
    assert c["residual"].shape == (length, t, h)
    assert c["logits"].shape == (t, v)
    k = int(c["decode_prefix"][0])
    assert c["decode_logits"].shape == (t - k, v)
    assert ("ple" in c) == cfg.has_ple
    assert ("expert_ids" in c) == cfg.enable_moe
    for key in ("transformers", "torch", "numpy"):
        assert fixture.meta["versions"][key]
    # transformers against itself: cached decode vs one full pass, float32 noise only.
    assert fixture.meta["decode_vs_full_logits_max_abs"] < LOGIT_ATOL


def test_fixture_logits_are_in_a_useful_range(fixture):
    logits = fixture.cases["logits"]
    assert 1.0 < np.std(logits) < 10.0, "logits neither ~0 nor saturated"
    assert np.max(np.abs(logits)) < 0.9 * 30.0, "softcap must not flatten everything"


def test_logits_match(fixture):
    delta = max_abs(fixture.result().logits, fixture.cases["logits"])
    assert delta <= LOGIT_ATOL, f"{fixture.name}: max |Δlogit| {delta:.3e}"


def test_residual_after_every_layer_matches(fixture):
    got, want = fixture.result().residual, fixture.cases["residual"]
    assert got.shape == want.shape
    for layer in range(want.shape[0]):
        delta = max_abs(got[layer], want[layer])
        bound = _rel_bound(want[layer])
        assert delta <= bound, f"{fixture.name} layer {layer}: max |Δ| {delta:.3e} > {bound:.3e}"


def test_attention_internals_match(fixture):
    """q/k after norm + RoPE, v after v_norm, attention output: pinpoints a mismatch inside a layer."""
    cfg, traces, c = fixture.weights().config, fixture.result().traces, fixture.cases
    t = len(fixture.tokens)
    for spec, trace in zip(cfg.layers, traces):
        i = spec.index
        assert c[f"q.{i}"].shape == (t, cfg.num_heads, spec.head_dim)
        assert (f"k.{i}" in c) == (f"v.{i}" in c) == spec.owns_kv, f"layer {i}: K/V recorded iff computed"
        names = ["q", "attn"] + (["k", "v"] if spec.owns_kv else [])
        for name in names:
            want = c[f"{name}.{i}"]
            delta = max_abs(trace[name], want)
            assert delta <= _rel_bound(want), f"{fixture.name} layer {i} {name}: max |Δ| {delta:.3e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embeddings_are_exact(fixture, dtype):
    got = fixture.result(dtype).embeddings.astype(np.float32)
    np.testing.assert_array_equal(got, fixture.cases["embeddings"])


def test_per_layer_inputs_match(fixture):
    if "ple" not in fixture.cases:
        assert fixture.result().ple is None
        return
    want = fixture.cases["ple"]
    delta = max_abs(fixture.result().ple, want)
    assert delta <= _rel_bound(want), f"{fixture.name}: PLE max |Δ| {delta:.3e}"


def test_cached_decode_matches_transformers_decode(fixture):
    k = int(fixture.cases["decode_prefix"][0])
    got = sov_ref.decode(fixture.weights(), fixture.tokens, k)
    delta = max_abs(got, fixture.cases["decode_logits"])
    assert delta <= LOGIT_ATOL, f"{fixture.name}: cached decode max |Δ| {delta:.3e}"
    # And decode equals the reference's own full pass (KV cache, window and sharing in decode).
    assert max_abs(got, fixture.result().logits[k:]) <= LOGIT_ATOL


@pytest.mark.parametrize("name", MOE_FIXTURES)
def test_router_choices_match(name):
    fixture = get_fixture(name)
    traces = fixture.result().traces
    ids = np.stack([t["expert_ids"] for t in traces])
    weights = np.stack([t["expert_weights"] for t in traces])
    np.testing.assert_array_equal(ids, fixture.cases["expert_ids"])
    assert max_abs(weights, fixture.cases["expert_weights"]) <= 1e-5
    # Routing must not hinge on float noise: the recorded top-k margin is far above float32 resolution.
    assert fixture.meta["router_topk_min_margin"] > 1e-4


def test_float32_reference_meets_the_same_bounds(fixture):
    """The float32 mode (what a float32 runtime would compute) passes the same bars."""
    r32 = fixture.result(np.float32)
    assert max_abs(r32.logits, fixture.cases["logits"]) <= LOGIT_ATOL
    want = fixture.cases["residual"]
    for layer in range(want.shape[0]):
        assert max_abs(r32.residual[layer], want[layer]) <= _rel_bound(want[layer])
    if "ple" in fixture.cases:
        assert max_abs(r32.ple, fixture.cases["ple"]) <= _rel_bound(fixture.cases["ple"])
