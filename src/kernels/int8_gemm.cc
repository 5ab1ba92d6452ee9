// Quantisation and packing, the portable kernel, and the choice of kernel per path. The vector
// kernels are in int8_gemm_avx2.cc, int8_gemm_avx_vnni.cc and int8_gemm_avx512.cc (x86-64), and
// int8_gemm_neon.cc, int8_gemm_neon_dotprod.cc and int8_gemm_neon_i8mm.cc (ARM64).
#include "kernels/int8_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/int8_gemm_internal.h"
#include "kernels/vector_ops.h"

namespace amanuensis::kernels {

namespace {

int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

std::size_t packed_index(const Int8Matrix& m, int row, int col) {
  return ((static_cast<std::size_t>(row) / 16) * (m.padded_cols / 4) + col / 4) * 64 +
         (row % 16) * 4 + col % 4;
}

Int8Matrix allocate(int rows, int cols) {
  Int8Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.padded_rows = round_up(rows, 16);
  m.padded_cols = round_up(cols, 4);
  m.packed.assign(static_cast<std::size_t>(m.padded_rows) * m.padded_cols, 0);
  m.scales.assign(m.padded_rows, 0.0F);
  m.sums.assign(m.padded_rows, 0);
  return m;
}

inline std::int8_t round_to_int8(float v) {
  const float r = std::nearbyint(v);
  return static_cast<std::int8_t>(std::clamp(r, -127.0F, 127.0F));
}

}  // namespace

void Int8Matrix::dequantize_row(int row, float* out) const {
  for (int c = 0; c < cols; ++c) out[c] = static_cast<float>(q(row, c)) * scale(row, c);
}

Int8Matrix quantize_int8(const float* w, int rows, int cols, int ld) {
  auto m = allocate(rows, cols);
  for (int r = 0; r < rows; ++r) {
    const float* row = w + static_cast<std::size_t>(r) * ld;
    const float max_value = max_abs(row, static_cast<std::size_t>(cols));
    const float inverse = max_value > 0.0F ? 127.0F / max_value : 0.0F;
    std::int32_t sum = 0;
    for (int c = 0; c < cols; ++c) {
      const std::int8_t q = round_to_int8(row[c] * inverse);
      m.packed[packed_index(m, r, c)] = q;
      sum += q;
    }
    m.scales[r] = max_value / 127.0F;
    m.sums[r] = sum;
  }
  return m;
}

Int8Matrix pack_int8(const std::int8_t* q, const float* ct2_scales, int rows, int cols) {
  auto m = allocate(rows, cols);
  for (int r = 0; r < rows; ++r) {
    std::int32_t sum = 0;
    for (int c = 0; c < cols; ++c) {
      const auto v =
          static_cast<std::int8_t>(std::max<int>(-127, q[static_cast<std::size_t>(r) * cols + c]));
      m.packed[packed_index(m, r, c)] = v;
      sum += v;
    }
    m.scales[r] = ct2_scales[r] != 0.0F ? 1.0F / ct2_scales[r] : 0.0F;
    m.sums[r] = sum;
  }
  return m;
}

Int8Matrix pack_int8_blocks(const std::int8_t* q, const float* block_scales, int rows, int cols) {
  auto m = allocate(rows, cols);
  const int blocks = cols / kInt8BlockColumns;
  m.block_scales.assign(static_cast<std::size_t>(m.padded_rows) * blocks, 0.0F);
  m.block_sums.assign(m.block_scales.size(), 0);
  for (int r = 0; r < rows; ++r) {
    for (int b = 0; b < blocks; ++b) {
      const std::size_t at = (static_cast<std::size_t>(r / 16) * blocks + b) * 16 + r % 16;
      std::int32_t sum = 0;
      for (int c = b * kInt8BlockColumns; c < (b + 1) * kInt8BlockColumns; ++c) {
        const auto v = static_cast<std::int8_t>(
            std::max<int>(-127, q[static_cast<std::size_t>(r) * cols + c]));
        m.packed[packed_index(m, r, c)] = v;
        sum += v;
      }
      m.block_scales[at] = block_scales[static_cast<std::size_t>(r) * blocks + b];
      m.block_sums[at] = sum;
    }
    m.scales[r] = 1.0F;
  }
  return m;
}

Int8Matrix per_row_int8(const Int8Matrix& w) {
  if (!w.blocked()) return w;
  std::vector<float> values(static_cast<std::size_t>(w.rows) * w.cols);
  for (int r = 0; r < w.rows; ++r)
    w.dequantize_row(r, values.data() + static_cast<std::size_t>(r) * w.cols);
  return quantize_int8(values.data(), w.rows, w.cols, w.cols);
}

ActivationForm activation_form(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512Vnni:
    case CpuIsa::kAvxVnni:
      return ActivationForm::kBiased;
    case CpuIsa::kAvx2:
      return ActivationForm::kBiased7;
    default:
      return ActivationForm::kSigned;
  }
}

int QuantizedRows::value(int row, int col) const {
  return int8_detail::stored_value(form, data[static_cast<std::size_t>(row) * padded_cols + col]);
}

void quantize_rows_prepare(CpuIsa isa, int m, const Int8Matrix& w, QuantizedRows& out) {
  const int padded_cols = w.padded_cols;
  out.rows = m;
  out.padded_cols = padded_cols;
  out.form = activation_form(isa);
  out.data.resize(static_cast<std::size_t>(m) * padded_cols);
  out.scales.resize(m);
}

void quantize_row_range(const float* x, int r0, int r1, int k, int ldx, QuantizedRows& out) {
  const int padded_cols = out.padded_cols;
  const auto top = static_cast<float>(int8_detail::max_level(out.form));
  const auto zero = static_cast<std::uint8_t>(int8_detail::zero_point(out.form));
  for (int r = r0; r < r1; ++r) {
    const float* row = x + static_cast<std::size_t>(r) * ldx;
    auto* q = reinterpret_cast<std::uint8_t*>(out.data.data() +
                                              static_cast<std::size_t>(r) * padded_cols);
    const float max_value = max_abs(row, static_cast<std::size_t>(k));
    const float inverse = max_value > 0.0F ? top / max_value : 0.0F;
    quantize_row(row, static_cast<std::size_t>(k), inverse, zero,
                 reinterpret_cast<std::int8_t*>(q));
    for (int c = k; c < padded_cols; ++c) q[c] = zero;
    out.scales[r] = max_value / top;
  }
}

void quantize_rows(CpuIsa isa, const float* x, int m, int k, int ldx, const Int8Matrix& w,
                   QuantizedRows& out) {
  quantize_rows_prepare(isa, m, w, out);
  quantize_row_range(x, 0, m, k, ldx, out);
}

namespace {

// The exact dot product of activation row q and packed weight channel wp over the groups of 4
// columns [kk0, kk1).
template <ActivationForm kForm>
std::int32_t dot_columns(const std::int8_t* q, const std::int8_t* wp, int kk0, int kk1) {
  std::int32_t dot = 0;
  for (int kk = kk0; kk < kk1; ++kk) {
    for (int j = 0; j < 4; ++j)
      dot += int8_detail::stored_value(kForm, q[kk * 4 + j]) * wp[kk * 64 + j];
  }
  return dot;
}

// The portable kernel, per-row and block-mode weights alike (int8_gemm.h's roundings).
template <ActivationForm kForm>
void gemm_generic(const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0, int n1,
                  const float* bias, float* y, int ldy) {
  const int k4 = w.padded_cols / 4;
  constexpr int kBlockGroups = kInt8BlockColumns / 4;
  const int n_end = std::min(n1, w.rows);
  for (int r = r0; r < r1; ++r) {
    const std::size_t row = static_cast<std::size_t>(r) * a.padded_cols;
    const std::int8_t* q = a.data.data() + row;
    for (int n = n0; n < n_end; ++n) {
      const std::int8_t* wp =
          w.packed.data() + static_cast<std::size_t>(n / 16) * k4 * 64 + (n % 16) * 4;
      const float b = bias != nullptr ? bias[n] : 0.0F;
      float value = 0.0F;
      if (w.blocked()) {
        float sum = 0.0F;
        for (int kb = 0; kb < w.column_blocks(); ++kb) {
          const auto dot = dot_columns<kForm>(q, wp, kb * kBlockGroups, (kb + 1) * kBlockGroups);
          sum = int8_detail::add_scaled_block(dot, w.scale(n, kb * kInt8BlockColumns), sum);
        }
        value = int8_detail::finish_blocks(sum, a.scales[r], b);
      } else {
        value =
            int8_detail::scale_dot(dot_columns<kForm>(q, wp, 0, k4), a.scales[r], w.scales[n], b);
      }
      y[static_cast<std::size_t>(r) * ldy + n] = value;
    }
  }
}

int8_detail::GemmFn generic_for(ActivationForm form) {
  switch (form) {
    case ActivationForm::kBiased:
      return gemm_generic<ActivationForm::kBiased>;
    case ActivationForm::kBiased7:
      return gemm_generic<ActivationForm::kBiased7>;
    default:
      return gemm_generic<ActivationForm::kSigned>;
  }
}

// The kernel for `isa` when it can take the activations' form; else the portable one.
int8_detail::GemmFn kernel_for(CpuIsa isa, const QuantizedRows& a) {
  if (a.form != activation_form(isa)) return generic_for(a.form);
#if defined(__x86_64__)
  switch (isa) {
    case CpuIsa::kAvx512Vnni:
      return int8_detail::gemm_avx512;
    case CpuIsa::kAvxVnni:
      return int8_detail::gemm_avx_vnni;
    case CpuIsa::kAvx2:
      return int8_detail::gemm_avx2;
    default:
      break;
  }
#elif defined(__aarch64__)
  switch (isa) {
    case CpuIsa::kNeonI8mm:
      return int8_detail::gemm_neon_i8mm;
    case CpuIsa::kNeonDotprod:
      return int8_detail::gemm_neon_dotprod;
    case CpuIsa::kNeon:
      return int8_detail::gemm_neon;
    default:
      break;
  }
#endif
  return generic_for(a.form);
}

}  // namespace

void int8_gemm(CpuIsa isa, const QuantizedRows& a, int r0, int r1, const Int8Matrix& w, int n0,
               int n1, const float* bias, float* y, int ldy) {
  kernel_for(isa, a)(a, r0, r1, w, n0, n1, bias, y, ldy);
}

}  // namespace amanuensis::kernels
