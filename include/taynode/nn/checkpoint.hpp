#pragma once
// Save / load of parameters and optimizer state (format: docs/checkpoint.md).
//
// save_checkpoint(path, params[, &optimizer_state]) writes the whole file to `path.tmp-XXXXXXXX`
// (created exclusively), fsyncs it, renames it over `path` (atomic on POSIX) and fsyncs the
// directory; on any failure the temporary is removed and `path` is untouched.
// load_checkpoint(path, params[, &optimizer_state]) reads and fully validates the file (magic,
// version, scalar type, lengths, FNV-1a 64 checksum, names/shapes against a non-empty target) into
// temporaries before touching the targets, so a failed load leaves them unchanged. A checkpoint
// holds finite values only: save refuses NaN/Inf (the previous file stays), load rejects them.
// Errors: CheckpointError (a std::runtime_error) whose message names the file and the problem,
// also for read errors (a directory, EIO), which the standard streams would throw otherwise.

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if __has_include(<unistd.h>) && __has_include(<fcntl.h>)
#include <fcntl.h>
#include <unistd.h>
#define TAYNODE_CHECKPOINT_POSIX 1
#else
#define TAYNODE_CHECKPOINT_POSIX 0
#endif

#include "optimizers.hpp"
#include "parameters.hpp"
#include "taynode/data/read_file.hpp"

namespace taynode::nn {

class CheckpointError : public std::runtime_error {
 public:
  CheckpointError(const std::filesystem::path& file, const std::string& problem)
      : std::runtime_error("taynode checkpoint '" + file.string() + "': " + problem) {}
};

inline constexpr std::array<char, 8> checkpoint_magic{'T', 'A', 'Y', 'N', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t checkpoint_version = 1;
inline constexpr std::size_t checkpoint_header_size = 8 + 4 + 4 + 8;  // magic, version, tag, payload length

// Scalar type tag: 1 = IEEE-754 binary32, 2 = binary64.
template <class T>
constexpr std::uint32_t scalar_tag() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "checkpoints hold float or double");
  return std::is_same_v<T, float> ? 1u : 2u;
}

// Testing hook: SaveOptions::fail_after_bytes simulates an I/O error (e.g. a full disk or a crash)
// after that many bytes of the temporary file have been written.
struct SaveOptions {
  std::size_t fail_after_bytes = std::size_t(-1);
};

// FNV-1a 64-bit hash.
inline std::uint64_t fnv1a64(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace detail::ckpt {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big);

template <class U>
U byteswap_if_big(U v) {
  if constexpr (std::endian::native == std::endian::big) {
    unsigned char b[sizeof(U)];
    std::memcpy(b, &v, sizeof(U));
    for (std::size_t i = 0; i < sizeof(U) / 2; ++i) std::swap(b[i], b[sizeof(U) - 1 - i]);
    std::memcpy(&v, b, sizeof(U));
  }
  return v;
}

struct Writer {
  std::vector<unsigned char> buf;
  template <class U>
  void put(U v) {  // little-endian
    static_assert(std::is_trivially_copyable_v<U>);
    v = byteswap_if_big(v);
    bytes(&v, sizeof(U));
  }
  // resize + memcpy, not vector::insert of a pointer range: g++ 12 at -O3 reports a false
  // -Wstringop-overflow for the latter once the Writer is inlined into a caller.
  void bytes(const void* p, std::size_t n) {
    if (n == 0) return;
    const std::size_t at = buf.size();
    buf.resize(at + n);
    std::memcpy(buf.data() + at, p, n);
  }
};

struct Reader {
  const std::filesystem::path& file;
  const unsigned char* p;
  std::size_t n, pos = 0;
  void need(std::size_t k, const char* what) const {
    if (k > n - pos) throw CheckpointError(file, std::string("truncated payload while reading ") + what);
  }
  template <class U>
  U get(const char* what) {
    need(sizeof(U), what);
    U v;
    std::memcpy(&v, p + pos, sizeof(U));
    pos += sizeof(U);
    return byteswap_if_big(v);
  }
};

template <class T, class P>
void put_tensors(Writer& w, const P& set) {
  w.put<std::uint64_t>(set.size());
  for (std::size_t i = 0; i < set.size(); ++i) {
    const std::string& name = set.name(i);
    w.put<std::uint32_t>(std::uint32_t(name.size()));
    w.bytes(name.data(), name.size());
    const auto& v = set.value(i);
    w.put<std::uint64_t>(std::uint64_t(v.rows()));
    w.put<std::uint64_t>(std::uint64_t(v.cols()));
    for (Eigen::Index r = 0; r < v.rows(); ++r)
      for (Eigen::Index c = 0; c < v.cols(); ++c) w.put<T>(v(r, c));
  }
}

template <class T>
ParameterSet<T> get_tensors(Reader& r, const char* section) {
  ParameterSet<T> set;
  const auto count = r.get<std::uint64_t>("tensor count");
  if (count > r.n) throw CheckpointError(r.file, std::string("implausible tensor count in ") + section);
  for (std::uint64_t k = 0; k < count; ++k) {
    const auto len = r.get<std::uint32_t>("tensor name length");
    r.need(len, "tensor name");
    std::string name(reinterpret_cast<const char*>(r.p + r.pos), len);
    r.pos += len;
    if (name.empty() || set.contains(name))
      throw CheckpointError(r.file, std::string("empty or duplicate tensor name '") + name + "' in " + section);
    const auto rows = r.get<std::uint64_t>("rows"), cols = r.get<std::uint64_t>("cols");
    if (rows > r.n || cols > r.n || (cols != 0 && rows > (r.n - r.pos) / sizeof(T) / cols))
      throw CheckpointError(r.file, "truncated payload: data of tensor '" + name + "' (" + std::to_string(rows) + " x " +
                                        std::to_string(cols) + ") exceeds the file");
    RowMatrix<T> m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = r.get<T>("tensor data");
    set.add(std::move(name), std::move(m));
  }
  return set;
}

inline std::string shape_text(Eigen::Index rows, Eigen::Index cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

// The first difference in names or shapes between the tensors of a file and a target, or "" when
// they have the same names and shapes in the same order.
template <class A, class B>
std::string layout_difference(const A& file, const B& target) {
  for (std::size_t i = 0; i < std::min(file.size(), target.size()); ++i) {
    if (file.name(i) != target.name(i))
      return "tensor " + std::to_string(i) + " is '" + file.name(i) + "' in the file, '" + target.name(i) +
             "' in the target";
    // Two declarations: one `auto` declarator list needs one deduced type (nvcc insists).
    const auto& f = file.value(i);
    const auto& t = target.value(i);
    if (f.rows() != t.rows() || f.cols() != t.cols())
      return "tensor '" + file.name(i) + "' is " + shape_text(f.rows(), f.cols()) + " in the file, " +
             shape_text(t.rows(), t.cols()) + " in the target";
  }
  if (file.size() != target.size())
    return "the file holds " + std::to_string(file.size()) + " tensors, the target " + std::to_string(target.size());
  return {};
}

inline std::string errno_text() { return std::strerror(errno); }

// Write `data` to a fresh temporary next to `path`, then rename it over `path`.
inline void atomic_write(const std::filesystem::path& path, const std::vector<unsigned char>& data,
                         const SaveOptions& opt) {
  std::random_device rd;
  std::mt19937_64 gen((std::uint64_t(rd()) << 32) ^ rd());
  static const char hex[] = "0123456789abcdef";
  std::filesystem::path tmp;
  const std::size_t to_write = std::min(data.size(), opt.fail_after_bytes);
#if TAYNODE_CHECKPOINT_POSIX
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    std::string suffix = ".tmp-";
    for (int i = 0; i < 8; ++i) suffix += hex[gen() & 15];
    tmp = path;
    tmp += suffix;
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw CheckpointError(path, "cannot create temporary file '" + tmp.string() + "': " + errno_text());
  auto fail = [&](const std::string& what) {
    const std::string msg = what;
    ::close(fd);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw CheckpointError(path, msg);
  };
  std::size_t done = 0;
  while (done < to_write) {
    const ::ssize_t k = ::write(fd, data.data() + done, to_write - done);
    if (k < 0) {
      if (errno == EINTR) continue;
      fail("write to '" + tmp.string() + "' failed: " + errno_text());
    }
    done += std::size_t(k);
  }
  if (to_write < data.size()) fail("write to '" + tmp.string() + "' failed: simulated I/O error");
  if (::fsync(fd) != 0) fail("fsync of '" + tmp.string() + "' failed: " + errno_text());
  if (::close(fd) != 0) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw CheckpointError(path, "close of '" + tmp.string() + "' failed: " + errno_text());
  }
#else
  std::string suffix = ".tmp-";
  for (int i = 0; i < 8; ++i) suffix += hex[gen() & 15];
  tmp = path;
  tmp += suffix;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(to_write));
    out.flush();
    if (!out || to_write < data.size()) {
      out.close();
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw CheckpointError(path, "cannot write temporary file '" + tmp.string() + "'");
    }
  }
#endif
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ec2;
    std::filesystem::remove(tmp, ec2);
    throw CheckpointError(path, "rename of '" + tmp.string() + "' failed: " + ec.message());
  }
#if TAYNODE_CHECKPOINT_POSIX
  // Make the rename itself durable (best effort: not every file system lets a directory be fsync'ed).
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
#endif
}

}  // namespace detail::ckpt

// Encode a checkpoint in memory (the exact bytes save_checkpoint writes).
template <class T, class P>
std::vector<unsigned char> encode_checkpoint(const P& params, const OptimizerState<T>* opt = nullptr) {
  detail::ckpt::Writer payload;
  detail::ckpt::put_tensors<T>(payload, params);
  if (opt) {
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(opt->kind));
    payload.put<std::int64_t>(opt->step);
    payload.put<std::uint32_t>(std::uint32_t(opt->slots.size()));
    for (const auto& s : opt->slots) detail::ckpt::put_tensors<T>(payload, s);
  } else {
    payload.put<std::uint32_t>(0);
  }
  detail::ckpt::Writer file;
  file.bytes(checkpoint_magic.data(), checkpoint_magic.size());
  file.put<std::uint32_t>(checkpoint_version);
  file.put<std::uint32_t>(scalar_tag<T>());
  file.put<std::uint64_t>(payload.buf.size());
  file.bytes(payload.buf.data(), payload.buf.size());
  file.put<std::uint64_t>(fnv1a64(payload.buf.data(), payload.buf.size()));
  return std::move(file.buf);
}

template <class P, class T = typename P::Scalar>
void save_checkpoint(const std::filesystem::path& path, const P& params, const OptimizerState<T>* opt = nullptr,
                     const SaveOptions& options = {}) {
  // A diverged run must not replace the last good checkpoint: nothing is written.
  if (const auto where = first_non_finite(params); !where.empty())
    throw CheckpointError(path, "not saved: non-finite parameters (" + where + "); the file is unchanged");
  if (opt)
    for (const auto& slot : opt->slots)
      if (const auto where = first_non_finite(slot); !where.empty())
        throw CheckpointError(path, "not saved: non-finite optimizer state (" + where + "); the file is unchanged");
  detail::ckpt::atomic_write(path, encode_checkpoint<T>(params, opt), options);
}

// Load into `params` (a ParameterSet: adopted as is when empty, otherwise names and shapes must
// match; or a ParameterRefs: must match) and, when `opt` is given, the optimizer state (the file's
// optimizer kind must equal opt->kind; slots must match the parameters). `opt` given and the file
// without optimizer state is an error; a file with optimizer state loaded without `opt` is fine.
template <class P, class T = typename P::Scalar>
void load_checkpoint(const std::filesystem::path& path, P& params, OptimizerState<T>* opt = nullptr) {
  const std::vector<unsigned char> bytes = read_whole_file<CheckpointError>(path);
  if (bytes.size() < checkpoint_magic.size())
    throw CheckpointError(path, "truncated header (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), checkpoint_magic.data(), checkpoint_magic.size()) != 0)
    throw CheckpointError(path, "bad magic (not a taynode checkpoint)");
  if (bytes.size() < checkpoint_header_size + 8)
    throw CheckpointError(path, "truncated header (" + std::to_string(bytes.size()) + " bytes)");
  detail::ckpt::Reader hdr{path, bytes.data(), checkpoint_header_size, checkpoint_magic.size()};
  const auto version = hdr.get<std::uint32_t>("version");
  if (version != checkpoint_version)
    throw CheckpointError(path, "unsupported version " + std::to_string(version) + " (expected " +
                                    std::to_string(checkpoint_version) + ")");
  const auto tag = hdr.get<std::uint32_t>("scalar type");
  if (tag != scalar_tag<T>())
    throw CheckpointError(path, "wrong scalar type: file holds " +
                                    std::string(tag == 1 ? "float32" : tag == 2 ? "float64" : "unknown type") +
                                    " (tag " + std::to_string(tag) + "), expected " +
                                    (scalar_tag<T>() == 1 ? "float32" : "float64"));
  const auto len = hdr.get<std::uint64_t>("payload length");
  const std::size_t avail = bytes.size() - checkpoint_header_size - 8;
  if (len > avail)
    throw CheckpointError(path, "truncated file: payload of " + std::to_string(len) + " bytes declared, " +
                                    std::to_string(avail) + " present");
  if (len < avail) throw CheckpointError(path, "trailing bytes after the checksum");
  const unsigned char* payload = bytes.data() + checkpoint_header_size;
  detail::ckpt::Reader tail{path, payload + len, 8};
  const auto stored = tail.get<std::uint64_t>("checksum");
  if (stored != fnv1a64(payload, std::size_t(len)))
    throw CheckpointError(path, "checksum mismatch (file corrupted)");

  detail::ckpt::Reader r{path, payload, std::size_t(len)};
  ParameterSet<T> loaded = detail::ckpt::get_tensors<T>(r, "parameters");
  OptimizerState<T> state;
  const auto kind = r.get<std::uint32_t>("optimizer kind");
  const bool has_opt = kind != 0;
  if (has_opt) {
    if (kind < 1 || kind > 3) throw CheckpointError(path, "unknown optimizer kind " + std::to_string(kind));
    state.kind = OptimizerKind(kind);
    state.step = r.get<std::int64_t>("optimizer step");
    if (state.step < 0) throw CheckpointError(path, "negative optimizer step count");
    const auto nslots = r.get<std::uint32_t>("slot count");
    if (nslots != 0 && nslots != slot_count(state.kind))
      throw CheckpointError(path, "optimizer " + std::string(to_string(state.kind)) + " with " +
                                      std::to_string(nslots) + " slot sets");
    for (std::uint32_t s = 0; s < nslots; ++s) {
      state.slots.push_back(detail::ckpt::get_tensors<T>(r, "optimizer slots"));
      if (const auto diff = detail::ckpt::layout_difference(state.slots.back(), loaded); !diff.empty())
        throw CheckpointError(path, "optimizer slot tensors do not match the parameters: " + diff);
    }
  }
  if (r.pos != r.n) throw CheckpointError(path, "unparsed bytes at the end of the payload");
  // A checkpoint holds finite values only (save_checkpoint refuses others).
  if (const auto where = first_non_finite(loaded); !where.empty())
    throw CheckpointError(path, "non-finite value in the parameters: " + where);
  for (const auto& slot : state.slots)
    if (const auto where = first_non_finite(slot); !where.empty())
      throw CheckpointError(path, "non-finite value in the optimizer state: " + where);

  // Validate against the targets before modifying anything.
  constexpr bool is_set = std::is_same_v<P, ParameterSet<T>>;
  bool adopt = false;
  if constexpr (is_set) adopt = params.size() == 0;
  if (!adopt)
    if (const auto diff = detail::ckpt::layout_difference(loaded, params); !diff.empty())
      throw CheckpointError(path, "parameter names or shapes differ from the target's: " + diff);
  if (opt) {
    if (!has_opt) throw CheckpointError(path, "no optimizer state in the file");
    if (state.kind != opt->kind)
      throw CheckpointError(path, std::string("optimizer kind ") + to_string(state.kind) + " in the file, " +
                                      to_string(opt->kind) + " expected");
  }

  // Commit (no throwing operations on the targets below except allocation in the adopt case).
  if constexpr (is_set) {
    if (adopt) {
      params = std::move(loaded);
    } else {
      for (std::size_t i = 0; i < params.size(); ++i) params.value(i).swap(loaded.value(i));
    }
  } else {
    for (std::size_t i = 0; i < params.size(); ++i) params.value(i) = loaded.value(i);
  }
  if (opt) *opt = std::move(state);
}

}  // namespace taynode::nn
