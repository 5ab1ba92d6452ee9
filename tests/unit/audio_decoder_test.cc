#include "audio/audio_decoder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "amanuensis/amanuensis.h"

namespace amanuensis {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::filesystem::path shared_audio(const std::string& name) {
  return std::filesystem::path(AMANUENSIS_SHARED_AUDIO) / name;
}

Bytes read_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// Writes test files into a fresh temporary folder, removed after each test.
class AudioDecoderFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    folder_ = std::filesystem::temp_directory_path() /
              ("amanuensis_audio_test_" + std::to_string(::getpid()) + "_" + test->name());
    std::filesystem::create_directories(folder_);
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }

  std::filesystem::path write(const std::string& name, std::span<const std::uint8_t> bytes) {
    auto path = folder_ / name;
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    return write(name, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }

 private:
  std::filesystem::path folder_;
};

std::uint32_t read_le32(const Bytes& bytes, std::size_t at) {
  return bytes[at] | (bytes[at + 1] << 8U) | (bytes[at + 2] << 16U) |
         (static_cast<std::uint32_t>(bytes[at + 3]) << 24U);
}

void write_le32(Bytes& bytes, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) {
    bytes[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
  }
}

// Offset of the RIFF chunk `id`'s payload (its size field sits 4 bytes before).
std::size_t find_chunk(const Bytes& wav, const char* id) {
  for (std::size_t at = 12; at + 8 <= wav.size(); at += 8 + read_le32(wav, at + 4)) {
    if (std::memcmp(&wav[at], id, 4) == 0) {
      return at + 8;
    }
  }
  ADD_FAILURE() << "no " << id << " chunk";
  return wav.size();
}

// The 16-bit samples of a PCM WAV, read without FFmpeg.
std::vector<std::int16_t> wav_samples(const Bytes& wav) {
  const std::size_t data = find_chunk(wav, "data");
  const std::size_t count = std::min<std::size_t>(read_le32(wav, data - 4), wav.size() - data) / 2;
  std::vector<std::int16_t> samples(count);
  std::memcpy(samples.data(), &wav[data], count * 2);
  return samples;
}

// A 16-bit mono PCM WAV of `samples` at `rate`.
Bytes make_wav(std::uint32_t rate, const std::vector<std::int16_t>& samples) {
  Bytes wav(44);
  std::memcpy(&wav[0], "RIFF", 4);
  write_le32(wav, 4, static_cast<std::uint32_t>(36 + samples.size() * 2));
  std::memcpy(&wav[8], "WAVEfmt ", 8);
  write_le32(wav, 16, 16);
  write_le32(wav, 20, 1 | (1U << 16U));  // PCM, one channel
  write_le32(wav, 24, rate);
  write_le32(wav, 28, rate * 2);
  write_le32(wav, 32, 2 | (16U << 16U));  // block align 2, 16 bits
  std::memcpy(&wav[36], "data", 4);
  write_le32(wav, 40, static_cast<std::uint32_t>(samples.size() * 2));
  // resize + memcpy rather than insert: GCC 12 at -O3 misreads insert's bounds (-Warray-bounds).
  wav.resize(44 + samples.size() * 2);
  if (!samples.empty()) std::memcpy(wav.data() + 44, samples.data(), samples.size() * 2);
  return wav;
}

// Normalised cross-correlation of a 2 s stretch of `reference` with `other`, at the best lag
// within +-2000 samples (codecs add a delay).
double best_correlation(const Waveform& reference, const Waveform& other) {
  constexpr std::ptrdiff_t kStart = 3 * std::ptrdiff_t{kSampleRate};
  constexpr std::ptrdiff_t kLength = 2 * std::ptrdiff_t{kSampleRate};
  constexpr std::ptrdiff_t kMaxLag = 2000;
  double best = -1.0;
  for (std::ptrdiff_t lag = -kMaxLag; lag <= kMaxLag; ++lag) {
    double cross = 0.0;
    double energy_a = 0.0;
    double energy_b = 0.0;
    for (std::ptrdiff_t i = kStart; i < kStart + kLength; ++i) {
      const double a = reference[i];
      const double b = other.at(i + lag);
      cross += a * b;
      energy_a += a * a;
      energy_b += b * b;
    }
    best = std::max(best, cross / std::sqrt(energy_a * energy_b + 1e-20));
  }
  return best;
}

// Runs `decode` and returns the amanuensis::Error message it throws.
template <typename Decode>
std::string error_of(Decode decode) {
  try {
    decode();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no amanuensis::Error thrown";
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(AudioDecoderTest, Wav16kMonoIsBitExact) {
  const auto path = shared_audio("jfk.wav");
  const Waveform audio = decode_audio_file(path);
  ASSERT_EQ(audio.size(), 176000U);  // 11.0 s
  const auto expected = wav_samples(read_bytes(path));
  ASSERT_EQ(expected.size(), audio.size());
  for (std::size_t i = 0; i < audio.size(); ++i) {
    ASSERT_EQ(audio[i], static_cast<float>(expected[i]) / 32768.0F) << "sample " << i;
  }
}

class CompressedFormatTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CompressedFormatTest, MatchesTheWav) {
  static const Waveform reference = decode_audio_file(shared_audio("jfk.wav"));
  const Waveform audio = decode_audio_file(shared_audio(GetParam()));
  EXPECT_NEAR(static_cast<double>(audio.size()) / kSampleRate, 11.0, 0.15);
  EXPECT_TRUE(std::all_of(audio.begin(), audio.end(),
                          [](float sample) { return sample >= -1.0F && sample < 1.0F; }));
  EXPECT_GT(best_correlation(reference, audio), 0.9);
}

INSTANTIATE_TEST_SUITE_P(Jfk, CompressedFormatTest,
                         ::testing::Values("jfk.mp3", "jfk.flac", "jfk.ogg", "jfk.m4a"),
                         [](const auto& info) {
                           return info.param.substr(info.param.find('.') + 1);
                         });

TEST(AudioDecoderTest, BytesDecodeLikeTheFile) {
  const auto path = shared_audio("jfk.m4a");  // the moov atom needs seeking in memory
  const Bytes bytes = read_bytes(path);
  EXPECT_EQ(decode_audio_bytes(bytes), decode_audio_file(path));
}

TEST(AudioDecoderTest, ResamplesOtherRates) {
  // One second of a 441 Hz tone at 44.1 kHz becomes one second at 16 kHz.
  std::vector<std::int16_t> tone(44100);
  for (std::size_t i = 0; i < tone.size(); ++i) {
    tone[i] =
        static_cast<std::int16_t>(10000.0 * std::sin(2.0 * std::numbers::pi * 441.0 * i / 44100.0));
  }
  const Waveform audio = decode_audio_bytes(make_wav(44100, tone));
  EXPECT_NEAR(static_cast<double>(audio.size()), 16000.0, 2.0);
  const float peak = *std::max_element(audio.begin(), audio.end());
  EXPECT_NEAR(peak, 10000.0F / 32768.0F, 0.01F);
}

TEST(AudioDecoderTest, RefusesAudioOverTheLengthLimit) {
  const Bytes jfk = read_bytes(shared_audio("jfk.wav"));
  EXPECT_TRUE(contains(error_of([&] { audio::decode_audio_bytes(jfk, 5.0); }),
                       "too long: the limit is 5 s"));
  EXPECT_EQ(audio::decode_audio_bytes(jfk, 11.0).size(), 176000U);
  // 200 samples at 1 Hz claim 200 s: refused before the resampler makes 3.2 million samples.
  const Bytes slow = make_wav(1, std::vector<std::int16_t>(200, 1000));
  EXPECT_TRUE(contains(error_of([&] { audio::decode_audio_bytes(slow, 60.0); }), "too long"));
}

TEST(AudioDecoderTest, RefusesAbsurdSampleRates) {
  const Bytes fast = make_wav(1'000'000'007, std::vector<std::int16_t>(4096, 1000));
  EXPECT_TRUE(contains(error_of([&] { decode_audio_bytes(fast); }), "sample rate"));
}

TEST(AudioDecoderTest, MissingFile) {
  const std::string message = error_of([] { decode_audio_file("/nonexistent/speech.wav"); });
  EXPECT_TRUE(contains(message, "\"/nonexistent/speech.wav\"")) << message;
  EXPECT_TRUE(contains(message, "file not found")) << message;
}

TEST(AudioDecoderTest, Directory) {
  const std::string message = error_of([] { decode_audio_file(AMANUENSIS_SHARED_AUDIO); });
  EXPECT_TRUE(contains(message, "is a directory")) << message;
}

TEST_F(AudioDecoderFileTest, EmptyFile) {
  const auto path = write("empty.wav", "");
  const std::string message = error_of([&] { decode_audio_file(path); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "empty (0 bytes)")) << message;
}

TEST(AudioDecoderTest, EmptyBuffer) {
  const std::string message = error_of([] { decode_audio_bytes({}); });
  EXPECT_TRUE(contains(message, "<memory buffer>")) << message;
  EXPECT_TRUE(contains(message, "empty (0 bytes)")) << message;
}

TEST_F(AudioDecoderFileTest, RandomBytesNamedWav) {
  std::mt19937 random(7);
  Bytes noise(20000);
  std::generate(noise.begin(), noise.end(), [&] { return static_cast<std::uint8_t>(random()); });
  const auto path = write("noise.wav", noise);
  const std::string message = error_of([&] { decode_audio_file(path); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "not a recognised audio or video format")) << message;
}

TEST_F(AudioDecoderFileTest, TruncatedWavHeader) {
  const Bytes jfk = read_bytes(shared_audio("jfk.wav"));
  // 20 bytes are too few for FFmpeg to recognise a WAV at all.
  const auto short_path = write("cut20.wav", std::span(jfk).first(20));
  const std::string short_message = error_of([&] { decode_audio_file(short_path); });
  EXPECT_TRUE(contains(short_message, short_path.string())) << short_message;
  EXPECT_TRUE(contains(short_message, "not a recognised audio or video format")) << short_message;
  // 40 bytes are recognised as a WAV, but the header stops before the audio data.
  const auto path = write("cut40.wav", std::span(jfk).first(40));
  const std::string message = error_of([&] { decode_audio_file(path); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "corrupt or truncated wav data")) << message;
}

TEST_F(AudioDecoderFileTest, WavWithoutSamples) {
  Bytes jfk = read_bytes(shared_audio("jfk.wav"));
  const std::size_t data = find_chunk(jfk, "data");
  jfk.resize(data);
  write_le32(jfk, data - 4, 0);
  write_le32(jfk, 4, static_cast<std::uint32_t>(data - 8));
  const auto path = write("silent.wav", jfk);
  const std::string message = error_of([&] { decode_audio_file(path); });
  EXPECT_TRUE(contains(message, "contains no decodable audio")) << message;
}

TEST_F(AudioDecoderFileTest, TextFile) {
  const auto path = write("notes.txt", "Ask not what your country can do for you.\n");
  const std::string message = error_of([&] { decode_audio_file(path); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "not a recognised audio or video format")) << message;
}

TEST_F(AudioDecoderFileTest, SubtitlesOnly) {
  // FFmpeg reads SubRip as a container with one subtitle stream and no audio.
  const auto path = write(
      "speech.srt", "1\n00:00:01,000 --> 00:00:02,500\nAsk not what your country can do.\n\n");
  const std::string message = error_of([&] { decode_audio_file(path); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "contains no audio stream")) << message;
}

// Server workers decode at the same time; FFmpeg's state is per call, so results must not mix.
TEST(AudioDecoderTest, DecodesConcurrently) {
  const Bytes mp3 = read_bytes(shared_audio("jfk.mp3"));
  const Waveform expected = decode_audio_bytes(mp3);
  std::vector<Waveform> results(6);
  {
    std::vector<std::jthread> workers;
    workers.reserve(results.size());
    for (auto& result : results) {
      workers.emplace_back([&] { result = decode_audio_bytes(mp3); });
    }
  }
  for (const auto& result : results) {
    EXPECT_EQ(result, expected);
  }
}

// Hostile or damaged input must end in a result or an amanuensis::Error, never a crash or any
// other exception. A low length limit keeps mutated headers from asking for hours of audio.
TEST(AudioDecoderTest, SurvivesRandomAndDamagedInput) {
  const std::vector<Bytes> seeds = {read_bytes(shared_audio("jfk.wav")),
                                    read_bytes(shared_audio("jfk.mp3")),
                                    read_bytes(shared_audio("jfk.m4a"))};
  std::mt19937 random(12345);
  auto below = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random);
  };
  auto decode = [](const Bytes& bytes) {
    try {
      static_cast<void>(audio::decode_audio_bytes(bytes, 60.0));
    } catch (const Error&) {
      // Refusing damaged input is fine.
    }
  };
  for (int round = 0; round < 200; ++round) {
    Bytes noise(1 + below(4096));
    std::generate(noise.begin(), noise.end(), [&] { return static_cast<std::uint8_t>(random()); });
    decode(noise);
  }
  for (int round = 0; round < 200; ++round) {
    Bytes bytes = seeds[below(seeds.size())];
    // Half the damage lands in the first kilobyte, where the headers are.
    for (std::size_t flips = 1 + below(16); flips > 0; --flips) {
      const std::size_t range =
          below(2) == 0 ? std::min<std::size_t>(1024, bytes.size()) : bytes.size();
      bytes[below(range)] = static_cast<std::uint8_t>(random());
    }
    if (below(2) == 0) {
      bytes.resize(1 + below(bytes.size()));
    }
    decode(bytes);
  }
}

}  // namespace
}  // namespace amanuensis
