// LiveTranscriber with a stand-in decoder (manual commits, so no VAD): deltas only ever extend
// the text, the transcript is the deltas plus the tail even when the last decode disagrees,
// final decodes keep turn order, clear and close stop events, the buffer limit holds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

}  // namespace
}  // namespace amanuensis::realtime
