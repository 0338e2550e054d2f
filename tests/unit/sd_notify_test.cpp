// Tests for common/sd_notify.h: datagrams to $NOTIFY_SOCKET (a path and an
// abstract name), the no-op without it, $WATCHDOG_USEC/$WATCHDOG_PID, STATUS text.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/sd_notify.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

// Restores an environment variable when the test ends.
struct EnvGuard {
  std::string name;
  std::string old;
  bool had;
  explicit EnvGuard(const char* n) : name(n) {
    const char* v = std::getenv(n);
    had = v != nullptr;
    if (had) old = v;
  }
  ~EnvGuard() {
    if (had) ::setenv(name.c_str(), old.c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

// A bound AF_UNIX datagram socket; Recv returns one datagram ("" on timeout).
struct Listener {
  int fd = -1;
  explicit Listener(const sockaddr_un& sa, socklen_t len) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&sa), len), 0) << std::strerror(errno);
  }
  ~Listener() {
    if (fd >= 0) ::close(fd);
  }
  std::string Recv(int timeout_ms = 2000) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, size_t(n)) : "";
  }
};

TEST(SdNotify, NoSocketIsANoOp) {
  EnvGuard g("NOTIFY_SOCKET");
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(SdNotify("READY=1"));
  ::setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_FALSE(SdNotify("READY=1"));
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);  // neither a path nor @abstract
  EXPECT_FALSE(SdNotify("READY=1"));
}

TEST(SdNotify, SendsToAPathSocket) {
  EnvGuard g("NOTIFY_SOCKET");
  char tmpl[] = "/tmp/hn-sdnotify-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/notify";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  {
    Listener l(sa, sizeof sa);
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    ASSERT_TRUE(SdNotify("READY=1\nSTATUS=lab ready: hp1"));
    EXPECT_EQ(l.Recv(), "READY=1\nSTATUS=lab ready: hp1");
    ASSERT_TRUE(SdNotify("WATCHDOG=1"));
    EXPECT_EQ(l.Recv(), "WATCHDOG=1");
  }
  fs::remove_all(dir);
  // The socket is gone: sending fails, and says so, without throwing.
  EXPECT_FALSE(SdNotify("STOPPING=1"));
}

TEST(SdNotify, SendsToAnAbstractSocket) {
  EnvGuard g("NOTIFY_SOCKET");
  const std::string name = "hn-sdnotify-test-" + std::to_string(::getpid());
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  Listener l(sa, socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size()));
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  ASSERT_TRUE(SdNotify("READY=1"));
  EXPECT_EQ(l.Recv(), "READY=1");
  // A longer name with the same prefix is another socket: nothing arrives here.
  ::setenv("NOTIFY_SOCKET", ("@" + name + "x").c_str(), 1);
  EXPECT_FALSE(SdNotify("READY=1"));
  EXPECT_EQ(l.Recv(100), "");
}

TEST(SdNotify, AFullQueueDoesNotBlockForever) {
  EnvGuard g("NOTIFY_SOCKET");
  const std::string name = "hn-sdnotify-full-" + std::to_string(::getpid());
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  Listener l(sa, socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size()));  // never read until the end
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  int sent = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 2000 && SdNotify("STATUS=" + std::string(1000, 'x')); i++) sent++;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(sent, 0);
  EXPECT_LT(sent, 2000) << "the queue never filled";
  EXPECT_LT(s, 10.0);
  EXPECT_EQ(l.Recv().size(), 1007u);  // what was queued is intact
}

TEST(SdNotify, WatchdogUsec) {
  EnvGuard u("WATCHDOG_USEC"), p("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  EXPECT_EQ(SdWatchdogUsec(), 0u);
  ::setenv("WATCHDOG_USEC", "60000000", 1);
  EXPECT_EQ(SdWatchdogUsec(), 60000000u);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(SdWatchdogUsec(), 60000000u);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);  // meant for another process
  EXPECT_EQ(SdWatchdogUsec(), 0u);
  ::unsetenv("WATCHDOG_PID");
  for (const char* bad : {"0", "-5", "abc", "12x", ""}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    EXPECT_EQ(SdWatchdogUsec(), 0u) << bad;
  }
}

TEST(SdNotify, StatusText) {
  EXPECT_EQ(SdStatusText(""), "");
  EXPECT_EQ(SdStatusText("\n\n  building image busybox\nsecond"), "building image busybox");
  EXPECT_EQ(SdStatusText("a\x1b[31mred\x07"), "a[31mred");
  EXPECT_EQ(SdStatusText(std::string(500, 'x')).size(), 200u);
}

}  // namespace
}  // namespace hn
