// error.hpp: the one family of error checks used by every library file.
//
// Two kinds of failure, two types:
//   InputError  - something a user gave us is wrong (a file, a field, a flag).
//                 Its message is the whole user-facing line: what was found,
//                 what was expected, and where (file, field, row).
//   Error       - an internal invariant or a misuse of the API by our own code.
//                 ALIGN_ASSERT adds the source file, line and the failed
//                 expression so that a bug report points at the code.
// Library code only throws; command-line mains catch, print one line and exit
// non-zero (see run_main in cli.hpp). Nothing below calls exit().
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace align {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InputError : public Error {
 public:
  using Error::Error;
};

// cat(a, b, c...): stream every argument into one string (g++ 12 has no <format>).
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Bytes from a file or the user as they may appear inside a one-line message: printable ASCII as
// is, anything else (NUL, newline, control and non-ASCII bytes) as \xNN, at most max_bytes shown.
std::string printable(std::string_view bytes, size_t max_bytes = 64);

[[noreturn]] void throw_assert(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace align

// ALIGN_ASSERT(cond, parts...): internal invariant; throws align::Error naming file:line and cond.
#define ALIGN_ASSERT(cond, ...)                                                       \
  do {                                                                                \
    if (!(cond)) ::align::throw_assert(__FILE__, __LINE__, #cond, ::align::cat(__VA_ARGS__)); \
  } while (0)

// ALIGN_REQUIRE(cond, parts...): user-input check; throws align::InputError with exactly the message.
#define ALIGN_REQUIRE(cond, ...)                                 \
  do {                                                           \
    if (!(cond)) throw ::align::InputError(::align::cat(__VA_ARGS__)); \
  } while (0)
