// --device cuda in a build without it (TAYNODE_EXAMPLES_CUDA off or no nvcc): toy_cuda.cu's entry
// points, answering "not built". Linked instead of toy_cuda.cu, so main.cpp compiles the same in
// both builds (examples/CMakeLists.txt, taynode_example_cuda).
#include <stdexcept>

namespace toy_example {

struct Settings;

bool built_with_cuda() { return false; }

int run_on_cuda(const Settings&) { throw std::logic_error("toy: run_on_cuda in a build without CUDA"); }

}  // namespace toy_example
