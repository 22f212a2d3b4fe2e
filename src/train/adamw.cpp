// adamw.cpp: AdamW and the gradient norm (adamw.hpp).
#include "train/adamw.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/binary_fields.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "dist/communicator.hpp"
#include "train/backend.hpp"
#include "train/optimizer.hpp"

namespace align::train {

AdamW::AdamW(const TensorTable& table, const AdamWOptions& opt, size_t begin, size_t end) : opt_(opt), begin_(begin) {
  end = std::min(end, table.total_size());
  begin_ = std::min(begin, end);
  const size_t n = end - begin_;
  decay_.assign(n, 0), m_.assign(n, 0.f), v_.assign(n, 0.f);
  for (const TensorSpec& t : table.tensors()) {
    if (!t.decay) continue;
    const size_t b = std::max(t.offset, begin_), e = std::min(t.offset + t.numel, end);
    if (b < e) std::fill(decay_.begin() + (b - begin_), decay_.begin() + (e - begin_), 1);
  }
}

void AdamW::step(std::span<float> p, std::span<const float> g, double lr, float grad_scale) {
  ALIGN_ASSERT(p.size() == m_.size() && g.size() == m_.size(), "optimizer sized for ", m_.size());
  t_++;
  const double bc1 = 1.0 - std::pow(opt_.beta1, (double)t_), bc2 = 1.0 - std::pow(opt_.beta2, (double)t_);
  const float b1 = (float)opt_.beta1, b2 = (float)opt_.beta2;
  const float step_size = (float)(lr / bc1), decay = (float)(lr * opt_.weight_decay);
  const float inv_sqrt_bc2 = (float)(1.0 / std::sqrt(bc2)), eps = (float)opt_.eps;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < p.size(); i++) {
    const float gi = grad_scale == 1.f ? g[i] : g[i] * grad_scale;
    if (decay_[i]) p[i] -= decay * p[i];
    m_[i] = b1 * m_[i] + (1.f - b1) * gi;
    v_[i] = b2 * v_[i] + (1.f - b2) * gi * gi;
    p[i] -= step_size * m_[i] / (std::sqrt(v_[i]) * inv_sqrt_bc2 + eps);
  }
}

namespace {
constexpr char kMagic[8] = {'A', 'L', 'I', 'G', 'N', 'O', 'P', 'T'};
}

void save_adamw_state(const std::string& path, int64_t t, std::span<const float> m, std::span<const float> v) {
  uint8_t h[32] = {};
  std::memcpy(h, kMagic, 8);
  put_field<uint32_t>(h, 8, 1);
  put_field<int64_t>(h, 16, t);
  put_field<uint64_t>(h, 24, m.size());
  write_file_atomic(path, [&](std::FILE* fp) {
    write_all(fp, h, sizeof(h), path);
    write_all(fp, m.data(), 4 * m.size(), path);
    write_all(fp, v.data(), 4 * v.size(), path);
  });
}

int64_t load_adamw_state(const std::string& path, std::span<float> m, std::span<float> v) {
  const std::vector<uint8_t> b = read_file_bytes(path);
  ALIGN_REQUIRE(b.size() >= 32 && std::memcmp(b.data(), kMagic, 8) == 0, path, ": not an align.cu optimizer state");
  ALIGN_REQUIRE(read_field<uint32_t>(b.data(), 8) == 1, path, ": optimizer state version ",
                read_field<uint32_t>(b.data(), 8), ", expected 1");
  const uint64_t n = read_field<uint64_t>(b.data(), 24);
  ALIGN_REQUIRE(n == m.size(), path, ": optimizer state for ", n, " parameters, the model has ", m.size());
  ALIGN_REQUIRE(b.size() == 32 + 8 * n, path, ": file is ", b.size(), " bytes, expected ", 32 + 8 * n, " (truncated?)");
  const int64_t t = read_field<int64_t>(b.data(), 16);
  ALIGN_REQUIRE(t >= 0, path, ": optimizer step count ", t, ", expected >= 0");
  std::memcpy(m.data(), b.data() + 32, 4 * n);
  std::memcpy(v.data(), b.data() + 32 + 4 * n, 4 * n);
  // The moments of a healthy run are finite and v >= 0; anything else would turn into NaN weights.
  for (uint64_t i = 0; i < n; i++) {
    ALIGN_REQUIRE(std::isfinite(m[i]), path, ": first moment m[", i, "] = ", m[i], ", expected a finite number");
    ALIGN_REQUIRE(std::isfinite(v[i]) && v[i] >= 0, path, ": second moment v[", i, "] = ", v[i],
                  ", expected a finite number >= 0");
  }
  return t;
}

void AdamW::save(const std::string& path) const {
  save_adamw_state(path, t_, m_, v_);
}

void AdamW::load(const std::string& path) {
  t_ = load_adamw_state(path, m_, v_);
}

double global_grad_norm(std::span<const float> g) {
  double s = 0;
  for (float x : g) s += (double)x * x;
  return std::sqrt(s);
}

namespace {
class HostAdamW final : public Optimizer {
 public:
  HostAdamW(Backend& b, const AdamWOptions& o, Slice s)
      : backend_(b), slice_(s), adamw_(b.table(), o, s.begin, s.end) {}
  Slice slice() const override { return slice_; }
  double grad_sq_sum() override {
    double sq = 0;
    for (float g : backend_.grads().subspan(slice_.begin, slice_.size())) sq += (double)g * g;
    return sq;
  }
  void step(double lr, float grad_scale) override {
    adamw_.step(backend_.params().subspan(slice_.begin, slice_.size()),
                backend_.grads().subspan(slice_.begin, slice_.size()), lr, grad_scale);
  }
  int64_t steps() const override { return adamw_.steps(); }
  void save(const std::string& path) const override { adamw_.save(path); }
  void load(const std::string& path) override { adamw_.load(path); }

 private:
  Backend& backend_;
  Slice slice_;
  AdamW adamw_;
};
}  // namespace

std::unique_ptr<Optimizer> make_host_adamw(Backend& backend, const AdamWOptions& options, Slice slice) {
  return std::make_unique<HostAdamW>(backend, options, slice);
}

Shard shard_of(size_t total, int rank, int ranks) {
  Shard s;
  s.count = (total + ranks - 1) / ranks;
  s.begin = std::min(total, (size_t)rank * s.count);
  s.end = std::min(total, s.begin + s.count);
  return s;
}

void host_reduce_scatter_gradients(Backend& backend, dist::Communicator& comm, const Shard& shard) {
  const std::span<float> grads = backend.grads();
  std::vector<float> padded((size_t)comm.world_size() * shard.count, 0.f);
  std::copy(grads.begin(), grads.end(), padded.begin());
  comm.reduce_scatter_sum(padded.data(), shard.count);
  std::copy(padded.begin() + shard.begin, padded.begin() + shard.end, grads.begin() + shard.begin);
}

void host_all_gather_parameters(Backend& backend, dist::Communicator& comm, const Shard& shard) {
  const std::span<float> params = backend.params();
  std::vector<float> padded((size_t)comm.world_size() * shard.count, 0.f);
  std::copy(params.begin(), params.end(), padded.begin());
  comm.all_gather(padded.data(), shard.count);
  std::copy(padded.begin(), padded.begin() + params.size(), params.begin());
}

}  // namespace align::train
