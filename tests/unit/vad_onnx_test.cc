// The ONNX reader (src/vad/onnx_reader.h) on well-formed, truncated and corrupt models.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "support/onnx_writer.h"
#include "vad/onnx_reader.h"

namespace amanuensis::vad {
namespace {

using test_support::onnx_float_tensor;
using test_support::onnx_int64_tensor;
using test_support::onnx_model;
using test_support::ProtoWriter;

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::vector<OnnxTensor> read(const std::string& bytes) {
  return read_onnx_initializers(as_bytes(bytes), "test.onnx");
}

// The message of the Error that `bytes` makes the reader throw ("" when it throws none).
std::string read_error(const std::string& bytes) {
  try {
    read(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string small_model() {
  return onnx_model({onnx_float_tensor("weight", {2, 3}, {1, 2, 3, 4, 5, 6}),
                     onnx_float_tensor("bias", {3}, {0.5F, -0.5F, 2}, true),
                     onnx_int64_tensor("shape", {2}, {-1, 576})});
}

TEST(VadOnnxReaderTest, ReadsInitializersInOrder) {
  const std::string bytes = small_model();
  const auto tensors = read(bytes);
  ASSERT_EQ(tensors.size(), 3U);
  EXPECT_EQ(tensors[0].name, "weight");
  EXPECT_EQ(tensors[0].dims, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(tensors[0].data_type, OnnxDataType::kFloat);
  EXPECT_EQ(onnx_float_values(tensors[0], "test.onnx"), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(tensors[1].name, "bias");
  EXPECT_EQ(onnx_float_values(tensors[1], "test.onnx"), (std::vector<float>{0.5F, -0.5F, 2}));
  EXPECT_EQ(tensors[2].data_type, OnnxDataType::kInt64);
  EXPECT_EQ(tensors[2].element_count(), 2);
  EXPECT_EQ(tensors[2].raw_data.size(), 16U);
}

TEST(VadOnnxReaderTest, SkipsUnknownFieldsOfEveryWireType) {
  ProtoWriter tensor;
  tensor.fixed64_field(10, 7).varint_field(1, 2).fixed32_field(99, 1).varint_field(2, 1);
  tensor.bytes_field(12, "doc").bytes_field(8, "t").bytes_field(9, std::string(8, '\0'));
  tensor.fixed32_field(4, 0x3F800000);  // float_data as an unpacked fixed32: not allowed with raw
  EXPECT_NE(read_error(onnx_model({tensor.bytes()})).find("float_data"), std::string::npos);

  ProtoWriter good;
  good.fixed64_field(10, 7).varint_field(1, 1).fixed32_field(99, 1).varint_field(2, 1);
  good.bytes_field(12, "doc").bytes_field(8, "t").fixed32_field(4, 0x3F800000);
  const auto tensors = read(onnx_model({good.bytes()}));
  ASSERT_EQ(tensors.size(), 1U);
  EXPECT_EQ(onnx_float_values(tensors[0], "x"), (std::vector<float>{1.0F}));
}

TEST(VadOnnxReaderTest, PackedDimsAndDefaultDataLocation) {
  ProtoWriter tensor;
  tensor.bytes_field(1, ProtoWriter::varint(2) + ProtoWriter::varint(300)).varint_field(2, 2);
  tensor.varint_field(14, 0).bytes_field(8, "packed").bytes_field(9, std::string(600, 'x'));
  const auto tensors = read(onnx_model({tensor.bytes()}));
  ASSERT_EQ(tensors.size(), 1U);
  EXPECT_EQ(tensors[0].dims, (std::vector<std::int64_t>{2, 300}));
}

TEST(VadOnnxReaderTest, EveryTruncationThrowsError) {
  const std::string bytes = small_model();
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    const std::string message = read_error(bytes.substr(0, size));
    EXPECT_NE(message.find("test.onnx"), std::string::npos)
        << "cut at " << size << " of " << bytes.size() << ": " << message;
  }
}

TEST(VadOnnxReaderTest, RandomCorruptionNeverCrashes) {
  const std::string bytes = small_model();
  std::mt19937 rng(7);
  int errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string corrupt = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) corrupt[rng() % corrupt.size()] = static_cast<char>(rng());
    try {
      for (const auto& tensor : read(corrupt)) {
        if (tensor.data_type == OnnxDataType::kFloat) onnx_float_values(tensor, "test.onnx");
      }
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 1000);  // most corruptions are caught, none crashes
}

TEST(VadOnnxReaderTest, CorruptFieldsAreNamed) {
  const auto model = [](const ProtoWriter& tensor) { return onnx_model({tensor.bytes()}); };
  ProtoWriter mismatch;
  mismatch.varint_field(1, 4).varint_field(2, 1).bytes_field(8, "w").bytes_field(9, "12345678");
  EXPECT_NE(read_error(model(mismatch)).find("'w' has 8 bytes of raw_data, its shape needs 16"),
            std::string::npos);

  ProtoWriter negative;
  negative.varint_field(1, static_cast<std::uint64_t>(-3)).varint_field(2, 1);
  EXPECT_NE(read_error(model(negative)).find("negative or too large"), std::string::npos);

  ProtoWriter huge;
  huge.varint_field(1, 1U << 31).varint_field(1, 1U << 31).varint_field(2, 1);
  EXPECT_NE(read_error(model(huge)).find("too many elements"), std::string::npos);

  ProtoWriter type;
  type.varint_field(2, 8).bytes_field(8, "strings");
  EXPECT_NE(read_error(model(type)).find("unsupported data_type 8"), std::string::npos);

  ProtoWriter external;
  external.bytes_field(8, "ext").varint_field(2, 1).varint_field(14, 1);
  EXPECT_NE(read_error(model(external)).find("external data"), std::string::npos);

  ProtoWriter odd_floats;
  odd_floats.varint_field(2, 1).bytes_field(4, "12345");
  EXPECT_NE(read_error(model(odd_floats)).find("not a whole number of floats"), std::string::npos);
}

TEST(VadOnnxReaderTest, MalformedWireFormat) {
  EXPECT_NE(read_error("").find("no graph"), std::string::npos);
  EXPECT_NE(read_error(ProtoWriter().varint_field(1, 8).bytes()).find("no graph"),
            std::string::npos);
  // Field number 0, a group (wire type 3), a varint of 11 bytes, a length past the end.
  EXPECT_NE(read_error(std::string("\x00\x01", 2)).find("invalid field number"), std::string::npos);
  EXPECT_NE(read_error("\x0b").find("unsupported wire type 3"), std::string::npos);
  std::string long_varint = "\x08";
  long_varint.append(10, '\xff');
  long_varint += '\x01';
  EXPECT_NE(read_error(long_varint).find("varint"), std::string::npos);
  EXPECT_NE(read_error("\x3a\x05\x01").find("runs past the end"), std::string::npos);
  // The graph with the wrong wire type, and twice.
  EXPECT_NE(read_error(ProtoWriter().varint_field(7, 1).bytes()).find("wire type"),
            std::string::npos);
  const std::string graph = ProtoWriter().bytes_field(7, "").bytes();
  EXPECT_NE(read_error(graph + graph).find("more than one graph"), std::string::npos);
  // Errors give the byte offset.
  EXPECT_NE(read_error("\x08\x01\x3a\x05\x01").find("(byte 3)"), std::string::npos);
}

TEST(VadOnnxReaderTest, FloatValuesOfOtherTypesAreRefused) {
  const auto tensors = read(small_model());
  try {
    onnx_float_values(tensors[2], "model.onnx");
    FAIL() << "an int64 tensor was read as float";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.onnx: tensor 'shape' has data_type 7"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace amanuensis::vad
