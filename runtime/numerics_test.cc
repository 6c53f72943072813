// Numerics selection: names, and the KV cache type each one implies.
#include "runtime/numerics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/kv_cache.h"

namespace sov {
namespace {

using ::testing::HasSubstr;

TEST(Numerics, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(*ParseNumerics("reference"), Numerics::kReference);
  EXPECT_EQ(*ParseNumerics("llama.cpp"), Numerics::kGgml);
  EXPECT_EQ(*ParseNumerics("ggml"), Numerics::kGgml);
  absl::StatusOr<Numerics> bad = ParseNumerics("fp16");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'fp16'"));
  EXPECT_STREQ(NumericsName(Numerics::kGgml), "llama.cpp");
  EXPECT_STREQ(NumericsName(Numerics::kReference), "reference");
}

TEST(KvCacheType, Fp16HalvesTheBytesAndOtherTypesAreRejected) {
  std::vector<graph::PlanCache> caches(2);
  caches[0] = {.layer = 0, .kind = graph::AttnKind::kSliding, .window = 16, .n_kv_heads = 2,
               .head_dim = 8};
  caches[1] = {.layer = 1, .kind = graph::AttnKind::kFull, .window = 0, .n_kv_heads = 1,
               .head_dim = 32};
  absl::StatusOr<KvCache> f32 = KvCache::Create(caches, 4, 100, DType::kF32);
  absl::StatusOr<KvCache> f16 = KvCache::Create(caches, 4, 100, DType::kF16);
  ASSERT_TRUE(f32.ok() && f16.ok());
  EXPECT_EQ(f16->dtype(), DType::kF16);
  // Sliding: 16 - 1 + 4 rows of 16 values; full: 100 rows of 32; K and V.
  EXPECT_EQ(f32->bytes(), 2 * (19 * 16 + 100 * 32) * 4);
  EXPECT_EQ(f16->bytes(), f32->bytes() / 2);
  absl::StatusOr<KvCache> q8 = KvCache::Create(caches, 4, 100, DType::kQ8_0);
  ASSERT_FALSE(q8.ok());
  EXPECT_THAT(q8.status().message(), HasSubstr("q8_0"));
}

}  // namespace
}  // namespace sov
