// cuda_backend.hpp: the CUDA backend (CUDA builds): the same Backend contract
// as the CPU reference (src/train/backend.hpp), computed on the GPU in float32
// (the test mode) or bf16 mixed precision (matmuls on tensor cores in bf16 with
// float accumulation, fp32 master weights, activations and gradients; the
// attention's batched cuBLAS GEMMs (attention.cuh) take bf16 operands too, its
// softmax stays fp32). Parameters, gradients and activations live in device
// buffers carved by the tensor table; handles and the stream
// live in the backend object (no global state). The LM head and log-probs run
// through the fused loss layer (chunked_logprob.cuh): no (M, V) logits.
// params()/grads() hand out host mirrors, synchronised on access, so the
// trainer, optimizer and checkpoints work unchanged (the device optimizer
// replaces this round trip later). Data parallel: gradient slices are summed
// over NCCL during backward() (set_gradient_reduction).
#pragma once

#include <memory>
#include <span>

#include "train/backend.hpp"

namespace align::cuda {

enum class Precision { FP32, BF16 };

std::unique_ptr<train::Backend> make_cuda_backend(const ModelConfig& config, std::span<const float> params,
                                                  Precision precision = Precision::FP32);

}  // namespace align::cuda
