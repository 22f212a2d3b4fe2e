// rope.cpp: RoPE inverse frequencies, plain and llama3-scaled (rope.hpp).
#include "model/rope.hpp"

#include <cmath>

namespace align {

std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<double> inv(half);
  for (int i = 0; i < half; i++) inv[i] = 1.0 / std::pow((double)c.rope_theta, 2.0 * i / c.head_dim);
  if (c.rope_scaling == RopeScaling::Llama3) {
    const double orig = c.rope_original_max_pos, factor = c.rope_factor;
    const double low = c.rope_low_freq_factor, high = c.rope_high_freq_factor;
    const double low_freq_wavelen = orig / low, high_freq_wavelen = orig / high;
    for (int i = 0; i < half; i++) {
      const double wavelen = 2.0 * M_PI / inv[i];
      if (wavelen < high_freq_wavelen) continue;
      if (wavelen > low_freq_wavelen) {
        inv[i] /= factor;
      } else {
        const double s = (orig / wavelen - low) / (high - low);
        inv[i] = (1.0 - s) * inv[i] / factor + s * inv[i];
      }
    }
  }
  return inv;
}

}  // namespace align
