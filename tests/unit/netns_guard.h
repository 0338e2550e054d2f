// Test-only: a network namespace the test owns (deleted on destruction, also
// when an assertion fails) and a guard that moves the calling thread into a
// namespace and back. Used by the io tests that need real interfaces.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace hn::test {

inline bool Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// A network namespace named hnt-io-<pid>-N (N counts up across all tests of the binary).
class TestNetns {
 public:
  TestNetns() {
    static int counter = 0;
    name_ = "hnt-io-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    Sh("ip netns del " + name_);
    ok_ = Sh("ip netns add " + name_);
  }
  ~TestNetns() { Sh("ip netns del " + name_); }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// Moves the calling thread into a namespace; back to the original on destruction.
class NetnsEnter {
 public:
  explicit NetnsEnter(const std::string& name) {
    orig_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = orig_ >= 0 && fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) ::close(fd);
  }
  ~NetnsEnter() {
    if (orig_ >= 0) {
      if (ok_ && ::setns(orig_, CLONE_NEWNET) != 0) std::abort();  // must never stay inside
      ::close(orig_);
    }
  }
  NetnsEnter(const NetnsEnter&) = delete;
  NetnsEnter& operator=(const NetnsEnter&) = delete;
  bool ok() const { return ok_; }

 private:
  int orig_ = -1;
  bool ok_ = false;
};

}  // namespace hn::test
