// Builds ONNX model bytes (protobuf wire format) for tests of the ONNX reader and the Silero VAD:
// a ModelProto whose graph (written last, so that cutting the bytes anywhere cuts the graph)
// holds the given initializers, with a node and an input around them for the reader to skip.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace amanuensis::test_support {

class ProtoWriter {
 public:
  static std::string varint(std::uint64_t value) {
    std::string out;
    do {
      auto byte = static_cast<char>(value & 0x7F);
      value >>= 7;
      if (value != 0) byte = static_cast<char>(byte | 0x80);
      out += byte;
    } while (value != 0);
    return out;
  }
  ProtoWriter& varint_field(std::uint32_t field, std::uint64_t value) {
    bytes_ += varint(field << 3 | 0) + varint(value);
    return *this;
  }
  ProtoWriter& bytes_field(std::uint32_t field, std::string_view payload) {
    bytes_ += varint(field << 3 | 2) + varint(payload.size());
    bytes_ += payload;
    return *this;
  }
  ProtoWriter& fixed32_field(std::uint32_t field, std::uint32_t value) {
    bytes_ += varint(field << 3 | 5);
    bytes_.append(reinterpret_cast<const char*>(&value), 4);
    return *this;
  }
  ProtoWriter& fixed64_field(std::uint32_t field, std::uint64_t value) {
    bytes_ += varint(field << 3 | 1);
    bytes_.append(reinterpret_cast<const char*>(&value), 8);
    return *this;
  }
  ProtoWriter& raw(std::string_view bytes) {
    bytes_ += bytes;
    return *this;
  }
  [[nodiscard]] const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// A float32 TensorProto; values in raw_data, or in float_data (packed) when `as_float_data`.
inline std::string onnx_float_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                     const std::vector<float>& values, bool as_float_data = false) {
  ProtoWriter tensor;
  for (const auto dim : dims) tensor.varint_field(1, static_cast<std::uint64_t>(dim));
  tensor.varint_field(2, 1);
  std::string data(values.size() * 4, '\0');
  if (!values.empty()) std::memcpy(data.data(), values.data(), data.size());
  if (as_float_data) tensor.bytes_field(4, data);
  tensor.bytes_field(8, name);
  if (!as_float_data) tensor.bytes_field(9, data);
  return tensor.bytes();
}

// An int64 TensorProto with its values in raw_data (as the VAD file's shape constants are).
inline std::string onnx_int64_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                     const std::vector<std::int64_t>& values) {
  ProtoWriter tensor;
  for (const auto dim : dims) tensor.varint_field(1, static_cast<std::uint64_t>(dim));
  tensor.varint_field(2, 7);
  std::string data(values.size() * 8, '\0');
  if (!values.empty()) std::memcpy(data.data(), values.data(), data.size());
  tensor.bytes_field(8, name).bytes_field(9, data);
  return tensor.bytes();
}

// A ModelProto: ir_version, producer, opset, then the graph (a node, the initializers, an input).
inline std::string onnx_model(const std::vector<std::string>& tensors) {
  ProtoWriter node;
  node.bytes_field(1, "input").bytes_field(2, "output").bytes_field(4, "Relu");
  ProtoWriter graph;
  graph.bytes_field(1, node.bytes()).bytes_field(2, "test graph");
  for (const auto& tensor : tensors) graph.bytes_field(5, tensor);
  graph.bytes_field(11, ProtoWriter().bytes_field(1, "input").bytes());
  ProtoWriter opset;
  opset.bytes_field(1, "").varint_field(2, 18);
  ProtoWriter model;
  model.varint_field(1, 8).bytes_field(2, "amanuensis-test").bytes_field(8, opset.bytes());
  model.bytes_field(7, graph.bytes());
  return model.bytes();
}

}  // namespace amanuensis::test_support
