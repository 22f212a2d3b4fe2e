// cublas_v2.h (software device): the cuBLAS calls align.cu makes (the batched
// attention's cublasGemmBatchedEx), computed on the host by src/emu/cublas.cpp
// with cuBLAS's documented semantics: column-major, C = α·op(A)·op(B) + β·C,
// β = 0 never reads C; fp32 or bf16 operands, fp32 accumulation and output.
// Every operand is checked against the device allocation it lives in.
#pragma once

#include "cublas_api_common.h"

struct cublasContext;
typedef cublasContext* cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t* handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasGetVersion(cublasHandle_t handle, int* version);
cublasStatus_t cublasGemmBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                                   int n, int k, const void* alpha, const void* const A[], cudaDataType_t Atype,
                                   int lda, const void* const B[], cudaDataType_t Btype, int ldb, const void* beta,
                                   void* const C[], cudaDataType_t Ctype, int ldc, int batchCount,
                                   cublasComputeType_t computeType, cublasGemmAlgo_t algo);
