// Config: the honeywall's settings, read from one TOML file.
//
// Every key has a default where one makes sense (see docs/config.md; a
// default-constructed Config holds them). LoadConfig() checks every value and,
// on error, returns a message naming the file, the line and the key, e.g.
//   "wall.toml:7: limits.tcp: must be a whole number from 0 to 1000000, got -3".
// All errors found are reported, one per line, sorted by line.
// Unknown keys are errors too (a typo must not silently mean "default").
// Honeypot indexes in keys count from 0: honeypot[0] is the first [[honeypot]].
//
// Who may call: the CLI and tests. Not used on the per-packet path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/status.h"
#include "control/budget.h"

namespace hn {

enum class Mode : uint8_t { kBridge, kNat };

struct HoneypotConfig {
  std::string name;                 // honeypot.name (required, unique)
  Ip4 ip;                           // honeypot.ip (required): real (bridge) / private (nat) address
  std::optional<Ip4> public_ip;     // honeypot.public_ip (nat: required)
  std::optional<Mac> mac;           // honeypot.mac: pin identity to this MAC (else learned)
  std::vector<Ip6> ip6;             // honeypot.ip6: its IPv6 addresses (ipv6 = true); the only
                                    //   IPv6 sources it may use besides fe80::EUI-64(mac) (and :: for DAD)
  Limits limits;                    // [honeypot.limits] overrides of [limits]
  // Used by the lab (`honeynet up`), ignored by the honeywall:
  std::string kind = "uml";         // honeypot.kind: "uml" (User-Mode Linux guest) or "netns" (namespace honeypot)
  std::string image = "busybox";    // honeypot.image: guest image kind (see `honeynet image list`)
  uint32_t mem_mb = 64;             // honeypot.mem ("64M"): guest RAM, whole MiB (uml only; netns ignores it)
  std::string hostname;             // honeypot.hostname (default: name)
  // Containment (src/lab/containment.h, docs/security.md): the honeypot's cgroup
  // and, for netns, its writable layer. 0 / unset: the default.
  int64_t pids_max = 512;           // honeypot.pids_max: processes and threads
  uint64_t memory_max = 0;          // honeypot.memory_max ("256M"): RAM incl. tmpfs and page cache
                                    //   (0: netns 256M, uml mem + 256M for the UML processes themselves)
  uint64_t swap_max = 0;            // honeypot.swap_max: swap on top of memory_max (default none)
  int64_t cpu_max = 0;              // honeypot.cpu_max: percent of one CPU (1..100 x CPUs; 0: netns 50, uml 100)
  int64_t io_weight = 50;           // honeypot.io_weight: 1..10000 (cgroup io.weight)
  uint64_t disk_max = 1ULL << 30;   // honeypot.disk_max ("1G"): what a netns honeypot may write
  bool unsafe = false;              // honeypot.unsafe: netns without user namespace/seccomp/limits
  // Reset schedule (a foreground `honeynet up`, e.g. the service; docs/lab.md#reset-schedule).
  int64_t reset_idle_ns = 0;        // honeypot.reset_idle ("2h"): reset after this long without a flow (0: never)
  int64_t reset_max_age_ns = 0;     // honeypot.reset_max_age ("1d"): reset when it has run this long (0: never)
  int64_t reset_jitter_ns = 0;      // honeypot.reset_jitter ("30m"): max_age plus a random part of this
  bool reset_archive = false;       // honeypot.reset_archive: keep its disk changes and TTY log first
};

struct PortConfig {
  std::string interface;            // inside.interface / outside.interface
  std::optional<Mac> mac;           // the honeywall's MAC on this port in nat mode (default: the interface's)
};

struct CaptureConfig {
  std::string dir = "/var/lib/honeynet";      // capture.dir
  bool pcap = true;                            // capture.pcap
  uint64_t rotate_bytes = 100ULL << 20;        // capture.rotate_size ("100M")
  int64_t rotate_ns = 3600LL * 1'000'000'000;  // capture.rotate_time ("1h")
  uint32_t ring_mb = 32;                       // capture.ring_mb: capture ring per port
  bool inline_capture = true;                  // capture.method: "inline" (true) or "socket"
  // capture.policy: "capture-first" (true, the default with method = "inline"):
  // a frame is forwarded only once its copy is in the capture ring, and the
  // forwarder holds when the capture is behind; "forward-first" (false): never
  // hold, count what the capture could not keep. method = "socket" is always
  // forward-first (the kernel clones frames to the capture socket on its own).
  bool capture_first = true;
  bool direct_io = false;                      // capture.direct_io: pcap writes skip the page cache (O_DIRECT)
  int64_t stats_interval_ns = 60LL * 1'000'000'000;  // capture.stats_interval ("60s")
  bool syslog = false;                         // capture.syslog: also send log lines to syslog
  std::string user;                            // capture.user: owner of the capture files; "": the user
                                               // "honeynet" when it exists, else root (common/privilege.h)
  // Retention (capture/retention.h); 0 = no bound.
  uint64_t max_total = 0;                      // capture.max_total ("16G"): all capture files together
  int64_t max_age_ns = 0;                      // capture.max_age ("30d")
  uint64_t min_free = 0;                       // capture.min_free ("2G" ...
  double min_free_pct = 0;                     // ... or "10%" of the filesystem)
};

// [uplink]: `honeynet up` puts the honeywall's outside port on this host's
// real network (src/lab/uplink.h, docs/deploy.md). Used by the lab only; the
// honeywall (`honeynet wall`) ignores it.
struct UplinkConfig {
  std::string interface;                         // uplink.interface (required): the host's NIC
  std::vector<uint16_t> management_ports{22};    // uplink.management_ports: TCP ports that stay with the host
  std::vector<Ip4Prefix> management_from;        // uplink.management_from: who may reach them (empty: everyone)
  Ip4Prefix transit{Ip4{0xC612FE00u}, 24};       // uplink.transit: host <-> honeywall link (198.18.254.0/24)
  bool accept_stock_kernel = false;              // uplink.accept_stock_kernel: boot Debian's UML kernel anyway
  bool new_macs = false;                         // uplink.new_macs: the network accepts MACs it has not seen
                                                 //   (a dedicated NIC in bridge mode shows the honeypots' MACs)
  bool operator==(const UplinkConfig&) const = default;
};

// [rules] (src/rules/, docs/rules.md): Suricata-language rule files the
// honeywall applies inline, after the Data Control verdict.
struct RulesFileConfig {
  std::string path;          // absolute (a relative path in the file is taken from the config's directory)
  bool turn_around = false;  // the Honeynet way with stock inbound rules: $HOME_NET <-> $EXTERNAL_NET, alert -> drop
  int line = 0;              // where the config names it (messages)
  bool operator==(const RulesFileConfig&) const = default;
};

struct RulesConfig {
  std::vector<RulesFileConfig> files;                        // rules.files
  std::vector<std::pair<std::string, std::string>> vars;     // rules.vars: NAME = "value" (HOME_NET, EXTERNAL_NET, ...)
  bool operator==(const RulesConfig&) const = default;
};

// [alerts] (src/alerts/, docs/alerts.md): what `honeynet alerts` sends the
// operator, and where. Read by the alerts process, never by the honeywall.
struct AlertsConfig {
  std::string command;               // alerts.command: /bin/sh -c COMMAND per alert, the JSON line on stdin
  std::string webhook;               // alerts.webhook: http:// or https:// URL, POST of the JSON
  bool syslog = false;               // alerts.syslog: daemon.warning, ident honeynet-alert
  std::vector<std::string> kinds;    // alerts.kinds: the kinds to send (empty: every kind)
  int64_t rate = 10;                 // alerts.rate: sustained alerts per minute per (kind, source)
  int64_t burst = 5;                 // alerts.burst: alerts at once per (kind, source)
  int64_t timeout_ns = 10LL * 1'000'000'000;  // alerts.timeout ("10s"): per sink call
  double disk_full_pct = 90;         // alerts.disk_full ("90%"): capture filesystem use that alerts
  bool operator==(const AlertsConfig&) const = default;
};

// Every alert kind, in the order docs/alerts.md lists them.
inline constexpr const char* kAlertKinds[] = {"new_attacker",     "login",         "outbound_blocked",
                                              "budget_exhausted", "rule_alert",    "honeypot_down",
                                              "honeywall_down",   "disk_full"};

struct Config {
  std::string source = "<defaults>";  // file the config came from, for messages
  Mode mode = Mode::kBridge;
  PortConfig inside{"hw-in", std::nullopt};
  std::optional<Ip4Prefix> inside_gateway_ip;  // inside.gateway_ip (nat: required)
  PortConfig outside{"hw-out", std::nullopt};
  std::optional<Ip4> outside_gateway;          // outside.gateway (nat: required)
  std::vector<HoneypotConfig> honeypots;
  Limits limits;                       // [limits] tcp/udp/icmp/other/window/period
  bool roach_motel = false;            // roach_motel (top level)
  std::vector<Ip4> dns_servers;        // dns_servers (top level)
  std::vector<Ip4> dhcp_servers;       // dhcp_servers (top level): DHCP client traffic (68 -> 67) to these is exempt
  bool allow_ipv6 = false;             // ipv6 = true forwards IPv6 (outbound IPv6 counts as its protocol)
  int64_t busy_poll_ns = 0;            // busy_poll: spin this long after a frame before sleeping (0: never)
  bool gso = false;                    // gso = true carries GSO/TSO super-segments whole (virtio-net headers)
  bool gro = false;                    // gro = true turns GRO on on the data ports (implies gso)
  bool coalesce = true;                // coalesce: join TCP segments into super-segments on transmit
  CaptureConfig capture;
  RulesConfig rules;                   // [rules]
  uint64_t bandwidth_total_bps = 0;    // limits.bandwidth_total: ceiling over all honeypots' outbound bits/s (0: none)
  std::optional<UplinkConfig> uplink;  // [uplink] (lab only)
  std::optional<AlertsConfig> alerts;  // [alerts] (`honeynet alerts`; the lab starts it)
  uint32_t max_flows = 65536;          // flow.max
  int64_t tcp_established_timeout_ns = 3600LL * 1'000'000'000;  // flow.tcp_timeout
  int64_t udp_timeout_ns = 120LL * 1'000'000'000;               // flow.udp_timeout
};

// Parses TOML text. source names it in messages (a file path).
Result<Config> ParseConfig(const std::string& text, const std::string& source);
// Reads and parses a file.
Result<Config> LoadConfig(const std::string& path);

// "1h", "30m", "45s", "250ms", "2d" -> ns (also "us", "ns" and sums like
// "1h30m"). A plain number is seconds. No sign, no spaces; nullopt otherwise.
std::optional<int64_t> ParseDuration(const std::string& s);
// The other way: the largest unit that divides ns exactly ("90m", "250ms", "2d").
std::string FormatDuration(int64_t ns);
// "100M", "1G", "512K", "4096" -> bytes. K/M/G/T are powers of 1024, any case,
// optionally followed by "B" or "iB". nullopt on anything else or overflow.
std::optional<uint64_t> ParseSize(const std::string& s);

// "8Mbit", "500kbit", "1Gbit", "1.5Mbit", "64000" (bit/s) -> bits per second.
// Network units: decimal (k = 1000), any case; bit/s only ("bps" and bytes
// are refused: tc reads "kbps" as kilobytes). nullopt on anything else.
std::optional<uint64_t> ParseRate(const std::string& s);
// The other way: "8Mbit", "500kbit", "1234bit".
std::string FormatRate(uint64_t bps);

// The config as TOML with every key, for `honeynet wall --print-config`.
// ParseConfig() reads it back into an equal config ([honeypot.limits] lists
// only what differs from [limits]; unset optional keys are left out).
std::string DumpConfig(const Config& c);

}  // namespace hn
