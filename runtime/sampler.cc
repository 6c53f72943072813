#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "absl/strings/str_format.h"
#include "runtime/check.h"

namespace sov {
namespace {

struct Cand {
  float logit;
  TokenId id;
};

// Falling logit, ties to the lower id: a total order, so results never depend
// on the sort algorithm.
bool Before(const Cand& a, const Cand& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

}  // namespace

absl::StatusOr<Sampler> Sampler::Create(SamplerConfig c) {
  if (!std::isfinite(c.temperature)) {
    return absl::InvalidArgumentError("temperature must be a finite number");
  }
  if (c.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("top_k = %d must be >= 0 (0 turns it off)", c.top_k));
  }
  if (!(c.top_p > 0.0f && c.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("top_p = %g must be in (0, 1] (1 turns it off)", c.top_p));
  }
  if (!(c.min_p >= 0.0f && c.min_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("min_p = %g must be in [0, 1] (0 turns it off)", c.min_p));
  }
  if (!(c.repeat_penalty > 0.0f) || !std::isfinite(c.repeat_penalty)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "repeat_penalty = %g must be a positive number (1 turns it off)", c.repeat_penalty));
  }
  if (c.repeat_last_n < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("repeat_last_n = %d must be >= 0", c.repeat_last_n));
  }
  return Sampler(std::move(c));
}

void Sampler::Accept(TokenId id) {
  if (config_.repeat_last_n == 0) return;
  history_.push_back(id);
  while (history_.size() > static_cast<size_t>(config_.repeat_last_n)) history_.pop_front();
}

bool Sampler::IsStop(TokenId id) const {
  return std::find(config_.stop_ids.begin(), config_.stop_ids.end(), id) !=
         config_.stop_ids.end();
}

void Sampler::Reset() {
  history_.clear();
  rng_.seed(config_.seed);
}

double Sampler::Uniform() {
  // 53 random bits -> a double in [0, 1), exactly representable.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

absl::StatusOr<std::vector<TokenProb>> Sampler::Distribution(
    std::span<const float> logits) const {
  const size_t n = logits.size();
  if (n == 0) return absl::InvalidArgumentError("sampler: empty logits");
  std::vector<Cand> c(n);
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(logits[i]) || logits[i] == INFINITY) {
      return absl::InvalidArgumentError(
          absl::StrFormat("sampler: logit %d is %g", i, logits[i]));
    }
    c[i] = Cand{logits[i], static_cast<TokenId>(i)};
  }

  // 1. Repetition penalty, once per distinct token in the window.
  if (config_.repeat_penalty != 1.0f && !history_.empty()) {
    std::unordered_set<TokenId> seen(history_.begin(), history_.end());
    for (TokenId id : seen) {
      if (id < 0 || static_cast<size_t>(id) >= n) continue;
      float& l = c[id].logit;
      l = l > 0 ? l / config_.repeat_penalty : l * config_.repeat_penalty;
    }
  }

  // 2. Greedy.
  if (config_.temperature <= 0.0f) {
    const Cand best = *std::min_element(c.begin(), c.end(), Before);
    return std::vector<TokenProb>{{best.id, 1.0}};
  }
  if (std::all_of(c.begin(), c.end(), [](const Cand& x) { return x.logit == -INFINITY; })) {
    return absl::InvalidArgumentError("sampler: every logit is -inf");
  }

  // 3. Top-k (ordered prefix).
  size_t sorted = 0;  // c[0, sorted) holds the largest `sorted`, in order
  if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + config_.top_k, c.end(), Before);
    c.resize(config_.top_k);
    sorted = c.size();
  }

  // (Before orders largest first, so min_element under it is the maximum.)
  // 4. Top-p. The kept set is a prefix of the sorted order; sort only as far
  // as needed, doubling the sorted prefix until its mass reaches top_p.
  if (config_.top_p < 1.0f) {
    const float max_logit = std::min_element(c.begin(), c.end(), Before)->logit;
    double z = 0;
    for (const Cand& x : c) z += std::exp(static_cast<double>(x.logit - max_logit));
    const double target = static_cast<double>(config_.top_p) * z;
    double cum = 0;
    size_t keep = 0;
    size_t want = std::min<size_t>(c.size(), 256);
    while (true) {
      if (sorted < want) {
        std::partial_sort(c.begin() + sorted, c.begin() + want, c.end(), Before);
        sorted = want;
      }
      while (keep < sorted && cum < target) {
        cum += std::exp(static_cast<double>(c[keep].logit - max_logit));
        ++keep;
      }
      if (cum >= target || sorted == c.size()) break;
      want = std::min(c.size(), want * 2);
    }
    c.resize(std::max<size_t>(keep, 1));
  }

  // 5. Min-p: p_i >= min_p * p_max  <=>  logit_i >= max + log(min_p).
  if (config_.min_p > 0.0f) {
    const float max_logit = std::min_element(c.begin(), c.end(), Before)->logit;
    const double threshold = static_cast<double>(max_logit) + std::log(config_.min_p);
    std::erase_if(c, [&](const Cand& x) { return static_cast<double>(x.logit) < threshold; });
  }

  // 6. Temperature and softmax, in draw order.
  std::sort(c.begin(), c.end(), Before);
  const double max_logit = c.front().logit;
  std::vector<TokenProb> out(c.size());
  double z = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const double e = std::exp((static_cast<double>(c[i].logit) - max_logit) /
                              static_cast<double>(config_.temperature));
    out[i] = TokenProb{c[i].id, e};
    z += e;
  }
  for (TokenProb& t : out) t.p /= z;
  return out;
}

absl::StatusOr<TokenId> Sampler::Sample(std::span<const float> logits) {
  SOV_ASSIGN_OR_RETURN(std::vector<TokenProb> dist, Distribution(logits));
  TokenId chosen = dist.back().id;  // if rounding leaves u above the total
  if (dist.size() > 1) {
    const double u = Uniform();
    double cum = 0;
    for (const TokenProb& t : dist) {
      cum += t.p;
      if (u < cum) {
        chosen = t.id;
        break;
      }
    }
  } else {
    chosen = dist.front().id;
  }
  Accept(chosen);
  return chosen;
}

}  // namespace sov
