#include "model/ggml_model_source.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "amanuensis/amanuensis.h"
#include "model/byte_reader.h"
#include "model/ggml_layout.h"
#include "model/ggml_vocabulary.h"
#include "model/tensor_table.h"
#include "util/mapped_file.h"

namespace amanuensis::model {

namespace {

// Sizes beyond these are a damaged file, not a model: refused before anything is allocated.
constexpr std::int32_t kMaxHparam = 1'000'000;
constexpr std::int32_t kMaxTokenBytes = 1 << 16;
constexpr std::int32_t kMaxNameLength = 256;
constexpr std::int32_t kMaxDims = 4;

// An int32 of the file that must lie in [low, high].
std::int32_t read_count(ByteReader& reader, std::string_view what, std::int32_t low,
                        std::int32_t high) {
  const auto value = reader.read<std::int32_t>(what);
  if (value < low || value > high) {
    reader.fail(std::string(what) + " is " + std::to_string(value) + ", outside [" +
                std::to_string(low) + ", " + std::to_string(high) + "]");
  }
  return value;
}

// A tensor as the file stores it.
struct StoredTensor {
  GgmlType type = GgmlType::kF32;
  std::span<const std::byte> data;
};

GgmlHparams read_hparams(ByteReader& reader) {
  GgmlHparams h;
  const auto size = [&](const char* name) { return read_count(reader, name, 1, kMaxHparam); };
  h.n_vocab = size("n_vocab");
  h.n_audio_ctx = size("n_audio_ctx");
  h.n_audio_state = size("n_audio_state");
  h.n_audio_head = size("n_audio_head");
  h.n_audio_layer = size("n_audio_layer");
  h.n_text_ctx = size("n_text_ctx");
  h.n_text_state = size("n_text_state");
  h.n_text_head = size("n_text_head");
  h.n_text_layer = size("n_text_layer");
  h.n_mels = size("n_mels");
  h.ftype = read_count(reader, "ftype", 0, 100 * kGgmlQuantVersionFactor);
  if (h.n_audio_state != h.n_text_state) {
    reader.fail("the encoder and decoder widths differ (" + std::to_string(h.n_audio_state) +
                " and " + std::to_string(h.n_text_state) + "); Whisper's are equal");
  }
  if (h.n_audio_state % h.n_audio_head != 0 || h.n_text_state % h.n_text_head != 0) {
    reader.fail("the head counts do not divide the model width");
  }
  if (stored_type_for_ftype(h.ftype % kGgmlQuantVersionFactor).empty()) {
    reader.fail("unknown ftype " + std::to_string(h.ftype));
  }
  if (whisper_special_tokens(h.n_vocab).empty()) {
    reader.fail("n_vocab " + std::to_string(h.n_vocab) +
                " leaves no room for Whisper's special tokens");
  }
  return h;
}

void skip_mel_filters(ByteReader& reader) {
  const auto n_mel = read_count(reader, "the mel filters' n_mel", 0, kMaxHparam);
  const auto n_fft = read_count(reader, "the mel filters' n_fft", 0, kMaxHparam);
  const auto bytes = static_cast<std::uint64_t>(n_mel) * static_cast<std::uint64_t>(n_fft) * 4;
  reader.take(bytes, "the mel filters");
}

// The ordinary tokens, spelled byte-level, then the special ones whisper.cpp numbers itself.
std::vector<std::string> read_vocabulary(ByteReader& reader, const GgmlHparams& hparams) {
  const int eot = whisper_eot(hparams.n_vocab);
  const auto n_tokens = read_count(reader, "the token count", 0, hparams.n_vocab);
  if (n_tokens < eot) {
    reader.fail("the vocabulary has " + std::to_string(n_tokens) + " tokens, fewer than the " +
                std::to_string(eot) + " ordinary tokens of a Whisper model");
  }
  std::vector<std::string> tokens;
  tokens.reserve(static_cast<std::size_t>(hparams.n_vocab));
  for (std::int32_t i = 0; i < n_tokens; ++i) {
    const std::string where = "token " + std::to_string(i);
    const auto length = read_count(reader, where + "'s length", 0, kMaxTokenBytes);
    const auto bytes = reader.take(static_cast<std::size_t>(length), where);
    // Tokens from <|endoftext|> on (older converters wrote it) are replaced below.
    if (i < eot) {
      tokens.push_back(
          byte_level_from_bytes({reinterpret_cast<const char*>(bytes.data()), bytes.size()}));
    }
  }
  for (auto& token : whisper_special_tokens(hparams.n_vocab)) tokens.push_back(std::move(token));
  return tokens;
}

std::uint64_t element_count(const std::vector<std::int64_t>& shape) {
  std::uint64_t count = 1;
  for (const auto dim : shape) count *= static_cast<std::uint64_t>(dim);
  return count;
}

// One tensor record: its header checked against the spec of the tensor its name names.
std::pair<std::string, StoredTensor> read_tensor(
    ByteReader& reader, const std::map<std::string, const GgmlTensorSpec*>& specs) {
  const auto n_dims = read_count(reader, "a tensor header's n_dims", 1, kMaxDims);
  const auto name_length = read_count(reader, "a tensor header's name length", 1, kMaxNameLength);
  const auto type_id = reader.read<std::int32_t>("a tensor header's type");
  std::vector<std::int64_t> shape(static_cast<std::size_t>(n_dims));
  for (auto i = shape.size(); i-- > 0;)
    shape[i] = reader.read<std::int32_t>("a tensor header's dimensions");
  const auto name_bytes = reader.take(static_cast<std::size_t>(name_length), "a tensor's name");
  std::string name(reinterpret_cast<const char*>(name_bytes.data()), name_bytes.size());
  const auto spec = specs.find(name);
  if (spec == specs.end()) reader.fail("unknown tensor \"" + name + "\"");
  if (shape != spec->second->shape) {
    reader.fail("tensor " + name + " has shape " + shape_text(shape) + ", expected " +
                shape_text(spec->second->shape));
  }
  const auto type = ggml_type_from_id(type_id);
  if (!type) reader.fail("tensor " + name + " has unknown type " + std::to_string(type_id));
  const std::uint64_t count = element_count(shape);
  if (count % ggml_block_values(*type) != 0) {
    reader.fail("tensor " + name + " of type " + std::string(ggml_type_name(*type)) + " has " +
                std::to_string(count) + " values, not whole blocks");
  }
  const auto bytes = count / ggml_block_values(*type) * ggml_block_bytes(*type);
  StoredTensor tensor{*type, reader.take(bytes, "the data of tensor " + name)};
  return {std::move(name), tensor};
}

std::map<std::string, StoredTensor> read_tensors(ByteReader& reader, const WhisperDims& dims) {
  const auto specs = ggml_tensor_specs(dims);
  std::map<std::string, const GgmlTensorSpec*> by_name;
  for (const auto& spec : specs) by_name.emplace(spec.name, &spec);
  std::map<std::string, StoredTensor> tensors;
  while (!reader.at_end()) {
    auto [name, tensor] = read_tensor(reader, by_name);
    if (!tensors.emplace(name, tensor).second) reader.fail("tensor " + name + " appears twice");
  }
  for (const auto& spec : specs) {
    if (!tensors.contains(spec.name)) reader.fail("tensor " + spec.name + " is missing");
  }
  return tensors;
}

void append_float32(const StoredTensor& tensor, std::vector<std::byte>& out) {
  const auto count = tensor.type == GgmlType::kF32 ? tensor.data.size() / 4
                     : tensor.type == GgmlType::kF16
                         ? tensor.data.size() / 2
                         : tensor.data.size() / ggml_block_bytes(tensor.type) * kGgmlBlockSize;
  std::vector<float> values(count);
  if (tensor.type == GgmlType::kF32) {
    std::memcpy(values.data(), tensor.data.data(), tensor.data.size());
  } else if (tensor.type == GgmlType::kF16) {
    for (std::size_t i = 0; i < count; ++i) {
      std::uint16_t half = 0;
      std::memcpy(&half, tensor.data.data() + 2 * i, 2);
      values[i] = half_to_float(half);
    }
  } else {
    dequantize_blocks(tensor.type, tensor.data, values);
  }
  const auto* bytes = reinterpret_cast<const std::byte*>(values.data());
  out.insert(out.end(), bytes, bytes + values.size() * sizeof(float));
}

class GgmlModelSource final : public ModelSource {
 public:
  GgmlModelSource(std::filesystem::path path, util::MappedFile mapping)
      : path_(std::move(path)), mapping_(std::move(mapping)) {}

  void load();

  [[nodiscard]] std::string_view format() const override { return "ggml"; }
  [[nodiscard]] const std::filesystem::path& path() const override { return path_; }
  // Tensors the file does not hold as they are (joined pieces, widened blocks) are assembled on
  // the first find(), so that weights the int8 kernels take as stored (block_int8) never are.
  [[nodiscard]] const Variable* find(std::string_view name) const override;
  [[nodiscard]] const std::vector<std::int64_t>* find_shape(std::string_view name) const override {
    const auto* variable = variables_.find(name);
    return variable == nullptr ? nullptr : &variable->shape;
  }
  [[nodiscard]] std::vector<std::string> names() const override { return variables_.names(); }
  [[nodiscard]] std::string stored_type() const override {
    return stored_type_for_ftype(hparams_.ftype % kGgmlQuantVersionFactor);
  }
  [[nodiscard]] std::optional<BlockInt8> block_int8(std::string_view name) const override;
  [[nodiscard]] WhisperConfig config() const override { return config_; }
  [[nodiscard]] Vocabulary vocabulary() const override { return vocabulary_; }

 private:
  void add_tensor(const std::string& ct2_name, const std::vector<const GgmlTensorSpec*>& parts);
  void assemble(Variable& variable) const;

  std::filesystem::path path_;
  util::MappedFile mapping_;
  std::vector<GgmlTensorSpec> specs_;
  std::map<std::string, StoredTensor> stored_;                                    // by ggml name
  std::map<std::string, std::vector<const GgmlTensorSpec*>, std::less<>> parts_;  // by ct2 name
  GgmlHparams hparams_;
  Vocabulary vocabulary_;
  WhisperConfig config_;
  mutable std::mutex mutex_;       // guards the assembly of variables_'s data
  mutable TensorTable variables_;  // assembled tensors have empty data until found
};

void GgmlModelSource::load() {
  ByteReader reader(mapping_.bytes(), path_);
  const auto magic = static_cast<std::uint32_t>(reader.read<std::int32_t>("the magic number"));
  if (magic != kGgmlMagic) reader.fail("not a whisper.cpp ggml file (bad magic number)");
  hparams_ = read_hparams(reader);
  skip_mel_filters(reader);
  vocabulary_.tokens = read_vocabulary(reader, hparams_);
  vocabulary_.source = path_.string();
  const auto dims = dims_for(hparams_);
  stored_ = read_tensors(reader, dims);

  specs_ = ggml_tensor_specs(dims);
  for (const auto& spec : specs_) parts_[spec.ct2_name].push_back(&spec);
  for (const auto& [ct2_name, pieces] : parts_) add_tensor(ct2_name, pieces);
  variables_.add_scalar("encoder/num_heads", hparams_.n_audio_head);
  variables_.add_scalar("decoder/num_heads", hparams_.n_text_head);
  config_ = derived_whisper_config(vocabulary_, dims);
}

// A CTranslate2 tensor from its pieces in the file: a span of the file when it is one f32 or
// f16 tensor; else, on its first find() (assemble), the pieces (and zeros for those the file
// lacks) joined, widened to float32 unless they are all f32 or all f16.
void GgmlModelSource::add_tensor(const std::string& ct2_name,
                                 const std::vector<const GgmlTensorSpec*>& parts) {
  const auto& first = *parts.front();
  Variable variable;
  variable.name = ct2_name;
  variable.shape = ct2_shape_of(first);
  const auto type = stored_.at(first.name).type;
  bool same_type = type == GgmlType::kF32 || type == GgmlType::kF16;
  for (const auto* part : parts) same_type = same_type && stored_.at(part->name).type == type;
  variable.dtype = same_type && type == GgmlType::kF16 ? DType::kFloat16 : DType::kFloat32;
  if (same_type && first.parts == 1) variable.data = stored_.at(first.name).data;
  variables_.add(std::move(variable));
}

const Variable* GgmlModelSource::find(std::string_view name) const {
  const std::lock_guard lock(mutex_);
  auto* variable = variables_.find_mutable(name);
  if (variable != nullptr && variable->data.empty()) assemble(*variable);
  return variable;
}

void GgmlModelSource::assemble(Variable& variable) const {
  const auto& parts = parts_.find(variable.name)->second;
  const auto& first = *parts.front();
  const std::size_t element_size = variable.dtype == DType::kFloat16 ? 2 : 4;
  const auto part_bytes = element_count(first.shape) * element_size;
  auto& buffer = variables_.new_buffer();
  buffer.reserve(part_bytes * static_cast<std::size_t>(first.parts));
  for (int p = 0; p < first.parts; ++p) {
    const auto piece =
        std::find_if(parts.begin(), parts.end(), [&](const auto* s) { return s->part == p; });
    if (piece == parts.end()) {
      buffer.insert(buffer.end(), part_bytes, std::byte{0});
      continue;
    }
    const auto& stored = stored_.at((*piece)->name);
    // Stored as the variable keeps it (f32, or f16 among f16 pieces): the bytes as they are.
    const bool as_stored = stored.type == GgmlType::kF32 ||
                           (stored.type == GgmlType::kF16 && variable.dtype == DType::kFloat16);
    if (as_stored) {
      buffer.insert(buffer.end(), stored.data.begin(), stored.data.end());
    } else {
      append_float32(stored, buffer);
    }
  }
  variable.data = buffer;
}

// The pieces of a CTranslate2 matrix as 8-bit levels and block scales (blocks_to_levels), joined
// by rows (a piece the file lacks is zeros), when every piece present is block-quantized.
std::optional<BlockInt8> GgmlModelSource::block_int8(std::string_view name) const {
  const auto entry = parts_.find(name);
  if (entry == parts_.end()) return std::nullopt;
  const auto& parts = entry->second;
  const auto& first = *parts.front();
  if (first.shape.size() != 2 || first.shape[1] % static_cast<std::int64_t>(kGgmlBlockSize) != 0) {
    return std::nullopt;
  }
  for (const auto* part : parts) {
    if (!is_block_quantized(stored_.at(part->name).type)) return std::nullopt;
  }
  const auto part_values = element_count(first.shape);
  BlockInt8 blocks;
  blocks.levels.assign(part_values * static_cast<std::size_t>(first.parts), 0);
  blocks.scales.assign(blocks.levels.size() / kGgmlBlockSize, 0.0F);
  for (const auto* part : parts) {
    const auto& tensor = stored_.at(part->name);
    const auto at = part_values * static_cast<std::size_t>(part->part);
    blocks_to_levels(
        tensor.type, tensor.data, std::span(blocks.levels).subspan(at, part_values),
        std::span(blocks.scales).subspan(at / kGgmlBlockSize, part_values / kGgmlBlockSize));
  }
  return blocks;
}

}  // namespace

std::unique_ptr<ModelSource> open_ggml_model(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw Error(path.string() + ": model file not found");
  }
  util::MappedFile mapping(path);
  auto source = std::make_unique<GgmlModelSource>(path, std::move(mapping));
  source->load();
  return source;
}

}  // namespace amanuensis::model
