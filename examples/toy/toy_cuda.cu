// --device cuda: the toy's run (toy_example.hpp) on backend::Cuda, float or double. Compiled by nvcc
// with the host flags of main.cpp (-O3 -march=$TAYNODE_EXAMPLES_ARCH: the two translation units share taynode's and
// Eigen's inline functions, docs/cuda.md, "Mixing nvcc and g++ translation units").
#include <taynode/cuda.hpp>

#include "toy_example.hpp"

namespace toy_example {

bool built_with_cuda() { return true; }

int run_on_cuda(const Settings& s) {
  return s.precision == "float" ? run<float, taynode::backend::Cuda>(s) : run<double, taynode::backend::Cuda>(s);
}

}  // namespace toy_example
