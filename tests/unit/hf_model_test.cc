// The Hugging Face side of the model formats: the safetensors reader on good and damaged bytes,
// the HF writer and reader against the CTranslate2 folder they came from, and the BPE merges
// derived from token ranks (what a ggml model, which stores none, gets in its tokenizer.json).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/model_source.h"
#include "model/model_writers.h"
#include "model/model_writing.h"
#include "model/safetensors_file.h"
#include "model/tensor_values.h"
#include "model/tokenizer.h"
#include "model/vocabulary_files.h"

namespace amanuensis::model {
namespace {

const std::filesystem::path kModels = AMANUENSIS_MODELS_DIR;

class HfModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hf_model_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& name, const std::string& bytes) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // A safetensors file with an F16 [2] and an F32 [1, 1] tensor.
  static std::string small_safetensors() {
    std::string header =
        R"({"__metadata__":{"format":"pt"},"a.weight":{"dtype":"F16","shape":[2],)"
        R"("data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}})";
    header.resize((header.size() + 7) / 8 * 8, ' ');
    std::string bytes(8, '\0');
    const std::uint64_t size = header.size();
    std::memcpy(bytes.data(), &size, sizeof size);
    bytes += header;
    const std::uint16_t halves[] = {0x3C00, 0x4000};  // 1, 2
    const float one = 1.0F;
    bytes.append(reinterpret_cast<const char*>(halves), sizeof halves);
    bytes.append(reinterpret_cast<const char*>(&one), sizeof one);
    return bytes;
  }

  std::filesystem::path dir_;
};

TEST_F(HfModelTest, ReadsSafetensors) {
  const auto file = SafetensorsFile::open(write("ok.safetensors", small_safetensors()));
  ASSERT_EQ(file.tensors().size(), 2U);
  const auto* a = file.find("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kFloat16);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2}));
  std::uint16_t second = 0;
  std::memcpy(&second, a->data.data() + 2, 2);
  EXPECT_EQ(half_to_float(second), 2.0F);
  EXPECT_EQ(file.find("b")->shape, (std::vector<std::int64_t>{1, 1}));
}

TEST_F(HfModelTest, EveryTruncationAndDamageIsAClearError) {
  const auto bytes = small_safetensors();
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    const auto path = write("cut.safetensors", bytes.substr(0, length));
    try {
      (void)SafetensorsFile::open(path);
      FAIL() << "a file cut at " << length << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path.string(), 0), 0U) << e.what();
    }
  }
  const std::vector<std::pair<std::string, std::string>> damages = {
      {R"("F16")", R"("F64")"},               // a type we do not read
      {R"([0,4])", R"([0,6])"},               // bytes that do not fit the shape
      {R"([4,8])", R"([2,6])"},               // overlapping tensors
      {R"("shape":[2])", R"("shape":[-2])"},  // a negative dimension
  };
  for (const auto& [from, to] : damages) {
    auto damaged = bytes;
    const auto at = damaged.find(from);
    ASSERT_NE(at, std::string::npos);
    damaged.replace(at, from.size(), to);
    damaged.resize(bytes.size());  // keep the header length right: pad or cut the data
    const auto path = write("damaged.safetensors", damaged);
    EXPECT_THROW((void)SafetensorsFile::open(path), Error) << to;
  }
}

TEST_F(HfModelTest, WrittenFolderReadsBackAsTheSource) {
  if (!std::filesystem::exists(kModels / "tiny.en" / "model.bin")) {
    GTEST_SKIP() << "run scripts/setup.sh first";
  }
  const auto ct2 = open_model_source(kModels / "tiny.en");
  write_hf_model(*ct2, dir_ / "hf", "float16");
  const auto hf = open_model_source(dir_ / "hf");
  EXPECT_EQ(hf->format(), "hf");
  EXPECT_EQ(hf->stored_type(), "float16");
  const auto dims = whisper_dims(*ct2);
  for (const auto& name : whisper_tensor_names(dims)) {
    const auto& a = ct2->get(name);
    const auto& b = hf->get(name);
    EXPECT_EQ(a.shape, b.shape) << name;
    EXPECT_EQ(to_float(*ct2, a), to_float(*hf, b)) << name;
  }
  EXPECT_EQ(scalar_int(*hf, "encoder/num_heads"), dims.n_audio_heads);
  const auto config_a = ct2->config();
  const auto config_b = hf->config();
  EXPECT_EQ(config_a.suppress_ids, config_b.suppress_ids);
  EXPECT_EQ(config_a.suppress_ids_begin, config_b.suppress_ids_begin);
  EXPECT_EQ(config_a.lang_ids, config_b.lang_ids);
  EXPECT_EQ(config_a.alignment_heads, config_b.alignment_heads);
  EXPECT_EQ(ct2->vocabulary().tokens, hf->vocabulary().tokens);
  EXPECT_EQ(ct2->vocabulary().merges, hf->vocabulary().merges);
}

TEST_F(HfModelTest, AFailedWriteLeavesNothingBehind) {
  if (!std::filesystem::exists(kModels / "tiny.en" / "model.bin")) {
    GTEST_SKIP() << "run scripts/setup.sh first";
  }
  const auto ct2 = open_model_source(kModels / "tiny.en");
  EXPECT_THROW(write_hf_model(*ct2, "/proc/not-writable/hf", "float16"), Error);
  EXPECT_FALSE(std::filesystem::exists("/proc/not-writable/hf"));
}

// Whisper's vocabularies come from tiktoken, where a token's id is its merge rank: the merges
// derived from the ids are the very list tokenizer.json holds.
TEST(TokenRanks, DerivedMergesEqualTokenizerJsons) {
  for (const char* name : {"tiny.en", "base"}) {
    const auto dir = kModels / name;
    if (!std::filesystem::exists(dir / "tokenizer.json")) GTEST_SKIP() << "no " << name;
    const auto vocabulary = open_model_source(dir)->vocabulary();
    const auto derived = Tokenizer(vocabulary.tokens, vocabulary.source).merges_by_rank();
    ASSERT_EQ(derived.size(), vocabulary.merges.size()) << name;
    EXPECT_EQ(derived, vocabulary.merges) << name;
  }
}

}  // namespace
}  // namespace amanuensis::model
