// A bounds-checked little-endian cursor over a model file's bytes (CTranslate2's model.bin,
// whisper.cpp's ggml files): a read that would run past the end is an error naming the file and
// the part of it that was cut short.
#pragma once

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "amanuensis/amanuensis.h"

namespace amanuensis::model {

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, const std::filesystem::path& path)
      : bytes_(bytes), path_(path) {}

  template <typename T>
  T read(std::string_view what) {
    T value{};
    std::memcpy(&value, take(sizeof(T), what).data(), sizeof(T));
    return value;
  }

  // The next `count` bytes, `what` naming them for the error when the file ends first.
  std::span<const std::byte> take(std::size_t count, std::string_view what) {
    if (count > bytes_.size() - offset_) {
      fail("truncated: the file ends inside " + std::string(what) + " (at byte " +
           std::to_string(offset_) + " of " + std::to_string(bytes_.size()) + ")");
    }
    const auto slice = bytes_.subspan(offset_, count);
    offset_ += count;
    return slice;
  }

  [[nodiscard]] bool at_end() const { return offset_ == bytes_.size(); }
  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - offset_; }

  [[noreturn]] void fail(const std::string& message) const {
    throw Error(path_.string() + ": " + message);
  }

 private:
  std::span<const std::byte> bytes_;
  const std::filesystem::path& path_;
  std::size_t offset_ = 0;
};

}  // namespace amanuensis::model
