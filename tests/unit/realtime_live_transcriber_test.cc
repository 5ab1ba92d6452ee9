// LiveTranscriber with a stand-in decoder (manual commits, so no VAD): deltas only ever extend
// the text, the transcript is the deltas plus the tail even when the last decode disagrees,
// final decodes keep turn order, clear and close stop events, the buffer limit holds; a turn's
// end stops its partial decode; with server_vad (real speech) the decode started at a silence is
// the final one when the turn ends there and is dropped when speech resumes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "realtime/live_transcriber.h"
#include "realtime/task_thread.h"

namespace amanuensis::realtime {
namespace {

struct Event {
  std::string kind;
  std::string item;
  std::string text;
};

// Records callbacks; checks they never overlap.
struct Recorder {
  std::mutex mutex;
  std::vector<Event> events;
  std::atomic<int> inside{0};

  void add(Event e) {
    EXPECT_EQ(inside.fetch_add(1), 0) << "callbacks overlap";
    {
      const std::lock_guard lock(mutex);
      events.push_back(std::move(e));
    }
    inside.fetch_sub(1);
  }
  std::vector<Event> snapshot() {
    const std::lock_guard lock(mutex);
    return events;
  }
  LiveCallbacks callbacks() {
    LiveCallbacks c;
    c.on_speech_started = [this](const std::string& i, std::int64_t ms) {
      add({"started", i, std::to_string(ms)});
    };
    c.on_speech_stopped = [this](const std::string& i, std::int64_t ms) {
      add({"stopped", i, std::to_string(ms)});
    };
    c.on_committed = [this](const std::string& i, const std::string& prev) {
      add({"committed", i, prev});
    };
    c.on_delta = [this](const std::string& i, const std::string& d, const Logprobs&) {
      add({"delta", i, d});
    };
    c.on_completed = [this](const std::string& i, const std::string& t, const Logprobs&, double) {
      add({"completed", i, t});
    };
    c.on_failed = [this](const std::string& i, const std::string& e) { add({"failed", i, e}); };
    return c;
  }
};

// Two words of `sentence` per second of audio: what a decoder of a growing turn would hear.
std::vector<Segment> words_for(std::span<const float> audio,
                               const std::vector<std::string>& sentence) {
  const std::size_t n = std::min(sentence.size(), audio.size() * 2 / kSampleRate);
  Segment s;
  for (std::size_t i = 0; i < n; ++i) s.text += " " + sentence[i];
  return {s};
}

const std::vector<std::string> kSentence = {"One",   "two",   "three", "four", "five",   "six",
                                            "seven", "eight", "nine",  "ten",  "eleven", "twelve"};

LiveOptions manual(double interval = 1.0) {
  LiveOptions o;
  o.turn_detection.reset();
  o.partial_interval_seconds = interval;
  return o;
}

void push_seconds(LiveTranscriber& t, double seconds, std::chrono::milliseconds pause = {}) {
  const std::vector<float> chunk(kSampleRate / 10, 0.01F);
  for (int i = 0; i < static_cast<int>(seconds * 10); ++i) {
    t.push(chunk);
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
}

std::string deltas_of(const std::vector<Event>& events, const std::string& item) {
  std::string text;
  for (const auto& e : events) {
    if (e.kind == "delta" && e.item == item) text += e.text;
  }
  return text;
}

TEST(LiveTranscriberTest, DeltasThenCompletedTranscript) {
  Recorder r;
  realtime::TaskThread thread;
  LiveTranscriber t([](std::span<const float> a, const TranscribeOptions&,
                       std::stop_token) { return words_for(a, kSentence); },
                    manual(), thread.executor(), r.callbacks());
  push_seconds(t, 5.0, std::chrono::milliseconds(5));
  ASSERT_TRUE(t.commit());
  t.wait_idle();
  const auto events = r.snapshot();
  ASSERT_FALSE(events.empty());
  const auto& last = events.back();
  ASSERT_EQ(last.kind, "completed");
  EXPECT_EQ(last.text, "One two three four five six seven eight nine ten");
  const std::string deltas = deltas_of(events, last.item);
  EXPECT_FALSE(deltas.empty());
  EXPECT_TRUE(last.text.starts_with(deltas)) << deltas;
  EXPECT_FALSE(deltas.starts_with(" "));
  // Committed before completed, with no previous item.
  int committed = -1;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == "committed") committed = static_cast<int>(i);
  }
  ASSERT_GE(committed, 0);
  EXPECT_EQ(events[committed].item, last.item);
  EXPECT_EQ(events[committed].text, "");
}

TEST(LiveTranscriberTest, AFinalDecodeThatDisagreesNeverRetracts) {
  Recorder r;
  realtime::TaskThread thread;
  std::atomic<bool> changed{false};
  const std::vector<std::string> other = {"Won", "too", "tree", "for", "fife", "sex", "heaven"};
  LiveTranscriber t([&](std::span<const float> a, const TranscribeOptions&,
                        std::stop_token) { return words_for(a, changed ? other : kSentence); },
                    manual(), thread.executor(), r.callbacks());
  push_seconds(t, 3.0, std::chrono::milliseconds(5));
  t.wait_idle();
  changed = true;
  push_seconds(t, 0.5);
  ASSERT_TRUE(t.commit());
  t.wait_idle();
  const auto events = r.snapshot();
  const auto& last = events.back();
  ASSERT_EQ(last.kind, "completed");
  const std::string deltas = deltas_of(events, last.item);
  ASSERT_FALSE(deltas.empty());
  EXPECT_TRUE(last.text.starts_with(deltas)) << last.text << " / " << deltas;
}

TEST(LiveTranscriberTest, FinalsKeepTurnOrderAndFailuresAreReported) {
  Recorder r;
  realtime::TaskThread thread;
  std::atomic<int> calls{0};
  LiveTranscriber t(
      [&](std::span<const float> a, const TranscribeOptions&, std::stop_token) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (++calls == 2) throw Error("decoder broke");
        return words_for(a, kSentence);
      },
      manual(0), thread.executor(), r.callbacks());
  std::vector<std::string> items;
  for (int turn = 0; turn < 4; ++turn) {
    push_seconds(t, 1.0 + turn);
    ASSERT_TRUE(t.commit());
  }
  t.wait_idle();
  std::vector<Event> ends;
  std::vector<std::string> committed;
  for (const auto& e : r.snapshot()) {
    if (e.kind == "committed") committed.push_back(e.item);
    if (e.kind == "completed" || e.kind == "failed") ends.push_back(e);
    EXPECT_NE(e.kind, "delta");  // interval 0: no re-decodes
  }
  ASSERT_EQ(ends.size(), 4U);
  ASSERT_EQ(committed.size(), 4U);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(ends[i].item, committed[i]);
  EXPECT_EQ(ends[0].text, "One two");
  EXPECT_EQ(ends[1].kind, "failed");
  EXPECT_EQ(ends[1].text, "decoder broke");
  EXPECT_EQ(ends[3].text, "One two three four five six seven eight");
}

TEST(LiveTranscriberTest, ClearDropsTheOpenTurnAndShortCommitsFail) {
  Recorder r;
  realtime::TaskThread thread;
  LiveTranscriber t([](std::span<const float> a, const TranscribeOptions&,
                       std::stop_token) { return words_for(a, kSentence); },
                    manual(0), thread.executor(), r.callbacks());
  EXPECT_FALSE(t.commit());  // nothing buffered
  push_seconds(t, 2.0);
  t.clear();
  EXPECT_EQ(t.buffered_seconds(), 0.0);
  t.push(std::vector<float>(800, 0.0F));  // 50 ms
  EXPECT_FALSE(t.commit());
  push_seconds(t, 1.0);
  EXPECT_TRUE(t.commit());
  t.wait_idle();
  const auto events = r.snapshot();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].kind, "committed");
  EXPECT_EQ(events[1].kind, "completed");
  EXPECT_EQ(events[1].text, "One two");
}

TEST(LiveTranscriberTest, BufferLimit) {
  Recorder r;
  realtime::TaskThread thread;
  LiveOptions o = manual(0);
  o.max_buffered_seconds = 1.0;
  LiveTranscriber t([](std::span<const float> a, const TranscribeOptions&,
                       std::stop_token) { return words_for(a, kSentence); },
                    o, thread.executor(), r.callbacks());
  push_seconds(t, 0.9);
  EXPECT_THROW(t.push(std::vector<float>(kSampleRate / 5, 0.0F)), BufferFull);
  EXPECT_NEAR(t.buffered_seconds(), 0.9, 1e-9);  // the refused audio was not kept
  t.push(std::vector<float>(kSampleRate / 10, 0.0F));
  EXPECT_TRUE(t.commit());
  t.wait_idle();
  EXPECT_EQ(r.snapshot().back().text, "One two");
}

TEST(LiveTranscriberTest, CloseCancelsAndSilences) {
  Recorder r;
  realtime::TaskThread thread;
  std::atomic<bool> started{false};
  auto t = std::make_unique<LiveTranscriber>(
      [&](std::span<const float>, const TranscribeOptions&,
          std::stop_token stop) -> std::vector<Segment> {
        started = true;
        while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        throw Cancelled();
      },
      manual(0), thread.executor(), r.callbacks());
  push_seconds(*t, 1.0);
  ASSERT_TRUE(t->commit());
  push_seconds(*t, 1.0);
  ASSERT_TRUE(t->commit());
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  t->close();
  t->push(std::vector<float>(1600, 0.0F));  // does nothing now
  EXPECT_FALSE(t->commit());
  t->wait_idle();
  t.reset();
  for (const auto& e : r.snapshot()) EXPECT_EQ(e.kind, "committed");
}

TEST(LiveTranscriberTest, ATurnsEndStopsItsPartialDecode) {
  Recorder r;
  realtime::TaskThread thread;
  std::atomic<int> calls{0};
  std::atomic<bool> partial_stopped{false};
  LiveTranscriber t(
      [&](std::span<const float> a, const TranscribeOptions&,
          std::stop_token stop) -> std::vector<Segment> {
        if (++calls == 1) {  // the partial decode: runs until stopped
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!stop.stop_requested() && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          partial_stopped = stop.stop_requested();
          return words_for(a, kSentence);  // even a decode that ends sends no delta now
        }
        return words_for(a, kSentence);
      },
      manual(1.0), thread.executor(), r.callbacks());
  push_seconds(t, 1.5);
  while (calls == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(t.commit());
  t.wait_idle();
  EXPECT_TRUE(partial_stopped);
  EXPECT_EQ(calls, 2);
  const auto events = r.snapshot();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].kind, "committed");
  EXPECT_EQ(events[1].kind, "completed");
  EXPECT_EQ(events[1].text, "One two three");
}

// server_vad on real speech; the stand-in decoder answers with the length of what it decoded.
class SpeculativeFinalTest : public ::testing::Test {
 protected:
  static std::vector<float> clip(const std::string& name) {
    return decode_audio_file(std::string(AMANUENSIS_SHARED_AUDIO) + "/" + name);
  }

  void SetUp() override {
    LiveOptions o;
    o.partial_interval_seconds = 0;  // no partial decodes: every decode is a final or candidate
    try {
      transcriber_ = std::make_unique<LiveTranscriber>(
          [this](std::span<const float> a, const TranscribeOptions&, std::stop_token stop) {
            return decode(a, stop);
          },
          o, thread_.executor(), recorder_.callbacks());
    } catch (const Error& e) {
      GTEST_SKIP() << "no VAD model: " << e.what();
    }
  }

  std::vector<Segment> decode(std::span<const float> audio, const std::stop_token& stop) {
    const int call = ++calls_;
    if (call == block_call_) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!stop.stop_requested() && !release_ && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (stop.stop_requested()) {
        stopped_ = true;
        throw Cancelled();
      }
    }
    {
      const std::lock_guard lock(mutex_);
      lengths_.push_back(audio.size());
    }
    Segment s;
    s.text = " len" + std::to_string(audio.size());
    return {s};
  }

  enum class Wait { kNone, kIdle, kStart };
  // Pushes `audio` in 40 ms pieces until `calls` decodes have started (true) or the audio ends
  // (false). After each piece: kIdle waits for the decodes, kStart gives a decode the push may
  // have started a moment to begin (so that the test knows of it before pushing on).
  bool push_until(std::span<const float> audio, int calls, Wait wait = Wait::kIdle) {
    for (std::size_t at = 0; at < audio.size(); at += 640) {
      transcriber_->push(audio.subspan(at, std::min<std::size_t>(640, audio.size() - at)));
      if (wait == Wait::kIdle) transcriber_->wait_idle();
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
      while (wait == Wait::kStart && calls_ < calls && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (calls_ >= calls) return true;
    }
    return false;
  }

  std::vector<Event> finish() {
    release_ = true;
    transcriber_->finish();
    return recorder_.snapshot();
  }

  std::vector<Event> of_kind(const std::vector<Event>& events, const std::string& kind) {
    std::vector<Event> out;
    std::copy_if(events.begin(), events.end(), std::back_inserter(out),
                 [&](const Event& e) { return e.kind == kind; });
    return out;
  }

  Recorder recorder_;
  realtime::TaskThread thread_;
  std::atomic<int> calls_{0};
  int block_call_ = 0;  // this call waits until released or stopped
  std::atomic<bool> release_{false};
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::vector<std::size_t> lengths_;
  std::unique_ptr<LiveTranscriber> transcriber_;  // last: destroyed first
};

TEST_F(SpeculativeFinalTest, TheDecodeStartedAtTheSilenceIsTheFinalOne) {
  const std::vector<float> silence(kSampleRate / 2, 0.0F);
  const auto speech = clip("LJ001-0002.wav");
  ASSERT_FALSE(push_until(silence, 1));
  ASSERT_FALSE(push_until(speech, 1));
  // The silence after the speech starts the candidate before the turn ends; it is done first.
  ASSERT_TRUE(push_until(std::vector<float>(kSampleRate, 0.0F), 1));
  EXPECT_EQ(recorder_.snapshot().size(), 1U);  // speech started only
  push_until(std::vector<float>(kSampleRate, 0.0F), 2);
  const auto events = finish();
  EXPECT_EQ(calls_, 1);  // the turn's end needed no other decode
  const auto completed = of_kind(events, "completed");
  ASSERT_EQ(completed.size(), 1U);
  EXPECT_EQ(completed[0].text, "len" + std::to_string(lengths_.at(0)));
  const auto stopped = of_kind(events, "stopped");
  ASSERT_EQ(stopped.size(), 1U);
  const auto started_ms = std::stoll(of_kind(events, "started").at(0).text);
  // Its audio ends in the silence, before the turn does.
  EXPECT_LT(static_cast<std::int64_t>(lengths_.at(0)),
            (std::stoll(stopped[0].text) - started_ms) * 16);
  EXPECT_GT(lengths_.at(0), speech.size() - kSampleRate / 2);
}

TEST_F(SpeculativeFinalTest, ARunningCandidateBecomesTheFinalDecode) {
  block_call_ = 1;  // still running when the turn ends
  std::vector<float> audio(kSampleRate / 2, 0.0F);
  const auto speech = clip("LJ001-0002.wav");
  audio.insert(audio.end(), speech.begin(), speech.end());
  audio.insert(audio.end(), 2 * kSampleRate, 0.0F);
  push_until(audio, 99, Wait::kNone);  // the turn ends while its candidate waits or runs
  const auto events = finish();
  EXPECT_EQ(calls_, 1);
  const auto completed = of_kind(events, "completed");
  ASSERT_EQ(completed.size(), 1U);
  EXPECT_EQ(completed[0].text, "len" + std::to_string(lengths_.at(0)));
  EXPECT_EQ(events.back().kind, "completed");
}

TEST_F(SpeculativeFinalTest, SpeechResumingDropsTheCandidate) {
  block_call_ = 1;  // the first candidate runs until speech resumes and stops it
  const auto first = clip("LJ001-0002.wav");
  const auto second = clip("LJ001-0001.wav");
  ASSERT_FALSE(push_until(std::vector<float>(kSampleRate / 2, 0.0F), 1));
  ASSERT_FALSE(push_until(first, 1, Wait::kNone));
  ASSERT_TRUE(push_until(std::vector<float>(kSampleRate / 2, 0.0F), 1, Wait::kStart));
  push_until(second, 99, Wait::kNone);  // within the silence duration: the same turn goes on
  push_until(std::vector<float>(2 * kSampleRate, 0.0F), 99, Wait::kNone);
  const auto events = finish();
  EXPECT_TRUE(stopped_);
  EXPECT_GE(calls_, 2);
  ASSERT_EQ(of_kind(events, "committed").size(), 1U);
  const auto completed = of_kind(events, "completed");
  ASSERT_EQ(completed.size(), 1U);
  // The final decode holds both utterances.
  EXPECT_EQ(completed[0].text, "len" + std::to_string(lengths_.back()));
  EXPECT_GT(lengths_.back(), first.size() + second.size() - kSampleRate);
}

}  // namespace
}  // namespace amanuensis::realtime
