# Compute backends (src/backends/, docs/backends.md): the library amanuensis_backends, over the
# kernels (cmake/layers.cmake). The registry,
# selection, failover and the CPU provider are always built; each device backend is built when
# its toolkit is found (or forced with its option), and otherwise replaced by a stub provider
# that lists it as "not built in (...)". No other file tests which backends exist.
#
#   AMANUENSIS_WITH_OPENCL  OpenCL ICD loader + headers + CLBlast  (default: ON when found)
#   AMANUENSIS_WITH_CUDA    nvcc, cudart, cuBLAS                   (default: ON when nvcc is found)
#   AMANUENSIS_WITH_XRT     XRT for the AMD XDNA NPU (libxrt-dev)  (default: ON when found)

amanuensis_layer(amanuensis_backends backends
  src/backends/cpu_provider.cc
  src/backends/failover.cc
  src/backends/fault_injection.cc
  src/backends/log.cc
  src/backends/npu/gemm_tiling.cc
  src/backends/npu/npu_backend.cc
  src/backends/npu/npu_detect.cc
  src/backends/npu/npu_config.cc
  src/backends/npu/npu_provider.cc
  src/backends/public_api.cc
  src/backends/registry.cc
  src/backends/self_test.cc
  src/backends/system_info.cc
  src/backends/resident_copies.cc
)
target_link_libraries(amanuensis_backends PUBLIC amanuensis_kernels PRIVATE amanuensis_util)

# --- OpenCL --------------------------------------------------------------------------------------
find_package(OpenCL QUIET)
find_package(CLBlast QUIET CONFIG)
if(OpenCL_FOUND AND CLBlast_FOUND)
  set(_amanuensis_opencl_found ON)
else()
  set(_amanuensis_opencl_found OFF)
endif()
option(AMANUENSIS_WITH_OPENCL "Build the OpenCL backend (OpenCL + CLBlast)" ${_amanuensis_opencl_found})
if(AMANUENSIS_WITH_OPENCL)
  if(NOT _amanuensis_opencl_found)
    message(FATAL_ERROR "AMANUENSIS_WITH_OPENCL=ON, but OpenCL or CLBlast was not found "
                        "(Debian: ocl-icd-opencl-dev opencl-headers libclblast-dev)")
  endif()
  target_sources(amanuensis_backends PRIVATE
    src/backends/opencl/opencl_attention.cc
    src/backends/opencl/opencl_backend.cc
    src/backends/opencl/opencl_device_data.cc
    src/backends/opencl/opencl_kernels.cc
    src/backends/opencl/opencl_provider.cc
    src/backends/opencl/opencl_kept.cc
    src/backends/opencl/opencl_row_mirrors.cc
    src/backends/opencl/opencl_runtime.cc)
  target_compile_definitions(amanuensis_backends PRIVATE CL_TARGET_OPENCL_VERSION=120)
  target_link_libraries(amanuensis_backends PRIVATE OpenCL::OpenCL clblast)
else()
  target_sources(amanuensis_backends PRIVATE src/backends/opencl/opencl_unbuilt.cc)
endif()
message(STATUS "OpenCL backend: ${AMANUENSIS_WITH_OPENCL}")

# --- CUDA ----------------------------------------------------------------------------------------
# Kernels are compiled for one architecture plus PTX that newer GPUs JIT-compile
# (AMANUENSIS_CUDA_ARCHITECTURES, default 90 = Hopper SASS + compute_90 PTX): two cores build it
# in under a minute. cuBLAS is opened at run time (cuda/cublas_loader.cc), so the binaries only
# depend on it where a GPU is used; cudart is linked statically.
# A cross build does not look for nvcc: the host's (/usr/local/cuda) compiles for the host, and
# its objects would not link into the target's binaries.
include(CheckLanguage)
if(NOT CMAKE_CROSSCOMPILING AND NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
if(NOT CMAKE_CROSSCOMPILING)
  check_language(CUDA)
endif()
if(CMAKE_CUDA_COMPILER)
  set(_amanuensis_cuda_found ON)
else()
  set(_amanuensis_cuda_found OFF)
endif()
option(AMANUENSIS_WITH_CUDA "Build the CUDA backend (nvcc, cudart, cuBLAS)" ${_amanuensis_cuda_found})
set(AMANUENSIS_CUDA_ARCHITECTURES "90" CACHE STRING "CUDA architectures of the CUDA backend's kernels")
if(AMANUENSIS_WITH_CUDA)
  if(NOT _amanuensis_cuda_found)
    message(FATAL_ERROR "AMANUENSIS_WITH_CUDA=ON, but no CUDA compiler (nvcc) was found")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES ${AMANUENSIS_CUDA_ARCHITECTURES})
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  add_library(amanuensis_cuda_kernels OBJECT
    src/backends/cuda/attention.cu
    src/backends/cuda/elementwise.cu
    src/backends/cuda/int8.cu)
  # The project's warning flags are GCC's; nvcc gets its own (and passes GCC's to the host compiler).
  set_target_properties(amanuensis_cuda_kernels PROPERTIES
    COMPILE_OPTIONS "" CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}" POSITION_INDEPENDENT_CODE ON
    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF)
  target_compile_options(amanuensis_cuda_kernels PRIVATE
    -Xcompiler=-Wall,-Wextra $<$<BOOL:${AMANUENSIS_WERROR}>:-Werror=all-warnings>)
  target_include_directories(amanuensis_cuda_kernels PRIVATE
    $<TARGET_PROPERTY:amanuensis_backends,INCLUDE_DIRECTORIES>
    $<TARGET_PROPERTY:amanuensis_kernels,INTERFACE_INCLUDE_DIRECTORIES>)
  target_sources(amanuensis_backends PRIVATE
    $<TARGET_OBJECTS:amanuensis_cuda_kernels>
    src/backends/cuda/cublas_loader.cc
    src/backends/cuda/cuda_backend.cc
    src/backends/cuda/cuda_provider.cc)
  target_include_directories(amanuensis_backends PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  target_link_libraries(amanuensis_backends PRIVATE CUDA::cudart_static ${CMAKE_DL_LIBS})
else()
  target_sources(amanuensis_backends PRIVATE src/backends/cuda/cuda_unbuilt.cc)
endif()
message(STATUS "CUDA backend: ${AMANUENSIS_WITH_CUDA}")

# --- AMD XDNA NPU (XRT) --------------------------------------------------------------------------
# Detection of /dev/accel devices and the host side of the GEMM offload (tiling, packing, result
# checks) need nothing; running an xclbin needs XRT. Debian's xrt.pc has a broken prefix, hence
# find_path/find_library.
find_path(XRT_INCLUDE_DIR xrt/xrt_device.h PATH_SUFFIXES xrt PATHS /opt/xilinx/xrt/include)
find_library(XRT_COREUTIL_LIBRARY xrt_coreutil PATHS /opt/xilinx/xrt/lib)
if(XRT_INCLUDE_DIR AND XRT_COREUTIL_LIBRARY)
  set(_amanuensis_xrt_found ON)
else()
  set(_amanuensis_xrt_found OFF)
endif()
option(AMANUENSIS_WITH_XRT "Build the NPU backend's XRT runner (libxrt-dev)" ${_amanuensis_xrt_found})
if(AMANUENSIS_WITH_XRT)
  if(NOT _amanuensis_xrt_found)
    message(FATAL_ERROR "AMANUENSIS_WITH_XRT=ON, but XRT was not found (Debian: libxrt-dev)")
  endif()
  target_sources(amanuensis_backends PRIVATE src/backends/npu/xrt_runner.cc)
  target_include_directories(amanuensis_backends SYSTEM PRIVATE ${XRT_INCLUDE_DIR})
  target_link_libraries(amanuensis_backends PRIVATE ${XRT_COREUTIL_LIBRARY})
else()
  target_sources(amanuensis_backends PRIVATE src/backends/npu/xrt_unbuilt.cc)
endif()
message(STATUS "NPU backend XRT runner: ${AMANUENSIS_WITH_XRT}")
