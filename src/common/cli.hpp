// cli.hpp: the wrapper every command-line main goes through, so that any error
// thrown by library code becomes one line on stderr and a non-zero exit.
#pragma once

#include <cstdio>
#include <exception>
#include <new>

#include "common/error.hpp"

namespace align {

// run_main(name, body): calls body() and maps exceptions to exit codes:
// InputError -> 2 (the user's input is wrong), anything else -> 1.
template <typename Body>
int run_main(const char* name, Body&& body) {
  try {
    return body();
  } catch (const InputError& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", name);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace align
