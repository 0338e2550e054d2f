// The lab's honeywall on the host's real uplink: planning (pure), the
// nftables ruleset (pure), the operator-lockout check, and applying and
// undoing it on the host. See uplink.h and docs/deploy.md.
#include "lab/uplink.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <unistd.h>
#include <cstdlib>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "lab/run.h"

namespace hn {
namespace {

std::string PrefixText(const Ip4Prefix& p) { return p.addr.ToString() + "/" + std::to_string(p.len); }
Ip4Prefix NetOf(const Ip4Prefix& p) { return Ip4Prefix{Ip4{p.addr.v & p.Mask()}, p.len}; }
bool Overlap(const Ip4Prefix& a, const Ip4Prefix& b) {
  const int len = std::min(a.len, b.len);
  const Ip4Prefix shorter{a.addr, len};
  return shorter.Contains(b.addr);
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string o;
  for (size_t i = 0; i < v.size(); i++) o += (i ? sep : "") + v[i];
  return o;
}

Result<nlohmann::json> IpJson(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip", "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunCommand(argv);
  if (r.exit_code != 0) return Status::Error("`" + Join(argv, " ") + "` failed: " + r.out);
  // `ip -j` prints one JSON document (stderr may add warnings after it).
  const size_t start = r.out.find('[');
  const size_t end = r.out.rfind(']');
  if (start == std::string::npos || end == std::string::npos || end < start) return nlohmann::json::array();
  nlohmann::json j = nlohmann::json::parse(r.out.substr(start, end - start + 1), nullptr, false);
  if (j.is_discarded()) return Status::Error("cannot read the output of `" + Join(argv, " ") + "`: " + r.out);
  return j;
}

// Keys in /proc/sys form ("net/ipv4/conf/eth0.100/forwarding"): interface
// names may hold dots.
std::string ReadSysctl(const std::string& key) {
  const std::string path = "/proc/sys/" + key;
  std::ifstream f(path);
  std::string v;
  std::getline(f, v);
  return v;
}

Status WriteSysctl(const std::string& key, const std::string& value) {
  const std::string path = "/proc/sys/" + key;
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return Status::Error("cannot set " + key + " (" + path + ")");
  const bool ok = std::fputs(value.c_str(), f) >= 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return Status::Error("cannot set " + key + " = " + value);
  return Status::Ok();
}

}  // namespace

Result<UplinkHost> ReadUplinkHost(const std::string& iface) {
  UplinkHost h;
  h.iface = iface;
  auto addrs = IpJson({"-4", "addr", "show"});
  if (!addrs.ok()) return addrs.status();
  auto links = IpJson({"link", "show"});
  if (!links.ok()) return links.status();
  for (const auto& l : *links) {
    if (l.value("ifname", "") == iface) h.exists = true;
  }
  for (const auto& l : *addrs) {
    const std::string name = l.value("ifname", "");
    if (!l.contains("addr_info")) continue;
    for (const auto& a : l["addr_info"]) {
      if (a.value("family", "") != "inet") continue;
      auto ip = Ip4::Parse(a.value("local", ""));
      if (!ip) continue;
      const Ip4Prefix p{*ip, a.value("prefixlen", 32)};
      if (name == iface) {
        h.addrs.push_back(p);
      } else if (name != "lo" && name != kUplinkHostVeth) {
        h.other_nets.push_back(NetOf(p));
        h.other_nets.push_back(Ip4Prefix{*ip, 32});
      }
    }
  }
  auto routes = IpJson({"-4", "route", "show", "table", "main"});
  if (!routes.ok()) return routes.status();
  for (const auto& r : *routes) {
    const std::string dst = r.value("dst", ""), dev = r.value("dev", "");
    if (dst == "default") {
      if (dev == iface && !h.default_gw && r.contains("gateway")) {
        if (auto gw = Ip4::Parse(r.value("gateway", ""))) h.default_gw = *gw;
      }
      continue;
    }
    if (dev == iface || dev == kUplinkHostVeth || dev == "lo" || dev.empty()) continue;
    std::optional<Ip4Prefix> p = dst.find('/') == std::string::npos
                                     ? (Ip4::Parse(dst) ? std::optional<Ip4Prefix>(Ip4Prefix{*Ip4::Parse(dst), 32})
                                                        : std::nullopt)
                                     : Ip4Prefix::Parse(dst);
    if (p) h.other_nets.push_back(NetOf(*p));
  }
  return h;
}

Result<UplinkPlan> PlanUplink(const Config& cfg, const UplinkHost& host) {
  std::vector<std::string> errs;
  if (!cfg.uplink) return Status::Error(cfg.source + ": no [uplink] in the config");
  const UplinkConfig& u = *cfg.uplink;
  UplinkPlan p;
  p.iface = u.interface;
  p.transit = u.transit;
  p.host_transit = Ip4{u.transit.addr.v + 1};
  p.management_ports = u.management_ports;
  p.management_from = u.management_from;
  if (!host.exists) {
    return Status::Error(cfg.source + ": uplink.interface: this host has no interface " + u.interface +
                         " (`ip link` lists them)");
  }
  if (host.addrs.empty()) {
    // Dedicated NIC: the honeywall owns it, bridge or nat.
    p.dedicated = true;
    if (cfg.mode == Mode::kNat && !cfg.outside_gateway) {
      errs.push_back("outside.gateway: " + u.interface + " has no address (a dedicated NIC, owned by the "
                     "honeywall): name the router on its network with [outside] gateway = \"...\"");
    }
    if (cfg.mode == Mode::kBridge && !u.new_macs) {
      errs.push_back("uplink.new_macs: in bridge mode on the dedicated NIC " + u.interface +
                     " the honeypots' own MACs appear on the network, which providers often drop; set "
                     "[uplink] new_macs = true if yours accepts them, or use mode = \"nat\" (the NIC's own MAC)");
    }
    if (cfg.outside_gateway) p.gateway = *cfg.outside_gateway;
    for (const HoneypotConfig& hp : cfg.honeypots) {
      UplinkHoneypot h;
      h.name = hp.name;
      h.public_ip = cfg.mode == Mode::kNat ? hp.public_ip.value_or(Ip4{}) : hp.ip;
      h.transit_ip = h.public_ip;
      p.honeypots.push_back(h);
    }
    if (!errs.empty()) return Status::Error(cfg.source + ": " + Join(errs, "\n" + cfg.source + ": "));
    return p;
  }
  if (cfg.mode != Mode::kNat) {
    errs.push_back("mode: [uplink] with the host's own or extra addresses needs mode = \"nat\" (the honeywall "
                   "answers for each honeypot's public_ip); got \"bridge\"");
  }
  p.iface_net = NetOf(host.addrs.front());
  for (const Ip4Prefix& a : host.addrs) p.host_addrs.push_back(a.addr);
  if (cfg.outside_gateway) {
    p.gateway = *cfg.outside_gateway;
  } else if (host.default_gw) {
    p.gateway = *host.default_gw;
  } else {
    errs.push_back("outside.gateway: the host has no default route via " + u.interface +
                   "; name the uplink's router with [outside] gateway = \"...\"");
  }
  for (const Ip4Prefix& a : host.addrs) {
    if (Overlap(a, u.transit))
      errs.push_back("uplink.transit: " + PrefixText(u.transit) + " overlaps " + u.interface + "'s " + PrefixText(a) +
                     "; pick a network no one uses");
  }
  for (const Ip4Prefix& n : host.other_nets) {
    if (Overlap(n, u.transit)) {
      errs.push_back("uplink.transit: " + PrefixText(u.transit) + " overlaps the host's network " + PrefixText(n) +
                     "; pick a network no one uses");
      break;
    }
  }
  const uint32_t room = (~u.transit.Mask()) - 2;  // .1 is the host, the last is broadcast
  if (cfg.honeypots.size() > room) {
    errs.push_back(fmt::format("uplink.transit: {} holds {} honeypots, the config has {}", PrefixText(u.transit), room,
                               cfg.honeypots.size()));
  }
  std::set<uint32_t> seen;
  for (size_t i = 0; i < cfg.honeypots.size(); i++) {
    const HoneypotConfig& hp = cfg.honeypots[i];
    if (!hp.public_ip) continue;  // nat requires it: the config reported it
    UplinkHoneypot h;
    h.name = hp.name;
    h.public_ip = *hp.public_ip;
    h.transit_ip = Ip4{u.transit.addr.v + 2 + uint32_t(i)};
    h.shared = std::find(p.host_addrs.begin(), p.host_addrs.end(), h.public_ip) != p.host_addrs.end();
    h.proxy_arp = !h.shared && p.iface_net.Contains(h.public_ip);
    const std::string who = "honeypot " + hp.name + ": public_ip " + h.public_ip.ToString();
    if (h.public_ip == p.gateway) errs.push_back(who + " is the uplink's router");
    if (u.transit.Contains(h.public_ip)) errs.push_back(who + " is inside uplink.transit " + PrefixText(u.transit));
    for (const Ip4Prefix& n : host.other_nets) {
      if (n.Contains(h.public_ip)) {
        errs.push_back(who + " is on the host's other network " + PrefixText(n));
        break;
      }
    }
    if (h.proxy_arp && (h.public_ip == p.iface_net.addr || h.public_ip == p.iface_net.Broadcast()))
      errs.push_back(who + " is the network or broadcast address of " + PrefixText(p.iface_net));
    if (!seen.insert(h.public_ip.v).second) errs.push_back(who + " is used twice");
    p.honeypots.push_back(h);
  }
  p.blocked.push_back(*Ip4Prefix::Parse("169.254.0.0/16"));  // link-local: cloud metadata 169.254.169.254
  for (const Ip4Prefix& n : host.other_nets) {
    if (std::find(p.blocked.begin(), p.blocked.end(), n) == p.blocked.end()) p.blocked.push_back(n);
  }
  if (!errs.empty()) return Status::Error(cfg.source + ": " + Join(errs, "\n" + cfg.source + ": "));
  return p;
}

std::string UplinkSummary(const UplinkPlan& p, const Config& wc) {
  if (p.dedicated) {
    return fmt::format("uplink {}: a dedicated NIC (no address on it), owned by the honeywall ({} mode), router {}",
                       p.iface, wc.mode == Mode::kNat ? "nat" : "bridge",
                       wc.outside_gateway ? wc.outside_gateway->ToString() : std::string("-"));
  }
  std::vector<std::string> ports, from, hps;
  for (uint16_t port : p.management_ports) ports.push_back(std::to_string(port));
  for (const Ip4Prefix& f : p.management_from) from.push_back(PrefixText(f));
  for (const UplinkHoneypot& h : p.honeypots) {
    hps.push_back(h.name + " " + h.public_ip.ToString() +
                  (h.shared ? " (shared with the host)" : h.proxy_arp ? " (extra, ARP by the host)" : " (extra, routed)"));
  }
  return fmt::format("uplink {}: router {}, management ports {} (from {}); honeypots at {}", p.iface,
                     p.gateway.ToString(), ports.empty() ? std::string("none") : Join(ports, ","),
                     from.empty() ? std::string("anywhere") : Join(from, ","), Join(hps, ", "));
}

std::string UplinkRuleset(const UplinkPlan& p) {
  auto q = [](const std::string& s) { return "\"" + s + "\""; };
  const std::string up = q(p.iface), veth = q(kUplinkHostVeth);
  std::vector<std::string> host, ports, from, blocked, transit;
  for (Ip4 a : p.host_addrs) host.push_back(a.ToString());
  for (uint16_t port : p.management_ports) ports.push_back(std::to_string(port));
  for (const Ip4Prefix& f : p.management_from) from.push_back(PrefixText(f));
  for (const Ip4Prefix& b : p.blocked) blocked.push_back(PrefixText(b));
  for (const UplinkHoneypot& h : p.honeypots) transit.push_back(h.transit_ip.ToString());
  const std::string host_set = "{ " + Join(host, ", ") + " }";
  const std::string port_set = "{ " + Join(ports, ", ") + " }";
  std::string o;
  o += "# honeynet uplink (docs/deploy.md): removed by `honeynet down`\n";
  o += std::string("table ip ") + kUplinkTable + " {\n";
  // Management ports: no conntrack (a full table never locks the operator
  // out), never DNATed, only from management_from.
  o += "  chain raw_prerouting {\n    type filter hook prerouting priority raw; policy accept;\n";
  if (!ports.empty())
    o += "    iifname " + up + " ip daddr " + host_set + " tcp dport " + port_set + " notrack\n";
  o += "  }\n";
  o += "  chain raw_output {\n    type filter hook output priority raw; policy accept;\n";
  if (!ports.empty())
    o += "    oifname " + up + " ip saddr " + host_set + " tcp sport " + port_set + " notrack\n";
  o += "  }\n";
  o += "  chain dnat_in {\n    type nat hook prerouting priority dstnat; policy accept;\n";
  for (const UplinkHoneypot& h : p.honeypots) {
    if (h.shared && !ports.empty())
      o += "    iifname " + up + " ip daddr " + h.public_ip.ToString() + " tcp dport " + port_set + " return\n";
    o += "    iifname " + up + " ip daddr " + h.public_ip.ToString() + " dnat to " + h.transit_ip.ToString() + "\n";
  }
  o += "  }\n";
  o += "  chain snat_out {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const UplinkHoneypot& h : p.honeypots)
    o += "    oifname " + up + " ip saddr " + h.transit_ip.ToString() + " snat to " + h.public_ip.ToString() + "\n";
  o += "  }\n";
  o += "  chain input {\n    type filter hook input priority filter - 10; policy accept;\n";
  o += "    iifname " + veth + " ct state established,related accept\n";
  o += "    iifname " + veth + " drop\n";
  if (!from.empty() && !ports.empty())
    o += "    iifname " + up + " tcp dport " + port_set + " ip saddr != { " + Join(from, ", ") + " } drop\n";
  o += "  }\n";
  o += "  chain forward {\n    type filter hook forward priority filter - 10; policy accept;\n";
  if (!transit.empty()) {
    o += "    iifname " + veth + " ip saddr != { " + Join(transit, ", ") + " } drop\n";
  }
  o += "    iifname " + veth + " ip daddr { " + Join(blocked, ", ") + " } drop\n";
  o += "    iifname " + veth + " oifname " + up + " accept\n";
  o += "    iifname " + veth + " drop\n";
  // Into hn-up0: what was DNATed to a honeypot, and replies to what the
  // honeypots started (SNAT); nothing routed to the transit addresses directly.
  o += "    oifname " + veth + " iifname " + up + " ct status dnat accept\n";
  o += "    oifname " + veth + " iifname " + up + " ct state established,related accept\n";
  o += "    oifname " + veth + " drop\n";
  o += "  }\n";
  o += "}\n";
  return o;
}

Status CheckOperatorKeepsAccess(const UplinkPlan& p, const std::vector<uint16_t>& listening,
                                const std::string& ssh_connection) {
  std::vector<std::string> errs;
  for (uint16_t port : p.management_ports) {
    if (std::find(listening.begin(), listening.end(), port) == listening.end()) {
      errs.push_back(fmt::format(
          "uplink.management_ports: nothing listens on TCP port {} on this host, so nobody could manage it once "
          "every other port goes to the honeypots. Start the service first (e.g. `systemctl start ssh`) or list "
          "the port you manage the host by",
          port));
    }
  }
  std::istringstream in(ssh_connection);
  std::string client, cport, server, sport;
  if (in >> client >> cport >> server >> sport) {
    auto srv = Ip4::Parse(server);
    auto cli = Ip4::Parse(client);
    const int port = std::atoi(sport.c_str());
    const bool to_host = srv && std::find(p.host_addrs.begin(), p.host_addrs.end(), *srv) != p.host_addrs.end();
    bool shared = false;
    for (const UplinkHoneypot& h : p.honeypots) shared |= srv && h.shared && h.public_ip == *srv;
    if (to_host && shared &&
        std::find(p.management_ports.begin(), p.management_ports.end(), port) == p.management_ports.end()) {
      errs.push_back(fmt::format("uplink.management_ports: this SSH session came in on {}:{}, which is not a "
                                 "management port: the next connection to it would go to a honeypot. Add {} to "
                                 "management_ports",
                                 server, port, port));
    }
    if (to_host && cli && !p.management_from.empty()) {
      bool allowed = false;
      for (const Ip4Prefix& f : p.management_from) allowed |= f.Contains(*cli);
      if (!allowed) {
        errs.push_back("uplink.management_from: this SSH session comes from " + client +
                       ", which is not in management_from: the host would drop your next login. Add " + client +
                       "/32 to management_from");
      }
    }
  }
  if (!errs.empty()) return Status::Error("refusing to start, you would lose the host:\n  " + Join(errs, "\n  "));
  return Status::Ok();
}

std::vector<uint16_t> ListeningTcpPorts() {
  std::vector<uint16_t> out;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, st;
      if (!(ls >> sl >> local >> remote >> st) || st != "0A") continue;
      const size_t colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      const std::string addr = local.substr(0, colon);
      // Loopback only cannot be reached from outside.
      if (addr == "0100007F" || addr == "00000000000000000000000001000000") continue;
      const uint16_t port = uint16_t(std::stoul(local.substr(colon + 1), nullptr, 16));
      if (std::find(out.begin(), out.end(), port) == out.end()) out.push_back(port);
    }
  }
  return out;
}

nlohmann::json UplinkUndoJson(const UplinkUndo& u) {
  nlohmann::json s = nlohmann::json::array();
  for (const auto& [k, v] : u.sysctls) s.push_back({{"key", k}, {"value", v}});
  return {{"iface", u.iface},   {"table", u.table}, {"rule", u.rule},      {"proxies", u.proxies},
          {"routes", u.routes}, {"sysctls", s},     {"veth", u.veth},      {"nic", u.nic},
          {"nic_was_up", u.nic_was_up}, {"nic_mtu", u.nic_mtu}};
}

UplinkUndo UplinkUndoFromJson(const nlohmann::json& j) {
  UplinkUndo u;
  u.iface = j.value("iface", "");
  u.table = j.value("table", false);
  u.rule = j.value("rule", false);
  u.proxies = j.value("proxies", std::vector<std::string>{});
  u.routes = j.value("routes", std::vector<std::string>{});
  if (j.contains("sysctls"))
    for (const auto& s : j["sysctls"]) u.sysctls.emplace_back(s.value("key", ""), s.value("value", ""));
  u.veth = j.value("veth", false);
  u.nic = j.value("nic", "");
  u.nic_was_up = j.value("nic_was_up", false);
  u.nic_mtu = j.value("nic_mtu", 0);
  return u;
}

Status ApplyUplink(const UplinkPlan& p, UplinkUndo* undo, const std::function<Status()>& save) {
  undo->iface = p.iface;
  const std::string veth = kUplinkHostVeth;
  const std::string table = std::to_string(kUplinkRouteTable);
  // The filter first: nothing may pass before it is there.
  undo->table = true;
  if (Status s = save(); !s.ok()) return s;
  (void)RunCommand({"nft", "delete", "table", "ip", kUplinkTable});  // a crashed run's, if any
  {
    char path[] = "/tmp/hn-uplink-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return Status::Error("cannot write the nftables rules to /tmp");
    const std::string rules = UplinkRuleset(p);
    const bool ok = ::write(fd, rules.data(), rules.size()) == ssize_t(rules.size());
    ::close(fd);
    Status s = ok ? RunChecked({"nft", "-f", path}, "nftables") : Status::Error("cannot write " + std::string(path));
    ::unlink(path);
    if (!s.ok()) return s;
  }
  // hn-up0: the host's end of the transit link. Its offloads stay on, like
  // the NIC's: GRO super-frames from the uplink reach the honeywall whole,
  // which runs with gso = true on an uplink (virtio-net headers; 4x the
  // throughput of MTU-sized frames here: 0.84 -> 3.3 Gbit/s, docs/deploy.md).
  if (Status s = RunChecked({"ip", "addr", "add", PrefixText(Ip4Prefix{p.host_transit, p.transit.len}), "dev", veth});
      !s.ok())
    return s;
  if (Status s = RunChecked({"ip", "link", "set", veth, "up"}); !s.ok()) return s;
  // Honeypot traffic is routed by a table of its own: the uplink's subnet and
  // router, nothing else the host can reach.
  undo->rule = true;
  if (Status s = save(); !s.ok()) return s;
  (void)RunCommand({"ip", "rule", "del", "pref", table});
  (void)RunCommand({"ip", "route", "flush", "table", table});
  if (Status s = RunChecked({"ip", "route", "add", PrefixText(p.iface_net), "dev", p.iface, "table", table}); !s.ok())
    return s;
  if (Status s = RunChecked({"ip", "route", "add", "default", "via", p.gateway.ToString(), "dev", p.iface, "onlink",
                             "table", table});
      !s.ok())
    return s;
  if (Status s = RunChecked({"ip", "rule", "add", "iif", veth, "lookup", table, "pref", table}); !s.ok()) return s;
  // Extra addresses on the uplink's subnet: the host answers ARP for them.
  bool any_proxy = false;
  for (const UplinkHoneypot& h : p.honeypots) {
    if (!h.proxy_arp) continue;
    any_proxy = true;
    const std::string a = h.public_ip.ToString();
    undo->routes.push_back(a);
    if (Status s = save(); !s.ok()) return s;
    if (Status s = RunChecked({"ip", "route", "add", a + "/32", "dev", veth}); !s.ok()) return s;
    undo->proxies.push_back(a);
    if (Status s = save(); !s.ok()) return s;
    if (Status s = RunChecked({"ip", "neigh", "add", "proxy", a, "dev", p.iface}); !s.ok()) return s;
  }
  // Forwarding on the uplink and hn-up0 only (IPv4 checks it per input
  // interface): the host does not become a router between its other networks.
  std::vector<std::pair<std::string, std::string>> want = {
      {"net/ipv4/conf/" + p.iface + "/forwarding", "1"}};
  if (any_proxy) want.push_back({"net/ipv4/neigh/" + p.iface + "/proxy_delay", "0"});
  // Scanners fill conntrack: room for many (only the initial namespace may set it).
  const std::string ct = ReadSysctl("net/netfilter/nf_conntrack_max");
  if (!ct.empty() && std::atoll(ct.c_str()) < 262144) want.push_back({"net/netfilter/nf_conntrack_max", "262144"});
  for (const auto& [key, value] : want) {
    const std::string before = ReadSysctl(key);
    if (before.empty()) continue;
    undo->sysctls.emplace_back(key, before);
    if (Status s = save(); !s.ok()) return s;
    if (Status s = WriteSysctl(key, value); !s.ok()) {
      if (key.rfind("net/netfilter/", 0) == 0) {
        undo->sysctls.pop_back();  // read-only outside the initial namespace: not ours to size
        continue;
      }
      return s;
    }
  }
  if (Status s = WriteSysctl("net/ipv4/conf/" + veth + "/forwarding", "1"); !s.ok()) return s;
  return save();
}

Status TakeDedicatedNic(const std::string& nic, const std::string& wall_ns, UplinkUndo* undo,
                        const std::function<Status()>& save) {
  auto link = IpJson({"link", "show", "dev", nic});
  if (!link.ok()) return link.status();
  if (link->empty()) return Status::Error("uplink.interface: no interface " + nic + " on this host");
  const nlohmann::json& l = (*link)[0];
  undo->iface = nic;
  undo->nic = nic;
  undo->nic_mtu = l.value("mtu", 0);
  undo->nic_was_up = false;
  for (const auto& f : l.value("flags", nlohmann::json::array()))
    if (f.is_string() && f.get<std::string>() == "UP") undo->nic_was_up = true;
  if (Status s = save(); !s.ok()) return s;
  return RunChecked({"ip", "link", "set", "dev", nic, "netns", wall_ns}, "iproute2");
}

Status ReturnDedicatedNic(const UplinkUndo& u, const std::string& wall_ns) {
  if (u.nic.empty()) return Status::Ok();
  if (RunCommand({"ip", "-n", wall_ns, "link", "show", "dev", u.nic}).exit_code == 0) {
    (void)RunCommand({"ip", "-n", wall_ns, "link", "set", "dev", u.nic, "down"});
    if (Status s = RunChecked({"ip", "-n", wall_ns, "link", "set", "dev", u.nic, "netns", std::to_string(::getpid())});
        !s.ok())
      return Status::Error("cannot move " + u.nic + " back from " + wall_ns + ": " + s.message());
  }
  if (RunCommand({"ip", "link", "show", "dev", u.nic}).exit_code != 0) return Status::Ok();  // gone with a crash
  if (u.nic_mtu > 0) (void)RunCommand({"ip", "link", "set", "dev", u.nic, "mtu", std::to_string(u.nic_mtu)});
  (void)RunCommand({"ip", "link", "set", "dev", u.nic, u.nic_was_up ? "up" : "down"});
  return Status::Ok();
}

std::vector<std::string> UndoUplink(const UplinkUndo& u) {
  std::vector<std::string> failed;
  for (auto it = u.sysctls.rbegin(); it != u.sysctls.rend(); ++it) {
    if (Status s = WriteSysctl(it->first, it->second); !s.ok()) failed.push_back(s.message());
  }
  for (const std::string& a : u.proxies) (void)RunCommand({"ip", "neigh", "del", "proxy", a, "dev", u.iface});
  for (const std::string& a : u.routes) (void)RunCommand({"ip", "route", "del", a + "/32", "dev", kUplinkHostVeth});
  if (u.rule) {
    const std::string table = std::to_string(kUplinkRouteTable);
    while (RunCommand({"ip", "rule", "del", "pref", table}).exit_code == 0) {
    }
    (void)RunCommand({"ip", "route", "flush", "table", table});
  }
  if (u.veth) (void)RunCommand({"ip", "link", "del", kUplinkHostVeth});
  if (u.table) {
    RunResult r = RunCommand({"nft", "delete", "table", "ip", kUplinkTable});
    if (r.exit_code != 0 && r.out.find("No such file") == std::string::npos)
      failed.push_back("nft delete table ip " + std::string(kUplinkTable) + ": " + r.out);
  }
  return failed;
}

}  // namespace hn
