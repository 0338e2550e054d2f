// Uplink: the lab's honeywall on this host's real network ([uplink] in the
// config of `honeynet up`), instead of the simulated internet hn-inet.
// docs/deploy.md explains the shapes and what an attacker sees.
//
// The honeywall's outside port is one end of a transit veth; the other end,
// hn-up0, stays in the namespace `up` runs in (the host), with the first
// address of uplink.transit (198.18.254.1/24). Each honeypot gets a transit
// address (.2, .3, ...) that the honeywall answers for as its public_ip; the
// host translates between it and the real public address:
//
//   shared address   public_ip is the host's own address on the interface:
//                    nftables DNATs every *new* inbound connection to it,
//                    except TCP management_ports, to the transit address;
//                    replies and the host's own traffic are conntrack
//                    "established" and never touched. SNAT back on the way out.
//   extra address    public_ip is one the host does not use: the same DNAT
//                    and SNAT; when it is on the interface's subnet the host
//                    answers ARP for it with its own MAC (a proxy neighbour
//                    entry), so no new MAC ever shows on the NIC (providers
//                    drop unknown MACs).
//
// Why DNAT rather than routing the public addresses to the honeywall: the
// shared address is also the host's, and the kernel ignores ARP and packets
// that claim its own address as their source; DNAT of new connections leaves
// the host's sessions alone by construction. One mechanism for both shapes.
//
// What keeps the host safe (the rules live in nftables table `ip
// honeynet_uplink` and a routing table of our own):
//   - honeypot traffic (in on hn-up0) is routed by table 26734 only: the
//     uplink's router and subnet, nothing else of the host's routes;
//   - it never enters the host (input from hn-up0: only replies to the
//     host's own probes), never reaches 169.254.0.0/16 or any network or
//     address of the host's other interfaces;
//   - inbound to hn-up0 only when it was DNATed: nobody on the uplink can
//     route to the transit addresses directly;
//   - management ports skip conntrack (a scanner that fills the table does
//     not lock the operator out) and, with management_from, only those
//     sources reach them;
//   - forwarding is switched on for the uplink interface and hn-up0 only.
// A dead honeywall means a black hole: the steering stays until `down`.
//
// Everything applied is first recorded in an UplinkUndo (saved in the lab
// state) so that `down`, also after a crash, puts the host back as it was.
//
// Who may call: the lab (src/lab). PlanUplink and UplinkRuleset are pure and
// unit-tested; the rest runs ip/nft/sysctl in the calling namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/addr.h"
#include "common/status.h"
#include "config/config.h"

namespace hn {

inline constexpr const char* kUplinkHostVeth = "hn-up0";       // in the host's namespace
inline constexpr const char* kUplinkTable = "honeynet_uplink";  // nft table (family ip)
inline constexpr int kUplinkRouteTable = 26734;                 // "hn"; also the ip rule's priority

// What the host's network looks like, as read before anything is changed.
struct UplinkHost {
  std::string iface;
  bool exists = false;
  std::vector<Ip4Prefix> addrs;       // IPv4 addresses on iface, with their prefix length
  std::optional<Ip4> default_gw;      // the main table's default route via iface
  std::vector<Ip4Prefix> other_nets;  // networks and addresses on the host's other interfaces
};

struct UplinkHoneypot {
  std::string name;
  Ip4 public_ip;    // the address the world sees
  Ip4 transit_ip;   // what the honeywall answers for (its public_ip in the wall config)
  bool shared = false;     // public_ip is the host's own address
  bool proxy_arp = false;  // extra address on the interface's subnet: the host answers ARP for it
};

struct UplinkPlan {
  std::string iface;
  // Dedicated NIC (no IPv4 address on it): the honeywall owns it (moved into
  // hn-wall as the outside port); nothing of the host is involved, and every
  // field below but gateway and honeypots is unused.
  bool dedicated = false;
  Ip4Prefix transit;
  Ip4 host_transit;           // hn-up0's address: the honeywall's gateway
  Ip4 gateway;                // the uplink's router
  Ip4Prefix iface_net;        // the interface's (first) subnet
  std::vector<UplinkHoneypot> honeypots;
  std::vector<uint16_t> management_ports;
  std::vector<Ip4Prefix> management_from;
  std::vector<Ip4Prefix> blocked;  // destinations a honeypot never reaches
  std::vector<Ip4> host_addrs;     // the host's addresses on the interface
};

// Reads the interface's addresses, the default route and the host's other
// networks (ip -j) in the calling namespace.
Result<UplinkHost> ReadUplinkHost(const std::string& iface);

// Which shape each honeypot has and every address involved; errors (one per
// line) for what cannot work: no such interface, bridge mode on a shared or
// extra address (or on a dedicated NIC without new_macs), public_ip inside
// the transit network or on another network of the host, no router. Pure.
Result<UplinkPlan> PlanUplink(const Config& cfg, const UplinkHost& host);

// One line for `up`: the shape, the router, management and each honeypot's
// address. wc: the honeywall's config (mode, outside.gateway). Pure.
std::string UplinkSummary(const UplinkPlan& plan, const Config& wc);

// The nftables table for the plan (`nft -f` input). Pure.
std::string UplinkRuleset(const UplinkPlan& plan);

// Refuses what would lock the operator out: a management port that nothing
// listens on (listening: TCP ports in LISTEN on this host), or the SSH
// session this runs in (ssh_connection: $SSH_CONNECTION, may be empty) coming
// in on a port that is not a management port, or from outside
// management_from. Pure.
Status CheckOperatorKeepsAccess(const UplinkPlan& plan, const std::vector<uint16_t>& listening,
                                const std::string& ssh_connection);

// TCP ports in LISTEN state in the calling namespace (/proc/net/tcp, tcp6).
std::vector<uint16_t> ListeningTcpPorts();

// What `up` changed on the host, recorded before each change.
struct UplinkUndo {
  std::string iface;
  bool table = false;                            // nft table kUplinkTable
  bool rule = false;                             // ip rule + routing table kUplinkRouteTable
  std::vector<std::string> proxies;              // `ip neigh add proxy A dev iface`
  std::vector<std::string> routes;               // host routes to hn-up0 (A/32)
  std::vector<std::pair<std::string, std::string>> sysctls;  // key, value before
  bool veth = false;                             // hn-up0 (deleted with hn-wall anyway)
  // Dedicated NIC: moved into hn-wall; `down` moves it back (before hn-wall
  // goes) and restores these.
  std::string nic;
  bool nic_was_up = false;
  int nic_mtu = 0;
};
nlohmann::json UplinkUndoJson(const UplinkUndo& u);
UplinkUndo UplinkUndoFromJson(const nlohmann::json& j);

// Applies the plan on the host (hn-up0 must exist already: the lab makes it
// as the peer of the honeywall's outside port). save() is called after each
// change is added to *undo and before it is made; an error from it stops.
Status ApplyUplink(const UplinkPlan& plan, UplinkUndo* undo, const std::function<Status()>& save);

// Dedicated NIC: records its state in *undo, saves, moves it into wall_ns.
Status TakeDedicatedNic(const std::string& nic, const std::string& wall_ns, UplinkUndo* undo,
                        const std::function<Status()>& save);
// Moves it back from wall_ns to this namespace (if it is still there) and
// restores its MTU and up/down state. Before wall_ns is deleted: a veth would
// go with it, a physical NIC would land in the initial namespace.
Status ReturnDedicatedNic(const UplinkUndo& undo, const std::string& wall_ns);

// Undoes what undo records, in reverse; best effort, returns what failed.
std::vector<std::string> UndoUplink(const UplinkUndo& undo);

}  // namespace hn
