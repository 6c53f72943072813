// llama-quant type choice (spec quantization.md §12) on the Gemma 4 E2B tensor
// list (spec gemma4.md §3.2) and on the rules' own examples.
#include "quant/mix.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sov {
namespace {

MixTensor T(std::string name, std::initializer_list<int64_t> dims, DType src = DType::kBF16) {
  MixTensor t;
  t.name = std::move(name);
  int i = 0;
  for (int64_t d : dims) t.ne[i++] = d;
  t.source = src;
  return t;
}

// Gemma 4 E2B as llama.cpp's converter writes it: 35 layers, H = 1536, P = 256,
// full attention at 4, 9, ..., 34; layers 15-34 share KV (no attn_k / attn_v /
// attn_k_norm) and use the double-wide MLP.
std::vector<MixTensor> GemmaE2BTensors() {
  const int64_t H = 1536, P = 256, L = 35, V = 262144;
  std::vector<MixTensor> ts = {
      T("token_embd.weight", {H, V}),
      T("output_norm.weight", {H}, DType::kF32),
      T("rope_freqs.weight", {256}, DType::kF32),
      T("per_layer_token_embd.weight", {L * P, V}),
      T("per_layer_model_proj.weight", {H, L * P}),
      T("per_layer_proj_norm.weight", {P}, DType::kF32),
  };
  for (int i = 0; i < L; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const bool full = i % 5 == 4;
    const bool shared = i >= 15;
    const int64_t d = full ? 512 : 256, q = 8 * d, kv = d, ff = shared ? 12288 : 6144;
    ts.push_back(T(b + "attn_norm.weight", {H}, DType::kF32));
    ts.push_back(T(b + "attn_q.weight", {H, q}));
    if (!shared) {
      ts.push_back(T(b + "attn_k.weight", {H, kv}));
      ts.push_back(T(b + "attn_v.weight", {H, kv}));
      ts.push_back(T(b + "attn_k_norm.weight", {d}, DType::kF32));
    }
    ts.push_back(T(b + "attn_output.weight", {q, H}));
    ts.push_back(T(b + "attn_q_norm.weight", {d}, DType::kF32));
    ts.push_back(T(b + "post_attention_norm.weight", {H}, DType::kF32));
    ts.push_back(T(b + "ffn_norm.weight", {H}, DType::kF32));
    ts.push_back(T(b + "ffn_gate.weight", {H, ff}));
    ts.push_back(T(b + "ffn_up.weight", {H, ff}));
    ts.push_back(T(b + "ffn_down.weight", {ff, H}));
    ts.push_back(T(b + "post_ffw_norm.weight", {H}, DType::kF32));
    ts.push_back(T(b + "inp_gate.weight", {H, P}));
    ts.push_back(T(b + "proj.weight", {P, H}));
    ts.push_back(T(b + "post_norm.weight", {H}, DType::kF32));
    ts.push_back(T(b + "layer_output_scale.weight", {1}, DType::kF32));
  }
  return ts;
}

std::map<std::string, DType> Choose(FileType ft, const std::vector<MixTensor>& ts, int blocks,
                                    int experts, const MixOptions& opt = {}) {
  absl::StatusOr<std::vector<DType>> r = ChooseTensorTypes(ft, ts, blocks, experts, opt);
  EXPECT_TRUE(r.ok()) << r.status();
  std::map<std::string, DType> m;
  if (!r.ok()) return m;
  for (size_t i = 0; i < ts.size(); ++i) m[ts[i].name] = (*r)[i];
  return m;
}

TEST(UseMoreBits, SpecExamples) {
  auto layers = [](int n) {
    std::set<int> s;
    for (int i = 0; i < n; ++i) {
      if (UseMoreBits(i, n)) s.insert(i);
    }
    return s;
  };
  EXPECT_EQ(layers(35), (std::set<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31, 32, 33, 34}));
  std::set<int> n42 = {0, 1, 2, 3, 4, 36, 37, 38, 39, 40, 41};
  for (int i = 7; i <= 34; i += 3) n42.insert(i);
  EXPECT_EQ(layers(42), n42);
  std::set<int> n32 = {0, 1, 2, 3, 28, 29, 30, 31};
  for (int i = 6; i <= 27; i += 3) n32.insert(i);
  EXPECT_EQ(layers(32), n32);
  std::set<int> n60 = {0, 1, 2, 3, 4, 5, 6, 52, 53, 54, 55, 56, 57, 58, 59};
  for (int i = 9; i <= 51; i += 3) n60.insert(i);
  EXPECT_EQ(layers(60), n60);
}

TEST(ProcessingOrder, GlobalsFirstThenLayerThenName) {
  const std::vector<std::string> names = {"blk.10.attn_q.weight", "token_embd.weight", "blk.2.ffn_down.weight",
                                          "blk.2.attn_v.weight", "output_norm.weight", "blk.0.attn_q.weight"};
  const std::vector<size_t> order = ProcessingOrder(names);
  std::vector<std::string> sorted;
  for (size_t i : order) sorted.push_back(names[i]);
  EXPECT_EQ(sorted, (std::vector<std::string>{"output_norm.weight", "token_embd.weight", "blk.0.attn_q.weight",
                                              "blk.2.attn_v.weight", "blk.2.ffn_down.weight",
                                              "blk.10.attn_q.weight"}));
}

TEST(Mix, GemmaE2BQ4KM) {
  const std::map<std::string, DType> m = Choose(FileType::kQ4_K_M, GemmaE2BTensors(), 35, 0);
  // Tied embeddings: both embedding tables take the output rule (ne[0] % 256 == 0 -> Q6_K).
  EXPECT_EQ(m.at("token_embd.weight"), DType::kQ6_K);
  EXPECT_EQ(m.at("per_layer_token_embd.weight"), DType::kQ6_K);
  // Never quantized: kept in the source type.
  EXPECT_EQ(m.at("per_layer_model_proj.weight"), DType::kBF16);
  EXPECT_EQ(m.at("output_norm.weight"), DType::kF32);
  EXPECT_EQ(m.at("rope_freqs.weight"), DType::kF32);
  // attn_v exists in layers 0-14 only: use_more_bits runs over those 15
  // ordinals (n = 15: 0, 3, 6, 9, 12 and the last two).
  const std::set<int> v_q6 = {0, 3, 6, 9, 12, 13, 14};
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(m.at("blk." + std::to_string(i) + ".attn_v.weight"), v_q6.count(i) ? DType::kQ6_K : DType::kQ4_K)
        << "layer " << i;
    EXPECT_EQ(m.at("blk." + std::to_string(i) + ".attn_k.weight"), DType::kQ4_K);
  }
  const std::set<int> down_q6 = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31, 32, 33, 34};
  for (int i = 0; i < 35; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(m.at(b + "ffn_down.weight"), down_q6.count(i) ? DType::kQ6_K : DType::kQ4_K) << b;
    for (const char* n : {"attn_q.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight",
                          "inp_gate.weight", "proj.weight"}) {
      EXPECT_EQ(m.at(b + n), DType::kQ4_K) << b << n;
    }
    for (const char* n : {"attn_norm.weight", "attn_q_norm.weight", "post_attention_norm.weight",
                          "ffn_norm.weight", "post_ffw_norm.weight", "post_norm.weight",
                          "layer_output_scale.weight"}) {
      EXPECT_EQ(m.at(b + n), DType::kF32) << b << n;
    }
  }
}

TEST(Mix, GemmaE2BOtherFileTypes) {
  const std::vector<MixTensor> ts = GemmaE2BTensors();
  std::map<std::string, DType> m = Choose(FileType::kQ5_K_M, ts, 35, 0);
  EXPECT_EQ(m.at("blk.0.attn_v.weight"), DType::kQ6_K);
  EXPECT_EQ(m.at("blk.1.attn_v.weight"), DType::kQ5_K);
  EXPECT_EQ(m.at("blk.4.ffn_down.weight"), DType::kQ5_K);
  EXPECT_EQ(m.at("blk.34.ffn_down.weight"), DType::kQ6_K);
  EXPECT_EQ(m.at("token_embd.weight"), DType::kQ6_K);

  m = Choose(FileType::kQ8_0, ts, 35, 0);  // no rule moves a Q8_0 tensor
  EXPECT_EQ(m.at("token_embd.weight"), DType::kQ8_0);
  EXPECT_EQ(m.at("blk.0.attn_v.weight"), DType::kQ8_0);
  EXPECT_EQ(m.at("blk.0.ffn_down.weight"), DType::kQ8_0);
  EXPECT_EQ(m.at("per_layer_model_proj.weight"), DType::kBF16);

  for (FileType ft : {FileType::kF16, FileType::kBF16, FileType::kF32}) {
    m = Choose(ft, ts, 35, 0);  // plain types: DEF for everything quantizable, no rules
    EXPECT_EQ(m.at("token_embd.weight"), DefaultType(ft));
    EXPECT_EQ(m.at("blk.0.attn_v.weight"), DefaultType(ft));
    EXPECT_EQ(m.at("blk.3.attn_norm.weight"), DType::kF32);
    EXPECT_EQ(m.at("per_layer_model_proj.weight"), DType::kBF16);
  }
}

TEST(Mix, InputOrderDoesNotMatter) {
  std::vector<MixTensor> ts = GemmaE2BTensors();
  const std::map<std::string, DType> a = Choose(FileType::kQ4_K_M, ts, 35, 0);
  std::reverse(ts.begin(), ts.end());
  EXPECT_EQ(Choose(FileType::kQ4_K_M, ts, 35, 0), a);
}

// §12.6 example: hidden size 1152 is not a multiple of 256.
TEST(Mix, RowSizeFallbacks) {
  const std::vector<MixTensor> ts = {
      T("token_embd.weight", {1152, 1000}), T("blk.0.attn_q.weight", {1152, 1024}),
      T("blk.0.attn_v.weight", {1152, 256}), T("blk.0.ffn_down.weight", {6912, 1152}),
      T("blk.0.ffn_up.weight", {1152, 6912}), T("blk.0.odd.weight", {40, 64})};
  std::map<std::string, DType> m = Choose(FileType::kQ4_K_M, ts, 1, 0);
  EXPECT_EQ(m.at("token_embd.weight"), DType::kQ8_0);       // tied, ne[0] % 256 != 0
  EXPECT_EQ(m.at("blk.0.attn_q.weight"), DType::kQ5_0);     // Q4_K -> Q5_0
  EXPECT_EQ(m.at("blk.0.attn_v.weight"), DType::kQ8_0);     // Q6_K -> Q8_0
  EXPECT_EQ(m.at("blk.0.ffn_down.weight"), DType::kQ6_K);   // 6912 = 27 * 256 fits
  EXPECT_EQ(m.at("blk.0.ffn_up.weight"), DType::kQ5_0);
  EXPECT_EQ(m.at("blk.0.odd.weight"), DType::kF16);         // 40 is not a multiple of 32 either
  m = Choose(FileType::kQ5_K_M, ts, 1, 0);
  EXPECT_EQ(m.at("blk.0.attn_q.weight"), DType::kQ5_1);
  // Q8_0 has no fallback: llama-quantize aborts, we return an error naming the tensor.
  absl::StatusOr<std::vector<DType>> r = ChooseTensorTypes(FileType::kQ8_0, ts, 1, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("blk.0.odd.weight"), std::string::npos) << r.status();
}

TEST(Mix, SeparateOutputAndOptions) {
  const std::vector<MixTensor> ts = {T("token_embd.weight", {2048, 5000}), T("output.weight", {2048, 5000}),
                                     T("blk.0.attn_q.weight", {2048, 2048})};
  std::map<std::string, DType> m = Choose(FileType::kQ4_K_M, ts, 1, 0);
  EXPECT_EQ(m.at("output.weight"), DType::kQ6_K);
  EXPECT_EQ(m.at("token_embd.weight"), DType::kQ4_K);  // not tied: DEF
  MixOptions opt;
  opt.output_tensor_type = DType::kQ8_0;
  opt.token_embedding_type = DType::kF16;
  m = Choose(FileType::kQ4_K_M, ts, 1, 0, opt);
  EXPECT_EQ(m.at("output.weight"), DType::kQ8_0);
  EXPECT_EQ(m.at("token_embd.weight"), DType::kF16);
  MixOptions leave;
  leave.leave_output_tensor = true;
  EXPECT_EQ(Choose(FileType::kQ4_K_M, ts, 1, 0, leave).at("output.weight"), DType::kBF16);
  MixOptions pure;
  pure.pure = true;
  EXPECT_EQ(Choose(FileType::kQ4_K_M, ts, 1, 0, pure).at("output.weight"), DType::kQ4_K);
}

TEST(Mix, MoERules) {
  // Gemma 4 26B-A4B style experts (128): ffn_down layer numbers come from the names.
  std::vector<MixTensor> ts;
  for (int i = 0; i < 30; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    ts.push_back(T(b + "ffn_down_exps.weight", {768, 2816, 128}));
    ts.push_back(T(b + "ffn_down.weight", {2304, 2816}));
    ts.push_back(T(b + "ffn_gate_up_exps.weight", {2816, 1536, 128}));
    ts.push_back(T(b + "ffn_gate_inp.weight", {2816, 128}));
    ts.push_back(T(b + "attn_k.weight", {2816, 2048}));
  }
  std::map<std::string, DType> m = Choose(FileType::kQ4_K_M, ts, 30, 128);
  for (int i = 0; i < 30; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const DType want = UseMoreBits(i, 30) ? DType::kQ6_K : DType::kQ4_K;
    EXPECT_EQ(m.at(b + "ffn_down_exps.weight"), want) << b;
    EXPECT_EQ(m.at(b + "ffn_down.weight"), want) << b;
    EXPECT_EQ(m.at(b + "ffn_gate_up_exps.weight"), DType::kQ4_K);
    EXPECT_EQ(m.at(b + "ffn_gate_inp.weight"), DType::kBF16);
    EXPECT_EQ(m.at(b + "attn_k.weight"), DType::kQ4_K);
  }
  // Eight experts (Mixtral-like): K and V to Q8_0, attn_output to Q5_K.
  const std::vector<MixTensor> e8 = {T("blk.0.attn_k.weight", {4096, 1024}), T("blk.0.attn_v.weight", {4096, 1024}),
                                     T("blk.0.attn_output.weight", {4096, 4096})};
  m = Choose(FileType::kQ4_K_M, e8, 1, 8);
  EXPECT_EQ(m.at("blk.0.attn_k.weight"), DType::kQ8_0);
  EXPECT_EQ(m.at("blk.0.attn_v.weight"), DType::kQ8_0);
  EXPECT_EQ(m.at("blk.0.attn_output.weight"), DType::kQ5_K);
  EXPECT_EQ(Choose(FileType::kQ5_K_M, e8, 1, 8).at("blk.0.attn_output.weight"), DType::kQ5_K);  // DEF
  // An expert tensor outside [0, block_count) is an error, not a crash.
  absl::StatusOr<std::vector<DType>> r =
      ChooseTensorTypes(FileType::kQ4_K_M, {T("blk.40.ffn_down_exps.weight", {768, 2816, 128})}, 30, 128);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad layer 40"), std::string::npos) << r.status();
}

TEST(Mix, AttnQkvTakesTheAttnVRuleAndCounter) {
  std::vector<MixTensor> ts;
  for (int i = 0; i < 8; ++i) ts.push_back(T("blk." + std::to_string(i) + ".attn_qkv.weight", {2048, 6144}));
  const std::map<std::string, DType> m = Choose(FileType::kQ4_K_M, ts, 8, 0);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(m.at("blk." + std::to_string(i) + ".attn_qkv.weight"), UseMoreBits(i, 8) ? DType::kQ6_K : DType::kQ4_K);
  }
}

TEST(Mix, ParseFileType) {
  EXPECT_EQ(ParseFileType("Q4_K_M"), FileType::kQ4_K_M);
  EXPECT_EQ(ParseFileType("q5_k_m"), FileType::kQ5_K_M);
  EXPECT_EQ(ParseFileType("bf16"), FileType::kBF16);
  EXPECT_FALSE(ParseFileType("q3_k_s").has_value());
}

}  // namespace
}  // namespace sov
