// The OpenCL C API made safe to hold: owning handles, errors as DeviceError with the error's
// name, and device discovery across every installed platform (ICD).
#pragma once

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace amanuensis::backends::opencl {

// "CL_OUT_OF_RESOURCES (-5)".
std::string error_name(cl_int status);

// Throws DeviceError("OpenCL <what>: <error name>") unless status is CL_SUCCESS.
void check(cl_int status, const char* what);

// Owns one OpenCL object and releases it once.
template <typename T, cl_int (*kRelease)(T)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T value) : value_(value) {}
  Handle(Handle&& other) noexcept : value_(std::exchange(other.value_, nullptr)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      value_ = std::exchange(other.value_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  [[nodiscard]] T get() const { return value_; }
  void reset() {
    if (value_ != nullptr) kRelease(value_);
    value_ = nullptr;
  }

 private:
  T value_ = nullptr;
};

using Context = Handle<cl_context, clReleaseContext>;
using Queue = Handle<cl_command_queue, clReleaseCommandQueue>;
using Program = Handle<cl_program, clReleaseProgram>;
using Kernel = Handle<cl_kernel, clReleaseKernel>;
using Memory = Handle<cl_mem, clReleaseMemObject>;

struct DeviceInfo {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  std::string platform_name;
  std::string name;
  std::string vendor;
  std::string version;         // "OpenCL 3.0 PoCL ..."
  std::string driver_version;  // "3.1+debian"
  cl_device_type type = 0;
  std::uint64_t global_memory = 0;
  std::uint64_t max_allocation = 0;
  std::uint32_t compute_units = 0;
};

// Every device of every platform, in platform order. Empty when no ICD is installed.
std::vector<DeviceInfo> list_devices();

// "gpu", "cpu", "accelerator" or "other".
std::string type_name(cl_device_type type);

// The device the backend uses: index $AMANUENSIS_OPENCL_DEVICE into `devices` when set, else the
// first GPU, else the first accelerator, else the first device. Throws amanuensis::Error when the
// variable names no device.
std::optional<DeviceInfo> preferred_device(const std::vector<DeviceInfo>& devices);

}  // namespace amanuensis::backends::opencl
