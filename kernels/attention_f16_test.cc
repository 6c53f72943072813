// AttentionF16 / KvAppendF16 / GeluTanhMulF16Table (the llama.cpp-compatible
// numerics) on every compiled target: against the double-precision oracle with
// the same rounding points, thread-count determinism, decode == prefill, the
// window edge, fp16 rounding of the cache, and the GELU table's branches.
#include <cmath>
#include <cstring>
#include <vector>

#include <tbb/task_arena.h>

#include "hwy/tests/test_util-inl.h"
#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"
#include "quant/float16.h"

namespace sov::kernels {
namespace {

// Queries and an fp16 cache holding positions 0 .. pos0 + T - 1.
struct F16Case {
  AttentionParams p;
  std::vector<uint16_t> k, v;
  std::vector<float> q;
  int64_t ldq = 0;
  float v_max = 0.0f;

  F16Case(int64_t T, int64_t pos0, int64_t nq, int64_t nkv, int64_t d, int64_t window, bool ring,
          float scale, uint64_t seed) {
    p.T = T;
    p.pos0 = pos0;
    p.n_q_heads = nq;
    p.n_kv_heads = nkv;
    p.head_dim = d;
    p.window = window;
    p.scale = scale;
    p.ld_kv = nkv * d + 3;
    const int64_t end = pos0 + T;
    p.cache_rows = ring && window > 0 ? std::min(end, window - 1 + T) + 2 : end + 1;
    k.assign(static_cast<size_t>(p.cache_rows * p.ld_kv), 0x7e00);  // NaN poison
    v = k;
    std::vector<float> kn(static_cast<size_t>(nkv * d)), vn(kn.size());
    for (int64_t pos = 0; pos < end; ++pos) {
      const auto kr = test_util::RandomFloats(kn.size(), seed + 3 * pos, -2, 2);
      const auto vr = test_util::RandomFloats(vn.size(), seed + 3 * pos + 1, -1, 1);
      KvAppendF16(kr.data(), nkv * d, vr.data(), nkv * d, 1, pos, k.data(), v.data(),
                  p.cache_rows, p.ld_kv, nkv * d);
      for (float x : vr) v_max = std::max(v_max, std::fabs(x));
    }
    ldq = nq * d + 1;
    q = test_util::RandomFloats(static_cast<size_t>(T * ldq), seed + 99, -1.5f, 1.5f);
    p.k_cache_f16 = k.data();
    p.v_cache_f16 = v.data();
  }

  std::vector<float> Run(int threads, int64_t t0, int64_t T) const {
    AttentionParams pp = p;
    pp.pos0 = p.pos0 + t0;
    pp.T = T;
    const int64_t ldo = p.n_q_heads * p.head_dim;
    std::vector<float> out(static_cast<size_t>(T * ldo), -7.0f);
    tbb::task_arena arena(threads);
    arena.execute([&] { AttentionF16(pp, q.data() + t0 * ldq, ldq, out.data(), ldo); });
    return out;
  }
};

class AttentionF16Test : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(AttentionF16Test);

// Error model: the oracle and the kernel share the rounding points; they
// differ by f32 accumulation in the dot products (relative ~d u on a score),
// Exp's ~1 ulp and the f32 P V sum. Those can move e_j * (1/S) across an fp16
// rounding boundary, changing p_j by one fp16 ulp (<= 2^-11 p_j), so
// |out - ref| <= (2^-11 + n u) sum_j p_j |v_j| <= 1e-3 max|v| for these sizes.
TEST_P(AttentionF16Test, MatchesOracle) {
  struct Shape {
    int64_t T, pos0, nq, nkv, d, window;
    bool ring;
    float scale;
  };
  const Shape shapes[] = {
      {5, 0, 4, 1, 256, 0, false, 0.0625f},   // Gemma 3 270M heads, query_pre_attn scale
      {3, 40, 8, 1, 512, 0, false, 1.0f},     // E2B full layer
      {7, 300, 8, 2, 64, 128, true, 1.0f},    // sliding ring buffer
      {4, 20, 6, 3, 72, 0, false, 0.5f},      // head dim with a channel tail
      {1, 700, 4, 1, 256, 512, true, 1.0f},   // decode across three key chunks
  };
  for (const Shape& s : shapes) {
    const F16Case c(s.T, s.pos0, s.nq, s.nkv, s.d, s.window, s.ring, s.scale, 17 + s.d);
    const int64_t ldo = s.nq * s.d;
    std::vector<float> got(static_cast<size_t>(s.T * ldo)), want(got.size());
    AttentionF16(c.p, c.q.data(), c.ldq, got.data(), ldo);
    ref::AttentionF16(c.p, c.q.data(), c.ldq, want.data(), ldo);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << i;
      worst = std::max(worst, std::fabs(double{got[i]} - want[i]));
    }
    EXPECT_LE(worst, 1e-3 * c.v_max) << "T=" << s.T << " d=" << s.d << " W=" << s.window;
  }
}

TEST_P(AttentionF16Test, ThreadsDecodeAndGroupingDoNotChangeBits) {
  // Prefill runs blocks of queries over the union of their key ranges, decode
  // runs one query in parallel phases; every row must equal its decode step.
  // d = 72 leaves a channel tail on every target.
  struct Geo {
    int64_t nq, nkv, d;
  };
  for (const Geo& geo : {Geo{8, 1, 64}, Geo{6, 2, 72}})
  for (int64_t W : {0, 300}) {
    const F16Case c(45, 3000, geo.nq, geo.nkv, geo.d, W, false, 1.0f, 5);
    const auto a1 = c.Run(1, 0, 45), a2 = c.Run(2, 0, 45);
    ASSERT_EQ(0, std::memcmp(a1.data(), a2.data(), a1.size() * 4)) << "W=" << W;
    const int64_t ldo = geo.nq * geo.d;
    for (int64_t t : {0, 17, 44}) {
      const auto d2 = c.Run(2, t, 1);
      ASSERT_EQ(0, std::memcmp(d2.data(), a1.data() + t * ldo, d2.size() * 4))
          << "decode row differs from prefill row t=" << t << " W=" << W;
    }
  }
}

TEST_P(AttentionF16Test, KeyAtDistanceWindowIsExcluded) {
  for (int64_t W : {1, 2, 5, 64}) {
    const int64_t d = 16, pos0 = 100;
    AttentionParams p;
    p.T = 1;
    p.pos0 = pos0;
    p.n_q_heads = 1;
    p.n_kv_heads = 1;
    p.head_dim = d;
    p.window = W;
    p.cache_rows = W + 1;
    p.ld_kv = d;
    std::vector<uint16_t> k(static_cast<size_t>(p.cache_rows * d), Fp32ToFp16(0.5f));
    std::vector<uint16_t> v(k.size(), Fp32ToFp16(1.0f));
    for (int64_t i = 0; i < d; ++i) v[((pos0 - W) % p.cache_rows) * d + i] = Fp32ToFp16(6e4f);
    p.k_cache_f16 = k.data();
    p.v_cache_f16 = v.data();
    std::vector<float> q(d, 0.0f), out(d, 0.0f);
    AttentionF16(p, q.data(), d, out.data(), d);
    // Uniform p = 1/W rounded to fp16, W of them, times 1.
    const float pw = Fp16ToFp32(Fp32ToFp16(1.0f / static_cast<float>(W)));
    for (int64_t i = 0; i < d; ++i) EXPECT_FLOAT_EQ(out[i], pw * static_cast<float>(W)) << W;
    p.window = W + 1;  // one more key: 6e4 / (W + 1) >= 900 leaks in
    AttentionF16(p, q.data(), d, out.data(), d);
    EXPECT_GT(out[0], 900.0f) << "W=" << W;
  }
}

TEST_P(AttentionF16Test, GeluTableMatchesTheScalarRuleOnEveryTarget) {
  // Gates across the table's range and both cut-offs, with a ragged row length.
  const int64_t rows = 3, n = 1000;
  auto gate = test_util::RandomFloats(static_cast<size_t>(rows * n), 31, -12, 12);
  gate[5] = -10.0f;
  gate[6] = 10.0f;
  gate[7] = -0.0f;
  const auto up = test_util::RandomFloats(gate.size(), 32, -2, 2);
  std::vector<float> out(gate.size());
  GeluTanhMulF16Table(gate.data(), n, up.data(), n, rows, n, out.data(), n);
  for (size_t i = 0; i < gate.size(); ++i) {
    const float x = gate[i];
    const float want = x <= -10.0f  ? 0.0f
                       : x >= 10.0f ? x * up[i]
                                    : Fp16ToFp32(GeluF16TableEntry(Fp32ToFp16(x))) * up[i];
    ASSERT_EQ(0, std::memcmp(&out[i], &want, 4)) << i << " x=" << x;
  }
}

TEST(KvAppendF16Test, RoundsToNearestEvenIntoRingRows) {
  const int64_t width = 4, ld = 6, rows = 3, T = 5, pos0 = 2;
  std::vector<float> kn(T * width), vn(T * width);
  for (int64_t i = 0; i < T * width; ++i) {
    kn[i] = 1.0f + static_cast<float>(i) * 0x1p-12f;  // halfway cases between fp16 neighbours
    vn[i] = -static_cast<float>(i) * 0.1f;
  }
  std::vector<uint16_t> kc(rows * ld, 0xffff), vc(rows * ld, 0xffff);
  KvAppendF16(kn.data(), width, vn.data(), width, T, pos0, kc.data(), vc.data(), rows, ld, width);
  // Only the last `rows` tokens survive: t = 2, 3, 4 at positions 4, 5, 6.
  for (int64_t t = 2; t < T; ++t) {
    const int64_t r = (pos0 + t) % rows;
    for (int64_t i = 0; i < width; ++i) {
      EXPECT_EQ(kc[r * ld + i], Fp32ToFp16(kn[t * width + i]));
      EXPECT_EQ(vc[r * ld + i], Fp32ToFp16(vn[t * width + i]));
    }
    EXPECT_EQ(kc[r * ld + width], 0xffff) << "padding written";
  }
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even 1.0.
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f), Fp32ToFp16(1.0f));
}

TEST(GeluF16TableTest, BranchesAndTableEntries) {
  // Table entries are fp16(gelu(h)) to within one fp16 ulp of the double value.
  for (float x : {-9.5f, -3.0f, -0.7f, -1e-3f, 0.0f, 2e-5f, 0.5f, 1.0f, 2.75f, 9.9f}) {
    const uint16_t h = Fp32ToFp16(x);
    const double xd = Fp16ToFp32(h);
    const double want = ref::GeluTanh(xd);
    const double got = Fp16ToFp32(GeluF16TableEntry(h));
    EXPECT_LE(std::fabs(got - want), std::fabs(want) * 0x1p-10 + 1e-7) << x;
  }
  const float gate[6] = {-10.0f, -12.0f, 10.0f, 15.0f, 0.3f, 1.00001f};
  const float up[6] = {2.0f, 2.0f, 2.0f, -1.0f, 3.0f, 1.0f};
  float out[6];
  GeluTanhMulF16Table(gate, 6, up, 6, 1, 6, out, 6);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 20.0f);
  EXPECT_EQ(out[3], -15.0f);
  EXPECT_EQ(out[4], Fp16ToFp32(GeluF16TableEntry(Fp32ToFp16(0.3f))) * 3.0f);
  // The gate is rounded to fp16 first: 1.00001 looks up the entry of 1.0.
  EXPECT_EQ(out[5], Fp16ToFp32(GeluF16TableEntry(Fp32ToFp16(1.0f))));
  // Strided rows.
  const float g2[2 * 4] = {0.1f, 0.2f, 9.0f, 9.0f, -0.1f, -0.2f, 9.0f, 9.0f};
  const float u2[2 * 3] = {1.0f, 1.0f, 9.0f, 2.0f, 2.0f, 9.0f};
  float o2[2 * 5];
  std::fill(o2, o2 + 10, 42.0f);
  GeluTanhMulF16Table(g2, 4, u2, 3, 2, 2, o2, 5);
  EXPECT_EQ(o2[5 + 1], Fp16ToFp32(GeluF16TableEntry(Fp32ToFp16(-0.2f))) * 2.0f);
  EXPECT_EQ(o2[2], 42.0f);
}

// ggml's GELU table, as libggml-cpu builds it, in the entry where fusing
// 1 + a*x*x into an FMA (as GCC does in llama.cpp's build) decides the fp16
// rounding: gate fp16 0xbfff (-1.99902) -> 0xa9d3 (unfused: 0xa9d2).
TEST(GeluF16Table, HoldsGgmlsFusedEntry) { EXPECT_EQ(GeluF16TableEntry(0xbfff), 0xa9d3); }

}  // namespace
}  // namespace sov::kernels
