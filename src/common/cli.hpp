// cli.hpp: the wrapper every command-line main goes through, so that any error
// thrown by library code, and any bad flag, becomes one line on stderr and a
// non-zero exit (2 for bad input, 1 for internal errors).
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <vector>
#include <cstdio>
#include <exception>
#include <new>

#include "common/error.hpp"
#include "common/text_escape.hpp"

namespace align {

// run_main(name, body): calls body() and maps exceptions to exit codes:
// InputError -> 2 (the user's input is wrong), anything else -> 1.
template <typename Body>
int run_main(const char* name, Body&& body) {
  try {
    return body();
  } catch (const InputError& e) {
    // escaped: a message quoting the user's bytes never writes invalid UTF-8 or a second line
    std::fprintf(stderr, "%s: error: %s\n", name, escape_text(e.what()).c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", name);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", name, escape_text(e.what()).c_str());
    return 1;
  }
}

// The same for arguments prepared by the program (e.g. a recipe spliced in), in their natural order.
inline int parse_args(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 consumes a vector from its back
  try {
    app.parse(args);
    return -1;
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", app.get_name().c_str(), e.what());
    return 2;
  }
}

// parse_args(app, argc, argv): parses flags; returns -1 to go on, otherwise
// the exit code: 0 after --help, 2 after a bad flag, reported in one line.
inline int parse_args(CLI::App& app, int argc, char** argv) {
  return parse_args(app, std::vector<std::string>(argv + 1, argv + argc));
}

}  // namespace align
