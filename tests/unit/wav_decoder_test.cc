// The WAV reader of builds without FFmpeg (audio::decode_wav): the same samples as the FFmpeg
// path on a 16 kHz WAV, channels mixed to mono, float WAVs, and an error naming the input for
// everything else.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "audio/audio_decoder.h"

namespace amanuensis {
namespace {

using Bytes = std::vector<std::uint8_t>;

// resize + memcpy rather than insert: GCC 12 at -O3 misreads insert's bounds (-Wstringop-overflow).
void put(Bytes& bytes, const void* data, std::size_t size) {
  const std::size_t at = bytes.size();
  bytes.resize(at + size);
  std::memcpy(bytes.data() + at, data, size);
}

template <typename T>
void put(Bytes& bytes, T value) {
  put(bytes, &value, sizeof(T));
}

// A WAV with a LIST chunk of odd length before "fmt " (readers must skip unknown chunks and pad).
Bytes make_wav(std::uint16_t encoding, std::uint16_t channels, std::uint32_t rate,
               std::uint16_t bits, const Bytes& data) {
  Bytes wav;
  put(wav, "RIFF", 4);
  put<std::uint32_t>(wav, 0);
  put(wav, "WAVELIST", 8);
  put<std::uint32_t>(wav, 3);
  put(wav, "abc\0", 4);
  put(wav, "fmt ", 4);
  put<std::uint32_t>(wav, 16);
  put(wav, encoding);
  put(wav, channels);
  put(wav, rate);
  put<std::uint32_t>(wav, rate * channels * (bits / 8U));
  put<std::uint16_t>(wav, channels * (bits / 8U));
  put(wav, bits);
  put(wav, "data", 4);
  put<std::uint32_t>(wav, static_cast<std::uint32_t>(data.size()));
  if (!data.empty()) put(wav, data.data(), data.size());
  return wav;
}

std::string error_of(const Bytes& bytes) {
  try {
    (void)audio::decode_wav(bytes, 60.0, "<test>");
  } catch (const Error& error) {
    return error.what();
  }
  return "no error";
}

TEST(WavDecoderTest, Jfk16kMonoGivesTheFfmpegPathsSamples) {
  const auto path = std::filesystem::path(AMANUENSIS_SHARED_AUDIO) / "jfk.wav";
  std::ifstream file(path, std::ios::binary);
  const Bytes bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(audio::decode_wav(bytes, 60.0, "jfk"), decode_audio_file(path));
}

TEST(WavDecoderTest, MixesChannelsAndReadsFloat) {
  Bytes stereo16;
  for (const std::int16_t s : {16384, 0, -32768, -32768}) put(stereo16, s);
  EXPECT_EQ(audio::decode_wav(make_wav(1, 2, 16000, 16, stereo16), 60.0, "s16"),
            (Waveform{0.25F, -1.0F}));
  Bytes mono_float;
  for (const float s : {0.5F, -0.125F, 1.0F}) put(mono_float, s);
  EXPECT_EQ(audio::decode_wav(make_wav(3, 1, 16000, 32, mono_float), 60.0, "f32"),
            (Waveform{0.5F, -0.125F, 1.0F}));
}

TEST(WavDecoderTest, RefusesWhatItCannotReadNamingTheInput) {
  const Bytes one_sample{0, 64};
  EXPECT_NE(error_of(make_wav(1, 1, 44100, 16, one_sample)).find("16 kHz"), std::string::npos);
  EXPECT_NE(error_of(make_wav(1, 1, 16000, 8, one_sample)).find("<test>"), std::string::npos);
  EXPECT_NE(error_of(make_wav(1, 0, 16000, 16, one_sample)).find("16-bit"), std::string::npos);
  EXPECT_NE(error_of(make_wav(1, 1, 16000, 16, {})).find("no decodable audio"), std::string::npos);
  EXPECT_NE(error_of({}).find("empty"), std::string::npos);
  EXPECT_NE(error_of(Bytes(100, 7)).find("not a RIFF WAV"), std::string::npos);
  auto no_data = make_wav(1, 1, 16000, 16, one_sample);
  no_data.resize(no_data.size() - 10);  // cut inside the data chunk's header
  EXPECT_NE(error_of(no_data).find("no data chunk"), std::string::npos);
  const Bytes minute_and_more(16000 * 2 * 61, 0);
  EXPECT_NE(error_of(make_wav(1, 1, 16000, 16, minute_and_more)).find("too long"),
            std::string::npos);
}

TEST(WavDecoderTest, ATruncatedDataChunkGivesTheSamplesThatArePresent) {
  Bytes data;
  for (const std::int16_t s : {8192, 8192, 8192}) put(data, s);
  auto wav = make_wav(1, 1, 16000, 16, data);
  wav.resize(wav.size() - 3);  // one whole sample and half of another remain
  EXPECT_EQ(audio::decode_wav(wav, 60.0, "cut"), (Waveform{0.25F}));
}

}  // namespace
}  // namespace amanuensis
