// whisper.cpp's ggml model file (ggml_layout.h), from any ModelSource.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "features/log_mel.h"
#include "model/ggml_layout.h"
#include "model/ggml_model_source.h"
#include "model/ggml_vocabulary.h"
#include "model/model_writers.h"
#include "model/model_writing.h"
#include "model/tensor_values.h"

namespace amanuensis::model {

namespace {

constexpr std::int32_t kFftBins = 201;  // n_fft 400 / 2 + 1

GgmlType weight_type(std::string_view type) {
  const auto parsed = ggml_type_from_name(type);
  if (!parsed) {
    throw Error("unknown ggml weight type \"" + std::string(type) +
                "\" (expected f32, f16, q8_0, q5_0, q5_1, q4_0 or q4_1)");
  }
  return *parsed;
}

// <|xx|> or <|xxx|>: a language code.
bool is_language_token(const std::string& token) {
  return (token.size() == 6 || token.size() == 7) && token.starts_with("<|") &&
         token.ends_with("|>") && std::all_of(token.begin() + 2, token.end() - 2, [](char c) {
           return c >= 'a' && c <= 'z';
         });
}

// whisper.cpp assumes what CTranslate2's layout leaves open: feed-forward layers 4 x the width,
// and the special tokens numbered as it numbers them.
void check_whisper_cpp_can_load(const ModelSource& source, const WhisperDims& dims,
                                const std::vector<std::string>& tokens) {
  const auto where = source.path().string() + ": cannot be written for whisper.cpp: ";
  if (dims.n_hidden != 4 * dims.n_state) {
    throw Error(where + "its feed-forward width " + std::to_string(dims.n_hidden) +
                " is not 4 x its width " + std::to_string(dims.n_state));
  }
  const auto specials = whisper_special_tokens(dims.n_vocab);
  if (specials.empty()) {
    throw Error(where + "n_vocab " + std::to_string(dims.n_vocab) +
                " does not have Whisper's special tokens");
  }
  const auto eot = static_cast<std::size_t>(whisper_eot(dims.n_vocab));
  if (tokens.size() < eot || tokens.size() > static_cast<std::size_t>(dims.n_vocab)) {
    throw Error(where + "its vocabulary has " + std::to_string(tokens.size()) +
                " tokens for an embedding of " + std::to_string(dims.n_vocab));
  }
  for (std::size_t id = eot; id < tokens.size(); ++id) {
    // Language tokens may be spelled otherwise (older English-only vocabularies have <|iw|>
    // for Hebrew's <|he|>); whisper.cpp goes by their ids.
    const bool languages = is_language_token(tokens[id]) && is_language_token(specials[id - eot]);
    if (tokens[id] != specials[id - eot] && !languages) {
      throw Error(where + "token " + std::to_string(id) + " is " + tokens[id] +
                  " where whisper.cpp numbers " + specials[id - eot]);
    }
  }
}

// The ordinary tokens (those before <|endoftext|>) as raw bytes.
std::vector<std::string> ordinary_token_bytes(const ModelSource& source,
                                              const std::vector<std::string>& tokens, int eot) {
  std::vector<std::string> raw;
  raw.reserve(static_cast<std::size_t>(eot));
  for (int id = 0; id < eot; ++id) {
    auto bytes = bytes_from_byte_level(tokens[static_cast<std::size_t>(id)]);
    if (!bytes) {
      throw Error(source.path().string() + ": token " + std::to_string(id) +
                  " is not spelled as byte-level BPE");
    }
    raw.push_back(std::move(*bytes));
  }
  return raw;
}

void write_header(BinaryFile& out, const GgmlHparams& h) {
  out.value(kGgmlMagic);
  for (const std::int32_t value :
       {h.n_vocab, h.n_audio_ctx, h.n_audio_state, h.n_audio_head, h.n_audio_layer, h.n_text_ctx,
        h.n_text_state, h.n_text_head, h.n_text_layer, h.n_mels, h.ftype}) {
    out.value(value);
  }
}

void write_mel_filters(BinaryFile& out, int n_mels) {
  const auto filters = features::mel_filters(n_mels);
  out.value(static_cast<std::int32_t>(n_mels));
  out.value(kFftBins);
  out.bytes(filters.data(), filters.size() * sizeof(float));
}

void write_vocabulary(BinaryFile& out, const std::vector<std::string>& raw_tokens) {
  out.value(static_cast<std::int32_t>(raw_tokens.size()));
  for (const auto& token : raw_tokens) {
    out.value(static_cast<std::int32_t>(token.size()));
    out.bytes(token.data(), token.size());
  }
}

void write_tensor(BinaryFile& out, const GgmlTensorSpec& spec, GgmlType type,
                  std::span<const float> values) {
  out.value(static_cast<std::int32_t>(spec.shape.size()));
  out.value(static_cast<std::int32_t>(spec.name.size()));
  out.value(static_cast<std::int32_t>(type));
  for (auto i = spec.shape.size(); i-- > 0;) out.value(static_cast<std::int32_t>(spec.shape[i]));
  out.bytes(spec.name.data(), spec.name.size());
  if (type == GgmlType::kF32) {
    out.bytes(values.data(), values.size_bytes());
  } else if (type == GgmlType::kF16) {
    std::vector<std::uint16_t> halves(values.size());
    std::transform(values.begin(), values.end(), halves.begin(), float_to_half);
    out.bytes(halves.data(), halves.size() * 2);
  } else {
    std::vector<std::byte> blocks(values.size() / kGgmlBlockSize * ggml_block_bytes(type));
    quantize_blocks(type, values, blocks);
    out.bytes(blocks.data(), blocks.size());
  }
}

// The float32 values of the spec's rows of its CTranslate2 tensor.
std::span<const float> spec_values(const ModelSource& source, WidenedTensor& widened,
                                   const GgmlTensorSpec& spec) {
  if (source.get(spec.ct2_name).shape != ct2_shape_of(spec)) {
    throw Error(source.path().string() + ": tensor " + spec.ct2_name +
                " does not have Whisper's shape");
  }
  const auto values = widened.of(spec.ct2_name);
  const auto part = values.size() / static_cast<std::size_t>(spec.parts);
  return values.subspan(static_cast<std::size_t>(spec.part) * part, part);
}

}  // namespace

void write_ggml_model(const ModelSource& source, const std::filesystem::path& file,
                      std::string_view type) {
  const auto weights = weight_type(type);
  const auto dims = whisper_dims(source);
  const auto vocabulary = source.vocabulary();
  check_whisper_cpp_can_load(source, dims, vocabulary.tokens);
  const auto raw_tokens =
      ordinary_token_bytes(source, vocabulary.tokens, whisper_eot(dims.n_vocab));
  const auto ftype =
      ggml_ftype_for(weights) +
      (is_block_quantized(weights) ? kGgmlQuantVersion * kGgmlQuantVersionFactor : 0);

  PendingOutput output(file);
  BinaryFile out(output.path());
  write_header(out, hparams_for(dims, ftype));
  write_mel_filters(out, dims.n_mels);
  write_vocabulary(out, raw_tokens);
  WidenedTensor widened(source);
  for (const auto& spec : ggml_tensor_specs(dims)) {
    write_tensor(out, spec, stored_tensor_type(spec, weights), spec_values(source, widened, spec));
  }
  out.close();
  output.commit();
}

}  // namespace amanuensis::model
