/* Amanuensis: Whisper speech-to-text. The C API, for every language that is not C++.
 *
 * A small, stable surface over the C++ library (amanuensis.h): opaque handles, parameter structs
 * that come with their defaults, callbacks with a user_data pointer, and status codes with a
 * message. Link with `pkg-config --libs amanuensis` or CMake's `Amanuensis::amanuensis`.
 *
 *   amanuensis_model* model = NULL;
 *   struct amanuensis_model_params mp = amanuensis_model_default_params();
 *   if (amanuensis_model_load("models/base", &mp, &model) != AMANUENSIS_OK) {
 *     fprintf(stderr, "%s\n", amanuensis_last_error());
 *     return 1;
 *   }
 *   struct amanuensis_transcribe_params tp = amanuensis_transcribe_default_params();
 *   amanuensis_result* result = NULL;
 *   if (amanuensis_transcribe_file(model, "speech.mp3", &tp, &result) == AMANUENSIS_OK) {
 *     for (size_t i = 0; i < amanuensis_result_n_segments(result); ++i)
 *       printf("%s\n", amanuensis_result_segment(result, i)->text);
 *     amanuensis_result_free(result);
 *   }
 *   amanuensis_model_free(model);
 *
 * Threads: a model may be shared by any number of threads, each transcribing at once (their
 * decoder steps share work). Results belong to the caller and are read from any one thread.
 * Errors: every function that can fail returns an amanuensis_status; amanuensis_last_error()
 * then gives the message (naming the file, field or option at fault) for the calling thread.
 * Strings are UTF-8 and NUL-terminated; every one the API returns lives as long as the object
 * it came from.
 */
#ifndef AMANUENSIS_C_H
#define AMANUENSIS_C_H

/* A C header: C's names, typedefs and headers, not the C++ style clang-tidy checks for. */
/* NOLINTBEGIN(readability-identifier-naming,modernize-use-using,modernize-deprecated-headers) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AMANUENSIS_API __attribute__((visibility("default")))
#else
#define AMANUENSIS_API
#endif

/* Bumped when a struct below gains a field or a function changes; amanuensis_c_api_version()
 * returns the value the library was built with. */
#define AMANUENSIS_C_API_VERSION 1

typedef enum amanuensis_status {
  AMANUENSIS_OK = 0,
  AMANUENSIS_ERROR_INVALID_ARGUMENT = 1, /* a NULL handle, an option out of range, ... */
  AMANUENSIS_ERROR_MODEL = 2,            /* the model folder is missing or broken */
  AMANUENSIS_ERROR_AUDIO = 3,            /* the audio cannot be read or decoded */
  AMANUENSIS_ERROR_ABORTED = 4,          /* the abort callback asked to stop */
  AMANUENSIS_ERROR_OUT_OF_MEMORY = 5,
  AMANUENSIS_ERROR_INTERNAL = 6 /* anything else; the message says what */
} amanuensis_status;

typedef enum amanuensis_log_level {
  AMANUENSIS_LOG_ERROR = 0,
  AMANUENSIS_LOG_WARNING = 1,
  AMANUENSIS_LOG_INFO = 2
} amanuensis_log_level;

typedef struct amanuensis_model amanuensis_model;
typedef struct amanuensis_result amanuensis_result;

/* The library's version ("0.1.0") and the C API version it implements. */
AMANUENSIS_API const char* amanuensis_version(void);
AMANUENSIS_API int amanuensis_c_api_version(void);

/* A constant name for a status ("AMANUENSIS_ERROR_MODEL"). */
AMANUENSIS_API const char* amanuensis_status_name(amanuensis_status status);

/* The message of the last failed call on this thread ("" if none). Valid until this thread's next
 * call into the library. */
AMANUENSIS_API const char* amanuensis_last_error(void);

/* The library's log lines (backend selection, failover to the CPU): a few a process, from
 * whichever thread meets the event. NULL restores the default, standard error. */
typedef void (*amanuensis_log_callback)(amanuensis_log_level level, const char* message,
                                        void* user_data);
AMANUENSIS_API void amanuensis_set_log_callback(amanuensis_log_callback callback, void* user_data);

/* ---- Models -------------------------------------------------------------------------------- */

struct amanuensis_model_params {
  const char* compute_type; /* "default", "float32", "float16", "bfloat16", "int8", ... */
  const char* device;       /* "auto", "cpu", "cuda", "opencl" or "npu" */
  int threads;              /* compute threads; 0: one per core */
  int decode_lanes;         /* see ModelOptions::decode_lanes in amanuensis.h; 0: automatic */
  int device_index;         /* which device of `device`, from 0; -1: the backend's choice */
};

AMANUENSIS_API struct amanuensis_model_params amanuensis_model_default_params(void);

/* Loads a Whisper model: a CTranslate2 or Hugging Face folder, or a whisper.cpp ggml file.
 * params may be NULL (the defaults). */
AMANUENSIS_API amanuensis_status amanuensis_model_load(const char* path,
                                                       const struct amanuensis_model_params* params,
                                                       amanuensis_model** out);
AMANUENSIS_API void amanuensis_model_free(amanuensis_model* model);

AMANUENSIS_API bool amanuensis_model_is_multilingual(const amanuensis_model* model);
/* What the model computes with, e.g. "cpu x8, int8 gemm avx512, ...". */
AMANUENSIS_API const char* amanuensis_model_backend(const amanuensis_model* model);

/* ---- Audio ---------------------------------------------------------------------------------- */

/* Decodes a file (any format FFmpeg reads) or bytes in memory to 16 kHz mono float samples, which
 * the caller frees with amanuensis_samples_free. */
AMANUENSIS_API amanuensis_status amanuensis_decode_audio_file(const char* path, float** samples,
                                                              size_t* n_samples);
AMANUENSIS_API amanuensis_status amanuensis_decode_audio_bytes(const uint8_t* bytes, size_t n_bytes,
                                                               float** samples, size_t* n_samples);
AMANUENSIS_API void amanuensis_samples_free(float* samples);

/* ---- Transcription -------------------------------------------------------------------------- */

typedef struct amanuensis_word {
  double start; /* seconds from the start of the audio */
  double end;
  const char* word;
  float probability;
} amanuensis_word;

typedef struct amanuensis_segment {
  int id;
  int seek; /* mel frame (10 ms) where the segment's window started */
  double start;
  double end;
  const char* text;
  const int* tokens;
  size_t n_tokens;
  float temperature;
  float avg_logprob;
  float compression_ratio;
  float no_speech_prob;
  const amanuensis_word* words; /* with word_timestamps */
  size_t n_words;
  const char* language; /* with multilingual: the language it was decoded in; else "" */
} amanuensis_segment;

/* Voice activity detection settings: faster-whisper's VadOptions, same names and defaults. */
struct amanuensis_vad_params {
  float threshold;     /* 0.5 */
  float neg_threshold; /* NAN: max(threshold - 0.15, 0.01) */
  int min_speech_duration_ms;
  float max_speech_duration_s; /* INFINITY: no limit */
  int min_silence_duration_ms; /* 2000 */
  int speech_pad_ms;           /* 400 */
};

/* Called with each segment as soon as its window is decoded; the pointers in it are valid during
 * the call only. */
typedef void (*amanuensis_segment_callback)(const amanuensis_segment* segment, void* user_data);
/* Polled about every 10 ms while a transcription runs, from a helper thread (so what it reads
 * must be safe to read there: an atomic flag, say); returning true stops the transcription, which
 * then returns AMANUENSIS_ERROR_ABORTED. */
typedef bool (*amanuensis_abort_callback)(void* user_data);

/* faster-whisper's WhisperModel.transcribe() options, same names and defaults. A float that is
 * NAN leaves its check off (faster-whisper's None); a tristate int is -1 for "unset". */
struct amanuensis_transcribe_params {
  const char* language; /* ISO-639-1; NULL or "": detect */
  const char* task;     /* "transcribe" or "translate" */
  int beam_size;
  int best_of;
  float patience;
  float length_penalty;
  const float* temperatures; /* NULL: 0.0, 0.2, ..., 1.0; else at least one */
  size_t n_temperatures;
  float compression_ratio_threshold; /* 2.4 */
  float log_prob_threshold;          /* -1.0 */
  float no_speech_threshold;         /* 0.6 */
  bool condition_on_previous_text;
  float prompt_reset_on_temperature;
  const char* initial_prompt;
  const char* prefix;
  const char* hotwords;
  bool suppress_blank;
  const int* suppress_tokens; /* NULL: {-1}, the non-speech set; non-NULL with 0: none */
  size_t n_suppress_tokens;
  int without_timestamps; /* -1 unset (off sequential, on batched), 0, 1 */
  float max_initial_timestamp;
  int max_new_tokens; /* 0: until the context is full */
  bool word_timestamps;
  const char* prepend_punctuations;      /* NULL: faster-whisper's set */
  const char* append_punctuations;       /* NULL: faster-whisper's set */
  float hallucination_silence_threshold; /* NAN: off */
  const float* clip_timestamps;          /* start,end,... seconds; NULL: all */
  size_t n_clip_timestamps;
  uint64_t seed;
  float repetition_penalty;
  int no_repeat_ngram_size;
  int vad_filter; /* -1 unset (off sequential, on batched), 0, 1 */
  const struct amanuensis_vad_params* vad_parameters; /* NULL: the mode's defaults */
  const char* vad_model;                              /* NULL: built in */
  int batch_size; /* 0: sequential; N: faster-whisper's BatchedInferencePipeline */
  const int* initial_prompt_tokens; /* token ids in place of initial_prompt; NULL: none */
  size_t n_initial_prompt_tokens;
  int language_detection_segments;    /* 1: windows detection may look at */
  float language_detection_threshold; /* 0.5 */
  bool multilingual;                  /* each window in its own language (segment.language) */
  const char* const* languages;       /* ISO codes detection may choose from; NULL: all */
  size_t n_languages;
  const char* keywords; /* words to favour in the search, "Gutenberg:2,Caxton"; NULL: none */
  int chunk_length;     /* seconds of audio per window, 1 to 30; 0: 30 (faster-whisper's) */

  amanuensis_segment_callback on_segment;
  void* on_segment_user_data;
  amanuensis_abort_callback abort_callback;
  void* abort_user_data;
};

AMANUENSIS_API struct amanuensis_transcribe_params amanuensis_transcribe_default_params(void);
AMANUENSIS_API struct amanuensis_vad_params amanuensis_vad_default_params(void);

/* Transcribes 16 kHz mono samples, or a file. params may be NULL (the defaults). */
AMANUENSIS_API amanuensis_status
amanuensis_transcribe(const amanuensis_model* model, const float* samples, size_t n_samples,
                      const struct amanuensis_transcribe_params* params, amanuensis_result** out);
AMANUENSIS_API amanuensis_status amanuensis_transcribe_file(
    const amanuensis_model* model, const char* path,
    const struct amanuensis_transcribe_params* params, amanuensis_result** out);

AMANUENSIS_API void amanuensis_result_free(amanuensis_result* result);
AMANUENSIS_API const char* amanuensis_result_language(const amanuensis_result* result);
AMANUENSIS_API float amanuensis_result_language_probability(const amanuensis_result* result);
AMANUENSIS_API double amanuensis_result_duration(const amanuensis_result* result);
AMANUENSIS_API double amanuensis_result_duration_after_vad(const amanuensis_result* result);
AMANUENSIS_API size_t amanuensis_result_n_segments(const amanuensis_result* result);
/* NULL when index is out of range. */
AMANUENSIS_API const amanuensis_segment* amanuensis_result_segment(const amanuensis_result* result,
                                                                   size_t index);

#ifdef __cplusplus
}
#endif

/* NOLINTEND(readability-identifier-naming,modernize-use-using,modernize-deprecated-headers) */

#endif /* AMANUENSIS_C_H */
