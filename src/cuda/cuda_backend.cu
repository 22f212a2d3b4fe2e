// cuda_backend.cu: the GPU forward and backward pass, kernel for kernel the
// sequence of the CPU reference (src/cpu/model_cpu.cpp), which specifies it.
// Packed and shared rows (batch.hpp): position ids go to the embedding and RoPE
// kernels, the visibility rule to the attention's softmax; the E extra
// predictions of a shared batch are E more rows of the loss layer, copies of
// their columns' final hidden states, whose gradients are added back to those
// columns (the CPU reference scores both targets from one row of logits; the
// sums are the same).
// Attention: in bf16 mode, for head dims 64 and 128, the flash kernels
// (kernels/flash_attention.cu), which keep only the output and a (N,NH,T)
// log-sum-exp per layer; fp32 mode and other head dims run the batched-GEMM
// attention (src/cuda/attention.cuh) with its (N,NH,T,T) probabilities.
#include <algorithm>
#include <cmath>

#include "cuda/attention.cuh"
#include "cuda/chunked_logprob.cuh"
#include "cuda/cuda_backend.hpp"
#include "cuda/device_buffer.cuh"
#include "cuda/matmul.cuh"
#include "dist/nccl.hpp"
#include "kernels/kernels.cuh"
#include "model/model_view.hpp"
#include "model/rope.hpp"
#include "train/optimizer.hpp"

namespace align::cuda {

namespace {

class CudaBackend final : public train::Backend {
 public:
  CudaBackend(const ModelConfig& c, std::span<const float> p, Precision precision)
      : c_(c),
        precision_(precision),
        table_(c),
        params_(table_.total_size()),
        grads_(table_.total_size()),
        host_params_(p.begin(), p.end()),
        host_grads_(table_.total_size(), 0.f) {
    c_.validate();
    ALIGN_ASSERT(p.size() == table_.total_size(), "parameters of size ", p.size());
    // A blocking stream on purpose: the uploads (DeviceBuffer::upload, cudaMemcpy on the legacy
    // stream) of pageable host memory may return before their DMA has landed, and only a
    // blocking stream is ordered after them. NCCL's stream is the one that runs beside it.
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault));
    params_.upload(host_params_);
    if (precision_ == Precision::BF16) {
      params_bf16_ = DeviceBuffer<__nv_bfloat16>(table_.total_size());
      refresh_bf16_weights();
    }
    CUDA_CHECK(cudaMemset(grads_.data(), 0, grads_.size() * sizeof(float)));
    w_ = make_model_view(table_, params_.data(), c_);
    g_ = make_model_view(table_, grads_.data(), c_);
    if (c_.arch == Arch::Llama) rope_ = DeviceBuffer<float>(rope_cos_sin_table<float>(c_));
    slices_ = table_.backward_slices();
  }
  ~CudaBackend() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  const ModelConfig& config() const override { return c_; }
  const TensorTable& table() const override { return table_; }

  std::span<float> params() override {
    sync_params_to_host();
    params_on_host_may_change_ = true;  // the caller (optimizer, resume) may write them
    return host_params_;
  }
  std::span<float> grads() override {
    if (!grads_on_host_) {
      CUDA_CHECK(cudaStreamSynchronize(stream_));
      host_grads_ = grads_.download();
      grads_on_host_ = true;
    }
    return host_grads_;
  }
  std::unique_ptr<train::Optimizer> make_optimizer(const train::AdamWOptions& options, Slice slice) override {
    return std::make_unique<DeviceAdamW>(*this, options, slice);
  }
  // ZeRO-1 over NCCL on the device buffers: copy into a buffer padded to ranks·count, run the
  // collective there, copy this rank's shard (or everything) back. Other communicators (MPI
  // ranks driving GPUs) go through the host mirrors, which are then pushed back to the device.
  void reduce_scatter_gradients(dist::Communicator& comm, const train::Shard& shard) override {
    auto* nccl = dynamic_cast<dist::NcclCommunicator*>(&comm);
    if (!nccl) {
      train::host_reduce_scatter_gradients(*this, comm, shard);
      grads_.upload(host_grads_);  // the device optimizer reads the device copy
      return;
    }
    float* padded = zero1_padded(comm.world_size(), shard);
    CUDA_CHECK(
        cudaMemcpyAsync(padded, grads_.data(), grads_.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // the collective runs on NCCL's stream
    nccl->reduce_scatter_sum(padded, shard.count);
    CUDA_CHECK(cudaMemcpyAsync(grads_.data() + shard.begin, padded + shard.begin, shard.slice().size() * sizeof(float),
                               cudaMemcpyDeviceToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    grads_on_host_ = false;
  }
  void all_gather_parameters(dist::Communicator& comm, const train::Shard& shard) override {
    auto* nccl = dynamic_cast<dist::NcclCommunicator*>(&comm);
    if (!nccl) return train::host_all_gather_parameters(*this, comm, shard);  // the next forward pushes them
    push_params();  // host changes first (there are none after a device step; kept for safety)
    float* padded = zero1_padded(comm.world_size(), shard);
    CUDA_CHECK(
        cudaMemcpyAsync(padded, params_.data(), params_.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    nccl->all_gather(padded, shard.count);
    CUDA_CHECK(
        cudaMemcpyAsync(params_.data(), padded, params_.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
    if (precision_ == Precision::BF16) refresh_bf16_weights();
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void set_gradient_reduction(dist::Communicator* comm) override {
    reduce_over_ = comm;
    nccl_ = dynamic_cast<dist::NcclCommunicator*>(comm);
  }
  void zero_grad() override {
    CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.size() * sizeof(float), stream_));
    std::fill(host_grads_.begin(), host_grads_.end(), 0.f);
    grads_on_host_ = false;
  }

  void forward(const Batch& batch, float* logp, TokenStats* stats) override {
    push_params();
    PreparedBatch b = prepare_batch(batch, c_.vocab_size, c_.max_seq_len);
    N_ = b.N, T_ = b.T, E_ = b.E;
    const int M = N_ * T_, C = c_.n_embd, L = c_.n_layer, E = E_;
    ensure(M);
    // The buffers may be larger than this batch (an earlier one was): fill their first elements.
    // The loss layer's targets: the M columns', then the E extra predictions'.
    b.targets.insert(b.targets.end(), b.extra_targets.begin(), b.extra_targets.end());
    tokens_.upload_prefix(b.tokens), targets_.upload_prefix(b.targets), lengths_.upload_prefix(b.lengths);
    positions_.upload_prefix(b.positions), seq_start_.upload_prefix(b.seq_start);
    prefix_start_.upload_prefix(b.prefix_start), prefix_end_.upload_prefix(b.prefix_end);
    if (E > 0) extra_at_.upload_prefix(b.extra_at);
    const VisibilityRule rule{lengths_.data(), seq_start_.data(), prefix_start_.data(), prefix_end_.data()};
    const cudaStream_t s = stream_;
    kernels::embedding_forward(act_resid_[0], tokens_.data(), positions_.data(), w_.tok_embed, w_.pos_embed, M, T_, C,
                               s);
    norm_forward(layers_[0].norm1, layers_[0].mean1, layers_[0].rstd1, act_resid_[0], w_.layers[0].attn_norm_w,
                 w_.layers[0].attn_norm_b, M);
    for (int l = 0; l < L; l++) {
      Layer& a = layers_[l];
      const LayerView<float>& w = w_.layers[l];
      linear_forward(a.qkv, a.norm1, w.qkv_w, w.qkv_b, M, C, c_.qkv_dim(), s);
      if (c_.arch == Arch::Llama)
        kernels::rope_apply(a.qkv, rope_.data(), positions_.data(), N_, T_, c_.n_head, c_.n_kv_head, c_.head_dim, 1.f,
                            s);
      attention_forward(a, rule, M);
      linear_forward(proj_, a.atty, w.attn_out_w, w.attn_out_b, M, c_.q_dim(), C, s);
      // mid = resid + attention, and its norm, in one kernel
      residual_norm_forward(a.mid, a.norm2, a.mean2, a.rstd2, act_resid_[l], proj_, w.mlp_norm_w, w.mlp_norm_b, M);
      linear_forward(a.mlp_pre, a.norm2, w.mlp_in_w, w.mlp_in_b, M, C, c_.mlp_in_dim(), s);
      if (c_.arch == Arch::GPT2)
        kernels::gelu_forward(a.mlp_act, a.mlp_pre, (int64_t)M * c_.ffn_dim, s);
      else
        kernels::swiglu_forward(a.mlp_act, a.mlp_pre, M, c_.ffn_dim, s);
      linear_forward(proj_, a.mlp_act, w.mlp_out_w, w.mlp_out_b, M, c_.ffn_dim, C, s);
      // the next residual = mid + MLP, with the norm that reads it: the next layer's first, or the final one
      if (l + 1 < L) {
        Layer& next = layers_[l + 1];
        residual_norm_forward(act_resid_[l + 1], next.norm1, next.mean1, next.rstd1, a.mid, proj_,
                              w_.layers[l + 1].attn_norm_w, w_.layers[l + 1].attn_norm_b, M);
      } else {
        residual_norm_forward(act_resid_[L], normf_, meanf_, rstdf_, a.mid, proj_, w_.final_norm_w, w_.final_norm_b, M);
      }
    }
    // The fused loss layer: LM head, log-probs and statistics over vocabulary chunks; no (M, V) logits.
    // Rows M..M+E-1 are the extra predictions' copies of their columns' hidden states.
    kernels::copy_rows(normf_, extra_at_.data(), M, E, C, s);
    const int rows = M + E;
    const DeviceTokenStats dstats =
        stats ? DeviceTokenStats{entropy_.data(), mean_logit_.data(), log_sum_sq_.data(), is_top1_.data()}
              : DeviceTokenStats{};
    if (precision_ == Precision::BF16) {
      kernels::to_bf16(in16_.data(), normf_, (int64_t)rows * C, s);
      loss16_.forward(logp_, lse_, dstats, in16_.data(), bf16_of(w_.lm_head), targets_.data(), rows, C, c_.vocab_size,
                      s);
    } else {
      loss_.forward(logp_, lse_, dstats, normf_, w_.lm_head, targets_.data(), rows, C, c_.vocab_size, s);
    }
    CUDA_CHECK(cudaMemcpyAsync(logp, logp_, sizeof(float) * rows, cudaMemcpyDeviceToHost, s));
    if (stats) {  // the buffers hold 2·capacity_M_ >= M + E rows
      CUDA_CHECK(cudaStreamSynchronize(s));
      stats->entropy = entropy_.download(), stats->mean_logit = mean_logit_.download();
      stats->log_sum_sq_probs = log_sum_sq_.download(), stats->is_top1 = is_top1_.download();
      for (std::vector<double>* v : {&stats->entropy, &stats->mean_logit, &stats->log_sum_sq_probs}) v->resize(rows);
      stats->is_top1.resize(rows);
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
    have_forward_ = true;
  }

  void backward(const float* dlogp) override {
    ALIGN_ASSERT(have_forward_, "backward() needs a forward() first");
    have_forward_ = false;
    const int M = N_ * T_, C = c_.n_embd, L = c_.n_layer, rows = M + E_;
    const VisibilityRule rule{lengths_.data(), seq_start_.data(), prefix_start_.data(), prefix_end_.data()};
    const cudaStream_t s = stream_;
    CUDA_CHECK(cudaMemcpyAsync(logp_, dlogp, sizeof(float) * rows, cudaMemcpyHostToDevice, s));
    if (precision_ == Precision::BF16) {
      kernels::to_bf16(in16_.data(), normf_, (int64_t)rows * C, s);
      loss16_.backward(dnorm_, g_.lm_head, logp_, in16_.data(), bf16_of(w_.lm_head), lse_, targets_.data(), rows, C,
                       c_.vocab_size, false, s);
    } else {
      loss_.backward(dnorm_, g_.lm_head, logp_, normf_, w_.lm_head, lse_, targets_.data(), rows, C, c_.vocab_size,
                     false, s);
    }
    kernels::add_rows(dnorm_, extra_at_.data(), M, E_, C, s);  // each extra row's gradient back to its column
    CUDA_CHECK(cudaMemsetAsync(dx_, 0, sizeof(float) * M * C, s));
    norm_backward(dx_, g_.final_norm_w, g_.final_norm_b, dnorm_, act_resid_[L], w_.final_norm_w, meanf_, rstdf_, M);
    slice_done(0);  // the final norm and an untied head
    for (int l = L - 1; l >= 0; l--) {
      Layer& a = layers_[l];
      const LayerView<float>& w = w_.layers[l];
      const LayerView<float>& g = g_.layers[l];
      linear_backward(dact_, g.mlp_out_w, g.mlp_out_b, dx_, a.mlp_act, w.mlp_out_w, M, c_.ffn_dim, C, false, s);
      if (c_.arch == Arch::GPT2)
        kernels::gelu_backward(dpre_, a.mlp_pre, dact_, (int64_t)M * c_.ffn_dim, s);
      else
        kernels::swiglu_backward(dpre_, a.mlp_pre, dact_, M, c_.ffn_dim, s);
      linear_backward(dnorm_, g.mlp_in_w, g.mlp_in_b, dpre_, a.norm2, w.mlp_in_w, M, C, c_.mlp_in_dim(), false, s);
      norm_backward(dx_, g.mlp_norm_w, g.mlp_norm_b, dnorm_, a.mid, w.mlp_norm_w, a.mean2, a.rstd2, M);
      linear_backward(datty_, g.attn_out_w, g.attn_out_b, dx_, a.atty, w.attn_out_w, M, c_.q_dim(), C, false, s);
      attention_backward(a, rule, M);
      if (c_.arch == Arch::Llama)
        kernels::rope_apply(dqkv_, rope_.data(), positions_.data(), N_, T_, c_.n_head, c_.n_kv_head, c_.head_dim, -1.f,
                            s);
      linear_backward(dnorm_, g.qkv_w, g.qkv_b, dqkv_, a.norm1, w.qkv_w, M, C, c_.qkv_dim(), false, s);
      norm_backward(dx_, g.attn_norm_w, g.attn_norm_b, dnorm_, act_resid_[l], w.attn_norm_w, a.mean1, a.rstd1, M);
      slice_done(L - l);  // layer l
    }
    kernels::embedding_backward(g_.tok_embed, g_.pos_embed, dx_, tokens_.data(), positions_.data(), lengths_.data(), M,
                                T_, C, s);
    slice_done(L + 1);  // the embeddings (and a tied head)
    CUDA_CHECK(cudaStreamSynchronize(s));
    grads_on_host_ = false;
    if (nccl_)
      nccl_->wait_async();
    else if (reduce_over_)
      sum_on_host();
  }

 private:
  // AdamW on the device over the whole flat buffer (kernels/optimizer.cu): moments in device
  // memory, the global norm's sum of squares by a deterministic kernel, the checkpoint format
  // of adamw.hpp (one writer for both optimizers). Only the step's scalars cross PCIe.
  class DeviceAdamW final : public train::Optimizer {
   public:
    DeviceAdamW(CudaBackend& b, const train::AdamWOptions& o, Slice slice)
        : b_(b), o_(o), slice_(slice), n_(slice.size()), m_(n_), v_(n_), sq_(1), scratch_(1024) {
      CUDA_CHECK(cudaMemset(m_.data(), 0, n_ * sizeof(float)));
      CUDA_CHECK(cudaMemset(v_.data(), 0, n_ * sizeof(float)));
      std::vector<uint8_t> decay(n_, 0);  // the slice's part of each decayed tensor
      for (const TensorSpec& t : b.table_.tensors()) {
        const size_t from = std::max(t.offset, slice.begin), to = std::min(t.offset + t.numel, slice.end);
        if (t.decay && from < to)
          std::fill(decay.begin() + (from - slice.begin), decay.begin() + (to - slice.begin), 1);
      }
      decay_ = DeviceBuffer<uint8_t>(decay);
    }
    Slice slice() const override { return slice_; }
    double grad_sq_sum() override {
      kernels::sum_of_squares(sq_.data(), scratch_.data(), b_.grads_.data() + slice_.begin, n_, b_.stream_);
      CUDA_CHECK(cudaStreamSynchronize(b_.stream_));
      return sq_.download()[0];
    }
    void step(double lr, float grad_scale) override {
      b_.push_params();  // parameters set on the host (a resume) reach the device first
      t_++;
      const double bc1 = 1.0 - std::pow(o_.beta1, (double)t_), bc2 = 1.0 - std::pow(o_.beta2, (double)t_);
      kernels::adamw_step(b_.params_.data() + slice_.begin, m_.data(), v_.data(), b_.grads_.data() + slice_.begin,
                          decay_.data(), n_, (float)lr, (float)o_.beta1, (float)o_.beta2, (float)o_.eps,
                          (float)o_.weight_decay, (float)bc1, (float)bc2, grad_scale, b_.stream_);
      if (b_.precision_ == Precision::BF16) b_.refresh_bf16_weights();
      CUDA_CHECK(cudaStreamSynchronize(b_.stream_));  // params() now downloads the updated values
    }
    int64_t steps() const override { return t_; }
    void save(const std::string& path) const override {
      train::save_adamw_state(path, t_, m_.download(), v_.download());
    }
    void load(const std::string& path) override {
      std::vector<float> m(n_), v(n_);
      t_ = train::load_adamw_state(path, m, v);
      m_.upload(m), v_.upload(v);
    }

   private:
    CudaBackend& b_;
    train::AdamWOptions o_;
    Slice slice_;
    size_t n_;
    DeviceBuffer<float> m_, v_, sq_, scratch_;
    DeviceBuffer<uint8_t> decay_;
    int64_t t_ = 0;
  };

  struct Layer {                   // what the backward pass needs of each layer, carved from arena_
    float *norm1, *mean1, *rstd1;  // (M,C), (M), (M): attention norm output and its statistics
    float *qkv, *att, *atty;       // (M, qkv_dim), (N,NH,T,T) probabilities or flash's (N,NH,T) lse, (M, q_dim)
    float* mid;                    // (M,C) residual after attention
    float *norm2, *mean2, *rstd2;  // (M,C), (M), (M)
    float *mlp_pre, *mlp_act;      // (M, mlp_in_dim), (M, F)
  };

  // The linear layers. fp32: cuBLASLt in float. bf16 (mixed precision, as torch.autocast):
  // the input (and in the backward dout) is cast to bf16 into a scratch buffer, the weight is
  // the bf16 copy of the fp32 master, and the tensor-core product accumulates and lands in
  // float; activations, gradients and everything outside the matmuls stay float32.
  void linear_forward(float* out, const float* inp, const float* w, const float* b, int M, int K, int N,
                      cudaStream_t s) {
    if (precision_ == Precision::FP32) return mm_.forward(out, inp, w, b, M, K, N, s);
    kernels::to_bf16(in16_.data(), inp, (int64_t)M * K, s);
    mm_.forward(out, (const __nv_bfloat16*)in16_.data(), bf16_of(w), b, M, K, N, s);
  }
  void linear_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w, int M,
                       int K, int N, bool accumulate_dinp, cudaStream_t s) {
    if (precision_ == Precision::FP32) return mm_.backward(dinp, dw, db, dout, inp, w, M, K, N, accumulate_dinp, s);
    kernels::to_bf16(out16_.data(), dout, (int64_t)M * N, s);
    kernels::to_bf16(in16_.data(), inp, (int64_t)M * K, s);
    mm_.backward(dinp, dw, db, (const __nv_bfloat16*)out16_.data(), (const __nv_bfloat16*)in16_.data(), bf16_of(w), M,
                 K, N, accumulate_dinp, s);
  }
  // Attention of layer a: flash (bf16 operands cast into in16_/out16_ here, in the backward
  // again from the fp32 activations) or the batched GEMMs.
  void attention_forward(Layer& a, const VisibilityRule& rule, int M) {
    if (!flash_)
      return attention_.forward(a.atty, a.att, a.qkv, rule, N_, T_, c_.n_head, c_.n_kv_head, c_.head_dim, stream_);
    kernels::to_bf16(in16_.data(), a.qkv, (int64_t)M * c_.qkv_dim(), stream_);
    kernels::flash_attention_forward(a.atty, a.att, in16_.data(), rule, N_, T_, c_.n_head, c_.n_kv_head, c_.head_dim,
                                     stream_);
  }
  void attention_backward(Layer& a, const VisibilityRule& rule, int M) {
    if (!flash_)
      return attention_.backward(dqkv_, ds_, datty_, a.qkv, a.att, rule, N_, T_, c_.n_head, c_.n_kv_head, c_.head_dim,
                                 stream_);
    kernels::to_bf16(in16_.data(), a.qkv, (int64_t)M * c_.qkv_dim(), stream_);
    kernels::to_bf16(out16_.data(), datty_, (int64_t)M * c_.q_dim(), stream_);
    kernels::flash_attention_backward(dqkv_, ds_, datty_, out16_.data(), a.atty, in16_.data(), a.att, rule, N_, T_,
                                      c_.n_head, c_.n_kv_head, c_.head_dim, stream_);
  }

  // The bf16 copy of a weight: the same offset in the bf16 buffer.
  const __nv_bfloat16* bf16_of(const float* w) const { return params_bf16_.data() + (w - params_.data()); }
  void refresh_bf16_weights() {
    kernels::to_bf16(params_bf16_.data(), params_.data(), (int64_t)params_.size(), stream_);
  }

  void norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int M) {
    if (c_.arch == Arch::GPT2)
      kernels::layernorm_forward(out, mean, rstd, inp, w, b, M, c_.n_embd, c_.norm_eps, stream_);
    else
      kernels::rmsnorm_forward(out, rstd, inp, w, M, c_.n_embd, c_.norm_eps, stream_);
  }
  // sum = a + b (the residual stream) fused with the norm of sum.
  void residual_norm_forward(float* sum, float* out, float* mean, float* rstd, const float* a, const float* b,
                             const float* w, const float* bias, int M) {
    if (c_.arch == Arch::GPT2)
      kernels::residual_layernorm_forward(sum, out, mean, rstd, a, b, w, bias, M, c_.n_embd, c_.norm_eps, stream_);
    else
      kernels::residual_rmsnorm_forward(sum, out, rstd, a, b, w, M, c_.n_embd, c_.norm_eps, stream_);
  }
  // The residual gradient accumulates (dinp += ...), as in the CPU reference.
  void norm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                     const float* mean, const float* rstd, int M) {
    if (c_.arch == Arch::GPT2)
      kernels::layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, M, c_.n_embd, true, stream_);
    else
      kernels::rmsnorm_backward(dinp, dw, dout, inp, w, rstd, M, c_.n_embd, true, stream_);
  }

  // ZeRO-1's exchange buffer: ranks·count floats, the tail past the flat buffer zero.
  float* zero1_padded(int ranks, const train::Shard& shard) {
    const size_t n = (size_t)ranks * shard.count;
    if (zero1_.size() != n) {
      zero1_ = DeviceBuffer<float>(n);
      CUDA_CHECK(cudaMemset(zero1_.data(), 0, n * sizeof(float)));
    }
    return zero1_.data();
  }
  // Slice k of table_.backward_slices() is final on stream_: with NCCL, its sum over the
  // ranks starts now on the communicator's stream while stream_ goes on with the next layer.
  void slice_done(int k) {
    if (nccl_) nccl_->all_reduce_sum_async(grads_.data() + slices_[k].begin, slices_[k].size(), stream_);
  }
  // A host communicator (MPI ranks that drive GPUs): sum the host mirror slice by slice, then
  // put the sums back on the device so both copies agree.
  void sum_on_host() {
    std::span<float> g = grads();
    for (const Slice& x : slices_) reduce_over_->all_reduce_sum(g.data() + x.begin, x.size());
    grads_.upload(host_grads_);
  }

  // Activations for N·T positions, (re)carved when the batch outgrows the arena. Each piece
  // starts on a 64-float (256-byte) boundary, the alignment cuBLASLt's fast kernels want.
  void ensure(int M) {
    // Per layer: the probabilities (N,NH,T,T), or flash's log-sum-exp (N,NH,T); ds_ likewise.
    const size_t att = (size_t)N_ * c_.n_head * T_ * (flash_ ? 1 : T_);
    if ((size_t)M <= capacity_M_ && att <= capacity_att_ && (size_t)N_ <= capacity_N_) return;
    capacity_M_ = std::max(capacity_M_, (size_t)M), capacity_att_ = std::max(capacity_att_, att);
    capacity_N_ = std::max(capacity_N_, (size_t)N_);
    const size_t m = capacity_M_, C = c_.n_embd, natt = capacity_att_;
    for (int pass = 0; pass < 2; pass++) {  // 0: measure, 1: allocate and assign
      size_t used = 0;
      auto take = [&](size_t n) -> float* {
        float* p = pass ? arena_.data() + used : nullptr;
        used += (n + 63) / 64 * 64;
        return p;
      };
      act_resid_.assign(c_.n_layer + 1, nullptr);
      for (float*& r : act_resid_) r = take(m * C);
      layers_.assign(c_.n_layer, Layer{});
      for (Layer& a : layers_) {
        a.norm1 = take(m * C), a.mean1 = take(m), a.rstd1 = take(m), a.qkv = take(m * c_.qkv_dim());
        a.att = take(natt), a.atty = take(m * c_.q_dim()), a.mid = take(m * C), a.norm2 = take(m * C);
        a.mean2 = take(m), a.rstd2 = take(m), a.mlp_pre = take(m * c_.mlp_in_dim()), a.mlp_act = take(m * c_.ffn_dim);
      }
      // The loss layer's rows: M columns and up to M extra predictions (each on a distinct column).
      proj_ = take(m * C), normf_ = take(2 * m * C), meanf_ = take(m), rstdf_ = take(m), lse_ = take(2 * m);
      logp_ = take(2 * m);
      dx_ = take(m * C), dnorm_ = take(2 * m * C), dact_ = take(m * c_.ffn_dim), dpre_ = take(m * c_.mlp_in_dim());
      datty_ = take(m * c_.q_dim()), dqkv_ = take(m * c_.qkv_dim()), ds_ = take(natt);
      if (pass == 0) arena_ = DeviceBuffer<float>(used);
    }
    entropy_ = DeviceBuffer<double>(2 * m), mean_logit_ = DeviceBuffer<double>(2 * m);
    log_sum_sq_ = DeviceBuffer<double>(2 * m), is_top1_ = DeviceBuffer<uint8_t>(2 * m);
    if (precision_ == Precision::BF16) {  // the widest matmul operand: inputs (M, K), douts (M, N), the head's (2M, C)
      const size_t widest =
          std::max({2 * C, (size_t)c_.q_dim(), (size_t)c_.ffn_dim, (size_t)c_.qkv_dim(), (size_t)c_.mlp_in_dim()});
      in16_ = DeviceBuffer<__nv_bfloat16>(m * widest), out16_ = DeviceBuffer<__nv_bfloat16>(m * widest);
    }
    tokens_ = DeviceBuffer<int32_t>(m), targets_ = DeviceBuffer<int32_t>(2 * m),
    lengths_ = DeviceBuffer<int32_t>(capacity_N_);
    positions_ = DeviceBuffer<int32_t>(m), seq_start_ = DeviceBuffer<int32_t>(m), extra_at_ = DeviceBuffer<int32_t>(m);
    prefix_start_ = DeviceBuffer<int32_t>(m), prefix_end_ = DeviceBuffer<int32_t>(m);
  }
  void sync_params_to_host() {
    if (params_on_host_may_change_) return;  // the host copy is the newest
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    host_params_ = params_.download();
  }
  void push_params() {
    if (!params_on_host_may_change_) return;
    params_.upload(host_params_);
    if (precision_ == Precision::BF16) {
      params_bf16_ = DeviceBuffer<__nv_bfloat16>(table_.total_size());
      refresh_bf16_weights();
    }
    params_on_host_may_change_ = false;
  }

  ModelConfig c_;
  Precision precision_;
  TensorTable table_;
  Matmul mm_;
  BatchedAttention attention_{precision_ == Precision::BF16};  // after precision_
  const bool flash_ = precision_ == Precision::BF16 && kernels::flash_attention_supported(c_.head_dim);
  ChunkedLogprob<float> loss_{mm_};                         // after mm_, which they use
  ChunkedLogprob<__nv_bfloat16> loss16_{mm_};               // the bf16 mode's
  DeviceBuffer<__nv_bfloat16> params_bf16_, in16_, out16_;  // bf16: weights; cast matmul operands
  cudaStream_t stream_ = nullptr;
  DeviceBuffer<float> params_, grads_, rope_;
  std::vector<float> host_params_, host_grads_;
  bool params_on_host_may_change_ = false, grads_on_host_ = false, have_forward_ = false;
  ModelView<float> w_, g_;
  int N_ = 0, T_ = 0, E_ = 0;                                  // E_: extra predictions of the last forward
  size_t capacity_M_ = 0, capacity_att_ = 0, capacity_N_ = 0;  // what the arena holds
  // Every float activation and activation gradient lives in one allocation, carved in ensure().
  DeviceBuffer<float> arena_;
  std::vector<float*> act_resid_;  // L+1 of (M, C): layer inputs, then the final residual
  std::vector<Layer> layers_;
  float *proj_ = nullptr, *normf_ = nullptr;                  // (M, C), (M + E, C)
  float *meanf_ = nullptr, *rstdf_ = nullptr;                 // (M)
  float *lse_ = nullptr, *logp_ = nullptr;                    // (M + E); logp_ holds dlogp in backward()
  float *dx_ = nullptr, *dnorm_ = nullptr;                    // (M, C), (M + E, C)
  float *dact_ = nullptr, *dpre_ = nullptr;                   // (M, F), (M, mlp_in_dim)
  float *datty_ = nullptr, *dqkv_ = nullptr, *ds_ = nullptr;  // (M, q_dim), (M, qkv_dim), (N,NH,T,T) or (N,NH,T)
  DeviceBuffer<double> entropy_, mean_logit_, log_sum_sq_;    // (M + E) token statistics
  DeviceBuffer<uint8_t> is_top1_;                             // (M + E)
  DeviceBuffer<int32_t> tokens_, targets_, lengths_;          // (M), (M + E), (N)
  DeviceBuffer<int32_t> positions_, seq_start_, prefix_start_, prefix_end_;  // (M) the rows' layout (batch.hpp)
  DeviceBuffer<int32_t> extra_at_;                                           // (E) columns of the extra predictions
  std::vector<Slice> slices_;                  // table_.backward_slices(), in backward order
  dist::Communicator* reduce_over_ = nullptr;  // data parallel: sum gradients in backward()
  dist::NcclCommunicator* nccl_ = nullptr;     // the same, when it is NCCL (overlapped)
  DeviceBuffer<float> zero1_;                  // ZeRO-1 exchanges over NCCL (zero1_padded)
};

}  // namespace

std::unique_ptr<train::Backend> make_cuda_backend(const ModelConfig& config, std::span<const float> params,
                                                  Precision precision) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  ALIGN_REQUIRE(e == cudaSuccess && n > 0, "--device cuda: no usable CUDA device (",
                e == cudaSuccess ? "none found" : cudaGetErrorString(e), ")");
  return std::make_unique<CudaBackend>(config, params, precision);
}

}  // namespace align::cuda
