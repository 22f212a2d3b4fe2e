// file_io.hpp: whole-file reads and atomic writes.
// write_file_atomic writes to "<path>.tmp.<pid>", flushes it to disk and
// renames it over <path>, so a reader never sees a partial file and a failed
// write leaves any earlier file untouched.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace align {

std::vector<uint8_t> read_file_bytes(const std::string& path);  // throws InputError naming the path
uint64_t file_size(const std::string& path);                     // throws InputError naming the path
// write(fp) must write the whole content; any exception or write error removes the temporary file.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write);
void write_all(std::FILE* fp, const void* data, size_t bytes, const std::string& path);
// "-" means standard input; otherwise `file` is opened on path (InputError naming it) and returned.
std::istream& open_input(const std::string& path, std::ifstream& file);

}  // namespace align
