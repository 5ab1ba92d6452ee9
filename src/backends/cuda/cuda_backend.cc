#include "backends/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backends/cuda/cublas_loader.h"
#include "backends/provider.h"
#include "backends/resident_copies.h"
#include "kernels/traffic_counter.h"

namespace amanuensis::backends::cuda {

namespace {

using kernels::MatrixView;
using kernels::MutableMatrixView;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw DeviceError(std::string("CUDA ") + what + ": " + cudaGetErrorName(status) + " (" +
                      cudaGetErrorString(status) + ")");
  }
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw DeviceError(std::string("cuBLAS ") + what + ": status " +
                      std::to_string(static_cast<int>(status)));
  }
}

// cudaMalloc'd memory, freed once.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(std::size_t bytes) : bytes_(bytes) {
    check(cudaMalloc(&data_, std::max<std::size_t>(bytes, 1)), "cudaMalloc");
  }
  DeviceMemory(DeviceMemory&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() { release(); }

  template <typename T = void>
  [[nodiscard]] T* get() const {
    return static_cast<T*>(data_);
  }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }

 private:
  void release() {
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
  }
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

DeviceMemory upload_bytes(kernels::TrafficCounter& traffic, const void* host, std::size_t bytes) {
  DeviceMemory memory(bytes);
  check(cudaMemcpy(memory.get(), host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (weights)");
  traffic.sent(bytes);
  traffic.waited();  // cudaMemcpy from pageable memory returns once the copy is done
  return memory;
}

struct Int8Weights {
  DeviceMemory q;       // [rows, padded_cols]
  DeviceMemory scales;  // [rows]
};

// One thread's stream, cuBLAS handle and scratch buffers.
struct Lane {
  explicit Lane(int device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cublas().create(&blas), "cublasCreate");
    check(cublas().set_stream(blas, stream), "cublasSetStream");
  }
  ~Lane() {
    if (blas != nullptr) cublas().destroy(blas);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  // Scratch buffer `slot`, grown to at least `bytes`.
  void* scratch(int slot, std::size_t bytes) {
    auto& buffer = buffers[static_cast<std::size_t>(slot)];
    if (buffer.bytes() < bytes) buffer = DeviceMemory(bytes);
    return buffer.get();
  }
  float* floats(int slot, std::size_t n) {
    return static_cast<float*>(scratch(slot, n * sizeof(float)));
  }

  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  std::array<DeviceMemory, 6> buffers;
};

class CudaBackend final : public kernels::Backend {
 public:
  CudaBackend(int device, GemmPrecision precision) : device_(device), precision_(precision) {
    cudaDeviceProp properties{};
    check(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties");
    name_ = properties.name;
    release(acquire());  // one lane now: cuBLAS and the context fail here rather than mid-request
  }

  [[nodiscard]] std::string_view name() const override { return "cuda"; }

  [[nodiscard]] std::optional<kernels::DeviceTraffic> traffic() const override {
    return traffic_.totals();
  }

  void make_resident(const void* data, std::size_t bytes) override { resident_.add(data, bytes); }
  void release_resident(const void* data) override {
    const auto range = resident_.remove(data);
    if (!range) return;
    for (auto* copies : {&weights_, &half_weights_, &window_constants_})
      copies->drop(range->first, range->second);
    int8_weights_.drop(range->first, range->second);
  }
  // Weights cross at load, in the precision linear() multiplies them in.
  void make_resident_weight(MatrixView weight) override {
    Backend::make_resident_weight(weight);  // the range
    if (precision_ == GemmPrecision::kFloat32) {
      (void)float_weight(weight);
      return;
    }
    Lease lane(*this);
    (void)half_weight(weight, lane);
  }
  void make_resident_int8_weight(const kernels::Int8Matrix& weight) override {
    Backend::make_resident_int8_weight(weight);
    (void)int8_weight(weight);
  }

  [[nodiscard]] std::string describe() const override {
    const char* gemm = precision_ == GemmPrecision::kFloat32   ? "fp32"
                       : precision_ == GemmPrecision::kFloat16 ? "fp16 (fp32 sums)"
                                                               : "bf16 (fp32 sums)";
    return "cuda " + name_ + ", cublas " + gemm + ", flash attention, dp4a int8";
  }

  void matmul(MatrixView a, MatrixView b, bool transpose_b, float alpha, float beta,
              MutableMatrixView c) override {
    if (c.rows == 0 || c.cols == 0) return;
    Lease lane(*this);
    float* da = upload(lane, 0, a);
    float* db = upload(lane, 1, b);
    float* dc = lane->floats(2, dense(c.rows, c.cols));
    if (beta != 0.0F) copy_in(lane, dc, {c.data, c.rows, c.cols, c.ld});
    // Row-major C = A op(B) is column-major C^T = op(B)^T A^T.
    check(cublas().sgemm(lane->blas, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, c.cols,
                         c.rows, a.cols, &alpha, db, b.cols, da, a.cols, &beta, dc, c.cols),
          "sgemm");
    download(lane, dc, c);
  }

  void linear(MatrixView x, MatrixView weight, std::span<const float> bias,
              MutableMatrixView y) override {
    if (y.rows == 0 || y.cols == 0) return;
    Lease lane(*this);
    float* dx = upload(lane, 0, x);
    float* dy = lane->floats(2, dense(y.rows, y.cols));
    float beta = 0.0F;
    if (!bias.empty()) {
      check(launch_bias_rows(constant(bias)->get<float>(), dy, y.rows, y.cols, lane->stream),
            "bias rows");
      beta = 1.0F;
    }
    const float alpha = 1.0F;
    // Row-major y = x W^T is column-major y^T = W x^T, W [out, in] read as op T.
    if (precision_ == GemmPrecision::kFloat32) {
      const auto w = float_weight(weight);
      check(cublas().sgemm(lane->blas, CUBLAS_OP_T, CUBLAS_OP_N, y.cols, y.rows, x.cols, &alpha,
                           w->get<float>(), x.cols, dx, x.cols, &beta, dy, y.cols),
            "sgemm");
    } else {
      const auto type = precision_ == GemmPrecision::kFloat16 ? CUDA_R_16F : CUDA_R_16BF;
      const auto w = half_weight(weight, lane);
      void* dx_half = lane->scratch(3, dense(x.rows, x.cols) * 2);
      check(launch_to_half(dx, dx_half, dense(x.rows, x.cols), half_type(), lane->stream),
            "to half");
      check(cublas().gemm_ex(lane->blas, CUBLAS_OP_T, CUBLAS_OP_N, y.cols, y.rows, x.cols, &alpha,
                             w->get(), type, x.cols, dx_half, type, x.cols, &beta, dy, CUDA_R_32F,
                             y.cols, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "gemm_ex");
    }
    download(lane, dy, y);
  }

  void linear_int8(MatrixView x, const kernels::Int8Matrix& weight, std::span<const float> bias,
                   MutableMatrixView y) override {
    if (y.rows == 0 || y.cols == 0) return;
    Lease lane(*this);
    const auto w = int8_weight(weight);
    const auto padded = static_cast<std::size_t>(weight.padded_cols);
    float* dx = upload(lane, 0, x);
    auto* dq =
        static_cast<std::int8_t*>(lane->scratch(1, static_cast<std::size_t>(x.rows) * padded));
    float* ds = lane->floats(3, static_cast<std::size_t>(x.rows));
    float* dy = lane->floats(2, dense(y.rows, y.cols));
    check(launch_quantize_rows(dx, x.rows, x.cols, weight.padded_cols, dq, ds, lane->stream),
          "quantize rows");
    const auto b = bias.empty() ? nullptr : constant(bias);
    check(launch_int8_gemm(dq, ds, w->q.get<std::int8_t>(), w->scales.get<float>(),
                           b ? b->get<float>() : nullptr, x.rows, weight.rows, weight.padded_cols,
                           dy, lane->stream),
          "int8 gemm");
    download(lane, dy, y);
  }

  // The fused attention kernel keeps a head's row in registers: at most kMaxHeadDim values.
  static int checked_head_dim(int head_dim) {
    if (head_dim > kMaxHeadDim) {
      throw DeviceError("CUDA attention: head dimension " + std::to_string(head_dim) + " above " +
                        std::to_string(kMaxHeadDim));
    }
    return head_dim;
  }

  void attention(MatrixView q, MatrixView k, MatrixView v, int n_heads, float scale,
                 int causal_offset, MutableMatrixView out) override {
    if (q.rows == 0) return;
    const int head_dim = checked_head_dim(q.cols / n_heads);
    Lease lane(*this);
    float* dq = upload(lane, 0, q);
    float* dk = upload(lane, 1, k);
    float* dv = upload(lane, 3, v);
    float* dout = lane->floats(2, dense(q.rows, q.cols));
    check(launch_flash_attention(dq, q.cols, dk, k.cols, head_dim, dv, v.cols, head_dim, dout,
                                 q.cols, q.rows, k.rows, n_heads, head_dim, scale, causal_offset,
                                 lane->stream),
          "flash attention");
    download(lane, dout, out);
  }

  // Cross-attention: keys and values head by head, the same for every decoding step of a window,
  // which the model makes resident while it decodes it: they cross the bus once per window.
  void attention_head_major(MatrixView q, const float* k, const float* v, int keys, int n_heads,
                            float scale, MutableMatrixView out) override {
    if (q.rows == 0) return;
    const int head_dim = checked_head_dim(q.cols / n_heads);
    Lease lane(*this);
    const int rows = n_heads * keys;
    const auto dk = window_constant(k, rows, head_dim);
    const auto dv = window_constant(v, rows, head_dim);
    float* dq = upload(lane, 0, q);
    float* dout = lane->floats(2, dense(q.rows, q.cols));
    const auto head_stride = static_cast<std::size_t>(keys) * head_dim;
    check(launch_flash_attention(dq, q.cols, dk->get<float>(), head_dim, head_stride,
                                 dv->get<float>(), head_dim, head_stride, dout, q.cols, q.rows,
                                 keys, n_heads, head_dim, scale, -1, lane->stream),
          "flash attention");
    download(lane, dout, out);
  }

  // A float16 cache is converted back to float32 rows on the host when it is uploaded, once per
  // window, and then attended like attention_head_major's. Steps that want scores (word
  // timestamps, rare) take the base class's unfused path.
  void attention_half_cache(MatrixView q, const kernels::HalfKeyValues& kv, float scale,
                            MutableMatrixView out, std::span<float* const> head_scores) override {
    if (q.rows == 0) return;
    if (wants_scores(head_scores)) {
      Backend::attention_half_cache(q, kv, scale, out, head_scores);
      return;
    }
    const int head_dim = checked_head_dim(kv.head_dim);
    Lease lane(*this);
    const auto dk = half_window_constant(kv, /*keys=*/true);
    const auto dv = half_window_constant(kv, /*keys=*/false);
    float* dq = upload(lane, 0, q);
    float* dout = lane->floats(2, dense(q.rows, q.cols));
    const auto head_stride = kv.value_head_size();
    check(launch_flash_attention(dq, q.cols, dk->get<float>(), head_dim, head_stride,
                                 dv->get<float>(), head_dim, head_stride, dout, q.cols, q.rows,
                                 kv.n_keys, kv.n_heads, head_dim, scale, -1, lane->stream),
          "flash attention");
    download(lane, dout, out);
  }

  void layer_norm(MutableMatrixView x, std::span<const float> gamma, std::span<const float> beta,
                  float epsilon) override {
    if (x.rows == 0) return;
    Lease lane(*this);
    const auto g = constant(gamma);
    const auto b = constant(beta);
    float* dx = upload(lane, 0, {x.data, x.rows, x.cols, x.ld});
    check(launch_layer_norm(dx, g->get<float>(), b->get<float>(), x.rows, x.cols, epsilon,
                            lane->stream),
          "layer norm");
    download(lane, dx, x);
  }

  void gelu(std::span<float> x) override {
    if (x.empty()) return;
    Lease lane(*this);
    float* dx =
        upload(lane, 0, {x.data(), 1, static_cast<int>(x.size()), static_cast<int>(x.size())});
    check(launch_gelu(dx, x.size(), lane->stream), "gelu");
    download(lane, dx, {x.data(), 1, static_cast<int>(x.size()), static_cast<int>(x.size())});
  }

  void softmax_rows(MutableMatrixView x, int causal_offset) override {
    if (x.rows == 0) return;
    Lease lane(*this);
    float* dx = upload(lane, 0, {x.data, x.rows, x.cols, x.ld});
    check(launch_softmax_rows(dx, x.rows, x.cols, x.rows, causal_offset, lane->stream), "softmax");
    download(lane, dx, x);
  }

  void add(std::span<const float> x, std::span<float> y) override {
    if (y.empty()) return;
    Lease lane(*this);
    const int n = static_cast<int>(y.size());
    float* dx = upload(lane, 0, {x.data(), 1, n, n});
    float* dy = upload(lane, 1, {y.data(), 1, n, n});
    check(launch_add(dx, dy, y.size(), lane->stream), "add");
    download(lane, dy, {y.data(), 1, n, n});
  }

 private:
  // A lane held for one op: taken from the free list (or made) and given back afterwards.
  class Lease {
   public:
    explicit Lease(CudaBackend& backend) : backend_(backend), lane_(backend.acquire()) {}
    ~Lease() {
      // An op that throws may leave work in flight that reads host memory: wait for it first.
      cudaStreamSynchronize(lane_->stream);
      backend_.release(std::move(lane_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lane* operator->() const { return lane_.get(); }

   private:
    CudaBackend& backend_;
    std::unique_ptr<Lane> lane_;
  };

  std::unique_ptr<Lane> acquire() {
    check(cudaSetDevice(device_), "cudaSetDevice");
    {
      const std::lock_guard lock(lanes_mutex_);
      if (!free_lanes_.empty()) {
        auto lane = std::move(free_lanes_.back());
        free_lanes_.pop_back();
        return lane;
      }
    }
    return std::make_unique<Lane>(device_);
  }

  void release(std::unique_ptr<Lane> lane) {
    const std::lock_guard lock(lanes_mutex_);
    free_lanes_.push_back(std::move(lane));
  }

  HalfType half_type() const {
    return precision_ == GemmPrecision::kFloat16 ? HalfType::kFloat16 : HalfType::kBFloat16;
  }

  static std::size_t dense(int rows, int cols) { return static_cast<std::size_t>(rows) * cols; }

  // Host view (any row stride) -> dense device matrix in scratch `slot`.
  float* upload(Lease& lane, int slot, MatrixView m) {
    float* device = lane->floats(slot, dense(m.rows, m.cols));
    copy_in(lane, device, m);
    return device;
  }

  void copy_in(Lease& lane, float* device, MatrixView m) {
    const std::size_t width = static_cast<std::size_t>(m.cols) * sizeof(float);
    check(cudaMemcpy2DAsync(device, width, m.data, static_cast<std::size_t>(m.ld) * sizeof(float),
                            width, static_cast<std::size_t>(m.rows), cudaMemcpyHostToDevice,
                            lane->stream),
          "copy to device");
    traffic_.sent(dense(m.rows, m.cols) * sizeof(float));
  }

  // Dense device matrix -> host view, then waits for the stream: the op is done when this returns.
  void download(Lease& lane, const float* device, MutableMatrixView m) {
    const std::size_t width = static_cast<std::size_t>(m.cols) * sizeof(float);
    check(cudaMemcpy2DAsync(m.data, static_cast<std::size_t>(m.ld) * sizeof(float), device, width,
                            width, static_cast<std::size_t>(m.rows), cudaMemcpyDeviceToHost,
                            lane->stream),
          "copy to host");
    check(cudaStreamSynchronize(lane->stream), "stream");
    traffic_.received(dense(m.rows, m.cols) * sizeof(float));
    traffic_.waited();
  }

  static std::vector<float> dense_copy(MatrixView w) {
    std::vector<float> out(dense(w.rows, w.cols));
    for (int r = 0; r < w.rows; ++r) {
      std::copy_n(w.data + static_cast<std::size_t>(r) * w.ld, w.cols,
                  out.begin() + static_cast<std::ptrdiff_t>(r) * w.cols);
    }
    return out;
  }

  std::shared_ptr<DeviceMemory> float_weight(MatrixView w) {
    return weights_.get(w.data, kernels::view_bytes(w), w.rows, w.cols, w.ld, [&] {
      const auto host = dense_copy(w);
      return upload_bytes(traffic_, host.data(), host.size() * sizeof(float));
    });
  }

  std::shared_ptr<DeviceMemory> half_weight(MatrixView w, Lease& lane) {
    return half_weights_.get(w.data, kernels::view_bytes(w), w.rows, w.cols, w.ld, [&] {
      const auto host = dense_copy(w);
      const auto staging = upload_bytes(traffic_, host.data(), host.size() * sizeof(float));
      DeviceMemory half(host.size() * 2);
      check(
          launch_to_half(staging.get<float>(), half.get(), host.size(), half_type(), lane->stream),
          "to half");
      check(cudaStreamSynchronize(lane->stream), "stream");
      traffic_.waited();
      return half;
    });
  }

  std::shared_ptr<DeviceMemory> window_constant(const float* data, int rows, int cols) {
    const std::size_t bytes = dense(rows, cols) * sizeof(float);
    return window_constants_.get(data, bytes, rows, cols, cols,
                                 [&] { return upload_bytes(traffic_, data, bytes); });
  }

  // The float32 copy, [n_heads * n_keys, head_dim], of kv's keys or values.
  std::shared_ptr<DeviceMemory> half_window_constant(const kernels::HalfKeyValues& kv, bool keys) {
    const std::uint16_t* data = keys ? kv.keys : kv.values;
    const std::size_t bytes = (keys ? kv.key_elements() : kv.value_elements()) * 2;
    return window_constants_.get(
        data, bytes, kv.n_heads * kv.n_keys, kv.head_dim, kv.head_dim, [&] {
          const auto host = kernels::unpack_half(kv, keys);
          return upload_bytes(traffic_, host.data(), host.size() * sizeof(float));
        });
  }

  // Biases, gammas and betas: model constants, cached like weights.
  std::shared_ptr<DeviceMemory> constant(std::span<const float> values) {
    const int n = static_cast<int>(values.size());
    return weights_.get(values.data(), values.size_bytes(), 1, n, n,
                        [&] { return upload_bytes(traffic_, values.data(), values.size_bytes()); });
  }

  std::shared_ptr<Int8Weights> int8_weight(const kernels::Int8Matrix& w) {
    return int8_weights_.get(w.packed.data(), w.packed.size(), w.rows, w.cols, w.padded_cols, [&] {
      // The device kernel takes one scale per row: block-scaled weights are quantised per row.
      const auto per_row = w.blocked() ? kernels::per_row_int8(w) : kernels::Int8Matrix{};
      const auto& m = w.blocked() ? per_row : w;
      std::vector<std::int8_t> rows(dense(m.rows, m.padded_cols), 0);
      for (int r = 0; r < m.rows; ++r) {
        for (int c = 0; c < m.cols; ++c)
          rows[static_cast<std::size_t>(r) * m.padded_cols + c] = m.q(r, c);
      }
      return Int8Weights{upload_bytes(traffic_, rows.data(), rows.size()),
                         upload_bytes(traffic_, m.scales.data(),
                                      static_cast<std::size_t>(m.rows) * sizeof(float))};
    });
  }

  int device_;
  GemmPrecision precision_;
  std::string name_;
  std::mutex lanes_mutex_;
  std::vector<std::unique_ptr<Lane>> free_lanes_;
  ResidentRanges resident_;
  ResidentCopies<DeviceMemory> weights_{resident_};
  ResidentCopies<DeviceMemory> half_weights_{resident_};
  ResidentCopies<Int8Weights> int8_weights_{resident_};
  ResidentCopies<DeviceMemory> window_constants_{resident_};
  kernels::TrafficCounter traffic_;
};

}  // namespace

GemmPrecision precision_for(const std::string& compute_type) {
  if (compute_type == "float16" || compute_type == "int8_float16") return GemmPrecision::kFloat16;
  if (compute_type == "bfloat16" || compute_type == "int8_bfloat16")
    return GemmPrecision::kBFloat16;
  return GemmPrecision::kFloat32;
}

std::unique_ptr<kernels::Backend> make_cuda_backend(int device, GemmPrecision precision) {
  return std::make_unique<CudaBackend>(device, precision);
}

}  // namespace amanuensis::backends::cuda
