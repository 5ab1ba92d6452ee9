// The CUDA backend where a GPU is present: transcripts equal to the CPU backend's (tiny.en and
// base on jfk.wav) and the real-time factor of base. Elsewhere every test skips, saying why (no
// driver, no device, or a build without CUDA). Op-by-op checks of cuda and cuda-fp16 are in
// backends_ops_test.cc.
#include <gtest/gtest.h>

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

TEST(Cuda, TranscriptsEqualTheCpusAndRealTimeFactorOfBase) {
  if (const auto reason = cuda_unavailable_reason(); !reason.empty())
    GTEST_SKIP() << "no CUDA device: " << reason;
  const auto audio = decode_audio_file(std::filesystem::path(AMANUENSIS_SHARED_AUDIO) / "jfk.wav");
  TranscribeOptions options;
  options.language = "en";
  options.beam_size = 1;
  options.temperatures = {0.0F};
  for (const char* name : {"tiny.en", "base"}) {
    const auto path = std::filesystem::path(AMANUENSIS_MODELS_DIR) / name;
    const auto cpu = Model::load({.path = path, .device = "cpu"});
    const auto cuda = Model::load({.path = path, .device = "cuda"});
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
    EXPECT_EQ(text_of(got), text_of(want)) << name;
    std::printf("[ cuda ] %s: jfk.wav (%.1f s) in %.3f s, real-time factor %.1fx\n", name,
                got.duration, seconds, got.duration / seconds);
  }
}

}  // namespace
}  // namespace amanuensis::backends
