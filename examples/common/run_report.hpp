#pragma once
// What every example's main.cpp writes next to its results: the machine, the finishing time, whole
// files and CSV logs (appended on resume), and the threads of backend::Cpu.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <stdexcept>
#include <string>

#include <taynode/backend/cpu_threads.hpp>

namespace run_report {

// "<CPU model>, <n> cores online", from /proc/cpuinfo.
inline std::string machine_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  return (model.empty() ? "unknown CPU" : model) + ", " + std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) +
         " cores online";
}

inline std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Writes a whole file; a failure (full disk, unwritable folder) is an error, not a silent gap.
inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw std::runtime_error("cannot write '" + p.string() + "'");
}

// A CSV log: truncated with its header, or appended to (a resumed run; the header only if new).
inline std::ofstream open_csv(const std::filesystem::path& p, bool append, const std::string& header) {
  const bool exists = std::filesystem::exists(p);
  std::ofstream f(p, append ? std::ios::app : std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write '" + p.string() + "'");
  if (!append || !exists) f << header << "\n";
  return f;
}

// --threads: backend::Cpu's GEMMs and kernels on that many threads (taynode::threads, OpenMP;
// results bit-identical for any count). A build without OpenMP rejects more than one.
inline void set_threads(int threads) { taynode::set_cpu_threads(threads); }

// The default data folder of an example: $TAYNODE_SHARED_DATA/<name>, else ../shared/data/<name>
// beside the repository (TAYNODE_REPO_ROOT, defined by the example's CMakeLists.txt), else relative.
inline std::string shared_data_dir(const std::string& name) {
  if (const char* shared = std::getenv("TAYNODE_SHARED_DATA")) return (std::filesystem::path(shared) / name).string();
#ifdef TAYNODE_REPO_ROOT
  return (std::filesystem::path(TAYNODE_REPO_ROOT) / ".." / "shared" / "data" / name).lexically_normal().string();
#else
  return "../shared/data/" + name;
#endif
}

// The eval.json "training" object: {"iterations": …, "iterations_this_run": …, "median_ms_per_iteration":
// …, "mean_nfe_forward": …, "mean_nfe_backward": …, "seconds": …}; `num` formats a number as JSON.
template <class Num>
std::string training_json(std::int64_t iterations, std::int64_t first, double median_ms, double nfe_forward,
                          double nfe_backward, double seconds, Num num) {
  return "{\"iterations\": " + std::to_string(iterations) + ", \"iterations_this_run\": " +
         std::to_string(iterations - first) + ", \"median_ms_per_iteration\": " + num(median_ms) +
         ", \"mean_nfe_forward\": " + num(nfe_forward) + ", \"mean_nfe_backward\": " + num(nfe_backward) +
         ", \"seconds\": " + num(seconds) + "}";
}

// The closing line of a training loop (nothing when no iteration ran).
inline void print_training_summary(std::int64_t iterations, std::int64_t first, double median_ms, double nfe_forward,
                                   double nfe_backward, double seconds) {
  if (iterations == 0) return;
  std::printf("training: %lld iterations (from %lld), median %.1f ms/iteration, mean NFE forward %.1f backward %.1f, "
              "%.1f s\n",
              static_cast<long long>(iterations), static_cast<long long>(first), median_ms, nfe_forward, nfe_backward,
              seconds);
}

}  // namespace run_report
