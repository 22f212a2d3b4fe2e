// scheduler.cpp (software device): how a kernel launch runs on the host.
//
// A grid is a set of independent blocks; blocks are spread over host threads
// (OpenMP, ALIGN_EMU_THREADS of them, default all), and each host thread runs
// one block at a time. The threads of a block are cooperative fibers
// (Boost.Context, each on its own stack with a guard page below it): the host
// thread resumes each ready fiber in turn, in thread order or in reverse
// order (the schedule, ALIGN_EMU_SCHEDULE=forward|reverse or
// emu::set_schedule), and a fiber runs until it reaches a barrier, a warp
// collective or its end. When every live fiber waits, the waits are resolved:
//   warp collective  completes when every lane its mask names waits at the same
//                    operation with the same mask; each lane's result is
//                    computed then (a shuffle's source lane must be in the mask);
//   __syncthreads    completes when every live (not exited) thread of the block
//                    waits at it, at the same place (Volta and later count
//                    exited threads as arrived);
// and the fibers run again. Undefined behaviour stops the launch with a message
// naming the kernel, the block and the thread, and makes the runtime's error
// sticky: a collective whose mask names an exited or absent lane or omits the
// caller, a shuffle reading a lane outside its mask, threads waiting at
// different barriers or at a barrier and a collective (the block would hang),
// an exception thrown inside a kernel. Between two barriers the order of the
// threads is the schedule's, so a missing barrier shows as results that differ
// between the two schedules.
#include <omp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define ALIGN_EMU_ASAN 1
#endif

#include "emu/state.hpp"

namespace fc = boost::context::detail;

namespace emu {

constinit thread_local ThreadContext* tl_thread = nullptr;

namespace {

Schedule initial_schedule() {
  const char* e = std::getenv("ALIGN_EMU_SCHEDULE");
  if (e && std::strcmp(e, "reverse") == 0) return Schedule::Reverse;
  if (e && *e && std::strcmp(e, "forward") != 0)
    std::fprintf(stderr, "software device: ALIGN_EMU_SCHEDULE=%s is not known, expected forward or reverse\n", e);
  return Schedule::Forward;
}
std::atomic<Schedule> g_schedule{initial_schedule()};

int host_threads() {
  static const int n = [] {
    const char* e = std::getenv("ALIGN_EMU_THREADS");
    const int v = e ? std::atoi(e) : omp_get_max_threads();
    return v < 1 ? 1 : v;
  }();
  return n;
}

size_t stack_bytes() {
  static const size_t n = [] {
    const char* e = std::getenv("ALIGN_EMU_STACK_KB");
    const long kb = e ? std::atol(e) : 256;
    return (size_t)(kb < 64 ? 64 : kb) << 10;
  }();
  return n;
}

std::mutex g_attr_mutex;
std::vector<std::pair<const void*, int>> g_max_dynamic_shared;  // cudaFuncSetAttribute
constexpr size_t kSharedDefault = 48 << 10, kSharedOptin = 227 << 10;

size_t dynamic_shared_limit(const void* kernel) {
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  for (const auto& [k, v] : g_max_dynamic_shared)
    if (k == kernel) return (size_t)v;
  return kSharedDefault;
}

enum class State : uint8_t { Ready, AtBarrier, AtWarp, Exited };

std::string site(const std::source_location& w) {
  const char* f = w.file_name();
  const char* slash = std::strrchr(f, '/');
  return cat_str(slash ? slash + 1 : f, ":", w.line());
}

std::string coords(const uint3& v) {
  return cat_str("(", v.x, ",", v.y, ",", v.z, ")");
}

struct Lane {  // one CUDA thread of the running block
  ThreadContext ctx{};
  State state = State::Ready;
  fc::fcontext_t fiber = nullptr;
  int stack = -1;  // index into the runner's stacks while the fiber lives
  // what it waits at
  const char* name = "";
  std::source_location where;
  WarpOp op{};
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
  const void* payload = nullptr;
};

struct Stack {
  unsigned char* region = nullptr;  // guard page, then the stack
  size_t bytes = 0;
  unsigned char* top() const { return region + bytes; }
};

thread_local const LaunchConfig* tl_launch = nullptr;
thread_local uint3 tl_block{};

// The invalid-access handler: a segmentation fault inside a kernel names it (out-of-bounds
// access, or a fiber's stack overflowing into its guard page), then dies as it would have.
void on_segv(int sig, siginfo_t* info, void*) {
  if (tl_launch && tl_thread) {
    char buf[512];
    const int n = std::snprintf(
        buf, sizeof buf,
        "software device: kernel %s, block (%u,%u,%u), thread (%u,%u,%u): invalid memory "
        "access at %p (out of bounds, freed device memory, or its stack of %zu KB overflowed: ALIGN_EMU_STACK_KB)\n",
        tl_launch->name, tl_block.x, tl_block.y, tl_block.z, tl_thread->thread_idx.x, tl_thread->thread_idx.y,
        tl_thread->thread_idx.z, info->si_addr, stack_bytes() >> 10);
    if (n > 0) (void)!write(2, buf, (size_t)n);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_segv_handler() {
#if !defined(ALIGN_EMU_ASAN)
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
  });
  thread_local std::vector<unsigned char> alt(1 << 16);
  stack_t ss{};
  ss.ss_sp = alt.data(), ss.ss_size = alt.size();
  sigaltstack(&ss, nullptr);
#endif
}

class BlockRunner {
 public:
  BlockRunner() { install_segv_handler(); }
  ~BlockRunner() {
    for (Stack& s : stacks_) munmap(s.region, s.bytes);
  }

  // Runs one block; "" or the fault that stopped it.
  std::string run(const LaunchConfig& config, uint3 block, void (*thunk)(void*), void* context, Schedule schedule) {
    config_ = &config, thunk_ = thunk, context_ = context, block_ = block;
    tl_launch = &config, tl_block = block;
    const unsigned n = config.block.x * config.block.y * config.block.z;
    if (shared_.size() < config.shared_bytes) shared_.resize(config.shared_bytes);
    if (config.shared_bytes) std::memset(shared_.data(), 0xFF, config.shared_bytes);  // uninitialised: reads as NaN
    lanes_.assign(n, Lane{});
    for (unsigned i = 0; i < n; i++) {
      Lane& l = lanes_[i];
      l.ctx.thread_idx =
          uint3{i % config.block.x, (i / config.block.x) % config.block.y, i / (config.block.x * config.block.y)};
      l.ctx.block_idx = block, l.ctx.block_dim = config.block, l.ctx.grid_dim = config.grid;
      l.ctx.dynamic_shared = shared_.data(), l.ctx.dynamic_shared_bytes = config.shared_bytes;
    }
    fault_.clear();
    schedule_ = schedule, cursor_ = 0;
    std::string result;
    while (result.empty()) {
      // One pass: every ready thread runs until it waits or ends, in the schedule's order. In the
      // first pass a fiber starts at the first thread not yet started and goes on to the next
      // ones while they end without waiting (most kernels never wait: one fiber runs them all).
      for (unsigned k = 0; k < n && fault_.empty();) {
        const unsigned i = order(k);
        if (k >= cursor_) {
          start_fiber(k);
          k = cursor_;
        } else {
          if (lanes_[i].state == State::Ready) resume(i);
          k++;
        }
      }
      if (!fault_.empty()) {
        result = fault_;
        break;
      }
      bool all_exited = true;
      for (const Lane& l : lanes_) all_exited &= l.state == State::Exited;
      if (all_exited) break;
      if (resolve_warps() || resolve_barrier()) continue;
      result = fault_.empty() ? describe_hang() : fault_;
    }
    for (Lane& l : lanes_)  // fibers abandoned by a fault give their stacks back
      if (l.stack >= 0) free_stacks_.push_back(l.stack), l.stack = -1;
    tl_launch = nullptr;
    return result;
  }

  // Called on a fiber: wait at a barrier or collective until the scheduler releases it.
  void wait(State s) {
    lanes_[current_].state = s;
    yield();
  }
  Lane& current() { return lanes_[current_]; }
  const void* const* exchange_slots(unsigned warp) { return exchange_ptrs_[warp].data(); }

  [[noreturn]] void fault_here(const std::string& what) {
    fault_ = prefix(current_) + what;
    lanes_[current_].state = State::Exited;
    finish();
  }

 private:
  std::string prefix(unsigned i) const {
    return cat_str("kernel ", config_->name, ", block ", coords(block_), ", thread ", coords(lanes_[i].ctx.thread_idx),
                   ": ");
  }

  // A stack for a fiber that starts. A thread that runs to its end without waiting gives its
  // stack back at once, so kernels without barriers run every thread on the same warm stack.
  int take_stack() {
    if (!free_stacks_.empty()) {
      const int i = free_stacks_.back();
      free_stacks_.pop_back();
      return i;
    }
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = stack_bytes() + page;
    void* p =
        mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    mprotect(p, page, PROT_NONE);  // the guard page: an overflow faults instead of corrupting a neighbour
    stacks_.push_back(Stack{static_cast<unsigned char*>(p), bytes});
    return (int)stacks_.size() - 1;
  }

  unsigned order(unsigned k) const {
    return schedule_ == Schedule::Forward ? k : (unsigned)lanes_.size() - 1 - k;
  }

  // A fiber on a fresh stack that runs the threads from the cursor on, one after the other, until
  // one of them waits (the fiber then belongs to that thread) or all have run.
  static void fiber_main(fc::transfer_t t) {
    BlockRunner* r = static_cast<BlockRunner*>(t.data);
    r->scheduler_ = t.fctx;
#ifdef ALIGN_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &r->scheduler_stack_, &r->scheduler_stack_size_);
#endif
    const int stack = r->starting_stack_;
    const unsigned n = (unsigned)r->lanes_.size();
    while (r->cursor_ < n && r->fault_.empty()) {
      const unsigned i = r->order(r->cursor_++);
      Lane& l = r->lanes_[i];
      l.stack = stack;
      r->current_ = i;
      tl_thread = &l.ctx;
      try {
        r->thunk_(r->context_);
      } catch (const std::exception& e) {
        r->fault_ = r->prefix(r->current_) + cat_str("exception thrown inside the kernel: ", e.what());
      } catch (...) {
        r->fault_ = r->prefix(r->current_) + "exception thrown inside the kernel";
      }
      l.state = State::Exited;
      if (r->cursor_ < n && r->fault_.empty()) l.stack = -1;  // the stack goes on to the next thread
    }
    r->finish();
  }

  [[noreturn]] void finish() {
#ifdef ALIGN_EMU_ASAN
    __sanitizer_start_switch_fiber(nullptr, scheduler_stack_, scheduler_stack_size_);
#endif
    fc::jump_fcontext(scheduler_, nullptr);
    std::abort();  // an exited fiber is never resumed
  }

  void yield() {
#ifdef ALIGN_EMU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, scheduler_stack_, scheduler_stack_size_);
#endif
    const fc::transfer_t t = fc::jump_fcontext(scheduler_, nullptr);
    scheduler_ = t.fctx;
#ifdef ALIGN_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, &scheduler_stack_, &scheduler_stack_size_);
#endif
  }

  void start_fiber(unsigned k) {
    cursor_ = k;
    starting_stack_ = take_stack();
    const fc::fcontext_t f =
        fc::make_fcontext(stacks_[starting_stack_].top(), stack_bytes(), &BlockRunner::fiber_main);
    switch_to(f, starting_stack_);
  }

  void resume(unsigned i) {
    current_ = i;
    tl_thread = &lanes_[i].ctx;
    switch_to(lanes_[i].fiber, lanes_[i].stack);
  }

  // Runs a fiber until it waits or ends; the thread it was running then is current_.
  void switch_to(fc::fcontext_t fiber, int stack) {
#ifdef ALIGN_EMU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, stacks_[stack].top() - stack_bytes(), stack_bytes());
#else
    (void)stack;
#endif
    const fc::transfer_t t = fc::jump_fcontext(fiber, this);
#ifdef ALIGN_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    tl_thread = nullptr;
    Lane& l = lanes_[current_];
    l.fiber = t.fctx;
    if (l.state == State::Exited) {
      free_stacks_.push_back(l.stack);
      l.stack = -1;
    }
  }

  unsigned lane_count(unsigned warp) const {
    const unsigned n = (unsigned)lanes_.size();
    return std::min(32u, n - warp * 32);
  }

  // Completes every warp collective whose lanes have all arrived; false when none could.
  bool resolve_warps() {
    bool progressed = false;
    const unsigned n = (unsigned)lanes_.size(), warps = (n + 31) / 32;
    if (exchange_.size() < warps) exchange_.resize(warps), exchange_ptrs_.resize(warps);
    for (unsigned w = 0; w < warps && fault_.empty(); w++) {
      const unsigned present = lane_count(w);
      for (unsigned i = 0; i < present; i++) {  // a lane must be in its own mask
        const Lane& me = lanes_[w * 32 + i];
        if (me.state == State::AtWarp && !(me.mask >> i & 1u)) {
          fault_ = prefix(w * 32 + i) + cat_str(me.name, " at ", site(me.where), " with mask 0x", std::hex, me.mask,
                                                std::dec, " that does not name the calling lane ", i);
          return false;
        }
      }
      for (unsigned i = 0; i < present && fault_.empty(); i++) {
        const Lane& me = lanes_[w * 32 + i];
        if (me.state != State::AtWarp) continue;
        bool complete = true;
        for (unsigned j = 0; j < 32; j++) {
          if (!(me.mask >> j & 1u)) continue;
          if (j >= present) {
            fault_ = prefix(w * 32 + i) + cat_str(me.name, " at ", site(me.where), " with mask 0x", std::hex, me.mask,
                                                  std::dec, " names lane ", j, ", which does not exist (the block has ",
                                                  n, " threads)");
            return false;
          }
          const Lane& other = lanes_[w * 32 + j];
          if (other.state == State::Exited) {
            fault_ = prefix(w * 32 + i) + cat_str(me.name, " at ", site(me.where), " with mask 0x", std::hex, me.mask,
                                                  std::dec, " names lane ", j, ", which has exited");
            return false;
          }
          if (other.state != State::AtWarp || other.op != me.op || other.mask != me.mask) complete = false;
        }
        if (complete) {
          complete_collective(w, me.op, me.mask);
          progressed = true;
        }
      }
    }
    return progressed && fault_.empty();
  }

  void complete_collective(unsigned w, WarpOp op, unsigned mask) {
    Lane* l = &lanes_[w * 32];
    uint64_t ballot = 0;
    for (unsigned j = 0; j < 32; j++)
      if (mask >> j & 1u && l[j].value) ballot |= 1ull << j;
    if (op == WarpOp::Exchange) {
      // Copy every post now: a lane released first may change its own data before the others read.
      const size_t bytes = (size_t)l[__builtin_ctz(mask)].arg;
      exchange_[w].resize(32 * bytes);
      for (unsigned j = 0; j < 32; j++) {
        exchange_ptrs_[w][j] = nullptr;
        if (!(mask >> j & 1u)) continue;
        if ((size_t)l[j].arg != bytes) {
          fault_ = prefix(w * 32 + j) + cat_str(l[j].name, " at ", site(l[j].where), ": lanes post different sizes");
          return;
        }
        std::memcpy(exchange_[w].data() + j * bytes, l[j].payload, bytes);
        exchange_ptrs_[w][j] = exchange_[w].data() + j * bytes;
      }
    }
    for (unsigned i = 0; i < 32; i++) {
      if (!(mask >> i & 1u)) continue;
      Lane& me = l[i];
      const int width = me.width;
      const unsigned base = i / (unsigned)width * (unsigned)width;
      int src = (int)i;
      switch (op) {
        case WarpOp::ShflIdx:
          src = (int)base + ((me.arg % width) + width) % width;
          break;
        case WarpOp::ShflUp:
          src = (int)i - me.arg < (int)base ? (int)i : (int)i - me.arg;
          break;
        case WarpOp::ShflDown:
          src = (int)i + me.arg >= (int)(base + width) ? (int)i : (int)i + me.arg;
          break;
        case WarpOp::ShflXor:
          src = (int)(i ^ (unsigned)me.arg) >= (int)(base + width) ? (int)i : (int)(i ^ (unsigned)me.arg);
          break;
        default:
          break;
      }
      switch (op) {
        case WarpOp::ShflIdx:
        case WarpOp::ShflUp:
        case WarpOp::ShflDown:
        case WarpOp::ShflXor:
          if (src < 0 || src > 31 || !(mask >> src & 1u)) {
            fault_ = prefix(w * 32 + i) + cat_str(me.name, " at ", site(me.where), " reads lane ", src,
                                                  ", which is not in its mask 0x", std::hex, mask);
            return;
          }
          me.result = l[src].value;
          break;
        case WarpOp::Ballot:
          me.result = ballot;
          break;
        case WarpOp::Any:
          me.result = ballot != 0;
          break;
        case WarpOp::All:
          me.result = ballot == (uint64_t)mask;
          break;
        case WarpOp::SyncWarp:
        case WarpOp::Exchange:
          me.result = 0;
          break;
      }
    }
    for (unsigned i = 0; i < 32; i++)
      if (mask >> i & 1u) l[i].state = State::Ready;
  }

  // Releases a barrier that every live thread waits at; false when not all are there.
  bool resolve_barrier() {
    const Lane* first = nullptr;
    for (const Lane& l : lanes_) {
      if (l.state == State::Exited) continue;
      if (l.state != State::AtBarrier) return false;
      if (!first) {
        first = &l;
      } else if (l.where.line() != first->where.line() || std::strcmp(l.where.file_name(), first->where.file_name())) {
        fault_ = prefix((unsigned)(&l - lanes_.data())) +
                 cat_str("waits at __syncthreads at ", site(l.where), " while thread ", coords(first->ctx.thread_idx),
                         " waits at __syncthreads at ", site(first->where), " (divergent barriers)");
        return false;
      }
    }
    for (Lane& l : lanes_)
      if (l.state == State::AtBarrier) l.state = State::Ready;
    return first != nullptr;
  }

  // Nothing can move: say who waits for whom.
  std::string describe_hang() const {
    const Lane* barrier = nullptr;
    for (const Lane& l : lanes_)
      if (l.state == State::AtBarrier) barrier = &l;
    for (unsigned i = 0; i < lanes_.size(); i++) {
      const Lane& l = lanes_[i];
      if (l.state != State::AtWarp) continue;
      if (barrier)
        return prefix((unsigned)(barrier - lanes_.data())) +
               cat_str("__syncthreads at ", site(barrier->where), " is never reached by thread ",
                       coords(l.ctx.thread_idx), ", which waits at ", l.name, " at ", site(l.where));
      const unsigned w = i / 32;
      for (unsigned j = 0; j < 32; j++) {
        if (!(l.mask >> j & 1u)) continue;
        const Lane& o = lanes_[w * 32 + j];
        if (o.state == State::AtWarp && (o.op != l.op || o.mask != l.mask))
          return prefix(i) + cat_str(l.name, " at ", site(l.where), " with mask 0x", std::hex, l.mask, std::dec,
                                     " waits for lane ", j, ", which waits at ", o.name, " at ", site(o.where),
                                     " with mask 0x", std::hex, o.mask);
      }
    }
    return cat_str("kernel ", config_->name, ", block ", coords(block_), ": the block hangs");
  }

  const LaunchConfig* config_ = nullptr;
  void (*thunk_)(void*) = nullptr;
  void* context_ = nullptr;
  uint3 block_{};
  std::vector<Lane> lanes_;
  std::vector<Stack> stacks_;
  std::vector<int> free_stacks_;
  Schedule schedule_ = Schedule::Forward;
  unsigned cursor_ = 0;      // the next thread (in the schedule's order) that no fiber has started
  int starting_stack_ = -1;  // the stack of the fiber being started
  std::vector<unsigned char> shared_;
  std::vector<std::vector<unsigned char>> exchange_;
  std::vector<std::array<const void*, 32>> exchange_ptrs_;
  unsigned current_ = 0;
  fc::fcontext_t scheduler_ = nullptr;
  std::string fault_;
#ifdef ALIGN_EMU_ASAN
  const void* scheduler_stack_ = nullptr;
  size_t scheduler_stack_size_ = 0;
#endif
};

BlockRunner& runner() {
  thread_local std::unique_ptr<BlockRunner> r = std::make_unique<BlockRunner>();
  return *r;
}

// The launch's configuration against an H100's limits; "" when it is valid.
std::string check_config(const LaunchConfig& c) {
  const dim3 b = c.block, g = c.grid;
  const uint64_t threads = (uint64_t)b.x * b.y * b.z;
  auto where = [&] {
    return cat_str("kernel ", c.name, ": launch of (", g.x, ",", g.y, ",", g.z, ") blocks of (", b.x, ",", b.y, ",",
                   b.z, ") threads with ", c.shared_bytes, " bytes of dynamic shared memory: ");
  };
  if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0) return where() + "a dimension is 0";
  if (threads > 1024) return where() + cat_str(threads, " threads per block exceed the device's limit of 1024");
  if (b.x > 1024 || b.y > 1024 || b.z > 64) return where() + "a block dimension exceeds the limits (1024, 1024, 64)";
  if (g.x > 2147483647u || g.y > 65535 || g.z > 65535)
    return where() + "a grid dimension exceeds the limits (2147483647, 65535, 65535)";
  const size_t limit = dynamic_shared_limit(c.kernel);
  if (c.shared_bytes > limit)
    return where() + cat_str("dynamic shared memory exceeds the ", limit, "-byte limit per block",
                             limit == kSharedDefault ? " (more than 48 KB needs cudaFuncSetAttribute)" : "");
  return "";
}

}  // namespace

void set_schedule(Schedule s) {
  g_schedule = s;
}
Schedule schedule() {
  return g_schedule;
}

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width, const char* name,
                         const std::source_location& where) {
  BlockRunner& r = runner();
  if (!tl_thread) std::abort();  // device code called outside a kernel
  if (width <= 0 || width > 32 || (width & (width - 1)))
    r.fault_here(cat_str(name, " at ", site(where), ": width ", width, " is not a power of 2 up to 32"));
  Lane& me = r.current();
  me.op = op, me.mask = mask, me.value = value, me.arg = arg, me.width = width, me.name = name, me.where = where;
  r.wait(State::AtWarp);
  return me.result;
}

const void* const* warp_exchange(unsigned mask, const void* mine, size_t bytes, const char* name,
                                 const std::source_location& where) {
  BlockRunner& r = runner();
  Lane& me = r.current();
  me.op = WarpOp::Exchange, me.mask = mask, me.value = 0, me.arg = (int)bytes, me.width = 32, me.name = name;
  me.where = where, me.payload = mine;
  r.wait(State::AtWarp);
  const unsigned t = tl_thread->thread_idx.x + tl_thread->thread_idx.y * tl_thread->block_dim.x +
                     tl_thread->thread_idx.z * tl_thread->block_dim.x * tl_thread->block_dim.y;
  return r.exchange_slots(t / 32);
}

void syncthreads(const std::source_location& where) {
  BlockRunner& r = runner();
  Lane& me = r.current();
  me.name = "__syncthreads", me.where = where;
  r.wait(State::AtBarrier);
}

void device_fault(const char* message) {
  runner().fault_here(message);
}

void run_grid(const LaunchConfig& config, void (*thunk)(void*), void* context, const PointerArgument* pointers,
              int pointer_count) {
  if (sticky_error()) return;  // the context is broken: nothing runs (cudaGetLastError says why)
  const std::string bad = check_config(config);
  if (!bad.empty()) {
    fail(cudaErrorInvalidConfiguration, bad);
    return;
  }
  for (int i = 0; i < pointer_count; i++) {
    const void* p = pointers[i].pointer;
    if (!p || find_allocation(p, nullptr)) continue;
    fail_sticky(cudaErrorIllegalAddress,
                cat_str("kernel ", config.name, ": argument ", pointers[i].index, " (", hex(p), ") ",
                        in_freed_memory(p) ? "points into device memory that has been freed"
                                           : "is not device memory (a host pointer)"));
    return;
  }
  const dim3 g = config.grid;
  const int64_t blocks = (int64_t)g.x * g.y * g.z;
  const Schedule schedule = g_schedule;
  std::atomic<bool> faulted{false};
  std::string first_fault;
  std::mutex fault_mutex;
  const int threads = (int)std::min<int64_t>(host_threads(), blocks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (int64_t b = 0; b < blocks; b++) {
    if (faulted.load(std::memory_order_relaxed)) continue;
    const uint3 idx{(unsigned)(b % g.x), (unsigned)(b / g.x % g.y), (unsigned)(b / ((int64_t)g.x * g.y))};
    const std::string fault = runner().run(config, idx, thunk, context, schedule);
    if (!fault.empty()) {
      std::lock_guard<std::mutex> lock(fault_mutex);
      if (!faulted) first_fault = fault;
      faulted = true;
    }
  }
  if (faulted) fail_sticky(cudaErrorLaunchFailure, first_fault);
}

}  // namespace emu

cudaError_t emuFuncSetAttribute(const void* kernel, cudaFuncAttribute attribute, int value) {
  using namespace emu;
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return fail(cudaErrorNotSupported, cat_str("cudaFuncSetAttribute: attribute ", (int)attribute,
                                               " is not implemented by the software device"));
  if (value < 0 || (size_t)value > kSharedOptin)
    return fail(cudaErrorInvalidValue,
                cat_str("cudaFuncSetAttribute: ", value, " bytes of dynamic shared memory exceed the opt-in limit of ",
                        kSharedOptin));
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  for (auto& [k, v] : g_max_dynamic_shared)
    if (k == kernel) {
      v = value;
      return cudaSuccess;
    }
  g_max_dynamic_shared.emplace_back(kernel, value);
  return cudaSuccess;
}
