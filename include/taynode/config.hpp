#pragma once
// Build-wide macros. TAYNODE_HD marks functions that a CUDA backend may also call on the device.

#if defined(__CUDACC__)
#define TAYNODE_HD __host__ __device__
#else
#define TAYNODE_HD
#endif

// The Taylor rules and jet expression nodes are small and run in the innermost loops; left to
// its heuristics the compiler stops inlining them in large translation units, which costs 2-4x.
#if defined(__CUDACC__)
#define TAYNODE_INLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define TAYNODE_INLINE [[gnu::always_inline]] inline
#else
#define TAYNODE_INLINE inline
#endif

#define TAYNODE_VERSION_MAJOR 0
#define TAYNODE_VERSION_MINOR 1
#define TAYNODE_VERSION_PATCH 0
