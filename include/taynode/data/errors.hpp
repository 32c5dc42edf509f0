#pragma once
// The error every data loader throws: its message names the file, the line where there is one, and
// the problem.

#include <cstddef>
#include <stdexcept>
#include <string>

namespace taynode {

class DataError : public std::runtime_error {
 public:
  DataError(const std::string& path, const std::string& problem)
      : std::runtime_error("taynode: " + path + ": " + problem), path_(path) {}
  // A problem on one line of a text file (lines count from 1): "taynode: <path>: line <n>: <problem>".
  DataError(const std::string& path, std::size_t line, const std::string& problem)
      : std::runtime_error("taynode: " + path + ": line " + std::to_string(line) + ": " + problem),
        path_(path),
        line_(line) {}
  const std::string& path() const { return path_; }
  // The 1-based line number, or 0 when the problem is not tied to one line.
  std::size_t line() const { return line_; }

 private:
  std::string path_;
  std::size_t line_ = 0;
};

}  // namespace taynode
