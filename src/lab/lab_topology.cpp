// Lab: the network topology on this machine: the lab's namespaces (hn-wall,
// hn-inet, a UML guest's hn-u-*), veths, taps, the bridge hn-br in hn-wall,
// the port lock on its ports, connections made in a namespace, and teardown
// (DownLocked: the lab's processes, then its namespaces).
#include "lab/lab_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "common/fs.h"
#include "lab/guest.h"
#include "lab/nsguest.h"
#include "lab/run.h"

namespace hn::lab_detail {
namespace {

constexpr int kWallStopMs = 10000;       // SIGTERM, then SIGKILL
constexpr const char* kUmlUplink = "uplink";  // a UML guest's veth end in its own namespace

}  // namespace

// ---------------------------------------------------------------------------
// Namespaces and interfaces

bool NetnsExists(const std::string& ns) { return FileExists("/run/netns/" + ns); }

// hn-wall, hn-inet and every namespace honeypot's hn-g-* and UML guest's
// hn-u-* on this machine (what `down --force` removes without a state file).
std::vector<std::string> LabNamespacesOnHost() {
  std::vector<std::string> out = {kWallNs, kInetNs};
  if (DIR* d = ::opendir("/run/netns")) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind(NsGuestNetnsName(""), 0) == 0 && n.size() > NsGuestNetnsName("").size()) out.push_back(n);
      if (n.rfind(GuestNetnsName(""), 0) == 0 && n.size() > GuestNetnsName("").size()) out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin() + 2, out.end());
  return out;
}

namespace {

// Pids of the processes whose network namespace is ns (what `ip netns pids` shows).
std::vector<int> PidsInNetns(const std::string& ns) {
  std::vector<int> pids;
  struct stat target {};
  if (::stat(("/run/netns/" + ns).c_str(), &target) != 0) return pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end || pid <= 0 || pid == ::getpid()) continue;
    struct stat st {};
    if (::stat(("/proc/" + std::string(e->d_name) + "/ns/net").c_str(), &st) != 0) continue;
    if (st.st_ino == target.st_ino && st.st_dev == target.st_dev) pids.push_back(int(pid));
  }
  ::closedir(d);
  return pids;
}

}  // namespace

Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(argv, "iproute2");
}

namespace {

Status Sysctl(const std::string& ns, const std::vector<std::string>& settings) {
  std::vector<std::string> argv = {"ip", "netns", "exec", ns, "sysctl", "-q", "-w"};
  argv.insert(argv.end(), settings.begin(), settings.end());
  return RunChecked(argv, "procps");
}

}  // namespace

// ---------------------------------------------------------------------------
// Down

bool AnythingAlive(const LabState& s) {
  if (Alive(s.wall) || Alive(s.services) || Alive(s.alerts)) return true;
  for (const GuestRec& g : s.guests) {
    if (GuestRecAnyProcess(g) || Alive(g.tty)) return true;
  }
  return false;
}

// Takes down everything the state names (and, with extra_ns, those namespaces
// too). Keeps going past errors and reports them all at the end.
Status DownLocked(const std::string& dd, const std::optional<LabState>& state,
                  const std::vector<std::string>& extra_ns, const Say& say) {
  std::vector<std::string> errors, done;
  if (state) {
    const LabState& s = *state;
    // Alerts first: a lab going down is not a honeypot or honeywall down.
    if (std::string how = StopProc(s.alerts, 3000); !how.empty()) done.push_back("alerts " + how);
    // Guests: clean halt in parallel, then kill (StopGuest finds every process of a guest).
    std::vector<std::thread> stoppers;
    std::vector<Status> results(s.guests.size());
    size_t n_running = 0;
    for (size_t i = 0; i < s.guests.size(); i++) {
      if (!GuestRecAnyProcess(s.guests[i])) {
        if (!IsNetns(s.guests[i])) (void)RemoveGuestCgroup(s.guests[i].spec);  // after a crash
        if (std::string how = StopProc(s.guests[i].tty, kTtyCaptureStopMs); !how.empty()) {
          done.push_back("tty capture of " + s.guests[i].spec.name + " " + how);
        }
        continue;
      }
      n_running++;
      stoppers.emplace_back([&, i] { results[i] = StopGuestRec(s.guests[i]); });
    }
    for (auto& t : stoppers) t.join();
    for (const Status& r : results) {
      if (!r.ok()) errors.push_back(r.message());
    }
    if (n_running) done.push_back(fmt::format("halted {} guest{}", n_running, n_running == 1 ? "" : "s"));
    if (std::string how = StopProc(s.wall, kWallStopMs); !how.empty()) done.push_back("honeywall " + how);
    if (std::string how = StopProc(s.services, 2000); !how.empty()) done.push_back("services " + how);
  }
  // Whatever still runs in the lab's namespaces (only the lab's own processes
  // ever run there: a guest's helpers after a crash, a child left behind).
  // A dedicated uplink NIC goes back to the host before hn-wall is deleted.
  if (state && state->uplink && !state->uplink->nic.empty()) {
    if (Status s = ReturnDedicatedNic(*state->uplink, kWallNs); !s.ok()) {
      errors.push_back(s.message());
    } else {
      done.push_back("gave " + state->uplink->nic + " back to the host");
    }
  }
  std::vector<std::string> spaces = extra_ns;
  if (state) spaces.insert(spaces.end(), state->namespaces.begin(), state->namespaces.end());
  std::sort(spaces.begin(), spaces.end());
  spaces.erase(std::unique(spaces.begin(), spaces.end()), spaces.end());
  for (const std::string& ns : spaces) {
    if (!NetnsExists(ns)) continue;
    std::vector<int> pids = PidsInNetns(ns);
    if (!pids.empty()) {
      for (int pid : pids) ::kill(pid, SIGKILL);
      done.push_back(fmt::format("killed {} leftover process{} in {}", pids.size(), pids.size() == 1 ? "" : "es", ns));
      int64_t end = MonoMs() + 5000;
      while (!PidsInNetns(ns).empty() && MonoMs() < end) {
        ReapChildren();
        SleepMs(20);
      }
    }
    RunResult r = RunCommand({"ip", "netns", "del", ns});
    if (NetnsExists(ns)) {
      errors.push_back("cannot delete namespace " + ns + ": " + r.out);
    } else {
      done.push_back("removed namespace " + ns);
    }
  }
  ReapChildren();
  // [uplink]: the host as it was (after the honeywall: until then, a black hole).
  if (state && state->uplink) {
    for (const std::string& e : UndoUplink(*state->uplink)) errors.push_back(e);
    done.push_back("restored the host's network (" + state->uplink_iface + ")");
  } else if (!state && !extra_ns.empty()) {
    // --force without a state file: what an uplink lab may have left (its
    // recorded sysctls are lost with the state).
    UplinkUndo any;
    any.table = RunCommand({"nft", "list", "table", "ip", kUplinkTable}).exit_code == 0;
    const RunResult routes = RunCommand({"ip", "route", "show", "table", std::to_string(kUplinkRouteTable)});
    any.rule = routes.exit_code == 0 && !routes.out.empty();
    any.veth = RunCommand({"ip", "link", "show", kUplinkHostVeth}).exit_code == 0;
    if (any.table || any.rule || any.veth) {
      for (const std::string& e : UndoUplink(any)) errors.push_back(e);
      done.push_back("removed an uplink's rules, routes and hn-up0");
    }
  }
  if (!errors.empty()) {
    return Status::Error("lab down: " + Join(errors, "; ") + " (the state stays in " + StatePath(dd) +
                         "; run `honeynet down` again)");
  }
  if (state && ::unlink(StatePath(dd).c_str()) != 0 && errno != ENOENT) {
    return Status::Error("cannot remove " + StatePath(dd) + ": " + Errno());
  }
  if (say) say("lab down: " + (done.empty() ? std::string("nothing was running") : Join(done, ", ")));
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Up: the Builder's steps that make namespaces and interfaces

Status Builder::AddNamespace(const std::string& ns) {
  st.namespaces.push_back(ns);
  if (Status s = Save(); !s.ok()) return s;
  if (Status s = Ip({"netns", "add", ns}); !s.ok()) return s;
  // IPv6 off before any device exists: no MLD, DAD or router solicitations from the lab.
  if (Status s = Sysctl(ns, {"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"});
      !s.ok())
    return s;
  return Ip({"-n", ns, "link", "set", "lo", "up"});
}

// Records the interfaces, then runs the ip command that makes them.
Status Builder::AddLinks(const std::vector<std::pair<std::string, std::string>>& links,
                         const std::vector<std::string>& cmd) {
  for (const auto& l : links) st.links.push_back(l);
  if (Status s = Save(); !s.ok()) return s;
  return Ip(cmd);
}

// A UML guest's network: its own namespace hn-u-NAME (IPv6 off before any
// device), a veth pair whose host end hn-vethI joins the bridge in hn-wall
// and whose other end "uplink" stays in hn-u-NAME, and the tap the guest's
// UML process opens, owned by its uid. Tap and uplink are joined by two tc
// mirred redirects (ingress of one to egress of the other): the frames pass
// as they are, with no bridge, no MAC learning and no IP stack between them
// (docs/lab.md). Each name is in the state before it is made.
Status Builder::UmlGuestNetwork(size_t i, const GuestSpec& g) {
  const std::string w = kWallNs, ns = g.netns, veth = VethName(i), tap = g.tap, up = kUmlUplink;
  const std::string uid = std::to_string(g.uid);
  if (Status s = AddNamespace(ns); !s.ok()) return s;
  if (Status s = AddLinks({{w, veth}, {ns, up}},
                          {"-n", w, "link", "add", veth, "type", "veth", "peer", "name", up, "netns", ns});
      !s.ok())
    return s;
  if (Status s = AddLinks({{ns, tap}}, {"-n", ns, "tuntap", "add", "dev", tap, "mode", "tap", "user", uid, "group", uid});
      !s.ok())
    return s;
  for (const auto& [from, to] : {std::pair{tap, up}, std::pair{up, tap}}) {
    if (Status s = RunChecked({"tc", "-n", ns, "qdisc", "add", "dev", from, "ingress"}, "iproute2"); !s.ok()) return s;
    if (Status s = RunChecked({"tc", "-n", ns, "filter", "add", "dev", from, "ingress", "protocol", "all", "u32",
                               "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", to},
                              "iproute2");
        !s.ok())
      return s;
  }
  if (Status s = Ip({"-n", w, "link", "set", veth, "master", kLabBridge}); !s.ok()) return s;
  for (const auto& [n, dev] : {std::pair{w, veth}, std::pair{ns, up}, std::pair{ns, tap}}) {
    if (Status s = Ip({"-n", n, "link", "set", dev, "up"}); !s.ok()) return s;
  }
  return Status::Ok();
}

// Each honeypot's bridge port is locked to its guest (issue 15): a frame
// that enters hn-br from hn-vethI must carry guest I's MAC, its IPv4 source
// must be guest I's address (or 0.0.0.0, DHCP), its ARP must speak for guest
// I. Otherwise one guest could use another's MAC and IP: spend its budget,
// blur who did what, and take over its inbound sessions (the bridge would
// learn the stolen MAC on the wrong port). nftables' bridge family at
// prerouting, so a dropped frame is never learned from. The rules go by
// port name, so they hold for veths made later (netns guests, reset).
// The ruleset is written to DATA/lab/port-lock.nft for the operator to read.
Status Builder::PortLock() {
  std::string rules = "table bridge honeynet_port_lock {\n  chain prerouting {\n"
                      "    type filter hook prerouting priority -300; policy accept;\n";
  for (size_t i = 0; i < st.guests.size(); i++) {
    const GuestRec& g = st.guests[i];
    const std::string port = "iifname \"" + VethName(i) + "\" ";
    const std::string mac = g.spec.mac.ToString(), ip = g.spec.ip.addr.ToString();
    rules += "    " + port + "ether saddr != " + mac + " counter drop\n";
    rules += "    " + port + "ether type vlan counter drop\n";
    rules += "    " + port + "ether type 8021ad counter drop\n";
    rules += "    " + port + "ether type ip ip saddr != { " + ip + ", 0.0.0.0 } counter drop\n";
    rules += "    " + port + "ether type arp arp saddr ether != " + mac + " counter drop\n";
    rules += "    " + port + "ether type arp arp saddr ip != { " + ip + ", 0.0.0.0 } counter drop\n";
  }
  rules += "  }\n}\n";
  const std::string path = LabDir(st.data_dir) + "/port-lock.nft";
  if (Status s = WriteFileAtomic(path, rules, 0640); !s.ok()) return s;
  return RunChecked({"ip", "netns", "exec", kWallNs, "nft", "-f", path}, "nftables");
}

Status Builder::Namespaces() {
  if (Status s = AddNamespace(kWallNs); !s.ok()) return s;
  // The kernel never routes between the honeywall's ports.
  if (Status s = Sysctl(kWallNs, {"net.ipv4.ip_forward=0", "net.ipv4.conf.default.forwarding=0"}); !s.ok())
    return s;
  if (uplink != nullptr) return Status::Ok();  // no simulated internet
  return AddNamespace(kInetNs);
}

Status Builder::Interfaces() {
  const std::string in = wc.inside.interface, out = wc.outside.interface;
  const std::string w = kWallNs;
  if (Status s = AddLinks({{w, in}, {w, kLabBridgeUplink}},
                          {"-n", w, "link", "add", in, "type", "veth", "peer", "name", kLabBridgeUplink});
      !s.ok())
    return s;
  if (uplink != nullptr && uplink->dedicated) {
    // A dedicated NIC: the honeywall's outside port itself (not recorded as a
    // link of ours: `down` moves it back instead of deleting it).
    if (Status s = TakeDedicatedNic(uplink->iface, w, &*st.uplink, [&] { return Save(); }); !s.ok()) return s;
  } else if (uplink != nullptr) {
    // The outside port's peer is hn-up0 in the host's namespace (uplink.h);
    // it goes with hn-wall, and `down` deletes it too.
    st.uplink->veth = true;
    if (Status s = AddLinks({{w, out}}, {"link", "add", kUplinkHostVeth, "type", "veth", "peer", "name", out, "netns", w});
        !s.ok())
      return s;
  } else if (Status s = AddLinks({{w, out}, {kInetNs, kInetIface}},
                                 {"-n", w, "link", "add", out, "type", "veth", "peer", "name", kInetIface, "netns",
                                  kInetNs});
             !s.ok()) {
    return s;
  }
  if (Status s = AddLinks({{w, kLabBridge}}, {"-n", w, "link", "add", kLabBridge, "type", "bridge", "stp_state", "0",
                                              "mcast_snooping", "0", "forward_delay", "0"});
      !s.ok())
    return s;
  if (Status s = Ip({"-n", w, "link", "set", kLabBridgeUplink, "master", kLabBridge}); !s.ok()) return s;
  for (size_t i = 0; i < wc.honeypots.size(); i++) {
    if (wc.honeypots[i].kind == kKindNetns) continue;  // its veth is made with it (nsguest.h)
    if (Status s = UmlGuestNetwork(i, st.guests[i].spec); !s.ok()) return s;
  }
  for (const std::string& dev : {in, out, std::string(kLabBridgeUplink), std::string(kLabBridge)}) {
    if (Status s = Ip({"-n", w, "link", "set", dev, "up"}); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace hn::lab_detail

namespace hn {

using namespace lab_detail;

Result<int> ConnectInNetns(const std::string& netns, const std::string& src_ip, const std::string& dst_ip,
                           uint16_t port, int timeout_ms) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  if (::inet_pton(AF_INET, dst_ip.c_str(), &dst.sin_addr) != 1) return Status::Error("not an IPv4 address: " + dst_ip);
  int fd = -1;
  auto in = [&](const std::function<Status()>& fn) { return netns.empty() ? fn() : InNetns(netns, fn); };
  Status made = in([&]() -> Status {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Status::Error("socket: " + Errno());
    if (!src_ip.empty()) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      if (::inet_pton(AF_INET, src_ip.c_str(), &src.sin_addr) != 1 ||
          ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        return Status::Error("cannot bind to " + src_ip + " in " + netns + ": " + Errno());
      }
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
      return Status::Error("connect to " + dst_ip + ":" + std::to_string(port) + ": " + Errno());
    }
    return Status::Ok();
  });
  if (!made.ok()) {
    if (fd >= 0) ::close(fd);
    return made;
  }
  pollfd p{fd, POLLOUT, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  int err = 0;
  socklen_t len = sizeof err;
  if (n == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (n != 1 || err != 0) {
    ::close(fd);
    return Status::Error("connect to " + dst_ip + ":" + std::to_string(port) + " from " + netns + ": " +
                         (n == 1 ? std::strerror(err) : "timed out"));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace hn
