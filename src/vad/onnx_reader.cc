#include "vad/onnx_reader.h"

#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::vad {

namespace {

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/). Groups (3, 4) are
// long deprecated and never appear in ONNX files: they are errors here.
enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Field numbers, from onnx.proto.
constexpr std::uint32_t kModelGraph = 7;
constexpr std::uint32_t kGraphInitializer = 5;
constexpr std::uint32_t kTensorDims = 1;
constexpr std::uint32_t kTensorDataType = 2;
constexpr std::uint32_t kTensorFloatData = 4;
constexpr std::uint32_t kTensorName = 8;
constexpr std::uint32_t kTensorRawData = 9;
constexpr std::uint32_t kTensorExternalData = 13;
constexpr std::uint32_t kTensorDataLocation = 14;

// Limits well above any real model's, so that a corrupt count cannot ask for absurd memory.
constexpr std::size_t kMaxDims = 64;
constexpr std::int64_t kMaxElements = std::int64_t{1} << 32;

struct Field {
  std::uint32_t number = 0;
  std::uint32_t wire_type = 0;
  std::size_t offset = 0;  // of the tag, from the start of the file
};

// A bounds-checked cursor over one message. `base` is the message's offset in the file, so that
// errors name absolute byte offsets.
class WireReader {
 public:
  WireReader(std::span<const std::byte> bytes, std::size_t base, std::string_view source)
      : bytes_(bytes), base_(base), source_(source) {}

  [[nodiscard]] bool done() const { return pos_ == bytes_.size(); }

  // A reader of a payload this one returned (at file offset `offset`), with the same source.
  [[nodiscard]] WireReader nested(std::span<const std::byte> payload, std::size_t offset) const {
    return {payload, offset, source_};
  }

  [[noreturn]] void fail(const std::string& what, std::size_t offset) const {
    throw Error(std::string(source_) + ": corrupt ONNX model: " + what + " (byte " +
                std::to_string(offset) + ")");
  }

  Field next_field() {
    Field field;
    field.offset = base_ + pos_;
    const std::uint64_t tag = varint("field tag");
    field.number = static_cast<std::uint32_t>(tag >> 3);
    field.wire_type = static_cast<std::uint32_t>(tag & 7);
    if (tag >> 3 == 0 || tag >> 32 != 0) fail("invalid field number", field.offset);
    if (field.wire_type != kVarint && field.wire_type != kFixed64 &&
        field.wire_type != kLengthDelimited && field.wire_type != kFixed32) {
      fail("unsupported wire type " + std::to_string(field.wire_type) + " of field " +
               std::to_string(field.number),
           field.offset);
    }
    return field;
  }

  std::uint64_t varint(std::string_view what) {
    const std::size_t start = pos_;
    std::uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ == bytes_.size()) fail("truncated " + std::string(what), base_ + start);
      const auto byte = static_cast<std::uint8_t>(bytes_[pos_++]);
      if (shift == 63 && byte > 1)
        fail("varint overflows 64 bits in " + std::string(what), base_ + start);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    fail("varint longer than 10 bytes in " + std::string(what), base_ + start);
  }

  // A length-delimited payload; returns it and its absolute offset.
  std::span<const std::byte> bytes(std::string_view what, std::size_t* offset) {
    const std::size_t at = base_ + pos_;
    const std::uint64_t length = varint(std::string(what) + " length");
    if (length > bytes_.size() - pos_) {
      fail(std::string(what) + " of " + std::to_string(length) + " bytes runs past the end (" +
               std::to_string(bytes_.size() - pos_) + " bytes left)",
           at);
    }
    if (offset != nullptr) *offset = base_ + pos_;
    const auto payload = bytes_.subspan(pos_, static_cast<std::size_t>(length));
    pos_ += static_cast<std::size_t>(length);
    return payload;
  }

  std::span<const std::byte> fixed(std::size_t size, std::string_view what) {
    if (size > bytes_.size() - pos_) fail("truncated " + std::string(what), base_ + pos_);
    const auto payload = bytes_.subspan(pos_, size);
    pos_ += size;
    return payload;
  }

  void skip(const Field& field) {
    switch (field.wire_type) {
      case kVarint:
        varint("field " + std::to_string(field.number));
        return;
      case kFixed64:
        fixed(8, "field " + std::to_string(field.number));
        return;
      case kFixed32:
        fixed(4, "field " + std::to_string(field.number));
        return;
      default:
        bytes("field " + std::to_string(field.number), nullptr);
    }
  }

  // Fails unless `field` has the wire type the schema gives it.
  void expect(const Field& field, std::uint32_t wire_type, std::string_view name) const {
    if (field.wire_type != wire_type) {
      fail(std::string(name) + " has wire type " + std::to_string(field.wire_type) + ", expected " +
               std::to_string(wire_type),
           field.offset);
    }
  }

 private:
  std::span<const std::byte> bytes_;
  std::size_t base_;
  std::string_view source_;
  std::size_t pos_ = 0;
};

float load_float(const std::byte* p) {
  float value = 0;
  std::memcpy(&value, p, sizeof value);  // ONNX data is little-endian, as is every host we build on
  return value;
}

void read_dims(WireReader& reader, const Field& field, OnnxTensor& tensor) {
  auto add = [&](std::uint64_t dim) {
    if (dim > static_cast<std::uint64_t>(kMaxElements)) {
      reader.fail("tensor dimension " + std::to_string(static_cast<std::int64_t>(dim)) +
                      " is negative or too large",
                  field.offset);
    }
    if (tensor.dims.size() == kMaxDims) reader.fail("tensor has too many dimensions", field.offset);
    tensor.dims.push_back(static_cast<std::int64_t>(dim));
  };
  if (field.wire_type == kVarint) {
    add(reader.varint("tensor dimension"));
    return;
  }
  reader.expect(field, kLengthDelimited, "tensor dims");
  std::size_t offset = 0;
  const auto packed = reader.bytes("tensor dims", &offset);
  WireReader values = reader.nested(packed, offset);
  while (!values.done()) add(values.varint("packed tensor dimension"));
}

void read_float_data(WireReader& reader, const Field& field, OnnxTensor& tensor) {
  if (field.wire_type == kFixed32) {
    tensor.float_data.push_back(load_float(reader.fixed(4, "float_data").data()));
    return;
  }
  reader.expect(field, kLengthDelimited, "tensor float_data");
  std::size_t offset = 0;
  const auto packed = reader.bytes("tensor float_data", &offset);
  if (packed.size() % 4 != 0) {
    reader.fail("packed float_data of " + std::to_string(packed.size()) +
                    " bytes is not a whole number of floats",
                offset);
  }
  if (tensor.float_data.size() + packed.size() / 4 > static_cast<std::size_t>(kMaxElements)) {
    reader.fail("float_data too large", offset);
  }
  for (std::size_t i = 0; i < packed.size(); i += 4) {
    tensor.float_data.push_back(load_float(packed.data() + i));
  }
}

// Checks what only the whole tensor shows: its size, and that its data matches its shape.
void check_tensor(const WireReader& reader, const OnnxTensor& tensor, std::size_t offset) {
  std::int64_t count = 1;
  for (const auto dim : tensor.dims) {
    if (dim != 0 && count > kMaxElements / dim) {
      reader.fail("tensor '" + tensor.name + "' has too many elements", offset);
    }
    count *= dim;
  }
  const std::size_t size = onnx_element_size(static_cast<std::int32_t>(tensor.data_type));
  if (size == 0) {
    reader.fail("tensor '" + tensor.name + "' has unsupported data_type " +
                    std::to_string(static_cast<std::int32_t>(tensor.data_type)),
                offset);
  }
  if (tensor.has_raw_data && tensor.raw_data.size() != static_cast<std::size_t>(count) * size) {
    reader.fail("tensor '" + tensor.name + "' has " + std::to_string(tensor.raw_data.size()) +
                    " bytes of raw_data, its shape needs " +
                    std::to_string(static_cast<std::size_t>(count) * size),
                offset);
  }
  if (!tensor.float_data.empty()) {
    if (tensor.has_raw_data || tensor.data_type != OnnxDataType::kFloat ||
        tensor.float_data.size() != static_cast<std::size_t>(count)) {
      reader.fail("tensor '" + tensor.name + "' has " + std::to_string(tensor.float_data.size()) +
                      " float_data values, its shape and type need " + std::to_string(count),
                  offset);
    }
  }
}

OnnxTensor read_tensor(WireReader reader, std::size_t base) {
  OnnxTensor tensor;
  std::int32_t data_type = 0;
  while (!reader.done()) {
    const Field field = reader.next_field();
    switch (field.number) {
      case kTensorDims:
        read_dims(reader, field, tensor);
        break;
      case kTensorDataType: {
        reader.expect(field, kVarint, "tensor data_type");
        const std::uint64_t type = reader.varint("tensor data_type");
        if (type > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
          reader.fail("tensor data_type out of range", field.offset);
        }
        data_type = static_cast<std::int32_t>(type);
        break;
      }
      case kTensorFloatData:
        read_float_data(reader, field, tensor);
        break;
      case kTensorName: {
        reader.expect(field, kLengthDelimited, "tensor name");
        const auto name = reader.bytes("tensor name", nullptr);
        tensor.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
        break;
      }
      case kTensorRawData:
        reader.expect(field, kLengthDelimited, "tensor raw_data");
        tensor.raw_data = reader.bytes("tensor raw_data", nullptr);
        tensor.has_raw_data = true;
        break;
      case kTensorDataLocation:
        reader.expect(field, kVarint, "tensor data_location");
        if (reader.varint("tensor data_location") == 0) break;  // DEFAULT: the data is inline
        [[fallthrough]];
      case kTensorExternalData:
        reader.fail("tensor '" + tensor.name + "' uses external data, which is not supported",
                    field.offset);
      default:
        reader.skip(field);
    }
  }
  tensor.data_type = static_cast<OnnxDataType>(data_type);
  check_tensor(reader, tensor, base);
  return tensor;
}

std::vector<OnnxTensor> read_graph(WireReader reader) {
  std::vector<OnnxTensor> tensors;
  while (!reader.done()) {
    const Field field = reader.next_field();
    if (field.number != kGraphInitializer) {
      reader.skip(field);
      continue;
    }
    reader.expect(field, kLengthDelimited, "graph initializer");
    std::size_t offset = 0;
    const auto payload = reader.bytes("graph initializer", &offset);
    tensors.push_back(read_tensor(reader.nested(payload, offset), offset));
  }
  return tensors;
}

}  // namespace

std::int64_t OnnxTensor::element_count() const {
  std::int64_t count = 1;
  for (const auto dim : dims) count *= dim;
  return count;
}

std::size_t onnx_element_size(std::int32_t type) {
  switch (static_cast<OnnxDataType>(type)) {
    case OnnxDataType::kUint8:
    case OnnxDataType::kInt8:
    case OnnxDataType::kBool:
      return 1;
    case OnnxDataType::kUint16:
    case OnnxDataType::kInt16:
    case OnnxDataType::kFloat16:
    case OnnxDataType::kBfloat16:
      return 2;
    case OnnxDataType::kFloat:
    case OnnxDataType::kInt32:
    case OnnxDataType::kUint32:
      return 4;
    case OnnxDataType::kInt64:
    case OnnxDataType::kDouble:
    case OnnxDataType::kUint64:
      return 8;
  }
  return 0;
}

std::vector<OnnxTensor> read_onnx_initializers(std::span<const std::byte> bytes,
                                               std::string_view source) {
  WireReader reader(bytes, 0, source);
  std::optional<std::vector<OnnxTensor>> tensors;
  while (!reader.done()) {
    const Field field = reader.next_field();
    if (field.number != kModelGraph) {
      reader.skip(field);
      continue;
    }
    reader.expect(field, kLengthDelimited, "model graph");
    if (tensors) reader.fail("model has more than one graph", field.offset);
    std::size_t offset = 0;
    const auto payload = reader.bytes("model graph", &offset);
    tensors = read_graph(reader.nested(payload, offset));
  }
  if (!tensors) {
    throw Error(std::string(source) + ": not an ONNX model: no graph in its " +
                std::to_string(bytes.size()) + " bytes");
  }
  return std::move(*tensors);
}

std::vector<float> onnx_float_values(const OnnxTensor& tensor, std::string_view source) {
  if (tensor.data_type != OnnxDataType::kFloat) {
    throw Error(std::string(source) + ": tensor '" + tensor.name + "' has data_type " +
                std::to_string(static_cast<std::int32_t>(tensor.data_type)) +
                ", expected 1 (float32)");
  }
  const auto count = static_cast<std::size_t>(tensor.element_count());
  if (!tensor.float_data.empty()) return tensor.float_data;
  if (!tensor.has_raw_data && count != 0) {
    throw Error(std::string(source) + ": tensor '" + tensor.name + "' holds no data");
  }
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = load_float(tensor.raw_data.data() + 4 * i);
  return values;
}

}  // namespace amanuensis::vad
