// init.hpp: random initialisation of a model's parameters (GPT-2 recipe).
// Matrices and embeddings ~ N(0, 0.02²); the two projections that write into
// the residual stream (attn.out, mlp.out) ~ N(0, (0.02/√(2L))²); norm weights 1,
// biases 0; padded vocabulary rows and alignment gaps 0. Same seed, same bits.
#pragma once

#include <cstdint>

#include "model/config.hpp"

namespace align {

void init_params(const ModelConfig& config, float* params /*(TensorTable(config).total_size())*/, uint64_t seed);

}  // namespace align
