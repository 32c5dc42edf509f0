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

// Fully unrolls a loop over the orders of a jet (the trip count is a small compile-time K).
#if defined(__CUDACC__) || defined(__clang__)
#define TAYNODE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define TAYNODE_UNROLL _Pragma("GCC unroll 32")
#else
#define TAYNODE_UNROLL
#endif

#define TAYNODE_VERSION_MAJOR 0
#define TAYNODE_VERSION_MINOR 1
#define TAYNODE_VERSION_PATCH 0
