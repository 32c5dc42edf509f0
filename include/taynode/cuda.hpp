#pragma once
// The CUDA backend: backend::Cuda (nvcc only: CUDA runtime + cuBLAS) and backend::CudaEmulated
// (the same backend code on a host emulation of the runtime, any C++20 compiler).
// Link CMake's taynode::cuda target (cudart + cuBLAS) when compiling with nvcc. Also the solve
// that runs as one kernel on them (resident_dopri5, taylor/resident_solve.hpp).

#include "taynode/backend/cuda.hpp"
#include "taynode/taylor/resident_solve.hpp"
