// sd_notify without libsystemd (see sd_notify.h).
#include "common/sd_notify.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "common/fd.h"

namespace hn {

bool SdNotify(const std::string& state) {
  const char* e = std::getenv("NOTIFY_SOCKET");
  if (e == nullptr || e[0] == '\0') return false;
  const std::string path = e;
  // A path ("/run/systemd/notify") or an abstract name ("@..."); systemd
  // also knows vsock:, which a host service never gets.
  if (path[0] != '/' && path[0] != '@') return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return false;
  std::memcpy(sa.sun_path, path.data(), path.size());
  if (path[0] == '@') sa.sun_path[0] = '\0';
  // An abstract name is exactly its bytes (no terminating NUL); a path may
  // carry one, the kernel accepts both.
  const socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) return false;
  // Never blocks the lab for long: a reader that does not keep up (its queue
  // full) gets up to 2 s, then the message is dropped.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    const ssize_t n = ::sendto(fd.fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(&sa), len);
    if (n >= 0) return n == ssize_t(state.size());
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd.fd, POLLOUT, 0};
    (void)::poll(&p, 1, int(left.count()));
  }
}

uint64_t SdWatchdogUsec() {
  const char* u = std::getenv("WATCHDOG_USEC");
  if (u == nullptr || u[0] == '\0') return 0;
  if (const char* p = std::getenv("WATCHDOG_PID"); p != nullptr && p[0] != '\0') {
    char* end = nullptr;
    errno = 0;
    const long long pid = std::strtoll(p, &end, 10);
    if (errno != 0 || *end != '\0' || pid != ::getpid()) return 0;
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(u, &end, 10);
  if (errno != 0 || *end != '\0' || u[0] == '-' || v == 0) return 0;
  return uint64_t(v);
}

std::string SdStatusText(const std::string& text) {
  size_t a = 0;
  std::string line;
  while (a <= text.size()) {
    size_t b = text.find('\n', a);
    if (b == std::string::npos) b = text.size();
    line = text.substr(a, b - a);
    if (line.find_first_not_of(" \t\r") != std::string::npos) break;
    line.clear();
    a = b + 1;
  }
  std::string out;
  const size_t first = line.find_first_not_of(" \t");
  for (size_t i = first == std::string::npos ? line.size() : first; i < line.size() && out.size() < 200; i++) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (c >= 0x20 && c != 0x7f) out += char(c);
  }
  return out;
}

}  // namespace hn
