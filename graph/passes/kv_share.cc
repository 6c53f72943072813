// KV-share resolution: the one place the donor rule lives (spec §2.5.6).
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "graph/passes/passes.h"

namespace sov::graph {
namespace {

std::string KindName(AttnKind k) { return k == AttnKind::kSliding ? "sliding" : "full"; }

}  // namespace

absl::Status ResolveKvSharing(Graph& g) {
  // Owning caches: one per layer.
  for (size_t i = 0; i < g.caches.size(); ++i) {
    const KvCacheDecl& a = g.caches[i];
    if (a.shared) continue;
    if (a.n_kv_heads <= 0 || a.head_dim <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("KV cache of layer ", a.layer,
                                                     ": n_kv_heads and head_dim must be > 0 (got ",
                                                     a.n_kv_heads, ", ", a.head_dim, ")"));
    }
    if (a.kind == AttnKind::kSliding && a.window <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("KV cache of sliding layer ", a.layer, ": window must be > 0"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (!g.caches[j].shared && g.caches[j].layer == a.layer) {
        return absl::InvalidArgumentError(
            absl::StrCat("layer ", a.layer, " declares more than one owning KV cache"));
      }
    }
  }
  int32_t first_shared = std::numeric_limits<int32_t>::max();
  for (const KvCacheDecl& c : g.caches) {
    if (c.shared) first_shared = std::min(first_shared, c.layer);
  }
  for (KvCacheDecl& c : g.caches) {
    if (!c.shared) continue;
    // HF: the last layer before first_shared of the same attention type. (The
    // llama.cpp n_kv_from_start - 2 / - 1 shortcut agrees only when that last
    // non-shared layer is full and the one before it sliding.)
    int32_t donor = -1;
    for (size_t j = 0; j < g.caches.size(); ++j) {
      const KvCacheDecl& d = g.caches[j];
      if (d.shared || d.kind != c.kind || d.layer >= first_shared) continue;
      if (donor < 0 || d.layer > g.caches[donor].layer) donor = static_cast<int32_t>(j);
    }
    if (donor < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", c.layer, " is KV-shared (", KindName(c.kind),
                       ") but no layer before the first shared layer (", first_shared, ") owns a ",
                       KindName(c.kind), " KV cache"));
    }
    const KvCacheDecl& d = g.caches[donor];
    c.donor = donor;
    c.window = d.window;
    c.n_kv_heads = d.n_kv_heads;
    c.head_dim = d.head_dim;
  }
  return absl::OkStatus();
}

}  // namespace sov::graph
