// The native Silero VAD network (src/vad/silero_vad.h) against a plain per-window reference of the
// ONNX graph, on synthetic weights; its loader's checks; the model lookup and cache.
#include "vad/vad_model.h"

#include <gtest/gtest.h>
#include <stdlib.h>  // setenv, unsetenv

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "support/onnx_writer.h"
#include "support/random_values.h"
#include "vad/embedded_model.h"
#include "vad/silero_vad.h"

namespace amanuensis::vad {
namespace {

using test_support::onnx_float_tensor;
using test_support::random_values;

struct Weights {
  std::vector<float> basis, w0, b0, w1, b1, w2, b2, w3, b3, lstm_w, lstm_r, lstm_b, head_w, head_b;
};

// A periodic-Hann-windowed DFT basis, as the real model's, and random layers scaled so that
// activations stay in range.
Weights synthetic_weights() {
  Weights w;
  // Exactly symmetric (real) and antisymmetric (imaginary) in j <-> 256 - j, as the model's.
  w.basis.assign(258 * 256, 0.0F);
  for (int k = 0; k < 129; ++k) {
    for (int j = 0; j <= 128; ++j) {
      const double window = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * j / 256);
      const double angle = 2 * std::numbers::pi * k * j / 256;
      const auto re = static_cast<float>(window * std::cos(angle));
      const auto im = j % 128 == 0 ? 0.0F : static_cast<float>(-window * std::sin(angle));
      w.basis[k * 256 + j] = w.basis[k * 256 + (256 - j) % 256] = re;
      w.basis[(129 + k) * 256 + j] = im;
      if (j > 0) w.basis[(129 + k) * 256 + 256 - j] = -im;
    }
  }
  w.w0 = random_values(128 * 129 * 3, 0.05F, 1);
  w.b0 = random_values(128, 0.1F, 2);
  w.w1 = random_values(64 * 128 * 3, 0.05F, 3);
  w.b1 = random_values(64, 0.1F, 4);
  w.w2 = random_values(64 * 64 * 3, 0.08F, 5);
  w.b2 = random_values(64, 0.1F, 6);
  w.w3 = random_values(128 * 64 * 3, 0.08F, 7);
  w.b3 = random_values(128, 0.1F, 8);
  w.lstm_w = random_values(512 * 128, 0.1F, 9);
  w.lstm_r = random_values(512 * 128, 0.1F, 10);
  w.lstm_b = random_values(1024, 0.1F, 11);
  w.head_w = random_values(128, 0.3F, 12);
  w.head_b = {0.1F};
  return w;
}

std::vector<std::string> tensors(const Weights& w) {
  return {
      onnx_float_tensor("encoder.feature_extractor.forward_basis_buffer", {258, 1, 256}, w.basis),
      onnx_float_tensor("encoder.conv_layers.0.weight", {128, 129, 3}, w.w0),
      onnx_float_tensor("encoder.conv_layers.0.bias", {128}, w.b0),
      onnx_float_tensor("encoder.conv_layers.1.weight", {64, 128, 3}, w.w1),
      onnx_float_tensor("encoder.conv_layers.1.bias", {64}, w.b1),
      onnx_float_tensor("encoder.conv_layers.2.weight", {64, 64, 3}, w.w2),
      onnx_float_tensor("encoder.conv_layers.2.bias", {64}, w.b2),
      onnx_float_tensor("encoder.conv_layers.3.weight", {128, 64, 3}, w.w3),
      onnx_float_tensor("encoder.conv_layers.3.bias", {128}, w.b3),
      onnx_float_tensor("onnx::LSTM_209", {1, 512, 128}, w.lstm_w),
      onnx_float_tensor("onnx::LSTM_210", {1, 512, 128}, w.lstm_r),
      onnx_float_tensor("onnx::LSTM_211", {1, 1024}, w.lstm_b),
      onnx_float_tensor("decoder.conv1d.weight", {1, 128, 1}, w.head_w),
      onnx_float_tensor("decoder.conv1d.bias", {1}, w.head_b)};
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

using Matrix = std::vector<std::vector<double>>;  // [channel][time]

// ONNX Conv1d, pads 1, kernel 3, then ReLU.
Matrix conv_relu(const Matrix& in, const std::vector<float>& w, const std::vector<float>& b,
                 int out, int stride) {
  const int channels = static_cast<int>(in.size());
  const int length = static_cast<int>(in[0].size());
  const int out_length = (length + 2 - 3) / stride + 1;
  Matrix y(out, std::vector<double>(out_length));
  for (int o = 0; o < out; ++o) {
    for (int t = 0; t < out_length; ++t) {
      double sum = b[o];
      for (int i = 0; i < channels; ++i) {
        for (int d = 0; d < 3; ++d) {
          const int pos = t * stride + d - 1;
          if (pos >= 0 && pos < length) sum += w[(o * channels + i) * 3 + d] * in[i][pos];
        }
      }
      y[o][t] = std::max(sum, 0.0);
    }
  }
  return y;
}

// The ONNX graph, one 576-sample input row at a time, in double.
double reference_step(const Weights& w, const std::vector<double>& x, std::vector<double>& h,
                      std::vector<double>& c) {
  std::vector<double> padded(832);
  for (int p = 0; p < 832; ++p) {
    const int j = p - 128;
    padded[p] = x[j < 0 ? -j : (j > 575 ? 2 * 575 - j : j)];
  }
  Matrix mags(129, std::vector<double>(4));
  for (int f = 1; f <= 4; ++f) {
    for (int k = 0; k < 129; ++k) {
      double re = 0;
      double im = 0;
      for (int j = 0; j < 256; ++j) {
        re += w.basis[k * 256 + j] * padded[128 * f + j];
        im += w.basis[(129 + k) * 256 + j] * padded[128 * f + j];
      }
      mags[k][f - 1] = std::sqrt(re * re + im * im);
    }
  }
  const auto features =
      conv_relu(conv_relu(conv_relu(conv_relu(mags, w.w0, w.b0, 128, 1), w.w1, w.b1, 64, 2), w.w2,
                          w.b2, 64, 2),
                w.w3, w.b3, 128, 1);
  std::vector<double> gates(512);
  for (int g = 0; g < 512; ++g) {
    gates[g] = w.lstm_b[g] + w.lstm_b[512 + g];
    for (int i = 0; i < 128; ++i) {
      gates[g] += w.lstm_w[g * 128 + i] * features[i][0] + w.lstm_r[g * 128 + i] * h[i];
    }
  }
  const auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
  double logit = w.head_b[0];
  for (int i = 0; i < 128; ++i) {  // ONNX gate order: input, output, forget, cell
    c[i] = sigmoid(gates[256 + i]) * c[i] + sigmoid(gates[i]) * std::tanh(gates[384 + i]);
    h[i] = sigmoid(gates[128 + i]) * std::tanh(c[i]);
    logit += w.head_w[i] * std::max(h[i], 0.0);
  }
  return sigmoid(logit);
}

// faster-whisper's SileroVADModel: pad, rows of 64 context + 512 samples, last row's tail zeroed.
std::vector<double> reference_probabilities(const Weights& w, const std::vector<float>& audio) {
  std::vector<float> padded = audio;
  padded.resize(audio.size() + 512 - audio.size() % 512, 0.0F);
  const std::size_t rows = padded.size() / 512;
  std::fill(padded.end() - 64, padded.end(), 0.0F);
  std::vector<double> h(128), c(128), probs;
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<double> x(576, 0.0);
    for (int j = 0; j < 576; ++j) {
      const auto s = static_cast<std::int64_t>(r * 512) - 64 + j;
      if (s >= 0) x[j] = padded[static_cast<std::size_t>(s)];
    }
    probs.push_back(reference_step(w, x, h, c));
  }
  return probs;
}

std::vector<float> test_audio(std::size_t n) {
  auto audio = random_values(n, 0.05F, 21);
  for (std::size_t i = 0; i < n; ++i) {
    audio[i] += 0.3F * static_cast<float>(std::sin(2 * std::numbers::pi * 300 * i / 16000.0) *
                                          std::sin(std::numbers::pi * i / 8000.0));
  }
  return audio;
}

TEST(SileroVadTest, MatchesThePlainGraphOnSyntheticWeights) {
  const Weights weights = synthetic_weights();
  const std::string model = test_support::onnx_model(tensors(weights));
  const auto vad = SileroVad::from_onnx(as_bytes(model), "synthetic.onnx");
  // Lengths around window multiples, more than one block of windows, and the tail quirk.
  for (const std::size_t n : {0UL, 1UL, 511UL, 512UL, 1000UL, 40 * 512UL + 470, 70 * 512UL}) {
    const auto audio = test_audio(n);
    const auto ours = vad.probabilities(audio);
    const auto expected = reference_probabilities(weights, audio);
    ASSERT_EQ(ours.size(), n / 512 + 1);
    ASSERT_EQ(ours.size(), expected.size());
    double worst = 0;
    double spread = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      worst = std::max(worst, std::abs(ours[i] - expected[i]));
      spread = std::max(spread, std::abs(expected[i] - expected[0]));
    }
    EXPECT_LT(worst, 2e-5) << n << " samples";
    if (n > 10000) {
      EXPECT_GT(spread, 0.01) << "the test signal should move the probabilities";
    }
    EXPECT_EQ(vad.probabilities(audio), ours) << "not deterministic";
  }
}

TEST(SileroVadTest, LoaderNamesMissingAndMisshapenWeights) {
  const Weights weights = synthetic_weights();
  auto list = tensors(weights);
  const auto error_of = [](const std::vector<std::string>& t) -> std::string {
    try {
      const std::string model = test_support::onnx_model(t);
      SileroVad::from_onnx(as_bytes(model), "bad.onnx");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  auto missing = list;
  missing.erase(missing.begin() + 9);
  EXPECT_NE(error_of(missing).find("bad.onnx: not a Silero VAD v6 model (silero_vad_v6.onnx): "
                                   "weight 'onnx::LSTM_209' is missing"),
            std::string::npos);
  auto misshapen = list;
  misshapen[4] = onnx_float_tensor("encoder.conv_layers.1.bias", {32}, std::vector<float>(32));
  EXPECT_NE(error_of(misshapen).find("'encoder.conv_layers.1.bias' has shape [32], expected [64]"),
            std::string::npos);
  auto basis = weights;
  basis.basis[5 * 256 + 3] += 0.01F;
  EXPECT_NE(error_of(tensors(basis)).find("STFT basis"), std::string::npos);
}

const std::filesystem::path kModelFile = AMANUENSIS_SILERO_VAD;

TEST(VadModelTest, ExplicitPathThenEnvironmentThenBuiltIn) {
  const std::vector<float> silence(16000, 0.0F);
  try {
    static_cast<void>(speech_probabilities(silence, "/nonexistent/vad.onnx"));
    FAIL() << "a missing model file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vad.onnx: VAD model (silero_vad_v6.onnx) "
                                         "not found"),
              std::string::npos);
  }
  setenv(kVadModelVariable, "/nonexistent/env.onnx", 1);
  try {
    static_cast<void>(detect_speech(silence));
    FAIL() << "$AMANUENSIS_VAD_MODEL was ignored";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/env.onnx"), std::string::npos);
  }
  unsetenv(kVadModelVariable);
  if (embedded_silero_vad().empty()) {
    try {
      static_cast<void>(detect_speech(silence));
      FAIL() << "a build without a VAD model found one";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("silero_vad_v6.onnx built in"), std::string::npos);
    }
    GTEST_SKIP() << "this build has no silero_vad_v6.onnx built in";
  }
  EXPECT_TRUE(detect_speech(silence).empty());
  EXPECT_EQ(load_silero_vad().get(), load_silero_vad().get()) << "the built-in model is cached";
}

TEST(VadModelTest, SameResultsFromManyThreads) {
  if (!std::filesystem::is_regular_file(kModelFile)) {
    GTEST_SKIP() << kModelFile << " not found";
  }
  const auto audio = test_audio(16000 * 5);
  const auto expected = speech_probabilities(audio, kModelFile);
  ASSERT_EQ(expected.size(), audio.size() / 512 + 1);
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&] { result = speech_probabilities(audio, kModelFile); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, expected);
}

}  // namespace
}  // namespace amanuensis::vad
