#pragma once
// The CUDA backend: backend::Cuda (nvcc only: CUDA runtime + cuBLAS) and backend::CudaEmulated
// (the same backend code on a host emulation of the runtime, any C++20 compiler).
// Link CMake's taynode::cuda target (cudart + cuBLAS) when compiling with nvcc.

#include "taynode/backend/cuda.hpp"
