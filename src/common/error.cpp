// error.cpp: out-of-line part of the error family (error.hpp).
#include "common/error.hpp"

namespace align {

void throw_assert(const char* file, int line, const char* expr, const std::string& msg) {
  throw Error(cat(file, ":", line, ": check failed: ", expr, msg.empty() ? "" : " (", msg, msg.empty() ? "" : ")"));
}

}  // namespace align
