#pragma once
// Scratch files for the data-loader tests: the shared data folder, whole-file reads, temporary copies.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace taynode_test {

namespace fs = std::filesystem;

// ../shared/data, or what TAYNODE_SHARED_DATA says (ctest sets it).
inline fs::path shared_data() {
  const char* shared = std::getenv("TAYNODE_SHARED_DATA");
  return fs::path(shared ? shared : "../shared/data");
}

inline std::vector<char> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A fresh per-process scratch folder (optionally a subfolder of it).
inline fs::path temp_dir(const std::string& sub = "") {
  fs::path dir = fs::temp_directory_path() / ("taynode_data_tests_" + std::to_string(::getpid()));
  if (!sub.empty()) dir /= sub;
  fs::create_directories(dir);
  return dir;
}

// Writes `bytes` to `name` in the scratch folder (or in `dir`) and returns its path.
inline fs::path write_temp(const std::vector<char>& bytes, const std::string& name, const fs::path& dir = temp_dir()) {
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return p;
}

}  // namespace taynode_test
