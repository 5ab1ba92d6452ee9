#include "model/ct2_model_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/whisper_weights.h"

namespace amanuensis::model {
namespace {

// Builds model.bin bytes in CTranslate2's binary format, version 6.
class ModelBinWriter {
 public:
  explicit ModelBinWriter(const std::string& spec) {
    put<std::uint32_t>(6);
    put_string(spec);
    put<std::uint32_t>(3);
  }
  void variables(std::uint32_t count) { put(count); }
  void float_variable(const std::string& name, const std::vector<std::uint32_t>& shape,
                      const std::vector<float>& values) {
    put_string(name);
    put<std::uint8_t>(static_cast<std::uint8_t>(shape.size()));
    for (const auto dim : shape) put(dim);
    put<std::uint8_t>(0);
    put<std::uint32_t>(static_cast<std::uint32_t>(values.size() * 4));
    for (const float v : values) put(v);
  }
  void aliases(const std::vector<std::pair<std::string, std::string>>& pairs) {
    put<std::uint32_t>(static_cast<std::uint32_t>(pairs.size()));
    for (const auto& [alias, target] : pairs) {
      put_string(alias);
      put_string(target);
    }
  }
  [[nodiscard]] const std::string& bytes() const { return bytes_; }

 private:
  template <typename T>
  void put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void put_string(const std::string& text) {
    put<std::uint16_t>(static_cast<std::uint16_t>(text.size() + 1));
    bytes_ += text;
    bytes_ += '\0';
  }
  std::string bytes_;
};

class Ct2ModelFileTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& bytes) {
    const auto path = dir_ / "model.bin";
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string error_of(const std::filesystem::path& path) {
    try {
      (void)Ct2ModelFile::open(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ct2_test_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(Ct2ModelFileTest, ReadsVariablesAndAliases) {
  ModelBinWriter writer("WhisperSpec");
  writer.variables(1);
  writer.float_variable("decoder/embeddings/weight", {2, 3}, {1, 2, 3, 4, 5, 6});
  writer.aliases({{"decoder/projection/weight", "decoder/embeddings/weight"}});
  const auto file = Ct2ModelFile::open(write(writer.bytes()));
  EXPECT_EQ(file.spec_name(), "WhisperSpec");
  EXPECT_EQ(file.spec_revision(), 3U);
  const auto& alias = file.get("decoder/projection/weight");
  EXPECT_EQ(alias.shape, (std::vector<std::int64_t>{2, 3}));
  float last = 0;
  std::memcpy(&last, alias.data.data() + 20, 4);
  EXPECT_EQ(last, 6.0F);
  EXPECT_EQ(file.find("missing"), nullptr);
}

TEST_F(Ct2ModelFileTest, EveryTruncationIsAClearError) {
  ModelBinWriter writer("WhisperSpec");
  writer.variables(1);
  writer.float_variable("encoder/conv1/bias", {4}, {1, 2, 3, 4});
  writer.aliases({});
  const auto& bytes = writer.bytes();
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    const auto message = error_of(write(bytes.substr(0, length)));
    ASSERT_NE(message, "") << "length " << length;
    EXPECT_NE(message.find("model.bin"), std::string::npos) << message;
    if (length == 0) {
      EXPECT_NE(message.find("empty"), std::string::npos) << message;
    } else {
      EXPECT_NE(message.find("truncated"), std::string::npos) << message;
    }
  }
}

TEST_F(Ct2ModelFileTest, RejectsWrongVersionAndGarbage) {
  EXPECT_NE(error_of(write(std::string("\x07\x00\x00\x00", 4) + "junk")).find("version"),
            std::string::npos);
  std::mt19937 random(7);
  for (int i = 0; i < 500; ++i) {
    std::string bytes(random() % 64, '\0');
    for (auto& c : bytes) c = static_cast<char>(random());
    if (i % 2 == 0 && bytes.size() >= 4) bytes.replace(0, 4, std::string("\x06\x00\x00\x00", 4));
    const auto path = write(bytes);
    try {
      (void)Ct2ModelFile::open(path);
    } catch (const Error&) {
      // Any clear error is fine; crashing or another exception type is not.
    }
  }
}

TEST_F(Ct2ModelFileTest, MissingFileAndOtherModelKinds) {
  EXPECT_NE(error_of(dir_ / "nothing.bin").find("not found"), std::string::npos);

  ModelBinWriter writer("TransformerSpec");
  writer.variables(0);
  writer.aliases({});
  write(writer.bytes());
  try {
    (void)load_whisper_weights(dir_);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a Whisper model"), std::string::npos) << e.what();
  }
}

TEST(WhisperWeightsTest, LoadsTinyEnglishWithShapesFromTheWeights) {
  const std::filesystem::path dir = AMANUENSIS_MODELS_DIR "/tiny.en";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "run scripts/setup.sh to install " << dir;
  const auto weights = load_whisper_weights(dir);
  EXPECT_EQ(weights.n_mels, 80);
  EXPECT_EQ(weights.n_state, 384);
  EXPECT_EQ(weights.n_audio_heads, 6);
  EXPECT_EQ(weights.n_vocab, 51864);
  EXPECT_EQ(weights.n_text_ctx, 448);
  EXPECT_EQ(weights.n_audio_ctx, 1500);
  EXPECT_EQ(weights.encoder_layers.size(), 4U);
  EXPECT_EQ(weights.decoder_layers.size(), 4U);
  EXPECT_EQ(weights.config.suppress_ids_begin, (std::vector<int>{220, 50256}));
}

// float32 stays float32 throughout; every compute type that asks for less may use the float16
// cross-attention cache and reduced-precision (int16) encoder attention.
TEST(WhisperWeightsTest, AttentionPrecisionFollowsTheComputeType) {
  using enum AttentionPrecision;
  for (const auto weights : {WeightType::kFloat32, WeightType::kInt8}) {
    EXPECT_EQ(attention_precision_for("float32", weights), kFloat32);
    EXPECT_EQ(attention_precision_for("int8_float32", weights), kFloat32);
    for (const char* reduced : {"int8", "int8_float16", "int8_bfloat16", "float16", "bfloat16"}) {
      EXPECT_EQ(attention_precision_for(reduced, weights), kReduced) << reduced;
    }
  }
  EXPECT_EQ(attention_precision_for("default", WeightType::kFloat32), kFloat32);
  EXPECT_EQ(attention_precision_for("default", WeightType::kInt8), kReduced);
  EXPECT_EQ(attention_precision_for("", WeightType::kFloat32), kFloat32);
}

}  // namespace
}  // namespace amanuensis::model
