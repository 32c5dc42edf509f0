// --device cuda in a build without it (TAYNODE_EXAMPLES_CUDA off or no nvcc): the entry point of
// mnist_cuda.cu as a clear error, raised before any work. Linked instead of mnist_cuda.cu, so
// main.cpp compiles the same in both builds (examples/CMakeLists.txt, taynode_example_cuda).
#include <stdexcept>

namespace mnist_example {

struct Settings;

int run_on_cuda(const Settings&) {
  throw std::invalid_argument(
      "--device cuda: this mnist was built without CUDA (configure with nvcc found and "
      "-DTAYNODE_EXAMPLES_CUDA=ON)");
}

}  // namespace mnist_example
