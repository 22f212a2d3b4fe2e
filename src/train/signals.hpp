// signals.hpp: SIGINT / SIGTERM turned into a request the training loop polls,
// so that it can write a checkpoint and exit cleanly. (A signal handler can
// only talk to the program through a global flag; this is the one.)
#pragma once

namespace align::train {

void install_stop_handlers();  // SIGINT, SIGTERM -> stop_requested() becomes true
bool stop_requested();
void request_stop();           // the same, from code (tests)

}  // namespace align::train
