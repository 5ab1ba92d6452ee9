// Decoding several requests at once: WhisperModel::decode_batch against each state decoded alone
// (bit for bit, float32 and int8 weights), DecodeBatcher's merging, row bound, errors and
// cancellation, and concurrent Model::transcribe calls against each alone (tiny.en and base,
// greedy and beam search, word timestamps). Needs models/ and ../shared/audio; skips without them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <latch>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "decoding/search.h"
#include "features/log_mel.h"
#include "kernels/backend.h"
#include "model/decode_batcher.h"
#include "model/whisper_model.h"
#include "model/whisper_weights.h"

namespace amanuensis {
namespace {

const std::filesystem::path kModels = AMANUENSIS_MODELS_DIR;
const std::filesystem::path kAudio = AMANUENSIS_SHARED_AUDIO;

bool have(const std::filesystem::path& path) { return std::filesystem::exists(path); }

// Forwards to the CPU backend; throws from linear products once armed (a device failing mid-step).
class FailingBackend final : public kernels::Backend {
 public:
  explicit FailingBackend(bool* armed) : cpu_(kernels::make_cpu_backend(1)), armed_(armed) {}
  [[nodiscard]] std::string_view name() const override { return "failing"; }
  [[nodiscard]] std::string describe() const override { return "failing cpu"; }
  void matmul(kernels::MatrixView a, kernels::MatrixView b, bool transpose_b, float alpha,
              float beta, kernels::MutableMatrixView c) override {
    cpu_->matmul(a, b, transpose_b, alpha, beta, c);
  }
  void linear(kernels::MatrixView x, kernels::MatrixView weight, std::span<const float> bias,
              kernels::MutableMatrixView y) override {
    fail_if_armed();
    cpu_->linear(x, weight, bias, y);
  }
  void linear_int8(kernels::MatrixView x, const kernels::Int8Matrix& weight,
                   std::span<const float> bias, kernels::MutableMatrixView y) override {
    fail_if_armed();
    cpu_->linear_int8(x, weight, bias, y);
  }
  void attention(kernels::MatrixView q, kernels::MatrixView k, kernels::MatrixView v, int n_heads,
                 float scale, int causal_offset, kernels::MutableMatrixView out) override {
    cpu_->attention(q, k, v, n_heads, scale, causal_offset, out);
  }
  void layer_norm(kernels::MutableMatrixView x, std::span<const float> gamma,
                  std::span<const float> beta, float epsilon) override {
    cpu_->layer_norm(x, gamma, beta, epsilon);
  }
  void gelu(std::span<float> x) override { cpu_->gelu(x); }
  void softmax_rows(kernels::MutableMatrixView x, int causal_offset) override {
    cpu_->softmax_rows(x, causal_offset);
  }
  void add(std::span<const float> x, std::span<float> y) override { cpu_->add(x, y); }

 private:
  void fail_if_armed() const {
    if (*armed_) throw std::runtime_error("device lost");
  }
  std::unique_ptr<kernels::Backend> cpu_;
  const bool* armed_;
};

// tiny.en on the CPU with two windows' cross-attention caches (different audio).
class DecodeBatchTest : public ::testing::TestWithParam<model::WeightType> {
 protected:
  void SetUp() override {
    if (!have(kModels / "tiny.en") || !have(kAudio / "jfk.wav"))
      GTEST_SKIP() << "needs models/tiny.en and ../shared/audio";
    model_ = load(kernels::make_cpu_backend(2));
    for (const char* clip : {"jfk.wav", "LJ001-0001.wav"}) {
      const auto audio = decode_audio_file(kAudio / clip);
      const auto mel =
          features::compute_log_mel(audio, model_->weights().n_mels, model_->backend());
      const int frames = model_->window_frames();
      const auto encoded =
          model_->encode(features::window(mel, 0, std::min(frames, mel.n_frames - 1), frames));
      windows_.push_back(model_->cross_attention_cache(encoded));
    }
  }

  [[nodiscard]] std::unique_ptr<model::WhisperModel> load(
      std::unique_ptr<kernels::Backend> backend) const {
    return std::make_unique<model::WhisperModel>(
        model::load_whisper_weights(kModels / "tiny.en", GetParam()), std::move(backend));
  }

  // A state of `batch` sequences on window `w`, fed `prefix` tokens per sequence (alone).
  [[nodiscard]] model::DecoderState started(int w, int batch, std::vector<int> prefix) const {
    auto state = model_->start_decoding(windows_[w], batch);
    std::vector<int> tokens;
    for (int b = 0; b < batch; ++b) tokens.insert(tokens.end(), prefix.begin(), prefix.end());
    (void)model_->decode(state, tokens, std::vector<int>{});
    return state;
  }

  // int8 products compute each row as it would alone, so a merged step gives every state the
  // very logits it gets alone. OpenBLAS's float32 products round differently with the number of
  // rows (its kernels tile them), so there a merged step agrees to within rounding.
  void expect_same_logits(const std::vector<float>& got, const std::vector<float>& want) const {
    if (GetParam() == model::WeightType::kInt8) {
      EXPECT_EQ(got, want);
      return;
    }
    ASSERT_EQ(got.size(), want.size());
    float worst = 0.0F;
    for (std::size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::abs(got[i] - want[i]) / (1.0F + std::abs(want[i])));
    }
    EXPECT_LT(worst, 1e-4F);
  }

  static constexpr int kStart = 50257;  // <|startoftranscript|> of tiny.en
  std::unique_ptr<model::WhisperModel> model_;
  std::vector<std::shared_ptr<const model::CrossAttentionCache>> windows_;
};

TEST_P(DecodeBatchTest, BatchedStepEqualsEachStateAlone) {
  // Three callers unlike each other: greedy on window 0 at length 3; five beams on window 1 at
  // length 1; an eight-token alignment step on window 0 capturing two heads.
  const std::vector<int> greedy_tokens = {400};
  const std::vector<int> beam_tokens = {1, 2, 3, 4, 5};
  const std::vector<int> align_tokens = {50362, 843, 523, 11, 616, 6283, 3399, 50256};
  const std::vector<int> greedy_rows = {0};
  const std::vector<int> beam_rows = {0, 1, 2, 3, 4};
  const std::vector<int> align_rows = {1, 4, 7};
  model::AttentionCapture capture_alone{{{2, 1}, {3, 5}}, {}};
  model::AttentionCapture capture_batched = capture_alone;

  auto greedy_alone = started(0, 1, {kStart, 50362, 843});
  auto beams_alone = started(1, 5, {kStart});
  auto align_alone = started(0, 1, {kStart});
  auto greedy_batched = started(0, 1, {kStart, 50362, 843});
  auto beams_batched = started(1, 5, {kStart});
  auto align_batched = started(0, 1, {kStart});

  const auto greedy_want = model_->decode(greedy_alone, greedy_tokens, greedy_rows);
  const auto beam_want = model_->decode(beams_alone, beam_tokens, beam_rows);
  const auto align_want = model_->decode(align_alone, align_tokens, align_rows, &capture_alone);

  const auto before = model_->stats();
  std::vector<model::DecodeStep> steps = {
      {&greedy_batched, greedy_tokens, greedy_rows, nullptr, {}},
      {&beams_batched, beam_tokens, beam_rows, nullptr, {}},
      {&align_batched, align_tokens, align_rows, &capture_batched, {}}};
  model_->decode_batch(steps);
  const auto after = model_->stats();

  expect_same_logits(steps[0].logits, greedy_want);
  expect_same_logits(steps[1].logits, beam_want);
  expect_same_logits(steps[2].logits, align_want);
  expect_same_logits(capture_batched.scores, capture_alone.scores);
  EXPECT_EQ(greedy_batched.length, 4);
  EXPECT_EQ(beams_batched.length, 2);
  EXPECT_EQ(align_batched.length, 9);
  EXPECT_EQ(after.decoder_calls - before.decoder_calls, 1);
  EXPECT_EQ(after.batched_calls - before.batched_calls, 1);
  EXPECT_EQ(after.batched_states - before.batched_states, 3);
  EXPECT_EQ(after.batched_tokens - before.batched_tokens, 14);

  // The caches the batched step wrote are the ones the lone steps wrote: the next steps agree.
  const std::vector<int> next = {1000};
  expect_same_logits(model_->decode(greedy_batched, next, greedy_rows),
                     model_->decode(greedy_alone, next, greedy_rows));
  expect_same_logits(model_->decode(align_batched, next, greedy_rows),
                     model_->decode(align_alone, next, greedy_rows));
}

// Beams forked from one sequence keep its prompt once (DecoderState::shared) and attend over it
// and their own rows; five whole copies of the sequence (made here by hand) keep five. Both must
// give the same logits through steps and reorderings (duplicates, drops, a shrink).
TEST_P(DecodeBatchTest, ForkedBeamsShareTheirPromptAndDecodeAsCopiesWould) {
  const std::vector<int> prompt = {kStart, 50362, 843, 523, 11, 616};
  auto forked = started(0, 1, prompt);
  auto copies = started(0, 1, prompt);
  forked.reorder(std::vector<int>(5, 0));
  copies.sequences.resize(5);
  for (std::size_t b = 1; b < 5; ++b) {
    copies.sequences[b].keys = copies.sequences[0].keys;
    copies.sequences[b].values = copies.sequences[0].values;
  }
  EXPECT_EQ(forked.shared_length, static_cast<int>(prompt.size()));
  EXPECT_EQ(copies.shared_length, 0);
  const std::vector<std::vector<int>> steps = {
      {1000, 1001, 1002, 1003, 1004}, {7, 8, 9, 10, 11}, {300, 301, 302}, {5, 6, 7}};
  const std::vector<std::vector<int>> orders = {{2, 2, 0, 4, 1}, {4, 0, 1}, {0, 0, 2}};
  for (std::size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    std::vector<int> rows(steps[i].size());
    std::iota(rows.begin(), rows.end(), 0);
    expect_same_logits(model_->decode(forked, steps[i], rows),
                       model_->decode(copies, steps[i], rows));
    if (i < orders.size()) {
      forked.reorder(orders[i]);
      copies.reorder(orders[i]);
    }
  }
  EXPECT_EQ(forked.length, copies.length);
}

TEST_P(DecodeBatchTest, ABadStepFailsAloneBeforeAnyBatch) {
  model::DecodeBatcher batcher(*model_);
  model::DecodeBatcher::Session session(batcher, {});
  auto state = started(0, 2, {kStart});
  const std::vector<int> ragged = {1, 2, 3};
  const std::vector<int> out_of_range = {1, 99999};
  const std::vector<int> fine = {1, 2};
  const std::vector<int> row = {0};
  const std::vector<int> bad_row = {2};
  EXPECT_THROW((void)session.decode(state, ragged, row), Error);
  EXPECT_THROW((void)session.decode(state, out_of_range, row), Error);
  EXPECT_THROW((void)session.decode(state, fine, bad_row), Error);
  EXPECT_EQ(state.length, 1);
  EXPECT_EQ(session.decode(state, fine, row).size(),
            static_cast<std::size_t>(model_->weights().n_vocab));
}

// Runs `step(i)` on `n` threads that all start together; returns each one's exception message
// ("" when it returned).
std::vector<std::string> on_threads(int n, const std::function<void(int)>& step) {
  std::vector<std::string> errors(n);
  std::latch ready(n);
  std::vector<std::jthread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      try {
        step(i);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  threads.clear();
  return errors;
}

TEST_P(DecodeBatchTest, OpenSessionsMergeTheirStepsAndGetTheirOwnResults) {
  model::DecodeBatcher batcher(*model_);
  std::vector<model::DecoderState> alone;
  std::vector<model::DecoderState> merged;
  for (int w = 0; w < 2; ++w) {
    alone.push_back(started(w, 1, {kStart}));
    merged.push_back(started(w, 1, {kStart}));
  }
  const std::vector<std::vector<int>> tokens = {{50362}, {50363}};
  const std::vector<int> row = {0};
  std::vector<std::vector<float>> want;
  for (int i = 0; i < 2; ++i) want.push_back(model_->decode(alone[i], tokens[i], row));

  const auto before = model_->stats();
  std::vector<std::vector<float>> got(2);
  std::latch sessions_open(2);
  const auto errors = on_threads(2, [&](int i) {
    model::DecodeBatcher::Session session(batcher, {});
    // Both sessions are open before either steps, so whichever steps first waits for the other.
    sessions_open.arrive_and_wait();
    got[i] = session.decode(merged[i], tokens[i], row);
  });
  const auto after = model_->stats();
  EXPECT_EQ(errors, (std::vector<std::string>{"", ""}));
  for (int i = 0; i < 2; ++i) expect_same_logits(got[i], want[i]);
  EXPECT_EQ(after.decoder_calls - before.decoder_calls, 1);
  EXPECT_EQ(after.batched_calls - before.batched_calls, 1);
  EXPECT_EQ(after.batched_states - before.batched_states, 2);
}

// Two sessions open at once, each taking one single-row step; returns how many decoder calls
// and shared calls that made.
std::pair<std::int64_t, std::int64_t> step_two_sessions(const model::WhisperModel& whisper,
                                                        model::DecodeBatcher& batcher,
                                                        std::vector<model::DecoderState>& states) {
  const std::vector<int> token = {50362};
  const std::vector<int> row = {0};
  const auto before = whisper.stats();
  std::latch sessions_open(2);
  const auto errors = on_threads(2, [&](int i) {
    model::DecodeBatcher::Session session(batcher, {});
    sessions_open.arrive_and_wait();
    (void)session.decode(states[i], token, row);
  });
  EXPECT_EQ(errors, (std::vector<std::string>{"", ""}));
  const auto after = whisper.stats();
  return {after.decoder_calls - before.decoder_calls, after.batched_calls - before.batched_calls};
}

TEST_P(DecodeBatchTest, AFullBatchStartsWithoutWaitingForOpenSessions) {
  model::DecodeBatcher batcher(*model_, /*lanes=*/1, /*max_rows=*/1);
  std::vector<model::DecoderState> states;
  for (int w = 0; w < 2; ++w) states.push_back(started(w, 1, {kStart}));
  EXPECT_EQ(step_two_sessions(*model_, batcher, states),
            (std::pair<std::int64_t, std::int64_t>{2, 0}));
}

TEST_P(DecodeBatchTest, SessionsWithALaneEachStepSideBySide) {
  model::DecodeBatcher batcher(*model_, /*lanes=*/2);
  std::vector<model::DecoderState> states;
  for (int w = 0; w < 2; ++w) states.push_back(started(w, 1, {kStart}));
  EXPECT_EQ(step_two_sessions(*model_, batcher, states),
            (std::pair<std::int64_t, std::int64_t>{2, 0}));
}

TEST_P(DecodeBatchTest, AFailedBatchFailsEveryCallerInIt) {
  bool armed = false;
  const auto failing = load(std::make_unique<FailingBackend>(&armed));
  model::DecodeBatcher batcher(*failing);
  std::vector<model::DecoderState> states;
  for (int w = 0; w < 2; ++w) states.push_back(failing->start_decoding(windows_[w]));
  const std::vector<int> token = {kStart};
  const std::vector<int> row = {0};
  armed = true;
  std::latch sessions_open(2);
  const auto errors = on_threads(2, [&](int i) {
    model::DecodeBatcher::Session session(batcher, {});
    sessions_open.arrive_and_wait();
    (void)session.decode(states[i], token, row);
  });
  EXPECT_EQ(errors, (std::vector<std::string>{"device lost", "device lost"}));
  EXPECT_EQ(failing->stats().batched_calls, 1);
  // The batcher is usable again afterwards.
  armed = false;
  auto state = failing->start_decoding(windows_[0]);
  model::DecodeBatcher::Session session(batcher, {});
  EXPECT_EQ(session.decode(state, token, row).size(),
            static_cast<std::size_t>(failing->weights().n_vocab));
}

TEST_P(DecodeBatchTest, AStepWaitingForABatchCanBeCancelled) {
  model::DecodeBatcher batcher(*model_);
  auto waiting_state = started(1, 1, {kStart});
  auto holding_state = started(0, 1, {kStart});
  const std::vector<int> token = {50362};
  const std::vector<int> row = {0};
  std::stop_source stop;
  std::latch sessions_open(2);
  std::latch cancelled(1);
  const auto before = model_->stats();
  const auto errors = on_threads(2, [&](int i) {
    if (i == 0) {
      // Open, between steps: the other session's step waits for this one's next step...
      model::DecodeBatcher::Session session(batcher, {});
      sessions_open.arrive_and_wait();
      stop.request_stop();  // ...until its caller gives up,
      cancelled.wait();
      (void)session.decode(holding_state, token, row);  // and this one then steps alone.
    } else {
      model::DecodeBatcher::Session session(batcher, stop.get_token());
      sessions_open.arrive_and_wait();
      try {
        (void)session.decode(waiting_state, token, row);
      } catch (...) {
        cancelled.count_down();
        throw;
      }
      cancelled.count_down();
    }
  });
  const auto after = model_->stats();
  EXPECT_EQ(errors, (std::vector<std::string>{"", "transcription cancelled"}));
  EXPECT_EQ(waiting_state.length, 1);
  EXPECT_EQ(holding_state.length, 2);
  EXPECT_EQ(after.decoder_calls - before.decoder_calls, 1);
  EXPECT_EQ(after.batched_calls, before.batched_calls);
}

// The batched pipeline's search: several windows searched side by side, every step carrying all
// of them, give each window what searching it alone gives (int8: the very same scores).
TEST_P(DecodeBatchTest, WindowsSearchedTogetherEqualEachAlone) {
  decoding::DecodeRequest request;
  request.prompt = {kStart, 50362};  // start of transcript, no timestamps
  request.end_of_text = 50256;
  request.no_speech_token = 50361;
  request.max_new_tokens = 60;
  for (const int beams : {1, 5}) {
    const decoding::SearchOptions search{.beam_size = beams};
    model::DecodeBatcher batcher(*model_);
    std::mt19937_64 random(0);
    std::vector<decoding::DecodeResult> alone;
    for (const auto& window : windows_) {
      alone.push_back(decoding::decode_window(batcher, window, request, search, random, {}));
    }
    const std::vector<decoding::DecodeRequest> requests(windows_.size(), request);
    const auto before = model_->stats();
    const auto together = decoding::decode_windows(batcher, windows_, requests, search, random, {});
    const auto after = model_->stats();
    ASSERT_EQ(together.size(), alone.size());
    for (std::size_t w = 0; w < alone.size(); ++w) {
      EXPECT_FALSE(alone[w].tokens.empty());
      EXPECT_EQ(together[w].tokens, alone[w].tokens) << "window " << w << ", beams " << beams;
      if (GetParam() == model::WeightType::kInt8) {
        EXPECT_EQ(together[w].sum_logprob, alone[w].sum_logprob);
        EXPECT_EQ(together[w].no_speech_prob, alone[w].no_speech_prob);
      }
    }
    // Each step carried both windows while both were searching.
    EXPECT_GT(after.batched_calls, before.batched_calls);
  }
}

INSTANTIATE_TEST_SUITE_P(Weights, DecodeBatchTest,
                         ::testing::Values(model::WeightType::kFloat32, model::WeightType::kInt8),
                         [](const auto& info) {
                           return info.param == model::WeightType::kInt8 ? "int8" : "float32";
                         });

// Whole transcriptions through the public Model, as the server runs them.

// Text, tokens and times equal; scores too with int8 weights (`exact`), and within rounding with
// float32 ones (see DecodeBatchTest::expect_same_logits).
void expect_same(const Transcription& got, const Transcription& want, bool exact,
                 const std::string& what) {
  const auto expect_score = [&](float g, float w, const std::string& of) {
    if (exact) {
      EXPECT_EQ(g, w) << what << " " << of;
    } else {
      EXPECT_NEAR(g, w, 1e-4) << what << " " << of;
    }
  };
  EXPECT_EQ(got.language, want.language) << what;
  ASSERT_EQ(got.segments.size(), want.segments.size()) << what;
  for (std::size_t s = 0; s < want.segments.size(); ++s) {
    const auto& g = got.segments[s];
    const auto& w = want.segments[s];
    EXPECT_EQ(g.text, w.text) << what << " segment " << s;
    EXPECT_EQ(g.start, w.start) << what << " segment " << s;
    EXPECT_EQ(g.end, w.end) << what << " segment " << s;
    EXPECT_EQ(g.tokens, w.tokens) << what << " segment " << s;
    expect_score(g.avg_logprob, w.avg_logprob, "avg_logprob");
    expect_score(g.no_speech_prob, w.no_speech_prob, "no_speech_prob");
    EXPECT_EQ(g.temperature, w.temperature) << what << " segment " << s;
    ASSERT_EQ(g.words.size(), w.words.size()) << what << " segment " << s;
    for (std::size_t i = 0; i < w.words.size(); ++i) {
      EXPECT_EQ(g.words[i].word, w.words[i].word) << what << " segment " << s;
      EXPECT_EQ(g.words[i].start, w.words[i].start) << what << " word " << w.words[i].word;
      EXPECT_EQ(g.words[i].end, w.words[i].end) << what << " word " << w.words[i].word;
      expect_score(g.words[i].probability, w.words[i].probability, w.words[i].word);
    }
  }
}

// Each clip transcribed alone, then all at once from as many threads on the same Model: the
// transcripts are the same, and some decoder steps were shared.
void check_concurrent(const std::string& model_name, const std::string& compute_type,
                      const std::vector<std::string>& clips, const TranscribeOptions& options) {
  // One lane: every step that meets another merges, whatever the number of cores.
  const auto model = Model::load({.path = kModels / model_name,
                                  .threads = 2,
                                  .compute_type = compute_type,
                                  .device = "cpu",
                                  .decode_lanes = 1});
  std::vector<Waveform> audio;
  for (const auto& clip : clips) audio.push_back(decode_audio_file(kAudio / clip));
  std::vector<Transcription> alone;
  for (const auto& a : audio) alone.push_back(model.transcribe(a, options));

  const std::string what = model_name + " " + compute_type + " beam " +
                           std::to_string(options.beam_size) +
                           (options.word_timestamps ? " words" : "");
  // Whether the requests' decoding overlaps depends on the scheduler (one may finish before
  // another's encoder does): a few tries, each of which must give the same transcripts.
  std::int64_t merged = 0;
  for (int attempt = 0; attempt < 6 && merged == 0; ++attempt) {
    const auto before = model.timings();
    std::vector<Transcription> together(clips.size());
    const auto errors = on_threads(static_cast<int>(clips.size()), [&](int i) {
      together[i] = model.transcribe(audio[i], options);
    });
    const auto after = model.timings();
    for (std::size_t i = 0; i < clips.size(); ++i) {
      EXPECT_EQ(errors[i], "") << what << " " << clips[i];
      expect_same(together[i], alone[i], compute_type == "int8", what + " " + clips[i]);
    }
    merged = after.batched_calls - before.batched_calls;
    EXPECT_GE(after.batched_requests - before.batched_requests, 2 * merged) << what;
  }
  EXPECT_GT(merged, 0) << what << ": no decoder step was shared";
}

TEST(ConcurrentTranscriptions, EqualEachAloneTinyEn) {
  if (!have(kModels / "tiny.en") || !have(kAudio / "jfk.wav"))
    GTEST_SKIP() << "needs models/tiny.en and ../shared/audio";
  const std::vector<std::string> clips = {"jfk.wav", "LJ001-0001.wav", "LJ001-0002.wav",
                                          "ls-1272-128104-0000.wav"};
  for (const char* compute_type : {"default", "int8"}) {
    for (const int beam : {1, 5}) {
      TranscribeOptions options;
      options.beam_size = beam;
      options.word_timestamps = true;
      check_concurrent("tiny.en", compute_type, clips, options);
    }
  }
}

TEST(ConcurrentTranscriptions, EqualEachAloneBase) {
  if (!have(kModels / "base") || !have(kAudio / "leopard-de.wav"))
    GTEST_SKIP() << "needs models/base and ../shared/audio";
  // Language detection (English, German, Spanish) goes through the shared decoder too.
  TranscribeOptions options;
  options.word_timestamps = true;
  check_concurrent("base", "int8", {"jfk.wav", "leopard-de.wav", "leopard-es.wav"}, options);
}

}  // namespace
}  // namespace amanuensis
