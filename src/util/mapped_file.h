// Read-only memory mapping of a whole file, released on destruction.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace amanuensis::util {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws amanuensis::Error naming the file when it cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  [[nodiscard]] std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  void release() noexcept;

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace amanuensis::util
