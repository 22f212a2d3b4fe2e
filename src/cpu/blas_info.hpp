// blas_info.hpp: which BLAS kernels the float32 CPU path is running on, and a
// warning when they are far below what the processor can do.
//
// Why: OpenBLAS picks its kernels from the CPU model number at load time. An
// OpenBLAS older than the processor (Debian 12 ships 0.3.21) does not know
// newer models and falls back to its SSE3 "Prescott" kernels, 3-4x slower on
// an AVX-512 machine. OPENBLAS_CORETYPE overrides the choice, but only before
// the library loads, so we report and advise rather than switch silently.
#pragma once

#include <string>

namespace align::cpu {

std::string blas_description();          // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..., kernels Prescott"
std::string blas_performance_warning();  // empty when the kernels fit the CPU, else one line of advice

// The rule behind the warning, as a pure function: kernels named `core`, CPU
// features, and whether OPENBLAS_CORETYPE was set by the user.
std::string blas_advice(const std::string& core, bool cpu_has_avx512, bool cpu_has_avx2, bool coretype_set);

}  // namespace align::cpu
