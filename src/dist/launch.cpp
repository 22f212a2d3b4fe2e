// launch.cpp: launcher variables and the TCP rendezvous (launch.hpp).
#include "dist/launch.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/error.hpp"

namespace align::dist {

namespace {
int to_int(const char* v, const char* name) {
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  ALIGN_REQUIRE(end && *end == '\0' && x >= 0 && x < (1 << 24), "environment variable ", name, " = '", v,
                "', expected a non-negative integer");
  return (int)x;
}
}  // namespace

LaunchInfo launch_info(const std::function<const char*(const char*)>& env) {
  LaunchInfo li;
  auto triple = [&](const char* r, const char* s, const char* l, const char* source) {
    if (!env(r) || !env(s)) return false;
    li.rank = to_int(env(r), r);
    li.world_size = to_int(env(s), s);
    li.local_rank = env(l) ? to_int(env(l), l) : 0;
    li.source = source;
    return true;
  };
  if (!triple("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "mpirun") &&
      !triple("RANK", "WORLD_SIZE", "LOCAL_RANK", "torchrun"))
    triple("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "slurm");
  if (env("MASTER_ADDR")) li.master_addr = env("MASTER_ADDR");
  if (env("MASTER_PORT")) li.master_port = to_int(env("MASTER_PORT"), "MASTER_PORT");
  ALIGN_REQUIRE(li.world_size >= 1 && li.rank < li.world_size, "launcher variables (", li.source, ") give rank ",
                li.rank, " of ", li.world_size);
  return li;
}

LaunchInfo launch_info() {
  return launch_info([](const char* n) -> const char* { return std::getenv(n); });
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_left(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

// Sends or receives exactly n bytes before the deadline.
void transfer(int fd, uint8_t* data, size_t n, bool send_side, Clock::time_point deadline, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    pollfd p{fd, (short)(send_side ? POLLOUT : POLLIN), 0};
    const int ms = (int)std::max(0.0, seconds_left(deadline) * 1000);
    ALIGN_REQUIRE(::poll(&p, 1, ms) > 0, what, ": timed out");
    const ssize_t k = send_side ? ::send(fd, data + done, n - done, MSG_NOSIGNAL) : ::recv(fd, data + done, n - done, 0);
    ALIGN_REQUIRE(k > 0, what, ": connection closed (", k == 0 ? "peer left" : std::strerror(errno), ")");
    done += (size_t)k;
  }
}

sockaddr_in resolve(const LaunchInfo& who) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  ALIGN_REQUIRE(::getaddrinfo(who.master_addr.c_str(), nullptr, &hints, &res) == 0 && res, "MASTER_ADDR '",
                who.master_addr, "' does not resolve");
  sockaddr_in addr = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  ::freeaddrinfo(res);
  addr.sin_port = htons((uint16_t)who.master_port);
  return addr;
}

}  // namespace

std::vector<uint8_t> rendezvous_broadcast(const LaunchInfo& who, std::vector<uint8_t> blob, double timeout_s) {
  if (who.world_size == 1) return blob;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds((long)(timeout_s * 1000));
  const std::string where = cat(who.master_addr, ":", who.master_port);
  sockaddr_in addr = resolve(who);
  if (who.rank == 0) {
    const int srv = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(srv, who.world_size) != 0) {
      const std::string why = std::strerror(errno);
      ::close(srv);
      throw InputError(cat("rank 0: cannot listen on port ", who.master_port, " (MASTER_PORT): ", why));
    }
    try {
      for (int k = 1; k < who.world_size; k++) {
        pollfd p{srv, POLLIN, 0};
        ALIGN_REQUIRE(::poll(&p, 1, (int)std::max(0.0, seconds_left(deadline) * 1000)) > 0, "rank 0: only ", k - 1,
                      " of ", who.world_size - 1, " ranks reached ", where, " within ", timeout_s, " s");
        const int fd = ::accept(srv, nullptr, nullptr);
        ALIGN_REQUIRE(fd >= 0, "rank 0: accept on ", where, " failed: ", std::strerror(errno));
        const uint64_t n = blob.size();
        try {
          transfer(fd, (uint8_t*)&n, 8, true, deadline, cat("rank 0: sending to a rank at ", where));
          transfer(fd, blob.data(), blob.size(), true, deadline, cat("rank 0: sending to a rank at ", where));
        } catch (...) {
          ::close(fd);
          throw;
        }
        ::close(fd);
      }
    } catch (...) {
      ::close(srv);
      throw;
    }
    ::close(srv);
    return blob;
  }
  // Other ranks: connect (rank 0 may not listen yet), then read the size and the blob.
  while (true) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      uint64_t n = 0;
      try {
        transfer(fd, (uint8_t*)&n, 8, false, deadline, cat("rank ", who.rank, ": receiving from ", where));
        ALIGN_REQUIRE(n <= (1u << 20), "rank ", who.rank, ": rendezvous at ", where, " announced ", n, " bytes");
        blob.assign(n, 0);
        transfer(fd, blob.data(), n, false, deadline, cat("rank ", who.rank, ": receiving from ", where));
      } catch (...) {
        ::close(fd);
        throw;
      }
      ::close(fd);
      return blob;
    }
    ::close(fd);
    ALIGN_REQUIRE(seconds_left(deadline) > 0, "rank ", who.rank, ": rank 0 did not answer at ", where, " (MASTER_ADDR:",
                  "MASTER_PORT) within ", timeout_s, " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace align::dist
