// The vector Q8_K activation quantizer on every compiled target against
// quant/'s QuantizeRowQ8_K, byte for byte: random rows at many scales, exact
// ties, the largest magnitude present with both signs (the first one sets the
// sign), all-zero, subnormal, NaN and infinite blocks.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "hwy/tests/test_util-inl.h"
#include "kernels/cpu/qmatmul.h"
#include "kernels/test_util.h"
#include "quant/blocks.h"
#include "quant/formats.h"

namespace sov::kernels {
namespace {

class ActQ8KTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(ActQ8KTest);

std::vector<float> Rows() {
  std::vector<float> x;
  for (int b = 0; b < 24; ++b) {
    const float scale = std::ldexp(1.0f, b * 5 - 60);
    for (float v : test_util::RandomFloats(kQK_K, 100 + b, -1, 1)) x.push_back(v * scale);
  }
  // Ties: max = 127 so iscale = -1 and x + 0.5 steps land on halves.
  std::vector<float> t(kQK_K);
  for (int j = 0; j < kQK_K; ++j) t[j] = -63.5f + 0.5f * static_cast<float>(j % 254);
  t[7] = 127.0f;
  x.insert(x.end(), t.begin(), t.end());
  // +amax and -amax both present: the first decides the sign.
  std::vector<float> s = test_util::RandomFloats(kQK_K, 7, -1, 1);
  s[3] = -2.0f;
  s[200] = 2.0f;
  x.insert(x.end(), s.begin(), s.end());
  s[3] = 2.0f;
  s[200] = -2.0f;
  x.insert(x.end(), s.begin(), s.end());
  x.insert(x.end(), kQK_K, 0.0f);           // all zero
  x.insert(x.end(), kQK_K, -0.0f);          // all negative zero
  std::vector<float> sub(kQK_K, 1e-42f);    // subnormal
  sub[9] = -3e-42f;
  x.insert(x.end(), sub.begin(), sub.end());
  std::vector<float> nan = test_util::RandomFloats(kQK_K, 8, -1, 1);
  nan[5] = std::numeric_limits<float>::quiet_NaN();
  x.insert(x.end(), nan.begin(), nan.end());
  std::vector<float> inf = test_util::RandomFloats(kQK_K, 9, -1, 1);
  inf[70] = -std::numeric_limits<float>::infinity();
  x.insert(x.end(), inf.begin(), inf.end());
  return x;
}

TEST_P(ActQ8KTest, ByteIdenticalToTheReferenceQuantizer) {
  const std::vector<float> x = Rows();
  const int64_t k = static_cast<int64_t>(x.size());
  const int64_t nb = k / kQK_K;
  std::vector<BlockQ8_K> got(nb), want(nb);
  std::memset(got.data(), 0x5A, nb * sizeof(BlockQ8_K));
  std::memset(want.data(), 0x5A, nb * sizeof(BlockQ8_K));
  internal::QuantizeActRowQ8K(x.data(), k, got.data());
  quant_internal::QuantizeRowQ8_K(x.data(), want.data(), k);
  for (int64_t b = 0; b < nb; ++b) {
    EXPECT_EQ(0, std::memcmp(&got[b], &want[b], sizeof(BlockQ8_K)))
        << hwy::TargetName(GetParam()) << " block " << b << " d " << got[b].d << " vs "
        << want[b].d;
  }
}

}  // namespace
}  // namespace sov::kernels
