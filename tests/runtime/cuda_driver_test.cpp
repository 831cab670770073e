// The CUDA driver probe (runtime/cuda_driver.h) against fake driver tables, the toolkit's
// stub library and a missing library: every outcome is a one-line answer naming its cause.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstring>

#include "runtime/cuda_driver.h"

using namespace kiln;

namespace {

// A fake driver: cuInit returns `init`, `devices` GPUs named "Fake GPU <i>", sm_90.
int g_init = 0, g_devices = 0, g_init_calls = 0;
CudaDriverTable fake(int init, int devices) {
  g_init = init;
  g_devices = devices;
  g_init_calls = 0;
  CudaDriverTable t;
  t.cuInit = [](unsigned flags) {
    ++g_init_calls;
    return flags == 0 ? g_init : 1;  // CUDA_ERROR_INVALID_VALUE for other flags
  };
  t.cuDriverGetVersion = [](int* v) {
    *v = 13000;
    return 0;
  };
  t.cuDeviceGetCount = [](int* n) {
    *n = g_devices;
    return 0;
  };
  t.cuDeviceGet = [](int* d, int i) {
    *d = i;
    return i < g_devices ? 0 : 101;  // CUDA_ERROR_INVALID_DEVICE
  };
  t.cuDeviceGetName = [](char* name, int len, int d) {
    std::snprintf(name, static_cast<size_t>(len), "Fake GPU %d", d);
    return 0;
  };
  t.cuDeviceGetAttribute = [](int* v, int attr, int) {
    *v = attr == 75 ? 9 : attr == 76 ? 0 : -1;
    return 0;
  };
  t.cuGetErrorName = [](int e, const char** s) {
    *s = e == 100 ? "CUDA_ERROR_NO_DEVICE" : e == 999 ? "CUDA_ERROR_UNKNOWN" : nullptr;
    return *s ? 0 : 1;
  };
  return t;
}

std::string refusal(const Expected<CudaSystem>& s) {
  REQUIRE_FALSE(s.ok());
  const std::string m = s.error().message();
  CHECK(m.find('\n') == std::string::npos);  // one line
  return m;
}

}  // namespace

TEST_CASE("the CUDA probe names each way of having no GPU", "[cuda][driver]") {
  CHECK_THAT(refusal(probe_cuda(fake(kCudaErrorStubLibrary, 0), "libcuda.so.1")),
             Catch::Contains("stub library (CUDA_ERROR_STUB_LIBRARY)") &&
                 Catch::Contains("libcuda.so.1"));
  CHECK(g_init_calls == 1);
  CHECK_THAT(refusal(probe_cuda(fake(kCudaErrorNoDevice, 0), "libcuda.so.1")),
             Catch::Contains("no CUDA device") && Catch::Contains("CUDA_ERROR_NO_DEVICE (100)"));
  CHECK_THAT(refusal(probe_cuda(fake(999, 0), "x.so")),
             Catch::Contains("failed to start") && Catch::Contains("CUDA_ERROR_UNKNOWN (999)"));
  CHECK_THAT(refusal(probe_cuda(fake(0, 0), "x.so")), Catch::Contains("lists none"));
  CHECK_THAT(refusal(probe_cuda(CudaDriverTable{}, "empty.so")), Catch::Contains("incomplete"));
}

TEST_CASE("the CUDA probe lists a driver's devices", "[cuda][driver]") {
  Expected<CudaSystem> s = probe_cuda(fake(0, 2), "fake.so");
  REQUIRE(s.ok());
  CHECK(s->driver_version == 13000);
  REQUIRE(s->devices.size() == 2);
  CHECK(s->devices[1].name == "Fake GPU 1");
  CHECK(s->devices[1].arch() == "sm_90");
}

TEST_CASE("a missing driver library and the toolkit's stub are refused in one line",
          "[cuda][driver]") {
  CHECK_THAT(refusal(probe_cuda_system("/nonexistent/libcuda.so.1")),
             Catch::Contains("no CUDA driver: cannot load /nonexistent/libcuda.so.1"));
  const char* stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  struct stat st;
  if (::stat(stub, &st) != 0) {
    WARN("no CUDA toolkit stub at " << stub);
    return;
  }
  CHECK_THAT(refusal(probe_cuda_system(stub)), Catch::Contains("CUDA_ERROR_STUB_LIBRARY"));
}
