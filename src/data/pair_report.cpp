// pair_report.cpp: the preference-data report (pair_report.hpp): counting,
// statistics, the JSON, the table and the warnings.
#include "data/pair_report.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"

namespace align::data {

// ---- special-token strings in message text ----------------------------------------------------

SpecialTokenScanner::SpecialTokenScanner(const TokenizerDir& td)
    : by_first_byte_(256), bos_(td.bos_token), eos_(td.eos_token) {
  for (const tok::AddedToken& t : td.tokenizer.added_tokens())
    if (t.special && !t.content.empty() && std::find(tokens_.begin(), tokens_.end(), t.content) == tokens_.end())
      tokens_.push_back(t.content);
  ALIGN_ASSERT(tokens_.size() < 65536, "more special tokens than the report indexes");
  for (size_t i = 0; i < tokens_.size(); i++) by_first_byte_[(uint8_t)tokens_[i][0]].push_back((uint16_t)i);
}

void SpecialTokenScanner::scan(const std::string& text, size_t from, size_t to, std::vector<char>& found) const {
  for (size_t i = from; i < to; i++)
    for (uint16_t k : by_first_byte_[(uint8_t)text[i]]) {
      const std::string& t = tokens_[k];
      if (i + t.size() <= to && text.compare(i, t.size(), t) == 0) found[k] = 1;
    }
}

std::vector<uint16_t> SpecialTokenScanner::find(const ParsedExample& ex) const {
  std::vector<char> found(tokens_.size(), 0);
  if (tokens_.empty()) return {};
  if (ex.conversational) {
    for (const auto* msgs : {&ex.prompt_m, &ex.chosen_m, &ex.rejected_m})
      for (const Message& m : *msgs) scan(m.content, 0, m.content.size(), found);
  } else {
    const bool leading_bos = !bos_.empty() && ex.prompt.compare(0, bos_.size(), bos_) == 0;
    scan(ex.prompt, leading_bos ? bos_.size() : 0, ex.prompt.size(), found);
    for (const std::string* s : {&ex.chosen, &ex.rejected}) {
      const bool trailing_eos =
          !eos_.empty() && s->size() >= eos_.size() && s->compare(s->size() - eos_.size(), eos_.size(), eos_) == 0;
      scan(*s, 0, s->size() - (trailing_eos ? eos_.size() : 0), found);
    }
  }
  std::vector<uint16_t> out;
  for (size_t k = 0; k < found.size(); k++)
    if (found[k]) out.push_back((uint16_t)k);
  return out;
}

// ---- source facts -----------------------------------------------------------------------------

LineFacts line_facts(const ParsedExample& ex, const PairTrace& before, const std::optional<PairRecord>& pair,
                     PrepareOutcome outcome, const SpecialTokenScanner& scanner) {
  LineFacts f;
  f.outcome = outcome;
  f.identical_text = ex.conversational ? ex.chosen_m == ex.rejected_m : ex.chosen == ex.rejected;
  f.special_tokens = scanner.find(ex);
  f.before = before;
  if (pair) {
    f.prompt = pair->prompt.size(), f.chosen = pair->chosen.size(), f.rejected = pair->rejected.size();
    f.identical_tokens = pair->chosen == pair->rejected;
  }
  return f;
}

void SourceCounts::add(size_t line, const LineFacts& f) {
  parsed++;
  if (f.identical_text) identical_text.add(line);
  if (f.identical_tokens && !f.identical_text) identical_after_truncation.add(line);
  completion_tokens_before += f.before.chosen + f.before.rejected;
  if (f.outcome != PrepareOutcome::Kept) {
    (f.outcome == PrepareOutcome::PromptFillsMaxLength ? dropped_prompt_fills_max_length : dropped_no_completion_tokens)
        .add(line);
    completion_tokens_cut += f.before.chosen + f.before.rejected;
    if (f.before.chosen > 0 && f.before.rejected > 0) emptied.add(line);  // truncation, not tokenization, emptied it
  } else {
    const uint64_t cut = (f.before.chosen - f.chosen) + (f.before.rejected - f.rejected);
    completion_tokens_cut += cut;
    prompt_tokens_cut += f.before.prompt - f.prompt;
    if (cut > 0) completion_cut.add(line);
    if (cut > 0 || f.before.prompt > f.prompt) pairs_cut.add(line);
  }
  if (!f.special_tokens.empty()) special_token_pairs.add(line);
  if (special_token_by_string.size() < special_token_strings.size())
    special_token_by_string.resize(special_token_strings.size());
  for (uint16_t k : f.special_tokens) special_token_by_string.at(k).add(line);
}

// ---- pair findings ----------------------------------------------------------------------------

namespace {

uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

Hash128 combine(const Hash128& h, const Hash128& g) {
  return {mix64(h.a ^ mix64(g.a)), mix64(h.b ^ mix64(g.b + 0x632be59bd9b4e019ull))};
}

Hash128 hash_pair(const PairsFile::View& p) {
  return combine(combine(hash_tokens(p.prompt, 1), hash_tokens(p.chosen, 2)), hash_tokens(p.rejected, 3));
}

}  // namespace

Hash128 hash_tokens(std::span<const uint32_t> ids, uint64_t salt) {
  // Two independent chains: a splitmix-mixed one and a multiply-rotate one with other constants; the
  // length and the salt are mixed in first, so [1] and [1, 0] or a prompt and a chosen never collide
  // by construction.
  uint64_t a = mix64(salt ^ (ids.size() * 0x9e3779b97f4a7c15ull));
  uint64_t b = mix64(~salt + ids.size() * 0xc2b2ae3d27d4eb4full);
  for (uint32_t t : ids) {
    a = mix64(a ^ t);
    b = ((b ^ t) * 0xff51afd7ed558ccdull);
    b = (b << 29 | b >> 35) * 0xc4ceb9fe1a85ec53ull;
  }
  return {a, mix64(b)};
}

bool PairFindings::add(int64_t where, const PairsFile::View& p) {
  const bool identical = std::equal(p.chosen.begin(), p.chosen.end(), p.rejected.begin(), p.rejected.end());
  if (identical) identical_tokens.add(where);
  const Hash128 hp = hash_pair(p), hprompt = hash_tokens(p.prompt, 1);
  const auto [pair_it, new_pair] = seen_pairs_.emplace(hp, where);
  if (!new_pair) {
    if (duplicate_pairs.count == 0) duplicate_of = pair_it->second;
    duplicate_pairs.add(where);
  }
  const auto [prompt_it, new_prompt] = seen_prompts_.emplace(hprompt, where);
  if (!new_prompt) {
    if (duplicate_prompts.count == 0) duplicate_prompt_of = prompt_it->second;
    duplicate_prompts.add(where);
  }
  if (identical && choices_.drop_identical) {
    dropped_identical++;
    return false;
  }
  if (!new_pair && choices_.dedupe) {
    dropped_duplicate++;
    return false;
  }
  kept_prompts_.emplace(hprompt, where);
  return true;
}

bool PairFindings::check_leak(int64_t where, const PairsFile::View& p, const PairFindings& train) {
  const auto it = train.kept_prompts_.find(hash_tokens(p.prompt, 1));
  if (it == train.kept_prompts_.end()) return true;
  if (leaked.count == 0) leaked_from = it->second;
  leaked.add(where);
  if (!choices_.drop_leaked_val) return true;
  dropped_leaked++;
  return false;
}

// ---- statistics -------------------------------------------------------------------------------

uint64_t percentile(const std::vector<uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, (size_t)(q * (sorted.size() - 1) + 0.5))];
}

namespace {

LengthSummary summarize(std::vector<uint64_t> v) {
  LengthSummary s;
  if (v.empty()) return s;
  double sum = 0;
  for (uint64_t x : v) sum += (double)x;
  std::sort(v.begin(), v.end());
  s.p50 = percentile(v, 0.5), s.p90 = percentile(v, 0.9), s.max = v.back(), s.mean = sum / v.size();
  return s;
}

constexpr uint64_t kHistogramBins = 40;

uint64_t bin_width(uint64_t span) {
  return std::max<uint64_t>(1, (span + kHistogramBins - 1) / kHistogramBins);
}

}  // namespace

PairStats pair_stats(const std::vector<PairsFile::View>& pairs, const std::vector<int64_t>& where) {
  ALIGN_ASSERT(where.empty() || where.size() == pairs.size(), "one place per pair");
  PairStats s;
  s.pairs = pairs.size();
  if (pairs.empty()) return s;
  std::vector<uint64_t> prompt, chosen, rejected;
  std::vector<int64_t> diff;
  double diff_sum = 0, prefix_sum = 0, completion_tokens = 0;
  for (size_t i = 0; i < pairs.size(); i++) {
    const PairsFile::View& p = pairs[i];
    const int64_t at = where.empty() ? (int64_t)i : where[i];
    prompt.push_back(p.prompt.size()), chosen.push_back(p.chosen.size()), rejected.push_back(p.rejected.size());
    const int64_t d = (int64_t)p.chosen.size() - (int64_t)p.rejected.size();
    diff.push_back(d);
    diff_sum += (double)d;
    s.chosen_longer += d > 0, s.rejected_longer += d < 0, s.equal_length += d == 0;
    if (i == 0 || d > s.largest_difference) s.largest_difference = d, s.largest_difference_at = at;
    if (i == 0 || d < s.smallest_difference) s.smallest_difference = d, s.smallest_difference_at = at;
    const size_t n = std::min(p.chosen.size(), p.rejected.size());
    size_t prefix = 0;
    while (prefix < n && p.chosen[prefix] == p.rejected[prefix]) prefix++;
    s.shared_prefix_pairs += prefix > 0;
    if (prefix > s.longest_shared_prefix) s.longest_shared_prefix = prefix, s.longest_shared_prefix_at = at;
    prefix_sum += (double)prefix;
    completion_tokens += (double)(p.chosen.size() + p.rejected.size());
  }
  s.prompt = summarize(prompt), s.chosen = summarize(chosen), s.rejected = summarize(rejected);
  s.mean_difference = diff_sum / pairs.size();
  std::sort(diff.begin(), diff.end());
  const size_t m = diff.size() / 2;
  s.median_difference = diff.size() % 2 ? (double)diff[m] : 0.5 * ((double)diff[m - 1] + (double)diff[m]);
  s.shared_prefix_mean_tokens = prefix_sum / pairs.size();
  s.shared_prefix_token_share = completion_tokens > 0 ? 2 * prefix_sum / completion_tokens : 0;

  const uint64_t longest = std::max(s.chosen.max, s.rejected.max);
  s.length_bin_width = bin_width(longest + 1);
  s.chosen_hist.assign(longest / s.length_bin_width + 1, 0);
  s.rejected_hist.assign(s.chosen_hist.size(), 0);
  for (uint64_t x : chosen) s.chosen_hist[x / s.length_bin_width]++;
  for (uint64_t x : rejected) s.rejected_hist[x / s.length_bin_width]++;
  s.difference_lo = diff.front();
  s.difference_bin_width = bin_width((uint64_t)(diff.back() - diff.front()) + 1);
  s.difference_hist.assign((uint64_t)(diff.back() - diff.front()) / s.difference_bin_width + 1, 0);
  for (int64_t d : diff) s.difference_hist[(uint64_t)(d - s.difference_lo) / s.difference_bin_width]++;
  return s;
}

// ---- the JSON ---------------------------------------------------------------------------------

namespace {

nlohmann::json place(int64_t where) {
  return where >= 0 ? nlohmann::json(where) : nlohmann::json(nullptr);
}

nlohmann::json finding_json(const Finding& f) {
  return {{"pairs", f.count}, {"example", place(f.example)}};
}

nlohmann::json lengths_json(const LengthSummary& l) {
  return {{"p50", l.p50}, {"p90", l.p90}, {"max", l.max}, {"mean", l.mean}};
}

double share(uint64_t part, uint64_t whole) {
  return whole ? (double)part / whole : 0.0;
}

nlohmann::json source_json(const SourceCounts& s) {
  nlohmann::json tokens = nlohmann::json::object();
  for (size_t k = 0; k < s.special_token_strings.size(); k++)
    if (k < s.special_token_by_string.size() && s.special_token_by_string[k].count)
      tokens[s.special_token_strings[k]] = finding_json(s.special_token_by_string[k]);
  nlohmann::json special = finding_json(s.special_token_pairs);
  special["tokens"] = tokens;
  nlohmann::json trunc = {{"pairs_cut", finding_json(s.pairs_cut)},
                          {"completions_cut", finding_json(s.completion_cut)},
                          {"emptied", finding_json(s.emptied)},
                          {"completion_tokens_before", s.completion_tokens_before},
                          {"completion_tokens_cut", s.completion_tokens_cut},
                          {"completion_tokens_cut_share", share(s.completion_tokens_cut, s.completion_tokens_before)},
                          {"prompt_tokens_cut", s.prompt_tokens_cut}};
  return {{"file", s.file},
          {"lines", s.lines},
          {"blank_lines", s.blank},
          {"invalid_skipped", s.invalid_skipped},
          {"pairs_read", s.parsed},
          {"conversational", s.conversational},
          {"implicit_prompt", s.implicit_prompt},
          {"eos_appended", s.eos_appended},
          {"bos_deduplicated", s.bos_deduplicated},
          {"boundary_mismatches", s.boundary_mismatches},
          {"dropped",
           {{"prompt_fills_max_length", finding_json(s.dropped_prompt_fills_max_length)},
            {"no_completion_tokens", finding_json(s.dropped_no_completion_tokens)}}},
          {"identical_text", finding_json(s.identical_text)},
          {"identical_after_truncation", finding_json(s.identical_after_truncation)},
          {"truncation", trunc},
          {"special_tokens_in_text", special}};
}

nlohmann::json split_json(const SplitReport& r) {
  const PairFindings& f = r.findings;
  const PairStats& s = r.stats;
  auto with_first = [](const Finding& x, int64_t first) {
    nlohmann::json j = finding_json(x);
    j["first_seen"] = place(first);
    return j;
  };
  nlohmann::json j = {
      {"file", r.written_to},
      {"examples_in", r.examples_in},
      {"pairs_in", r.pairs_in},
      {"pairs_written", s.pairs},
      {"dropped",
       {{"identical", f.dropped_identical}, {"duplicate", f.dropped_duplicate}, {"leaked_val", f.dropped_leaked}}},
      {"identical_tokens", finding_json(f.identical_tokens)},
      {"duplicate_pairs", with_first(f.duplicate_pairs, f.duplicate_of)},
      {"duplicate_prompts", with_first(f.duplicate_prompts, f.duplicate_prompt_of)},
      {"lengths",
       {{"prompt", lengths_json(s.prompt)},
        {"chosen", lengths_json(s.chosen)},
        {"rejected", lengths_json(s.rejected)}}},
      {"length_bias",
       {{"chosen_longer", s.chosen_longer},
        {"rejected_longer", s.rejected_longer},
        {"equal", s.equal_length},
        {"chosen_longer_share", share(s.chosen_longer, s.pairs)},
        {"rejected_longer_share", share(s.rejected_longer, s.pairs)},
        {"mean_difference", s.mean_difference},
        {"median_difference", s.median_difference},
        {"largest_difference", {{"tokens", s.largest_difference}, {"example", place(s.largest_difference_at)}}},
        {"smallest_difference", {{"tokens", s.smallest_difference}, {"example", place(s.smallest_difference_at)}}}}},
      {"shared_prefix",
       {{"pairs", s.shared_prefix_pairs},
        {"pair_share", share(s.shared_prefix_pairs, s.pairs)},
        {"mean_tokens", s.shared_prefix_mean_tokens},
        {"token_share", s.shared_prefix_token_share},
        {"longest", {{"tokens", s.longest_shared_prefix}, {"example", place(s.longest_shared_prefix_at)}}}}},
      {"histograms",
       {{"length_bin_width", s.length_bin_width},
        {"chosen", s.chosen_hist},
        {"rejected", s.rejected_hist},
        {"difference_lo", s.difference_lo},
        {"difference_bin_width", s.difference_bin_width},
        {"difference", s.difference_hist}}}};
  if (r.has_leak_check) j["leaked_prompts"] = with_first(f.leaked, f.leaked_from);
  return j;
}

}  // namespace

nlohmann::json report_json(const PairReport& r) {
  nlohmann::json inputs = nlohmann::json::array(), splits = nlohmann::json::object();
  for (const SourceCounts& s : r.inputs) inputs.push_back(source_json(s));
  for (const SplitReport& s : r.splits) splits[s.name] = split_json(s);
  using T = ReportThresholds;
  return {{"format", "align.cu pair report"},
          {"version", 1},
          {"tool", r.tool},
          {"examples_are", r.where},
          {"choices",
           {{"drop_identical", r.choices.drop_identical},
            {"dedupe", r.choices.dedupe},
            {"drop_leaked_val", r.choices.drop_leaked_val}}},
          {"thresholds",
           {{"cut_by_truncation_share", T::cut_by_truncation_share},
            {"duplicate_prompt_share", T::duplicate_prompt_share},
            {"longer_share", T::longer_share},
            {"longer_min_pairs", T::longer_min_pairs},
            {"shared_prefix_token_share", T::shared_prefix_token_share}}},
          {"inputs", inputs},
          {"splits", splits},
          {"warnings", report_warnings(r)}};
}

void write_report_json(const std::string& path, const PairReport& r) {
  const std::string text = report_json(r).dump(1) + "\n";
  write_file_atomic(path, [&](std::FILE* fp) { write_all(fp, text.data(), text.size(), path); });
}

// ---- the table and the warnings ---------------------------------------------------------------

namespace {

std::string example(const PairReport& r, const Finding& f) {
  return f.example >= 0 ? cat(" (e.g. ", r.where, " ", f.example, ")") : std::string();
}

// The flags that drop findings are prepare_pairs' own.
std::string by_prepare(const PairReport& r) {
  return r.tool == "prepare_pairs" ? "" : "prepare_pairs ";
}

std::string pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", 100 * x);
  return b;
}

std::string num(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%+.1f", x);
  return b;
}

}  // namespace

std::vector<std::string> report_warnings(const PairReport& r) {
  using T = ReportThresholds;
  std::vector<std::string> w;
  auto warn = [&](const std::string& file, uint64_t n, const std::string& what, const std::string& ex,
                  const std::string& advice) { w.push_back(cat(file, ": ", n, " ", what, ex, ": ", advice)); };
  for (const SourceCounts& s : r.inputs) {
    if (s.identical_text.count > T::identical)
      warn(s.file, s.identical_text.count, "pairs whose chosen and rejected are the same text",
           example(r, s.identical_text),
           r.choices.drop_identical ? "no preference signal; dropped (--drop-identical)"
                                    : cat("no preference signal; ", by_prepare(r), "--drop-identical removes them"));
    if (s.identical_after_truncation.count > T::identical)
      warn(s.file, s.identical_after_truncation.count, "pairs whose answers differ as text but not after truncation",
           example(r, s.identical_after_truncation),
           r.choices.drop_identical ? "dropped (--drop-identical); raise --max-length to keep them"
                                    : cat("raise --max-length, or ", by_prepare(r), "--drop-identical removes them"));
    if (s.emptied.count > T::emptied_by_truncation)
      warn(s.file, s.emptied.count, "pairs dropped because the prompt fills --max-length", example(r, s.emptied),
           "raise --max-length or set --max-prompt-length to keep them");
    if (share(s.completion_cut.count, s.parsed) > T::cut_by_truncation_share)
      warn(s.file, s.completion_cut.count, "pairs with a completion cut by truncation", example(r, s.completion_cut),
           cat(pct(share(s.completion_tokens_cut, s.completion_tokens_before)),
               " of completion tokens lost; a cut answer loses its end (EOS): raise --max-length"));
    if (s.special_token_pairs.count > T::special_tokens) {
      std::string which;
      for (size_t k = 0; k < s.special_token_by_string.size(); k++)
        if (s.special_token_by_string[k].count) which += (which.empty() ? "" : " ") + s.special_token_strings[k];
      warn(s.file, s.special_token_pairs.count, cat("pairs with special-token strings in their text (", which, ")"),
           example(r, s.special_token_pairs), "they become control tokens; remove or escape them in the data");
    }
  }
  for (const SplitReport& sp : r.splits) {
    const PairFindings& f = sp.findings;
    const std::string& file = sp.examples_in;
    const std::string in = cat(" in ", sp.name);
    if (r.inputs.empty() && f.identical_tokens.count > T::identical)  // with the source, said per input above
      warn(file, f.identical_tokens.count, cat("pairs", in, " whose chosen and rejected tokens are identical"),
           example(r, f.identical_tokens),
           r.choices.drop_identical ? "dropped (--drop-identical)"
                                    : cat("no signal; ", by_prepare(r), "--drop-identical removes them"));
    if (f.duplicate_pairs.count > T::duplicate_pairs)
      warn(file, f.duplicate_pairs.count, cat("pairs", in, " that repeat an earlier pair"),
           f.duplicate_pairs.example >= 0
               ? cat(" (e.g. ", r.where, " ", f.duplicate_pairs.example, " repeats ", r.where, " ", f.duplicate_of, ")")
               : "",
           r.choices.dedupe ? "dropped (--dedupe)" : cat("they weigh twice; ", by_prepare(r), "--dedupe removes them"));
    if (share(f.duplicate_prompts.count, sp.pairs_in) > T::duplicate_prompt_share)
      warn(file, f.duplicate_prompts.count, cat("pairs", in, " whose prompt occurs in an earlier pair"),
           f.duplicate_prompts.example >= 0 ? cat(" (e.g. ", r.where, " ", f.duplicate_prompts.example,
                                                  " repeats the prompt of ", r.where, " ", f.duplicate_prompt_of, ")")
                                            : "",
           "few distinct prompts: the model may learn the prompts rather than the preference");
    if (sp.has_leak_check && f.leaked.count > T::leaked_val)
      warn(file, f.leaked.count, "validation pairs whose prompt occurs in the training split",
           f.leaked.example >= 0 ? cat(" (e.g. ", r.where, " ", f.leaked.example, ", first in training at ", r.where,
                                       " ", f.leaked_from, " of ", r.splits[0].examples_in, ")")
                                 : "",
           r.choices.drop_leaked_val
               ? "dropped from validation (--drop-leaked-val)"
               : cat("eval metrics overstate generalisation; ", by_prepare(r), "--drop-leaked-val removes them"));
    const PairStats& s = sp.stats;
    for (const bool chosen : {true, false}) {
      const uint64_t n = chosen ? s.chosen_longer : s.rejected_longer;
      if (s.pairs >= T::longer_min_pairs && share(n, s.pairs) > T::longer_share)
        warn(file, n,
             cat("pairs", in, " (", pct(share(n, s.pairs)), ") where ", chosen ? "chosen" : "rejected",
                 " is longer than ", chosen ? "rejected" : "chosen"),
             cat(" (chosen - rejected: mean ", num(s.mean_difference), ", median ", num(s.median_difference),
                 " tokens; e.g. ", r.where, " ", chosen ? s.largest_difference_at : s.smallest_difference_at, ", ",
                 num((double)(chosen ? s.largest_difference : s.smallest_difference)), ")"),
             "DPO learns length along with preference; compare lengths in eval, consider a length-normalised loss");
    }
    if (s.shared_prefix_token_share > T::shared_prefix_token_share)
      warn(file, s.shared_prefix_pairs,
           cat("pairs", in, " whose answers share a prefix (", pct(s.shared_prefix_token_share),
               " of completion tokens)"),
           cat(" (e.g. ", r.where, " ", s.longest_shared_prefix_at, ", ", s.longest_shared_prefix, " tokens)"),
           "shared tokens cancel in the DPO margin: the signal is only in what follows");
  }
  return w;
}

void print_report(std::FILE* out, const PairReport& r) {
  for (const SourceCounts& s : r.inputs) {
    std::fprintf(out, "report of %s: %zu pairs read\n", s.file.c_str(), s.parsed);
    std::fprintf(out, "  identical answers     %llu as text, %llu more as tokens after truncation\n",
                 (unsigned long long)s.identical_text.count, (unsigned long long)s.identical_after_truncation.count);
    std::fprintf(out, "  truncation            %llu pairs cut (%s of completion tokens), %llu emptied and dropped\n",
                 (unsigned long long)s.pairs_cut.count,
                 pct(share(s.completion_tokens_cut, s.completion_tokens_before)).c_str(),
                 (unsigned long long)s.emptied.count);
    std::string which;
    for (size_t k = 0; k < s.special_token_by_string.size(); k++)
      if (s.special_token_by_string[k].count)
        which += cat(which.empty() ? ": " : ", ", s.special_token_strings[k], " ", s.special_token_by_string[k].count);
    std::fprintf(out, "  special tokens in text %llu pairs%s\n", (unsigned long long)s.special_token_pairs.count,
                 which.c_str());
  }
  for (const SplitReport& sp : r.splits) {
    const PairFindings& f = sp.findings;
    const PairStats& s = sp.stats;
    std::fprintf(out, "report of %s (%s): %llu of %llu pairs written\n", sp.name.c_str(), sp.written_to.c_str(),
                 (unsigned long long)s.pairs, (unsigned long long)sp.pairs_in);
    std::fprintf(out, "  dropped by choice     %llu identical, %llu duplicate, %llu leaked\n",
                 (unsigned long long)f.dropped_identical, (unsigned long long)f.dropped_duplicate,
                 (unsigned long long)f.dropped_leaked);
    std::fprintf(out, "  identical tokens      %llu pairs; duplicates %llu pairs, %llu repeated prompts%s\n",
                 (unsigned long long)f.identical_tokens.count, (unsigned long long)f.duplicate_pairs.count,
                 (unsigned long long)f.duplicate_prompts.count,
                 sp.has_leak_check ? cat("; ", f.leaked.count, " prompts also in training").c_str() : "");
    std::fprintf(out, "  tokens p50/p90/max    prompt %llu/%llu/%llu, chosen %llu/%llu/%llu, rejected %llu/%llu/%llu\n",
                 (unsigned long long)s.prompt.p50, (unsigned long long)s.prompt.p90, (unsigned long long)s.prompt.max,
                 (unsigned long long)s.chosen.p50, (unsigned long long)s.chosen.p90, (unsigned long long)s.chosen.max,
                 (unsigned long long)s.rejected.p50, (unsigned long long)s.rejected.p90,
                 (unsigned long long)s.rejected.max);
    std::fprintf(out,
                 "  length bias           chosen longer in %s, rejected in %s; chosen - rejected mean %s, median %s\n",
                 pct(share(s.chosen_longer, s.pairs)).c_str(), pct(share(s.rejected_longer, s.pairs)).c_str(),
                 num(s.mean_difference).c_str(), num(s.median_difference).c_str());
    std::fprintf(out, "  shared prefix         %s of pairs, %s of completion tokens\n",
                 pct(share(s.shared_prefix_pairs, s.pairs)).c_str(), pct(s.shared_prefix_token_share).c_str());
  }
}

// ---- inspect --report -------------------------------------------------------------------------

PairReport report_from_files(const std::string& train_path, const std::string& val_path) {
  PairReport r;
  r.tool = "inspect", r.where = "pair";
  const PairsFile train(train_path);
  std::optional<PairsFile> val;
  if (!val_path.empty()) val.emplace(val_path);
  r.splits.emplace_back("train", train_path);
  SplitReport& t = r.splits.back();
  std::vector<PairsFile::View> views;
  for (size_t i = 0; i < train.size(); i++) {
    views.push_back(train.get(i));
    t.findings.add((int64_t)i, views.back());
  }
  t.pairs_in = train.size();
  t.stats = pair_stats(views);
  if (val) {
    r.splits.emplace_back("val", val_path);
    SplitReport& v = r.splits.back();
    v.has_leak_check = true;
    views.clear();
    for (size_t i = 0; i < val->size(); i++) {
      views.push_back(val->get(i));
      v.findings.add((int64_t)i, views.back());
      v.findings.check_leak((int64_t)i, views.back(), r.splits[0].findings);
    }
    v.pairs_in = val->size();
    v.stats = pair_stats(views);
  }
  return r;
}

}  // namespace align::data
