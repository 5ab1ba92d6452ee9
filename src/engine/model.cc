// The public Model: ties the loaded weights, the vocabulary and a compute backend together.
#include <limits>
#include <string>
#include <thread>
#include <utility>

#include "amanuensis/amanuensis.h"
#include "backends/failover.h"
#include "backends/registry.h"
#include "decoding/decode_plan.h"
#include "decoding/transcriber.h"
#include "engine/tokenizer_impl.h"
#include "kernels/backend.h"
#include "model/decode_batcher.h"
#include "model/model_source.h"
#include "model/tokenizer.h"
#include "model/whisper_model.h"

namespace amanuensis {

struct Model::Impl {
  Impl(model::WhisperModel whisper, model::Tokenizer vocabulary, ModelInfo model_info,
       int decode_lanes)
      : model(std::move(whisper)),
        batcher(model, decode_lanes),
        tokenizer(std::move(vocabulary)),
        info(std::move(model_info)) {}

  model::WhisperModel model;
  // Every transcription on this model (any thread, any copy of the Model) steps through it, so
  // that concurrent requests share decoder steps. Mutable: it only schedules, under its lock.
  mutable model::DecodeBatcher batcher;
  model::Tokenizer tokenizer;
  ModelInfo info;
  // Which backend was chosen and why, and its failures since (src/backends/).
  std::shared_ptr<backends::BackendMonitor> backends;
};

namespace {

// How many concurrent requests' decoder steps run side by side before further ones merge into
// shared steps (model/decode_batcher.h), unless the options say.
int decode_lanes(const ModelOptions& options, const std::string& backend) {
  if (options.decode_lanes > 0) return options.decode_lanes;
  // A device runs one step of many rows faster than several steps side by side.
  if (backend != "cpu") return 1;
  // On the CPU, requests stepping side by side on their own threads measured as fast as shared
  // steps (docs/service.md): each request's cross-attention cache is read per request anyway,
  // and float32 products of a few rows even cost more than one row at a time. Nothing merges
  // unless asked.
  return std::numeric_limits<int>::max();
}

}  // namespace

Model::Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Model Model::load(const ModelOptions& options) {
  const auto source = model::open_model_source(options.path);
  const auto weight_type = model::weight_type_for(options.compute_type, *source);
  auto weights = model::load_whisper_weights(*source, weight_type);
  auto tokenizer = model::Tokenizer::from_source(*source);
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
  if (options.device_index && *options.device_index < 0) {
    throw Error("device_index must be 0 or more, not " + std::to_string(*options.device_index));
  }
  auto selection =
      backends::select(options.device, {.threads = threads,
                                        .compute_type = options.compute_type,
                                        .device_index = options.device_index.value_or(-1)});
  const int lanes = decode_lanes(options, selection.monitor->selected());
  model::WhisperModel whisper(std::move(weights), std::move(selection.backend),
                              model::attention_precision_for(options.compute_type, weight_type));
  auto impl =
      std::make_shared<Impl>(std::move(whisper), std::move(tokenizer), std::move(info), lanes);
  impl->backends = std::move(selection.monitor);
  return Model(std::move(impl));
}

const ModelInfo& Model::info() const { return impl_->info; }

Tokenizer Model::tokenizer() const {
  // Shares the model's vocabulary: the pointer keeps the whole model alive.
  std::shared_ptr<const model::Tokenizer> shared(impl_, &impl_->tokenizer);
  return Tokenizer(std::make_shared<const Tokenizer::Impl>(Tokenizer::Impl{std::move(shared)}));
}

std::vector<BackendReport> Model::backend_reports() const { return impl_->backends->reports(); }

Timings Model::timings() const {
  const auto stats = impl_->model.stats();
  const auto traffic = stats.decoder_traffic.value_or(kernels::DeviceTraffic{});
  return {.encoder_seconds = stats.encoder_seconds,
          .decoder_seconds = stats.decoder_seconds,
          .decoder_calls = stats.decoder_calls,
          .decoded_tokens = stats.decoded_tokens,
          .batched_calls = stats.batched_calls,
          .batched_requests = stats.batched_states,
          .batched_tokens = stats.batched_tokens,
          .device_traffic = stats.decoder_traffic.has_value(),
          .decoder_device_syncs = traffic.syncs,
          .decoder_host_to_device_bytes = traffic.host_to_device_bytes,
          .decoder_device_to_host_bytes = traffic.device_to_host_bytes};
}

std::vector<int> Model::suppressed_tokens(const std::vector<int>& suppress_tokens) const {
  return decoding::suppressed_tokens(impl_->model.weights(), impl_->tokenizer.special(),
                                     suppress_tokens);
}

std::string Model::backend_description() const { return impl_->model.backend().describe(); }

Transcription Model::transcribe(std::span<const float> audio, const TranscribeOptions& options,
                                const SegmentCallback& on_segment, std::stop_token stop,
                                const InfoCallback& on_info) const {
  bool informed = false;  // a re-run on the CPU settles the same info: tell it once
  const InfoCallback info_once = [&](const Transcription& info) {
    if (on_info && !std::exchange(informed, true)) on_info(info);
  };
  // A device failure mid-request re-runs the request on the CPU (backends/failover.h).
  return backends::run_with_failover(
      impl_->backends.get(), on_segment, [&](const SegmentCallback& callback) {
        // A CPU re-run steps alone: a shared step runs on whichever caller's thread gets there
        // first, and that thread would send this request's ops to the failed device again.
        if (backends::retrying_on_cpu()) {
          return decoding::transcribe(impl_->model, impl_->tokenizer, audio, options, callback,
                                      stop, info_once);
        }
        return decoding::transcribe(impl_->batcher, impl_->tokenizer, audio, options, callback,
                                    stop, info_once);
      });
}

Transcription Model::detect_language(std::span<const float> features, int n_frames, int segments,
                                     float threshold, const std::stop_token& stop) const {
  const auto& weights = impl_->model.weights();
  if (n_frames <= 0 || features.size() != static_cast<std::size_t>(weights.n_mels) * n_frames) {
    throw Error("detect_language: features must be [" + std::to_string(weights.n_mels) +
                " mel bands, frames] with at least one frame; got " +
                std::to_string(features.size()) + " values for " + std::to_string(n_frames) +
                " frames");
  }
  if (segments < 1) throw Error("language_detection_segments must be at least 1");
  Transcription result;
  result.duration = result.duration_after_vad = n_frames * decoding::kSecondsPerFrame;
  if (!decoding::is_multilingual(weights)) {
    result.language = "en";
    result.all_language_probs = {{"en", 1.0F}};
    return result;
  }
  const features::LogMel mel{weights.n_mels, n_frames, {features.begin(), features.end()}};
  auto detected = decoding::detect_language(impl_->batcher, impl_->tokenizer, mel, 0, segments, 0,
                                            threshold, stop);
  result.language = std::move(detected.language);
  result.language_probability = detected.probability;
  result.all_language_probs = std::move(detected.all_language_probs);
  return result;
}

}  // namespace amanuensis
