#include "backends/opencl/opencl_runtime.h"

#include <cstdlib>
#include <string>

#include "amanuensis/amanuensis.h"
#include "backends/provider.h"

namespace amanuensis::backends::opencl {

namespace {

std::string device_string(cl_device_id device, cl_device_info what) {
  std::size_t size = 0;
  if (clGetDeviceInfo(device, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string value(size, '\0');
  if (clGetDeviceInfo(device, what, size, value.data(), nullptr) != CL_SUCCESS) return {};
  while (!value.empty() && (value.back() == '\0' || value.back() == ' ')) value.pop_back();
  return value;
}

template <typename T>
T device_value(cl_device_id device, cl_device_info what) {
  T value{};
  clGetDeviceInfo(device, what, sizeof value, &value, nullptr);
  return value;
}

std::string platform_string(cl_platform_id platform, cl_platform_info what) {
  std::size_t size = 0;
  if (clGetPlatformInfo(platform, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string value(size, '\0');
  if (clGetPlatformInfo(platform, what, size, value.data(), nullptr) != CL_SUCCESS) return {};
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

}  // namespace

std::string error_name(cl_int status) {
#define AMANUENSIS_CL_ERROR(code) \
  { code, #code }
  static constexpr struct {
    cl_int code;
    const char* name;
  } kNames[] = {
      AMANUENSIS_CL_ERROR(CL_DEVICE_NOT_FOUND),
      AMANUENSIS_CL_ERROR(CL_DEVICE_NOT_AVAILABLE),
      AMANUENSIS_CL_ERROR(CL_COMPILER_NOT_AVAILABLE),
      AMANUENSIS_CL_ERROR(CL_MEM_OBJECT_ALLOCATION_FAILURE),
      AMANUENSIS_CL_ERROR(CL_OUT_OF_RESOURCES),
      AMANUENSIS_CL_ERROR(CL_OUT_OF_HOST_MEMORY),
      AMANUENSIS_CL_ERROR(CL_BUILD_PROGRAM_FAILURE),
      AMANUENSIS_CL_ERROR(CL_INVALID_VALUE),
      AMANUENSIS_CL_ERROR(CL_INVALID_DEVICE),
      AMANUENSIS_CL_ERROR(CL_INVALID_CONTEXT),
      AMANUENSIS_CL_ERROR(CL_INVALID_COMMAND_QUEUE),
      AMANUENSIS_CL_ERROR(CL_INVALID_MEM_OBJECT),
      AMANUENSIS_CL_ERROR(CL_INVALID_PROGRAM_EXECUTABLE),
      AMANUENSIS_CL_ERROR(CL_INVALID_KERNEL_NAME),
      AMANUENSIS_CL_ERROR(CL_INVALID_KERNEL_ARGS),
      AMANUENSIS_CL_ERROR(CL_INVALID_ARG_INDEX),
      AMANUENSIS_CL_ERROR(CL_INVALID_ARG_VALUE),
      AMANUENSIS_CL_ERROR(CL_INVALID_ARG_SIZE),
      AMANUENSIS_CL_ERROR(CL_INVALID_WORK_GROUP_SIZE),
      AMANUENSIS_CL_ERROR(CL_INVALID_WORK_ITEM_SIZE),
      AMANUENSIS_CL_ERROR(CL_INVALID_GLOBAL_WORK_SIZE),
      AMANUENSIS_CL_ERROR(CL_INVALID_BUFFER_SIZE),
      AMANUENSIS_CL_ERROR(CL_INVALID_OPERATION),
      {-1001, "CL_PLATFORM_NOT_FOUND_KHR"},
  };
#undef AMANUENSIS_CL_ERROR
  const char* name = "unknown error";
  for (const auto& entry : kNames) {
    if (entry.code == status) name = entry.name;
  }
  return std::string(name) + " (" + std::to_string(status) + ")";
}

void check(cl_int status, const char* what) {
  if (status != CL_SUCCESS)
    throw DeviceError(std::string("OpenCL ") + what + ": " + error_name(status));
}

std::vector<DeviceInfo> list_devices() {
  cl_uint platform_count = 0;
  const cl_int status = clGetPlatformIDs(0, nullptr, &platform_count);
  if (status == -1001 /* CL_PLATFORM_NOT_FOUND_KHR: no ICD installed */ || platform_count == 0)
    return {};
  check(status, "clGetPlatformIDs");
  std::vector<cl_platform_id> platforms(platform_count);
  check(clGetPlatformIDs(platform_count, platforms.data(), nullptr), "clGetPlatformIDs");
  std::vector<DeviceInfo> devices;
  for (const auto platform : platforms) {
    cl_uint count = 0;
    if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, nullptr, &count) != CL_SUCCESS ||
        count == 0) {
      continue;
    }
    std::vector<cl_device_id> ids(count);
    check(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, ids.data(), nullptr),
          "clGetDeviceIDs");
    for (const auto id : ids) {
      DeviceInfo info;
      info.platform = platform;
      info.id = id;
      info.platform_name = platform_string(platform, CL_PLATFORM_NAME);
      info.name = device_string(id, CL_DEVICE_NAME);
      info.vendor = device_string(id, CL_DEVICE_VENDOR);
      info.version = device_string(id, CL_DEVICE_VERSION);
      info.driver_version = device_string(id, CL_DRIVER_VERSION);
      info.type = device_value<cl_device_type>(id, CL_DEVICE_TYPE);
      info.global_memory = device_value<cl_ulong>(id, CL_DEVICE_GLOBAL_MEM_SIZE);
      info.max_allocation = device_value<cl_ulong>(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
      info.compute_units = device_value<cl_uint>(id, CL_DEVICE_MAX_COMPUTE_UNITS);
      devices.push_back(std::move(info));
    }
  }
  return devices;
}

std::string type_name(cl_device_type type) {
  if ((type & CL_DEVICE_TYPE_GPU) != 0) return "gpu";
  if ((type & CL_DEVICE_TYPE_CPU) != 0) return "cpu";
  if ((type & CL_DEVICE_TYPE_ACCELERATOR) != 0) return "accelerator";
  return "other";
}

std::optional<DeviceInfo> preferred_device(const std::vector<DeviceInfo>& devices) {
  if (const char* index = std::getenv("AMANUENSIS_OPENCL_DEVICE");
      index != nullptr && *index != '\0') {
    char* end = nullptr;
    const long i = std::strtol(index, &end, 10);
    if (*end != '\0' || i < 0 || i >= static_cast<long>(devices.size())) {
      throw Error(std::string("AMANUENSIS_OPENCL_DEVICE=") + index +
                  ": no such OpenCL device (there are " + std::to_string(devices.size()) + ")");
    }
    return devices[static_cast<std::size_t>(i)];
  }
  for (const auto wanted : {CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_ACCELERATOR}) {
    for (const auto& device : devices) {
      if ((device.type & wanted) != 0) return device;
    }
  }
  if (devices.empty()) return std::nullopt;
  return devices.front();
}

}  // namespace amanuensis::backends::opencl
