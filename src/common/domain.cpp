// domain.cpp: numeric domains of flags and fields (domain.hpp).
#include "common/domain.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace align {

namespace {
std::string number_text(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e18) return std::to_string((long long)v);
  return cat(v);
}
// What a user typed, as it may appear in a one-line message.
std::string shown(const std::string& text) {
  return text.empty() ? "''" : printable(text, 40);
}
}  // namespace

bool Domain::contains(double v) const {
  if (!std::isfinite(v)) return false;
  if (integer && v != std::floor(v)) return false;
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

std::string Domain::interval() const {
  return cat(lo_open ? "(" : "[", number_text(lo), ", ", number_text(hi), hi_open ? ")" : "]");
}

std::string Domain::describe() const {
  return interval() + (integer ? " (an integer)" : " (a finite number)");
}

std::string check_in_domain(const std::string& text, const Domain& d) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(begin, &end);
  if (text.empty() || end == begin || *end != '\0' || std::isspace((unsigned char)text[0]))
    return cat(shown(text), " is not a number; expected one in ", d.describe());
  if (!d.contains(v)) return cat(shown(text), " is not in ", d.describe());
  return "";
}

double parse_in_domain(const std::string& text, const Domain& d, const std::string& where) {
  const std::string problem = check_in_domain(text, d);
  ALIGN_REQUIRE(problem.empty(), where, ": ", problem);
  return std::strtod(text.c_str(), nullptr);
}

CLI::Validator in_domain(const Domain& d) {
  return CLI::Validator(
      [d](std::string& text) {
        std::string problem = check_in_domain(text, d);
        // An integer written as 8.0 or 1e3 (a recipe's JSON number) becomes 8 or 1000 for CLI11's conversion.
        if (problem.empty() && d.integer) text = number_text(std::strtod(text.c_str(), nullptr));
        return problem;
      },
      d.interval());
}

namespace {
const nlohmann::json& json_field(const nlohmann::json& j, const std::string& key, const std::string& where) {
  ALIGN_REQUIRE(j.is_object(), where, ": expected a JSON object, found a ", j.type_name());
  ALIGN_REQUIRE(j.contains(key), where, ": field '", key, "' is missing");
  const nlohmann::json& v = j[key];
  ALIGN_REQUIRE(v.is_number(), where, ": field '", key, "' is a ", v.type_name(), ", expected a number");
  return v;
}
}  // namespace

int64_t json_integer(const nlohmann::json& j, const std::string& key, const Domain& d, const std::string& where) {
  const nlohmann::json& v = json_field(j, key, where);
  ALIGN_REQUIRE(!v.is_number_float() || d.contains(v.get<double>()), where, ": field '", key, "' = ", v.dump(),
                " is not in ", d.describe());
  // Integers are compared as integers: a uint64 above 2^63 must not wrap into the domain.
  const bool inside = v.is_number_unsigned()
                          ? v.get<uint64_t>() <= (uint64_t)d.hi && d.contains((double)v.get<uint64_t>())
                          : d.contains((double)v.get<int64_t>());
  ALIGN_REQUIRE(v.is_number_float() || inside, where, ": field '", key, "' = ", v.dump(), " is not in ", d.describe());
  return v.is_number_float() ? (int64_t)v.get<double>() : v.get<int64_t>();
}

double json_number(const nlohmann::json& j, const std::string& key, const Domain& d, const std::string& where) {
  const nlohmann::json& v = json_field(j, key, where);
  const double x = v.get<double>();
  ALIGN_REQUIRE(d.contains(x), where, ": field '", key, "' = ", v.dump(), " is not in ", d.describe());
  return x;
}

}  // namespace align
