// The `sov` CLI is a set of subcommands; each lives in its own
// runtime/cli/cmd_*.cc and registers itself with SOV_COMMAND. The files are
// linked straight into the executable, so the registrations are never dropped.
#ifndef SOV_RUNTIME_CLI_COMMAND_H_
#define SOV_RUNTIME_CLI_COMMAND_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sov::cli {

// Parsed command line of one subcommand: `--name value`, `--name=value`,
// short aliases declared by the command, boolean switches, positionals.
class Args {
 public:
  // `switches`: flags that take no value (e.g. "chat", "dump").
  // `aliases`: short spellings, e.g. {"m", "model"} makes -m mean --model.
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& switches,
                                    const std::map<std::string, std::string>& aliases);

  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& def) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double def) const;
  absl::StatusOr<std::string> Require(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // Errors for any flag not in `known` (catches typos such as --thread).
  absl::Status CheckKnown(const std::vector<std::string>& known) const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

struct Command {
  std::string name;
  std::string summary;  // one line for `sov --help`
  std::string usage;    // full text for `sov NAME --help`
  std::function<absl::Status(const std::vector<std::string>& argv)> run;
};

std::map<std::string, Command>& Registry();

struct Registrar {
  explicit Registrar(Command c);
};

// Parses a comma-separated list of integers ("2,818,5").
absl::StatusOr<std::vector<int32_t>> ParseIntList(const std::string& s);

}  // namespace sov::cli

#define SOV_CLI_CONCAT_INNER(a, b) a##b
#define SOV_CLI_CONCAT(a, b) SOV_CLI_CONCAT_INNER(a, b)
#define SOV_COMMAND(...) \
  static ::sov::cli::Registrar SOV_CLI_CONCAT(sov_command_registrar_, __LINE__)(__VA_ARGS__)

#endif  // SOV_RUNTIME_CLI_COMMAND_H_
