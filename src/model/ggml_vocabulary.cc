#include "model/ggml_vocabulary.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "model/tokenizer.h"
#include "model/vocabulary_files.h"
#include "util/languages.h"

namespace amanuensis::model {

namespace {

constexpr int kTimestamps = 1501;  // <|0.00|> ... <|30.00|>
constexpr int kMultilingualVocab = 51865;

// Alignment heads (layer, head) of openai-whisper's models, for the sizes that name one model:
// decoder layers, width, English-only, vocabulary size (0: any).
struct AlignmentPreset {
  int layers;
  int width;
  bool english;
  int n_vocab;
  std::vector<std::pair<int, int>> heads;
};

const std::vector<AlignmentPreset>& alignment_presets() {
  static const std::vector<AlignmentPreset> presets = {
      {4, 384, true, 0, {{1, 0}, {2, 0}, {2, 5}, {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}}},
      {4, 384, false, 0, {{2, 2}, {3, 0}, {3, 2}, {3, 3}, {3, 4}, {3, 5}}},
      {6, 512, true, 0, {{3, 3}, {4, 7}, {5, 1}, {5, 5}, {5, 7}}},
      {6, 512, false, 0, {{3, 1}, {4, 2}, {4, 3}, {4, 7}, {5, 1}, {5, 2}, {5, 4}, {5, 6}}},
      {12,
       768,
       true,
       0,
       {{6, 6},
        {7, 0},
        {7, 3},
        {7, 8},
        {8, 2},
        {8, 5},
        {8, 7},
        {9, 0},
        {9, 4},
        {9, 8},
        {9, 10},
        {10, 0},
        {10, 1},
        {10, 2},
        {10, 3},
        {10, 6},
        {10, 11},
        {11, 2},
        {11, 4}}},
      {12,
       768,
       false,
       0,
       {{5, 3}, {5, 9}, {8, 0}, {8, 4}, {8, 7}, {8, 8}, {9, 0}, {9, 7}, {9, 9}, {10, 5}}},
      {24,
       1024,
       true,
       0,
       {{11, 4},
        {14, 1},
        {14, 12},
        {14, 14},
        {15, 4},
        {16, 0},
        {16, 4},
        {16, 9},
        {17, 12},
        {17, 14},
        {18, 7},
        {18, 10},
        {18, 15},
        {20, 0},
        {20, 3},
        {20, 9},
        {20, 14},
        {21, 12}}},
      {24, 1024, false, 0, {{13, 15}, {15, 4}, {15, 15}, {16, 1}, {20, 0}, {23, 4}}},
      {32,
       1280,
       false,
       51866,
       {{7, 0},
        {10, 17},
        {12, 18},
        {13, 12},
        {16, 1},
        {17, 14},
        {19, 11},
        {21, 4},
        {24, 1},
        {25, 6}}},
  };
  return presets;
}

std::vector<std::pair<int, int>> alignment_heads(const WhisperDims& dims) {
  const bool english = dims.n_vocab < kMultilingualVocab;
  for (const auto& preset : alignment_presets()) {
    if (preset.layers == dims.n_text_layers && preset.width == dims.n_state &&
        preset.english == english && (preset.n_vocab == 0 || preset.n_vocab == dims.n_vocab)) {
      return preset.heads;
    }
  }
  return default_alignment_heads(dims.n_text_layers, dims.n_text_heads);
}

// openai-whisper's Tokenizer.non_speech_tokens: symbols that are one token, with or without a
// leading space, and the first token of the musical symbols.
std::set<int> non_speech_tokens(const Tokenizer& tokenizer) {
  std::vector<std::string> symbols;
  for (const std::string_view symbol :
       {"\"",  "#",  "(",  ")",   "*",   "+",   "/",   ":",  ";",   "<",  "=",  ">",
        "@",   "[",  "\\", "]",   "^",   "_",   "`",   "{",  "|",   "}",  "~",  "「",
        "」",  "『", "』", "<<",  ">>",  "<<<", ">>>", "--", "---", "-(", "-[", "('",
        "(\"", "((", "))", "(((", ")))", "[[",  "]]",  "{{", "}}",  "♪♪", "♪♪♪"}) {
    symbols.emplace_back(symbol);
  }
  const std::vector<std::string> miscellaneous = {"♩", "♪", "♫", "♬", "♭", "♮", "♯"};
  std::set<int> result;
  for (const std::string_view lead : {" -", " '"}) {
    const auto tokens = tokenizer.encode(lead);
    if (!tokens.empty()) result.insert(tokens.front());
  }
  const auto add = [&](const std::string& symbol, bool any_length) {
    for (const auto& text : {symbol, " " + symbol}) {
      const auto tokens = tokenizer.encode(text);
      if (tokens.size() == 1 || (any_length && !tokens.empty())) result.insert(tokens.front());
    }
  };
  for (const auto& symbol : symbols) add(symbol, false);
  for (const auto& symbol : miscellaneous) add(symbol, true);
  return result;
}

}  // namespace

int whisper_eot(int n_vocab) { return n_vocab >= kMultilingualVocab ? 50257 : 50256; }

std::vector<std::string> whisper_special_tokens(int n_vocab) {
  const int eot = whisper_eot(n_vocab);
  const int languages = n_vocab - eot - 1 - 6 - kTimestamps - 1;
  const auto known = util::whisper_languages();
  if (languages < 0 || languages > static_cast<int>(known.size())) return {};
  std::vector<std::string> tokens = {"<|endoftext|>", "<|startoftranscript|>"};
  for (int i = 0; i < languages; ++i) {
    tokens.push_back("<|" + std::string(known[static_cast<std::size_t>(i)].code) + "|>");
  }
  for (const char* token :
       {"<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>"}) {
    tokens.emplace_back(token);
  }
  tokens.emplace_back(n_vocab < kMultilingualVocab ? "<|nocaptions|>" : "<|nospeech|>");
  tokens.emplace_back("<|notimestamps|>");
  complete_with_timestamps(tokens, tokens.size() + kTimestamps);
  return tokens;
}

WhisperConfig derived_whisper_config(const Vocabulary& vocabulary, const WhisperDims& dims) {
  const Tokenizer tokenizer(vocabulary.tokens, vocabulary.source, vocabulary.merges);
  const auto& special = tokenizer.special();
  auto suppress = non_speech_tokens(tokenizer);
  for (const int id : {special.translate, special.transcribe, special.start_of_transcript,
                       special.start_of_prev, special.start_of_lm, special.no_speech}) {
    suppress.insert(id);
  }
  WhisperConfig config;
  config.suppress_ids.assign(suppress.begin(), suppress.end());
  const auto space = tokenizer.encode(" ");
  if (space.size() == 1) config.suppress_ids_begin.push_back(space.front());
  config.suppress_ids_begin.push_back(special.end_of_text);
  for (const auto& language : util::whisper_languages()) {
    if (const auto id = tokenizer.language_token(language.code)) config.lang_ids.push_back(*id);
  }
  std::sort(config.lang_ids.begin(), config.lang_ids.end());
  config.alignment_heads = alignment_heads(dims);
  return config;
}

}  // namespace amanuensis::model
