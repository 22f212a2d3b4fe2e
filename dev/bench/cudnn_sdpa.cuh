// cudnn_sdpa.cuh: cuDNN's fused scaled-dot-product attention (its flash
// attention) through the cudnn_frontend graph API, for the workbench's
// comparison rows only (dev/bench/cuda_kernels.cu; built when CMake finds
// cudnn_frontend.h and libcudnn, never in the product). Causal, bf16 in and
// out, fp32 statistics; q, k, v are read in place from the (N, T, QKV) bf16
// projection through strides, as the flash kernels read them:
//   Q (N, NH, T, HS) strides (T·QKV, HS, QKV, 1) at column 0, K and V
//   (N, NKV, T, HS) at columns NH·HS and (NH + NKV)·HS; O and dO (N, NH, T, HS)
//   in (N, T, NH·HS); dQ, dK, dV land in a (N, T, QKV) bf16 buffer.
// Uses the frontend's v1 calls (sdpa with set_generate_stats / set_causal_mask,
// sdpa_backward, the validate → build_plans sequence); compiled against
// cudnn-frontend 1.32.0 (the include/ of PyPI's nvidia-cudnn-frontend wheel or of
// the NVIDIA/cudnn-frontend repository: cmake -DCUDNN_FRONTEND_INCLUDE=that/include).
#pragma once

#include <cudnn.h>
#include <cudnn_frontend.h>

#include <cmath>
#include <memory>
#include <unordered_map>

#include "cuda/device_buffer.cuh"

namespace align::bench {

namespace fe = cudnn_frontend;

class CudnnSdpa {
 public:
  CudnnSdpa(int N, int T, int NH, int NKV, int HS) : NH_(NH), NKV_(NKV), HS_(HS) {
    ok(cudnnCreate(&handle_) == CUDNN_STATUS_SUCCESS, "cudnnCreate");
    const int64_t QKV = (int64_t)(NH + 2 * NKV) * HS, Y = (int64_t)NH * HS;
    const float scale = 1.f / std::sqrt((float)HS);
    auto tensor = [](fe::graph::Graph& g, const char* name, int64_t n, int64_t h, int64_t t, int64_t d, int64_t ld) {
      return g.tensor(fe::graph::Tensor_attributes()
                          .set_name(name)
                          .set_dim({n, h, t, d})
                          .set_stride({t * ld, d, ld, 1})
                          .set_data_type(fe::DataType_t::BFLOAT16));
    };
    auto stats_tensor = [&](fe::graph::Graph& g) {
      return g.tensor(fe::graph::Tensor_attributes()
                          .set_name("stats")
                          .set_dim({N, NH, T, 1})
                          .set_stride({(int64_t)NH * T, T, 1, 1})
                          .set_data_type(fe::DataType_t::FLOAT));
    };
    for (fe::graph::Graph* g : {&fwd_, &bwd_})
      g->set_io_data_type(fe::DataType_t::BFLOAT16)
          .set_intermediate_data_type(fe::DataType_t::FLOAT)
          .set_compute_data_type(fe::DataType_t::FLOAT);
    q_ = tensor(fwd_, "q", N, NH, T, HS, QKV), k_ = tensor(fwd_, "k", N, NKV, T, HS, QKV);
    v_ = tensor(fwd_, "v", N, NKV, T, HS, QKV);
    auto [o, stats] = fwd_.sdpa(
        q_, k_, v_,
        fe::graph::SDPA_attributes().set_name("sdpa").set_generate_stats(true).set_causal_mask(true).set_attn_scale(
            scale));
    o->set_output(true).set_dim({N, NH, T, HS}).set_stride({T * Y, HS, Y, 1});
    stats->set_output(true).set_data_type(fe::DataType_t::FLOAT);
    o_ = o, stats_ = stats;
    build(fwd_);

    bq_ = tensor(bwd_, "q", N, NH, T, HS, QKV), bk_ = tensor(bwd_, "k", N, NKV, T, HS, QKV);
    bv_ = tensor(bwd_, "v", N, NKV, T, HS, QKV), bo_ = tensor(bwd_, "o", N, NH, T, HS, Y);
    bdo_ = tensor(bwd_, "do", N, NH, T, HS, Y), bstats_ = stats_tensor(bwd_);
    auto [dq, dk, dv] = bwd_.sdpa_backward(
        bq_, bk_, bv_, bo_, bdo_, bstats_,
        fe::graph::SDPA_backward_attributes().set_name("sdpa_backward").set_causal_mask(true).set_attn_scale(scale));
    dq->set_output(true).set_dim({N, NH, T, HS}).set_stride({T * QKV, HS, QKV, 1});
    dk->set_output(true).set_dim({N, NKV, T, HS}).set_stride({T * QKV, HS, QKV, 1});
    dv->set_output(true).set_dim({N, NKV, T, HS}).set_stride({T * QKV, HS, QKV, 1});
    dq_ = dq, dk_ = dk, dv_ = dv;
    build(bwd_);
  }
  ~CudnnSdpa() {
    if (handle_) cudnnDestroy(handle_);
  }
  CudnnSdpa(const CudnnSdpa&) = delete;
  CudnnSdpa& operator=(const CudnnSdpa&) = delete;

  // o (N,T,NH·HS) bf16, stats (N,NH,T) from qkv (N,T,QKV) bf16.
  void forward(__nv_bfloat16* o, float* stats, const __nv_bfloat16* qkv) {
    __nv_bfloat16* x = const_cast<__nv_bfloat16*>(qkv);
    std::unordered_map<std::shared_ptr<fe::graph::Tensor_attributes>, void*> pack = {
        {q_, x}, {k_, x + (size_t)NH_ * HS_}, {v_, x + (size_t)(NH_ + NKV_) * HS_}, {o_, o}, {stats_, stats}};
    execute(fwd_, pack);
  }
  // dqkv (N,T,QKV) bf16 from qkv, o, dout and the forward's stats.
  void backward(__nv_bfloat16* dqkv, const __nv_bfloat16* qkv, const __nv_bfloat16* o, const __nv_bfloat16* dout,
                const float* stats) {
    __nv_bfloat16* x = const_cast<__nv_bfloat16*>(qkv);
    const size_t kcol = (size_t)NH_ * HS_, vcol = (size_t)(NH_ + NKV_) * HS_;
    std::unordered_map<std::shared_ptr<fe::graph::Tensor_attributes>, void*> pack = {
        {bq_, x},
        {bk_, x + kcol},
        {bv_, x + vcol},
        {bo_, const_cast<__nv_bfloat16*>(o)},
        {bdo_, const_cast<__nv_bfloat16*>(dout)},
        {bstats_, const_cast<float*>(stats)},
        {dq_, dqkv},
        {dk_, dqkv + kcol},
        {dv_, dqkv + vcol}};
    execute(bwd_, pack);
  }

 private:
  using Tensor = std::shared_ptr<fe::graph::Tensor_attributes>;
  static void ok(bool good, const char* what) { ALIGN_ASSERT(good, "cuDNN SDPA: ", what, " failed"); }
  static void ok(fe::error_t e, const char* what) {  // by value: get_message() is not const
    ALIGN_ASSERT(e.is_good(), "cuDNN SDPA: ", what, ": ", e.get_message());
  }
  void build(fe::graph::Graph& g) {
    ok(g.validate(), "validate");
    ok(g.build_operation_graph(handle_), "build_operation_graph");
    ok(g.create_execution_plans({fe::HeurMode_t::A}), "create_execution_plans");
    ok(g.check_support(handle_), "check_support");
    ok(g.build_plans(handle_), "build_plans");
    int64_t bytes = 0;
    ok(g.get_workspace_size(bytes), "get_workspace_size");
    if ((size_t)bytes > workspace_.size()) workspace_ = cuda::DeviceBuffer<char>((size_t)bytes);
  }
  void execute(fe::graph::Graph& g, std::unordered_map<Tensor, void*>& pack) {
    ok(g.execute(handle_, pack, workspace_.data()), "execute");
  }

  int NH_, NKV_, HS_;
  cudnnHandle_t handle_ = nullptr;
  fe::graph::Graph fwd_, bwd_;
  Tensor q_, k_, v_, o_, stats_, bq_, bk_, bv_, bo_, bdo_, bstats_, dq_, dk_, dv_;
  cuda::DeviceBuffer<char> workspace_;
};

}  // namespace align::bench
