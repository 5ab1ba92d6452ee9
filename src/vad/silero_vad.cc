#include "vad/silero_vad.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "vad/onnx_reader.h"
#include "vad/vad_kernels.h"

namespace amanuensis::vad {

namespace {

constexpr int kRowSamples = kContextSamples + kWindowSamples;  // 576: one network input
constexpr int kFftSize = 256;
constexpr int kHop = 128;
constexpr int kFrames = 4;                          // STFT frames 1-4 of 5 are used
constexpr int kHalf = kFftSize / 2;                 // 128
constexpr int kBins = kHalf + 1;                    // 129
constexpr int kReflect = 64;                        // right reflection frame 4 reaches
constexpr int kRowStride = kRowSamples + kReflect;  // 640
constexpr int kHidden = 128;
constexpr int kGates = 4 * kHidden;
// Windows per block: enough for every product to reuse its weights across many rows, few
// enough that a block's activations (about 0.6 MB) stay in the L2 cache.
constexpr int kBlockRows = 32;

int padded(int n) { return (n + 15) / 16 * 16; }

// The weights of one ONNX file, looked up by name with their shapes checked.
class WeightFile {
 public:
  WeightFile(std::span<const std::byte> bytes, std::string_view source)
      : source_(source), tensors_(read_onnx_initializers(bytes, source)) {}

  [[nodiscard]] std::vector<float> get(std::string_view name,
                                       const std::vector<std::int64_t>& dims) const {
    const auto it = std::find_if(tensors_.begin(), tensors_.end(),
                                 [&](const OnnxTensor& t) { return t.name == name; });
    if (it == tensors_.end()) fail("weight '" + std::string(name) + "' is missing");
    if (it->dims != dims) {
      fail("weight '" + std::string(name) + "' has shape " + shape(it->dims) + ", expected " +
           shape(dims));
    }
    if (it->data_type != OnnxDataType::kFloat) {
      fail("weight '" + std::string(name) + "' is not float32");
    }
    return onnx_float_values(*it, source_);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(source_ + ": not a Silero VAD v6 model (silero_vad_v6.onnx): " + what);
  }

 private:
  static std::string shape(const std::vector<std::int64_t>& dims) {
    std::string text = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (i > 0) text += ',';
      text += std::to_string(dims[i]);
    }
    return text + "]";
  }

  std::string source_;
  std::vector<OnnxTensor> tensors_;
};

// A Conv1d weight [out][in][3] as a product over the rows `taps`: k = taps x in, tap-major, so
// that the input of one output position is `taps.size()` consecutive input frames.
VadLayer conv_layer(const WeightFile& file, const std::string& name, int out, int in,
                    std::initializer_list<int> taps) {
  const auto w = file.get(name + ".weight", {out, in, 3});
  const auto b = file.get(name + ".bias", {out});
  VadLayer layer{static_cast<int>(taps.size()) * in, padded(out), {}, {}};
  layer.weights.assign(static_cast<std::size_t>(layer.k) * layer.n, 0.0F);
  layer.bias.assign(layer.n, 0.0F);
  std::copy(b.begin(), b.end(), layer.bias.begin());
  int row = 0;
  for (const int tap : taps) {
    for (int i = 0; i < in; ++i, ++row) {
      for (int o = 0; o < out; ++o) {
        layer.weights[static_cast<std::size_t>(row) * layer.n + o] = w[(o * in + i) * 3 + tap];
      }
    }
  }
  return layer;
}

// The STFT basis is a windowed DFT: its real rows are symmetric (basis[c][j] == basis[c][256 - j])
// and its imaginary rows antisymmetric, zero at j = 0 and 128. Folding each frame x into
// u[j] = x[j] + x[256 - j] (j = 0..128, u[0] = x[0], u[128] = x[128]) and
// v[j] = x[j] - x[256 - j] (j = 1..127) halves the products: real parts = u . basis[c][0..128],
// imaginary parts = v . basis[129 + c][1..127]. Returns {real, imaginary} layers.
std::pair<VadLayer, VadLayer> stft_layers(const WeightFile& file) {
  const auto basis =
      file.get("encoder.feature_extractor.forward_basis_buffer", {2 * kBins, 1, kFftSize});
  const auto at = [&](int row, int j) { return basis[row * kFftSize + j]; };
  for (int c = 0; c < kBins; ++c) {
    bool folds = at(kBins + c, 0) == 0.0F && at(kBins + c, kHalf) == 0.0F;
    for (int j = 1; j < kHalf; ++j) {
      folds = folds && at(c, j) == at(c, kFftSize - j) &&
              at(kBins + c, j) == -at(kBins + c, kFftSize - j);
    }
    if (!folds) file.fail("its STFT basis is not a symmetric windowed DFT");
  }
  VadLayer real{kHalf + 1, padded(kBins), {}, std::vector<float>(padded(kBins))};
  VadLayer imag{kHalf - 1, padded(kBins), {}, std::vector<float>(padded(kBins))};
  real.weights.assign(static_cast<std::size_t>(real.k) * real.n, 0.0F);
  imag.weights.assign(static_cast<std::size_t>(imag.k) * imag.n, 0.0F);
  for (int c = 0; c < kBins; ++c) {
    for (int j = 0; j <= kHalf; ++j) real.weights[j * real.n + c] = at(c, j);
    for (int j = 1; j < kHalf; ++j) imag.weights[(j - 1) * imag.n + c] = at(kBins + c, j);
  }
  return {std::move(real), std::move(imag)};
}

// Folds `frames` frames of 256 samples (frame f at x + f * x_stride) into u, v (see stft_layers):
// out[f * 256 + j] = u[j] for j = 0..128, out[f * 256 + 128 + j] = v[j] for j = 1..127.
void fold_frames(const float* x, int frames, int x_stride, float* out) {
  for (int f = 0; f < frames; ++f, x += x_stride, out += kFftSize) {
    out[0] = x[0];
    out[kHalf] = x[kHalf];
    for (int j = 1; j < kHalf; ++j) {
      out[j] = x[j] + x[kFftSize - j];
      out[kHalf + j] = x[j] - x[kFftSize - j];
    }
  }
}

// [rows][cols] -> [cols][rows].
std::vector<float> transposed(const std::vector<float>& m, int rows, int cols) {
  std::vector<float> t(m.size());
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) t[c * rows + r] = m[r * cols + c];
  }
  return t;
}

// The right reflection padding of one 576-sample input row, which the last STFT frame reads.
void reflect_right(float* row) {
  for (int j = 0; j < kReflect; ++j) row[kRowSamples + j] = row[kRowSamples - 2 - j];
}

}  // namespace

SileroVad SileroVad::from_onnx(std::span<const std::byte> bytes, std::string_view source) {
  const WeightFile file(bytes, source);
  SileroVad vad;
  std::tie(vad.stft_real_, vad.stft_imag_) = stft_layers(file);
  vad.conv0_ = conv_layer(file, "encoder.conv_layers.0", kHidden, kBins, {0, 1, 2});
  vad.conv1_ = conv_layer(file, "encoder.conv_layers.1", 64, kHidden, {0, 1, 2});
  vad.conv2_ = conv_layer(file, "encoder.conv_layers.2", 64, 64, {1, 2});
  vad.conv3_ = conv_layer(file, "encoder.conv_layers.3", kHidden, 64, {1});

  const auto w = file.get("onnx::LSTM_209", {1, kGates, kHidden});
  const auto r = file.get("onnx::LSTM_210", {1, kGates, kHidden});
  const auto b = file.get("onnx::LSTM_211", {1, 2 * kGates});
  vad.lstm_input_ = {kHidden, kGates, transposed(w, kGates, kHidden), std::vector<float>(kGates)};
  for (int g = 0; g < kGates; ++g) vad.lstm_input_.bias[g] = b[g] + b[kGates + g];
  vad.lstm_recurrent_ = transposed(r, kGates, kHidden);

  vad.head_weights_ = file.get("decoder.conv1d.weight", {1, kHidden, 1});
  vad.head_bias_ = file.get("decoder.conv1d.bias", {1})[0];
  return vad;
}

// Activations of one block of windows, laid out so that each convolution's input for one output
// position is a run of consecutive frames: frames that fall outside a window's sequence are
// zero rows kept on either side of it.
struct SileroVad::Workspace {
  std::vector<float> samples = std::vector<float>(kBlockRows * kRowStride);
  std::vector<float> folded = std::vector<float>(kBlockRows * kFrames * kFftSize);
  std::vector<float> real = std::vector<float>(kBlockRows * kFrames * padded(kBins));
  std::vector<float> imag = std::vector<float>(kBlockRows * kFrames * padded(kBins));
  std::vector<float> mags = std::vector<float>(kBlockRows * (kFrames + 2) * kBins);
  std::vector<float> conv0 = std::vector<float>(kBlockRows * (kFrames + 1) * kHidden);
  std::vector<float> conv1 = std::vector<float>(kBlockRows * 2 * 64);
  std::vector<float> conv2 = std::vector<float>(kBlockRows * 64);
  std::vector<float> conv3 = std::vector<float>(kBlockRows * kHidden);
  std::vector<float> gates = std::vector<float>(kBlockRows * kGates);
  std::vector<const float*> in = std::vector<const float*>(kBlockRows * kFrames);
  std::vector<float*> out = std::vector<float*>(kBlockRows * kFrames);
  float h[kHidden] = {};
  float c[kHidden] = {};

  // Runs `layer` over `rows` input rows, row i read from in_base + (i / per) * in_stride +
  // (i % per) * in_step and written likewise.
  void product(const VadLayer& layer, int rows, int per, const float* in_base, int in_stride,
               int in_step, float* out_base, int out_stride, int out_step, bool relu) {
    for (int i = 0; i < rows; ++i) {
      in[i] = in_base + (i / per) * in_stride + (i % per) * in_step;
      out[i] = out_base + (i / per) * out_stride + (i % per) * out_step;
    }
    gemm_rows(in.data(), rows, layer.k, layer.weights.data(), layer.n, layer.bias.data(), relu,
              out.data());
  }
};

void SileroVad::run_block(Workspace& work, int rows) const {
  constexpr int kMagStride = (kFrames + 2) * kBins;      // zero frame, 4 frames, zero frame
  constexpr int kConv0Stride = (kFrames + 1) * kHidden;  // zero frame, 4 frames
  // STFT frame t (1-4) of a window's reflect-padded input starts at sample 128 (t - 1) of it.
  for (int r = 0; r < rows; ++r) {
    fold_frames(work.samples.data() + r * kRowStride, kFrames, kHop,
                work.folded.data() + r * kFrames * kFftSize);
  }
  const int frames = rows * kFrames;
  work.product(stft_real_, frames, 1, work.folded.data(), kFftSize, 0, work.real.data(),
               stft_real_.n, 0, false);
  work.product(stft_imag_, frames, 1, work.folded.data() + kBins, kFftSize, 0, work.imag.data(),
               stft_imag_.n, 0, false);
  for (int r = 0; r < rows; ++r) {
    const int first = r * kFrames * stft_real_.n;
    magnitudes(work.real.data() + first, work.imag.data() + first, kFrames, stft_real_.n, kBins,
               work.mags.data() + r * kMagStride + kBins, kBins);
  }
  work.product(conv0_, rows * kFrames, kFrames, work.mags.data(), kMagStride, kBins,
               work.conv0.data() + kHidden, kConv0Stride, kHidden, true);
  // Stride 2: outputs 0 and 1 see input frames -1..1 and 1..3.
  work.product(conv1_, rows * 2, 2, work.conv0.data(), kConv0Stride, 2 * kHidden, work.conv1.data(),
               2 * 64, 64, true);
  work.product(conv2_, rows, 1, work.conv1.data(), 2 * 64, 0, work.conv2.data(), 64, 0, true);
  work.product(conv3_, rows, 1, work.conv2.data(), 64, 0, work.conv3.data(), kHidden, 0, true);
  work.product(lstm_input_, rows, 1, work.conv3.data(), kHidden, 0, work.gates.data(), kGates, 0,
               false);
}

std::vector<float> SileroVad::probabilities(std::span<const float> audio) const {
  const auto size = static_cast<std::int64_t>(audio.size());
  const std::int64_t windows = size / kWindowSamples + 1;
  // faster-whisper zeroes the last window's last 64 samples (see the header).
  const std::int64_t zero_from = std::min(size, windows * kWindowSamples - kContextSamples);
  std::vector<float> probs(static_cast<std::size_t>(windows));
  Workspace work;
  for (std::int64_t first = 0; first < windows; first += kBlockRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kBlockRows, windows - first));
    for (int r = 0; r < rows; ++r) {
      float* row = work.samples.data() + r * kRowStride;
      const std::int64_t start = (first + r) * kWindowSamples - kContextSamples;
      for (int j = 0; j < kRowSamples; ++j) {
        const std::int64_t s = start + j;
        row[j] = s >= 0 && s < zero_from ? audio[static_cast<std::size_t>(s)] : 0.0F;
      }
      reflect_right(row);
    }
    run_block(work, rows);
    lstm_steps(work.gates.data(), rows, lstm_recurrent_.data(), head_weights_.data(), head_bias_,
               work.h, work.c, probs.data() + first);
  }
  return probs;
}

SileroVad::Stream::Stream(std::shared_ptr<const SileroVad> vad)
    : vad_(std::move(vad)), work_(std::make_unique<Workspace>()), pending_(kContextSamples, 0.0F) {}

SileroVad::Stream::~Stream() = default;
SileroVad::Stream::Stream(Stream&& other) noexcept = default;
SileroVad::Stream& SileroVad::Stream::operator=(Stream&& other) noexcept = default;

std::vector<float> SileroVad::Stream::push(std::span<const float> audio) {
  pending_.insert(pending_.end(), audio.begin(), audio.end());
  const auto windows =
      static_cast<std::int64_t>((pending_.size() - kContextSamples) / kWindowSamples);
  std::vector<float> probs(static_cast<std::size_t>(windows));
  Workspace& work = *work_;
  // Blocks of up to kBlockRows windows, as probabilities() runs them: each window's result is
  // the same whatever block it is in, and the LSTM state in `work` carries over.
  for (std::int64_t first = 0; first < windows; first += kBlockRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kBlockRows, windows - first));
    for (int r = 0; r < rows; ++r) {
      float* row = work.samples.data() + r * kRowStride;
      const auto start = static_cast<std::ptrdiff_t>((first + r) * kWindowSamples);
      std::copy_n(pending_.begin() + start, kRowSamples, row);
      reflect_right(row);
    }
    vad_->run_block(work, rows);
    lstm_steps(work.gates.data(), rows, vad_->lstm_recurrent_.data(), vad_->head_weights_.data(),
               vad_->head_bias_, work.h, work.c, probs.data() + first);
  }
  pending_.erase(pending_.begin(),
                 pending_.begin() + static_cast<std::ptrdiff_t>(windows * kWindowSamples));
  return probs;
}

void SileroVad::Stream::reset() {
  work_ = std::make_unique<Workspace>();
  pending_.assign(kContextSamples, 0.0F);
}

}  // namespace amanuensis::vad
