/* The C API driven from C: version, defaults, a transcript of jfk.wav with its segments streamed,
 * word timings, an abort mid-way, the log callback, and a clear error for a bad model path, a
 * bad option and unreadable audio.
 *
 * usage: c_api_test MODEL_DIR JFK_WAV
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis/amanuensis_c.h"

static int failures = 0;

#define CHECK(condition)                                                                \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #condition, amanuensis_last_error());                                     \
      ++failures;                                                                       \
    }                                                                                   \
  } while (0)

/* Atomic: the abort callback reads it on the library's helper thread while on_segment writes it
 * on the transcribing one. */
struct stream {
  atomic_int segments;
  int stop_after;
};

static void on_segment(const amanuensis_segment* segment, void* user_data) {
  struct stream* s = (struct stream*)user_data;
  if (segment->text != NULL && segment->end >= segment->start) ++s->segments;
}

static bool should_abort(void* user_data) {
  struct stream* s = (struct stream*)user_data;
  return s->stop_after > 0 && atomic_load(&s->segments) >= s->stop_after;
}

struct log_record {
  int lines;
  int warnings;
  char last[512];
};

static void on_log(amanuensis_log_level level, const char* message, void* user_data) {
  struct log_record* log = (struct log_record*)user_data;
  ++log->lines;
  if (level == AMANUENSIS_LOG_WARNING) ++log->warnings;
  snprintf(log->last, sizeof log->last, "%s", message);
}

static char* text_of(const amanuensis_result* result) {
  static char text[4096];
  text[0] = '\0';
  for (size_t i = 0; i < amanuensis_result_n_segments(result); ++i) {
    strncat(text, amanuensis_result_segment(result, i)->text, sizeof text - strlen(text) - 1);
  }
  return text;
}

static void check_versions_and_errors(const char* model_dir) {
  CHECK(amanuensis_c_api_version() == AMANUENSIS_C_API_VERSION);
  CHECK(strlen(amanuensis_version()) >= 5);
  CHECK(strcmp(amanuensis_status_name(AMANUENSIS_ERROR_ABORTED), "AMANUENSIS_ERROR_ABORTED") == 0);

  amanuensis_model* model = (amanuensis_model*)1;
  char missing[1024];
  snprintf(missing, sizeof missing, "%s/no-such-model", model_dir);
  CHECK(amanuensis_model_load(missing, NULL, &model) == AMANUENSIS_ERROR_MODEL);
  CHECK(model == NULL);
  CHECK(strstr(amanuensis_last_error(), "no-such-model") != NULL);
  CHECK(amanuensis_model_load(NULL, NULL, &model) == AMANUENSIS_ERROR_MODEL);
}

static void check_transcript(const amanuensis_model* model, const char* wav) {
  struct stream stream = {0, 0};
  struct amanuensis_transcribe_params params = amanuensis_transcribe_default_params();
  CHECK(params.beam_size == 5 && params.best_of == 5 && params.vad_filter == -1);
  CHECK(isnan(params.hallucination_silence_threshold) && params.log_prob_threshold == -1.0F);
  CHECK(params.language_detection_segments == 1 && params.language_detection_threshold == 0.5F);
  CHECK(!params.multilingual && params.languages == NULL && params.initial_prompt_tokens == NULL);
  params.language = "en";
  params.word_timestamps = true;
  params.on_segment = on_segment;
  params.on_segment_user_data = &stream;
  amanuensis_result* result = NULL;
  CHECK(amanuensis_transcribe_file(model, wav, &params, &result) == AMANUENSIS_OK);
  if (result == NULL) return;
  const char* text = text_of(result);
  printf("jfk.wav: %s\n", text);
  CHECK(strstr(text, "ask not what your country can do for you") != NULL);
  CHECK(strcmp(amanuensis_result_language(result), "en") == 0);
  CHECK(fabs(amanuensis_result_duration(result) - 11.0) < 0.01);
  CHECK(stream.segments == (int)amanuensis_result_n_segments(result) && stream.segments > 0);
  CHECK(amanuensis_result_segment(result, amanuensis_result_n_segments(result)) == NULL);
  double previous_end = 0.0;
  size_t words = 0;
  for (size_t i = 0; i < amanuensis_result_n_segments(result); ++i) {
    const amanuensis_segment* segment = amanuensis_result_segment(result, i);
    CHECK(segment->n_tokens > 0 && segment->tokens != NULL);
    CHECK(segment->language != NULL && segment->language[0] == '\0'); /* not multilingual */
    for (size_t w = 0; w < segment->n_words; ++w) {
      CHECK(segment->words[w].start >= previous_end - 1e-6);
      CHECK(segment->words[w].end >= segment->words[w].start);
      previous_end = segment->words[w].end;
      ++words;
    }
  }
  CHECK(words >= 20);
  amanuensis_result_free(result);
}

static void check_abort(const amanuensis_model* model, const char* wav) {
  float* samples = NULL;
  size_t n = 0;
  CHECK(amanuensis_decode_audio_file(wav, &samples, &n) == AMANUENSIS_OK && n == 176000);
  if (samples == NULL) return;
  /* Four times the clip: two 30-second windows. Stop once the first segment is out. */
  float* four = (float*)malloc(4 * n * sizeof(float));
  for (int k = 0; k < 4; ++k) memcpy(four + k * n, samples, n * sizeof(float));
  struct stream whole = {0, 0};
  struct stream stopped = {0, 1};
  struct amanuensis_transcribe_params params = amanuensis_transcribe_default_params();
  const float greedy[1] = {0.0F};
  params.beam_size = 1;
  params.temperatures = greedy; /* the repeated clip would send beam search into fallbacks */
  params.n_temperatures = 1;
  params.condition_on_previous_text = false;
  params.on_segment = on_segment;
  params.on_segment_user_data = &whole;
  amanuensis_result* result = NULL;
  CHECK(amanuensis_transcribe(model, four, 4 * n, &params, &result) == AMANUENSIS_OK);
  amanuensis_result_free(result);
  params.on_segment_user_data = &stopped;
  params.abort_callback = should_abort;
  params.abort_user_data = &stopped;
  result = (amanuensis_result*)1;
  CHECK(amanuensis_transcribe(model, four, 4 * n, &params, &result) == AMANUENSIS_ERROR_ABORTED);
  CHECK(result == NULL);
  printf("abort: %d of %d segments before stopping\n", stopped.segments, whole.segments);
  CHECK(stopped.segments >= 1 && stopped.segments < whole.segments);
  free(four);
  amanuensis_samples_free(samples);
}

/* A transcription with these params is refused as an invalid argument, naming `field`. */
static void expect_invalid(const amanuensis_model* model,
                           const struct amanuensis_transcribe_params* params, const char* field) {
  const float silence[16000] = {0};
  amanuensis_result* result = NULL;
  CHECK(amanuensis_transcribe(model, silence, 16000, params, &result) ==
        AMANUENSIS_ERROR_INVALID_ARGUMENT);
  CHECK(result == NULL);
  CHECK(strstr(amanuensis_last_error(), field) != NULL);
}

static void check_bad_input(const amanuensis_model* model) {
  struct amanuensis_transcribe_params params = amanuensis_transcribe_default_params();
  amanuensis_result* result = NULL;
  const float silence[16000] = {0};
  params.beam_size = 0;
  expect_invalid(model, &params, "beam_size");
  params = amanuensis_transcribe_default_params();
  params.vad_filter = 7;
  expect_invalid(model, &params, "vad_filter");
  params = amanuensis_transcribe_default_params();
  params.multilingual = true; /* tiny.en is English-only */
  expect_invalid(model, &params, "multilingual");
  params = amanuensis_transcribe_default_params();
  params.language_detection_segments = 0;
  expect_invalid(model, &params, "language_detection_segments");
  params = amanuensis_transcribe_default_params();
  params.n_languages = 1; /* with a NULL list */
  expect_invalid(model, &params, "languages");
  params = amanuensis_transcribe_default_params();
  CHECK(params.keywords == NULL);
  params.keywords = "Gutenberg:2,clubs:0";
  expect_invalid(model, &params, "keywords");
  struct amanuensis_vad_params vad = amanuensis_vad_default_params();
  CHECK(vad.threshold == 0.5F && vad.min_silence_duration_ms == 2000 && isnan(vad.neg_threshold));
  vad.threshold = 2.0F;
  params = amanuensis_transcribe_default_params();
  params.vad_parameters = &vad;
  expect_invalid(model, &params, "threshold");
  CHECK(amanuensis_transcribe_file(model, "/no/such/file.wav", NULL, &result) ==
        AMANUENSIS_ERROR_AUDIO);
  CHECK(strstr(amanuensis_last_error(), "/no/such/file.wav") != NULL);
  const uint8_t junk[64] = {1, 2, 3};
  float* samples = NULL;
  size_t n = 0;
  CHECK(amanuensis_decode_audio_bytes(junk, sizeof junk, &samples, &n) == AMANUENSIS_ERROR_AUDIO);
  CHECK(amanuensis_transcribe(NULL, silence, 16000, NULL, &result) ==
        AMANUENSIS_ERROR_INVALID_ARGUMENT);
  /* Silence gives an empty transcript, not an error. */
  params = amanuensis_transcribe_default_params();
  params.vad_filter = 1;
  CHECK(amanuensis_transcribe(model, silence, 16000, &params, &result) == AMANUENSIS_OK);
  CHECK(amanuensis_result_n_segments(result) == 0);
  amanuensis_result_free(result);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL_DIR JFK_WAV\n", argv[0]);
    return 2;
  }
  char tiny[1024];
  snprintf(tiny, sizeof tiny, "%s/tiny.en", argv[1]);
  check_versions_and_errors(argv[1]);

  struct log_record log = {0, 0, ""};
  amanuensis_set_log_callback(on_log, &log);
  struct amanuensis_model_params model_params = amanuensis_model_default_params();
  model_params.threads = 2;
  model_params.device = "npu"; /* absent here: falls back to the cpu and says so in the log */
  amanuensis_model* model = NULL;
  CHECK(amanuensis_model_load(tiny, &model_params, &model) == AMANUENSIS_OK);
  amanuensis_set_log_callback(NULL, NULL);
  printf("log: %d lines, %d warnings, last: %s\n", log.lines, log.warnings, log.last);
  CHECK(log.warnings >= 1 && strstr(log.last, "instead of the requested npu") != NULL);
  if (model == NULL) return 1;
  CHECK(!amanuensis_model_is_multilingual(model));
  CHECK(strncmp(amanuensis_model_backend(model), "cpu", 3) == 0);

  check_transcript(model, argv[2]);
  check_abort(model, argv[2]);
  check_bad_input(model);
  amanuensis_model_free(model);
  printf("%s\n", failures == 0 ? "all C API checks passed" : "C API checks FAILED");
  return failures == 0 ? 0 : 1;
}
