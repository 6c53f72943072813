#include "runtime/tensor.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sov {
namespace {

TEST(TensorViewTest, ShapeAndBytes) {
  std::vector<uint16_t> data(2 * 3 * 4);
  TensorView t = TensorView::Make(data.data(), DType::kBF16, {2, 3, 4});
  EXPECT_EQ(t.ndim, 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 48u);
  EXPECT_EQ(t.row_bytes(), 8u);
  EXPECT_EQ(t.ShapeStr(), "[2,3,4]");
  const int64_t expect[] = {2, 3, 4};
  EXPECT_TRUE(t.HasShape(expect));
  const int64_t other[] = {2, 12};
  EXPECT_FALSE(t.HasShape(other));

  TensorView s = TensorView::Make(data.data(), DType::kF32, {});
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.nbytes(), 4u);
  EXPECT_EQ(s.ShapeStr(), "[]");
}

TEST(TensorViewTest, Slice0StepsByOneSubTensor) {
  std::vector<float> data(3 * 4 * 5);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  TensorView t = TensorView::Make(data.data(), DType::kF32, {3, 4, 5});
  TensorView e2 = t.Slice0(2);
  EXPECT_EQ(e2.ShapeStr(), "[4,5]");
  EXPECT_EQ(e2.as<float>()[0], 40.0f);
  kernels::WeightView w = e2.AsMatrix();
  EXPECT_EQ(w.rows, 4);
  EXPECT_EQ(w.cols, 5);
  EXPECT_EQ(w.row_bytes, 20u);
  EXPECT_EQ(reinterpret_cast<const float*>(w.row(3))[4], 59.0f);
}

TEST(TensorViewTest, QuantizedRowBytes) {
  TensorView q = TensorView::Make(nullptr, DType::kQ4_K, {8, 512});
  EXPECT_EQ(q.row_bytes(), 2u * 144u);
  EXPECT_EQ(q.nbytes(), 8u * 2u * 144u);
  absl::StatusOr<kernels::WeightView> w = AsWeightView(q, "q");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->row_bytes, 288u);
  absl::StatusOr<kernels::WeightView> bad =
      AsWeightView(TensorView::Make(nullptr, DType::kQ8_0, {8, 40}), "blk.0.attn_q.weight");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("not a multiple of the block size 32"));
}

TEST(TensorViewTest, AsWeightViewRejectsNonMatrices) {
  absl::StatusOr<kernels::WeightView> w =
      AsWeightView(TensorView::Make(nullptr, DType::kF32, {4}), "model.norm.weight");
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(),
              ::testing::HasSubstr("tensor model.norm.weight has shape [4], expected a 2-D"));
}

}  // namespace
}  // namespace sov
