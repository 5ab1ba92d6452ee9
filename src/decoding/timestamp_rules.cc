#include "decoding/timestamp_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/vector_ops.h"

namespace amanuensis::decoding {

namespace {

constexpr float kForbidden = -std::numeric_limits<float>::infinity();

void forbid(std::span<float> logits, int first, int last_exclusive) {
  if (first < last_exclusive)
    std::fill(logits.begin() + first, logits.begin() + last_exclusive, kForbidden);
}

// True when the total probability of all timestamps beats the likeliest single text token;
// Whisper then forces a timestamp so that segments close when the model expects them to.
bool timestamps_are_likelier(std::span<const float> logits, int timestamp_begin) {
  const float max_logit = kernels::max_value(logits.data(), logits.size());
  if (max_logit == kForbidden) return false;
  const auto begin = static_cast<std::size_t>(timestamp_begin);
  const double text_total = kernels::sum_exp(logits.data(), begin, max_logit);
  const double timestamp_total =
      kernels::sum_exp(logits.data() + begin, logits.size() - begin, max_logit);
  const double log_total = std::log(text_total + timestamp_total);
  const float max_text = kernels::max_value(logits.data(), begin);
  if (timestamp_total == 0.0) return false;
  const double timestamp_log_prob = std::log(timestamp_total) - log_total;
  const double max_text_log_prob = static_cast<double>(max_text - max_logit) - log_total;
  return timestamp_log_prob > max_text_log_prob;
}

}  // namespace

void TimestampRules::apply(std::span<const int> sampled, std::span<float> logits) const {
  const int timestamps_end = timestamp_end + 1;
  logits[no_timestamps] = kForbidden;

  if (sampled.empty()) {
    // A window opens with a timestamp, and not a late one.
    forbid(logits, 0, timestamp_begin);
    forbid(logits, max_initial_timestamp + 1, timestamps_end);
    return;
  }

  const int last = sampled.back();
  if (last >= timestamp_begin) {
    const int penultimate = sampled.size() >= 2 ? sampled[sampled.size() - 2] : last;
    if (penultimate >= timestamp_begin) {
      // A pair just closed: text (or the end) must follow.
      forbid(logits, timestamp_begin, timestamps_end);
      return;
    }
    // An opening timestamp must be closed by one not earlier than it, or end the text.
    forbid(logits, 0, end_of_text);
    forbid(logits, timestamp_begin, last);
  } else {
    // Timestamps never go back: forbid any at or before the last one.
    // Reverse order; std::views::reverse would do, but clang 14 (clang-tidy) cannot compile
    // libstdc++ 12's <ranges>.
    // NOLINTNEXTLINE(modernize-loop-convert): a reverse loop, see above
    for (auto it = sampled.rbegin(); it != sampled.rend(); ++it) {
      if (*it >= timestamp_begin) {
        forbid(logits, timestamp_begin, *it + 1);
        break;
      }
    }
  }
  if (timestamps_are_likelier(logits, timestamp_begin)) forbid(logits, 0, timestamp_begin);
}

}  // namespace amanuensis::decoding
