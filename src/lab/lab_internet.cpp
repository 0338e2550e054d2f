// Lab: the simulated internet, namespace hn-inet: its addresses (attacker,
// upstream gateway, outside hosts) and routes, the services it runs
// (`honeynet lab-services`), and the telnet probe from it that tells when a
// guest answers.
#include "lab/lab_internal.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lab/services.h"

namespace hn::lab_detail {
namespace {

constexpr int kServicesReadyMs = 10000;

}  // namespace

// The upstream gateway in hn-inet: outside.gateway (nat), else 192.0.2.1.
Ip4 UpstreamGateway(const Config& c) { return c.outside_gateway.value_or(*Ip4::Parse("192.0.2.1")); }

// ---------------------------------------------------------------------------
// Telnet readiness

// True when target:23 accepts a connection from ns (hn-inet, or "" for the
// host's own namespace with [uplink]) and sends something (telnetd opens with
// its option requests).
bool TelnetAnswers(const std::string& ns, Ip4 target) {
  auto fd = ConnectInNetns(ns, "", target.ToString(), kTelnetPort, 700);
  if (!fd.ok()) return false;
  pollfd p{fd.value(), POLLIN, 0};
  bool ok = ::poll(&p, 1, 1500) == 1 && (p.revents & POLLIN);
  if (ok) {
    char buf[256];
    ok = ::recv(fd.value(), buf, sizeof buf, MSG_DONTWAIT) > 0;
  }
  ::close(fd.value());
  return ok;
}

// ---------------------------------------------------------------------------
// Up: the Builder's steps that make the internet

// hn-inet0: the attacker first (so it is the source of connections made in
// hn-inet), the upstream gateway, the outside hosts; routes to honeypots
// outside those networks.
Status Builder::Internet() {
  // [uplink]: the host's real network instead (uplink.h).
  if (uplink != nullptr && uplink->dedicated) return Status::Ok();  // nothing of the host's
  if (uplink != nullptr) return ApplyUplink(*uplink, &*st.uplink, [&] { return Save(); });
  const std::string n = kInetNs;
  std::vector<std::string> addrs = {std::string(kAttackerIp) + "/24"};
  const Ip4 gw = UpstreamGateway(wc);
  if (gw.ToString() != kAttackerIp) addrs.push_back(gw.ToString() + "/24");
  for (int h = kOutsideHostFirst; h <= kOutsideHostLast; h++) {
    std::string a = "192.0.2." + std::to_string(h);
    if (a != gw.ToString()) addrs.push_back(a + "/24");
  }
  for (const std::string& a : addrs) {
    if (Status s = Ip({"-n", n, "addr", "add", a, "dev", kInetIface}); !s.ok()) return s;
  }
  if (Status s = Ip({"-n", n, "link", "set", kInetIface, "up"}); !s.ok()) return s;
  const Ip4Prefix lab_net{*Ip4::Parse(kInetNet), 24};
  const Ip4Prefix gw_net{gw, 24};
  for (const GuestRec& g : st.guests) {
    if (lab_net.Contains(g.target) || gw_net.Contains(g.target)) continue;
    if (Status s = Ip({"-n", n, "route", "add", g.target.ToString() + "/32", "dev", kInetIface}); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Builder::Services() {
  if (uplink != nullptr) return Status::Ok();  // the real internet has its own
  std::vector<std::string> tcp, udp;
  for (uint16_t p : kLabTcpPorts) tcp.push_back(std::to_string(p));
  for (uint16_t p : kLabUdpPorts) udp.push_back(std::to_string(p));
  auto ref = SpawnInNetns(kInetNs, {opt.self_exe, "lab-services", "--tcp", Join(tcp, ","), "--udp", Join(udp, ",")},
                          ServicesLogPath(st.data_dir), [&](const ProcRef& r) {
                            st.services = r;
                            return Save();
                          });
  if (!ref.ok()) return ref.status();
  return WaitForLogLine(ServicesLogPath(st.data_dir), "ready", st.services, kServicesReadyMs,
                        "the lab services (honeynet lab-services)");
}

}  // namespace hn::lab_detail
