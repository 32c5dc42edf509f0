// Fuzz harness: the PhysioNet loader's preprocessed-tensor cache (physionet_detail::decode_cache in
// data/physionet.hpp), the binary file load_physionet trusts instead of the records when its key and
// checksum match. A fuzzer cannot forge a 64-bit checksum, so the first byte picks what the rest is:
// odd — a whole cache file (the key taken from it, so only the checksum can reject it); even — a
// payload, wrapped here in a valid header and checksum, so the patient decoder itself is fuzzed.
// Invariants: the decoder never throws (a bad cache is reported and the records are parsed instead);
// an accepted cache is canonical — encoding what was decoded gives the file back byte for byte — so
// every count and size it read agrees with its bytes.
#include <cstring>

#include <taynode/data/physionet.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using taynode_fuzz::require;
  namespace pd = taynode::physionet_detail;
  if (size == 0) return 0;
  const bool whole_file = (data[0] & 1) != 0;
  ++data;
  --size;
  std::uint64_t key = 0;
  std::vector<unsigned char> file;
  if (whole_file) {
    if (size >= 20)
      for (int k = 7; k >= 0; --k) key = (key << 8) | data[12 + k];  // little-endian, after magic and version
    file.assign(data, data + size);
  } else {
    key = 42;
    taynode::nn::detail::ckpt::Writer w;
    w.bytes(pd::cache_magic.data(), pd::cache_magic.size());
    w.put<std::uint32_t>(pd::cache_version);
    w.put<std::uint64_t>(key);
    w.put<std::uint64_t>(size);
    w.bytes(data, size);
    w.put<std::uint64_t>(taynode::nn::fnv1a64(data, size));
    file = std::move(w.buf);
  }
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  taynode::PhysionetData out;
  std::string why;
  try {
    why = pd::decode_cache(text, "cache.bin", key, out);
  } catch (const std::exception& e) {
    taynode_fuzz::fail(std::string("decode_cache threw: ") + e.what());
  }
  if (!why.empty()) return 0;
  const auto again = pd::encode_cache(out, key);
  require(again == file,
          "re-encoding the decoded cache does not give the file back");
  return 0;
}
