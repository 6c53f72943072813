// The fp16 rounding helpers of kernels/cpu/f16-inl.h on every compiled target
// against quant/float16.h's Fp32ToFp16 (round to nearest even): halfway
// cases, subnormals, overflow to infinity, signed zero, and random values.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/test_util.h"
#include "quant/float16.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/f16_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "kernels/cpu/f16-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sov::kernels::HWY_NAMESPACE {
namespace {

std::vector<float> Inputs() {
  std::vector<float> v = {0.0f,         -0.0f,        1.0f,          1.0f + 0x1p-11f,
                          1.0f + 0x1p-10f + 0x1p-11f, 65504.0f,  65520.0f,   -70000.0f,
                          0x1p-24f,     0x1p-25f,     0x1.8p-25f,    0x1p-15f + 0x1p-25f,
                          3.1415926f,   -2.718281f,   1e-8f,         -6.1e-5f};
  const auto r = test_util::RandomFloats(4096, 77, -8, 8);
  v.insert(v.end(), r.begin(), r.end());
  for (float x : test_util::RandomFloats(1024, 78, -1, 1)) v.push_back(x * 1e-4f);
  while (v.size() % 64 != 0) v.push_back(0.5f);
  return v;
}

void TestRoundRowMatchesScalar() {
  const std::vector<float> in = Inputs();
  for (float scale : {1.0f, 0.0625f, 3.0f}) {
    std::vector<float> out(in.size());
    RoundRowToF16(in.data(), static_cast<int64_t>(in.size()), scale, out.data());
    for (size_t i = 0; i < in.size(); ++i) {
      const float want = Fp16ToFp32(Fp32ToFp16(in[i] * scale));
      ASSERT_EQ(0, std::memcmp(&out[i], &want, 4))
          << hwy::TargetName(HWY_TARGET) << " x=" << in[i] << " scale=" << scale << " got "
          << out[i] << " want " << want;
    }
  }
}

void TestF16BitsMatchScalar() {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const std::vector<float> in = Inputs();
  std::vector<uint32_t> bits(N);
  for (size_t i = 0; i + N <= in.size(); i += N) {
    hn::StoreU(F16Bits(df, hn::LoadU(df, in.data() + i)), hn::RebindToUnsigned<decltype(df)>(),
               bits.data());
    for (size_t k = 0; k < N; ++k) {
      ASSERT_EQ(bits[k], Fp32ToFp16(in[i + k])) << hwy::TargetName(HWY_TARGET) << " x=" << in[i + k];
    }
  }
}

}  // namespace
}  // namespace sov::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sov::kernels {
namespace {
HWY_BEFORE_TEST(F16RoundingTest);
HWY_EXPORT_AND_TEST_P(F16RoundingTest, TestRoundRowMatchesScalar);
HWY_EXPORT_AND_TEST_P(F16RoundingTest, TestF16BitsMatchScalar);
}  // namespace
}  // namespace sov::kernels
#endif  // HWY_ONCE
