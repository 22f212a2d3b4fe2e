// test_flash_attention.cu: the flash attention kernels (kernels/flash_attention.cu)
// against the CPU reference (src/cpu/attention.cpp, float64) run on the same
// bf16-rounded q, k, v and dout: output, log-sum-exp and dQ, dK, dV for MHA,
// GQA and MQA, head dims 64 and 128, T not a multiple of the tiles, lengths 1
// and T, padded rows, packed rows and shared-prompt rows. The CPU attention
// knows only causal rows, so a row with the visibility rule is cut into the
// causal sequences its queries see (a packed sequence; [prompt | chosen] and
// [prompt | rejected] of a shared row, the prompt's queries counted once), the
// reference runs on each and the gradients are summed back. Outputs are
// poisoned with NaN first; every run repeats under the reverse schedule and
// must give the same bits.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/bf16.hpp"
#include "common/rng.hpp"
#include "cpu/ops.hpp"
#include "cuda/check.cuh"
#include "cuda/device_buffer.cuh"
#include "float_checks.hpp"
#include "kernels/kernels.cuh"
#include "schedules.hpp"

namespace align {
namespace {

using cuda::DeviceBuffer;

// A causal sequence inside a row: its columns in order; queries at positions >= owned_from
// are this sequence's own (the others, a shared prompt, belong to an earlier one).
struct Sequence {
  std::vector<int> cols;
  int owned_from = 0;
};

struct Layout {
  int N = 0, T = 0;
  bool visibility = false;  // pass the three arrays (else null: causal over lengths)
  std::vector<int32_t> lengths, seq_start, prefix_start, prefix_end;
  std::vector<std::vector<Sequence>> rows;

  explicit Layout(int T_) : T(T_) {}
  int add_row(int length) {
    lengths.push_back(length);
    seq_start.resize((size_t)(N + 1) * T, 0), prefix_start.resize((size_t)(N + 1) * T, 0);
    prefix_end.resize((size_t)(N + 1) * T, 0);
    rows.emplace_back();
    return N++;
  }
  // One causal sequence over the first `length` columns.
  void causal(int length) {
    const int n = add_row(length);
    Sequence s;
    for (int j = 0; j < length; j++) s.cols.push_back(j);
    rows[n].push_back(s);
  }
  // Sequences of these lengths one after another.
  void packed(const std::vector<int>& lens) {
    int total = 0;
    for (int l : lens) total += l;
    const int n = add_row(total);
    visibility = true;
    int start = 0;
    for (int l : lens) {
      Sequence s;
      for (int j = start; j < start + l; j++) s.cols.push_back(j), seq_start[(size_t)n * T + j] = start;
      rows[n].push_back(s);
      start += l;
    }
  }
  // [prompt | chosen | rejected]: the rejected answer sees the prompt and itself.
  void shared(int prompt, int chosen, int rejected) {
    const int n = add_row(prompt + chosen + rejected);
    visibility = true;
    Sequence first, second;
    for (int j = 0; j < prompt + chosen; j++) first.cols.push_back(j);
    for (int j = 0; j < prompt; j++) second.cols.push_back(j);
    second.owned_from = prompt;
    for (int j = prompt + chosen; j < prompt + chosen + rejected; j++) {
      second.cols.push_back(j);
      const size_t i = (size_t)n * T + j;
      seq_start[i] = prompt + chosen, prefix_start[i] = 0, prefix_end[i] = prompt;
    }
    rows[n].push_back(first), rows[n].push_back(second);
  }
};

struct Shape {
  int NH, NKV, HS;
};

struct Result {
  std::vector<float> out, lse, dqkv;
};

struct Case {
  const Layout& L;
  Shape sh;
  std::vector<float> qkv, dout;  // bf16-rounded values
  int QKV() const { return (sh.NH + 2 * sh.NKV) * sh.HS; }

  Case(const Layout& layout, Shape shape, uint64_t seed) : L(layout), sh(shape) {
    qkv = test::randn((size_t)L.N * L.T * QKV(), seed);
    dout = test::randn((size_t)L.N * L.T * sh.NH * sh.HS, seed + 1);
    for (float& x : qkv) x = bf16_to_float(float_to_bf16(x));
    for (float& x : dout) x = bf16_to_float(float_to_bf16(x));
  }

  // The CPU reference in float64, one causal sequence at a time.
  Result reference() const {
    const int T = L.T, NH = sh.NH, NKV = sh.NKV, HS = sh.HS, QKV_ = QKV(), Y = NH * HS;
    Result r;
    r.out.assign((size_t)L.N * T * Y, 0.f), r.lse.assign((size_t)L.N * NH * T, 0.f);
    std::vector<double> dqkv((size_t)L.N * T * QKV_, 0.0);
    for (int n = 0; n < L.N; n++)
      for (const Sequence& s : L.rows[n]) {
        const int len = (int)s.cols.size();
        std::vector<double> q((size_t)len * QKV_), dy((size_t)len * Y, 0.0), o((size_t)len * Y),
            att((size_t)NH * len * len), dq((size_t)len * QKV_);
        for (int i = 0; i < len; i++) {
          const int t = s.cols[i];
          for (int c = 0; c < QKV_; c++) q[(size_t)i * QKV_ + c] = qkv[((size_t)n * T + t) * QKV_ + c];
          if (i >= s.owned_from)
            for (int c = 0; c < Y; c++) dy[(size_t)i * Y + c] = dout[((size_t)n * T + t) * Y + c];
        }
        const int32_t lengths[1] = {len};
        const cpu::AttentionRule causal = cpu::AttentionRule::causal(lengths, 1, len);
        cpu::attention_forward<double>(o.data(), att.data(), q.data(), causal, NH, NKV, HS);
        cpu::attention_backward<double>(dq.data(), dy.data(), q.data(), att.data(), causal, NH, NKV, HS);
        for (int i = 0; i < len; i++) {
          const int t = s.cols[i];
          for (int c = 0; c < QKV_; c++) dqkv[((size_t)n * T + t) * QKV_ + c] += dq[(size_t)i * QKV_ + c];
          if (i < s.owned_from) continue;
          for (int c = 0; c < Y; c++) r.out[((size_t)n * T + t) * Y + c] = (float)o[(size_t)i * Y + c];
          for (int h = 0; h < NH; h++) {  // lse = log Σ_j e^{q·k_j/√HS} over the keys the query sees
            const int g = h / (NH / NKV);
            std::vector<double> s_j;
            double mx = -INFINITY;
            for (int j = 0; j <= i; j++) {
              double d = 0;
              for (int e = 0; e < HS; e++)
                d += q[(size_t)i * QKV_ + h * HS + e] * q[(size_t)j * QKV_ + (NH + g) * HS + e];
              s_j.push_back(d / std::sqrt((double)HS)), mx = std::max(mx, s_j.back());
            }
            double sum = 0;
            for (double x : s_j) sum += std::exp(x - mx);
            r.lse[((size_t)n * NH + h) * T + t] = (float)(mx + std::log(sum));
          }
        }
      }
    r.dqkv.assign(dqkv.begin(), dqkv.end());
    return r;
  }

  Result run(bool with_arrays) const {
    const int N = L.N, T = L.T;
    std::vector<__nv_bfloat16> q16(qkv.size()), dy16(dout.size());
    for (size_t i = 0; i < qkv.size(); i++) q16[i] = __float2bfloat16_rn(qkv[i]);
    for (size_t i = 0; i < dout.size(); i++) dy16[i] = __float2bfloat16_rn(dout[i]);
    DeviceBuffer<__nv_bfloat16> dq16(q16), ddy16(dy16);
    DeviceBuffer<float> ddy(dout), out(dout.size()), lse((size_t)N * sh.NH * T), delta((size_t)N * sh.NH * T),
        dqkv(qkv.size());
    DeviceBuffer<int32_t> len(L.lengths), ss(L.seq_start), ps(L.prefix_start), pe(L.prefix_end);
    out.poison(), lse.poison(), delta.poison(), dqkv.poison();
    const VisibilityRule rule =
        with_arrays ? VisibilityRule{len.data(), ss.data(), ps.data(), pe.data()} : VisibilityRule{len.data()};
    kernels::flash_attention_forward(out.data(), lse.data(), dq16.data(), rule, N, T, sh.NH, sh.NKV, sh.HS, 0);
    kernels::flash_attention_backward(dqkv.data(), delta.data(), ddy.data(), ddy16.data(), out.data(), dq16.data(),
                                      lse.data(), rule, N, T, sh.NH, sh.NKV, sh.HS, 0);
    CUDA_CHECK(cudaDeviceSynchronize());
    return Result{out.download(), lse.download(), dqkv.download()};
  }
};

double max_abs(const std::vector<float>& v, size_t begin = 0, size_t stride = 1, size_t width = 0) {
  double m = 0;
  for (size_t i = 0; i < v.size(); i++)
    if (!width || (i % stride >= begin && i % stride < begin + width)) m = std::max(m, (double)std::fabs(v[i]));
  return m;
}

void expect_within(const std::vector<float>& got, const std::vector<float>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); i++) {
    ASSERT_FALSE(std::isnan(got[i])) << what << "[" << i << "] was not written";
    ASSERT_NEAR(got[i], want[i], tol) << what << "[" << i << "]";
  }
}

// Runs the kernels on `layout` and checks them against the reference, and that a rerun under the
// reverse schedule gives the same bits.
void check(const Layout& layout, Shape sh, uint64_t seed) {
  const Case c(layout, sh, seed);
  const Result want = c.reference(), got = c.run(layout.visibility);
  const std::string what = "NH " + std::to_string(sh.NH) + " NKV " + std::to_string(sh.NKV) + " HS " +
                           std::to_string(sh.HS) + " T " + std::to_string(layout.T) + ": ";
  // The kernel's roundings beyond the reference's inputs: P (forward) and dS (backward) are cast to
  // bf16 (relative 2^-9) as mma operands; the scores are exact bf16 products summed in fp32.
  // out = Σ_j P_j v_j / l with Σ P_j / l = 1: |Δout| <= 2^-9·max|v| (×2 for fp32 sums and exp2f).
  const double max_v = max_abs(c.qkv);
  expect_within(got.out, want.out, 2 * std::ldexp(max_v, -9), what + "out");
  // lse: the fp32 scores (|s| <~ 10) to ~1e-6, and log/exp2 in fp32.
  expect_within(got.lse, want.lse, 1e-4, what + "lse");
  // dq, dk, dv: sums of terms each with relative error ~2^-9 (P or dS in bf16, delta from the
  // fp32 out above); against the largest gradient element, 2e-2 covers their sums with margin
  // (a wrong mask or fragment gives errors of order 1).
  const double max_grad = max_abs(want.dqkv);
  expect_within(got.dqkv, want.dqkv, 2e-2 * max_grad, what + "dqkv");
  Result again;
  {
    test::ReverseSchedule reverse;
    again = c.run(layout.visibility);
  }
  EXPECT_EQ(again.out, got.out) << what << "out under the reverse schedule";
  EXPECT_EQ(again.lse, got.lse) << what << "lse under the reverse schedule";
  EXPECT_EQ(again.dqkv, got.dqkv) << what << "dqkv under the reverse schedule";
  if (!layout.visibility) {  // the same rows described by the arrays: the same bits
    Layout with = layout;
    with.visibility = true;
    const Case c2(with, sh, seed);
    const Result arrays = c2.run(true);
    EXPECT_EQ(arrays.out, got.out) << what << "out with the causal rule given as arrays";
    EXPECT_EQ(arrays.dqkv, got.dqkv) << what << "dqkv with the causal rule given as arrays";
  }
}

TEST(FlashAttention, CausalPaddedRowsMhaGqaMqaHeadDims64And128) {
  Layout a(80);  // T not a multiple of the 64-row tiles; lengths T, 37 and 1
  a.causal(80), a.causal(37), a.causal(1);
  check(a, {2, 2, 64}, 1);
  check(a, {4, 2, 128}, 2);
  Layout b(40);  // T below one tile; lengths 1 and T
  b.causal(1), b.causal(40);
  check(b, {3, 1, 64}, 3);
}

TEST(FlashAttention, PackedAndSharedPromptRows) {
  Layout a(72);
  a.packed({30, 25, 1});  // three sequences, then padding
  a.shared(9, 20, 30);
  check(a, {4, 2, 64}, 4);
  check(a, {2, 1, 128}, 5);
}

TEST(FlashAttention, HiddenKeyTilesAreSkippedAndStillGiveZeroGradients) {
  // T 230 (key tiles [0,64) .. [192,256)): the rejected answer 140..219 sees the prompt (tile 0) and
  // itself; tile [64,128) is hidden from the query tile [192,256) and skipped. A second row packs
  // two sequences so that a query tile sees only part of the keys.
  Layout a(230);
  a.shared(40, 100, 80);
  a.packed({100, 130});
  check(a, {2, 1, 64}, 6);
}

TEST(FlashAttention, SupportedHeadDims) {
  EXPECT_TRUE(kernels::flash_attention_supported(64));
  EXPECT_TRUE(kernels::flash_attention_supported(128));
  EXPECT_FALSE(kernels::flash_attention_supported(32));
  EXPECT_FALSE(kernels::flash_attention_supported(80));
}

}  // namespace
}  // namespace align
