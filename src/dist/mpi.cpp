// mpi.cpp: the MPI communicator (communicator.hpp), for CPU ranks.
//
// Collectives are MPI's (MPI_Allreduce, MPI_Reduce_scatter_block,
// MPI_Allgather, MPI_Bcast, MPI_Barrier). Each call arms a watchdog thread
// with a deadline; a collective still waiting at the deadline means a peer
// died or never arrived, and the watchdog ends the job (MPI_Abort) after one
// line naming the rank, the collective and the step.
#include <cstdlib>

#include "dist/communicator.hpp"

#ifdef ALIGN_WITH_MPI
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "common/error.hpp"

namespace align::dist {

namespace {

class Watchdog {
 public:
  explicit Watchdog(double timeout_s, int rank) : timeout_(timeout_s), rank_(rank), thread_([this] { run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(m_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void arm(const char* op, long step) {
    std::lock_guard<std::mutex> l(m_);
    op_ = op, step_ = step, armed_ = true;
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_));
    cv_.notify_all();
  }
  void disarm() {
    std::lock_guard<std::mutex> l(m_);
    armed_ = false;
  }

 private:
  void run() {
    std::unique_lock<std::mutex> l(m_);
    while (!quit_) {
      if (!armed_) {
        cv_.wait(l);
        continue;
      }
      if (cv_.wait_until(l, deadline_) == std::cv_status::timeout && armed_ && !quit_ &&
          std::chrono::steady_clock::now() >= deadline_) {
        std::fprintf(stderr, "rank %d: error: %s at step %ld got no answer from the other ranks within %.0f s "
                     "(a rank died or never arrived; --dist-timeout sets the limit); aborting the job\n",
                     rank_, op_, step_, timeout_);
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 3);
      }
    }
  }
  double timeout_;
  int rank_;
  std::mutex m_;
  std::condition_variable cv_;
  bool armed_ = false, quit_ = false;
  const char* op_ = "";
  long step_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

void check(int rc, const char* op) {
  ALIGN_ASSERT(rc == MPI_SUCCESS, op, " failed with MPI error ", rc);
}

class Mpi final : public Communicator {
 public:
  explicit Mpi(double timeout_s) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // MULTIPLE: the watchdog thread may call MPI_Abort while the main thread waits in a collective.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    watchdog_ = std::make_unique<Watchdog>(timeout_s, rank_);
  }
  ~Mpi() override {
    watchdog_.reset();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  const char* name() const override { return "mpi"; }
  void all_reduce_sum(float* d, size_t n) override {
    guarded("all_reduce", [&] { return MPI_Allreduce(MPI_IN_PLACE, d, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); });
  }
  void all_reduce_sum(double* d, size_t n) override {
    guarded("all_reduce", [&] { return MPI_Allreduce(MPI_IN_PLACE, d, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); });
  }
  void reduce_scatter_sum(float* d, size_t count) override {
    // In place: the sum of slice rank() lands at the start, then moves to its slot.
    guarded("reduce_scatter", [&] {
      return MPI_Reduce_scatter_block(MPI_IN_PLACE, d, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
    if (rank_ != 0) std::copy(d, d + count, d + (size_t)rank_ * count);
  }
  void all_gather(float* d, size_t count) override {
    guarded("all_gather",
            [&] { return MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, d, (int)count, MPI_FLOAT, MPI_COMM_WORLD); });
  }
  void broadcast(void* d, size_t bytes, int root) override {
    guarded("broadcast", [&] { return MPI_Bcast(d, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD); });
  }
  void barrier() override {
    guarded("barrier", [&] { return MPI_Barrier(MPI_COMM_WORLD); });
  }

 private:
  template <typename F>
  void guarded(const char* op, F&& f) {
    watchdog_->arm(op, step_);
    const int rc = f();
    watchdog_->disarm();
    check(rc, op);
  }
  int rank_ = 0, size_ = 1;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace

bool mpi_available() { return true; }
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
}
std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s) { return std::make_unique<Mpi>(timeout_s); }

}  // namespace align::dist

#else  // built without MPI

#include "common/error.hpp"

namespace align::dist {
bool mpi_available() { return false; }
bool launched_by_mpi() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE"); }
std::unique_ptr<Communicator> make_mpi_communicator(double) {
  throw InputError("this build has no MPI support (install libopenmpi-dev and rebuild)");
}
}  // namespace align::dist

#endif
