// Whisper's languages: ISO-639-1 codes (and its few three-letter ones) with openai-whisper's
// English names, in token order (openai-whisper's tokenizer.LANGUAGES; large-v3 added yue). The
// n-th language's token is <|code|>, the n-th after <|startoftranscript|>.
#pragma once

#include <span>
#include <string_view>

namespace amanuensis::util {

struct WhisperLanguage {
  std::string_view code;
  std::string_view name;  // lower case, as openai-whisper spells it ("haitian creole")
};

std::span<const WhisperLanguage> whisper_languages();

}  // namespace amanuensis::util
