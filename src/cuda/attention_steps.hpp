// attention_steps.hpp: the sequence of the batched attention (attention.cuh),
// written once over an `Ops` that runs its pieces: the GPU's (cuBLAS batched
// GEMMs, the causal-softmax kernels, bf16 casts; attention.cu) or plain host
// loops (tests/test_attention_steps.cpp, which checks every GEMM's layout,
// transposes, leading dimensions and GQA head mapping against the CPU
// reference on a machine without a GPU). Plain C++: no CUDA needed to include.
//
// An Ops provides:
//   bytes()                      element size of GEMM inputs (4, or 2 for bf16)
//   cast(x, n, slot)             x as GEMMs read it: x itself, or its bf16 cast
//                                (n elements) in scratch `slot`
//   gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, N, H)
//                                C_b = alpha·op(A_b)·op(B_b) + beta·C_b in cuBLAS's
//                                column-major terms for the N·H entries b = n·H + j,
//                                C fp32
//   softmax_forward(att, rule, N, NH, T), softmax_backward(ds, att, rule, N, NH, T)
//                                the softmax over the keys the batch's visibility rule
//                                (model/visibility.hpp) shows each query, 0 elsewhere
//
// The GEMMs, in the row-major terms of the CPU reference (a row-major (r, c)
// matrix with leading dimension ld is the column-major (c, r) one, so row-major
// C = A·B is column-major Cᵀ = Bᵀ·Aᵀ):
//   forward    S = Q_h·K_gᵀ / √HS → softmax in place → Y_h = A·V_g
//   backward   dA = dY_h·V_gᵀ → softmax backward in place → dQ_h = dS·K_g / √HS,
//              dK_g = Σ_{h in g} dSᵀ·Q_h / √HS, dV_g = Σ_{h in g} Aᵀ·dY_h, one GEMM
//              per head r of the group (β = 0, then 1): no two GEMMs of a batch
//              write one output.
#pragma once

#include <cmath>
#include <cstdint>

#include "model/visibility.hpp"

#ifdef __CUDACC__
#define ALIGN_HOST_DEVICE __host__ __device__
#else
#define ALIGN_HOST_DEVICE
#endif

namespace align::cuda {

// Where an operand of batch entry b = n·H + j starts, in elements of `bytes` each:
// base + n·stride_n + ((j·mul + add) / div)·stride_head.
struct BatchOperand {
  const void* base;
  int64_t stride_n, stride_head;
  int mul = 1, add = 0, div = 1, bytes = 4;
};

ALIGN_HOST_DEVICE inline const void* batch_operand_at(const BatchOperand& o, int n, int j) {
  const int64_t element = n * o.stride_n + (int64_t)((j * o.mul + o.add) / o.div) * o.stride_head;
  return static_cast<const char*>(o.base) + element * o.bytes;
}

// Scratch slots of Ops::cast.
enum class CastSlot { Qkv, Dout, Probs };

namespace attention_detail {
struct Views {  // one call's sizes and q, k, v as its GEMMs read them
  int QKV, group, Y, bytes;
  int64_t seq, tt;  // elements per sequence of qkv, per head of att
  float scale;
  BatchOperand q, k, v;
};
template <typename Ops>
Views views(Ops& ops, const float* qkv, int N, int T, int NH, int NKV, int HS) {
  Views c;
  c.QKV = (NH + 2 * NKV) * HS, c.group = NH / NKV, c.Y = NH * HS, c.bytes = ops.bytes();
  c.seq = (int64_t)T * c.QKV, c.tt = (int64_t)T * T;
  c.scale = 1.f / std::sqrt((float)HS);
  const char* x = static_cast<const char*>(ops.cast(qkv, (size_t)N * c.seq, CastSlot::Qkv));
  c.q = BatchOperand{x, c.seq, HS, 1, 0, 1, c.bytes};
  c.k = BatchOperand{x + (int64_t)NH * HS * c.bytes, c.seq, HS, 1, 0, c.group, c.bytes};
  c.v = BatchOperand{x + (int64_t)(NH + NKV) * HS * c.bytes, c.seq, HS, 1, 0, c.group, c.bytes};
  return c;
}
}  // namespace attention_detail

template <typename Ops>
void attention_forward_steps(Ops& ops, float* out /*(N,T,NH*HS)*/, float* att /*(N,NH,T,T)*/,
                             const float* qkv /*(N,T,QKV)*/, const VisibilityRule& rule, int N, int T, int NH, int NKV,
                             int HS) {
  const attention_detail::Views c = attention_detail::views(ops, qkv, N, T, NH, NKV, HS);
  // S (T,T) = Q·Kᵀ·scale  ==  col-major Sᵀ = K·Qᵀ: op_T(Kᵀ as HS×T) · (Qᵀ as HS×T)
  ops.gemm(true, false, T, T, HS, c.scale, c.k, c.QKV, c.q, c.QKV, 0.f, BatchOperand{att, NH * c.tt, c.tt}, T, N, NH);
  ops.softmax_forward(att, rule, N, NH, T);
  // Y (T,HS) = A·V  ==  col-major Yᵀ = Vᵀ·Aᵀ: (Vᵀ as HS×T) · (Aᵀ as T×T)
  const BatchOperand a{ops.cast(att, (size_t)N * NH * c.tt, CastSlot::Probs), NH * c.tt, c.tt, 1, 0, 1, c.bytes};
  ops.gemm(false, false, HS, T, T, 1.f, c.v, c.QKV, a, T, 0.f, BatchOperand{out, (int64_t)T * c.Y, HS}, c.Y, N, NH);
}

template <typename Ops>
void attention_backward_steps(Ops& ops, float* dqkv /*(N,T,QKV), overwritten*/, float* ds /*(N,NH,T,T) scratch*/,
                              const float* dout /*(N,T,NH*HS)*/, const float* qkv, const float* att,
                              const VisibilityRule& rule, int N, int T, int NH, int NKV, int HS) {
  const attention_detail::Views c = attention_detail::views(ops, qkv, N, T, NH, NKV, HS);
  const int64_t tt = c.tt;
  const void* dy_in = ops.cast(dout, (size_t)N * T * c.Y, CastSlot::Dout);
  const BatchOperand dy{dy_in, (int64_t)T * c.Y, HS, 1, 0, 1, c.bytes}, dq{dqkv, c.seq, HS};
  // dA (T,T) = dY·Vᵀ  ==  col-major dAᵀ = V·dYᵀ: op_T(Vᵀ as HS×T) · (dYᵀ as HS×T)
  ops.gemm(true, false, T, T, HS, 1.f, c.v, c.QKV, dy, c.Y, 0.f, BatchOperand{ds, NH * tt, tt}, T, N, NH);
  ops.softmax_backward(ds, att, rule, N, NH, T);
  const void* ds_in = ops.cast(ds, (size_t)N * NH * tt, CastSlot::Probs);
  // dQ (T,HS) = dS·K·scale  ==  col-major dQᵀ = Kᵀ·dSᵀ: (Kᵀ as HS×T) · (dSᵀ as T×T)
  ops.gemm(false, false, HS, T, T, c.scale, c.k, c.QKV, BatchOperand{ds_in, NH * tt, tt, 1, 0, 1, c.bytes}, T, 0.f, dq,
           c.QKV, N, NH);
  // dK_g and dV_g: batch over (n, g), one GEMM per head r of the group, accumulating. All dK
  // first: with bf16 casts, dS and then A take turns in the same scratch.
  const BatchOperand dk{dqkv + NH * HS, c.seq, HS}, dv{dqkv + (NH + NKV) * HS, c.seq, HS};
  for (int r = 0; r < c.group; r++) {
    const BatchOperand qh{c.q.base, c.seq, HS, c.group, r, 1, c.bytes}, dsh{ds_in, NH * tt, tt, c.group, r, 1, c.bytes};
    // dK (T,HS) += dSᵀ·Q·scale  ==  col-major dKᵀ += Qᵀ·dS: (Qᵀ as HS×T) · op_T(dSᵀ as T×T)
    ops.gemm(false, true, HS, T, T, c.scale, qh, c.QKV, dsh, T, r == 0 ? 0.f : 1.f, dk, c.QKV, N, NKV);
  }
  const void* a_in = ops.cast(att, (size_t)N * NH * tt, CastSlot::Probs);
  for (int r = 0; r < c.group; r++) {
    const BatchOperand ah{a_in, NH * tt, tt, c.group, r, 1, c.bytes},
        dyh{dy_in, (int64_t)T * c.Y, HS, c.group, r, 1, c.bytes};
    // dV (T,HS) += Aᵀ·dY  ==  col-major dVᵀ += dYᵀ·A: (dYᵀ as HS×T) · op_T(Aᵀ as T×T)
    ops.gemm(false, true, HS, T, T, 1.f, dyh, c.Y, ah, T, r == 0 ? 0.f : 1.f, dv, c.QKV, N, NKV);
  }
}

}  // namespace align::cuda
