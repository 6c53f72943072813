// Reader for a Hugging Face `config.json`: finds the text-decoder config of
// the supported model families. Mapping the JSON onto a model's config
// struct happens in models/ (this file knows no Gemma fields beyond
// `model_type` and `text_config`).
#ifndef SOV_RUNTIME_HF_CONFIG_H_
#define SOV_RUNTIME_HF_CONFIG_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/json_util.h"  // typed getters for callers

namespace sov {

struct HfConfig {
  std::string path;             // the config.json that was read
  std::string model_type;       // top-level, e.g. "gemma4" or "gemma4_text"
  std::string text_model_type;  // "gemma4_text" / "gemma3_text"
  bool nested = false;          // text config came from "text_config"
  nlohmann::json root;          // the whole file
  nlohmann::json text;          // the text-decoder config object
};

// Top-level `model_type`s understood, and the text model_type each maps to.
const std::vector<std::string>& SupportedModelTypes();

// `path` is a model directory (reads path/config.json) or a config file.
absl::StatusOr<HfConfig> ReadHfConfig(const std::string& path);

// Same, from text already in memory; `source` names it in errors.
absl::StatusOr<HfConfig> ParseHfConfig(std::string_view text, std::string_view source);

}  // namespace sov

#endif  // SOV_RUNTIME_HF_CONFIG_H_
