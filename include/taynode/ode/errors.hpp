#pragma once
// Failures of an ODE solve: one exception type whose message names the problem and whose kind
// lets callers react to it (e.g. retry with a smaller tolerance on max_steps_exceeded).

#include <sstream>
#include <stdexcept>
#include <string>

namespace taynode {

enum class SolveErrorKind {
  invalid_argument,    // tolerances, time span, options or method choice
  non_finite,          // NaN or Inf in the state or the derivative
  step_size_underflow, // the step size fell below the resolution of t
  max_steps_exceeded,  // more than options.max_steps step attempts
};

class SolveError : public std::runtime_error {
 public:
  SolveError(SolveErrorKind kind, const std::string& what)
      : std::runtime_error("taynode::solve: " + what), kind_(kind) {}
  SolveErrorKind kind() const noexcept { return kind_; }

 private:
  SolveErrorKind kind_;
};

namespace ode_detail {
template <class... Args>
[[noreturn]] inline void fail(SolveErrorKind kind, const Args&... args) {
  std::ostringstream os;
  os.precision(17);
  (os << ... << args);
  throw SolveError(kind, os.str());
}
}  // namespace ode_detail

}  // namespace taynode
