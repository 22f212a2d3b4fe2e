// file_io.hpp: whole-file reads, atomic writes, and the directory operations
// that checkpoints are built from, all durable (fsynced) and all passing
// through one fault-injection point.
//
// write_file_atomic writes to "<path>.tmp.<pid>", flushes it to disk, renames
// it over <path> and fsyncs the folder, so a reader never sees a partial file,
// a failed write leaves any earlier file untouched, and after it returns the
// new file survives a power loss.
//
// Fault injection: every operation that changes the disk first calls the hook
// installed with set_file_fault_hook (tests install one that kills the process
// at the n-th operation, to prove that a kill at any point leaves a loadable
// checkpoint; see tests/test_checkpoint_kill.cpp). Without a hook it costs a
// branch.
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

// Durable directory operations (InputError naming the path on failure).
void make_directory(const std::string& path);        // one level; fsyncs the parent
void remove_tree(const std::string& path);           // a file or a folder with its contents, if present; fsyncs the parent
void rename_path(const std::string& from, const std::string& to);  // atomic within one file system; fsyncs the parent
void fsync_directory(const std::string& path);

// The same path? (after resolving links and "..", for files that exist); an output must not
// name an input: prepare_pairs -i x.jsonl -o x.jsonl would destroy its input.
bool same_file(const std::string& a, const std::string& b);

// 64-bit FNV-1a over 8-byte little-endian words, then the trailing bytes one at a time: the
// checksum of checkpoint files (manifest.json) and of training data (the fingerprint in state.json).
uint64_t bytes_checksum(const void* data, size_t bytes, uint64_t seed = 0xcbf29ce484222325ull);
uint64_t file_checksum(const std::string& path);  // of the whole file, read in blocks

// The fault-injection point: op is a short name ("create", "write", "fsync", "rename", "mkdir",
// "remove", "fsync_dir"), path what it acts on. nullptr removes the hook.
using FileFaultHook = std::function<void(const char* op, const std::string& path)>;
void set_file_fault_hook(FileFaultHook hook);
void file_fault_point(const char* op, const std::string& path);

}  // namespace align
