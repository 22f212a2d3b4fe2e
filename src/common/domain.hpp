// domain.hpp: the allowed values of a number a user gives us, declared once
// and checked the same way wherever the number comes from: a command-line
// flag (a CLI11 validator, so a --config recipe's values, which become flags,
// are checked too), a field of a JSON file such as a checkpoint's state.json,
// or an item of a comma-separated list.
//
// A domain is an interval of finite numbers, open or closed at each end, of
// integers or reals. NaN and infinities are never inside one. The message of a
// value outside names where it came from, the value as given and the interval:
//   --lr: inf is not in (0, 1] (a finite number)
//   out/checkpoint/state.json: field 'micro_batch' = -1 is not in [0, 1099511627776] (an integer)
// Every numeric flag of every tool carries one (tests/cli_flag_domains.sh walks
// the --help texts and checks it).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace align {

struct Domain {
  double lo = 0, hi = 0;
  bool lo_open = false, hi_open = false;  // true: the bound itself is outside
  bool integer = false;

  static Domain ints(double lo, double hi) { return {lo, hi, false, false, true}; }
  static Domain reals(double lo, double hi, bool lo_open = false, bool hi_open = false) {
    return {lo, hi, lo_open, hi_open, false};
  }
  bool contains(double v) const;
  std::string interval() const;  // "[1, 1024]", "(0, 1]"
  std::string describe() const;  // "[1, 1024] (an integer)", "(0, 1] (a finite number)"
};

// Common domains, so that the same concept has the same bounds in every tool.
namespace domains {
inline constexpr double kMaxCount = 1099511627776.0;  // 2^40: steps, tokens, examples; far beyond any run
inline Domain steps() { return Domain::ints(0, kMaxCount); }          // a step count where 0 means "off"
inline Domain positive_count() { return Domain::ints(1, kMaxCount); }
inline Domain batch() { return Domain::ints(1, 1 << 20); }
inline Domain seed() { return Domain::ints(0, 9007199254740992.0); }  // 2^53: exact in a JSON number
inline Domain threads() { return Domain::ints(1, 1024); }
inline Domain fraction_open() { return Domain::reals(0, 1, false, true); }  // [0, 1)
inline Domain probability() { return Domain::reals(0, 1); }                // [0, 1]
inline Domain token_limit() { return Domain::ints(0, 1 << 24); }           // 0: no limit
}  // namespace domains

// Parses text as a number of the domain's kind; the error (empty when fine) says what is wrong
// with it, without the name of its source ("abc is not a number", "-1 is not in [0, 10] (an integer)").
std::string check_in_domain(const std::string& text, const Domain& d);
// The number text holds, throwing InputError "<where>: <problem>" when it is not in the domain.
double parse_in_domain(const std::string& text, const Domain& d, const std::string& where);

// A CLI11 validator: the flag's text must be a number in the domain; --help shows the domain.
// Attach it with ->transform(): it rewrites an integer written as 8.0 or 1e3 (as a recipe's JSON
// number may be) to 8 or 1000 for CLI11's own conversion, which ->check() would not allow.
CLI::Validator in_domain(const Domain& d);

// A JSON object's numeric field, checked for presence, type and domain; InputError naming
// where (the file) and the key.
int64_t json_integer(const nlohmann::json& j, const std::string& key, const Domain& d, const std::string& where);
double json_number(const nlohmann::json& j, const std::string& key, const Domain& d, const std::string& where);

}  // namespace align
