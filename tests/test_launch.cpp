// test_launch.cpp: launcher variables (mpirun, torchrun, Slurm) and the TCP
// rendezvous on loopback, with ranks as threads of this process.
#include <gtest/gtest.h>

#include <unistd.h>

#include <map>
#include <thread>

#include "common/error.hpp"
#include "dist/launch.hpp"

namespace align::dist {
namespace {

LaunchInfo from(const std::map<std::string, std::string>& env) {
  return launch_info([&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(Launch, ReadsEachLauncher) {
  EXPECT_EQ(from({}).source, "single");
  LaunchInfo t = from({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.2"},
                       {"MASTER_PORT", "1234"}});
  EXPECT_EQ(t.source, "torchrun");
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.world_size, 8);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.master_addr, "10.0.0.2");
  EXPECT_EQ(t.master_port, 1234);
  LaunchInfo m = from({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"RANK", "5"}, {"WORLD_SIZE", "9"}});
  EXPECT_EQ(m.source, "mpirun");  // mpirun's variables win
  EXPECT_EQ(m.rank, 1);
  LaunchInfo s = from({{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "0"}});
  EXPECT_EQ(s.source, "slurm");
  EXPECT_EQ(s.world_size, 16);
  EXPECT_THROW(from({{"RANK", "x"}, {"WORLD_SIZE", "2"}}), InputError);
  EXPECT_THROW(from({{"RANK", "2"}, {"WORLD_SIZE", "2"}}), InputError);
}

TEST(Launch, RendezvousSharesRankZerosBlob) {
  const int N = 4, port = 29000 + (int)(::getpid() % 1000);
  std::vector<std::vector<uint8_t>> got(N);
  std::vector<std::thread> ranks;
  for (int r = N - 1; r >= 0; r--)  // the others start first: they must retry until rank 0 listens
    ranks.emplace_back([&, r] {
      LaunchInfo who;
      who.rank = r, who.world_size = N, who.master_port = port;
      got[r] = rendezvous_broadcast(who, r == 0 ? std::vector<uint8_t>{1, 2, 3, 250} : std::vector<uint8_t>{}, 10.0);
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < N; r++) EXPECT_EQ(got[r], (std::vector<uint8_t>{1, 2, 3, 250})) << "rank " << r;
}

TEST(Launch, AMissingRankZeroIsATimeoutError) {
  LaunchInfo who;
  who.rank = 1, who.world_size = 2, who.master_port = 28000 + (int)(::getpid() % 1000);
  try {
    rendezvous_broadcast(who, {}, 0.5);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1: rank 0 did not answer at 127.0.0.1:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace align::dist
