// cuBLAS, opened with dlopen the first time a CUDA backend is created. Linking it would make every
// binary load ~700 MB of libraries at start-up, also on machines without a GPU; this way only
// processes that compute on a GPU pay, and a missing cuBLAS is a reason shown by `devices`.
#pragma once

#include <cublas_v2.h>

#include <string>

namespace amanuensis::backends::cuda {

struct Cublas {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                            int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                            cublasGemmAlgo_t) = nullptr;
  std::string library;  // the file that was opened, e.g. "libcublas.so.13"
};

// The loaded functions; throws DeviceError naming the library when it cannot be opened.
const Cublas& cublas();

}  // namespace amanuensis::backends::cuda
