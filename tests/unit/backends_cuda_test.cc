// The CUDA backend where a GPU is present: transcripts equal to the CPU backend's (tiny.en and
// base on jfk.wav, each whose folder is there, at least one) and their real-time factors. Elsewhere
// every test skips, saying why (no driver, no device, or a build without CUDA). Op-by-op checks of
// cuda and cuda-fp16 are in backends_ops_test.cc.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "amanuensis/amanuensis.h"
#include "backends/registry.h"

namespace amanuensis::backends {
namespace {

std::string cuda_unavailable_reason() {
  for (const auto& provider : providers()) {
    if (provider->name() != "cuda") continue;
    const auto probe = provider->probe();
    return probe.available ? std::string() : probe.reason;
  }
  return "no cuda provider";
}

TEST(Cuda, ProbeGivesAReason) {
  const auto reason = cuda_unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_GT(reason.size(), 5U) << reason;
}

std::string text_of(const Transcription& t) {
  std::string text;
  for (const auto& s : t.segments) text += s.text;
  return text;
}

// The words, lower-cased, without punctuation: near-tied tokens such as a comma or a final full
// stop can flip between backends whose arithmetic differs in its last bits (the GPU's dp4a int8
// products against the CPU's u8*s8 ones, cuBLAS's summation order), as they do between
// faster-whisper's CPU and GPU runs; the words themselves must not.
std::string words_of(const Transcription& t) {
  std::string words;
  for (const char c : text_of(t)) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == ' ' || c == '\'') {
      words += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return words;
}

TEST(Cuda, TranscriptsEqualTheCpusAndRealTimeFactorOfBase) {
  if (const auto reason = cuda_unavailable_reason(); !reason.empty())
    GTEST_SKIP() << "no CUDA device: " << reason;
  const auto audio = decode_audio_file(std::filesystem::path(AMANUENSIS_SHARED_AUDIO) / "jfk.wav");
  TranscribeOptions options;
  options.language = "en";
  options.beam_size = 1;
  options.temperatures = {0.0F};
  int compared = 0;
  for (const char* name : {"tiny.en", "base"}) {
    const auto path = std::filesystem::path(AMANUENSIS_MODELS_DIR) / name;
    // A lent GPU machine gets only what fits its transfer (tiny.en as int8: amanuensis convert
    // --to ct2 --quantize int8).
    if (!std::filesystem::exists(path / "model.bin")) continue;
    for (const char* compute_type : {"float32", "int8"}) {
      ++compared;
      const auto cpu = Model::load({.path = path, .compute_type = compute_type, .device = "cpu"});
      const auto cuda = Model::load({.path = path, .compute_type = compute_type, .device = "cuda"});
      bool on_cuda = false;
      for (const auto& r : cuda.backend_reports())
        on_cuda = on_cuda || (r.name == "cuda" && r.selected);
      ASSERT_TRUE(on_cuda) << "model did not load on cuda";
      const auto want = cpu.transcribe(audio, options);
      (void)cuda.transcribe(audio, options);  // warm-up: weights to the GPU
      const auto start = std::chrono::steady_clock::now();
      const auto got = cuda.transcribe(audio, options);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_EQ(words_of(got), words_of(want)) << name << " " << compute_type;
      EXPECT_FALSE(words_of(got).empty());
      std::printf("[ cuda ] %s %s: jfk.wav (%.1f s) in %.3f s, real-time factor %.1fx; text %s\n",
                  name, compute_type, got.duration, seconds, got.duration / seconds,
                  text_of(got) == text_of(want) ? "identical to the cpu's"
                                                : ("differs: " + text_of(got)).c_str());
    }
  }
  EXPECT_GT(compared, 0) << "no model under " << AMANUENSIS_MODELS_DIR;
}

}  // namespace
}  // namespace amanuensis::backends
