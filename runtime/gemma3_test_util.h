// Test helper: writes a tiny, randomly initialised Gemma 3 GGUF (f32 weights,
// an SPM vocabulary of control tokens, 256 byte tokens and a few words), so the
// whole text path runs in tests without the real checkpoint, and so tests can
// break one thing at a time (vocabulary, architecture).
#ifndef SOV_RUNTIME_GEMMA3_TEST_UTIL_H_
#define SOV_RUNTIME_GEMMA3_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "models/gemma3/config.h"
#include "models/gemma3/tensor_table.h"
#include "runtime/gguf_writer.h"
#include "runtime/tokenizer.h"

namespace sov::testing {

struct TinyGemma3Options {
  std::string architecture = "gemma3";
  bool with_vocab = true;
  int64_t drop_tokens = 0;  // truncate the vocabulary by this many entries
  uint32_t seed = 1;
  int64_t layers = 6;  // >= 6 so one layer is global
  uint32_t sliding_window = 4;
  uint32_t context = 256;
};

inline std::vector<std::string> TinyGemma3Tokens() {
  std::vector<std::string> t = {"<pad>", "<eos>",           "<bos>",
                                "<unk>", "<start_of_turn>", "<end_of_turn>"};
  for (int b = 0; b < 256; ++b) t.push_back(absl::StrFormat("<0x%02X>", b));
  for (const char* w : {"\xe2\x96\x81the", "\xe2\x96\x81cat", "\xe2\x96\x81is", "user", "model",
                        "\n", "\xe2\x96\x81", "a", "b", "c"})
    t.push_back(w);
  // 512 entries: also the vocabulary size of `sov synth --arch test-tiny`.
  for (int i = static_cast<int>(t.size()); i < 512; ++i) t.push_back(absl::StrFormat("w%d", i));
  return t;
}

inline gemma3::ModelConfig TinyGemma3Config(const TinyGemma3Options& o) {
  gemma3::ModelConfig c;
  c.vocab_size = static_cast<int64_t>(TinyGemma3Tokens().size());
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_layers = o.layers;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 32;
  c.sliding_window = o.sliding_window;
  c.context_length = o.context;
  return c;
}

inline absl::Status WriteTinyGemma3(const std::string& path, const TinyGemma3Options& o = {}) {
  gemma3::ModelConfig c = TinyGemma3Config(o);
  if (absl::Status s = c.Finalize(); !s.ok()) return s;
  GgufWriter w;
  w.SetString("general.architecture", o.architecture);
  const std::string a = o.architecture + ".";
  w.SetString("general.name", "tiny");
  w.SetU32(a + "context_length", o.context);
  w.SetU32(a + "embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.SetU32(a + "block_count", static_cast<uint32_t>(c.num_layers));
  w.SetU32(a + "feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.SetU32(a + "attention.head_count", static_cast<uint32_t>(c.num_heads));
  w.SetU32(a + "attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
  w.SetU32(a + "attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.SetU32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.SetU32(a + "attention.sliding_window", o.sliding_window);
  w.SetF32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
  w.SetF32(a + "rope.freq_base", 1000000.0f);
  if (o.with_vocab) {
    std::vector<std::string> tokens = TinyGemma3Tokens();
    tokens.resize(tokens.size() - static_cast<size_t>(o.drop_tokens));
    std::vector<float> scores(tokens.size(), 0.0f);
    std::vector<int32_t> types(tokens.size(), static_cast<int32_t>(TokenType::kNormal));
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i < 6)
        types[i] = static_cast<int32_t>(TokenType::kControl);
      else if (i < 6 + 256)
        types[i] = static_cast<int32_t>(TokenType::kByte);
      else
        scores[i] = -static_cast<float>(i);
    }
    w.SetString("tokenizer.ggml.model", "llama");
    w.SetStringArray("tokenizer.ggml.tokens", std::span<const std::string>(tokens));
    w.SetF32Array("tokenizer.ggml.scores", scores);
    w.SetI32Array("tokenizer.ggml.token_type", types);
    w.SetU32("tokenizer.ggml.bos_token_id", 2);
    w.SetU32("tokenizer.ggml.eos_token_id", 1);
    w.SetU32("tokenizer.ggml.unknown_token_id", 3);
    w.SetU32("tokenizer.ggml.padding_token_id", 0);
    w.SetBool("tokenizer.ggml.add_bos_token", true);
    w.SetBool("tokenizer.ggml.add_space_prefix", false);
  }
  // Tensors in table order, f32, GGUF ne = reversed PyTorch shape.
  std::vector<std::vector<float>> data;
  std::mt19937 rng(o.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const gemma3::TensorInfo& info : gemma3::TensorTable()) {
    if (info.optional) continue;
    const std::vector<int64_t> shape = gemma3::Shape(c, info.id);
    const int64_t layers = info.per_layer ? c.num_layers : 1;
    for (int64_t l = 0; l < layers; ++l) {
      std::vector<float> v(static_cast<size_t>(shape.size() == 1 ? shape[0] : shape[0] * shape[1]));
      if (info.is_matrix) {
        const float s = 1.0f / std::sqrt(static_cast<float>(shape.back()));
        for (float& x : v) x = nd(rng) * (info.id == gemma3::TensorId::kEmbedTokens ? 0.5f : s);
      } else {
        for (float& x : v) x = 1.0f + 0.1f * nd(rng);  // stored as 1 + w, like llama.cpp
      }
      if (shape.size() == 1) {
        if (absl::Status s = w.AddTensor(gemma3::GgufName(info.id, l), DType::kF32, {shape[0]});
            !s.ok())
          return s;
      } else if (absl::Status s =
                     w.AddTensor(gemma3::GgufName(info.id, l), DType::kF32, {shape[1], shape[0]});
                 !s.ok()) {
        return s;
      }
      data.push_back(std::move(v));
    }
  }
  return w.WriteFile(path, [&](size_t i, const GgufTensorSpec& t, GgufSink& out) {
    return out.Write(data[i].data(), t.nbytes);
  });
}

}  // namespace sov::testing

#endif  // SOV_RUNTIME_GEMMA3_TEST_UTIL_H_
