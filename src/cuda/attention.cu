// attention.cu: the cuBLAS-batched attention (attention.cuh): the Ops that run
// attention_steps.hpp on the GPU.
#include "cuda/attention.cuh"
#include "kernels/kernels.cuh"

namespace align::cuda {

namespace {

void blas_ok(cublasStatus_t s, const char* what) {
  ALIGN_ASSERT(s == CUBLAS_STATUS_SUCCESS, what, " failed with cuBLAS status ", (int)s);
}

__global__ void fill_pointers_kernel(const void** a, const void** b, const void** c, BatchOperand oa, BatchOperand ob,
                                     BatchOperand oc, int H, int count) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const int n = i / H, j = i % H;
  a[i] = batch_operand_at(oa, n, j);
  b[i] = batch_operand_at(ob, n, j);
  c[i] = batch_operand_at(oc, n, j);
}

}  // namespace

BatchedAttention::BatchedAttention(bool bf16_operands) : bf16_(bf16_operands) {
  blas_ok(cublasCreate(&handle_), "cublasCreate");
}

BatchedAttention::~BatchedAttention() {
  if (handle_) cublasDestroy(handle_);
}

void BatchedAttention::forward(float* out, float* att, const float* qkv, const VisibilityRule& rule, int N, int T,
                               int NH, int NKV, int HS, cudaStream_t s) {
  stream_ = s;
  attention_forward_steps(*this, out, att, qkv, rule, N, T, NH, NKV, HS);
}

void BatchedAttention::backward(float* dqkv, float* ds, const float* dout, const float* qkv, const float* att,
                                const VisibilityRule& rule, int N, int T, int NH, int NKV, int HS, cudaStream_t s) {
  stream_ = s;
  attention_backward_steps(*this, dqkv, ds, dout, qkv, att, rule, N, T, NH, NKV, HS);
}

const void* BatchedAttention::cast(const float* x, size_t n, CastSlot slot) {
  if (!bf16_) return x;
  DeviceBuffer<__nv_bfloat16>& scratch = slot == CastSlot::Qkv ? qkv16_ : slot == CastSlot::Dout ? dout16_ : probs16_;
  if (scratch.size() < n) scratch = DeviceBuffer<__nv_bfloat16>(n);
  kernels::to_bf16(scratch.data(), x, (int64_t)n, stream_);
  return scratch.data();
}

void BatchedAttention::gemm(bool ta, bool tb, int m, int n, int k, float alpha, const BatchOperand& a, int lda,
                            const BatchOperand& b, int ldb, float beta, const BatchOperand& c, int ldc, int N, int H) {
  const int count = N * H;
  if (pointers_.size() < (size_t)3 * count) pointers_ = DeviceBuffer<const void*>((size_t)3 * count);
  const void** pa = pointers_.data();
  const void** pb = pa + count;
  const void** pc = pa + 2 * count;
  ALIGN_LAUNCH(fill_pointers_kernel, (count + 127) / 128, 128, 0, stream_)(pa, pb, pc, a, b, c, H, count);
  CUDA_CHECK_LAUNCH();
  const cudaDataType_t in = bf16_ ? CUDA_R_16BF : CUDA_R_32F;
  blas_ok(cublasSetStream(handle_, stream_), "cublasSetStream");
  blas_ok(cublasGemmBatchedEx(handle_, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                              pa, in, lda, pb, in, ldb, &beta, const_cast<void* const*>(pc), CUDA_R_32F, ldc, count,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmBatchedEx");
}

void BatchedAttention::softmax_forward(float* att, const VisibilityRule& rule, int N, int NH, int T) {
  kernels::causal_softmax_forward(att, rule, N, NH, T, stream_);
}

void BatchedAttention::softmax_backward(float* ds, const float* att, const VisibilityRule& rule, int N, int NH, int T) {
  kernels::causal_softmax_backward(ds, att, rule, N, NH, T, stream_);
}

}  // namespace align::cuda
