// whisper.cpp's ggml model files: tiny.en written and read back (f16 exactly, q8_0 and q5_0 as
// the block round trip gives), the configuration derived for base against its CTranslate2
// config, and every truncation or damaged field of a small file an error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/ggml_blocks.h"
#include "model/ggml_layout.h"
#include "model/ggml_model_source.h"
#include "model/ggml_vocabulary.h"
#include "model/model_source.h"
#include "model/model_writers.h"
#include "model/tensor_values.h"
#include "model/whisper_weights.h"

namespace amanuensis::model {
namespace {

const std::filesystem::path kModels = AMANUENSIS_MODELS_DIR;

class TempFolder {
 public:
  TempFolder()
      : path_(std::filesystem::temp_directory_path() /
              ("amanuensis-ggml-test-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

std::vector<float> block_round_trip(GgmlType type, const std::vector<float>& values) {
  std::vector<std::byte> blocks(values.size() / kGgmlBlockSize * ggml_block_bytes(type));
  quantize_blocks(type, values, blocks);
  std::vector<float> out(values.size());
  dequantize_blocks(type, blocks, out);
  return out;
}

bool is_weight_matrix(const std::string& name, const Variable& variable) {
  return variable.shape.size() == 2 && name.ends_with("/weight");
}

// Reads `file` back and compares it with `source`: every canonical tensor's values (exactly, or
// as the blocks of `type` round-trip the source's), the head counts and the vocabulary.
void expect_same_model(const ModelSource& source, const std::filesystem::path& file,
                       GgmlType type) {
  const auto ggml = open_model_source(file);
  EXPECT_EQ(ggml->format(), "ggml");
  const auto dims = whisper_dims(source);
  for (const auto& name : whisper_tensor_names(dims)) {
    const auto& expected_variable = source.get(name);
    const auto& variable = ggml->get(name);
    ASSERT_EQ(variable.shape, expected_variable.shape) << name;
    auto expected = to_float(source, expected_variable);
    if (is_block_quantized(type) && is_weight_matrix(name, expected_variable)) {
      expected = block_round_trip(type, expected);
    }
    ASSERT_EQ(to_float(*ggml, variable), expected) << name;
  }
  EXPECT_EQ(scalar_int(*ggml, "encoder/num_heads"), dims.n_audio_heads);
  EXPECT_EQ(scalar_int(*ggml, "decoder/num_heads"), dims.n_text_heads);
  auto tokens = source.vocabulary().tokens;
  tokens.resize(static_cast<std::size_t>(dims.n_vocab));
  // whisper.cpp names the languages as openai-whisper does: Hebrew is <|he|>, where older
  // English-only vocabularies (tiny.en's) have <|iw|>, at the same id.
  std::replace(tokens.begin(), tokens.end(), std::string("<|iw|>"), std::string("<|he|>"));
  EXPECT_EQ(ggml->vocabulary().tokens, tokens);
}

TEST(GgmlModel, TinyEnglishF16ReadsBackExactly) {
  if (!std::filesystem::exists(kModels / "tiny.en")) GTEST_SKIP() << "no tiny.en";
  const auto source = open_model_source(kModels / "tiny.en");
  const TempFolder temp;
  write_ggml_model(*source, temp / "tiny.en-f16.bin", "f16");
  expect_same_model(*source, temp / "tiny.en-f16.bin", GgmlType::kF16);

  const auto ggml = open_model_source(temp / "tiny.en-f16.bin");
  EXPECT_EQ(ggml->stored_type(), "float16");
  const auto expected = source->config();
  const auto config = ggml->config();
  EXPECT_EQ(config.suppress_ids, expected.suppress_ids);
  EXPECT_EQ(config.suppress_ids_begin, expected.suppress_ids_begin);
  EXPECT_EQ(config.alignment_heads, expected.alignment_heads);
  // The language tokens <|en|> ... <|su|> (CTranslate2's converter lists them from 50259 for
  // the English-only models, one too far: <|en|> is 50258 there).
  ASSERT_EQ(config.lang_ids.size(), 99U);
  EXPECT_EQ(config.lang_ids.front(), 50258);
  EXPECT_EQ(config.lang_ids.back(), 50356);
}

TEST(GgmlModel, TinyEnglishQuantizedReadsBackAsTheBlocksRoundTrip) {
  if (!std::filesystem::exists(kModels / "tiny.en")) GTEST_SKIP() << "no tiny.en";
  const auto source = open_model_source(kModels / "tiny.en");
  const TempFolder temp;
  for (const auto type : {GgmlType::kQ8_0, GgmlType::kQ5_0}) {
    const auto name = std::string(ggml_type_name(type));
    write_ggml_model(*source, temp / (name + ".bin"), name);
    expect_same_model(*source, temp / (name + ".bin"), type);
    const auto ggml = open_model_source(temp / (name + ".bin"));
    EXPECT_EQ(ggml->stored_type(), name);
    // And close to the source: relative RMS error of a weight matrix.
    const auto& original = source->get("decoder/layer_0/ffn/linear_0/weight");
    const auto a = to_float(*source, original);
    const auto b = to_float(*ggml, ggml->get(original.name));
    double error = 0.0;
    double norm = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      error += (a[i] - b[i]) * (a[i] - b[i]);
      norm += a[i] * a[i];
    }
    EXPECT_LT(std::sqrt(error / norm), type == GgmlType::kQ8_0 ? 0.01 : 0.05) << name;
  }
}

// Quantized weights go to the int8 kernels as stored: the levels and block scales of q8_0, q5_0
// and q4_0 (block_int8, exactly the values find() widens them to) become block-mode int8
// matrices, with no second rounding; q4_1's (levels with an offset) are rounded to 8-bit levels
// of each block, within half a level of the values.
TEST(GgmlModel, SignedBlocksLoadAsBlockScaledInt8) {
  if (!std::filesystem::exists(kModels / "tiny.en")) GTEST_SKIP() << "no tiny.en";
  const auto source = open_model_source(kModels / "tiny.en");
  const TempFolder temp;
  for (const auto type : {GgmlType::kQ8_0, GgmlType::kQ5_0, GgmlType::kQ4_0, GgmlType::kQ4_1}) {
    const auto name = std::string(ggml_type_name(type));
    SCOPED_TRACE(name);
    write_ggml_model(*source, temp / (name + ".bin"), name);
    const auto ggml = open_model_source(temp / (name + ".bin"));
    const std::string fused = "encoder/layer_1/self_attention/linear_0/weight";
    const auto blocks = ggml->block_int8(fused);
    EXPECT_FALSE(ggml->block_int8("encoder/layer_1/self_attention/linear_0/bias"));
    ASSERT_TRUE(blocks);
    const auto values = to_float(*ggml, ggml->get(fused));
    ASSERT_EQ(blocks->levels.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      const float scale = blocks->scales[i / kGgmlBlockSize];
      const float value = static_cast<float>(blocks->levels[i]) * scale;
      if (type == GgmlType::kQ4_1) {
        ASSERT_LE(std::fabs(value - values[i]), 0.5F * scale * 1.0001F) << i;
      } else {
        ASSERT_EQ(value, values[i]) << i;
      }
    }
    const auto weights = load_whisper_weights(*ggml, WeightType::kInt8);
    const auto& matrix = weights.encoder_layers[1].attention.query_key_value.int8;
    ASSERT_TRUE(matrix.blocked());
    std::vector<float> row(static_cast<std::size_t>(matrix.cols));
    for (int r = 0; r < matrix.rows; r += 97) {
      matrix.dequantize_row(r, row.data());
      for (int c = 0; c < matrix.cols; ++c) {
        const auto i = static_cast<std::size_t>(r) * matrix.cols + c;
        ASSERT_EQ(row[c],
                  static_cast<float>(blocks->levels[i]) * blocks->scales[i / kGgmlBlockSize])
            << r << " " << c;
      }
    }
    EXPECT_TRUE(weights.decoder_layers[0].feed_forward.up.int8.blocked());
  }
}

// base is multilingual (eot 50257, <|nospeech|>): the vocabulary whisper.cpp's numbering gives
// and the configuration derived from it equal CTranslate2's files.
TEST(GgmlModel, BaseVocabularyAndConfigEqualCTranslate2s) {
  if (!std::filesystem::exists(kModels / "base")) GTEST_SKIP() << "no base";
  const auto source = open_model_source(kModels / "base");
  const auto vocabulary = source->vocabulary();
  const auto dims = whisper_dims(*source);
  const int eot = whisper_eot(dims.n_vocab);
  ASSERT_EQ(eot, 50257);
  std::vector<std::string> tokens;
  for (int id = 0; id < eot; ++id) {
    const auto bytes = bytes_from_byte_level(vocabulary.tokens[static_cast<std::size_t>(id)]);
    ASSERT_TRUE(bytes.has_value()) << id;
    tokens.push_back(byte_level_from_bytes(*bytes));
  }
  for (auto& token : whisper_special_tokens(dims.n_vocab)) tokens.push_back(token);
  EXPECT_EQ(tokens, vocabulary.tokens);

  const auto config = derived_whisper_config({tokens, {}, "base"}, dims);
  const auto expected = source->config();
  EXPECT_EQ(config.suppress_ids, expected.suppress_ids);
  EXPECT_EQ(config.suppress_ids_begin, expected.suppress_ids_begin);
  EXPECT_EQ(config.lang_ids, expected.lang_ids);
  EXPECT_EQ(config.alignment_heads, expected.alignment_heads);
}

TEST(GgmlModel, SpecialTokensFollowWhisperCppsNumbering) {
  EXPECT_EQ(whisper_special_tokens(51864).size(), 51864U - 50256U);
  EXPECT_EQ(whisper_special_tokens(51864)[1 + 1], "<|en|>");
  EXPECT_EQ(whisper_special_tokens(51864)[1 + 1 + 99 + 4], "<|nocaptions|>");
  const auto v3 = whisper_special_tokens(51866);
  EXPECT_EQ(v3[1 + 1 + 99], "<|yue|>");
  EXPECT_EQ(v3[1 + 1 + 100 + 4], "<|nospeech|>");
  EXPECT_EQ(v3.back(), "<|30.00|>");
  EXPECT_TRUE(whisper_special_tokens(51000).empty());
  EXPECT_TRUE(whisper_special_tokens(60000).empty());
}

}  // namespace
}  // namespace amanuensis::model
