// The public Model: ties the loaded weights, the vocabulary and a compute backend together.
#include <thread>

#include "amanuensis/amanuensis.h"
#include "backends/registry.h"
#include "decoding/transcriber.h"
#include "kernels/backend.h"
#include "model/tokenizer.h"
#include "model/whisper_model.h"

namespace amanuensis {

struct Model::Impl {
  Impl(model::WhisperModel whisper, model::Tokenizer vocabulary, ModelInfo model_info)
      : model(std::move(whisper)), tokenizer(std::move(vocabulary)), info(std::move(model_info)) {}

  model::WhisperModel model;
  model::Tokenizer tokenizer;
  ModelInfo info;
  // Which backend was chosen and why, and its failures since (src/backends/).
  std::shared_ptr<backends::BackendMonitor> backends;
};

Model::Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Model Model::load(const ModelOptions& options) {
  auto weights = model::load_whisper_weights(
      options.path, model::weight_type_for(options.compute_type, options.path));
  auto tokenizer = model::Tokenizer::load(options.path);
  if (tokenizer.size() > weights.n_vocab) {
    throw Error((options.path / "vocabulary").string() + ": " + std::to_string(tokenizer.size()) +
                " tokens, but the model's embedding has only " + std::to_string(weights.n_vocab));
  }
  ModelInfo info;
  info.name = options.path.filename().string();
  if (info.name.empty()) info.name = options.path.parent_path().filename().string();
  info.multilingual = weights.n_vocab >= 51865;
  info.n_mels = weights.n_mels;
  info.n_vocab = weights.n_vocab;
  info.n_audio_layers = static_cast<int>(weights.encoder_layers.size());
  info.n_text_layers = static_cast<int>(weights.decoder_layers.size());
  info.n_state = weights.n_state;
  info.n_heads = weights.n_audio_heads;

  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  auto selection =
      backends::select(options.device, {.threads = threads, .compute_type = options.compute_type});
  model::WhisperModel whisper(std::move(weights), std::move(selection.backend));
  auto impl = std::make_shared<Impl>(std::move(whisper), std::move(tokenizer), std::move(info));
  impl->backends = std::move(selection.monitor);
  return Model(std::move(impl));
}

const ModelInfo& Model::info() const { return impl_->info; }

std::vector<BackendReport> Model::backend_reports() const { return impl_->backends->reports(); }

Transcription Model::transcribe(std::span<const float> audio, const TranscribeOptions& options,
                                const SegmentCallback& on_segment, std::stop_token stop) const {
  // A device failure mid-request re-runs the request on the CPU (backends/failover.h).
  return backends::run_with_failover(
      impl_->backends.get(), on_segment, [&](const SegmentCallback& callback) {
        return decoding::transcribe(impl_->model, impl_->tokenizer, audio, options, callback, stop);
      });
}

}  // namespace amanuensis
