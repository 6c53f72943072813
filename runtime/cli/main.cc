// sov: the Sovereign command line.
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/cli/command.h"

namespace sov::cli {

std::map<std::string, Command>& Registry() {
  static auto* r = new std::map<std::string, Command>();
  return *r;
}

Registrar::Registrar(Command c) { Registry().emplace(c.name, std::move(c)); }

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& switches,
                                 const std::map<std::string, std::string>& aliases) {
  Args a;
  auto is_switch = [&](const std::string& n) {
    for (const auto& s : switches)
      if (s == n) return true;
    return false;
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& tok = argv[i];
    if (tok.size() < 2 || tok[0] != '-' || (tok.size() >= 2 && std::isdigit(tok[1]))) {
      a.positional_.push_back(tok);
      continue;
    }
    std::string name, value;
    bool has_value = false;
    if (tok.rfind("--", 0) == 0) {
      name = tok.substr(2);
    } else {
      name = tok.substr(1);
      auto it = aliases.find(name);
      if (it == aliases.end()) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", tok));
      name = it->second;
    }
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("bad flag ", tok));
    if (is_switch(name)) {
      a.values_[name] = has_value ? value : "1";
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argv.size())
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      value = argv[++i];
    }
    a.values_[name] = value;
  }
  return a;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::GetOr(const std::string& name, const std::string& def) const {
  auto v = Get(name);
  return v ? *v : def;
}

absl::StatusOr<int64_t> Args::GetInt(const std::string& name, int64_t def) const {
  auto v = Get(name);
  if (!v) return def;
  try {
    size_t used = 0;
    long long x = std::stoll(*v, &used);
    if (used != v->size()) throw std::invalid_argument("trailing");
    return static_cast<int64_t>(x);
  } catch (...) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " expects an integer, got '", *v, "'"));
  }
}

absl::StatusOr<double> Args::GetDouble(const std::string& name, double def) const {
  auto v = Get(name);
  if (!v) return def;
  try {
    size_t used = 0;
    double x = std::stod(*v, &used);
    if (used != v->size()) throw std::invalid_argument("trailing");
    return x;
  } catch (...) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " expects a number, got '", *v, "'"));
  }
}

absl::StatusOr<std::string> Args::Require(const std::string& name) const {
  auto v = Get(name);
  if (!v) return absl::InvalidArgumentError(absl::StrCat("missing required flag --", name));
  return *v;
}

absl::Status Args::CheckKnown(const std::vector<std::string>& known) const {
  for (const auto& [k, v] : values_) {
    bool ok = false;
    for (const auto& n : known) ok |= (n == k);
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", k));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> ParseIntList(const std::string& s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string part = s.substr(i, j - i);
    if (part.empty()) return absl::InvalidArgumentError(absl::StrCat("empty item in list '", s, "'"));
    try {
      size_t used = 0;
      long long v = std::stoll(part, &used);
      if (used != part.size() || v < INT32_MIN || v > INT32_MAX) throw std::out_of_range("x");
      out.push_back(static_cast<int32_t>(v));
    } catch (...) {
      return absl::InvalidArgumentError(absl::StrCat("'", part, "' is not an integer"));
    }
    i = j + 1;
  }
  return out;
}

namespace {

void PrintHelp() {
  std::printf(
      "sov - Sovereign, an inference runtime for Gemma 4\n\n"
      "usage: sov <command> [flags]      (sov <command> --help for its flags)\n\n"
      "commands:\n");
  for (const auto& [name, c] : Registry()) std::printf("  %-18s %s\n", name.c_str(), c.summary.c_str());
}

}  // namespace
}  // namespace sov::cli

int main(int argc, char** argv) {
  using sov::cli::Registry;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    sov::cli::PrintHelp();
    return argc < 2 ? 1 : 0;
  }
  auto it = Registry().find(argv[1]);
  if (it == Registry().end()) {
    std::fprintf(stderr, "sov: unknown command '%s' (see sov --help)\n", argv[1]);
    return 2;
  }
  std::vector<std::string> rest(argv + 2, argv + argc);
  for (const auto& a : rest) {
    if (a == "--help" || a == "-h") {
      std::printf("%s\n", it->second.usage.c_str());
      return 0;
    }
  }
  absl::Status s = it->second.run(rest);
  if (!s.ok()) {
    std::fprintf(stderr, "sov %s: error: %s\n", argv[1], std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
