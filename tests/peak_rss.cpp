// peak_rss: runs a command and writes its peak resident memory (getrusage's ru_maxrss of the
// child, in KiB) to a file, for the memory bound of data preparation (test_prepare_memory.cpp).
// A separate small program: a child's ru_maxrss counts the memory it was forked with, so the
// command is forked from this process, not from the test binary with its test data.
//   peak_rss OUT_FILE COMMAND [ARGS...]       (COMMAND's stdout and stderr are this program's)
// Exits with the command's exit status (127 when it could not be run).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: peak_rss OUT_FILE COMMAND [ARGS...]\n");
    return 2;
  }
  const pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    ::execv(argv[2], argv + 2);
    ::_exit(127);
  }
  int status = 0;
  struct rusage ru {};
  if (::wait4(pid, &status, 0, &ru) != pid) return 127;
  FILE* f = std::fopen(argv[1], "w");
  if (!f) return 127;
  std::fprintf(f, "%ld\n", ru.ru_maxrss);
  std::fclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}
