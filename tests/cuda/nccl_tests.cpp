// dist/nccl.hpp: the id exchange through a file (on any machine), then — on a GPU — a single-rank
// NCCL communicator summing device buffers (one rank still runs ncclCommInitRank, ncclAllReduce
// and a group: the path a multi-GPU job takes), and the error message of a failing call.
// Exit 0 pass, 1 fail, 77 skipped (no device; the file exchange has then still been tested).
#include <taynode/dist/nccl.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

void id_file_exchange() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("taynode-nccl-id-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path path = dir / "id";
  // "Rank 1" waits for the bytes that "rank 0" writes a little later.
  unsigned char sent[128], received[128] = {};
  for (int i = 0; i < 128; ++i) sent[i] = static_cast<unsigned char>(i * 7 + 3);
  std::thread reader([&] { taynode::dist::IdFile(path, 1, 2).broadcast_bytes(received, sizeof received, 0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  taynode::dist::IdFile(path, 0, 2).broadcast_bytes(sent, sizeof sent, 0);
  reader.join();
  expect(std::memcmp(sent, received, sizeof sent) == 0, "IdFile: rank 1 reads the bytes rank 0 wrote");
  expect(!fs::exists(dir / "id.tmp0"), "IdFile: the temporary file was renamed into place");

  bool timed_out = false;
  try {
    taynode::dist::IdFile(dir / "never", 1, 2, std::chrono::milliseconds(100)).broadcast_bytes(received, 8, 0);
  } catch (const std::runtime_error& e) {
    timed_out = std::strstr(e.what(), "never") != nullptr && std::strstr(e.what(), "100 ms") != nullptr;
  }
  expect(timed_out, "IdFile: a missing id is an error naming the file and the wait");
  bool rejected = false;
  try {
    taynode::dist::IdFile(path, 2, 2);
  } catch (const std::invalid_argument&) {
    rejected = true;
  }
  expect(rejected, "IdFile: rank 2 of 2 is rejected");
  fs::remove_all(dir);
}

}  // namespace

int main() {
  id_file_exchange();
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: the NCCL collectives are skipped\n");
    return failures ? 1 : 77;
  }
  const auto dir = std::filesystem::temp_directory_path() / ("taynode-nccl-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    taynode::dist::NcclCommunicator nccl(taynode::dist::IdFile(dir / "id", 0, 1), 0);
    expect(nccl.rank() == 0 && nccl.size() == 1, "communicator of one rank");
    cudaStream_t stream;
    cudaStreamCreate(&stream);
    std::vector<double> w(166418), b(10);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(double(i));
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = double(i) - 4.5;
    double *dw = nullptr, *db = nullptr;
    cudaMalloc(&dw, w.size() * sizeof(double));
    cudaMalloc(&db, b.size() * sizeof(double));
    cudaMemcpy(dw, w.data(), w.size() * sizeof(double), cudaMemcpyHostToDevice);
    cudaMemcpy(db, b.data(), b.size() * sizeof(double), cudaMemcpyHostToDevice);
    nccl.sum(dw, w.size(), stream);
    nccl.sum({taynode::dist::DeviceSpan<double>{dw, w.size()}, taynode::dist::DeviceSpan<double>{db, b.size()}}, stream);
    cudaStreamSynchronize(stream);
    std::vector<double> w1(w.size()), b1(b.size());
    cudaMemcpy(w1.data(), dw, w.size() * sizeof(double), cudaMemcpyDeviceToHost);
    cudaMemcpy(b1.data(), db, b.size() * sizeof(double), cudaMemcpyDeviceToHost);
    expect(w1 == w && b1 == b, "the sum over one rank leaves the buffers unchanged (single and grouped)");
    // A failing call names itself: a null communicator's allreduce.
    bool named = false;
    try {
      taynode::dist::nccl_detail::check(ncclAllReduce(dw, dw, 1, ncclFloat64, ncclSum, nullptr, stream), "ncclAllReduce",
                                        "test");
    } catch (const taynode::dist::NcclError& e) {
      named = std::strstr(e.what(), "ncclAllReduce") != nullptr;
    }
    expect(named, "a failing NCCL call throws NcclError naming it");
    cudaFree(dw);
    cudaFree(db);
    cudaStreamDestroy(stream);
  }
  std::filesystem::remove_all(dir);
  return failures ? 1 : 0;
}
