// A Whisper model as stored, in any of the formats we read, seen through one interface: tensors
// by CTranslate2's names, the decoding configuration, and the vocabulary. The weights loader
// (whisper_weights.h), the tokenizer and `amanuensis convert` read models only through it.
//
// Formats, told apart by looking at the path (open_model_source):
//   ct2   a folder with model.bin (CTranslate2, as faster-whisper uses; ct2_model_file.h)
//   hf    a folder with model.safetensors or model.safetensors.index.json and config.json
//         (Hugging Face transformers; hf_model_source.cc)
//   ggml  a file starting with whisper.cpp's magic (ggml_model_source.cc)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/ct2_model_file.h"

namespace amanuensis::model {

// What a model holds beyond its weights for decoding.
struct WhisperConfig {
  std::vector<int> suppress_ids;        // the model's non-speech tokens (suppress_tokens=-1)
  std::vector<int> suppress_ids_begin;  // tokens forbidden as the first sampled token
  std::vector<int> lang_ids;
  std::vector<std::pair<int, int>> alignment_heads;  // (layer, head)
};

// Alignment heads for a model that names none, as CTranslate2's converter chooses them: every
// head of the last half of the decoder layers.
std::vector<std::pair<int, int>> default_alignment_heads(int decoder_layers, int heads);

// The tokens by id, spelled as GPT-2's byte-level BPE spells them (a byte per code point), and
// the BPE merges in priority order. Without merges, a pair's priority is the id of the token it
// makes, which is how tiktoken (whose vocabularies Whisper's are) ranks them.
struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<std::pair<std::string, std::string>> merges;
  std::string source;  // the file the tokens came from, for messages
};

// Weights as int8 levels in blocks of 32 columns, each block with its own scale
// (w = level * scale): what a ggml q8_0, q5_0 or q4_0 tensor holds.
struct BlockInt8 {
  std::vector<std::int8_t> levels;  // [rows, cols]
  std::vector<float> scales;        // [rows, cols / 32]
};

class ModelSource {
 public:
  ModelSource() = default;
  virtual ~ModelSource() = default;
  ModelSource(const ModelSource&) = delete;
  ModelSource& operator=(const ModelSource&) = delete;

  // "ct2", "hf" or "ggml".
  [[nodiscard]] virtual std::string_view format() const = 0;
  // The folder or file the model was opened from.
  [[nodiscard]] virtual const std::filesystem::path& path() const = 0;

  // A tensor by its CTranslate2 name (for example "decoder/layer_0/attention/linear_1/weight",
  // "encoder/num_heads"), or nullptr when the model has none. The data stays valid as long as
  // the source.
  [[nodiscard]] virtual const Variable* find(std::string_view name) const = 0;
  // As find(), but a missing tensor is an error that names the model and the tensor.
  [[nodiscard]] const Variable& get(std::string_view name) const;
  // A tensor's shape without its data (which a source may assemble only when asked for), or
  // nullptr when the model has none; shape() makes a missing one an error, as get() does.
  [[nodiscard]] virtual const std::vector<std::int64_t>* find_shape(std::string_view name) const {
    const auto* variable = find(name);
    return variable == nullptr ? nullptr : &variable->shape;
  }
  [[nodiscard]] const std::vector<std::int64_t>& shape(std::string_view name) const;
  // Every tensor the model has, by its CTranslate2 name (for conversion).
  [[nodiscard]] virtual std::vector<std::string> names() const = 0;

  // How the dense weights are stored: "float32", "float16", "bfloat16", "int8" (CTranslate2's
  // per-row int8), or a ggml block type ("q8_0", "q5_0", ...) which find() gives dequantized.
  [[nodiscard]] virtual std::string stored_type() const = 0;
  // The matrix `name` as 8-bit levels with a scale per 32 columns when it is stored
  // block-quantized (ggml's q8_0, q5_0 and q4_0 exactly; q5_1 and q4_1 rounded to 8 bits per
  // block), for the int8 kernels' block mode; nullopt for anything else (find() still gives
  // every tensor, widened).
  [[nodiscard]] virtual std::optional<BlockInt8> block_int8(std::string_view /*name*/) const {
    return std::nullopt;
  }

  [[nodiscard]] virtual WhisperConfig config() const = 0;
  [[nodiscard]] virtual Vocabulary vocabulary() const = 0;
};

// Opens the model at `path` in whichever format it is. Throws amanuensis::Error naming the
// missing or broken file when it is none of them or is damaged.
std::unique_ptr<ModelSource> open_model_source(const std::filesystem::path& path);

// The format open_model_source would pick for `path` ("ct2", "hf", "ggml"), or empty when it
// looks like none of them. Reads at most a file's first bytes.
std::string detect_model_format(const std::filesystem::path& path);

}  // namespace amanuensis::model
