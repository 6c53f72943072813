// Tests of the compiler passes on small hand-built graphs.
#include "graph/passes/passes.h"

#include <algorithm>
#include <string>

#include "gmock/gmock.h"
#include "graph/builder.h"
#include "graph/plan.h"
#include "graph/test_util.h"
#include "gtest/gtest.h"

namespace sov::graph {
namespace {

using testing::BuildTiny;
using ::testing::HasSubstr;
using testing::TinyConfig;
using testing::VectorWeights;

// ---- KV-share resolution -------------------------------------------------------

// Donor layers by layer index of every shared cache after resolution.
std::vector<std::pair<int32_t, int32_t>> Donors(Graph& g) {
  std::vector<std::pair<int32_t, int32_t>> out;
  for (const KvCacheDecl& c : g.caches) {
    if (c.shared) out.emplace_back(c.layer, g.caches[c.donor].layer);
  }
  return out;
}

Graph CachesOnly(const std::vector<AttnKind>& kinds, int32_t n_shared) {
  Graph g;
  const int32_t first = static_cast<int32_t>(kinds.size()) - n_shared;
  for (int32_t l = 0; l < static_cast<int32_t>(kinds.size()); ++l) {
    KvCacheDecl c;
    c.layer = l;
    c.kind = kinds[l];
    if (l < first) {
      c.window = kinds[l] == AttnKind::kSliding ? 8 : 0;
      c.n_kv_heads = 1;
      c.head_dim = kinds[l] == AttnKind::kSliding ? 16 : 32;
    } else {
      c.shared = true;
    }
    g.caches.push_back(c);
  }
  return g;
}

constexpr AttnKind S = AttnKind::kSliding;
constexpr AttnKind F = AttnKind::kFull;

TEST(KvShare, E2BLayoutMatchesSpec) {
  // E2B: [S,S,S,S,F] x 7, 20 shared layers: sliding -> 13, full -> 14.
  std::vector<AttnKind> kinds;
  for (int i = 0; i < 7; ++i) kinds.insert(kinds.end(), {S, S, S, S, F});
  Graph g = CachesOnly(kinds, 20);
  ASSERT_TRUE(ResolveKvSharing(g).ok());
  for (auto [layer, donor] : Donors(g)) {
    EXPECT_EQ(donor, kinds[layer] == S ? 13 : 14) << "layer " << layer;
  }
  // Geometry comes from the donor.
  EXPECT_EQ(g.caches[34].head_dim, 32);
  EXPECT_EQ(g.caches[33].window, 8);
}

TEST(KvShare, LayoutWhereLlamaCppRuleDiffers) {
  // Last non-shared layer is sliding: HF gives S -> 3, F -> 2, whereas the
  // n_kv_from_start - 2 / - 1 shortcut would give S -> 2 (a full layer) and
  // F -> 3 (a sliding layer).
  Graph g = CachesOnly({S, S, F, S, S, F, S}, 3);
  ASSERT_TRUE(ResolveKvSharing(g).ok());
  const auto d = Donors(g);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], std::make_pair(4, 3));
  EXPECT_EQ(d[1], std::make_pair(5, 2));
  EXPECT_EQ(d[2], std::make_pair(6, 3));
  const int32_t n_kv_from_start = 4;
  EXPECT_NE(d[0].second, n_kv_from_start - 2);
  EXPECT_NE(d[1].second, n_kv_from_start - 1);
}

TEST(KvShare, MissingDonorIsAnError) {
  Graph g = CachesOnly({S, S, S, F}, 1);  // no full layer before the shared one
  absl::Status s = ResolveKvSharing(g);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("layer 3 is KV-shared (full)"));
}

TEST(KvShare, DuplicateOwnerIsAnError) {
  Graph g = CachesOnly({S, S}, 0);
  g.caches[1].layer = 0;
  EXPECT_THAT(ResolveKvSharing(g).message(), HasSubstr("more than one owning KV cache"));
}

// ---- Shape inference -----------------------------------------------------------------

TEST(Shapes, TinyModelPasses) {
  TinyConfig c;
  VectorWeights w;
  testing::AddTinyWeights(c, 1, &w);
  absl::StatusOr<Graph> g = BuildTiny(c);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(ResolveKvSharing(*g).ok());
  EXPECT_TRUE(InferShapes(*g, &w).ok()) << InferShapes(*g, &w);
}

TEST(Shapes, WeightWidthMismatchNamesNodeAndWeight) {
  VectorWeights w;
  std::mt19937 rng(3);
  w.AddRandomMatrix("E", 10, 8, rng);
  w.AddRandomMatrix("W", 4, 6, rng);  // expects 6 input columns, x has 8
  GraphBuilder b;
  b.SetLayer(2);
  ValueRef x = b.Embed(b.TokenIds(), "E", 8, 1.0f, "embed");
  b.Output("y", b.MatMul(x, "W", 4, "attn_q"));
  absl::StatusOr<Graph> g = std::move(b).Finish();
  ASSERT_TRUE(g.ok());
  absl::Status s = InferShapes(*g, &w);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("'attn_q' (matmul, layer 2)"));
  EXPECT_THAT(s.message(), HasSubstr("weight 'W' is [4, 6], expected [4, 8]"));
}

TEST(Shapes, AddShapeMismatchNamesValues) {
  VectorWeights w;
  std::mt19937 rng(3);
  w.AddRandomMatrix("E", 10, 8, rng);
  w.AddRandomMatrix("W", 4, 8, rng);
  GraphBuilder b;
  ValueRef x = b.Embed(b.TokenIds(), "E", 8, 1.0f, "embed");
  ValueRef y = b.MatMul(x, "W", 4, "proj");
  b.Output("z", b.Add(x, y, "resid"));
  absl::StatusOr<Graph> g = std::move(b).Finish();
  ASSERT_TRUE(g.ok());
  absl::Status s = InferShapes(*g, &w);
  EXPECT_THAT(s.message(), HasSubstr("'resid'"));
  EXPECT_THAT(s.message(), HasSubstr("'embed' [T, 8]"));
  EXPECT_THAT(s.message(), HasSubstr("'proj' [T, 4]"));
}

TEST(Shapes, AttentionHeadsMustMatchCache) {
  GraphBuilder b;
  ValueRef x = b.Embed(b.TokenIds(), "E", 32, 1.0f);
  KvCacheRef c = b.DeclareKvCache(0, AttnKind::kFull, 0, 1, 16);
  b.KvStore(c, b.ColSlice(x, 0, 16), b.ColSlice(x, 16, 16));
  b.Output("o", b.Attention(x, c, 3, 1.0f, "attn"));  // 3 * 16 != 32
  absl::StatusOr<Graph> g = std::move(b).Finish();
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(ResolveKvSharing(*g).ok());
  EXPECT_THAT(InferShapes(*g, nullptr).message(),
              HasSubstr("has 32 columns, expected 48 (n_q_heads * head_dim of the cache)"));
}

TEST(Shapes, StoreIntoSharedCacheIsAnError) {
  GraphBuilder b;
  ValueRef x = b.Embed(b.TokenIds(), "E", 16, 1.0f);
  b.DeclareKvCache(0, AttnKind::kFull, 0, 1, 16);
  KvCacheRef s = b.ShareKvCache(1, AttnKind::kFull);
  b.SetLayer(1);
  b.KvStore(s, x, x, "kv_store");
  b.Output("o", x);
  absl::StatusOr<Graph> g = std::move(b).Finish();
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(ResolveKvSharing(*g).ok());
  EXPECT_THAT(InferShapes(*g, nullptr).message(), HasSubstr("layer 1 is KV-shared"));
}

TEST(Builder, InvalidHandleReportedByFinish) {
  GraphBuilder b;
  b.TokenIds();
  b.Output("o", b.RMSNorm(ValueRef{}, "", 1e-6f, 0, "norm"));
  absl::StatusOr<Graph> g = std::move(b).Finish();
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("invalid value handle"));
}

// ---- Fusion -------------------------------------------------------------------------------

int Count(const Graph& g, OpKind op) {
  return static_cast<int>(
      std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; }));
}

TEST(Fusion, FormsExpectedGroupsOnTinyModel) {
  TinyConfig c;  // 6 layers, PLE, MoE on layer 1
  absl::StatusOr<Graph> g = BuildTiny(c);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(ResolveKvSharing(*g).ok());
  const size_t before = g->nodes.size();
  FusionStats s = Fuse(*g);
  const int L = static_cast<int>(c.layers.size());
  // Per layer: attention residual (+ pre-FFN norm), FFN residual, PLE residual;
  // plus the MoE sum (post_ffn_norm_1/2 + Add; post_ffn_norm is left to the
  // FFN residual).
  EXPECT_EQ(s.add_rmsnorm, 3 * L + 1);
  EXPECT_EQ(s.add_rmsnorm_with_next, L);
  EXPECT_EQ(s.ffn_up, L);
  // Attention input norm feeds q (+k, v) in every layer; final norm feeds the LM head.
  EXPECT_EQ(s.norm_matmuls, L + 1);
  EXPECT_EQ(Count(*g, OpKind::kAddRMSNorm), s.add_rmsnorm);
  EXPECT_EQ(Count(*g, OpKind::kGeluMul), L);  // only the PLE gelu (its up is a view) remains
  EXPECT_LT(g->nodes.size(), before);
  // The q/k/v group of an owning layer has 3 matmuls; of a shared layer 1.
  for (const Node& n : g->nodes) {
    if (n.op != OpKind::kNormMatMuls || n.fused_from[0] != "attn_norm") continue;
    EXPECT_EQ(n.outputs.size(), n.layer < L - c.n_shared ? 4u : 2u) << n.name;
  }
  // Producers are consistent after rewriting.
  for (size_t i = 0; i < g->nodes.size(); ++i) {
    for (int32_t o : g->nodes[i].outputs) EXPECT_EQ(g->values[o].producer, int32_t(i));
    for (int32_t in : g->nodes[i].inputs) EXPECT_LT(g->values[in].producer, int32_t(i));
  }
}

TEST(Fusion, NeverEliminatesTappedValues) {
  TinyConfig c;
  c.tap_post_attn_norm = true;
  absl::StatusOr<Graph> g = BuildTiny(c);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(ResolveKvSharing(*g).ok());
  FusionStats s = Fuse(*g);
  const int L = static_cast<int>(c.layers.size());
  EXPECT_EQ(s.add_rmsnorm, 2 * L + 1);  // the attention residual is no longer fused
  for (const TapDecl& t : g->taps) EXPECT_GE(g->values[t.value].producer, 0) << t.name;
}

// ---- Memory planning ------------------------------------------------------------------------

void CheckNoLiveOverlap(const Graph& g, const MemoryPlan& mp, int64_t t_max) {
  const std::vector<int32_t> last = LastUses(g);
  struct Live {
    int32_t v, first, last, buffer;
    int64_t begin, end;
  };
  std::vector<Live> live;
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    if (val.is_view() || val.producer < 0 || mp.value_buffer[v] < 0) continue;
    const int64_t rows = val.rows == kTokenRows ? t_max : val.rows;
    const int32_t first = g.nodes[val.producer].op == OpKind::kTokenIds ? 0 : val.producer;
    live.push_back(Live{int32_t(v), first, std::max(first, last[v]), mp.value_buffer[v],
                        mp.value_offset[v], mp.value_offset[v] + rows * val.cols * 4});
    ASSERT_EQ(mp.value_offset[v] % 64, 0) << val.name;
    ASSERT_LE(live.back().end, mp.peak_bytes) << val.name;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const int32_t sb = mp.scratch_buffer[i];
    if (sb < 0) continue;
    const auto& b = mp.buffers[sb];
    live.push_back(Live{-1, int32_t(i), int32_t(i), sb, b.offset, b.offset + b.bytes});
  }
  const auto& pb = mp.buffers[mp.positions_buffer];
  live.push_back(
      Live{-2, 0, int32_t(g.nodes.size()), mp.positions_buffer, pb.offset, pb.offset + pb.bytes});
  int checked = 0;
  for (size_t i = 0; i < live.size(); ++i) {
    for (size_t j = i + 1; j < live.size(); ++j) {
      const Live& a = live[i];
      const Live& b = live[j];
      if (a.buffer == b.buffer) continue;  // in-place successors share on purpose
      if (a.last < b.first || b.last < a.first) continue;
      ++checked;
      EXPECT_TRUE(a.end <= b.begin || b.end <= a.begin)
          << "values %" << a.v << " and %" << b.v << " are live together and overlap";
    }
  }
  EXPECT_GT(checked, 0);
  // Values sharing a buffer (in place) never live at the same time except at
  // the hand-over node.
  for (size_t i = 0; i < live.size(); ++i) {
    for (size_t j = i + 1; j < live.size(); ++j) {
      if (live[i].buffer != live[j].buffer || live[i].v < 0 || live[j].v < 0) continue;
      const Live& a = live[i].first <= live[j].first ? live[i] : live[j];
      const Live& b = live[i].first <= live[j].first ? live[j] : live[i];
      EXPECT_LE(a.last, b.first) << "%" << a.v << " still read after %" << b.v << " overwrote it";
    }
  }
}

TEST(MemoryPlan, NoLiveValuesOverlapAndReuseBeatsNaive) {
  for (bool fuse : {false, true}) {
    for (int64_t t_max : {1, 7}) {
      TinyConfig c;
      absl::StatusOr<Graph> g = BuildTiny(c);
      ASSERT_TRUE(g.ok());
      ASSERT_TRUE(ResolveKvSharing(*g).ok());
      if (fuse) Fuse(*g);
      absl::StatusOr<MemoryPlan> mp = PlanMemory(*g, MemoryOptions{t_max, true});
      ASSERT_TRUE(mp.ok()) << mp.status();
      SCOPED_TRACE(::testing::Message() << "fuse=" << fuse << " t_max=" << t_max);
      CheckNoLiveOverlap(*g, *mp, t_max);
      EXPECT_LT(mp->peak_bytes, mp->naive_bytes);
      EXPECT_LT(mp->peak_bytes * 3, mp->naive_bytes);  // a deep graph reuses a lot
    }
  }
}

TEST(MemoryPlan, WithoutReusePeakIsNaiveSum) {
  TinyConfig c;
  absl::StatusOr<Graph> g = BuildTiny(c);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(ResolveKvSharing(*g).ok());
  absl::StatusOr<MemoryPlan> mp = PlanMemory(*g, MemoryOptions{4, false});
  ASSERT_TRUE(mp.ok());
  EXPECT_EQ(mp->peak_bytes, mp->naive_bytes);
  CheckNoLiveOverlap(*g, *mp, 4);
}

// ---- Lowering and dump
// ---------------------------------------------------------------------------

TEST(Plan, CompileAndDump) {
  TinyConfig c;
  VectorWeights w;
  testing::AddTinyWeights(c, 1, &w);
  absl::StatusOr<Graph> g = BuildTiny(c);
  ASSERT_TRUE(g.ok());
  absl::StatusOr<Plan> p = Compile(*g, w, CompileOptions{.t_max = 8});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->caches.size(), c.layers.size() - c.n_shared);
  EXPECT_EQ(p->vocab, c.vocab);
  EXPECT_EQ(p->taps.size(), c.layers.size() + 1);
  const std::string dump = p->Dump(8, 64);
  EXPECT_THAT(dump, HasSubstr("add_rmsnorm"));
  EXPECT_THAT(dump, HasSubstr("W=blk.0.q:f32[32,32]"));
  EXPECT_THAT(dump, HasSubstr("kv=L3(sliding W=4)"));  // layer 4 reads layer 3's cache
  EXPECT_THAT(dump, HasSubstr(absl::StrCat("steps: ", p->steps.size())));
  EXPECT_THAT(dump, HasSubstr(absl::StrCat("peak ", p->arena_bytes, " bytes")));
  // 4 owning caches: sliding rows = min(4 - 1 + 8, 64) = 11, full rows = 64.
  const int64_t kv = 2 * (3 * 11 + 1 * 64) * 16 * 4;
  EXPECT_EQ(p->KvCacheBytes(8, 64), kv);
  EXPECT_THAT(dump, HasSubstr(absl::StrCat(kv, " bytes")));
}

TEST(Plan, MissingWeightIsAnError) {
  TinyConfig c;
  VectorWeights w;  // empty
  absl::StatusOr<Graph> g = BuildTiny(c);
  ASSERT_TRUE(g.ok());
  absl::StatusOr<Plan> p = Compile(*g, w, CompileOptions{.t_max = 8});
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("weight 'embed'"));
}

}  // namespace
}  // namespace sov::graph
