// A Hugging Face transformers Whisper folder, with the weight names and files
// WhisperForConditionalGeneration's save_pretrained writes (CTranslate2's converter reads the
// same names: ctranslate2/converters/transformers.py, WhisperLoader).
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/model_writers.h"
#include "model/model_writing.h"
#include "model/safetensors_file.h"
#include "model/tensor_values.h"

namespace amanuensis::model {

namespace {

// One checkpoint tensor: rows [row_begin, row_begin + rows) of a CTranslate2 tensor (rows -1:
// all of it), as the fused attention projections split back.
struct Piece {
  std::string hf_name;
  std::string ct2_name;
  std::int64_t row_begin = 0;
  std::int64_t rows = -1;
};

class PiecePlan {
 public:
  explicit PiecePlan(int d) : d_(d) {}

  void whole(const std::string& hf, const std::string& ct2) { pieces_.push_back({hf, ct2}); }
  void linear(const std::string& hf, const std::string& ct2) {
    whole(hf + ".weight", ct2 + "/weight");
    whole(hf + ".bias", ct2 + "/bias");
  }
  void norm(const std::string& hf, const std::string& ct2) {
    whole(hf + ".weight", ct2 + "/gamma");
    whole(hf + ".bias", ct2 + "/beta");
  }
  // Projections stacked in a fused CTranslate2 tensor; the key has no bias in Whisper.
  void split(const std::string& hf, const std::string& ct2,
             const std::vector<std::string>& projections) {
    for (std::size_t i = 0; i < projections.size(); ++i) {
      const auto begin = static_cast<std::int64_t>(i) * d_;
      const auto name = hf + "." + projections[i];
      pieces_.push_back({name + ".weight", ct2 + "/weight", begin, d_});
      if (projections[i] != "k_proj") pieces_.push_back({name + ".bias", ct2 + "/bias", begin, d_});
    }
  }
  [[nodiscard]] std::vector<Piece> take() { return std::move(pieces_); }

 private:
  std::int64_t d_;
  std::vector<Piece> pieces_;
};

std::vector<Piece> checkpoint_pieces(const WhisperDims& dims) {
  PiecePlan plan(dims.n_state);
  plan.linear("model.encoder.conv1", "encoder/conv1");
  plan.linear("model.encoder.conv2", "encoder/conv2");
  plan.whole("model.encoder.embed_positions.weight", "encoder/position_encodings/encodings");
  for (int i = 0; i < dims.n_audio_layers; ++i) {
    const auto hf = "model.encoder.layers." + std::to_string(i);
    const auto ct2 = "encoder/layer_" + std::to_string(i);
    plan.split(hf + ".self_attn", ct2 + "/self_attention/linear_0", {"q_proj", "k_proj", "v_proj"});
    plan.linear(hf + ".self_attn.out_proj", ct2 + "/self_attention/linear_1");
    plan.norm(hf + ".self_attn_layer_norm", ct2 + "/self_attention/layer_norm");
    plan.linear(hf + ".fc1", ct2 + "/ffn/linear_0");
    plan.linear(hf + ".fc2", ct2 + "/ffn/linear_1");
    plan.norm(hf + ".final_layer_norm", ct2 + "/ffn/layer_norm");
  }
  plan.norm("model.encoder.layer_norm", "encoder/layer_norm");
  plan.whole("model.decoder.embed_tokens.weight", "decoder/embeddings/weight");
  plan.whole("model.decoder.embed_positions.weight", "decoder/position_encodings/encodings");
  for (int i = 0; i < dims.n_text_layers; ++i) {
    const auto hf = "model.decoder.layers." + std::to_string(i);
    const auto ct2 = "decoder/layer_" + std::to_string(i);
    plan.split(hf + ".self_attn", ct2 + "/self_attention/linear_0", {"q_proj", "k_proj", "v_proj"});
    plan.linear(hf + ".self_attn.out_proj", ct2 + "/self_attention/linear_1");
    plan.norm(hf + ".self_attn_layer_norm", ct2 + "/self_attention/layer_norm");
    plan.linear(hf + ".encoder_attn.q_proj", ct2 + "/attention/linear_0");
    plan.split(hf + ".encoder_attn", ct2 + "/attention/linear_1", {"k_proj", "v_proj"});
    plan.linear(hf + ".encoder_attn.out_proj", ct2 + "/attention/linear_2");
    plan.norm(hf + ".encoder_attn_layer_norm", ct2 + "/attention/layer_norm");
    plan.linear(hf + ".fc1", ct2 + "/ffn/linear_0");
    plan.linear(hf + ".fc2", ct2 + "/ffn/linear_1");
    plan.norm(hf + ".final_layer_norm", ct2 + "/ffn/layer_norm");
  }
  plan.norm("model.decoder.layer_norm", "decoder/layer_norm");
  // In plan order: a fused tensor's pieces are consecutive, so it is widened once.
  return plan.take();
}

std::vector<std::int64_t> piece_shape(const ModelSource& source, const Piece& piece) {
  auto shape = source.get(piece.ct2_name).shape;
  if (piece.rows >= 0) {
    if (shape.empty() || shape[0] < piece.row_begin + piece.rows) {
      throw Error(source.path().string() + ": tensor " + piece.ct2_name +
                  " is smaller than its fused projections need");
    }
    shape[0] = piece.rows;
  }
  return shape;
}

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (const auto dim : shape) count *= dim;
  return count;
}

// The header, padded with spaces to a multiple of 8 bytes as the safetensors library pads it.
std::string safetensors_header(const ModelSource& source, const std::vector<Piece>& pieces,
                               DType dtype) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  std::uint64_t offset = 0;
  for (const auto& piece : pieces) {
    const auto shape = piece_shape(source, piece);
    const auto size = static_cast<std::uint64_t>(element_count(shape)) * dtype_size(dtype);
    header[piece.hf_name] = {{"dtype", safetensors_dtype_name(dtype)},
                             {"shape", shape},
                             {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  auto text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  return text;
}

void write_safetensors(const ModelSource& source, const std::filesystem::path& path, DType dtype) {
  const auto pieces = checkpoint_pieces(whisper_dims(source));
  const auto header = safetensors_header(source, pieces, dtype);
  BinaryFile file(path);
  file.value(static_cast<std::uint64_t>(header.size()));
  file.bytes(header.data(), header.size());
  WidenedTensor widened(source);
  for (const auto& piece : pieces) {
    const auto shape = piece_shape(source, piece);
    const auto count = static_cast<std::size_t>(element_count(shape));
    const auto row = shape.size() > 1 ? static_cast<std::size_t>(element_count(shape) / shape[0])
                                      : std::size_t{1};
    const auto* values =
        widened.of(piece.ct2_name).data() + static_cast<std::size_t>(piece.row_begin) * row;
    if (dtype == DType::kFloat32) {
      file.bytes(values, count * sizeof(float));
      continue;
    }
    std::vector<std::uint16_t> narrow(count);
    for (std::size_t i = 0; i < count; ++i) {
      narrow[i] =
          dtype == DType::kFloat16 ? float_to_half(values[i]) : float_to_bfloat16(values[i]);
    }
    file.bytes(narrow.data(), narrow.size() * 2);
  }
  file.close();
}

}  // namespace

namespace {

int token_id(const Vocabulary& vocabulary, std::string_view text) {
  const auto found = std::find(vocabulary.tokens.begin(), vocabulary.tokens.end(), text);
  if (found == vocabulary.tokens.end()) {
    throw Error(vocabulary.source + ": the vocabulary has no " + std::string(text) + " token");
  }
  return static_cast<int>(found - vocabulary.tokens.begin());
}

nlohmann::json hf_config(const WhisperDims& dims, const WhisperConfig& config,
                         const Vocabulary& vocabulary, std::string_view type) {
  const int eot = token_id(vocabulary, "<|endoftext|>");
  return {{"architectures", {"WhisperForConditionalGeneration"}},
          {"model_type", "whisper"},
          {"activation_function", "gelu"},
          {"d_model", dims.n_state},
          {"encoder_layers", dims.n_audio_layers},
          {"decoder_layers", dims.n_text_layers},
          {"num_hidden_layers", dims.n_audio_layers},
          {"encoder_attention_heads", dims.n_audio_heads},
          {"decoder_attention_heads", dims.n_text_heads},
          {"encoder_ffn_dim", dims.n_hidden},
          {"decoder_ffn_dim", dims.n_hidden},
          {"num_mel_bins", dims.n_mels},
          {"vocab_size", dims.n_vocab},
          {"max_source_positions", dims.n_audio_ctx},
          {"max_target_positions", dims.n_text_ctx},
          {"scale_embedding", false},
          {"is_encoder_decoder", true},
          {"use_cache", true},
          {"tie_word_embeddings", true},
          {"bos_token_id", eot},
          {"eos_token_id", eot},
          {"pad_token_id", eot},
          {"decoder_start_token_id", token_id(vocabulary, "<|startoftranscript|>")},
          {"suppress_tokens", config.suppress_ids},
          {"begin_suppress_tokens", config.suppress_ids_begin},
          {"torch_dtype", type}};
}

nlohmann::json hf_generation_config(const WhisperDims& dims, const WhisperConfig& config,
                                    const Vocabulary& vocabulary) {
  auto heads = nlohmann::json::array();
  for (const auto& [layer, head] : config.alignment_heads) heads.push_back({layer, head});
  auto languages = nlohmann::json::object();
  for (const int id : config.lang_ids) {
    if (id >= 0 && id < static_cast<int>(vocabulary.tokens.size())) {
      languages[vocabulary.tokens[static_cast<std::size_t>(id)]] = id;
    }
  }
  const int eot = token_id(vocabulary, "<|endoftext|>");
  return {{"alignment_heads", heads},
          {"begin_suppress_tokens", config.suppress_ids_begin},
          {"suppress_tokens", config.suppress_ids},
          {"bos_token_id", eot},
          {"eos_token_id", eot},
          {"pad_token_id", eot},
          {"decoder_start_token_id", token_id(vocabulary, "<|startoftranscript|>")},
          {"is_multilingual", dims.n_vocab >= 51865},
          {"lang_to_id", languages},
          {"task_to_id",
           {{"transcribe", token_id(vocabulary, "<|transcribe|>")},
            {"translate", token_id(vocabulary, "<|translate|>")}}},
          {"no_timestamps_token_id", token_id(vocabulary, "<|notimestamps|>")},
          {"prev_sot_token_id", token_id(vocabulary, "<|startofprev|>")},
          {"max_initial_timestamp_index", 50},
          {"max_length", dims.n_text_ctx},
          {"return_timestamps", false}};
}

nlohmann::json hf_preprocessor_config(const WhisperDims& dims) {
  return {{"feature_extractor_type", "WhisperFeatureExtractor"},
          {"processor_class", "WhisperProcessor"},
          {"feature_size", dims.n_mels},
          {"sampling_rate", 16000},
          {"hop_length", 160},
          {"n_fft", 400},
          {"chunk_length", 30},
          {"n_samples", 480000},
          {"nb_max_frames", 3000},
          {"padding_side", "right"},
          {"padding_value", 0.0},
          {"return_attention_mask", false}};
}

}  // namespace

void write_hf_model(const ModelSource& source, const std::filesystem::path& dir,
                    std::string_view type) {
  const DType dtype = type == "float32"    ? DType::kFloat32
                      : type == "bfloat16" ? DType::kBFloat16
                                           : DType::kFloat16;
  const auto dims = whisper_dims(source);
  const auto vocabulary = source.vocabulary();
  const auto config = source.config();
  PendingOutput output(dir);
  output.create_directory();
  write_safetensors(source, output.path() / "model.safetensors", dtype);
  write_text_file(output.path() / "config.json",
                  hf_config(dims, config, vocabulary, type).dump(2) + "\n");
  write_text_file(output.path() / "generation_config.json",
                  hf_generation_config(dims, config, vocabulary).dump(2) + "\n");
  write_text_file(output.path() / "preprocessor_config.json",
                  hf_preprocessor_config(dims).dump(2) + "\n");
  write_text_file(output.path() / "tokenizer.json", tokenizer_json(vocabulary));
  output.commit();
}

}  // namespace amanuensis::model
