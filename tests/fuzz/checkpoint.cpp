// Fuzz harness: the checkpoint reader (nn/checkpoint.hpp). The input is loaded as float and as
// double parameters, with each optimizer kind and without optimizer state. Invariants: every
// rejection is a CheckpointError naming the file; an accepted file holds finite values only; and
// it is canonical — encoding what was loaded (with the optimizer state, when the file has one)
// gives back the input byte for byte, so the sizes and counts read agree with the file's bytes.
#include <cmath>
#include <cstring>

#include <taynode/nn/checkpoint.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace taynode::nn;

template <class T>
void check_finite(const ParameterSet<T>& set) {
  for (std::size_t i = 0; i < set.size(); ++i)
    for (Eigen::Index k = 0; k < set.value(i).size(); ++k)
      taynode_fuzz::require(std::isfinite(set.value(i).data()[k]), "accepted a non-finite value");
}

template <class T>
int load_as(const std::string& path, const std::uint8_t* data, std::size_t size) {
  using taynode_fuzz::require;
  int accepted = 0;
  // Without optimizer state: a file with state is accepted too (the state is not requested).
  ParameterSet<T> params;
  const bool any = taynode_fuzz::accepts<CheckpointError>(path, [&] { load_checkpoint(path, params); });
  if (any) check_finite(params);
  for (OptimizerKind kind : {OptimizerKind::sgd_momentum, OptimizerKind::adam, OptimizerKind::adamax}) {
    ParameterSet<T> p;
    OptimizerState<T> state;
    state.kind = kind;
    if (!taynode_fuzz::accepts<CheckpointError>(path, [&] { load_checkpoint(path, p, &state); })) continue;
    ++accepted;
    require(any && p == params, "loading with optimizer state changed the parameters");
    check_finite(p);
    for (const auto& slot : state.slots) check_finite(slot);
    const auto again = encode_checkpoint<T>(p, &state);
    require(again.size() == size && std::memcmp(again.data(), data, size) == 0,
            "re-encoding the loaded checkpoint does not give the file back");
  }
  if (any && accepted == 0) {  // no optimizer state in the file
    const auto again = encode_checkpoint<T>(params);
    require(again.size() == size && std::memcmp(again.data(), data, size) == 0,
            "re-encoding the loaded parameters does not give the file back");
  }
  require(accepted <= 1, "accepted with two different optimizer kinds");
  return any ? 1 : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = taynode_fuzz::write_scratch(data, size);
  const int as_float = load_as<float>(path, data, size), as_double = load_as<double>(path, data, size);
  taynode_fuzz::require(as_float + as_double <= 1, "accepted as float32 and as float64");
  return 0;
}
