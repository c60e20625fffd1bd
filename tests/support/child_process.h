// Starts a real service binary as a child process for integration and crash tests.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace testing_support {

class ChildProcess {
 public:
  // Runs `binary args...` with extra environment entries; stdout and stderr go to `log_path`.
  static absl::StatusOr<ChildProcess> Start(const std::string& binary,
                                            const std::vector<std::string>& args,
                                            const std::string& log_path,
                                            const std::map<std::string, std::string>& env = {},
                                            const std::string& working_dir = "");
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();  // SIGKILL and reap if still running

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Sends SIGTERM and waits; SIGKILL after `grace`. Returns the wait status.
  int Stop(absl::Duration grace = absl::Seconds(10));
  // Waits for the process to exit by itself; returns the wait status, or -1 on timeout.
  int WaitExit(absl::Duration timeout);

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int status_ = 0;
};

// Waits until `path` holds a port number (servers write it once listening).
absl::StatusOr<int> WaitForPortFile(const std::string& path, absl::Duration timeout);

// A fresh temporary directory for a test's files.
std::string MakeTempDir(const std::string& prefix);

}  // namespace testing_support
