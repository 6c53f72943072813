// Graph builder for the Gemma 4 text decoder (spec gemma4.md §2), all four
// variants: dense, PLE + KV sharing + double-wide MLP (E2B/E4B), MoE with
// K=V full layers (26B-A4B), dense K=V (31B), and any config in between.
//
// Weights are named by their GGUF names (tensor_table.h GgufName), the
// model-independent vocabulary of the graph. Taps: "embed" and "ple" before
// the layer stack, "resid" (layer l) after every decoder layer, "final_norm".
#ifndef SOV_MODELS_GEMMA4_BUILDER_H_
#define SOV_MODELS_GEMMA4_BUILDER_H_

#include "absl/status/statusor.h"
#include "graph/builder.h"
#include "graph/ir.h"
#include "models/gemma4/config.h"

namespace sov::gemma4 {

struct BuildOptions {
  // Only the last token's logits (generation); otherwise logits for every row.
  bool last_row_only = false;
  // Also tap per-layer intermediates ("attn_q" after RoPE, "attn_out" before
  // o_proj, "attn_resid", "ffn_resid"), for divergence hunting; taps limit
  // fusion.
  bool debug_taps = false;
};

// `c` must be finalized (ModelConfig::Finalize).
absl::StatusOr<graph::Graph> BuildGraph(const ModelConfig& c, const BuildOptions& opt = {});

}  // namespace sov::gemma4

#endif  // SOV_MODELS_GEMMA4_BUILDER_H_
