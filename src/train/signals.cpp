// signals.cpp: stop requests from signals (signals.hpp).
#include "train/signals.hpp"

#include <atomic>
#include <csignal>

namespace align::train {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop.store(true); }

}  // namespace align::train
