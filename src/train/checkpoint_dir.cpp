// checkpoint_dir.cpp: checkpoint folders, their manifest and the swap protocol (checkpoint_dir.hpp).
#include "train/checkpoint_dir.hpp"

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/domain.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/json_file.hpp"

namespace align::train {

namespace fs = std::filesystem;

namespace {

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

bool parse_hex64(const nlohmann::json& v, uint64_t& out) {
  if (!v.is_string()) return false;
  const std::string s = v.get<std::string>();
  if (s.size() != 16 || s.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
  out = std::stoull(s, nullptr, 16);
  return true;
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::FILE* fp) { write_all(fp, text.data(), text.size(), path); });
}

// A file name a manifest may list: inside its folder, nothing else.
bool plain_name(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

// "" when dir is complete: the manifest parses, lists state.json, and every listed file exists with
// its size (and, with checksums, its checksum).
std::string check_dir(const std::string& dir, bool checksums) {
  const std::string manifest_path = (fs::path(dir) / "manifest.json").string();
  std::error_code ec;
  if (!fs::exists(manifest_path, ec))
    return "no manifest.json (an unfinished save, or a checkpoint of an older version)";
  nlohmann::json m;
  try {
    m = read_json_file(manifest_path);
  } catch (const InputError& e) {
    return e.what();
  }
  if (!m.is_object() || m.value("format", 0) != kCheckpointFormat || !m.contains("files") || !m["files"].is_array())
    return cat(manifest_path, ": not a manifest of checkpoint format ", kCheckpointFormat);
  bool has_state = false;
  for (const nlohmann::json& f : m["files"]) {
    uint64_t sum = 0;
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !plain_name(f["name"].get<std::string>()) ||
        !f.contains("bytes") || !f["bytes"].is_number_unsigned() || !f.contains("fnv1a64") ||
        !parse_hex64(f["fnv1a64"], sum))
      return cat(manifest_path, ": an entry is not {\"name\", \"bytes\", \"fnv1a64\"}: ", f.dump().substr(0, 80));
    const std::string name = f["name"].get<std::string>(), path = (fs::path(dir) / name).string();
    has_state |= name == "state.json";
    const uintmax_t size = fs::file_size(path, ec);
    if (ec) return cat(path, ": missing (listed in the manifest)");
    if (size != f["bytes"].get<uint64_t>())
      return cat(path, ": ", size, " bytes, the manifest says ", f["bytes"].get<uint64_t>());
    if (checksums) {
      const uint64_t got = file_checksum(path);
      if (got != sum) return cat(path, ": checksum ", hex64(got), ", the manifest says ", hex64(sum), " (corrupted)");
    }
  }
  if (!has_state) return cat(manifest_path, ": does not list state.json");
  return "";
}

}  // namespace

nlohmann::json state_to_json(const CheckpointState& s) {
  return {{"format", kCheckpointFormat},
          {"step", s.step},
          {"epoch", s.epoch},
          {"micro_batch", s.micro_batch},
          {"num_tokens", s.num_tokens},
          {"seed", s.seed},
          {"batch_size", s.batch_size},
          {"grad_accum", s.grad_accum},
          {"world_size", s.world_size},
          {"zero1", s.zero1},
          {"optimizer_step", s.optimizer_step},
          {"data_fingerprint", hex64(s.data_fingerprint)}};
}

CheckpointState state_from_json(const nlohmann::json& j, const std::string& where) {
  ALIGN_REQUIRE(j.is_object(), where, ": expected a JSON object, found a ", j.type_name());
  const int64_t format = json_integer(j, "format", Domain::ints(0, 1e6), where);
  ALIGN_REQUIRE(format == kCheckpointFormat, where, ": checkpoint format ", format, ", this build reads format ",
                kCheckpointFormat);
  CheckpointState s;
  s.step = json_integer(j, "step", domains::steps(), where);
  s.epoch = json_integer(j, "epoch", domains::steps(), where);
  s.micro_batch = json_integer(j, "micro_batch", domains::steps(), where);
  s.num_tokens = (uint64_t)json_integer(j, "num_tokens", Domain::ints(0, 4611686018427387904.0), where);
  s.seed = (uint64_t)json_integer(j, "seed", domains::seed(), where);
  s.batch_size = json_integer(j, "batch_size", domains::batch(), where);
  s.grad_accum = json_integer(j, "grad_accum", domains::batch(), where);
  s.world_size = json_integer(j, "world_size", Domain::ints(1, 65536), where);
  s.optimizer_step = json_integer(j, "optimizer_step", domains::steps(), where);
  ALIGN_REQUIRE(j.contains("zero1") && j["zero1"].is_boolean(), where, ": field 'zero1' is ",
                j.contains("zero1") ? j["zero1"].type_name() : "missing", ", expected true or false");
  s.zero1 = j["zero1"].get<bool>();
  ALIGN_REQUIRE(j.contains("data_fingerprint") && parse_hex64(j["data_fingerprint"], s.data_fingerprint), where,
                ": field 'data_fingerprint' is not 16 hex digits");
  ALIGN_REQUIRE(s.optimizer_step == s.step, where, ": field 'step' = ", s.step, " but the optimizer state has made ",
                s.optimizer_step, " steps ('optimizer_step'); the files do not belong together");
  return s;
}

CheckpointState read_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / "state.json").string();
  return state_from_json(read_json_file(path), path);
}

void write_manifest(const std::string& dir, const std::vector<std::string>& files) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& name : files) {
    ALIGN_ASSERT(plain_name(name), "manifest entry '", name, "'");
    const std::string path = (fs::path(dir) / name).string();
    list.push_back({{"name", name}, {"bytes", file_size(path)}, {"fnv1a64", hex64(file_checksum(path))}});
  }
  const nlohmann::json m = {{"format", kCheckpointFormat}, {"files", list}};
  write_text((fs::path(dir) / "manifest.json").string(), m.dump(2) + "\n");
}

std::string verify_checkpoint(const std::string& dir) {
  return check_dir(dir, true);
}

namespace {
const char* const kNames[3] = {"checkpoint", "checkpoint.tmp", "checkpoint.old"};

// The newest complete folder of the three (index into kNames), or -1; reasons collects why others were refused.
int newest_complete(const std::string& out, bool checksums, CheckpointState* state, std::string* reasons) {
  int best = -1;
  std::error_code ec;
  for (int k = 0; k < 3; k++) {
    const std::string dir = (fs::path(out) / kNames[k]).string();
    if (!fs::is_directory(dir, ec)) continue;
    std::string why = check_dir(dir, checksums);
    CheckpointState s;
    if (why.empty()) {
      try {
        s = read_state(dir);
      } catch (const InputError& e) {
        why = e.what();
      }
    }
    if (!why.empty()) {
      if (reasons) *reasons += cat(reasons->empty() ? "" : "; ", kNames[k], "/: ", why);
      continue;
    }
    if (best < 0 || s.step > state->step) best = k, *state = s;
  }
  return best;
}
}  // namespace

FoundCheckpoint find_checkpoint(const std::string& out) {
  CheckpointState s;
  std::string reasons;
  const int k = newest_complete(out, true, &s, &reasons);
  ALIGN_REQUIRE(k >= 0, out, ": no complete checkpoint to resume from",
                reasons.empty() ? std::string(" (no checkpoint/ folder)") : cat(" (", reasons, ")"));
  return {(fs::path(out) / kNames[k]).string(), s};
}

std::string begin_checkpoint(const std::string& out) {
  const std::string cur = (fs::path(out) / kNames[0]).string(), tmp = (fs::path(out) / kNames[1]).string(),
                    old = (fs::path(out) / kNames[2]).string();
  // Structural completeness is enough here: folders are only ever filled under .tmp with the manifest
  // last, so one with a manifest whose files are all present at their sizes is one a save finished.
  CheckpointState s;
  const int k = newest_complete(out, false, &s, nullptr);
  if (k > 0) {  // the newest complete one is .tmp or .old (a kill during a swap): make it the current one
    remove_tree(cur);
    rename_path((fs::path(out) / kNames[k]).string(), cur);
  }
  remove_tree(tmp);
  remove_tree(old);
  make_directory(tmp);
  return tmp;
}

void commit_checkpoint(const std::string& out, const std::vector<std::string>& files) {
  const std::string cur = (fs::path(out) / kNames[0]).string(), tmp = (fs::path(out) / kNames[1]).string(),
                    old = (fs::path(out) / kNames[2]).string();
  write_manifest(tmp, files);
  fsync_directory(tmp);
  std::error_code ec;
  if (fs::exists(cur, ec)) rename_path(cur, old);
  rename_path(tmp, cur);
  remove_tree(old);
}

size_t truncate_metrics(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return 0;
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const std::string text(bytes.begin(), bytes.end());
  std::string kept;
  size_t removed = 0, pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {  // a row torn by a kill
      removed++;
      break;
    }
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("step") && row["step"].is_number_integer() &&
        row["step"].get<int64_t>() > step) {
      removed++;
      continue;
    }
    kept += line + "\n";
  }
  if (removed > 0) write_text(path, kept);
  return removed;
}

}  // namespace align::train
