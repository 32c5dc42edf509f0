// Jet<T,K> and its rules in device code: a kernel evaluates a composite of every smooth rule
// family along the path x_i + t for many x_i; the host evaluates the same jets and compares.
// Exit code 77 (ctest: skipped) when there is no GPU.
#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime.h>

#include "taynode/jet.hpp"

constexpr int K = 6;
using J = taynode::Jet<double, K>;

__host__ __device__ J composite(double x0) {
  const J u = J::variable(x0);
  const J a = sigmoid(u) * exp(u * 0.5) + tanh(u) * u - sin(u) / (u * u + 2.0);
  const J b = softplus(u) + log1p(u * u) + sqrt(u * u + 1.0) + atan(u) * cos(u) + erf(u * 0.3);
  return a * b + cosh(u * 0.2) - square(sinh(u * 0.1)) + pow(u * u + 1.0, 3);
}

__global__ void evaluate(const double* x, double* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const J y = composite(x[i]);
  for (int k = 0; k <= K; ++k) out[i * (K + 1) + k] = y[k];
}

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  const int n = 4096;
  std::vector<double> x(n), out(std::size_t(n) * (K + 1));
  for (int i = 0; i < n; ++i) x[i] = -3.0 + 6.0 * i / (n - 1);
  double *dx = nullptr, *dout = nullptr;
  if (cudaMalloc(&dx, n * sizeof(double)) != cudaSuccess ||
      cudaMalloc(&dout, out.size() * sizeof(double)) != cudaSuccess) {
    std::printf("cudaMalloc failed\n");
    return 1;
  }
  cudaMemcpy(dx, x.data(), n * sizeof(double), cudaMemcpyHostToDevice);
  evaluate<<<(n + 127) / 128, 128>>>(dx, dout, n);
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("kernel failed: %s\n", cudaGetErrorString(cudaGetLastError()));
    return 1;
  }
  cudaMemcpy(out.data(), dout, out.size() * sizeof(double), cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dout);
  // Device and host libm differ by a few ulp per call; the recurrences amplify that mildly.
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    const J h = composite(x[i]);
    double scale = 0;
    for (int k = 0; k <= K; ++k) scale = std::fmax(scale, std::fabs(h[k]));
    for (int k = 0; k <= K; ++k) worst = std::fmax(worst, std::fabs(out[i * (K + 1) + k] - h[k]) / scale);
  }
  std::printf("max relative difference device vs host: %.3e\n", worst);
  return worst <= 1e-13 ? 0 : 1;
}
