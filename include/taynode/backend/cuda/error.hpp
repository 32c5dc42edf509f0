#pragma once
// taynode::cuda::Error: every failure of the CUDA backend (no device, out of memory, a kernel
// fault, a cuBLAS status) names the API call, its error string and the backend operation that
// issued it, e.g. "taynode::cuda: cudaMalloc failed (out of memory) in Buffer".

#include <stdexcept>
#include <string>

namespace taynode::cuda {

class Error : public std::runtime_error {
 public:
  Error(const std::string& api, const std::string& what, const std::string& operation)
      : std::runtime_error("taynode::cuda: " + api + " failed (" + what + ") in " + operation),
        api_(api),
        operation_(operation) {}
  const std::string& api() const { return api_; }
  const std::string& operation() const { return operation_; }

 private:
  std::string api_, operation_;
};

}  // namespace taynode::cuda
