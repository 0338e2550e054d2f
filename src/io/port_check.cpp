// Port checks. Link state (exists, up, master) comes from rtnetlink rather
// than /sys/class/net: sysfs shows the network namespace it was mounted in,
// which is not ours when the process entered a namespace with setns() (the
// lab and the tests do), and a same-named interface of another namespace
// would answer. Netlink, ioctls, getifaddrs() and /proc/sys/net all follow the
// calling thread's namespace.
#include "io/port_check.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

namespace hn {
namespace {

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string NoSuchInterface(const std::string& ifname) {
  return "interface " + ifname + " does not exist (create it, or fix inside.interface/outside.interface)";
}

Status NameCheck(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return Status::Error("interface name '" + ifname + "' is not valid (1 to " +
                         std::to_string(IFNAMSIZ - 1) + " characters)");
  }
  return Status::Ok();
}

// The sysctl key for a per-interface setting: dots in the interface name are
// written as slashes (net.ipv4.conf.eth0/100.forwarding).
std::string SysctlKey(const std::string& family, const std::string& ifname, const std::string& leaf) {
  std::string n = ifname;
  for (char& c : n) {
    if (c == '.') c = '/';
  }
  return "net." + family + ".conf." + n + "." + leaf;
}

// First line of a /proc/sys file as an integer; nullopt when absent/unreadable.
std::optional<long> ReadProcInt(const std::string& path) {
  std::ifstream in(path);
  long v = 0;
  if (!(in >> v)) return std::nullopt;
  return v;
}

struct LinkInfo {
  unsigned flags = 0;
  int master = 0;             // ifindex, 0 = none
  uint32_t gso_max_size = 0;  // 0 = not told
};

// Asks rtnetlink for the link named ifname. Error: ENODEV (errno style) or a message.
Result<LinkInfo> GetLink(const std::string& ifname, int* err_out) {
  *err_out = 0;
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (fd.fd < 0) return Status::Error(std::string("netlink socket: ") + std::strerror(errno));
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
    char attrs[RTA_SPACE(IFNAMSIZ)];
  } req{};
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = 1;
  req.ifi.ifi_family = AF_UNSPEC;
  auto* rta = reinterpret_cast<rtattr*>(req.attrs);
  rta->rta_type = IFLA_IFNAME;
  rta->rta_len = uint16_t(RTA_LENGTH(ifname.size() + 1));
  std::memcpy(RTA_DATA(rta), ifname.c_str(), ifname.size() + 1);
  req.nh.nlmsg_len = uint32_t(NLMSG_LENGTH(sizeof(ifinfomsg)) + RTA_ALIGN(rta->rta_len));
  if (::send(fd.fd, &req, req.nh.nlmsg_len, 0) < 0) {
    return Status::Error(std::string("netlink send: ") + std::strerror(errno));
  }
  alignas(nlmsghdr) char buf[32768];
  ssize_t n = ::recv(fd.fd, buf, sizeof(buf), 0);
  if (n < 0) return Status::Error(std::string("netlink recv: ") + std::strerror(errno));
  int len = int(n);
  for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
    if (nh->nlmsg_type == NLMSG_ERROR) {
      auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(nh));
      if (e->error == 0) continue;  // an ack, not an error
      *err_out = -e->error;
      return Status::Error(std::string("netlink RTM_GETLINK: ") + std::strerror(-e->error));
    }
    if (nh->nlmsg_type != RTM_NEWLINK) continue;
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nh));
    LinkInfo info;
    info.flags = ifi->ifi_flags;
    int alen = int(IFLA_PAYLOAD(nh));
    for (auto* a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
      if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
        uint32_t m = 0;
        std::memcpy(&m, RTA_DATA(a), sizeof(m));
        info.master = int(m);
      }
      if (a->rta_type == IFLA_GSO_MAX_SIZE && RTA_PAYLOAD(a) >= sizeof(uint32_t))
        std::memcpy(&info.gso_max_size, RTA_DATA(a), sizeof(uint32_t));
    }
    return info;
  }
  return Status::Error("netlink RTM_GETLINK: no answer for " + ifname);
}

// "10.0.0.1/24" style text of one interface address.
std::string AddrText(const ifaddrs* a) {
  char text[INET6_ADDRSTRLEN] = "?";
  int prefix = 0;
  if (a->ifa_addr->sa_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    if (a->ifa_netmask != nullptr) {
      uint32_t m = ntohl(reinterpret_cast<const sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
      prefix = __builtin_popcount(m);
    }
  } else {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    if (a->ifa_netmask != nullptr) {
      const auto* m = reinterpret_cast<const sockaddr_in6*>(a->ifa_netmask)->sin6_addr.s6_addr;
      for (int i = 0; i < 16; ++i) prefix += __builtin_popcount(m[i]);
    }
  }
  return std::string(text) + "/" + std::to_string(prefix);
}

// Every IPv4/IPv6 address on ifname, as text; error when getifaddrs fails.
Result<std::vector<std::string>> Addresses(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) < 0) return Status::Error(std::string("getifaddrs: ") + std::strerror(errno));
  std::vector<std::string> out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_name == nullptr || ifname != a->ifa_name) continue;
    if (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6) out.push_back(AddrText(a));
  }
  ::freeifaddrs(list);
  return out;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += sep;
    s += x;
  }
  return s;
}

}  // namespace

uint32_t GsoMaxSize(const std::string& ifname) {
  int err = 0;
  Result<LinkInfo> link = GetLink(ifname, &err);
  return link.ok() ? link.value().gso_max_size : 0;
}

namespace {

// One legacy ethtool get/set pair and the flag it controls.
struct Offload {
  const char* name;
  uint32_t get_cmd;
  uint32_t set_cmd;
  uint32_t flag;  // 0: the value is a bool; else a bit in ETHTOOL_GFLAGS
  bool prerequisite = false;  // what TSO needs: turned on for want_segmentation, else left as it is
};

// In this order: the kernel turns TSO on only where TX checksums and
// scatter-gather are on.
constexpr Offload kOffloads[] = {
    {"gro", ETHTOOL_GGRO, ETHTOOL_SGRO, 0},
    {"tx-checksumming", ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM, 0, true},
    {"sg", ETHTOOL_GSG, ETHTOOL_SSG, 0, true},
    {"gso", ETHTOOL_GGSO, ETHTOOL_SGSO, 0},
    {"tso", ETHTOOL_GTSO, ETHTOOL_STSO, 0},
    {"lro", ETHTOOL_GFLAGS, ETHTOOL_SFLAGS, ETH_FLAG_LRO},
};

// SIOCETHTOOL with an ethtool_value; returns 0 or errno.
int EthtoolValue(int fd, const std::string& ifname, uint32_t cmd, uint32_t* data) {
  ethtool_value ev{};
  ev.cmd = cmd;
  ev.data = *data;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  if (::ioctl(fd, SIOCETHTOOL, &ifr) < 0) return errno;
  *data = ev.data;
  return 0;
}

bool IsOn(const Offload& o, uint32_t value) { return o.flag ? (value & o.flag) != 0 : value != 0; }

Status EthtoolError(const std::string& ifname, const char* what, int err, const char* verb = "turning off") {
  if (err == ENODEV) return Status::Error(NoSuchInterface(ifname));
  if (err == EPERM || err == EACCES) {
    return Status::Error(std::string(verb) + " " + what + " on " + ifname +
                         " needs root or CAP_NET_ADMIN: run as root");
  }
  return Status::Error("ethtool " + std::string(what) + " on " + ifname + " failed: " + std::strerror(err));
}

}  // namespace

Status CheckDataPort(const std::string& ifname) {
  if (Status s = NameCheck(ifname); !s.ok()) return s;
  int err = 0;
  Result<LinkInfo> link = GetLink(ifname, &err);
  if (!link.ok()) {
    if (err == ENODEV) return Status::Error(NoSuchInterface(ifname));
    return Status::Error("checking interface " + ifname + ": " + link.status().message());
  }

  std::vector<std::string> problems;
  if ((link->flags & IFF_UP) == 0) {
    problems.push_back(ifname + " is down; bring it up: ip link set " + ifname + " up");
  }
  if (link->master != 0) {
    char master[IF_NAMESIZE] = "?";
    if (::if_indextoname(unsigned(link->master), master) == nullptr) std::strcpy(master, "?");
    problems.push_back(ifname + " is enslaved to " + master +
                       ": the kernel bridge/bond would switch frames itself; release it: ip link set " +
                       ifname + " nomaster");
  }
  Result<std::vector<std::string>> addrs = Addresses(ifname);
  if (!addrs.ok()) return Status::Error("checking addresses of " + ifname + ": " + addrs.status().message());
  if (!addrs->empty()) {
    problems.push_back(ifname + (addrs->size() == 1 ? " has address " : " has addresses ") +
                       Join(*addrs, ", ") +
                       ": the host would answer/route frames there; remove it: ip addr flush dev " + ifname);
  }
  // Absent when the kernel has no IPv6 at all: nothing to turn off then.
  std::optional<long> v6off = ReadProcInt("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6");
  if (v6off && *v6off != 1) {
    problems.push_back(ifname +
                       " has IPv6 enabled: the host would add an address and send RS/MLD/DAD frames; "
                       "turn it off: sysctl -w " + SysctlKey("ipv6", ifname, "disable_ipv6") + "=1");
  }
  std::optional<long> fwd = ReadProcInt("/proc/sys/net/ipv4/conf/" + ifname + "/forwarding");
  if (fwd && *fwd == 1) {
    problems.push_back(ifname + " has IPv4 forwarding on: the host would route frames arriving there; "
                       "turn it off: sysctl -w " + SysctlKey("ipv4", ifname, "forwarding") + "=0");
  }
  if (problems.empty()) return Status::Ok();
  return Status::Error("data port " + ifname + " is not ready: " + Join(problems, "; "));
}

Result<std::vector<std::string>> DisableOffloads(const std::string& ifname, bool keep_segmentation, bool want_gro,
                                                 bool want_segmentation) {
  if (Status s = NameCheck(ifname); !s.ok()) return s;
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) return Status::Error(std::string("socket for ethtool: ") + std::strerror(errno));
  std::vector<std::string> changes;
  for (const Offload& o : kOffloads) {
    const bool segmentation = o.set_cmd == ETHTOOL_SGSO || o.set_cmd == ETHTOOL_STSO || o.prerequisite;
    if (o.prerequisite && !want_segmentation) continue;
    if (keep_segmentation && !want_segmentation && segmentation) continue;
    uint32_t value = 0;
    int err = EthtoolValue(fd.fd, ifname, o.get_cmd, &value);
    if (err == EOPNOTSUPP) continue;
    if (err != 0) return EthtoolError(ifname, o.name, err);
    if ((want_gro && o.set_cmd == ETHTOOL_SGRO) || (want_segmentation && segmentation)) {
      // gro = true: on, not off. On a veth this also gives the port a NAPI
      // context, which is where the kernel coalesces. A device that cannot
      // (EOPNOTSUPP, EINVAL) forwards its frames as they come.
      if (value != 0) continue;
      uint32_t on = 1;
      err = EthtoolValue(fd.fd, ifname, o.set_cmd, &on);
      if (err == EOPNOTSUPP || err == EINVAL) continue;
      if (err != 0) return EthtoolError(ifname, o.name, err, "turning on");
      uint32_t now = 0;
      if (EthtoolValue(fd.fd, ifname, o.get_cmd, &now) == 0 && now != 0)
        changes.push_back(ifname + ": turned on " + o.name);
      continue;
    }
    if (!IsOn(o, value)) continue;
    uint32_t off = o.flag ? (value & ~o.flag) : 0;
    err = EthtoolValue(fd.fd, ifname, o.set_cmd, &off);
    if (err == EOPNOTSUPP || err == EINVAL) continue;  // fixed on this device
    if (err != 0) return EthtoolError(ifname, o.name, err);
    uint32_t now = 0;
    if (EthtoolValue(fd.fd, ifname, o.get_cmd, &now) == 0 && !IsOn(o, now)) {
      changes.push_back(ifname + ": turned off " + o.name);
    }
  }
  return changes;
}

Status SetLinkUp(const std::string& ifname) {
  if (Status s = NameCheck(ifname); !s.ok()) return s;
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) return Status::Error(std::string("socket: ") + std::strerror(errno));
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (::ioctl(fd.fd, SIOCGIFFLAGS, &ifr) < 0) {
    if (errno == ENODEV) return Status::Error(NoSuchInterface(ifname));
    return Status::Error("reading flags of " + ifname + " failed: " + std::strerror(errno));
  }
  if (ifr.ifr_flags & IFF_UP) return Status::Ok();
  ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP);
  if (::ioctl(fd.fd, SIOCSIFFLAGS, &ifr) < 0) {
    if (errno == EPERM || errno == EACCES) {
      return Status::Error("bringing " + ifname + " up needs root or CAP_NET_ADMIN: run as root");
    }
    return Status::Error("bringing " + ifname + " up failed: " + std::strerror(errno) +
                         " (try: ip link set " + ifname + " up)");
  }
  return Status::Ok();
}

}  // namespace hn
