// The C API (include/amanuensis/amanuensis_c.h) over the C++ library's public header: nothing
// below reaches past amanuensis.h. Each entry point catches every exception and turns it into a
// status code plus this thread's last error message.

#include "amanuensis/amanuensis_c.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "c_api/c_params.h"

// The C API's opaque handles, named as amanuensis_c.h declares them.
// NOLINTBEGIN(readability-identifier-naming)
struct amanuensis_model {
  amanuensis::Model model;
  std::string backend;
};

struct amanuensis_result {
  amanuensis::Transcription transcription;
  std::vector<std::vector<amanuensis_word>> words;  // per segment
  std::vector<amanuensis_segment> segments;
};
// NOLINTEND(readability-identifier-naming)

namespace {

using amanuensis::Error;

thread_local std::string last_error;

amanuensis_status fail(amanuensis_status status, const std::string& message) {
  last_error = message;
  return status;
}

// Runs `body`, mapping what it throws: Error to `on_error` (the kind of input the call reads),
// Cancelled to ABORTED, bad_alloc to OUT_OF_MEMORY, anything else to INTERNAL.
template <typename Body>
amanuensis_status guarded(amanuensis_status on_error, Body&& body) noexcept {
  try {
    last_error.clear();
    body();
    return AMANUENSIS_OK;
  } catch (const amanuensis::Cancelled& e) {
    return fail(AMANUENSIS_ERROR_ABORTED, e.what());
  } catch (const Error& e) {
    return fail(on_error, e.what());
  } catch (const std::bad_alloc&) {
    return fail(AMANUENSIS_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(AMANUENSIS_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(AMANUENSIS_ERROR_INTERNAL, "unknown error");
  }
}

amanuensis_segment c_segment(const amanuensis::Segment& s, std::vector<amanuensis_word>& words) {
  words.clear();
  for (const auto& w : s.words) {
    words.push_back(
        {.start = w.start, .end = w.end, .word = w.word.c_str(), .probability = w.probability});
  }
  return {.id = s.id,
          .seek = s.seek,
          .start = s.start,
          .end = s.end,
          .text = s.text.c_str(),
          .tokens = s.tokens.data(),
          .n_tokens = s.tokens.size(),
          .temperature = s.temperature,
          .avg_logprob = s.avg_logprob,
          .compression_ratio = s.compression_ratio,
          .no_speech_prob = s.no_speech_prob,
          .words = words.data(),
          .n_words = words.size(),
          .language = s.language.c_str()};
}

std::unique_ptr<amanuensis_result> c_result(amanuensis::Transcription transcription) {
  auto result = std::make_unique<amanuensis_result>();
  result->transcription = std::move(transcription);
  const auto& segments = result->transcription.segments;
  result->words.resize(segments.size());
  for (std::size_t i = 0; i < segments.size(); ++i) {
    result->segments.push_back(c_segment(segments[i], result->words[i]));
  }
  return result;
}

// Polls the caller's abort callback every 10 ms on a helper thread while a transcription runs,
// and turns a true into a stop request the library honours at its next window or decoder step.
class AbortWatch {
 public:
  AbortWatch(amanuensis_abort_callback callback, void* user_data) {
    if (callback == nullptr) return;
    if (callback(user_data)) source_.request_stop();
    thread_ = std::jthread([this, callback, user_data](const std::stop_token& done) {
      std::mutex mutex;
      std::condition_variable_any wake;
      std::unique_lock lock(mutex);
      while (!wake.wait_for(lock, done, std::chrono::milliseconds(10), [] { return false; })) {
        if (done.stop_requested()) return;
        if (callback(user_data)) {
          source_.request_stop();
          return;
        }
      }
    });
  }
  [[nodiscard]] std::stop_token token() const { return source_.get_token(); }

 private:
  std::stop_source source_;
  std::jthread thread_;  // last: joined before source_ goes
};

amanuensis_status transcribe_samples(const amanuensis_model* model, std::span<const float> audio,
                                     const amanuensis_transcribe_params* params,
                                     amanuensis_result** out) {
  if (model == nullptr || out == nullptr) {
    return fail(AMANUENSIS_ERROR_INVALID_ARGUMENT, "model and out must not be NULL");
  }
  const auto p = params != nullptr ? *params : amanuensis::c_api::default_transcribe_params();
  return guarded(AMANUENSIS_ERROR_INVALID_ARGUMENT, [&] {
    const auto options = amanuensis::c_api::transcribe_options(p);
    amanuensis::SegmentCallback on_segment;
    if (p.on_segment != nullptr) {
      on_segment = [&p](const amanuensis::Segment& segment) {
        std::vector<amanuensis_word> words;
        const auto c = c_segment(segment, words);
        p.on_segment(&c, p.on_segment_user_data);
      };
    }
    const AbortWatch watch(p.abort_callback, p.abort_user_data);
    *out = c_result(model->model.transcribe(audio, options, on_segment, watch.token())).release();
  });
}

// Hands the samples to the C caller (freed by amanuensis_samples_free). Throws std::bad_alloc,
// which guarded() reports as AMANUENSIS_ERROR_OUT_OF_MEMORY.
void copy_samples(const amanuensis::Waveform& audio, float** samples, std::size_t* n_samples) {
  // NOLINTNEXTLINE(cppcoreguidelines-owning-memory)
  auto* copy = new float[std::max<std::size_t>(audio.size(), 1)];
  std::copy(audio.begin(), audio.end(), copy);
  *samples = copy;
  *n_samples = audio.size();
}

}  // namespace

extern "C" {

const char* amanuensis_version(void) { return AMANUENSIS_VERSION; }
int amanuensis_c_api_version(void) { return AMANUENSIS_C_API_VERSION; }
const char* amanuensis_last_error(void) { return last_error.c_str(); }

const char* amanuensis_status_name(amanuensis_status status) {
  switch (status) {
    case AMANUENSIS_OK:
      return "AMANUENSIS_OK";
    case AMANUENSIS_ERROR_INVALID_ARGUMENT:
      return "AMANUENSIS_ERROR_INVALID_ARGUMENT";
    case AMANUENSIS_ERROR_MODEL:
      return "AMANUENSIS_ERROR_MODEL";
    case AMANUENSIS_ERROR_AUDIO:
      return "AMANUENSIS_ERROR_AUDIO";
    case AMANUENSIS_ERROR_ABORTED:
      return "AMANUENSIS_ERROR_ABORTED";
    case AMANUENSIS_ERROR_OUT_OF_MEMORY:
      return "AMANUENSIS_ERROR_OUT_OF_MEMORY";
    case AMANUENSIS_ERROR_INTERNAL:
      return "AMANUENSIS_ERROR_INTERNAL";
  }
  return "AMANUENSIS_UNKNOWN_STATUS";
}

void amanuensis_set_log_callback(amanuensis_log_callback callback, void* user_data) {
  if (callback == nullptr) {
    amanuensis::set_log_callback({});
    return;
  }
  amanuensis::set_log_callback(
      [callback, user_data](amanuensis::LogLevel level, const std::string& message) {
        callback(static_cast<amanuensis_log_level>(level), message.c_str(), user_data);
      });
}

struct amanuensis_model_params amanuensis_model_default_params(void) {
  return amanuensis::c_api::default_model_params();
}
struct amanuensis_transcribe_params amanuensis_transcribe_default_params(void) {
  return amanuensis::c_api::default_transcribe_params();
}
struct amanuensis_vad_params amanuensis_vad_default_params(void) {
  return amanuensis::c_api::vad_params_of(amanuensis::VadOptions{});
}

amanuensis_status amanuensis_model_load(const char* path,
                                        const struct amanuensis_model_params* params,
                                        amanuensis_model** out) {
  if (out == nullptr) return fail(AMANUENSIS_ERROR_INVALID_ARGUMENT, "out must not be NULL");
  *out = nullptr;
  const auto p = params != nullptr ? *params : amanuensis::c_api::default_model_params();
  return guarded(AMANUENSIS_ERROR_MODEL, [&] {
    auto model = amanuensis::Model::load(amanuensis::c_api::model_options(path, p));
    auto backend = model.backend_description();
    // The C caller owns the handle until amanuensis_model_free.
    // NOLINTNEXTLINE(cppcoreguidelines-owning-memory)
    *out = new amanuensis_model{std::move(model), std::move(backend)};
  });
}

void amanuensis_model_free(amanuensis_model* model) {
  delete model;  // NOLINT(cppcoreguidelines-owning-memory): the C caller hands it back
}

bool amanuensis_model_is_multilingual(const amanuensis_model* model) {
  return model != nullptr && model->model.info().multilingual;
}

const char* amanuensis_model_backend(const amanuensis_model* model) {
  return model != nullptr ? model->backend.c_str() : "";
}

amanuensis_status amanuensis_decode_audio_file(const char* path, float** samples,
                                               size_t* n_samples) {
  if (path == nullptr || samples == nullptr || n_samples == nullptr) {
    return fail(AMANUENSIS_ERROR_INVALID_ARGUMENT, "path, samples and n_samples must not be NULL");
  }
  return guarded(AMANUENSIS_ERROR_AUDIO,
                 [&] { copy_samples(amanuensis::decode_audio_file(path), samples, n_samples); });
}

amanuensis_status amanuensis_decode_audio_bytes(const uint8_t* bytes, size_t n_bytes,
                                                float** samples, size_t* n_samples) {
  if ((bytes == nullptr && n_bytes > 0) || samples == nullptr || n_samples == nullptr) {
    return fail(AMANUENSIS_ERROR_INVALID_ARGUMENT, "bytes, samples and n_samples must be given");
  }
  return guarded(AMANUENSIS_ERROR_AUDIO, [&] {
    copy_samples(amanuensis::decode_audio_bytes({bytes, n_bytes}), samples, n_samples);
  });
}

void amanuensis_samples_free(float* samples) {
  delete[] samples;  // NOLINT(cppcoreguidelines-owning-memory): the C caller hands it back
}

amanuensis_status amanuensis_transcribe(const amanuensis_model* model, const float* samples,
                                        size_t n_samples,
                                        const struct amanuensis_transcribe_params* params,
                                        amanuensis_result** out) {
  if (out != nullptr) *out = nullptr;
  if (samples == nullptr && n_samples > 0) {
    return fail(AMANUENSIS_ERROR_INVALID_ARGUMENT, "samples is NULL but n_samples is not 0");
  }
  return transcribe_samples(model, {samples, n_samples}, params, out);
}

amanuensis_status amanuensis_transcribe_file(const amanuensis_model* model, const char* path,
                                             const struct amanuensis_transcribe_params* params,
                                             amanuensis_result** out) {
  if (out != nullptr) *out = nullptr;
  if (path == nullptr) return fail(AMANUENSIS_ERROR_INVALID_ARGUMENT, "path must not be NULL");
  amanuensis::Waveform audio;
  const auto decoded =
      guarded(AMANUENSIS_ERROR_AUDIO, [&] { audio = amanuensis::decode_audio_file(path); });
  if (decoded != AMANUENSIS_OK) return decoded;
  return transcribe_samples(model, audio, params, out);
}

void amanuensis_result_free(amanuensis_result* result) {
  delete result;  // NOLINT(cppcoreguidelines-owning-memory): the C caller hands it back
}

const char* amanuensis_result_language(const amanuensis_result* result) {
  return result != nullptr ? result->transcription.language.c_str() : "";
}
float amanuensis_result_language_probability(const amanuensis_result* result) {
  return result != nullptr ? result->transcription.language_probability : 0.0F;
}
double amanuensis_result_duration(const amanuensis_result* result) {
  return result != nullptr ? result->transcription.duration : 0.0;
}
double amanuensis_result_duration_after_vad(const amanuensis_result* result) {
  return result != nullptr ? result->transcription.duration_after_vad : 0.0;
}
size_t amanuensis_result_n_segments(const amanuensis_result* result) {
  return result != nullptr ? result->segments.size() : 0;
}
const amanuensis_segment* amanuensis_result_segment(const amanuensis_result* result, size_t index) {
  if (result == nullptr || index >= result->segments.size()) return nullptr;
  return &result->segments[index];
}

}  // extern "C"
