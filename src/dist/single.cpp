// single.cpp: the one-process communicator (communicator.hpp): every collective is the identity.
#include "dist/communicator.hpp"

namespace align::dist {

namespace {
class Single final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  const char* name() const override { return "single"; }
  void all_reduce_sum(float*, size_t) override {}
  void all_reduce_sum(double*, size_t) override {}
  void reduce_scatter_sum(float*, size_t) override {}
  void all_gather(float*, size_t) override {}
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
};
}  // namespace

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<Single>(); }

std::unique_ptr<Communicator> make_communicator(double timeout_s) {
  if (mpi_available() && launched_by_mpi()) return make_mpi_communicator(timeout_s);
  return make_single_communicator();
}

}  // namespace align::dist
