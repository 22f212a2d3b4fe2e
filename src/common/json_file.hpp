// json_file.hpp: a JSON file parsed with nlohmann-json, errors naming the file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace align {

nlohmann::json read_json_file(const std::string& path);  // InputError "path: cannot open" / "path: not valid JSON: ..."

}  // namespace align
