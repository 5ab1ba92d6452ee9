// Reads the weights of an ONNX model: the initializers of its graph. ONNX files are protobuf
// messages (ModelProto, field 7 graph -> GraphProto, field 5 initializer -> TensorProto); this is
// a small wire-format parser of our own, with no protobuf or ONNX library, that reads only those
// three messages and skips everything else (nodes, inputs, metadata) by its wire type.
//
// It is strict: a truncated field, a length past the end of its message, a malformed varint, an
// unknown wire type, a tensor whose data does not match its shape or element type, or external
// data all throw amanuensis::Error naming the source and the byte offset of the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amanuensis::vad {

// TensorProto.DataType values (onnx.proto) whose element size the reader knows; other types are
// rejected.
enum class OnnxDataType : std::int32_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBfloat16 = 16,
};

// One initializer. Its values are in `raw_data` (little-endian, pointing into the bytes given to
// read_onnx_initializers, which must outlive it) or, for float tensors, possibly in `float_data`;
// values of other types stored in typed fields (int64_data, ...) are not kept.
struct OnnxTensor {
  std::string name;
  std::vector<std::int64_t> dims;
  OnnxDataType data_type = OnnxDataType::kFloat;
  std::span<const std::byte> raw_data;
  bool has_raw_data = false;
  std::vector<float> float_data;

  // The product of dims (1 for a scalar); the reader has checked it cannot overflow.
  [[nodiscard]] std::int64_t element_count() const;
};

// Bytes per element of `type`; 0 for a type the reader does not know.
std::size_t onnx_element_size(std::int32_t type);

// Parses an ONNX ModelProto and returns its graph's initializers in file order. `source` names
// the bytes in error messages (a file path, or "the built-in silero_vad_v6.onnx").
std::vector<OnnxTensor> read_onnx_initializers(std::span<const std::byte> bytes,
                                               std::string_view source);

// The values of a FLOAT tensor, from raw_data or float_data; throws Error naming `source` and the
// tensor when it is not FLOAT or holds no data.
std::vector<float> onnx_float_values(const OnnxTensor& tensor, std::string_view source);

}  // namespace amanuensis::vad
