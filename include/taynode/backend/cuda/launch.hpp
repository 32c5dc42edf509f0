#pragma once
// Launch geometry shared by the device runtime and its host emulation: a body receives the
// block/thread coordinates of one thread (what blockIdx/blockDim/threadIdx/gridDim hold on the
// device), so the index arithmetic and bounds guards of every launch run the same on both.

#include "taynode/backend/backend.hpp"
#include "taynode/config.hpp"

namespace taynode::cuda {

using Index = backend::Index;

struct Dim {
  unsigned x = 1, y = 1;
};

struct ThreadIndex {
  Index block_x, block_y, thread_x, thread_y;
  Index block_dim_x, block_dim_y, grid_dim_x, grid_dim_y;
  TAYNODE_HD Index global_x() const { return block_x * block_dim_x + thread_x; }
  TAYNODE_HD Index global_y() const { return block_y * block_dim_y + thread_y; }
  TAYNODE_HD Index stride_x() const { return grid_dim_x * block_dim_x; }
  TAYNODE_HD Index stride_y() const { return grid_dim_y * block_dim_y; }
};

// The limits the device enforces (checked by the emulation as cudaErrorInvalidConfiguration).
inline constexpr unsigned max_threads_per_block = 1024;
inline constexpr unsigned max_grid_x = 2147483647u;
inline constexpr unsigned max_grid_y = 65535u;

}  // namespace taynode::cuda
