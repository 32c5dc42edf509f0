// --device cuda: the MNIST run (mnist_run.hpp) on backend::Cuda, float or double. Compiled by nvcc
// with the host flags of main.cpp (-O3 -march=$TAYNODE_EXAMPLES_ARCH, OpenMP and MPI as the target has them: the
// two translation units share taynode's and Eigen's inline functions, docs/cuda.md).
#include <taynode/cuda.hpp>

#include "mnist_run.hpp"

namespace mnist_example {

int run_on_cuda(const Settings& s) {
  return s.precision == "float" ? run<float, taynode::backend::Cuda>(s) : run<double, taynode::backend::Cuda>(s);
}

}  // namespace mnist_example
