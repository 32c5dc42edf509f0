#pragma once
// Shared by the fuzz harnesses (one .cpp per loader, each defining LLVMFuzzerTestOneInput).
// The loaders read files, so every input is first written to one scratch file per process.
// A harness states the loader's own invariants with require(); a violation, or an exception that
// is not the loader's documented error type or does not name the file, aborts: libFuzzer then
// records the input as a crash, and the replay test (replay_main.cpp) fails on it.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

namespace taynode_fuzz {

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// (const char*: no string is built on the hot path.)
inline void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

// The scratch file of this process: in /dev/shm when there is one (no disk traffic).
inline const std::string& scratch_path() {
  static const std::string path = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path dir = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    return (dir / ("taynode-fuzz-" + std::to_string(::getpid()) + ".bin")).string();
  }();
  return path;
}

// Writes the input to the scratch file and returns its path.
inline const std::string& write_scratch(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) fail("cannot write the scratch file " + path);
  return path;
}

// Runs load(); returns true if it returned. If it throws, the exception must be an Error whose
// message names `path`; anything else is a finding.
template <class Error, class Load>
bool accepts(const std::string& path, Load&& load) {
  try {
    load();
    return true;
  } catch (const Error& e) {
    if (std::string(e.what()).find(path) == std::string::npos)
      fail(std::string("the error does not name the file: ") + e.what());
    return false;
  } catch (const std::exception& e) {
    fail(std::string("undocumented exception type: ") + e.what());
  } catch (...) {
    fail("an exception not derived from std::exception");
  }
}

}  // namespace taynode_fuzz
