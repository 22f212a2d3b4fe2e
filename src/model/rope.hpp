// rope.hpp: RoPE inverse frequencies for a llama-family config, shared by the
// CPU reference and the CUDA backend so both rotate by the same angles.
//
//   inv_freq[i] = theta^(-2i/HS), i = 0 .. HS/2-1
// With rope_scaling = llama3 (Llama 3.1/3.2), frequencies are rescaled by
// wavelength λ = 2π/inv_freq, as transformers' `_compute_llama3_parameters`:
//   λ < orig/high_freq_factor  -> unchanged (high frequencies)
//   λ > orig/low_freq_factor   -> inv_freq / factor (low frequencies)
//   otherwise                  -> (1-s)·inv_freq/factor + s·inv_freq,
//                                 s = (orig/λ - low) / (high - low)
#pragma once

#include <cmath>
#include <vector>

#include "model/config.hpp"

namespace align {

std::vector<double> rope_inv_freq(const ModelConfig& c);

// (T_max, HS/2, 2) table of (cos, sin) of position·inv_freq[i], computed in double.
template <typename T>
std::vector<T> rope_cos_sin_table(const ModelConfig& c) {
  const std::vector<double> inv = rope_inv_freq(c);
  const int half = c.head_dim / 2;
  std::vector<T> table((size_t)c.max_seq_len * half * 2);
  for (int t = 0; t < c.max_seq_len; t++)
    for (int i = 0; i < half; i++) {
      const double angle = t * inv[i];
      table[((size_t)t * half + i) * 2 + 0] = static_cast<T>(std::cos(angle));
      table[((size_t)t * half + i) * 2 + 1] = static_cast<T>(std::sin(angle));
    }
  return table;
}

}  // namespace align
