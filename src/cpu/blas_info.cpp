// blas_info.cpp: BLAS kernel report and advice (blas_info.hpp).
#include "cpu/blas_info.hpp"

#include <cblas.h>

#include <cctype>
#include <cstdlib>

#include "common/error.hpp"

namespace align::cpu {

std::string blas_description() {
  std::string config = openblas_get_config();
  while (!config.empty() && std::isspace((unsigned char)config.back())) config.pop_back();
  return cat(config, ", kernels ", openblas_get_corename());
}

std::string blas_advice(const std::string& core, bool cpu_has_avx512, bool cpu_has_avx2, bool coretype_set) {
  std::string lower;
  for (char ch : core) lower += (char)std::tolower((unsigned char)ch);
  // OpenBLAS's pre-AVX kernel families: what it falls back to for unknown models.
  const bool generic = lower == "prescott" || lower == "core2" || lower == "nehalem" || lower == "penryn" ||
                       lower == "dunnington" || lower == "atom" || lower == "katmai" || lower == "coppermine" ||
                       lower == "northwood" || lower == "banias";
  if (!generic || coretype_set || !(cpu_has_avx512 || cpu_has_avx2)) return "";
  return cat("OpenBLAS chose its ", core, " kernels on a CPU with ", cpu_has_avx512 ? "AVX-512" : "AVX2",
             " (it does not know this CPU model); float32 matmuls run 2-4x faster with OPENBLAS_CORETYPE=",
             cpu_has_avx512 ? "SKYLAKEX" : "HASWELL", " set in the environment");
}

std::string blas_performance_warning() {
  return blas_advice(openblas_get_corename(), __builtin_cpu_supports("avx512f"), __builtin_cpu_supports("avx2"),
                     std::getenv("OPENBLAS_CORETYPE") != nullptr);
}

}  // namespace align::cpu
