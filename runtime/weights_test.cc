#include "runtime/weights.h"

#include <stdlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/float16.h"
#include "runtime/check.h"
#include "runtime/safetensors_writer.h"

namespace sov {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "/sov_w_XXXXXX";
  SOV_CHECK(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

std::string Bytes(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

// A small checkpoint with the tensor kinds the loader asks for.
std::string WriteModel() {
  SafetensorsWriter w;
  std::vector<float> q(8 * 6);
  for (size_t i = 0; i < q.size(); ++i) q[i] = 0.25f * static_cast<float>(i);
  SOV_CHECK(w.AddF32("model.layers.3.self_attn.q_proj.weight", {8, 6}, q).ok());
  SOV_CHECK(
      w.AddBF16("model.layers.3.mlp.up_proj.weight", {4, 6}, std::span<const float>(q.data(), 24))
          .ok());
  const std::vector<float> norm = {1.0f, -0.5f, 2.0f, 0.125f, 3.0f, -4.0f};
  SOV_CHECK(w.AddBF16("model.norm.weight", {6}, norm).ok());
  std::vector<uint16_t> h(6);
  for (int i = 0; i < 6; ++i) h[i] = Fp32ToFp16(norm[i] * 0.5f);
  SOV_CHECK(w.Add("model.layers.3.input_layernorm.weight", "F16", {6}, Bytes(h.data(), 12)).ok());
  const std::vector<float> one = {0.75f};
  SOV_CHECK(w.AddF32("model.layers.3.layer_scalar", {1}, one).ok());
  SOV_CHECK(w.AddF32("scalar", {}, one).ok());
  std::vector<float> experts(2 * 3 * 4);
  for (size_t i = 0; i < experts.size(); ++i) experts[i] = static_cast<float>(i);
  SOV_CHECK(w.AddF32("model.layers.0.experts.gate_up_proj", {2, 3, 4}, experts).ok());
  const int64_t ids[2] = {1, 2};
  SOV_CHECK(w.Add("ids", "I64", {2}, Bytes(ids, 16)).ok());
  const std::string path = MakeTempDir() + "/model.safetensors";
  SOV_CHECK(w.WriteFile(path).ok());
  return path;
}

TEST(WeightStoreTest, MatricesAreZeroCopy) {
  absl::StatusOr<WeightStore> ws = WeightStore::Open(WriteModel());
  ASSERT_TRUE(ws.ok()) << ws.status();
  absl::StatusOr<kernels::WeightView> q =
      ws->Matrix("model.layers.3.self_attn.q_proj.weight", 8, 6);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->data, ws->reader().Find("model.layers.3.self_attn.q_proj.weight")->data);
  EXPECT_EQ(q->dtype, DType::kF32);
  EXPECT_EQ(q->rows, 8);
  EXPECT_EQ(q->cols, 6);
  EXPECT_EQ(q->row_bytes, 24u);
  EXPECT_EQ(reinterpret_cast<const float*>(q->row(7))[5], 0.25f * 47);

  absl::StatusOr<kernels::WeightView> up = ws->Matrix("model.layers.3.mlp.up_proj.weight", 4, 6);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->dtype, DType::kBF16);  // as stored, not converted
  EXPECT_EQ(up->row_bytes, 12u);
  EXPECT_EQ(up->data, ws->reader().Find("model.layers.3.mlp.up_proj.weight")->data);
}

TEST(WeightStoreTest, ShapeMismatchNamesTensorAndShapes) {
  absl::StatusOr<WeightStore> ws = WeightStore::Open(WriteModel());
  ASSERT_TRUE(ws.ok());
  absl::StatusOr<kernels::WeightView> q =
      ws->Matrix("model.layers.3.self_attn.q_proj.weight", 16, 6);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(),
            "tensor model.layers.3.self_attn.q_proj.weight has shape [8,6], expected [16,6]");
  absl::StatusOr<const float*> v = ws->Vector("model.norm.weight", 5);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message(), "tensor model.norm.weight has shape [6], expected [5]");
  // Rank mismatch is a shape mismatch too.
  EXPECT_THAT(ws->Matrix("model.norm.weight", 6, 1).status().message(),
              HasSubstr("has shape [6], expected [6,1]"));
}

TEST(WeightStoreTest, VectorsAreConvertedF32Copies) {
  absl::StatusOr<WeightStore> ws = WeightStore::Open(WriteModel());
  ASSERT_TRUE(ws.ok());
  absl::StatusOr<const float*> n = ws->Vector("model.norm.weight", 6);
  ASSERT_TRUE(n.ok()) << n.status();
  // All values are exactly representable in bf16 and f16.
  EXPECT_THAT(std::vector<float>(*n, *n + 6), ElementsAre(1.0f, -0.5f, 2.0f, 0.125f, 3.0f, -4.0f));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*n) % 64, 0u);
  absl::StatusOr<const float*> again = ws->Vector("model.norm.weight", 6);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *n);  // cached, stable

  absl::StatusOr<const float*> h = ws->Vector("model.layers.3.input_layernorm.weight", 6);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_THAT(std::vector<float>(*h, *h + 6),
              ElementsAre(0.5f, -0.25f, 1.0f, 0.0625f, 1.5f, -2.0f));

  absl::StatusOr<const float*> s = ws->Vector("model.layers.3.layer_scalar", 1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(**s, 0.75f);
  absl::StatusOr<const float*> scalar = ws->Vector("scalar", 1);  // [] matches [1]
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(**scalar, 0.75f);
  absl::StatusOr<const float*> q = ws->F32Copy("model.layers.3.self_attn.q_proj.weight", {8, 6});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)[47], 0.25f * 47);
}

TEST(WeightStoreTest, ExpertStacks) {
  absl::StatusOr<WeightStore> ws = WeightStore::Open(WriteModel());
  ASSERT_TRUE(ws.ok());
  absl::StatusOr<TensorView> e = ws->Tensor("model.layers.0.experts.gate_up_proj", {2, 3, 4});
  ASSERT_TRUE(e.ok()) << e.status();
  kernels::WeightView e1 = e->Slice0(1).AsMatrix();
  EXPECT_EQ(e1.rows, 3);
  EXPECT_EQ(e1.cols, 4);
  EXPECT_EQ(reinterpret_cast<const float*>(e1.row(0))[0], 12.0f);
  EXPECT_THAT(ws->Tensor("model.layers.0.experts.gate_up_proj", {2, 4, 3}).status().message(),
              HasSubstr("has shape [2,3,4], expected [2,4,3]"));
}

TEST(WeightStoreTest, WrongDtypeMissingAndUnused) {
  absl::StatusOr<WeightStore> ws = WeightStore::Open(WriteModel());
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->Vector("ids", 2).status().message(),
            "tensor ids has dtype I64, expected F32, BF16 or F16");
  absl::StatusOr<const float*> m = ws->Vector("model.norm.weights", 6);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(m.status().message(), HasSubstr("closest name: \"model.norm.weight\""));

  ASSERT_TRUE(ws->Vector("model.norm.weight", 6).ok());
  ASSERT_TRUE(ws->Matrix("model.layers.3.self_attn.q_proj.weight", 8, 6).ok());
  EXPECT_THAT(ws->UnusedNames(),
              ElementsAre("ids", "model.layers.0.experts.gate_up_proj",
                          "model.layers.3.input_layernorm.weight", "model.layers.3.layer_scalar",
                          "model.layers.3.mlp.up_proj.weight", "scalar"));
}

TEST(WeightStoreTest, MisalignedTensorIsCopiedAligned) {
  // F32 data at data-section offset 2: not 4-byte aligned in the mapping.
  std::string header = R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [2, 18]}})";
  header.resize((header.size() + 7) / 8 * 8, ' ');
  std::string image;
  for (int i = 0; i < 8; ++i) image.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  image += header;
  image += "xx";
  const float vals[4] = {1.5f, 2.5f, -3.5f, 4.5f};
  image += Bytes(vals, 16);
  const std::string path = MakeTempDir() + "/odd.safetensors";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(image.data(), 1, image.size(), f), image.size());
  std::fclose(f);

  absl::StatusOr<WeightStore> ws = WeightStore::Open(path);
  ASSERT_TRUE(ws.ok()) << ws.status();
  ASSERT_NE(reinterpret_cast<uintptr_t>(ws->reader().Find("w")->data) % 4, 0u);
  absl::StatusOr<kernels::WeightView> w = ws->Matrix("w", 2, 2);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w->data) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(w->row(1))[0], -3.5f);
  absl::StatusOr<kernels::WeightView> again = ws->Matrix("w", 2, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data, w->data);
}

}  // namespace
}  // namespace sov
