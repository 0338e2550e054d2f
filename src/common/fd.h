// Fd: owns one file descriptor and closes it when it goes out of scope.
// Plain RAII, no other behaviour; not copyable. Who may call: anyone.
#pragma once

#include <unistd.h>

namespace hn {

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace hn
