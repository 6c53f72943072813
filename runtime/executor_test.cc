// Executor tests on the tiny Gemma-shaped graph (graph/test_util.h): the fused,
// memory-planned plan against a direct, un-fused evaluation of the graph with
// one std::vector per value and full (non-ring) KV caches; decode vs prefill
// through the KV cache, including sliding-window ring wrap-around; bitwise
// equality across thread counts; input validation; divergence search.
#include "runtime/executor.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "gmock/gmock.h"
#include "graph/passes/passes.h"
#include "graph/test_util.h"
#include "gtest/gtest.h"
#include "kernels/api.h"

namespace sov {
namespace {

using graph::AttnKind;
using graph::Graph;
using graph::Node;
using graph::OpKind;
using graph::testing::TinyConfig;
using graph::testing::VectorWeights;
using ::testing::HasSubstr;

// Direct evaluation of an unfused graph: every value its own vector, every
// view copied out, KV caches indexed by absolute position (no ring).
class NaiveEval {
 public:
  NaiveEval(Graph g, const VectorWeights& w, int64_t context) : g_(std::move(g)), w_(w) {
    SOV_CHECK(graph::ResolveKvSharing(g_).ok());
    ctx_ = context;
    for (const graph::KvCacheDecl& c : g_.caches) {
      k_.emplace_back(c.shared ? 0 : context * c.row_width());
      v_.emplace_back(c.shared ? 0 : context * c.row_width());
    }
  }

  // Output 0 for `tokens` at positions pos0.., and the taps in graph order.
  std::vector<float> Run(const std::vector<int32_t>& tokens, int64_t pos0,
                         std::vector<TapRecord>* taps) {
    const int64_t T = static_cast<int64_t>(tokens.size());
    std::vector<std::vector<float>> f(g_.values.size());
    std::vector<std::vector<int32_t>> ints(g_.values.size());
    std::vector<int32_t> pos(T);
    std::iota(pos.begin(), pos.end(), static_cast<int32_t>(pos0));
    auto rows = [&](int32_t v) {
      return g_.values[v].rows == graph::kTokenRows ? T : g_.values[v].rows;
    };
    auto cols = [&](int32_t v) { return g_.values[v].cols; };
    auto alloc = [&](int32_t v) -> float* {
      f[v].assign(static_cast<size_t>(rows(v) * cols(v)), 0.0f);
      return f[v].data();
    };
    auto vec = [&](const std::string& n) -> const float* {
      return n.empty() ? nullptr : w_.Vector(n)->data();
    };
    for (size_t ni = 0; ni < g_.nodes.size(); ++ni) {
      const Node& n = g_.nodes[ni];
      const int32_t o = n.outputs.empty() ? -1 : n.outputs[0];
      const int32_t a = n.inputs.empty() ? -1 : n.inputs[0];
      switch (n.op) {
        case OpKind::kTokenIds:
          ints[o] = tokens;
          break;
        case OpKind::kView: {
          const graph::Value& val = g_.values[o];
          float* y = alloc(o);
          for (int64_t r = 0; r < rows(o); ++r) {
            std::memcpy(y + r * val.cols, f[a].data() + r * cols(a) + val.col_offset,
                        val.cols * sizeof(float));
          }
          break;
        }
        case OpKind::kEmbed:
          kernels::EmbeddingGather(*w_.Matrix(n.weights[0]), ints[a].data(), T, n.scale, alloc(o),
                                   cols(o));
          break;
        case OpKind::kMatMul:
          kernels::MatMul(f[a].data(), rows(a), cols(a), *w_.Matrix(n.weights[0]), alloc(o),
                          cols(o));
          break;
        case OpKind::kRMSNorm:
          kernels::RMSNorm(f[a].data(), rows(a) * cols(a) / n.group_dim, n.group_dim, n.group_dim,
                           vec(n.weights[0]), n.eps, alloc(o), n.group_dim);
          break;
        case OpKind::kRoPE:
          f[o] = f[a];
          kernels::RoPE(f[o].data(), T, cols(o), n.n_heads, n.head_dim, pos.data(),
                        n.inv_freq.data());
          break;
        case OpKind::kKvStore: {
          const int64_t wdt = g_.caches[n.cache].row_width();
          kernels::KvAppend(f[n.inputs[0]].data(), wdt, f[n.inputs[1]].data(), wdt, T, pos0,
                            k_[n.cache].data(), v_[n.cache].data(), ctx_, wdt, wdt);
          break;
        }
        case OpKind::kAttention: {
          const graph::KvCacheDecl& c = g_.caches[n.cache];
          const int32_t src = c.shared ? c.donor : n.cache;
          kernels::AttentionParams p;
          p.T = T;
          p.pos0 = pos0;
          p.n_q_heads = n.n_heads;
          p.n_kv_heads = c.n_kv_heads;
          p.head_dim = c.head_dim;
          p.window = c.kind == AttnKind::kSliding ? c.window : 0;
          p.scale = n.scale;
          p.k_cache = k_[src].data();
          p.v_cache = v_[src].data();
          p.cache_rows = ctx_;
          p.ld_kv = c.row_width();
          kernels::Attention(p, f[a].data(), cols(a), alloc(o), cols(o));
          break;
        }
        case OpKind::kGeluMul:
          kernels::GeluTanhMul(f[a].data(), cols(a), f[n.inputs[1]].data(), cols(a), rows(a),
                               cols(a), alloc(o), cols(o));
          break;
        case OpKind::kAdd:
          f[o] = f[n.inputs[1]];
          kernels::Add(f[a].data(), f[o].data(), static_cast<int64_t>(f[o].size()));
          break;
        case OpKind::kScaleBy:
          f[o] = f[a];
          kernels::Scale(f[o].data(), static_cast<int64_t>(f[o].size()),
                         n.weights.empty() ? n.scale : vec(n.weights[0])[0]);
          break;
        case OpKind::kSoftcap:
          f[o] = f[a];
          kernels::Softcap(f[o].data(), static_cast<int64_t>(f[o].size()), n.cap);
          break;
        case OpKind::kLastRow:
          f[o].assign(f[a].end() - cols(a), f[a].end());
          break;
        case OpKind::kPleAssemble:
          kernels::PleAssemble(f[a].data(), f[n.inputs[1]].data(), T, n.n_layers, n.per_layer,
                               vec(n.weights[0]), n.eps, n.scale, n.scale2, alloc(o));
          break;
        case OpKind::kMoeRoute:
          ints[o].assign(static_cast<size_t>(T * n.top_k), 0);
          kernels::MoeRoute(f[a].data(), T, cols(a), n.top_k, vec(n.weights[0]), ints[o].data(),
                            alloc(n.outputs[1]));
          break;
        case OpKind::kMoeExperts: {
          std::vector<kernels::WeightView> gu = *w_.MatrixStack(n.weights[0]);
          std::vector<kernels::WeightView> dn = *w_.MatrixStack(n.weights[1]);
          kernels::ExpertBank bank{gu.data(), dn.data(), n.n_experts, cols(a), n.intermediate};
          std::vector<float> scratch(
              static_cast<size_t>(kernels::MoeExpertsScratchFloats(bank, T, n.top_k)) + 1);
          kernels::MoeExperts(bank, f[a].data(), T, cols(a), ints[n.inputs[1]].data(),
                              f[n.inputs[2]].data(), n.top_k, alloc(o), cols(o), scratch.data());
          break;
        }
        default:
          ADD_FAILURE() << "naive evaluator got fused op " << graph::OpName(n.op);
      }
    }
    if (taps != nullptr) {
      for (const graph::TapDecl& t : g_.taps) {
        taps->push_back(TapRecord{t.name, t.layer, pos0, rows(t.value), cols(t.value), f[t.value]});
      }
    }
    return f[g_.outputs[0].value];
  }

 private:
  Graph g_;
  const VectorWeights& w_;
  int64_t ctx_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

double MaxAbsDiff(const std::vector<float>& a, const float* b, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

std::vector<int32_t> Tokens(int n, int vocab, int seed) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 7 + seed * 13 + 3) % vocab;
  return t;
}

struct Fixture {
  TinyConfig cfg;
  VectorWeights w;
  Graph g;
  explicit Fixture(TinyConfig c, uint32_t seed = 1) : cfg(std::move(c)) {
    graph::testing::AddTinyWeights(cfg, seed, &w);
    g = *graph::testing::BuildTiny(cfg);
  }
  std::unique_ptr<Executor> Make(ExecutorOptions o) const {
    absl::StatusOr<std::unique_ptr<Executor>> ex = Executor::Create(g, w, o);
    SOV_CHECK(ex.ok()) << ex.status();
    return std::move(*ex);
  }
};

// Kernels promise a fixed accumulation order per output element whatever T is
// and wherever chunk boundaries fall, so an UNFUSED plan must equal the direct
// evaluation bitwise (tested below). Fusion may change rounding: the fused
// kernels::AddRMSNorm is not bit-identical to RMSNorm followed by Add (seen:
// 6.6e-7 on the residual after layer 0, 2.9e-5 on logits of magnitude <= the
// softcap 30 after 6 layers), so fused comparisons allow 1e-4 absolute.
constexpr double kTol = 1e-4;

TEST(Executor, ChunkedPrefillAndDecodeMatchDirectEvaluation) {
  for (bool last_row : {false, true}) {
    TinyConfig c;
    c.last_row_only = last_row;
    Fixture fx(c);
    auto ex = fx.Make({.prefill_rows = 4, .context = 32});
    NaiveEval naive(fx.g, fx.w, 32);
    const std::vector<int32_t> prompt = Tokens(10, c.vocab, 1);
    absl::StatusOr<Logits> got = ex->Prefill(prompt);  // chunks 4, 4, 2
    ASSERT_TRUE(got.ok()) << got.status();
    const std::vector<float> want = naive.Run(prompt, 0, nullptr);  // one step of 10 rows
    ASSERT_EQ(got->rows, last_row ? 1 : 10);
    ASSERT_EQ(got->cols, c.vocab);
    ASSERT_EQ(want.size(), got->data.size());
    const double d0 = MaxAbsDiff(want, got->data.data(), want.size());
    EXPECT_LE(d0, kTol) << "prefill, last_row=" << last_row;
    for (int i = 0; i < 6; ++i) {
      const int32_t tok = (5 * i + 2) % c.vocab;
      absl::StatusOr<Logits> step = ex->Decode(tok);
      ASSERT_TRUE(step.ok()) << step.status();
      ASSERT_EQ(step->rows, 1);
      const std::vector<float> ref = naive.Run({tok}, 10 + i, nullptr);
      EXPECT_LE(MaxAbsDiff(ref, step->data.data(), ref.size()), kTol) << "decode " << i;
    }
    EXPECT_EQ(ex->position(), 16);
    if (!last_row) {  // rows differ from each other, so a row mix-up would be caught
      EXPECT_GT(MaxAbsDiff(want, want.data() + c.vocab, c.vocab), 1e-3);
    }
  }
}

TEST(Executor, UnfusedPlanEqualsDirectEvaluationBitwise) {
  // Memory reuse, in-place ops, views and chunking must not change one bit.
  Fixture fx(TinyConfig{});
  auto ex = fx.Make({.prefill_rows = 3, .context = 24, .fuse = false});
  NaiveEval naive(fx.g, fx.w, 24);
  const std::vector<int32_t> prompt = Tokens(11, fx.cfg.vocab, 6);
  std::vector<TapRecord> te, tn;
  ex->set_tap_sink(&te);
  absl::StatusOr<Logits> got = ex->Prefill(prompt);
  ASSERT_TRUE(got.ok()) << got.status();
  const std::vector<float> want = naive.Run(prompt, 0, &tn);
  ASSERT_EQ(got->data.size(), want.size());
  EXPECT_EQ(MaxAbsDiff(want, got->data.data(), want.size()), 0.0);
  // Taps come per chunk from the executor; compare the last layer's residual rows.
  std::vector<float> resid_exec;
  for (const TapRecord& t : te) {
    if (t.name == "resid" && t.layer == 5)
      resid_exec.insert(resid_exec.end(), t.data.begin(), t.data.end());
  }
  for (const TapRecord& t : tn) {
    if (t.name == "resid" && t.layer == 5) {
      ASSERT_EQ(t.data.size(), resid_exec.size());
      EXPECT_EQ(MaxAbsDiff(t.data, resid_exec.data(), resid_exec.size()), 0.0);
    }
  }
}

TEST(Executor, UnfusedNoReusePlanAgreesWithFused) {
  Fixture fx(TinyConfig{});
  auto fused = fx.Make({.prefill_rows = 5, .context = 24});
  auto plain = fx.Make({.prefill_rows = 5, .context = 24, .fuse = false, .reuse_memory = false});
  EXPECT_LT(fused->prefill_plan().steps.size(), plain->prefill_plan().steps.size());
  EXPECT_LT(fused->prefill_plan().arena_bytes, plain->prefill_plan().arena_bytes);
  const std::vector<int32_t> prompt = Tokens(12, fx.cfg.vocab, 2);
  absl::StatusOr<Logits> a = fused->Prefill(prompt);
  absl::StatusOr<Logits> b = plain->Prefill(prompt);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LE(MaxAbsDiff(a->data, b->data.data(), a->data.size()), kTol);
}

// Graphs where a naive fusion would move a read past an in-place update:
// (1) gate/up read the residual x, then x is updated in place by a fused
//     AddRMSNorm, then GeluMul -- FfnUp must not run at the GeluMul's place;
// (2) a post-norm reads x, x is then updated in place, then the normed value
//     enters a residual Add -- that Add must not fuse the norm in.
TEST(Executor, FusionKeepsReadsBeforeInPlaceUpdates) {
  VectorWeights w;
  std::mt19937 rng(9);
  for (const char* m : {"D", "A"}) w.AddRandomMatrix(m, 16, 16, rng);
  w.AddRandomMatrix("E", 20, 16, rng);
  w.AddRandomMatrix("G", 24, 16, rng);
  w.AddRandomMatrix("U", 24, 16, rng);
  w.AddRandomMatrix("O", 16, 24, rng);
  w.AddRandomMatrix("B", 16, 16, rng);
  for (const char* n : {"n", "n1", "n2"}) w.AddRandomVector(n, 16, rng, 1.0f, 0.1f);
  graph::GraphBuilder b("hazards");
  graph::ValueRef x = b.Embed(b.TokenIds(), "E", 16, 1.0f, "embed");
  graph::ValueRef d = b.MatMul(x, "D", 16, "d");
  graph::ValueRef g = b.MatMul(x, "G", 24, "gate");
  graph::ValueRef u = b.MatMul(x, "U", 24, "up");
  graph::ValueRef x2 = b.Add(x, b.RMSNorm(d, "n", 1e-6f), "resid1");
  graph::ValueRef y = b.MatMul(b.GeluMul(g, u, "geglu"), "O", 16, "down");
  graph::ValueRef x3 = b.Add(x2, y, "resid2");
  graph::ValueRef e = b.MatMul(x3, "A", 16, "e");
  graph::ValueRef n1 = b.RMSNorm(x3, "n1", 1e-6f, 0, "n1");
  graph::ValueRef r2 = b.Add(x3, b.RMSNorm(e, "n2", 1e-6f), "resid3");
  graph::ValueRef z = b.MatMul(r2, "B", 16, "z");
  b.Output("out", b.Add(z, n1, "resid4"));
  absl::StatusOr<Graph> gr = std::move(b).Finish();
  ASSERT_TRUE(gr.ok());
  absl::StatusOr<std::unique_ptr<Executor>> ex =
      Executor::Create(*gr, w, {.prefill_rows = 4, .context = 8});
  ASSERT_TRUE(ex.ok()) << ex.status();
  const graph::Plan& p = (*ex)->prefill_plan();
  EXPECT_EQ(p.fusion.ffn_up, 1);
  EXPECT_EQ(p.fusion.add_rmsnorm, 2);  // resid1 and resid3; resid4 must stay unfused
  const std::vector<int32_t> toks = {3, 7, 1};
  absl::StatusOr<Logits> got = (*ex)->Prefill(toks);
  ASSERT_TRUE(got.ok());
  NaiveEval naive(*gr, w, 8);
  const std::vector<float> want = naive.Run(toks, 0, nullptr);
  EXPECT_LE(MaxAbsDiff(want, got->data.data(), want.size()), kTol);
}

TEST(Executor, DecodeEqualsPrefillThroughRingBuffers) {
  // Window 4, prefill bucket 3: sliding caches are rings of 6 rows, so 20
  // positions wrap them three times; full layers see all 20 positions.
  TinyConfig c;
  c.window = 4;
  Fixture fx(c);
  const std::vector<int32_t> seq = Tokens(20, c.vocab, 3);
  auto whole = fx.Make({.prefill_rows = 3, .context = 20});
  absl::StatusOr<Logits> all = whole->Prefill(seq);  // 7 chunks
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->rows, 20);
  EXPECT_EQ(whole->kv_cache().rows(0), 6);

  auto step = fx.Make({.prefill_rows = 3, .context = 20});
  absl::StatusOr<Logits> first = step->Prefill(std::span(seq).first(1));
  ASSERT_TRUE(first.ok());
  double worst =
      MaxAbsDiff(std::vector<float>(all->row(0), all->row(1)), first->data.data(), c.vocab);
  for (int t = 1; t < 20; ++t) {
    absl::StatusOr<Logits> l = step->Decode(seq[t]);
    ASSERT_TRUE(l.ok());
    worst = std::max(worst, MaxAbsDiff(std::vector<float>(all->row(t), all->row(t + 1)),
                                       l->data.data(), c.vocab));
  }
  EXPECT_LE(worst, kTol);

  // And both equal a direct evaluation with unbounded caches.
  NaiveEval naive(fx.g, fx.w, 20);
  const std::vector<float> ref = naive.Run(seq, 0, nullptr);
  EXPECT_LE(MaxAbsDiff(ref, all->data.data(), ref.size()), kTol);
}

TEST(Executor, BitwiseEqualAcrossThreadCounts) {
  TinyConfig c;
  c.hidden = 64;
  c.ffn = 256;  // enough rows for the kernels to split work
  Fixture fx(c);
  const std::vector<int32_t> prompt = Tokens(13, c.vocab, 4);
  std::vector<float> first;
  std::vector<TapRecord> first_taps;
  for (int threads : {1, 2, 4}) {
    auto ex = fx.Make({.prefill_rows = 8, .context = 32, .threads = threads});
    std::vector<TapRecord> taps;
    ex->set_tap_sink(&taps);
    absl::StatusOr<Logits> l = ex->Prefill(prompt);
    ASSERT_TRUE(l.ok());
    absl::StatusOr<Logits> d = ex->Decode(5);
    ASSERT_TRUE(d.ok());
    l->data.insert(l->data.end(), d->data.begin(), d->data.end());
    if (threads == 1) {
      first = l->data;
      first_taps = taps;
      continue;
    }
    ASSERT_EQ(first.size(), l->data.size());
    EXPECT_EQ(std::memcmp(first.data(), l->data.data(), first.size() * sizeof(float)), 0)
        << threads << " threads";
    EXPECT_FALSE(FirstDivergence(first_taps, taps, 0.0).has_value());
  }
}

TEST(Executor, RejectsBadTokensAndContextOverflow) {
  Fixture fx(TinyConfig{});
  auto ex = fx.Make({.prefill_rows = 4, .context = 8});
  const std::vector<int32_t> bad = {1, 48, 2};
  absl::StatusOr<Logits> l = ex->Prefill(bad);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(l.status().message(), HasSubstr("token id 48 at index 1"));
  EXPECT_FALSE(ex->Decode(-1).ok());
  EXPECT_EQ(ex->position(), 0);
  ASSERT_TRUE(ex->Prefill(Tokens(6, 48, 1)).ok());
  l = ex->Prefill(Tokens(3, 48, 2));
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(l.status().message(), HasSubstr("context of 8"));
  EXPECT_EQ(ex->position(), 6);
  EXPECT_TRUE(ex->Decode(3).ok());
  EXPECT_TRUE(ex->Decode(3).ok());
  EXPECT_FALSE(ex->Decode(3).ok());
  EXPECT_FALSE(ex->Prefill({}).ok());
  ex->Reset();
  EXPECT_TRUE(ex->Decode(3).ok());
  EXPECT_FALSE(Executor::Create(fx.g, fx.w, {.prefill_rows = 0}).ok());
}

TEST(Executor, TapsMatchDirectEvaluationAndLocateDivergence) {
  Fixture a(TinyConfig{});
  Fixture b(TinyConfig{});
  // Perturb layer 3's attention output projection in b.
  std::vector<float> o(static_cast<size_t>(32 * 32));
  const kernels::WeightView wo = *b.w.Matrix("blk.3.o");
  std::memcpy(o.data(), wo.data, o.size() * sizeof(float));
  o[5] += 0.05f;
  b.w.AddMatrix("blk.3.o", 32, 32, o);

  const std::vector<int32_t> prompt = Tokens(6, 48, 5);
  std::vector<TapRecord> ta, tb, tn;
  auto ea = a.Make({.prefill_rows = 8, .context = 16});
  auto eb = b.Make({.prefill_rows = 8, .context = 16});
  ea->set_tap_sink(&ta);
  eb->set_tap_sink(&tb);
  ASSERT_TRUE(ea->Prefill(prompt).ok());
  ASSERT_TRUE(eb->Prefill(prompt).ok());
  ASSERT_EQ(ta.size(), 1u + a.cfg.layers.size());  // embed + resid per layer

  NaiveEval naive(a.g, a.w, 16);
  naive.Run(prompt, 0, &tn);
  EXPECT_FALSE(FirstDivergence(ta, tn, kTol).has_value());

  std::optional<Divergence> d = FirstDivergence(ta, tb, 1e-6);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->layer, 3);
  EXPECT_EQ(d->name, "resid");
  EXPECT_GT(d->max_abs, 1e-4);
  EXPECT_THAT(d->ToString(), HasSubstr("layer 3, op resid: max |Δ|"));
}

}  // namespace
}  // namespace sov
