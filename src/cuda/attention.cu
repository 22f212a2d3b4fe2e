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

__device__ const float* operand_at(const BatchedAttention::Operand& o, int n, int j) {
  return o.base + n * o.stride_n + (int64_t)((j * o.mul + o.add) / o.div) * o.stride_head;
}

__global__ void fill_pointers_kernel(const float** a, const float** b, float** c, BatchedAttention::Operand oa,
                                     BatchedAttention::Operand ob, BatchedAttention::Operand oc, int H, int count) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const int n = i / H, j = i % H;
  a[i] = operand_at(oa, n, j);
  b[i] = operand_at(ob, n, j);
  c[i] = const_cast<float*>(operand_at(oc, n, j));
}

}  // namespace

BatchedAttention::BatchedAttention() {
  blas_ok(cublasCreate(&handle_), "cublasCreate");
}

BatchedAttention::~BatchedAttention() {
  if (handle_) cublasDestroy(handle_);
}

void BatchedAttention::batched(bool ta, bool tb, int m, int n, int k, float alpha, const Operand& a, int lda,
                               const Operand& b, int ldb, float beta, const Operand& c, int ldc, int N, int H,
                               cudaStream_t s) {
  const int count = N * H;
  if (pointers_.size() < (size_t)3 * count) pointers_ = DeviceBuffer<const float*>((size_t)3 * count);
  const float** pa = pointers_.data();
  const float** pb = pa + count;
  float** pc = const_cast<float**>(pa + 2 * count);
  fill_pointers_kernel<<<(count + 127) / 128, 128, 0, s>>>(pa, pb, pc, a, b, c, H, count);
  CUDA_CHECK_LAUNCH();
  blas_ok(cublasSetStream(handle_, s), "cublasSetStream");
  blas_ok(cublasSgemmBatched(handle_, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                             pa, lda, pb, ldb, &beta, pc, ldc, count),
          "cublasSgemmBatched");
}

void BatchedAttention::forward(float* out, float* att, const float* qkv, const int32_t* lengths, int N, int T, int NH,
                               int NKV, int HS, cudaStream_t s) {
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV, Y = NH * HS;
  const float scale = 1.f / std::sqrt((float)HS);
  const int64_t seq = (int64_t)T * QKV, tt = (int64_t)T * T;
  const Operand q{qkv, seq, HS}, k{qkv + NH * HS, seq, HS, 1, 0, group}, v{qkv + (NH + NKV) * HS, seq, HS, 1, 0, group};
  const Operand a{att, NH * tt, tt}, y{out, (int64_t)T * Y, HS};
  // S (T,T) = Q·Kᵀ·scale  ==  col-major Sᵀ = K·Qᵀ: op_T(Kᵀ as HS×T) · (Qᵀ as HS×T)
  batched(true, false, T, T, HS, scale, k, QKV, q, QKV, 0.f, a, T, N, NH, s);
  kernels::causal_softmax_forward(att, lengths, N, NH, T, s);
  // Y (T,HS) = A·V  ==  col-major Yᵀ = Vᵀ·Aᵀ: (Vᵀ as HS×T) · (Aᵀ as T×T)
  batched(false, false, HS, T, T, 1.f, v, QKV, a, T, 0.f, y, Y, N, NH, s);
}

void BatchedAttention::backward(float* dqkv, float* ds, const float* dout, const float* qkv, const float* att,
                                const int32_t* lengths, int N, int T, int NH, int NKV, int HS, cudaStream_t s) {
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV, Y = NH * HS;
  const float scale = 1.f / std::sqrt((float)HS);
  const int64_t seq = (int64_t)T * QKV, tt = (int64_t)T * T;
  const Operand k{qkv + NH * HS, seq, HS, 1, 0, group}, v{qkv + (NH + NKV) * HS, seq, HS, 1, 0, group};
  const Operand d{ds, NH * tt, tt}, dy{dout, (int64_t)T * Y, HS}, dq{dqkv, seq, HS};
  // dA (T,T) = dY·Vᵀ  ==  col-major dAᵀ = V·dYᵀ: op_T(Vᵀ as HS×T) · (dYᵀ as HS×T)
  batched(true, false, T, T, HS, 1.f, v, QKV, dy, Y, 0.f, d, T, N, NH, s);
  kernels::causal_softmax_backward(ds, att, lengths, N, NH, T, s);
  // dQ (T,HS) = dS·K·scale  ==  col-major dQᵀ = Kᵀ·dSᵀ: (Kᵀ as HS×T) · (dSᵀ as T×T)
  batched(false, false, HS, T, T, scale, k, QKV, d, T, 0.f, dq, QKV, N, NH, s);
  // dK_g, dV_g: batch over (n, g), one GEMM per head r of the group, accumulating (β = 1 after the first).
  for (int r = 0; r < group; r++) {
    const float beta = r == 0 ? 0.f : 1.f;
    const Operand qh{qkv, seq, HS, group, r, 1}, dsh{ds, NH * tt, tt, group, r, 1}, ah{att, NH * tt, tt, group, r, 1},
        dyh{dout, (int64_t)T * Y, HS, group, r, 1};
    const Operand dk{dqkv + NH * HS, seq, HS}, dv{dqkv + (NH + NKV) * HS, seq, HS};
    // dK (T,HS) += dSᵀ·Q·scale  ==  col-major dKᵀ += Qᵀ·dS: (Qᵀ as HS×T) · op_T(dSᵀ as T×T)
    batched(false, true, HS, T, T, scale, qh, QKV, dsh, T, beta, dk, QKV, N, NKV, s);
    // dV (T,HS) += Aᵀ·dY  ==  col-major dVᵀ += dYᵀ·A: (dYᵀ as HS×T) · op_T(Aᵀ as T×T)
    batched(false, true, HS, T, T, 1.f, dyh, Y, ah, T, beta, dv, QKV, N, NKV, s);
  }
}

}  // namespace align::cuda
