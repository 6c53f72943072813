// Attention on every compiled target against the scalar reference: head dims,
// GQA ratios, sliding windows, ring-buffer caches, multi-chunk key ranges;
// the window edge; thread-count determinism; KvAppend.
#include <cmath>
#include <cstring>
#include <vector>

#include <tbb/task_arena.h>

#include "kernels/api.h"
#include "kernels/reference/reference.h"
#include "kernels/test_util.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "kernels/cpu/attention-inl.h"

// Target-independent fixture data (defined once).
#ifndef SOV_KERNELS_ATTENTION_TEST_CASE_
#define SOV_KERNELS_ATTENTION_TEST_CASE_
namespace sov::kernels::test_util {

// A filled KV cache and queries for one attention call.
struct AttnCase {
  AttentionParams p;
  std::vector<float> k, v, q;
  int64_t ldq = 0;

  AttnCase(int64_t T, int64_t pos0, int64_t nq, int64_t nkv, int64_t d, int64_t window,
           bool ring, uint64_t seed) {
    p.T = T;
    p.pos0 = pos0;
    p.n_q_heads = nq;
    p.n_kv_heads = nkv;
    p.head_dim = d;
    p.window = window;
    p.scale = 1.0f;
    p.ld_kv = nkv * d + 1;  // padded rows
    const int64_t end = pos0 + T;
    p.cache_rows = ring && window > 0 ? std::min(end, window - 1 + T) + 2 : end + 3;
    k.assign(static_cast<size_t>(p.cache_rows * p.ld_kv), NAN);  // unused slots poison
    v = k;
    // Write positions 0..end-1 in order, as a ring buffer would hold them.
    const float amp = 2.0f / std::sqrt(static_cast<float>(d));  // scores O(1) .. O(4)
    for (int64_t pos = 0; pos < end; ++pos) {
      const auto kr = RandomFloats(static_cast<size_t>(nkv * d), seed + 3 * pos, -1, 1);
      const auto vr = RandomFloats(static_cast<size_t>(nkv * d), seed + 3 * pos + 1, -1, 1);
      const int64_t row = pos % p.cache_rows;
      for (int64_t i = 0; i < nkv * d; ++i) {
        k[row * p.ld_kv + i] = kr[i] * 4;
        v[row * p.ld_kv + i] = vr[i];
      }
    }
    ldq = nq * d + 2;
    q = RandomFloats(static_cast<size_t>(T * ldq), seed + 99, -amp, amp);
    p.k_cache = k.data();
    p.v_cache = v.data();
  }
};

// Per element bound on |out - ref| (see the derivation in TestAttention).
inline std::vector<double> AttnBounds(const AttnCase& c, int64_t ldo) {
  const AttentionParams& p = c.p;
  const int64_t d = p.head_dim, G = p.n_q_heads / p.n_kv_heads;
  std::vector<double> bound(static_cast<size_t>(p.T * ldo), 0.0);
  for (int64_t t = 0; t < p.T; ++t) {
    const int64_t qp = p.pos0 + t;
    const int64_t lo = p.window > 0 ? std::max<int64_t>(0, qp - p.window + 1) : 0;
    const int64_t n = qp - lo + 1;
    for (int64_t h = 0; h < p.n_q_heads; ++h) {
      const float* qv = c.q.data() + t * c.ldq + h * d;
      std::vector<double> s(static_cast<size_t>(n)), mag(static_cast<size_t>(n));
      double m = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        const float* kv = p.k_cache + ((lo + j) % p.cache_rows) * p.ld_kv + (h / G) * d;
        double dot = 0, a = 0;
        for (int64_t i = 0; i < d; ++i) dot += double{qv[i]} * kv[i], a += std::fabs(double{qv[i]} * kv[i]);
        s[j] = dot * p.scale;
        mag[j] = a * std::fabs(p.scale);
        m = std::max(m, s[j]);
      }
      double eps_max = 0, sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        eps_max = std::max(eps_max, ((d + 2) * mag[j] + std::fabs(s[j] - m) + 4) * kU32);
        sum += std::exp(s[j] - m);
      }
      for (int64_t i = 0; i < d; ++i) {
        double pv = 0;
        for (int64_t j = 0; j < n; ++j) {
          pv += std::exp(s[j] - m) / sum *
                std::fabs(p.v_cache[((lo + j) % p.cache_rows) * p.ld_kv + (h / G) * d + i]);
        }
        bound[t * ldo + h * d + i] = (2 * eps_max + 2 * (n + 16) * kU32) * pv + 1e-30;
      }
    }
  }
  return bound;
}

}  // namespace sov::kernels::test_util
#endif

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace {

using test_util::AttnCase;

// Error model. Scores carry |ds| <= (d + 2) u sum_i |q_i k_i| (dot product
// and scale); exp(s - m) adds the rounding of the subtraction and Exp's 1 ulp,
// so each unnormalised p_j has relative error eps_j; the weighted sum and the
// normaliser l each add (n + c) u relative (sums of n terms, chunk merges).
// The output, a ratio of the two, is within (2 eps_max + 2 (n + 16) u) times
// sum_j p_j |v_j| of the exact value.
void Check(int64_t T, int64_t pos0, int64_t nq, int64_t nkv, int64_t d, int64_t window, bool ring) {
  AttnCase c(T, pos0, nq, nkv, d, window, ring, 1000 * d + 10 * nq + window + pos0);
  const int64_t ldo = nq * d + 5;
  std::vector<float> out(static_cast<size_t>(T * ldo), -3.0f), outr(out.size(), -3.0f);
  AttentionImpl(c.p, c.q.data(), c.ldq, out.data(), ldo);
  ref::Attention(c.p, c.q.data(), c.ldq, outr.data(), ldo);
  const auto bound = test_util::AttnBounds(c, ldo);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < ldo; ++i) {
      const size_t j = static_cast<size_t>(t * ldo + i);
      if (i >= nq * d) {
        ASSERT_EQ(out[j], -3.0f) << "wrote into the row padding";
        continue;
      }
      ASSERT_LE(std::fabs(double{out[j]} - outr[j]), bound[j])
          << hwy::TargetName(HWY_TARGET) << " T=" << T << " pos0=" << pos0 << " nq=" << nq
          << " nkv=" << nkv << " d=" << d << " W=" << window << " ring=" << ring << " t=" << t
          << " i=" << i << " got " << out[j] << " want " << outr[j];
    }
  }
}

void TestAttentionHeadDims() {
  for (int64_t d : {1, 3, 16, 17, 32, 256, 512}) {
    Check(1, 0, 2, 1, d, 0, false);
    Check(5, 0, 2, 1, d, 0, false);
    Check(3, 40, 4, 2, d, 0, false);
    Check(4, 20, 2, 2, d, 8, true);
  }
}

void TestAttentionGqaAndWindows() {
  const int64_t ratios[][2] = {{1, 1}, {2, 1}, {4, 1}, {8, 1}, {8, 2}, {4, 4}};
  for (const auto& r : ratios) {
    for (int64_t T : {1, 2, 7, 40}) {
      Check(T, 0, r[0], r[1], 16, 0, false);
      for (int64_t W : {1, 2, 5, 16}) {
        Check(T, 0, r[0], r[1], 16, W, true);
        Check(T, 33, r[0], r[1], 16, W, true);
        Check(T, 33, r[0], r[1], 16, W, false);
      }
    }
  }
}

void TestAttentionLongContexts() {
  // Several key chunks (kKeyChunk = 256): full causal with ~600 keys and a
  // sliding window wider than one chunk, on the decode path (fewer than 4
  // query blocks: chunks spread over threads).
  Check(1, 600, 4, 1, 32, 0, false);
  Check(3, 600, 8, 1, 32, 0, false);
  Check(12, 590, 2, 1, 32, 0, false);
  Check(1, 700, 2, 1, 32, 300, true);
  Check(16, 700, 2, 1, 32, 300, true);
  Check(2, 520, 8, 1, 256, 512, true);
  // The same on the query-blocked prefill path (>= 4 blocks of 8 queries).
  Check(40, 600, 2, 1, 32, 0, false);
  Check(33, 700, 4, 2, 32, 300, true);
  Check(32, 250, 8, 1, 256, 512, true);  // queries straddle a chunk boundary
}

}  // namespace
}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
namespace {

HWY_BEFORE_TEST(AttentionTargetTest);
HWY_EXPORT_AND_TEST_P(AttentionTargetTest, TestAttentionHeadDims);
HWY_EXPORT_AND_TEST_P(AttentionTargetTest, TestAttentionGqaAndWindows);
HWY_EXPORT_AND_TEST_P(AttentionTargetTest, TestAttentionLongContexts);

class AttentionApiTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(AttentionApiTest);

TEST_P(AttentionApiTest, KeyAtDistanceWindowIsExcluded) {
  for (int64_t W : {1, 2, 5, 64}) {
    // All scores equal (q = 0) so the softmax is uniform over visible keys;
    // V is 1 everywhere except a huge value at the position exactly W
    // behind the query, which must not leak into the output.
    const int64_t d = 4, pos0 = 100;
    AttentionParams p;
    p.T = 1;
    p.pos0 = pos0;
    p.n_q_heads = 1;
    p.n_kv_heads = 1;
    p.head_dim = d;
    p.window = W;
    p.cache_rows = W + 1;  // physically holds position pos0 - W as well
    p.ld_kv = d;
    std::vector<float> k(static_cast<size_t>(p.cache_rows * d), 0.5f);
    std::vector<float> v(k.size(), 1.0f);
    for (int64_t i = 0; i < d; ++i) v[((pos0 - W) % p.cache_rows) * d + i] = 1e6f;
    p.k_cache = k.data();
    p.v_cache = v.data();
    std::vector<float> q(d, 0.0f), out(d, 0.0f);
    Attention(p, q.data(), d, out.data(), d);
    for (int64_t i = 0; i < d; ++i) EXPECT_EQ(out[i], 1.0f) << "W=" << W;
    // One more key (window W + 1) and the value is seen.
    p.window = W + 1;
    Attention(p, q.data(), d, out.data(), d);
    EXPECT_GT(out[0], 1000.0f) << "W=" << W;
  }
}

std::vector<float> RunInArena(int threads, const test_util::AttnCase& c, int64_t T0, int64_t T) {
  // Queries T0 .. T0 + T - 1 of the case.
  AttentionParams p = c.p;
  p.pos0 = c.p.pos0 + T0;
  p.T = T;
  const int64_t ldo = p.n_q_heads * p.head_dim;
  std::vector<float> out(static_cast<size_t>(T * ldo));
  tbb::task_arena arena(threads);
  arena.execute([&] { Attention(p, c.q.data() + T0 * c.ldq, c.ldq, out.data(), ldo); });
  return out;
}

TEST(AttentionTest, BitwiseIdenticalForOneAndTwoThreadsAndDecodeEqualsPrefill) {
  // Full causal over ~1000 keys (4 chunks) and sliding W = 300.
  for (int64_t W : {0, 300}) {
    const test_util::AttnCase c(24, 1000, 8, 2, 64, W, false, 7);
    const auto a1 = RunInArena(1, c, 0, 24), a2 = RunInArena(2, c, 0, 24);
    ASSERT_EQ(0, std::memcmp(a1.data(), a2.data(), a1.size() * 4)) << "prefill W=" << W;
    const int64_t ldo = 8 * 64;
    for (int64_t t : {0, 13, 23}) {
      const auto d1 = RunInArena(1, c, t, 1), d2 = RunInArena(2, c, t, 1);
      ASSERT_EQ(0, std::memcmp(d1.data(), d2.data(), d1.size() * 4)) << "decode W=" << W;
      ASSERT_EQ(0, std::memcmp(d1.data(), a1.data() + t * ldo, d1.size() * 4))
          << "decode row differs from prefill row t=" << t << " W=" << W;
    }
  }
}

TEST(AttentionTest, RejectsTooSmallCache) {
  test_util::AttnCase c(4, 10, 2, 1, 8, 4, true, 3);
  c.p.cache_rows = 6;  // needs positions 7..13: 7 rows
  std::vector<float> out(4 * 16);
  EXPECT_DEATH(Attention(c.p, c.q.data(), c.ldq, out.data(), 16), "cache_rows");
}

TEST(KvAppendTest, WritesRingRowsAndMatchesReference) {
  const int64_t width = 6, ld = 8, rows = 5, T = 7, pos0 = 3;
  const auto kn = test_util::RandomFloats(T * 7, 1), vn = test_util::RandomFloats(T * 9, 2);
  std::vector<float> kc(rows * ld, -1.0f), vc(rows * ld, -1.0f), kr = kc, vr = vc;
  KvAppend(kn.data(), 7, vn.data(), 9, T, pos0, kc.data(), vc.data(), rows, ld, width);
  ref::KvAppend(kn.data(), 7, vn.data(), 9, T, pos0, kr.data(), vr.data(), rows, ld, width);
  EXPECT_EQ(kc, kr);
  EXPECT_EQ(vc, vr);
  // Position 9 (t = 6) lives in row 9 % 5 = 4; padding columns untouched.
  EXPECT_EQ(kc[4 * ld + 2], kn[6 * 7 + 2]);
  EXPECT_EQ(kc[4 * ld + 7], -1.0f);
}

}  // namespace
}  // namespace sov::kernels
#endif  // HWY_ONCE
