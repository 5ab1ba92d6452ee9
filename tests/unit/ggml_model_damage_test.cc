// A damaged whisper.cpp file is an amanuensis::Error naming the file and the defect, never a
// crash or a huge allocation: a small model (width 32, one layer each side) written as q5_0,
// then cut short at every section's edges, and with each header field made absurd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/ggml_layout.h"
#include "model/ggml_model_source.h"
#include "model/ggml_vocabulary.h"
#include "model/model_writers.h"
#include "model/tensor_values.h"

namespace amanuensis::model {
namespace {

// A Whisper model of tiny sizes with random weights and a made-up vocabulary: the 256 bytes,
// then tokens "t<id>", then whisper.cpp's special tokens.
class FakeSource final : public ModelSource {
 public:
  FakeSource() {
    dims_ = {.n_mels = 80,
             .n_state = 32,
             .n_vocab = 51864,
             .n_audio_ctx = 3,
             .n_text_ctx = 2,
             .n_audio_heads = 2,
             .n_text_heads = 2,
             .n_audio_layers = 1,
             .n_text_layers = 1,
             .n_hidden = 128};
    std::mt19937 random(3);
    std::normal_distribution<float> normal(0.0F, 0.1F);
    for (const auto& spec : ggml_tensor_specs(dims_)) {
      if (variables_.contains(spec.ct2_name)) continue;
      Variable variable{spec.ct2_name, ct2_shape_of(spec), DType::kFloat32, {}};
      auto& values = storage_.emplace_back(static_cast<std::size_t>(variable.element_count()));
      for (auto& v : values) v = normal(random);
      variable.data = std::as_bytes(std::span<const float>(values));
      variables_.emplace(spec.ct2_name, variable);
    }
    for (const auto& [name, heads] :
         {std::pair{"encoder/num_heads", 2}, std::pair{"decoder/num_heads", 2}}) {
      auto& value = ints_.emplace_back(heads);
      variables_.emplace(
          name,
          Variable{
              name, {}, DType::kInt32, std::as_bytes(std::span<const std::int32_t>(&value, 1))});
    }
    for (int b = 0; b < 256; ++b) {
      vocabulary_.tokens.push_back(byte_level_from_bytes(std::string(1, static_cast<char>(b))));
    }
    for (int id = 256; id < whisper_eot(dims_.n_vocab); ++id) {
      std::string token = "t";  // "t" + to_string() trips GCC 12's -Wrestrict
      token += std::to_string(id);
      vocabulary_.tokens.push_back(token);
    }
    for (auto& token : whisper_special_tokens(dims_.n_vocab)) vocabulary_.tokens.push_back(token);
  }

  [[nodiscard]] std::string_view format() const override { return "fake"; }
  [[nodiscard]] const std::filesystem::path& path() const override { return path_; }
  [[nodiscard]] const Variable* find(std::string_view name) const override {
    const auto found = variables_.find(std::string(name));
    return found == variables_.end() ? nullptr : &found->second;
  }
  [[nodiscard]] std::vector<std::string> names() const override { return {}; }
  [[nodiscard]] std::string stored_type() const override { return "float32"; }
  [[nodiscard]] WhisperConfig config() const override { return {}; }
  [[nodiscard]] Vocabulary vocabulary() const override { return vocabulary_; }

 private:
  WhisperDims dims_;
  std::filesystem::path path_ = "fake";
  std::map<std::string, Variable> variables_;
  std::deque<std::vector<float>> storage_;
  std::deque<std::int32_t> ints_;
  Vocabulary vocabulary_;
};

std::int32_t int_at(const std::vector<char>& bytes, std::size_t offset) {
  std::int32_t value = 0;
  std::memcpy(&value, bytes.data() + offset, 4);
  return value;
}

// Where each section and each tensor record of a valid file starts.
struct Sections {
  std::size_t filters = 48;
  std::size_t vocabulary = 0;
  std::vector<std::size_t> tokens;  // a sample of token starts
  std::vector<std::size_t> tensors;
  std::size_t end = 0;
};

Sections sections_of(const std::vector<char>& bytes) {
  Sections s;
  s.vocabulary =
      s.filters + 8 +
      4 * static_cast<std::size_t>(int_at(bytes, 48)) * static_cast<std::size_t>(int_at(bytes, 52));
  std::size_t at = s.vocabulary + 4;
  for (std::int32_t i = 0; i < int_at(bytes, s.vocabulary); ++i) {
    if (i % 10007 == 0) s.tokens.push_back(at);
    at += 4 + static_cast<std::size_t>(int_at(bytes, at));
  }
  const auto hparams_ftype = int_at(bytes, 44) % kGgmlQuantVersionFactor;
  EXPECT_EQ(hparams_ftype, 8);  // q5_0
  while (at < bytes.size()) {
    s.tensors.push_back(at);
    const auto n_dims = static_cast<std::size_t>(int_at(bytes, at));
    const auto name_length = static_cast<std::size_t>(int_at(bytes, at + 4));
    const auto type = ggml_type_from_id(int_at(bytes, at + 8));
    std::size_t count = 1;
    for (std::size_t d = 0; d < n_dims; ++d) {
      count *= static_cast<std::size_t>(int_at(bytes, at + 12 + 4 * d));
    }
    at +=
        12 + 4 * n_dims + name_length + count / ggml_block_values(*type) * ggml_block_bytes(*type);
  }
  s.end = at;
  return s;
}

class GgmlDamage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                        ("amanuensis-ggml-damage-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*folder_);
    write_ggml_model(FakeSource(), *folder_ / "fake.bin", "q5_0");
    std::ifstream stream(*folder_ / "fake.bin", std::ios::binary);
    bytes_ = new std::vector<char>(std::istreambuf_iterator<char>(stream),
                                   std::istreambuf_iterator<char>());
  }
  static void TearDownTestSuite() {
    std::error_code error;
    std::filesystem::remove_all(*folder_, error);
    delete folder_;
    delete bytes_;
  }

  // Opening these bytes must fail with an Error naming the file (and `expected`, if given).
  static void expect_error(const std::vector<char>& bytes, std::size_t size,
                           const std::string& expected, const std::string& what) {
    const auto path = *folder_ / "damaged.bin";
    {
      std::ofstream stream(path, std::ios::binary | std::ios::trunc);
      stream.write(bytes.data(), static_cast<std::streamsize>(size));
    }
    try {
      (void)open_ggml_model(path);
      ADD_FAILURE() << what << ": opened without an error";
    } catch (const Error& error) {
      const std::string message = error.what();
      EXPECT_EQ(message.rfind(path.string() + ": ", 0), 0U) << what << ": " << message;
      EXPECT_NE(message.find(expected), std::string::npos) << what << ": " << message;
    }
  }

  static void expect_field_error(std::size_t offset, std::int32_t value,
                                 const std::string& expected) {
    auto bytes = *bytes_;
    std::memcpy(bytes.data() + offset, &value, 4);
    expect_error(bytes, bytes.size(), expected,
                 "int32 at " + std::to_string(offset) + " = " + std::to_string(value));
  }

  static std::filesystem::path* folder_;
  static std::vector<char>* bytes_;
};

std::filesystem::path* GgmlDamage::folder_ = nullptr;
std::vector<char>* GgmlDamage::bytes_ = nullptr;

TEST_F(GgmlDamage, TheWholeFileOpens) {
  const auto source = open_ggml_model(*folder_ / "fake.bin");
  EXPECT_EQ(source->stored_type(), "q5_0");
  EXPECT_EQ(whisper_dims(*source).n_state, 32);
  EXPECT_EQ(sections_of(*bytes_).end, bytes_->size());
}

TEST_F(GgmlDamage, EveryTruncationIsAnError) {
  const auto s = sections_of(*bytes_);
  std::set<std::size_t> sizes;
  for (std::size_t size = 0; size < 64; ++size) sizes.insert(size);
  for (const auto at : {s.filters + 8, s.filters + 9, s.vocabulary - 1, s.vocabulary,
                        s.vocabulary + 2, s.vocabulary + 4}) {
    sizes.insert(at);
  }
  for (const auto at : s.tokens) sizes.insert({at + 2, at + 4, at + 5});
  for (const auto at : s.tensors) {
    const auto n_dims = static_cast<std::size_t>(int_at(*bytes_, at));
    const auto name_end = at + 12 + 4 * n_dims + static_cast<std::size_t>(int_at(*bytes_, at + 4));
    sizes.insert({at + 3, at + 8, at + 12, at + 13, name_end - 1, name_end, name_end + 1});
  }
  sizes.insert({s.tensors.back(), bytes_->size() - 1});
  for (const auto size : sizes) {
    if (size >= bytes_->size()) continue;
    // Cut exactly between two tensor records, the file is whole but for the missing tensors.
    const bool between = std::find(s.tensors.begin(), s.tensors.end(), size) != s.tensors.end();
    expect_error(*bytes_, size, between ? "is missing" : "truncated",
                 "the first " + std::to_string(size) + " bytes");
  }
}

TEST_F(GgmlDamage, AbsurdHeaderFieldsAreErrors) {
  expect_field_error(0, 0x12345678, "magic");
  expect_field_error(4, -1, "n_vocab is -1");
  expect_field_error(4, 51000, "special tokens");
  expect_field_error(12, 2'000'000, "n_audio_state is 2000000");
  expect_field_error(20, 0, "n_audio_layer is 0");
  expect_field_error(28, 64, "widths differ");
  expect_field_error(16, 3, "head counts");
  expect_field_error(44, 5, "unknown ftype");
  expect_field_error(44, -2, "ftype is -2");
  expect_field_error(48, 1'000'000, "truncated");
  expect_field_error(48, -1, "n_mel");
  const auto s = sections_of(*bytes_);
  expect_field_error(s.vocabulary, 0x7FFFFFFF, "token count");
  expect_field_error(s.vocabulary, 100, "fewer than");
  expect_field_error(s.vocabulary + 4, -5, "length");
  expect_field_error(s.vocabulary + 4, 1 << 30, "length");
  const auto t = s.tensors.front();
  expect_field_error(t, 0, "n_dims");
  expect_field_error(t, 7, "n_dims");
  expect_field_error(t + 4, 1'000'000, "name length");
  expect_field_error(t + 8, 5, "unknown type 5");
  expect_field_error(t + 8, 99, "unknown type 99");
  expect_field_error(t + 12, 7, "has shape");
  expect_field_error(t + 12, -1, "has shape");
}

TEST_F(GgmlDamage, UnknownDuplicateAndExtraTensorsAreErrors) {
  const auto s = sections_of(*bytes_);
  auto renamed = *bytes_;
  const auto name_at =
      s.tensors.front() + 12 + 4 * static_cast<std::size_t>(int_at(renamed, s.tensors.front()));
  renamed[name_at] = 'X';
  expect_error(renamed, renamed.size(), "unknown tensor", "a renamed tensor");

  auto doubled = *bytes_;
  doubled.insert(doubled.end(), bytes_->begin() + static_cast<std::ptrdiff_t>(s.tensors.back()),
                 bytes_->end());
  expect_error(doubled, doubled.size(), "appears twice", "the last tensor twice");

  auto extra = *bytes_;
  extra.insert(extra.end(), {'\1', '\0', '\0'});
  expect_error(extra, extra.size(), "truncated", "three bytes after the last tensor");
}

}  // namespace
}  // namespace amanuensis::model
