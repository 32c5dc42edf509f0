#pragma once
// The error every data loader throws: its message names the file and the problem.

#include <stdexcept>
#include <string>

namespace taynode {

class DataError : public std::runtime_error {
 public:
  DataError(const std::string& path, const std::string& problem)
      : std::runtime_error("taynode: " + path + ": " + problem), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace taynode
