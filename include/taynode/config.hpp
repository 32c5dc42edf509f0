#pragma once
// Build-wide macros. TAYNODE_HD marks functions that a CUDA backend may also call on the device.

#if defined(__CUDACC__)
#define TAYNODE_HD __host__ __device__
#else
#define TAYNODE_HD
#endif

#define TAYNODE_VERSION_MAJOR 0
#define TAYNODE_VERSION_MINOR 1
#define TAYNODE_VERSION_PATCH 0
