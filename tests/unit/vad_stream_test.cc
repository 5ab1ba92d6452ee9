// The streaming VAD (amanuensis::VadStream over SileroVad::Stream) against the whole-buffer
// probabilities: pushed in odd-sized pieces, every window but the last (which
// speech_probabilities zero-pads) has exactly the same probability.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis {
namespace {

const std::string kAudio = AMANUENSIS_SHARED_AUDIO;

TEST(VadStreamTest, EqualsWholeBufferProbabilitiesInOddChunks) {
  const auto audio = decode_audio_file(kAudio + "/LJ001-0001.wav");
  std::vector<float> whole;
  try {
    whole = speech_probabilities(audio);
  } catch (const Error& e) {
    GTEST_SKIP() << "no VAD model: " << e.what();
  }
  VadStream stream;
  std::vector<float> streamed;
  const std::size_t sizes[] = {1, 7, 333, 511, 512, 513, 1000, 4097, 17};
  std::size_t at = 0;
  for (std::size_t i = 0; at < audio.size(); ++i) {
    const std::size_t n = std::min(sizes[i % std::size(sizes)], audio.size() - at);
    const auto probs = stream.push(std::span(audio).subspan(at, n));
    streamed.insert(streamed.end(), probs.begin(), probs.end());
    at += n;
  }
  ASSERT_EQ(streamed.size(), audio.size() / 512);
  ASSERT_EQ(whole.size(), audio.size() / 512 + 1);
  EXPECT_EQ(stream.windows(), static_cast<std::int64_t>(streamed.size()));
  for (std::size_t w = 0; w + 1 < whole.size(); ++w)
    EXPECT_EQ(streamed[w], whole[w]) << "window " << w;
  EXPECT_GT(*std::max_element(streamed.begin(), streamed.end()), 0.9F);  // it is speech
}

TEST(VadStreamTest, ResetStartsOver) {
  const auto audio = decode_audio_file(kAudio + "/LJ001-0002.wav");
  try {
    VadStream stream;
    const auto first = stream.push(audio);
    stream.reset();
    EXPECT_EQ(stream.windows(), 0);
    EXPECT_EQ(stream.push(audio), first);
    VadStream moved = std::move(stream);
    EXPECT_EQ(moved.windows(), static_cast<std::int64_t>(first.size()));
  } catch (const Error& e) {
    GTEST_SKIP() << "no VAD model: " << e.what();
  }
}

}  // namespace
}  // namespace amanuensis
