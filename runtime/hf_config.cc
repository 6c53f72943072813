#include "runtime/hf_config.h"

#include <sys/stat.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/mapped_file.h"
#include "runtime/str_util.h"

namespace sov {
namespace {

struct Family {
  std::string_view top;   // top-level model_type
  std::string_view text;  // model_type of the text config
  bool nested;            // text config lives in "text_config"
};

constexpr Family kFamilies[] = {
    {"gemma4_text", "gemma4_text", false},
    {"gemma4", "gemma4_text", true},
    {"gemma3_text", "gemma3_text", false},
    {"gemma3", "gemma3_text", true},
};

absl::Status Prefixed(std::string_view source, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(Av(source), ": ", s.message()));
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

const std::vector<std::string>& SupportedModelTypes() {
  static const std::vector<std::string>* types = [] {
    auto* v = new std::vector<std::string>;
    for (const Family& f : kFamilies) v->emplace_back(f.top);
    return v;
  }();
  return *types;
}

absl::StatusOr<HfConfig> ParseHfConfig(std::string_view text, std::string_view source) {
  absl::StatusOr<nlohmann::json> root = ParseJsonStrict(text, source);
  if (!root.ok()) return root.status();
  if (!root->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(source), ": expected a JSON object, got ", JsonTypeName(*root)));
  }
  absl::StatusOr<std::string> model_type = GetString(*root, "model_type");
  if (!model_type.ok()) return Prefixed(source, model_type.status());

  const Family* family = nullptr;
  for (const Family& f : kFamilies) {
    if (f.top == *model_type) family = &f;
  }
  if (family == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(source), ": unsupported model_type \"", *model_type,
                     "\" (supported: ", absl::StrJoin(SupportedModelTypes(), ", "), ")"));
  }

  HfConfig cfg;
  cfg.path = std::string(source);
  cfg.model_type = *model_type;
  cfg.text_model_type = std::string(family->text);
  cfg.nested = family->nested;
  if (family->nested) {
    absl::StatusOr<const nlohmann::json*> tc = GetObject(*root, "text_config");
    if (!tc.ok()) {
      return Prefixed(
          source, absl::Status(tc.status().code(),
                               absl::StrCat("model_type \"", *model_type,
                                            "\" needs a text config: ", tc.status().message())));
    }
    // A nested config normally repeats its own model_type; if present it
    // must be the text one (a vision config here means a mislabelled file).
    absl::StatusOr<std::string> inner = GetStringOr(**tc, "model_type", family->text);
    if (!inner.ok()) return Prefixed(absl::StrCat(Av(source), ": text_config"), inner.status());
    if (*inner != family->text) {
      return absl::InvalidArgumentError(absl::StrCat(Av(source), ": text_config.model_type is \"",
                                                     *inner, "\", expected \"", Av(family->text),
                                                     "\" for model_type \"", *model_type, "\""));
    }
    cfg.text = **tc;
  } else {
    cfg.text = *root;
  }
  cfg.root = *std::move(root);
  return cfg;
}

absl::StatusOr<HfConfig> ReadHfConfig(const std::string& path) {
  const std::string file = IsDirectory(path) ? path + "/config.json" : path;
  absl::StatusOr<std::string> text = ReadWholeFile(file);
  if (!text.ok()) return text.status();
  return ParseHfConfig(*text, file);
}

}  // namespace sov
