// Graph builder for the Gemma 3 text decoder, the same layer sequence as
// llama.cpp's `gemma3` graph (src/models/gemma3.cpp):
//
//   x = embed(ids) * sqrt(H)
//   per layer: a = rms(x) * attn_norm; q,k,v = a W^T; q,k = rms per head * q/k_norm;
//              RoPE (NeoX; local theta 10000, global freq_base / scaling);
//              o = attention(q / sqrt(query_pre_attn_scalar), k, v) W_o^T
//              x = x + rms(o) * post_attention_norm
//              f = rms(x) * ffn_norm; m = down(gelu_tanh(f Wg^T) * f Wu^T)
//              x = x + rms(m) * post_ffw_norm
//   logits = rms(x) * output_norm . (output or token_embd)^T  [softcap if set]
//
// Weights are named by tensor_table.h GgufName. Taps: "embed", "resid"
// (after every layer), "final_norm" — the same names as the Gemma 4 builder.
#ifndef SOV_MODELS_GEMMA3_BUILDER_H_
#define SOV_MODELS_GEMMA3_BUILDER_H_

#include "absl/status/statusor.h"
#include "graph/ir.h"
#include "models/gemma3/config.h"

namespace sov::gemma3 {

struct BuildOptions {
  // Only the last token's logits (generation); otherwise logits for every row.
  bool last_row_only = false;
  // Also tap the intermediate values of every layer, under llama.cpp's
  // graph-callback names (attn_norm, Qcur, Kcur, Vcur, kqv_out, attn_post_norm,
  // sa_out, ffn_norm, ffn_gate, ffn_up, ffn_geglu, ffn_out, ffn_post_norm), so
  // bench/compare_llamacpp_taps.py can pair them with llama.cpp's tensors.
  bool debug_taps = false;
};

// `c` must be finalized (ModelConfig::Finalize).
absl::StatusOr<graph::Graph> BuildGraph(const ModelConfig& c, const BuildOptions& opt = {});

}  // namespace sov::gemma3

#endif  // SOV_MODELS_GEMMA3_BUILDER_H_
