// make_backend.cpp: --device cpu | cuda | auto -> a Backend (backend.hpp). Compiled into
// align_backends, which sees ALIGN_WITH_CUDA in CUDA builds.
#include "common/error.hpp"
#include "train/backend.hpp"

#ifdef ALIGN_WITH_CUDA
#include "cuda/check.cuh"
#include "cuda/cuda_backend.hpp"
#endif

namespace align::train {

bool cuda_device_present() {
#ifdef ALIGN_WITH_CUDA
  return cuda::device_available();
#else
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& device, const ModelConfig& config,
                                      std::span<const float> params) {
  const std::string d = device == "auto" ? (cuda_device_present() ? "cuda" : "cpu") : device;
  if (d == "cpu") return make_cpu_backend(config, params);
  if (d == "cuda") {
#ifdef ALIGN_WITH_CUDA
    return cuda::make_cuda_backend(config, params);
#else
    throw InputError("--device cuda: this build has no CUDA support (nvcc was not found at configure time)");
#endif
  }
  throw InputError(cat("--device '", device, "' is not known, expected cpu, cuda or auto"));
}

}  // namespace align::train
