// attention.cu: the cuBLAS-batched attention (attention.cuh). The GEMMs are
// written in cuBLAS's column-major terms: a row-major (r, c) matrix with
// leading dimension ld is the column-major (c, r) matrix with the same ld, so
// row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ. Each call below names the
// row-major product it computes.
#include <cmath>

#include "cuda/attention.cuh"
#include "kernels/kernels.cuh"

namespace align::cuda {

namespace {

void blas_ok(cublasStatus_t s, const char* what) {
  ALIGN_ASSERT(s == CUBLAS_STATUS_SUCCESS, what, " failed with cuBLAS status ", (int)s);
}

__device__ const void* operand_at(const BatchedAttention::Operand& o, int n, int j) {
  const int64_t element = n * o.stride_n + (int64_t)((j * o.mul + o.add) / o.div) * o.stride_head;
  return static_cast<const char*>(o.base) + element * o.bytes;
}

__global__ void fill_pointers_kernel(const void** a, const void** b, const void** c, BatchedAttention::Operand oa,
                                     BatchedAttention::Operand ob, BatchedAttention::Operand oc, int H, int count) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const int n = i / H, j = i % H;
  a[i] = operand_at(oa, n, j);
  b[i] = operand_at(ob, n, j);
  c[i] = operand_at(oc, n, j);
}

}  // namespace

BatchedAttention::BatchedAttention(bool bf16_operands) : bf16_(bf16_operands) {
  blas_ok(cublasCreate(&handle_), "cublasCreate");
}

BatchedAttention::~BatchedAttention() {
  if (handle_) cublasDestroy(handle_);
}

const void* BatchedAttention::operand(const float* x, size_t n, DeviceBuffer<__nv_bfloat16>& scratch, cudaStream_t s) {
  if (!bf16_) return x;
  if (scratch.size() < n) scratch = DeviceBuffer<__nv_bfloat16>(n);
  kernels::to_bf16(scratch.data(), x, (int64_t)n, s);
  return scratch.data();
}

void BatchedAttention::batched(cudaDataType_t in, bool ta, bool tb, int m, int n, int k, float alpha, const Operand& a,
                               int lda, const Operand& b, int ldb, float beta, const Operand& c, int ldc, int N, int H,
                               cudaStream_t s) {
  const int count = N * H;
  if (pointers_.size() < (size_t)3 * count) pointers_ = DeviceBuffer<const void*>((size_t)3 * count);
  const void** pa = pointers_.data();
  const void** pb = pa + count;
  const void** pc = pa + 2 * count;
  fill_pointers_kernel<<<(count + 127) / 128, 128, 0, s>>>(pa, pb, pc, a, b, c, H, count);
  CUDA_CHECK_LAUNCH();
  blas_ok(cublasSetStream(handle_, s), "cublasSetStream");
  blas_ok(cublasGemmBatchedEx(handle_, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                              pa, in, lda, pb, in, ldb, &beta, const_cast<void* const*>(pc), CUDA_R_32F, ldc, count,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmBatchedEx");
}

BatchedAttention::Call BatchedAttention::setup(const float* qkv, int N, int T, int NH, int NKV, int HS,
                                               cudaStream_t s) {
  Call c;
  c.QKV = (NH + 2 * NKV) * HS, c.group = NH / NKV, c.Y = NH * HS, c.bytes = bf16_ ? 2 : 4;
  c.seq = (int64_t)T * c.QKV, c.tt = (int64_t)T * T;
  c.scale = 1.f / std::sqrt((float)HS);
  c.in = bf16_ ? CUDA_R_16BF : CUDA_R_32F;
  const char* x = static_cast<const char*>(operand(qkv, (size_t)N * c.seq, qkv16_, s));
  c.q = Operand{x, c.seq, HS, 1, 0, 1, c.bytes};
  c.k = Operand{x + (int64_t)NH * HS * c.bytes, c.seq, HS, 1, 0, c.group, c.bytes};
  c.v = Operand{x + (int64_t)(NH + NKV) * HS * c.bytes, c.seq, HS, 1, 0, c.group, c.bytes};
  return c;
}

void BatchedAttention::forward(float* out, float* att, const float* qkv, const int32_t* lengths, int N, int T, int NH,
                               int NKV, int HS, cudaStream_t s) {
  const Call c = setup(qkv, N, T, NH, NKV, HS, s);
  // S (T,T) = Q·Kᵀ·scale  ==  col-major Sᵀ = K·Qᵀ: op_T(Kᵀ as HS×T) · (Qᵀ as HS×T)
  batched(c.in, true, false, T, T, HS, c.scale, c.k, c.QKV, c.q, c.QKV, 0.f, Operand{att, NH * c.tt, c.tt}, T, N, NH,
          s);
  kernels::causal_softmax_forward(att, lengths, N, NH, T, s);
  // Y (T,HS) = A·V  ==  col-major Yᵀ = Vᵀ·Aᵀ: (Vᵀ as HS×T) · (Aᵀ as T×T)
  const Operand a{operand(att, (size_t)N * NH * c.tt, probs16_, s), NH * c.tt, c.tt, 1, 0, 1, c.bytes};
  batched(c.in, false, false, HS, T, T, 1.f, c.v, c.QKV, a, T, 0.f, Operand{out, (int64_t)T * c.Y, HS}, c.Y, N, NH, s);
}

void BatchedAttention::backward(float* dqkv, float* ds, const float* dout, const float* qkv, const float* att,
                                const int32_t* lengths, int N, int T, int NH, int NKV, int HS, cudaStream_t s) {
  const Call c = setup(qkv, N, T, NH, NKV, HS, s);
  const int64_t tt = c.tt;
  const void* dy_in = operand(dout, (size_t)N * T * c.Y, dout16_, s);
  const Operand dy{dy_in, (int64_t)T * c.Y, HS, 1, 0, 1, c.bytes}, dq{dqkv, c.seq, HS};
  // dA (T,T) = dY·Vᵀ  ==  col-major dAᵀ = V·dYᵀ: op_T(Vᵀ as HS×T) · (dYᵀ as HS×T)
  batched(c.in, true, false, T, T, HS, 1.f, c.v, c.QKV, dy, c.Y, 0.f, Operand{ds, NH * tt, tt}, T, N, NH, s);
  kernels::causal_softmax_backward(ds, att, lengths, N, NH, T, s);
  const void* ds_in = operand(ds, (size_t)N * NH * tt, probs16_, s);
  const Operand d{ds_in, NH * tt, tt, 1, 0, 1, c.bytes};
  // dQ (T,HS) = dS·K·scale  ==  col-major dQᵀ = Kᵀ·dSᵀ: (Kᵀ as HS×T) · (dSᵀ as T×T)
  batched(c.in, false, false, HS, T, T, c.scale, c.k, c.QKV, d, T, 0.f, dq, c.QKV, N, NH, s);
  // dK_g and dV_g: batch over (n, g), one GEMM per head r of the group, accumulating (β = 1 after
  // the first). All dK first: in bf16 mode dS and then A take turns in the same scratch.
  const Operand dk{dqkv + NH * HS, c.seq, HS}, dv{dqkv + (NH + NKV) * HS, c.seq, HS};
  for (int r = 0; r < c.group; r++) {
    const Operand qh{c.q.base, c.seq, HS, c.group, r, 1, c.bytes}, dsh{ds_in, NH * tt, tt, c.group, r, 1, c.bytes};
    // dK (T,HS) += dSᵀ·Q·scale  ==  col-major dKᵀ += Qᵀ·dS: (Qᵀ as HS×T) · op_T(dSᵀ as T×T)
    batched(c.in, false, true, HS, T, T, c.scale, qh, c.QKV, dsh, T, r == 0 ? 0.f : 1.f, dk, c.QKV, N, NKV, s);
  }
  const void* a_in = operand(att, (size_t)N * NH * tt, probs16_, s);
  for (int r = 0; r < c.group; r++) {
    const Operand ah{a_in, NH * tt, tt, c.group, r, 1, c.bytes},
        dyh{dy_in, (int64_t)T * c.Y, HS, c.group, r, 1, c.bytes};
    // dV (T,HS) += Aᵀ·dY  ==  col-major dVᵀ += dYᵀ·A: (dYᵀ as HS×T) · op_T(Aᵀ as T×T)
    batched(c.in, false, true, HS, T, T, 1.f, dyh, c.Y, ah, T, r == 0 ? 0.f : 1.f, dv, c.QKV, N, NKV, s);
  }
}

}  // namespace align::cuda
