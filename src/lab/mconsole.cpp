// mconsole client (see mconsole.h). Protocol: arch/um/include/shared/mconsole.h
// of the Linux source; fields in host byte order.
#include "lab/mconsole.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "lab/run.h"

namespace hn {
namespace {

constexpr uint32_t kMagic = 0xcafebabe;
constexpr uint32_t kVersion = 2;
constexpr size_t kMaxData = 512;

struct Request {
  uint32_t magic;
  uint32_t version;
  uint32_t len;
  char data[kMaxData];
};

struct Reply {
  uint32_t err;
  uint32_t more;
  uint32_t len;
  char data[kMaxData];
};

std::string DirName(const std::string& p) {
  size_t s = p.rfind('/');
  if (s == std::string::npos) return ".";
  if (s == 0) return "/";
  return p.substr(0, s);
}

std::string BaseName(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// A unix socket address for path. Paths longer than sun_path go through
// /proc/self/fd/N of an O_PATH descriptor of their directory (kept in *dirfd).
bool MakeAddr(const std::string& path, sockaddr_un* a, socklen_t* len, int* dirfd) {
  std::string p = path;
  if (p.size() >= sizeof(a->sun_path)) {
    *dirfd = ::open(DirName(path).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0) return false;
    p = "/proc/self/fd/" + std::to_string(*dirfd) + "/" + BaseName(path);
    if (p.size() >= sizeof(a->sun_path)) return false;
  }
  std::memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  std::memcpy(a->sun_path, p.data(), p.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + p.size() + 1);
  return true;
}

struct Closer {
  int fd = -1;
  ~Closer() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::string> MconsoleCommand(const std::string& sock, const std::string& cmd, int timeout_ms,
                                    const MconsoleClient& who) {
  if (cmd.size() >= kMaxData) return Status::Error("mconsole command too long: " + cmd);
  static std::atomic<unsigned> counter{0};
  // The client's own socket lives beside the guest's directory (which UML
  // removes when it stops), or in who.dir, named after this process.
  const std::string client = (who.dir.empty() ? DirName(DirName(sock)) : who.dir) + "/.mc-" +
                             std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sock";

  Closer s;
  sockaddr_un me{}, guest{};
  socklen_t me_len = 0, guest_len = 0;
  Closer me_dir, guest_dir;
  if (!MakeAddr(sock, &guest, &guest_len, &guest_dir.fd)) {
    return Status::Error("mconsole: path too long or directory missing: " + sock);
  }
  if (!who.netns.empty()) {
    // Abstract: "\0hn-mc-PID-N", in the guest's namespace.
    const std::string name = "hn-mc-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    me.sun_family = AF_UNIX;
    std::memcpy(me.sun_path + 1, name.data(), name.size());
    me_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    Status made = InNetns(who.netns, [&]() -> Status {
      s.fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s.fd < 0) return Status::Error(std::string("mconsole: socket: ") + std::strerror(errno));
      return Status::Ok();
    });
    if (!made.ok()) return made;
    if (::bind(s.fd, reinterpret_cast<sockaddr*>(&me), me_len) != 0) {
      return Status::Error("mconsole: cannot bind @" + name + " in " + who.netns + ": " + std::strerror(errno));
    }
  } else {
    s.fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0) return Status::Error(std::string("mconsole: socket: ") + std::strerror(errno));
    if (!MakeAddr(client, &me, &me_len, &me_dir.fd)) {
      return Status::Error("mconsole: path too long or directory missing: " + client);
    }
    ::unlink(me.sun_path);
    if (::bind(s.fd, reinterpret_cast<sockaddr*>(&me), me_len) != 0) {
      return Status::Error("mconsole: cannot bind " + client + ": " + std::strerror(errno));
    }
  }
  struct Unlink {
    const char* p;
    ~Unlink() {
      if (p[0] != '\0') ::unlink(p);
    }
  } unlink_me{me.sun_path};
  // The directory is root's: the name cannot have been swapped for a link
  // since the bind; NOFOLLOW all the same.
  if (who.netns.empty() && who.reply_uid >= 0 &&
      ::fchownat(AT_FDCWD, me.sun_path, static_cast<uid_t>(who.reply_uid), static_cast<gid_t>(who.reply_uid),
                 AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::Error("mconsole: cannot give " + client + " to uid " + std::to_string(who.reply_uid) + ": " +
                         std::strerror(errno));
  }

  Request req{};
  req.magic = kMagic;
  req.version = kVersion;
  req.len = static_cast<uint32_t>(cmd.size());
  std::memcpy(req.data, cmd.data(), cmd.size());
  if (::sendto(s.fd, &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&guest), guest_len) < 0) {
    return Status::Error("mconsole: cannot reach " + sock + " (" + std::strerror(errno) +
                         "): is the guest running?");
  }

  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::Error("mconsole: no reply to '" + cmd + "' from " + sock);
    pollfd p{s.fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    Reply rep{};
    ssize_t n = ::recv(s.fd, &rep, sizeof rep, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < static_cast<ssize_t>(3 * sizeof(uint32_t))) {
      return Status::Error("mconsole: short reply from " + sock);
    }
    size_t len = std::min<size_t>(rep.len, std::min<size_t>(kMaxData, n - 3 * sizeof(uint32_t)));
    std::string part(rep.data, len);
    while (!part.empty() && part.back() == '\0') part.pop_back();
    text += part;
    if (rep.err != 0) return Status::Error("mconsole '" + cmd + "': " + text);
    if (!rep.more) return text;
  }
}

}  // namespace hn
