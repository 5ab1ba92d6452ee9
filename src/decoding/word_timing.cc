#include "decoding/word_timing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string_view>

#include "model/model_source.h"
#include "util/text.h"

namespace amanuensis::decoding {

namespace {

constexpr double kSecondsPerAudioPosition = 0.02;  // one encoder position: two 10 ms frames
constexpr int kMedianFilterWidth = 7;
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

double round_to_centiseconds(double seconds) { return std::round(seconds * 100.0) / 100.0; }

bool is_ascii_punctuation(const std::string& text) {
  return text.size() == 1 && std::ispunct(static_cast<unsigned char>(text[0])) != 0;
}

using util::strip;

// Text pieces that end on whole UTF-8 characters, with the tokens that spell each.
void split_on_characters(const model::Tokenizer& tokenizer, const std::vector<int>& tokens,
                         std::vector<std::string>& words,
                         std::vector<std::vector<int>>& word_tokens) {
  std::vector<int> current;
  for (const int token : tokens) {
    current.push_back(token);
    const auto text =
        token >= tokenizer.special().end_of_text ? std::string() : tokenizer.decode(current);
    if (text.find(kReplacementCharacter) == std::string::npos) {
      words.push_back(text);
      word_tokens.push_back(current);
      current.clear();
    }
  }
}

// Words as faster-whisper's Tokenizer.split_tokens_on_spaces makes them: a new word starts at a
// space, a punctuation mark or a special token.
void split_on_spaces(const model::Tokenizer& tokenizer, const std::vector<int>& tokens,
                     std::vector<std::string>& words, std::vector<std::vector<int>>& word_tokens) {
  std::vector<std::string> pieces;
  std::vector<std::vector<int>> piece_tokens;
  split_on_characters(tokenizer, tokens, pieces, piece_tokens);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const bool special = piece_tokens[i].front() >= tokenizer.special().end_of_text;
    const bool with_space = !pieces[i].empty() && pieces[i].front() == ' ';
    const bool punctuation = is_ascii_punctuation(strip(pieces[i]));
    if (special || with_space || punctuation || words.empty()) {
      words.push_back(pieces[i]);
      word_tokens.push_back(piece_tokens[i]);
    } else {
      words.back() += pieces[i];
      word_tokens.back().insert(word_tokens.back().end(), piece_tokens[i].begin(),
                                piece_tokens[i].end());
    }
  }
}

// Python's `text in set` for strings: a substring test, true for the empty string (which
// matters: merged-away words are empty and must not stop later punctuation from merging).
bool contains(std::string_view set, const std::string& text) {
  return set.find(text) != std::string_view::npos;
}

// Moves leading punctuation onto the following word and trailing punctuation onto the
// preceding one (faster-whisper's merge_punctuations).
void merge_punctuations(std::vector<TimedWord>& words, std::string_view prepended,
                        std::string_view appended) {
  if (words.size() < 2) return;
  for (auto i = static_cast<std::ptrdiff_t>(words.size()) - 2, j = i + 1; i >= 0; --i) {
    auto& previous = words[i];
    auto& following = words[j];
    if (!previous.word.empty() && previous.word.front() == ' ' &&
        contains(prepended, strip(previous.word))) {
      following.word = previous.word + following.word;
      following.tokens.insert(following.tokens.begin(), previous.tokens.begin(),
                              previous.tokens.end());
      previous.word.clear();
      previous.tokens.clear();
    } else {
      j = i;
    }
  }
  for (std::size_t i = 0, j = 1; j < words.size(); ++j) {
    auto& previous = words[i];
    auto& following = words[j];
    if ((previous.word.empty() || previous.word.back() != ' ') &&
        contains(appended, following.word)) {
      previous.word += following.word;
      previous.tokens.insert(previous.tokens.end(), following.tokens.begin(),
                             following.tokens.end());
      following.word.clear();
      following.tokens.clear();
    } else {
      i = j;
    }
  }
}

// Median over a sliding window of each row, with reflect padding at the ends.
void median_filter_rows(std::vector<float>& data, int rows, int cols, int width) {
  const int pad = width / 2;
  if (cols <= pad) return;
  std::vector<float> padded(cols + 2 * pad);
  std::vector<float> window(width);
  for (int r = 0; r < rows; ++r) {
    float* row = data.data() + static_cast<std::size_t>(r) * cols;
    for (int i = 0; i < cols + 2 * pad; ++i) {
      int source = i - pad;
      if (source < 0) source = -source;
      if (source >= cols) source = 2 * (cols - 1) - source;
      padded[i] = row[source];
    }
    for (int c = 0; c < cols; ++c) {
      std::copy(padded.begin() + c, padded.begin() + c + width, window.begin());
      std::nth_element(window.begin(), window.begin() + pad, window.end());
      row[c] = window[pad];
    }
  }
}

// The cross-attention heads that align text with audio: the model's list, else those of the
// second half of the decoder layers.
std::vector<std::pair<int, int>> alignment_heads(const model::WhisperWeights& weights) {
  if (!weights.config.alignment_heads.empty()) return weights.config.alignment_heads;
  return model::default_alignment_heads(static_cast<int>(weights.decoder_layers.size()),
                                        weights.n_text_heads);
}

// Probability of each text token among the text tokens only (ids below end-of-text), from the
// rows of logits that predict them.
std::vector<float> text_token_probabilities(const std::vector<float>& logits,
                                            const std::vector<int>& text_tokens, int n_vocab,
                                            int end_of_text) {
  const auto n_text = static_cast<int>(text_tokens.size());
  std::vector<float> probabilities(n_text);
  for (int t = 0; t < n_text; ++t) {
    const float* row = logits.data() + static_cast<std::size_t>(t) * n_vocab;
    const float max_logit = *std::max_element(row, row + end_of_text);
    double total = 0.0;
    for (int v = 0; v < end_of_text; ++v)
      total += std::exp(static_cast<double>(row[v] - max_logit));
    probabilities[t] =
        static_cast<float>(std::exp(static_cast<double>(row[text_tokens[t]] - max_logit)) / total);
  }
  return probabilities;
}

// One head's [rows, positions] scores in place: softmax over the window's real frames (each row
// read from `scores` with stride n_audio), then standardised over the rows at each position.
void normalise_head(const float* scores, int rows, int positions, int n_audio, float* head) {
  for (int r = 0; r < rows; ++r) {
    const float* row = scores + static_cast<std::size_t>(r) * n_audio;
    float* out = head + static_cast<std::size_t>(r) * positions;
    const float max_score = *std::max_element(row, row + positions);
    double total = 0.0;
    for (int p = 0; p < positions; ++p) total += std::exp(static_cast<double>(row[p] - max_score));
    for (int p = 0; p < positions; ++p) {
      out[p] = static_cast<float>(std::exp(static_cast<double>(row[p] - max_score)) / total);
    }
  }
  for (int p = 0; p < positions; ++p) {
    double mean = 0.0;
    for (int r = 0; r < rows; ++r) mean += head[static_cast<std::size_t>(r) * positions + p];
    mean /= rows;
    double variance = 0.0;
    for (int r = 0; r < rows; ++r) {
      const double d = head[static_cast<std::size_t>(r) * positions + p] - mean;
      variance += d * d;
    }
    const double deviation = std::sqrt(variance / rows);
    for (int r = 0; r < rows; ++r) {
      auto& v = head[static_cast<std::size_t>(r) * positions + p];
      v = deviation > 0.0 ? static_cast<float>((v - mean) / deviation) : 0.0F;
    }
  }
}

// The captured heads normalised, median-filtered and averaged: [rows, positions].
std::vector<float> averaged_heads(const model::AttentionCapture& capture, int rows, int positions,
                                  int n_audio) {
  const auto n_heads = static_cast<int>(capture.heads.size());
  std::vector<float> averaged(static_cast<std::size_t>(rows) * positions, 0.0F);
  std::vector<float> head(static_cast<std::size_t>(rows) * positions);
  for (int h = 0; h < n_heads; ++h) {
    normalise_head(capture.scores.data() + static_cast<std::size_t>(h) * rows * n_audio, rows,
                   positions, n_audio, head.data());
    median_filter_rows(head, rows, positions, kMedianFilterWidth);
    for (std::size_t i = 0; i < head.size(); ++i)
      averaged[i] += head[i] / static_cast<float>(n_heads);
  }
  return averaged;
}

// Words with the times at which the path moves on to their first token and past their last,
// and the mean probability of their tokens; the last "word" (end-of-text) is left out.
std::vector<TimedWord> words_along_path(const std::vector<std::pair<int, int>>& path,
                                        const std::vector<std::string>& word_texts,
                                        const std::vector<std::vector<int>>& word_tokens,
                                        const std::vector<float>& token_probabilities) {
  std::vector<double> jump_times;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i == 0 || path[i].first != path[i - 1].first) {
      jump_times.push_back(path[i].second * kSecondsPerAudioPosition);
    }
  }
  std::vector<TimedWord> words;
  std::size_t boundary = 0;
  for (std::size_t w = 0; w + 1 < word_tokens.size(); ++w) {
    const std::size_t next = boundary + word_tokens[w].size();
    TimedWord word;
    word.word = word_texts[w];
    word.tokens = word_tokens[w];
    word.start = jump_times.at(boundary);
    word.end = jump_times.at(next);
    double probability = 0.0;
    for (std::size_t t = boundary; t < next; ++t) probability += token_probabilities[t];
    word.probability = static_cast<float>(probability / static_cast<double>(next - boundary));
    words.push_back(std::move(word));
    boundary = next;
  }
  return words;
}

// The per-token probabilities and the alignment of tokens to audio positions for one window.
std::vector<TimedWord> find_alignment(const WordTimingContext& context,
                                      const std::vector<int>& text_tokens, int window_frames) {
  const auto& special = context.tokenizer.special();
  const auto& model = context.decoder.model();
  const auto& weights = model.weights();
  const int positions = window_frames / 2;  // conv2's stride
  if (text_tokens.empty() || positions == 0) return {};

  std::vector<int> input = context.start_sequence;
  input.push_back(special.no_timestamps);
  input.insert(input.end(), text_tokens.begin(), text_tokens.end());
  input.push_back(special.end_of_text);
  const auto rows = static_cast<int>(input.size());
  const auto sot_length = static_cast<int>(context.start_sequence.size());
  const auto n_text = static_cast<int>(text_tokens.size());

  model::AttentionCapture capture;
  capture.heads = alignment_heads(weights);
  auto state = model.start_decoding(context.cross);
  std::vector<int> predicting(n_text);  // rows whose outputs predict each text token
  std::iota(predicting.begin(), predicting.end(), sot_length);
  const auto logits = [&] {
    model::DecodeBatcher::Session session(context.decoder, context.stop);
    return session.decode(state, input, predicting, &capture);
  }();
  const auto token_probabilities =
      text_token_probabilities(logits, text_tokens, weights.n_vocab, special.end_of_text);
  const auto averaged = averaged_heads(capture, rows, positions, weights.n_audio_ctx);

  // Rows from the one predicting the first text token through the one predicting end-of-text.
  const int matrix_rows = n_text + 1;
  std::vector<float> cost(static_cast<std::size_t>(matrix_rows) * positions);
  for (std::size_t i = 0; i < cost.size(); ++i) {
    cost[i] = -averaged[static_cast<std::size_t>(sot_length) * positions + i];
  }
  const auto path = dynamic_time_warping(cost, matrix_rows, positions);

  std::vector<int> tokens_and_end = text_tokens;
  tokens_and_end.push_back(special.end_of_text);
  std::vector<std::string> word_texts;
  std::vector<std::vector<int>> word_tokens;
  if (context.split_on_characters) {
    split_on_characters(context.tokenizer, tokens_and_end, word_texts, word_tokens);
  } else {
    split_on_spaces(context.tokenizer, tokens_and_end, word_texts, word_tokens);
  }
  if (word_tokens.size() <= 1) return {};
  return words_along_path(path, word_texts, word_tokens, token_probabilities);
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2.0;
}

}  // namespace

std::vector<std::pair<int, int>> dynamic_time_warping(const std::vector<float>& cost, int rows,
                                                      int cols) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  const auto width = static_cast<std::size_t>(cols) + 1;
  std::vector<double> total((static_cast<std::size_t>(rows) + 1) * width, kInfinity);
  std::vector<signed char> trace(total.size(), -1);
  total[0] = 0.0;
  for (int j = 1; j <= cols; ++j) {
    for (int i = 1; i <= rows; ++i) {
      const double diagonal = total[(i - 1) * width + j - 1];
      const double up = total[(i - 1) * width + j];
      const double left = total[i * width + j - 1];
      double best = left;
      signed char step = 2;
      if (diagonal < up && diagonal < left) {
        best = diagonal;
        step = 0;
      } else if (up < diagonal && up < left) {
        best = up;
        step = 1;
      }
      total[i * width + j] = cost[static_cast<std::size_t>(i - 1) * cols + j - 1] + best;
      trace[i * width + j] = step;
    }
  }
  for (std::size_t j = 0; j < width; ++j) trace[j] = 2;
  for (int i = 0; i <= rows; ++i) trace[i * width] = 1;
  std::vector<std::pair<int, int>> path;
  int i = rows;
  int j = cols;
  while (i > 0 || j > 0) {
    path.emplace_back(i - 1, j - 1);
    switch (trace[i * width + j]) {
      case 0:
        --i;
        --j;
        break;
      case 1:
        --i;
        break;
      default:
        --j;
        break;
    }
  }
  std::reverse(path.begin(), path.end());
  return path;
}

namespace {

// Keeps words at sentence boundaries from stretching over pauses: a word longer than
// max_duration that ends a sentence, or follows one, is cut to max_duration.
void shorten_sentence_edges(std::vector<TimedWord>& alignment, double max_duration) {
  constexpr std::string_view kSentenceEnds = ".\xE3\x80\x82!\xEF\xBC\x81?\xEF\xBC\x9F";
  for (std::size_t i = 1; i < alignment.size(); ++i) {
    if (alignment[i].end - alignment[i].start <= max_duration) continue;
    if (!alignment[i].word.empty() && contains(kSentenceEnds, alignment[i].word)) {
      alignment[i].end = alignment[i].start + max_duration;
    } else if (!alignment[i - 1].word.empty() && contains(kSentenceEnds, alignment[i - 1].word)) {
      alignment[i].start = alignment[i].end - max_duration;
    }
  }
}

// A segment's first and last words (words not empty) against its own bounds: after a pause the
// first words may not run longer than twice the median word; where an edge word looks too long
// the segment's bound is kept, else the segment takes the word's.
void fit_edges(SegmentDraft& segment, std::vector<TimedWord>& words, double median_duration,
               double max_duration, double last_speech_timestamp) {
  auto& first = words.front();
  if (first.end - last_speech_timestamp > median_duration * 4 &&
      (first.end - first.start > max_duration ||
       (words.size() > 1 && words[1].end - first.start > max_duration * 2))) {
    if (words.size() > 1 && words[1].end - words[1].start > max_duration) {
      const double boundary = std::max(words[1].end / 2, words[1].end - max_duration);
      first.end = words[1].start = boundary;
    }
    first.start = std::max(0.0, first.end - max_duration);
  }
  if (segment.start < first.end && segment.start - 0.5 > first.start) {
    first.start = std::max(0.0, std::min(first.end - median_duration, segment.start));
  } else {
    segment.start = first.start;
  }
  auto& last = words.back();
  if (segment.end > last.start && segment.end + 0.5 < last.end) {
    last.end = std::max(last.start + median_duration, segment.end);
  } else {
    segment.end = last.end;
  }
}

}  // namespace

double add_word_timestamps(const WordTimingContext& context, std::vector<SegmentDraft>& segments,
                           int window_seek, int window_frames, double last_speech_timestamp) {
  if (segments.empty()) return last_speech_timestamp;
  const int end_of_text = context.tokenizer.special().end_of_text;
  std::vector<int> text_tokens;
  std::vector<std::size_t> text_counts;
  for (const auto& segment : segments) {
    std::size_t count = 0;
    for (const int token : segment.tokens) {
      if (token < end_of_text) {
        text_tokens.push_back(token);
        ++count;
      }
    }
    text_counts.push_back(count);
  }
  auto alignment = find_alignment(context, text_tokens, window_frames);

  std::vector<double> durations;
  for (const auto& word : alignment) {
    if (word.end - word.start != 0.0) durations.push_back(word.end - word.start);
  }
  const double median_duration = std::min(0.7, median(durations));
  const double max_duration = median_duration * 2;
  if (!durations.empty()) shorten_sentence_edges(alignment, max_duration);
  merge_punctuations(alignment, context.prepend_punctuations, context.append_punctuations);

  const double time_offset = window_seek * 0.01;
  std::size_t word_index = 0;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    auto& segment = segments[s];
    std::size_t saved_tokens = 0;
    std::vector<TimedWord> words;
    while (word_index < alignment.size() && saved_tokens < text_counts[s]) {
      const auto& timing = alignment[word_index];
      if (!timing.word.empty()) {
        words.push_back({timing.word, timing.tokens,
                         round_to_centiseconds(time_offset + timing.start),
                         round_to_centiseconds(time_offset + timing.end), timing.probability});
      }
      saved_tokens += timing.tokens.size();
      ++word_index;
    }
    if (!words.empty()) {
      fit_edges(segment, words, median_duration, max_duration, last_speech_timestamp);
      last_speech_timestamp = segment.end;
    }
    segment.words = std::move(words);
  }
  return last_speech_timestamp;
}

}  // namespace amanuensis::decoding
