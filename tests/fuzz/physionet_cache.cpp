// Fuzz harness: the PhysioNet loader's preprocessed-tensor cache (physionet_detail::decode_cache in
// data/physionet.hpp), the binary file load_physionet trusts instead of the records when its key and
// checksum match. The key is taken from the input so the fuzzer can get past it. Invariants: the
// decoder never throws (a bad cache is reported and the records are parsed instead); an accepted
// cache is canonical — encoding what was decoded gives the input back byte for byte — so every
// count and size it read agrees with its bytes.
#include <cstring>

#include <taynode/data/physionet.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using taynode_fuzz::require;
  namespace pd = taynode::physionet_detail;
  std::uint64_t key = 0;
  if (size >= 20)
    for (int k = 7; k >= 0; --k) key = (key << 8) | data[12 + k];  // little-endian, after magic and version
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  taynode::PhysionetData out;
  std::string why;
  try {
    why = pd::decode_cache(text, "cache.bin", key, out);
  } catch (const std::exception& e) {
    taynode_fuzz::fail(std::string("decode_cache threw: ") + e.what());
  }
  if (!why.empty()) return 0;
  const auto again = pd::encode_cache(out, key);
  require(again.size() == size && std::memcmp(again.data(), data, size) == 0,
          "re-encoding the decoded cache does not give the file back");
  return 0;
}
