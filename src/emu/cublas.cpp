// cublas.cpp (software device): cuBLAS's cublasGemmBatchedEx and the cuBLASLt
// matmul subset (cublas_v2.h, cublasLt.h), computed on the host with cuBLAS's
// documented semantics — the ones tests/host_gemm.hpp states:
//   C (m×n, column-major, ldc) = α·op(A)·op(B) + β·C, op(A) m×k stored m×k (N)
//   or k×m (T) with lda ≥ its rows, likewise B; β = 0 never reads C.
// fp32 or bf16 operands (converted exactly to float), fp32 accumulation and
// output, through the host BLAS (sgemm). Before anything is computed every
// operand's stored extent, (cols − 1)·ld + rows elements, must lie inside one
// live device allocation, leading dimensions must cover their rows, and the
// outputs of one batched call must not overlap (cuBLAS leaves such a call
// undefined): a wrong leading dimension or count is an error with a message,
// not a silent read of a neighbour's memory.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "cublasLt.h"
#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "emu/state.hpp"

struct cublasContext {
  cudaStream_t stream = nullptr;
};
struct cublasLtContext {
  int unused = 0;
};
struct cublasLtMatmulDescOpaque_t {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  cublasOperation_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
};
struct cublasLtMatrixLayoutOpaque_t {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
};
struct cublasLtMatmulPreferenceOpaque_t {
  size_t workspace = 0;
  uint32_t min_alignment[4] = {256, 256, 256, 256};  // A, B, C, D: cuBLASLt's default assumption
};

namespace emu {
namespace {

constexpr uint64_t kAlgoMagic = 0x616c69676e2e6375ull;  // marks an algo this emulation's heuristic returned

cublasStatus_t refuse(cublasStatus_t status, const std::string& message) {
  std::fprintf(stderr, "software device: %s\n", message.c_str());
  std::fflush(stderr);
  return status;
}

size_t type_bytes(cudaDataType_t t) {
  return t == CUDA_R_32F ? 4 : t == CUDA_R_16BF ? 2 : 0;
}
const char* type_name(cudaDataType_t t) {
  return t == CUDA_R_32F    ? "CUDA_R_32F"
         : t == CUDA_R_16BF ? "CUDA_R_16BF"
         : t == CUDA_R_16F  ? "CUDA_R_16F"
                            : "another type";
}

// A stored column-major matrix: rows × cols with leading dimension ld, elements of `bytes`.
struct Stored {
  const void* p;
  int64_t rows, cols, ld;
  size_t bytes;
  size_t extent() const { return rows == 0 || cols == 0 ? 0 : (size_t)((cols - 1) * ld + rows) * bytes; }
};

// "" when the stored matrix is a valid operand in device memory.
std::string check_operand(const std::string& call, const char* name, const Stored& s) {
  if (s.ld < std::max<int64_t>(1, s.rows))
    return cat_str(call, ": leading dimension of ", name, " is ", s.ld, ", less than its ", s.rows, " rows");
  if (s.extent() == 0) return "";
  return check_device_range(s.p, s.extent(), cat_str(call, ": ", name, " (", s.rows, "x", s.cols, ", ld ", s.ld, ")"));
}

// The operand as float: itself for fp32, an exact conversion of its stored extent for bf16.
const float* as_float(const Stored& s, cudaDataType_t type, std::vector<float>& scratch) {
  if (type == CUDA_R_32F) return static_cast<const float*>(s.p);
  const size_t n = s.extent() / 2;
  scratch.resize(n);
  const unsigned short* h = static_cast<const unsigned short*>(s.p);
  for (size_t i = 0; i < n; i++) scratch[i] = bf16_bits_to_float(h[i]);
  return scratch.data();
}

// D (m×n, ldd) = alpha·op(A)·op(B) + beta·C; C may be D. Operands already checked.
void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const Stored& A, const Stored& B, cudaDataType_t in,
          float beta, const float* C, int ldc, float* D, int ldd) {
  if (m == 0 || n == 0) return;
  const bool in_place = C == D && ldc == ldd;
  if (!in_place || beta == 0.f)  // D = beta·C first (β = 0 never reads C, which may hold NaN poison)
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) D[i + (int64_t)j * ldd] = beta == 0.f ? 0.f : beta * C[i + (int64_t)j * ldc];
  std::vector<float> sa, sb;
  const float* a = as_float(A, in, sa);
  const float* b = as_float(B, in, sb);
  // Small products on one thread: the BLAS's threads cost more to wake than they save (the
  // nthreads setting is this host thread's own, restored after).
  const bool small = (int64_t)m * n * k < (int64_t)1 << 24;
  const int threads = omp_get_max_threads();
  if (small) omp_set_num_threads(1);
  cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              (int)A.ld, b, (int)B.ld, in_place && beta != 0.f ? beta : 1.f, D, ldd);
  if (small) omp_set_num_threads(threads);
}

std::string check_types(const std::string& call, cudaDataType_t a, cudaDataType_t b, cudaDataType_t c) {
  if (a != b || (a != CUDA_R_32F && a != CUDA_R_16BF))
    return cat_str(call, ": A is ", type_name(a), " and B ", type_name(b),
                   "; the software device implements A = B = CUDA_R_32F or CUDA_R_16BF");
  if (c != CUDA_R_32F) return cat_str(call, ": C is ", type_name(c), "; the software device implements CUDA_R_32F");
  return "";
}

}  // namespace
}  // namespace emu

using namespace emu;

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetVersion(cublasHandle_t, int* version) {
  *version = 120800;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                                   int n, int k, const void* alpha, const void* const A[], cudaDataType_t Atype,
                                   int lda, const void* const B[], cudaDataType_t Btype, int ldb, const void* beta,
                                   void* const C[], cudaDataType_t Ctype, int ldc, int batchCount,
                                   cublasComputeType_t computeType, cublasGemmAlgo_t) {
  const std::string call = "cublasGemmBatchedEx";
  if (!handle) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, call + ": no handle");
  if (sticky_error()) return CUBLAS_STATUS_EXECUTION_FAILED;
  if (m < 0 || n < 0 || k < 0 || batchCount < 0)
    return refuse(CUBLAS_STATUS_INVALID_VALUE,
                  cat_str(call, ": negative size m=", m, " n=", n, " k=", k, " batch=", batchCount));
  if (computeType != CUBLAS_COMPUTE_32F)
    return refuse(CUBLAS_STATUS_NOT_SUPPORTED,
                  cat_str(call, ": compute type ", (int)computeType, " is not implemented (CUBLAS_COMPUTE_32F is)"));
  if (transa > CUBLAS_OP_T || transb > CUBLAS_OP_T)
    return refuse(CUBLAS_STATUS_NOT_SUPPORTED, call + ": CUBLAS_OP_C is not implemented");
  std::string bad = check_types(call, Atype, Btype, Ctype);
  if (!bad.empty()) return refuse(CUBLAS_STATUS_NOT_SUPPORTED, bad);
  if (batchCount == 0 || m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const size_t array_bytes = sizeof(void*) * (size_t)batchCount;
  for (const auto& [arr, name] : {std::pair<const void*, const char*>{A, "Aarray"}, {B, "Barray"}, {C, "Carray"}}) {
    bad = check_device_range(arr, array_bytes, cat_str(call, ": ", name, " of ", batchCount, " pointers"));
    if (!bad.empty()) return refuse(CUBLAS_STATUS_INVALID_VALUE, bad);
  }
  const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  const size_t in_bytes = type_bytes(Atype);
  std::vector<Stored> sa(batchCount), sb(batchCount), sc(batchCount);
  std::vector<std::tuple<uintptr_t, uintptr_t, int>> columns;  // every output column: [begin, end), entry
  for (int i = 0; i < batchCount; i++) {
    sa[i] = Stored{A[i], ta ? k : m, ta ? m : k, lda, in_bytes};
    sb[i] = Stored{B[i], tb ? n : k, tb ? k : n, ldb, in_bytes};
    sc[i] = Stored{C[i], m, n, ldc, 4};
    for (const auto& [s, name] : {std::pair<const Stored*, const char*>{&sa[i], "A"}, {&sb[i], "B"}, {&sc[i], "C"}}) {
      bad = check_operand(cat_str(call, " entry ", i), name, *s);
      if (!bad.empty()) return refuse(CUBLAS_STATUS_INVALID_VALUE, bad);
    }
    for (int j = 0; j < n; j++) {
      const uintptr_t b = reinterpret_cast<uintptr_t>(C[i]) + (uintptr_t)j * ldc * 4;
      columns.emplace_back(b, b + (uintptr_t)m * 4, i);
    }
  }
  std::sort(columns.begin(), columns.end());
  for (size_t c = 1; c < columns.size(); c++)
    if (std::get<0>(columns[c]) < std::get<1>(columns[c - 1]) && std::get<2>(columns[c]) != std::get<2>(columns[c - 1]))
      return refuse(CUBLAS_STATUS_INVALID_VALUE,
                    cat_str(call, ": the outputs of entries ", std::get<2>(columns[c - 1]), " and ",
                            std::get<2>(columns[c]), " overlap (the result would depend on the order)"));
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  for (int i = 0; i < batchCount; i++)
    gemm(ta, tb, m, n, k, a, sa[i], sb[i], Atype, b, static_cast<float*>(C[i]), ldc, static_cast<float*>(C[i]), ldc);
  return CUBLAS_STATUS_SUCCESS;
}

size_t cublasLtGetVersion() {
  return 120800;
}
cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = new cublasLtContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
  if (compute != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F)
    return refuse(CUBLAS_STATUS_NOT_SUPPORTED,
                  cat_str("cublasLtMatmulDescCreate: compute type ", (int)compute, " and scale type ", type_name(scale),
                          "; the software device implements CUBLAS_COMPUTE_32F with CUDA_R_32F"));
  *desc = new cublasLtMatmulDescOpaque_t{compute, scale};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete desc;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute,
                                              const void* buffer, size_t bytes) {
  const std::string call = "cublasLtMatmulDescSetAttribute";
  auto size_is = [&](size_t want) { return bytes == want; };
  switch (attribute) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB: {
      if (!size_is(sizeof(cublasOperation_t)))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": TRANS of the wrong size");
      const cublasOperation_t op = *static_cast<const cublasOperation_t*>(buffer);
      if (op != CUBLAS_OP_N && op != CUBLAS_OP_T)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, call + ": CUBLAS_OP_C is not implemented");
      (attribute == CUBLASLT_MATMUL_DESC_TRANSA ? desc->transa : desc->transb) = op;
      return CUBLAS_STATUS_SUCCESS;
    }
    case CUBLASLT_MATMUL_DESC_EPILOGUE: {
      if (!size_is(sizeof(cublasLtEpilogue_t)))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": EPILOGUE of the wrong size");
      const cublasLtEpilogue_t e = *static_cast<const cublasLtEpilogue_t*>(buffer);
      if (e != CUBLASLT_EPILOGUE_DEFAULT && e != CUBLASLT_EPILOGUE_BIAS)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED,
                      cat_str(call, ": epilogue ", (int)e, " is not implemented (DEFAULT and BIAS are)"));
      desc->epilogue = e;
      return CUBLAS_STATUS_SUCCESS;
    }
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      if (!size_is(sizeof(void*)))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": BIAS_POINTER of the wrong size");
      std::memcpy(&desc->bias, buffer, sizeof(void*));
      return CUBLAS_STATUS_SUCCESS;
    default:
      return refuse(
          CUBLAS_STATUS_NOT_SUPPORTED,
          cat_str(call, ": attribute ", (int)attribute,
                  " is not implemented by the software device (TRANSA, TRANSB, EPILOGUE and BIAS_POINTER are)"));
  }
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType_t type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  if (type_bytes(type) == 0)
    return refuse(CUBLAS_STATUS_NOT_SUPPORTED,
                  cat_str("cublasLtMatrixLayoutCreate: ", type_name(type), " is not implemented"));
  if (ld < (int64_t)std::max<uint64_t>(1, rows))
    return refuse(CUBLAS_STATUS_INVALID_VALUE,
                  cat_str("cublasLtMatrixLayoutCreate: leading dimension ", ld, " is less than the ", rows, " rows"));
  *layout = new cublasLtMatrixLayoutOpaque_t{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layout;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  *pref = new cublasLtMatmulPreferenceOpaque_t;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete pref;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attribute, const void* buffer,
                                                    size_t bytes) {
  const std::string call = "cublasLtMatmulPreferenceSetAttribute";
  switch (attribute) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
      if (bytes != sizeof(uint64_t))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": MAX_WORKSPACE_BYTES of the wrong size");
      std::memcpy(&pref->workspace, buffer, sizeof(uint64_t));
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
      if (bytes != sizeof(uint32_t))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": MIN_ALIGNMENT of the wrong size");
      uint32_t v;
      std::memcpy(&v, buffer, sizeof v);
      if (v == 0 || (v & (v - 1)))
        return refuse(CUBLAS_STATUS_INVALID_VALUE, cat_str(call, ": alignment ", v, " is not a power of 2"));
      pref->min_alignment[attribute - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES] = v;
      return CUBLAS_STATUS_SUCCESS;
    }
    default:
      return refuse(CUBLAS_STATUS_NOT_SUPPORTED,
                    cat_str(call, ": attribute ", (int)attribute, " is not implemented by the software device"));
  }
}

namespace {
// The shapes of one matmul; "" when the descriptors agree with each other.
std::string check_problem(const std::string& call, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                          cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d) {
  if (!desc || !a || !b || !c || !d) return call + ": a descriptor is null";
  std::string bad = check_types(call, a->type, b->type, c->type);
  if (!bad.empty()) return bad;
  if (d->type != CUDA_R_32F) return cat_str(call, ": D is ", type_name(d->type), "; CUDA_R_32F is implemented");
  const bool ta = desc->transa == CUBLAS_OP_T, tb = desc->transb == CUBLAS_OP_T;
  const uint64_t m = d->rows, n = d->cols, k = ta ? a->rows : a->cols;
  if ((ta ? a->cols : a->rows) != m)
    return cat_str(call, ": op(A) has ", ta ? a->cols : a->rows, " rows but D has ", m);
  if ((tb ? b->cols : b->rows) != k || (tb ? b->rows : b->cols) != n)
    return cat_str(call, ": op(B) is ", tb ? b->cols : b->rows, "x", tb ? b->rows : b->cols, " but op(A)·op(B) needs ",
                   k, "x", n);
  if (c->rows != m || c->cols != n) return cat_str(call, ": C is ", c->rows, "x", c->cols, " but D is ", m, "x", n);
  return "";
}
}  // namespace

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int* returned) {
  *returned = 0;
  const std::string call = "cublasLtMatmulAlgoGetHeuristic";
  if (!handle || !pref || requested < 1)
    return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": no handle, preference or room for a result");
  const std::string bad = check_problem(call, desc, a, b, c, d);
  if (!bad.empty()) return refuse(CUBLAS_STATUS_NOT_SUPPORTED, bad);
  std::memset(&results[0], 0, sizeof results[0]);
  results[0].algo.data[0] = kAlgoMagic;
  for (int i = 0; i < 4; i++) results[0].algo.data[1 + i] = pref->min_alignment[i];
  results[0].workspaceSize = 0;
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* A,
                              cublasLtMatrixLayout_t a, const void* B, cublasLtMatrixLayout_t b, const void* beta,
                              const void* C, cublasLtMatrixLayout_t c, void* D, cublasLtMatrixLayout_t d,
                              const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_bytes, cudaStream_t) {
  const std::string call = "cublasLtMatmul";
  if (!handle) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, call + ": no handle");
  if (sticky_error()) return CUBLAS_STATUS_EXECUTION_FAILED;
  std::string bad = check_problem(call, desc, a, b, c, d);
  if (!bad.empty()) return refuse(CUBLAS_STATUS_INVALID_VALUE, bad);
  if (!algo || algo->data[0] != kAlgoMagic)
    return refuse(CUBLAS_STATUS_INVALID_VALUE,
                  call + ": the algorithm does not come from cublasLtMatmulAlgoGetHeuristic");
  if (C == D && (c->ld != d->ld))
    return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": in place (C == D) with different layouts of C and D");
  const void* pointers[4] = {A, B, C, D};
  for (int i = 0; i < 4; i++) {
    const uint64_t need = algo->data[1 + i];
    if (reinterpret_cast<uintptr_t>(pointers[i]) % need != 0)
      return refuse(
          CUBLAS_STATUS_INVALID_VALUE,
          cat_str(call, ": ", "ABCD"[i], " at ", hex(pointers[i]), " is not ", need,
                  "-byte aligned, as the preference promised the heuristic (MIN_ALIGNMENT_", "ABCD"[i], "_BYTES)"));
  }
  const bool ta = desc->transa == CUBLAS_OP_T, tb = desc->transb == CUBLAS_OP_T;
  const int64_t m = (int64_t)d->rows, n = (int64_t)d->cols, k = ta ? (int64_t)a->rows : (int64_t)a->cols;
  const Stored sa{A, (int64_t)a->rows, (int64_t)a->cols, a->ld, type_bytes(a->type)},
      sb{B, (int64_t)b->rows, (int64_t)b->cols, b->ld, type_bytes(b->type)}, sc{C, m, n, c->ld, 4},
      sd{D, m, n, d->ld, 4};
  const float bv = *static_cast<const float*>(beta);
  for (const auto& [s, name] : {std::pair<const Stored*, const char*>{&sa, "A"}, {&sb, "B"}, {&sd, "D"}}) {
    bad = check_operand(call, name, *s);
    if (!bad.empty()) return refuse(CUBLAS_STATUS_INVALID_VALUE, bad);
  }
  if (bv != 0.f && C != D) {
    bad = check_operand(call, "C", sc);
    if (!bad.empty()) return refuse(CUBLAS_STATUS_INVALID_VALUE, bad);
  }
  if (workspace_bytes) {
    bad = check_device_range(workspace, workspace_bytes, call + ": workspace");
    if (!bad.empty()) return refuse(CUBLAS_STATUS_INVALID_VALUE, bad);
  }
  const float* bias = nullptr;
  if (desc->epilogue == CUBLASLT_EPILOGUE_BIAS) {
    if (!desc->bias) return refuse(CUBLAS_STATUS_INVALID_VALUE, call + ": the BIAS epilogue without a BIAS_POINTER");
    bad = check_device_range(desc->bias, (size_t)m * 4, call + ": bias");
    if (!bad.empty()) return refuse(CUBLAS_STATUS_INVALID_VALUE, bad);
    bias = static_cast<const float*>(desc->bias);
  }
  gemm(ta, tb, (int)m, (int)n, (int)k, *static_cast<const float*>(alpha), sa, sb, a->type, bv,
       static_cast<const float*>(C), (int)c->ld, static_cast<float*>(D), (int)d->ld);
  if (bias)
    for (int64_t j = 0; j < n; j++)
      for (int64_t i = 0; i < m; i++) static_cast<float*>(D)[i + j * d->ld] += bias[i];
  return CUBLAS_STATUS_SUCCESS;
}
