// matmul.cu: cuBLASLt linear layer with cached plans, and the bias kernels (matmul.cuh).
#include <type_traits>
#include <utility>

#include "cuda/matmul.cuh"
#include "kernels/reduce.cuh"

namespace align::cuda {

namespace {
constexpr size_t kWorkspace = 32u << 20;  // cuBLASLt's recommendation for Hopper

void lt_ok(cublasStatus_t s, const char* what) {
  ALIGN_ASSERT(s == CUBLAS_STATUS_SUCCESS, what, " failed with cuBLAS status ", (int)s);
}

// out[m, n] += bias[n]
__global__ void add_bias_kernel(float* out, const float* bias, int M, int N) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < (int64_t)M * N) out[i] += bias[i % N];
}

// dbias[n] += Σ_m dout[m, n], one thread per column summing rows in order (deterministic).
template <typename T>
__global__ void bias_grad_kernel(float* dbias, const T* dout, int M, int N) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  float s = 0.f;
  for (int m = 0; m < M; m++) s += (float)dout[(int64_t)m * N + n];
  dbias[n] += s;
}

// The largest power of two up to 256 that divides the address. cuBLASLt's heuristic assumes
// 256-byte aligned operands unless told otherwise, and an algorithm chosen under that
// assumption may fail on a pointer that is less aligned (a bf16 weight inside the flat buffer
// is only 128-byte aligned; a chunk of the LM head starts wherever the chunk does).
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

template <typename T>
constexpr cudaDataType_t data_type() {
  if constexpr (std::is_same_v<T, float>)
    return CUDA_R_32F;
  else
    return CUDA_R_16BF;
}
}  // namespace

Matmul::Matmul() : workspace_(kWorkspace) {
  lt_ok(cublasLtCreate(&handle_), "cublasLtCreate");
}

Matmul::~Matmul() {
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a), cublasLtMatrixLayoutDestroy(p.b), cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
  }
  if (handle_) cublasLtDestroy(handle_);
}

const Matmul::Plan& Matmul::plan(cudaDataType_t in, bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc,
                                 uint32_t align_a, uint32_t align_b, uint32_t align_c, bool bias) {
  const auto key = std::make_tuple((int)in, ta, tb, m, n, k, lda, ldb, ldc, align_a, align_b, align_c, bias);
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  Plan p;
  lt_ok(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  if (bias) {  // out = A·B + bias[row of the column-major output] in the GEMM's epilogue
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    lt_ok(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
          "EPILOGUE");
    p.bias_in_epilogue = true;
  }
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  lt_ok(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof(opa)), "TRANSA");
  lt_ok(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof(opb)), "TRANSB");
  // Stored shapes (column-major): A is m×k, or k×m when transposed; B is k×n, or n×k.
  lt_ok(cublasLtMatrixLayoutCreate(&p.a, in, ta ? k : m, ta ? m : k, lda), "layout A");
  lt_ok(cublasLtMatrixLayoutCreate(&p.b, in, tb ? n : k, tb ? k : n, ldb), "layout B");
  lt_ok(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, m, n, ldc), "layout C");
  cublasLtMatmulPreference_t pref = nullptr;
  lt_ok(cublasLtMatmulPreferenceCreate(&pref), "preference");
  const size_t ws = kWorkspace;
  lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
        "workspace preference");
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c}};  // D is C (in place)
  for (const auto& [attribute, bytes] : alignments)
    lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &bytes, sizeof(bytes)), "alignment preference");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
  if (!p.bias_in_epilogue) lt_ok(st, "heuristic");
  // No algorithm with the epilogue (none found, or the request refused): a plain GEMM and the bias kernel.
  if (p.bias_in_epilogue && (st != CUBLAS_STATUS_SUCCESS || found == 0)) {
    const cublasLtEpilogue_t none = CUBLASLT_EPILOGUE_DEFAULT;
    lt_ok(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &none, sizeof(none)), "EPILOGUE");
    p.bias_in_epilogue = false;
    lt_ok(cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found), "heuristic");
  }
  cublasLtMatmulPreferenceDestroy(pref);
  ALIGN_ASSERT(found > 0, "cuBLASLt has no algorithm for ", m, "x", n, "x", k);
  p.algo = result.algo;
  return plans_.emplace(key, p).first->second;
}

bool Matmul::run(cudaDataType_t in, const GemmCall& g, cudaStream_t s, const float* bias) {
  const bool ta = g.ta, tb = g.tb;
  const int m = g.m, n = g.n, k = g.k, lda = g.lda, ldb = g.ldb, ldc = g.ldc;
  const void *A = g.A, *B = g.B;
  float* C = g.C;
  const float beta = g.beta;
  const Plan& p =
      plan(in, ta, tb, m, n, k, lda, ldb, ldc, alignment_of(A), alignment_of(B), alignment_of(C), bias != nullptr);
  if (p.bias_in_epilogue)  // the pointer is a call argument kept in the (cached) descriptor: set it each call
    lt_ok(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), "BIAS");
  const float alpha = 1.f;
  lt_ok(cublasLtMatmul(handle_, p.desc, &alpha, A, p.a, B, p.b, &beta, C, p.c, C, p.c, &p.algo, workspace_.data(),
                       kWorkspace, s),
        "cublasLtMatmul");
  return p.bias_in_epilogue;
}

template <typename T>
void Matmul::forward(float* out, const T* inp, const T* w, const float* bias, int M, int K, int N, cudaStream_t s) {
  const bool bias_done = run(data_type<T>(), linear_forward_gemm(out, inp, w, M, K, N), s, bias);
  if (bias && !bias_done) {
    ALIGN_LAUNCH(add_bias_kernel, (unsigned)(((int64_t)M * N + 255) / 256), 256, 0, s)(out, bias, M, N);
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void Matmul::backward(float* dinp, float* dw, float* dbias, const T* dout, const T* inp, const T* w, int M, int K,
                      int N, bool accumulate_dinp, cudaStream_t s) {
  if (dinp) run(data_type<T>(), linear_dinp_gemm(dinp, dout, w, M, K, N, accumulate_dinp), s);
  run(data_type<T>(), linear_dw_gemm(dw, dout, inp, M, K, N), s);
  if (dbias) {
    ALIGN_LAUNCH(bias_grad_kernel<T>, (N + 127) / 128, 128, 0, s)(dbias, dout, M, N);
    CUDA_CHECK_LAUNCH();
  }
}

#define ALIGN_INSTANTIATE_MATMUL(T)                                                                            \
  template void Matmul::forward<T>(float*, const T*, const T*, const float*, int, int, int, cudaStream_t);     \
  template void Matmul::backward<T>(float*, float*, float*, const T*, const T*, const T*, int, int, int, bool, \
                                    cudaStream_t);
ALIGN_INSTANTIATE_MATMUL(float)
ALIGN_INSTANTIATE_MATMUL(__nv_bfloat16)

}  // namespace align::cuda
