// Tests for the config loader: defaults, every key, every check (with the
// line and key in the message), DumpConfig round trip, durations and sizes,
// file errors, and the shipped examples.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace hn {
namespace {

constexpr int64_t kSec = 1'000'000'000;

// One valid honeypot for bridge mode.
const std::string kHp = "[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\n";

// A valid nat config (8 lines); tests append to it or replace parts.
const std::string kNat =
    "mode = \"nat\"\n"                 // 1
    "[inside]\n"                       // 2
    "gateway_ip = \"10.0.0.1/24\"\n"   // 3
    "[outside]\n"                      // 4
    "gateway = \"192.0.2.1\"\n"        // 5
    "[[honeypot]]\n"                   // 6
    "name = \"hp1\"\n"                 // 7
    "ip = \"10.0.0.2\"\n"              // 8
    "public_ip = \"192.0.2.10\"\n";    // 9

Result<Config> Parse(const std::string& text) { return ParseConfig(text, "cfg.toml"); }

// Passes when text fails to parse with a message naming "cfg.toml:LINE: KEY:"
// and containing fragment.
testing::AssertionResult HasError(const std::string& text, int line, const std::string& key,
                                  const std::string& fragment = "") {
  auto r = Parse(text);
  if (r.ok()) return testing::AssertionFailure() << "parsed without error:\n" << text;
  const std::string& msg = r.status().message();
  std::string where = "cfg.toml:" + std::to_string(line) + ": " + key + ":";
  if (msg.find(where) == std::string::npos) {
    return testing::AssertionFailure() << "no '" << where << "' in:\n" << msg;
  }
  if (msg.find(fragment) == std::string::npos) {
    return testing::AssertionFailure() << "no '" << fragment << "' in:\n" << msg;
  }
  return testing::AssertionSuccess() << msg;
}

// Field by field, everything but source.
void ExpectSameLimits(const Limits& a, const Limits& b) {
  EXPECT_EQ(a.max, b.max);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.window_ns, b.window_ns);
}

void ExpectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.inside.interface, b.inside.interface);
  EXPECT_EQ(a.inside.mac, b.inside.mac);
  EXPECT_EQ(a.outside.interface, b.outside.interface);
  EXPECT_EQ(a.outside.mac, b.outside.mac);
  ASSERT_EQ(a.inside_gateway_ip.has_value(), b.inside_gateway_ip.has_value());
  if (a.inside_gateway_ip) {
    EXPECT_EQ(a.inside_gateway_ip->addr, b.inside_gateway_ip->addr);
    EXPECT_EQ(a.inside_gateway_ip->len, b.inside_gateway_ip->len);
  }
  EXPECT_EQ(a.outside_gateway, b.outside_gateway);
  ExpectSameLimits(a.limits, b.limits);
  EXPECT_EQ(a.roach_motel, b.roach_motel);
  EXPECT_EQ(a.dns_servers, b.dns_servers);
  EXPECT_EQ(a.allow_ipv6, b.allow_ipv6);
  EXPECT_EQ(a.busy_poll_ns, b.busy_poll_ns);
  EXPECT_EQ(a.gso, b.gso);
  EXPECT_EQ(a.gro, b.gro);
  EXPECT_EQ(a.capture.dir, b.capture.dir);
  EXPECT_EQ(a.capture.pcap, b.capture.pcap);
  EXPECT_EQ(a.capture.rotate_bytes, b.capture.rotate_bytes);
  EXPECT_EQ(a.capture.rotate_ns, b.capture.rotate_ns);
  EXPECT_EQ(a.capture.ring_mb, b.capture.ring_mb);
  EXPECT_EQ(a.capture.stats_interval_ns, b.capture.stats_interval_ns);
  EXPECT_EQ(a.capture.syslog, b.capture.syslog);
  EXPECT_EQ(a.capture.max_total, b.capture.max_total);
  EXPECT_EQ(a.capture.max_age_ns, b.capture.max_age_ns);
  EXPECT_EQ(a.capture.min_free, b.capture.min_free);
  EXPECT_EQ(a.capture.min_free_pct, b.capture.min_free_pct);
  EXPECT_EQ(a.uplink, b.uplink);
  EXPECT_EQ(a.max_flows, b.max_flows);
  EXPECT_EQ(a.tcp_established_timeout_ns, b.tcp_established_timeout_ns);
  EXPECT_EQ(a.udp_timeout_ns, b.udp_timeout_ns);
  ASSERT_EQ(a.honeypots.size(), b.honeypots.size());
  for (size_t i = 0; i < a.honeypots.size(); i++) {
    SCOPED_TRACE("honeypot " + std::to_string(i));
    EXPECT_EQ(a.honeypots[i].name, b.honeypots[i].name);
    EXPECT_EQ(a.honeypots[i].ip, b.honeypots[i].ip);
    EXPECT_EQ(a.honeypots[i].public_ip, b.honeypots[i].public_ip);
    EXPECT_EQ(a.honeypots[i].mac, b.honeypots[i].mac);
    ExpectSameLimits(a.honeypots[i].limits, b.honeypots[i].limits);
    EXPECT_EQ(a.honeypots[i].kind, b.honeypots[i].kind);
    EXPECT_EQ(a.honeypots[i].reset_idle_ns, b.honeypots[i].reset_idle_ns);
    EXPECT_EQ(a.honeypots[i].reset_max_age_ns, b.honeypots[i].reset_max_age_ns);
    EXPECT_EQ(a.honeypots[i].reset_jitter_ns, b.honeypots[i].reset_jitter_ns);
    EXPECT_EQ(a.honeypots[i].reset_archive, b.honeypots[i].reset_archive);
    EXPECT_EQ(a.honeypots[i].image, b.honeypots[i].image);
    EXPECT_EQ(a.honeypots[i].mem_mb, b.honeypots[i].mem_mb);
    EXPECT_EQ(a.honeypots[i].hostname, b.honeypots[i].hostname);
  }
}

Ip4 IP(const char* s) { return *Ip4::Parse(s); }
Mac MAC(const char* s) { return *Mac::Parse(s); }

// ---------------------------------------------------------------------------
// Defaults and keys

TEST(ConfigDefaults, EveryKeyHasItsDocumentedDefault) {
  auto r = Parse(kHp);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Config& c = *r;
  EXPECT_EQ(c.source, "cfg.toml");
  EXPECT_EQ(c.mode, Mode::kBridge);
  EXPECT_FALSE(c.roach_motel);
  EXPECT_TRUE(c.dns_servers.empty());
  EXPECT_FALSE(c.allow_ipv6);
  EXPECT_EQ(c.busy_poll_ns, 0);
  EXPECT_FALSE(c.gso);
  EXPECT_FALSE(c.gro);
  EXPECT_EQ(c.inside.interface, "hw-in");
  EXPECT_FALSE(c.inside.mac);
  EXPECT_FALSE(c.inside_gateway_ip);
  EXPECT_EQ(c.outside.interface, "hw-out");
  EXPECT_FALSE(c.outside.mac);
  EXPECT_FALSE(c.outside_gateway);
  EXPECT_EQ(c.limits.max, (std::array<uint32_t, kProtoClasses>{9, 20, 50, 10, 30}));
  EXPECT_EQ(c.limits.kind, WindowKind::kSliding);
  EXPECT_EQ(c.limits.window_ns, 3600 * kSec);
  EXPECT_EQ(c.capture.dir, "/var/lib/honeynet");
  EXPECT_TRUE(c.capture.pcap);
  EXPECT_EQ(c.capture.rotate_bytes, 100ULL << 20);
  EXPECT_EQ(c.capture.rotate_ns, 3600 * kSec);
  EXPECT_EQ(c.capture.ring_mb, 32u);
  EXPECT_TRUE(c.capture.inline_capture);
  EXPECT_TRUE(c.capture.capture_first);
  EXPECT_FALSE(c.capture.direct_io);
  EXPECT_EQ(c.capture.stats_interval_ns, 60 * kSec);
  EXPECT_FALSE(c.capture.syslog);
  EXPECT_EQ(c.capture.max_total, 0u);
  EXPECT_EQ(c.capture.max_age_ns, 0);
  EXPECT_EQ(c.capture.min_free, 0u);
  EXPECT_EQ(c.capture.min_free_pct, 0.0);
  EXPECT_EQ(c.max_flows, 65536u);
  EXPECT_EQ(c.tcp_established_timeout_ns, 3600 * kSec);
  EXPECT_EQ(c.udp_timeout_ns, 120 * kSec);
  ASSERT_EQ(c.honeypots.size(), 1u);
  EXPECT_EQ(c.honeypots[0].name, "hp1");
  EXPECT_EQ(c.honeypots[0].ip, IP("10.0.0.2"));
  EXPECT_FALSE(c.honeypots[0].public_ip);
  EXPECT_FALSE(c.honeypots[0].mac);
  ExpectSameLimits(c.honeypots[0].limits, Limits{});
}

TEST(ConfigDefaults, DefaultConstructedConfigMatchesParsedDefaults) {
  auto r = Parse(kHp);
  ASSERT_TRUE(r.ok()) << r.status().message();
  Config d;
  d.honeypots = r->honeypots;
  ExpectSameConfig(*r, d);
}

const std::string kEveryKey = R"(mode = "nat"
roach_motel = true
dns_servers = ["192.0.2.53", "198.51.100.53"]
ipv6 = true
busy_poll = "250us"
gso = true
[inside]
interface = "tap-in0"
gateway_ip = "10.1.0.1/16"
mac = "02:00:00:00:00:01"
[outside]
interface = "eth-out"
gateway = "192.0.2.1"
mac = "02:00:00:00:00:02"
[[honeypot]]
name = "web.1"
ip = "10.1.0.2"
public_ip = "192.0.2.10"
mac = "52:54:00:00:00:02"
reset_idle = "2h"
reset_max_age = "1d"
reset_jitter = "30m"
reset_archive = true
[honeypot.limits]
tcp = 3
[[honeypot]]
name = "db_2-x"
ip = "10.1.5.3"
public_ip = "192.0.2.11"
[honeypot.limits]
udp = 0
window = "token-bucket"
period = "2h"
[limits]
tcp = 15
udp = 25
icmp = 55
other = 0
window = "30m"
[capture]
dir = "/srv/capture"
pcap = false
rotate_size = "1G"
rotate_time = "2d"
ring_mb = 64
stats_interval = "250ms"
syslog = true
[flow]
max = 1024
tcp_timeout = "90m"
udp_timeout = 45
[uplink]
interface = "enp3s0"
management_ports = [22, 2222]
management_from = ["198.51.100.7/32", "203.0.113.0/24"]
transit = "100.127.8.0/24"
accept_stock_kernel = true
new_macs = true
)";

TEST(ConfigParse, EveryKeyIsRead) {
  auto r = Parse(kEveryKey);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Config& c = *r;
  EXPECT_EQ(c.mode, Mode::kNat);
  EXPECT_TRUE(c.roach_motel);
  EXPECT_EQ(c.dns_servers, (std::vector<Ip4>{IP("192.0.2.53"), IP("198.51.100.53")}));
  EXPECT_TRUE(c.allow_ipv6);
  EXPECT_EQ(c.busy_poll_ns, 250'000);
  EXPECT_TRUE(c.gso);
  EXPECT_EQ(c.inside.interface, "tap-in0");
  ASSERT_TRUE(c.inside_gateway_ip);
  EXPECT_EQ(c.inside_gateway_ip->addr, IP("10.1.0.1"));
  EXPECT_EQ(c.inside_gateway_ip->len, 16);
  EXPECT_EQ(c.inside.mac, MAC("02:00:00:00:00:01"));
  EXPECT_EQ(c.outside.interface, "eth-out");
  EXPECT_EQ(c.outside_gateway, IP("192.0.2.1"));
  EXPECT_EQ(c.outside.mac, MAC("02:00:00:00:00:02"));
  EXPECT_EQ(c.limits.max, (std::array<uint32_t, kProtoClasses>{15, 25, 55, 0, 30}));
  EXPECT_EQ(c.limits.kind, WindowKind::kSliding);
  EXPECT_EQ(c.limits.window_ns, 1800 * kSec);
  EXPECT_EQ(c.capture.dir, "/srv/capture");
  EXPECT_FALSE(c.capture.pcap);
  EXPECT_EQ(c.capture.rotate_bytes, 1ULL << 30);
  EXPECT_EQ(c.capture.rotate_ns, 2 * 86400 * kSec);
  EXPECT_EQ(c.capture.ring_mb, 64u);
  EXPECT_EQ(c.capture.stats_interval_ns, 250'000'000);
  EXPECT_TRUE(c.capture.syslog);
  EXPECT_EQ(c.max_flows, 1024u);
  EXPECT_EQ(c.tcp_established_timeout_ns, 90 * 60 * kSec);
  EXPECT_EQ(c.udp_timeout_ns, 45 * kSec);  // plain integer = seconds
  ASSERT_EQ(c.honeypots.size(), 2u);
  const HoneypotConfig& a = c.honeypots[0];
  EXPECT_EQ(a.name, "web.1");
  EXPECT_EQ(a.ip, IP("10.1.0.2"));
  EXPECT_EQ(a.public_ip, IP("192.0.2.10"));
  EXPECT_EQ(a.mac, MAC("52:54:00:00:00:02"));
  // [limits] comes after the honeypots in the file, and still is their base.
  EXPECT_EQ(a.limits.max, (std::array<uint32_t, kProtoClasses>{3, 25, 55, 0, 30}));
  EXPECT_EQ(a.limits.kind, WindowKind::kSliding);
  EXPECT_EQ(a.limits.window_ns, 1800 * kSec);
  const HoneypotConfig& b = c.honeypots[1];
  EXPECT_EQ(b.name, "db_2-x");
  EXPECT_FALSE(b.mac);
  EXPECT_EQ(b.limits.max, (std::array<uint32_t, kProtoClasses>{15, 0, 55, 0, 30}));
  EXPECT_EQ(b.limits.kind, WindowKind::kTokenBucket);
  EXPECT_EQ(b.limits.window_ns, 2 * 3600 * kSec);
}

TEST(ConfigParse, CaptureRetentionKeys) {
  auto r = Parse(kNat + "[capture]\nmax_total = \"16M\"\nmax_age = \"30d\"\nmin_free = \"12M\"\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->capture.max_total, 16ULL << 20);
  EXPECT_EQ(r->capture.max_age_ns, 30LL * 86400 * kSec);
  EXPECT_EQ(r->capture.min_free, 12ULL << 20);
  auto p = Parse(kNat + "[capture]\nmin_free = \"10%\"\n");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->capture.min_free_pct, 10.0);
  EXPECT_EQ(p->capture.min_free, 0u);
  // The dump reads back the same.
  auto back = Parse(DumpConfig(*p));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->capture.min_free_pct, 10.0);
  EXPECT_TRUE(HasError(kNat + "[capture]\nmin_free = \"150%\"\n", 11, "capture.min_free", "percentage"));
  EXPECT_TRUE(HasError(kNat + "[capture]\nmin_free = \"lots\"\n", 11, "capture.min_free", "size"));
  EXPECT_TRUE(HasError(kNat + "[capture]\nmax_total = \"1K\"\n", 11, "capture.max_total", "from 64K"));
  EXPECT_TRUE(HasError(kNat + "[capture]\nmax_age = \"0s\"\n", 11, "capture.max_age", "duration"));
}

// capture.policy: capture-first (the default with the inline method),
// gro = true implies gso (its super-frames are carried whole); it cannot be
// had with gso = false, and the error names both lines.
TEST(ConfigParse, GroImpliesGso) {
  auto g = Parse("gro = true\n" + kHp);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_TRUE(g->gro);
  EXPECT_TRUE(g->gso);
  auto back = Parse(DumpConfig(*g));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->gro);
  EXPECT_TRUE(back->gso);
  auto both = Parse("gso = true\ngro = true\n" + kHp);
  ASSERT_TRUE(both.ok()) << both.status().message();
  EXPECT_TRUE(both->gro && both->gso);
  auto off = Parse("gro = false\n" + kHp);
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_FALSE(off->gro);
  EXPECT_FALSE(off->gso);
  EXPECT_TRUE(HasError("gso = false\ngro = true\n" + kHp, 2, "gro", "needs gso = true"));
  EXPECT_TRUE(HasError("gro = 1\n" + kHp, 1, "gro", "true or false"));
}

// forward-first, and what cannot be: capture-first with method = "socket".
TEST(ConfigParse, CapturePolicy) {
  auto ff = Parse(kNat + "[capture]\npolicy = \"forward-first\"\ndirect_io = true\n");
  ASSERT_TRUE(ff.ok()) << ff.status().message();
  EXPECT_FALSE(ff->capture.capture_first);
  EXPECT_TRUE(ff->capture.direct_io);
  auto back = Parse(DumpConfig(*ff));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_FALSE(back->capture.capture_first);
  EXPECT_TRUE(back->capture.direct_io);
  auto cf = Parse(kNat + "[capture]\npolicy = \"capture-first\"\n");
  ASSERT_TRUE(cf.ok()) << cf.status().message();
  EXPECT_TRUE(cf->capture.capture_first);
  // method = "socket" alone: forward-first by nature, not an error.
  auto sock = Parse(kNat + "[capture]\nmethod = \"socket\"\n");
  ASSERT_TRUE(sock.ok()) << sock.status().message();
  EXPECT_FALSE(sock->capture.capture_first);
  EXPECT_TRUE(HasError(kNat + "[capture]\nmethod = \"socket\"\npolicy = \"capture-first\"\n", 12,
                       "capture.policy", "needs capture.method = \"inline\""));
  EXPECT_TRUE(HasError(kNat + "[capture]\npolicy = \"fast\"\n", 11, "capture.policy", "forward-first"));
  EXPECT_TRUE(HasError(kNat + "[capture]\ndirect_io = \"yes\"\n", 11, "capture.direct_io", ""));
}

TEST(ConfigParse, TokenBucketWindowAndPeriod) {
  auto r = Parse(kHp + "[limits]\nwindow = \"token-bucket\"\nperiod = \"10m\"\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->limits.kind, WindowKind::kTokenBucket);
  EXPECT_EQ(r->limits.window_ns, 600 * kSec);
  ExpectSameLimits(r->honeypots[0].limits, r->limits);

  // Without period: one hour.
  r = Parse(kHp + "[limits]\nwindow = \"token-bucket\"\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->limits.kind, WindowKind::kTokenBucket);
  EXPECT_EQ(r->limits.window_ns, 3600 * kSec);
}

TEST(ConfigParse, HoneypotLimitsOverrideOnlyWhatTheyName) {
  // Global token bucket of 2h; one honeypot changes the period only, another
  // switches to a sliding window, a third takes a token bucket with the
  // global span as its period.
  const std::string text = R"([limits]
window = "token-bucket"
period = "2h"
tcp = 4
[[honeypot]]
name = "a"
ip = "10.0.0.2"
[honeypot.limits]
period = "30m"
[[honeypot]]
name = "b"
ip = "10.0.0.3"
[honeypot.limits]
window = "5m"
icmp = 1
[[honeypot]]
name = "c"
ip = "10.0.0.4"
)";
  auto r = Parse(text);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& hp = r->honeypots;
  EXPECT_EQ(hp[0].limits.kind, WindowKind::kTokenBucket);
  EXPECT_EQ(hp[0].limits.window_ns, 1800 * kSec);
  EXPECT_EQ(hp[0].limits.max, (std::array<uint32_t, kProtoClasses>{4, 20, 50, 10, 30}));
  EXPECT_EQ(hp[1].limits.kind, WindowKind::kSliding);
  EXPECT_EQ(hp[1].limits.window_ns, 300 * kSec);
  EXPECT_EQ(hp[1].limits.max, (std::array<uint32_t, kProtoClasses>{4, 20, 1, 10, 30}));
  ExpectSameLimits(hp[2].limits, r->limits);

  // Global sliding 20m, honeypot token bucket without period: period 20m.
  r = Parse(kHp + "[honeypot.limits]\nwindow = \"token-bucket\"\n[limits]\nwindow = \"20m\"\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->honeypots[0].limits.kind, WindowKind::kTokenBucket);
  EXPECT_EQ(r->honeypots[0].limits.window_ns, 1200 * kSec);
}

TEST(ConfigParse, LimitBoundsAreAccepted) {
  auto r = Parse(kHp + "[limits]\ntcp = 0\nudp = 1000000\n[capture]\nring_mb = 1\n[flow]\nmax = 16777216\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->limits.max[0], 0u);
  EXPECT_EQ(r->limits.max[1], 1000000u);
  EXPECT_EQ(r->capture.ring_mb, 1u);
  EXPECT_EQ(r->max_flows, 16777216u);
  r = Parse(kHp + "[capture]\nring_mb = 4096\nrotate_size = 4096\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->capture.ring_mb, 4096u);
  EXPECT_EQ(r->capture.rotate_bytes, 4096u);
}

TEST(ConfigParse, BridgePublicIpEqualToIpIsIgnored) {
  auto r = Parse(kHp + "public_ip = \"10.0.0.2\"\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->honeypots[0].public_ip);
}

TEST(ConfigParse, DottedKeysAndInlineTablesWork) {
  auto r = Parse("inside.interface = \"in1\"\noutside = { interface = \"out1\" }\n" + kHp);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->inside.interface, "in1");
  EXPECT_EQ(r->outside.interface, "out1");
}

TEST(ConfigParse, NatMinimal) {
  auto r = Parse(kNat);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->mode, Mode::kNat);
  EXPECT_EQ(r->honeypots[0].public_ip, IP("192.0.2.10"));
}

// ---------------------------------------------------------------------------
// Errors

TEST(ConfigErrors, TomlSyntaxErrorHasLineAndColumn) {
  auto r = Parse("mode = \"bridge\"\n\n[inside\ninterface = \"x\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("cfg.toml:3:", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find("TOML syntax error"), std::string::npos);

  r = Parse(kHp + "name = \"again\"\n");  // duplicate key: TOML itself forbids it
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("cfg.toml:4:", 0), 0u) << r.status().message();
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_TRUE(HasError("mode = 5\n" + kHp, 1, "mode", "must be a string"));
  EXPECT_TRUE(HasError("roach_motel = \"yes\"\n" + kHp, 1, "roach_motel", "true or false, got \"yes\""));
  EXPECT_TRUE(HasError("ipv6 = 1\n" + kHp, 1, "ipv6", "got 1"));
  EXPECT_TRUE(HasError("dns_servers = \"192.0.2.53\"\n" + kHp, 1, "dns_servers", "must be a list"));
  EXPECT_TRUE(HasError("inside = 5\n" + kHp, 1, "inside", "must be a table"));
  EXPECT_TRUE(HasError(kHp + "[limits]\ntcp = \"9\"\n", 5, "limits.tcp", "got \"9\""));
  EXPECT_TRUE(HasError(kHp + "[limits]\ntcp = 9.5\n", 5, "limits.tcp", "whole number"));
  EXPECT_TRUE(HasError(kHp + "[capture]\npcap = 1\n", 5, "capture.pcap", "true or false"));
  EXPECT_TRUE(HasError(kHp + "[capture]\ndir = 7\n", 5, "capture.dir", "must be a string"));
  EXPECT_TRUE(HasError(kHp + "[capture]\nring_mb = \"32\"\n", 5, "capture.ring_mb", "whole number"));
  EXPECT_TRUE(HasError(kHp + "[inside]\ninterface = 3\n", 5, "inside.interface", "must be a string"));
  EXPECT_TRUE(HasError(kHp + "[outside]\ngateway = 3\n", 5, "outside.gateway", "IPv4"));
  EXPECT_TRUE(HasError(kHp + "limits = [1, 2]\n", 4, "honeypot[0].limits", "must be a table"));
  EXPECT_TRUE(HasError("[honeypot]\nname = \"hp1\"\nip = \"10.0.0.2\"\n", 1, "honeypot",
                       "write [[honeypot]]"));
  EXPECT_TRUE(HasError("honeypot = [1, 2]\n", 1, "honeypot", "[[honeypot]]"));
}

TEST(ConfigErrors, UnknownKeysSuggestTheClosest) {
  EXPECT_TRUE(HasError("mdoe = \"nat\"\n" + kHp, 1, "mdoe", "did you mean 'mode'?"));
  EXPECT_TRUE(HasError(kHp + "[inside]\ngatway_ip = \"10.0.0.1/24\"\n", 5, "inside.gatway_ip",
                       "did you mean 'gateway_ip'?"));
  EXPECT_TRUE(HasError(kHp + "[outside]\ngatewy = \"192.0.2.1\"\n", 5, "outside.gatewy",
                       "did you mean 'gateway'?"));
  // gateway_ip belongs to [inside], gateway to [outside].
  EXPECT_TRUE(HasError(kHp + "[outside]\ngateway_ip = \"192.0.2.1\"\n", 5, "outside.gateway_ip",
                       "unknown key"));
  EXPECT_TRUE(HasError(kHp + "[limit]\ntcp = 3\n", 4, "limit", "did you mean 'limits'?"));
  EXPECT_TRUE(HasError("[[honeypots]]\nname = \"hp1\"\n", 1, "honeypots", "did you mean 'honeypot'?"));
  EXPECT_TRUE(HasError(kHp + "nmae = \"x\"\n", 4, "honeypot[0].nmae", "did you mean 'name'?"));
  EXPECT_TRUE(HasError(kHp + "[honeypot.limits]\ntpc = 3\n", 5, "honeypot[0].limits.tpc",
                       "did you mean 'tcp'?"));
  EXPECT_TRUE(HasError(kHp + "[capture]\nrotate_sise = \"1M\"\n", 5, "capture.rotate_sise",
                       "did you mean 'rotate_size'?"));
  EXPECT_TRUE(HasError(kHp + "[flow]\nmax_flows = 2048\n", 5, "flow.max_flows", "unknown key"));
  // Nothing close: no suggestion, the known keys are listed instead.
  auto r = Parse(kHp + "[capture]\ncompression = \"zstd\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("did you mean"), std::string::npos) << r.status().message();
  EXPECT_TRUE(HasError(kHp + "[capture]\ncompression = \"zstd\"\n", 5, "capture.compression",
                       "known here: dir, pcap"));
}

TEST(ConfigErrors, BadMode) {
  EXPECT_TRUE(HasError("\nmode = \"router\"\n" + kHp, 2, "mode",
                       "must be \"bridge\" or \"nat\", got \"router\""));
  EXPECT_TRUE(HasError("mode = \"NAT\"\n" + kHp, 1, "mode", "got \"NAT\""));
}

TEST(ConfigErrors, BadAddresses) {
  EXPECT_TRUE(HasError("[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.256\"\n", 3, "honeypot[0].ip",
                       "IPv4 address"));
  EXPECT_TRUE(HasError("[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0\"\n", 3, "honeypot[0].ip",
                       "got \"10.0.0\""));
  EXPECT_TRUE(HasError(kHp + "public_ip = \"192.0.2.x\"\n", 4, "honeypot[0].public_ip", "IPv4"));
  EXPECT_TRUE(HasError("dns_servers = [\"192.0.2.53\", \"nameserver\"]\n" + kHp, 1, "dns_servers[1]",
                       "got \"nameserver\""));
  EXPECT_TRUE(HasError("dns_servers = [\"192.0.2.53\", 8]\n" + kHp, 1, "dns_servers[1]", "got 8"));
  EXPECT_TRUE(HasError(kHp + "[outside]\ngateway = \"192.0.2.300\"\n", 5, "outside.gateway", "IPv4"));
  // Addresses no host can have.
  for (const char* bad : {"0.0.0.0", "127.0.0.1", "224.0.0.5", "255.255.255.255"}) {
    EXPECT_TRUE(HasError(std::string("[[honeypot]]\nname = \"hp1\"\nip = \"") + bad + "\"\n", 3,
                         "honeypot[0].ip", "unicast host address"));
    EXPECT_TRUE(HasError(kHp + "[outside]\ngateway = \"" + bad + "\"\n", 5, "outside.gateway", "unicast"));
    EXPECT_TRUE(HasError("dns_servers = [\"" + std::string(bad) + "\"]\n" + kHp, 1, "dns_servers[0]",
                         "unicast"));
  }
  // gateway_ip needs a prefix length, a sane one, and a host address.
  EXPECT_TRUE(HasError(kHp + "[inside]\ngateway_ip = \"10.0.0.1\"\n", 5, "inside.gateway_ip",
                       "prefix length"));
  EXPECT_TRUE(HasError(kHp + "[inside]\ngateway_ip = \"10.0.0.1/33\"\n", 5, "inside.gateway_ip",
                       "got \"10.0.0.1/33\""));
  EXPECT_TRUE(HasError(kHp + "[inside]\ngateway_ip = \"10.0.0.1/32\"\n", 5, "inside.gateway_ip",
                       "/1 to /30"));
  EXPECT_TRUE(HasError(kHp + "[inside]\ngateway_ip = \"10.0.0.0/24\"\n", 5, "inside.gateway_ip",
                       "not the network or broadcast"));
  EXPECT_TRUE(HasError(kHp + "[inside]\ngateway_ip = \"10.0.0.255/24\"\n", 5, "inside.gateway_ip",
                       "not the network or broadcast"));
}

TEST(ConfigErrors, BadMacs) {
  EXPECT_TRUE(HasError(kHp + "mac = \"52:54:00:00:00\"\n", 4, "honeypot[0].mac", "MAC"));
  EXPECT_TRUE(HasError(kHp + "mac = \"52:54:00:00:00:zz\"\n", 4, "honeypot[0].mac", "MAC"));
  EXPECT_TRUE(HasError(kHp + "mac = \"01:00:5e:00:00:01\"\n", 4, "honeypot[0].mac", "unicast"));
  EXPECT_TRUE(HasError(kHp + "mac = \"00:00:00:00:00:00\"\n", 4, "honeypot[0].mac", "not all zero"));
  EXPECT_TRUE(HasError(kHp + "[inside]\nmac = \"ff:ff:ff:ff:ff:ff\"\n", 5, "inside.mac", "unicast"));
  EXPECT_TRUE(HasError(kHp + "[outside]\nmac = 5\n", 5, "outside.mac", "got 5"));
}

TEST(ConfigErrors, NumbersOutOfRange) {
  EXPECT_TRUE(HasError(kHp + "[limits]\ntcp = -3\n", 5, "limits.tcp", "from 0 to 1000000, got -3"));
  EXPECT_TRUE(HasError(kHp + "[limits]\nother = 1000001\n", 5, "limits.other", "got 1000001"));
  EXPECT_TRUE(HasError(kHp + "[honeypot.limits]\nicmp = -1\n", 5, "honeypot[0].limits.icmp", "got -1"));
  EXPECT_TRUE(HasError(kHp + "[capture]\nring_mb = 0\n", 5, "capture.ring_mb", "from 1 to 4096, got 0"));
  EXPECT_TRUE(HasError(kHp + "[capture]\nring_mb = 4097\n", 5, "capture.ring_mb", "got 4097"));
  EXPECT_TRUE(HasError(kHp + "[flow]\nmax = 1023\n", 5, "flow.max", "from 1024 to 16777216, got 1023"));
  EXPECT_TRUE(HasError(kHp + "[flow]\nmax = 16777217\n", 5, "flow.max", "got 16777217"));
  EXPECT_TRUE(HasError(kHp + "[flow]\nmax = -1\n", 5, "flow.max", "got -1"));
}

TEST(ConfigErrors, BadDurations) {
  EXPECT_TRUE(HasError(kHp + "[limits]\nwindow = \"1x\"\n", 5, "limits.window", "got \"1x\""));
  EXPECT_TRUE(HasError(kHp + "[limits]\nwindow = \"0s\"\n", 5, "limits.window", "duration > 0"));
  EXPECT_TRUE(HasError(kHp + "[limits]\nwindow = \"token_bucket\"\n", 5, "limits.window",
                       "or \"token-bucket\", got \"token_bucket\""));
  EXPECT_TRUE(HasError(kHp + "[honeypot.limits]\nwindow = -1\n", 5, "honeypot[0].limits.window", "got -1"));
  EXPECT_TRUE(HasError(kHp + "[capture]\nrotate_time = \"-5s\"\n", 5, "capture.rotate_time", "got \"-5s\""));
  EXPECT_TRUE(HasError(kHp + "[capture]\nstats_interval = \"soon\"\n", 5, "capture.stats_interval",
                       "like \"250ms\""));
  EXPECT_TRUE(HasError(kHp + "[flow]\nudp_timeout = 0\n", 5, "flow.udp_timeout", "got 0"));
  EXPECT_TRUE(HasError(kHp + "[flow]\ntcp_timeout = -60\n", 5, "flow.tcp_timeout", "got -60"));
  EXPECT_TRUE(HasError(kHp + "[flow]\ntcp_timeout = 1.5\n", 5, "flow.tcp_timeout", "got 1.5"));
  EXPECT_TRUE(HasError(kHp + "[flow]\ntcp_timeout = \"1000d\"\n", 5, "flow.tcp_timeout", "365d"));
  EXPECT_TRUE(HasError(kHp + "[limits]\nwindow = \"token-bucket\"\nperiod = \"0m\"\n", 6, "limits.period",
                       "got \"0m\""));
  EXPECT_TRUE(HasError("busy_poll = \"0s\"\n" + kHp, 1, "busy_poll", "duration > 0"));
  EXPECT_TRUE(HasError("busy_poll = \"2s\"\n" + kHp, 1, "busy_poll", "at most 1s"));
}

TEST(ConfigErrors, PeriodOnlyWithTokenBucket) {
  EXPECT_TRUE(HasError(kHp + "[limits]\nperiod = \"1h\"\n", 5, "limits.period", "token-bucket"));
  EXPECT_TRUE(HasError(kHp + "[limits]\nwindow = \"2h\"\nperiod = \"1h\"\n", 6, "limits.period",
                       "token-bucket"));
  EXPECT_TRUE(HasError(kHp + "[honeypot.limits]\nperiod = \"1h\"\n", 5, "honeypot[0].limits.period",
                       "token-bucket"));
}

TEST(ConfigErrors, BadSizes) {
  EXPECT_TRUE(HasError(kHp + "[capture]\nrotate_size = \"100X\"\n", 5, "capture.rotate_size", "got \"100X\""));
  EXPECT_TRUE(HasError(kHp + "[capture]\nrotate_size = \"1K\"\n", 5, "capture.rotate_size", "from 4K"));
  EXPECT_TRUE(HasError(kHp + "[capture]\nrotate_size = \"2T\"\n", 5, "capture.rotate_size", "to 1T"));
  EXPECT_TRUE(HasError(kHp + "[capture]\nrotate_size = -1\n", 5, "capture.rotate_size", "got -1"));
  EXPECT_TRUE(HasError(kHp + "[capture]\ndir = \"\"\n", 5, "capture.dir", "directory"));
}

TEST(ConfigErrors, Interfaces) {
  EXPECT_TRUE(HasError(kHp + "[inside]\ninterface = \"eth0\"\n[outside]\ninterface = \"eth0\"\n", 7,
                       "outside.interface", "must differ from inside.interface"));
  // Same as the other side's default.
  EXPECT_TRUE(HasError(kHp + "[inside]\ninterface = \"hw-out\"\n", 5, "outside.interface",
                       "must differ"));
  EXPECT_TRUE(HasError(kHp + "[inside]\ninterface = \"sixteen-chars-xx\"\n", 5, "inside.interface",
                       "1 to 15 characters"));
  EXPECT_TRUE(HasError(kHp + "[outside]\ninterface = \"\"\n", 5, "outside.interface", "got \"\""));
  EXPECT_TRUE(HasError(kHp + "[outside]\ninterface = \"a/b\"\n", 5, "outside.interface", "'/'"));
  EXPECT_TRUE(HasError(kHp + "[outside]\ninterface = \"eth 1\"\n", 5, "outside.interface", "spaces"));
  auto r = Parse(kHp + "[inside]\ninterface = \"fifteen-chars-x\"\n");
  EXPECT_TRUE(r.ok()) << r.status().message();
}

TEST(ConfigErrors, HoneypotNamesAndRequiredKeys) {
  EXPECT_TRUE(HasError("[[honeypot]]\nname = \"hp 1\"\nip = \"10.0.0.2\"\n", 2, "honeypot[0].name",
                       "got \"hp 1\""));
  EXPECT_TRUE(HasError("[[honeypot]]\nname = \"" + std::string(33, 'a') + "\"\nip = \"10.0.0.2\"\n", 2,
                       "honeypot[0].name", "1 to 32"));
  EXPECT_TRUE(HasError("[[honeypot]]\nname = \"\"\nip = \"10.0.0.2\"\n", 2, "honeypot[0].name", "1 to 32"));
  EXPECT_TRUE(HasError(kHp + "\n[[honeypot]]\nip = \"10.0.0.3\"\n", 5, "honeypot[1].name", "missing"));
  EXPECT_TRUE(HasError(kHp + "\n[[honeypot]]\nname = \"hp2\"\n", 5, "honeypot[1].ip", "missing"));
  auto r = Parse("[[honeypot]]\nname = \"" + std::string(32, 'a') + "\"\nip = \"10.0.0.2\"\n");
  EXPECT_TRUE(r.ok()) << r.status().message();
}

TEST(ConfigErrors, Duplicates) {
  const std::string two = kHp +
                          "[[honeypot]]\n"           // 4
                          "name = \"hp1\"\n"         // 5
                          "ip = \"10.0.0.2\"\n"      // 6
                          "mac = \"52:54:00:00:00:09\"\n";  // 7
  EXPECT_TRUE(HasError(two, 5, "honeypot[1].name", "same as honeypot[0].name, got \"hp1\""));
  EXPECT_TRUE(HasError(two, 6, "honeypot[1].ip", "same as honeypot[0].ip, got \"10.0.0.2\""));
  EXPECT_TRUE(HasError(kHp + "mac = \"52:54:00:00:00:09\"\n" + two.substr(kHp.size()), 8,
                       "honeypot[1].mac", "same as honeypot[0].mac, got \"52:54:00:00:00:09\""));
  // A honeypot's MAC must not be the honeywall's own.
  EXPECT_TRUE(HasError("[inside]\nmac = \"52:54:00:00:00:09\"\n" + two, 9, "honeypot[1].mac",
                       "inside.mac"));
  const std::string nat2 = kNat +
                           "[[honeypot]]\n"              // 10
                           "name = \"hp2\"\n"            // 11
                           "ip = \"10.0.0.3\"\n"         // 12
                           "public_ip = \"192.0.2.10\"\n";  // 13
  EXPECT_TRUE(HasError(nat2, 13, "honeypot[1].public_ip", "same as honeypot[0].public_ip"));
}

TEST(ConfigErrors, NatRequirements) {
  // No gateway_ip: blamed on the [inside] header when there is one, else on mode.
  EXPECT_TRUE(HasError("mode = \"nat\"\n[inside]\ninterface = \"in0\"\n[outside]\ngateway = \"192.0.2.1\"\n"
                       "[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\npublic_ip = \"192.0.2.10\"\n",
                       2, "inside.gateway_ip", "missing"));
  EXPECT_TRUE(HasError("mode = \"nat\"\n[outside]\ngateway = \"192.0.2.1\"\n"
                       "[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\npublic_ip = \"192.0.2.10\"\n",
                       1, "inside.gateway_ip", "10.0.0.1/24"));
  EXPECT_TRUE(HasError("mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n"
                       "[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\npublic_ip = \"192.0.2.10\"\n",
                       1, "outside.gateway", "missing"));
  EXPECT_TRUE(HasError("mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n[outside]\ngateway = "
                       "\"192.0.2.1\"\n[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\n",
                       6, "honeypot[0].public_ip", "missing"));
  // An invalid gateway_ip is reported once, not also as missing.
  auto r = Parse("mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1\"\n[outside]\ngateway = \"192.0.2.1\"\n"
                 "[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\npublic_ip = \"192.0.2.10\"\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("missing"), std::string::npos) << r.status().message();
}

TEST(ConfigErrors, NatAddressPlan) {
  std::string t = kNat;
  // honeypot ip outside the inside prefix
  EXPECT_TRUE(HasError(t.replace(t.find("ip = \"10.0.0.2\""), 15, "ip = \"10.0.1.2\""), 8,
                       "honeypot[0].ip", "inside inside.gateway_ip's network 10.0.0.1/24"));
  t = kNat;
  EXPECT_TRUE(HasError(t.replace(t.find("ip = \"10.0.0.2\""), 15, "ip = \"10.0.0.1\""), 8,
                       "honeypot[0].ip", "gateway_ip's own address"));
  t = kNat;
  EXPECT_TRUE(HasError(t.replace(t.find("ip = \"10.0.0.2\""), 15, "ip = \"10.0.0.255\""), 8,
                       "honeypot[0].ip", "broadcast"));
  // public_ip inside the inside prefix
  t = kNat;
  EXPECT_TRUE(HasError(t.replace(t.find("192.0.2.10"), 10, "10.0.0.77"), 9, "honeypot[0].public_ip",
                       "must be outside the inside network"));
  // public_ip == outside.gateway
  t = kNat;
  EXPECT_TRUE(HasError(t.replace(t.find("192.0.2.10"), 10, "192.0.2.1"), 9, "honeypot[0].public_ip",
                       "must not be outside.gateway"));
  // upstream router inside the honeypots' network
  t = kNat;
  EXPECT_TRUE(HasError(t.replace(t.find("192.0.2.1\""), 10, "10.0.0.9\""), 5, "outside.gateway",
                       "must be outside the inside network"));
}

TEST(ConfigErrors, BridgePublicIpIsForNat) {
  EXPECT_TRUE(HasError(kHp + "public_ip = \"192.0.2.10\"\n", 4, "honeypot[0].public_ip",
                       "public_ip is for nat mode"));
}

TEST(ConfigErrors, AtLeastOneHoneypot) {
  EXPECT_TRUE(HasError("", 1, "honeypot", "at least one [[honeypot]] is needed"));
  EXPECT_TRUE(HasError("mode = \"bridge\"\n[limits]\ntcp = 1\n", 1, "honeypot",
                       "at least one [[honeypot]] is needed"));
  EXPECT_TRUE(HasError("mode = \"bridge\"\nhoneypot = []\n", 2, "honeypot", "at least one [[honeypot]]"));
}

TEST(ConfigErrors, AllErrorsAreReportedSortedByLine) {
  auto r = Parse("mode = \"x\"\n" + kHp + "[limits]\ntcp = -1\n[flow]\nmax = 5\n");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  size_t a = m.find("cfg.toml:1: mode:");
  size_t b = m.find("cfg.toml:6: limits.tcp:");
  size_t c = m.find("cfg.toml:8: flow.max:");
  ASSERT_NE(a, std::string::npos) << m;
  ASSERT_NE(b, std::string::npos) << m;
  ASSERT_NE(c, std::string::npos) << m;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
}

// ---------------------------------------------------------------------------
// DumpConfig

TEST(ConfigDump, RoundTripsEveryKey) {
  auto r = Parse(kEveryKey);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string dumped = DumpConfig(*r);
  auto back = ParseConfig(dumped, "dumped.toml");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << dumped;
  ExpectSameConfig(*r, *back);
  EXPECT_EQ(back->source, "dumped.toml");
  EXPECT_EQ(DumpConfig(*back), dumped);  // stable
}

TEST(ConfigDump, RoundTripsDefaultsAndOddValues) {
  auto r = Parse(kHp);
  ASSERT_TRUE(r.ok());
  std::string dumped = DumpConfig(*r);
  // Every key is written out.
  for (const char* key : {"mode =", "roach_motel =", "dns_servers =", "ipv6 =", "[inside]", "interface =",
                          "[outside]", "[limits]", "tcp =", "udp =", "icmp =", "other =", "window =",
                          "[capture]", "dir =", "pcap =", "rotate_size =", "rotate_time =", "ring_mb =",
                          "stats_interval =", "syslog =", "[flow]", "max =", "tcp_timeout =",
                          "udp_timeout =", "[[honeypot]]", "name =", "ip ="}) {
    EXPECT_NE(dumped.find(key), std::string::npos) << key << " missing in\n" << dumped;
  }
  auto back = ParseConfig(dumped, "d");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << dumped;
  ExpectSameConfig(*r, *back);

  // Values that need care: quotes and backslashes in a path, sizes and
  // durations that are no round unit, a honeypot whose limits equal the global.
  Config c = *r;
  c.capture.dir = "/tmp/a \"quoted\" \\dir\\\t";
  c.capture.rotate_bytes = 4097;
  c.capture.rotate_ns = 90 * kSec;
  c.capture.stats_interval_ns = 1500;  // 1.5us
  c.udp_timeout_ns = 61'001'000'000;
  c.limits.kind = WindowKind::kTokenBucket;
  c.limits.window_ns = 7 * kSec;
  c.honeypots[0].limits = c.limits;
  c.honeypots.push_back(c.honeypots[0]);
  c.honeypots[1].name = "hp2";
  c.honeypots[1].ip = IP("10.0.0.3");
  c.honeypots[1].mac = MAC("52:54:00:00:00:03");
  c.honeypots[1].limits.kind = WindowKind::kSliding;
  c.honeypots[1].limits.max[3] = 0;
  dumped = DumpConfig(c);
  back = ParseConfig(dumped, "d");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << dumped;
  ExpectSameConfig(c, *back);
}

TEST(ConfigDump, RoundTripsNat) {
  auto r = Parse(kNat + "mac = \"52:54:00:00:00:02\"\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string dumped = DumpConfig(*r);
  EXPECT_NE(dumped.find("mode = \"nat\""), std::string::npos);
  EXPECT_NE(dumped.find("gateway_ip = \"10.0.0.1/24\""), std::string::npos) << dumped;
  auto back = ParseConfig(dumped, "d");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << dumped;
  ExpectSameConfig(*r, *back);
}

// ---------------------------------------------------------------------------
// The lab's honeypot keys (image, mem, hostname): kept by the parser, ignored
// by the honeywall.

TEST(ConfigLabKeys, DefaultsAreBusybox64MAndTheName) {
  auto r = Parse(kHp);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->honeypots[0].kind, "uml");
  EXPECT_EQ(r->honeypots[0].image, "busybox");
  EXPECT_EQ(r->honeypots[0].mem_mb, 64u);
  EXPECT_EQ(r->honeypots[0].hostname, "hp1");
  EXPECT_EQ(HoneypotConfig().kind, "uml");  // a default-constructed one agrees
}

// kind: "uml" (default) or "netns", per honeypot; a config may mix them.
TEST(ConfigLabKeys, KindIsReadPerHoneypotAndRoundTrips) {
  auto r = Parse(kNat +                       // honeypot[0] ends on line 9
                 "kind = \"netns\"\n"         // 10
                 "mem = \"32M\"\n"            // 11: accepted (and ignored by the lab) for netns
                 "[[honeypot]]\n"              // 12
                 "name = \"hp2\"\n"
                 "ip = \"10.0.0.3\"\n"
                 "public_ip = \"192.0.2.11\"\n"
                 "kind = \"uml\"\n"
                 "[[honeypot]]\n"
                 "name = \"hp3\"\n"
                 "ip = \"10.0.0.4\"\n"
                 "public_ip = \"192.0.2.12\"\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->honeypots.size(), 3u);
  EXPECT_EQ(r->honeypots[0].kind, "netns");
  EXPECT_EQ(r->honeypots[0].mem_mb, 32u);
  EXPECT_EQ(r->honeypots[1].kind, "uml");
  EXPECT_EQ(r->honeypots[2].kind, "uml");  // not written: the default

  std::string dumped = DumpConfig(*r);
  EXPECT_NE(dumped.find("kind = \"netns\""), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("kind = \"uml\""), std::string::npos) << dumped;
  auto back = ParseConfig(dumped, "d");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << dumped;
  ExpectSameConfig(*r, *back);
  EXPECT_EQ(back->honeypots[0].kind, "netns");
}

TEST(ConfigLabKeys, BadKindNamesKeyLineAndTheChoices) {
  EXPECT_TRUE(HasError(kNat + "kind = \"lxc\"\n", 10, "honeypot[0].kind", "got \"lxc\""));
  EXPECT_TRUE(HasError(kNat + "kind = \"lxc\"\n", 10, "honeypot[0].kind", "\"uml\""));
  EXPECT_TRUE(HasError(kNat + "kind = \"lxc\"\n", 10, "honeypot[0].kind", "\"netns\""));
  EXPECT_TRUE(HasError(kNat + "kind = \"NETNS\"\n", 10, "honeypot[0].kind"));  // case matters
  EXPECT_TRUE(HasError(kNat + "kind = \"\"\n", 10, "honeypot[0].kind", "got \"\""));
  EXPECT_TRUE(HasError(kNat + "kind = 1\n", 10, "honeypot[0].kind", "must be a string"));
  EXPECT_TRUE(HasError(kNat + "knd = \"netns\"\n", 10, "honeypot[0].knd", "did you mean 'kind'"));
  // In the second honeypot: its own index and line.
  EXPECT_TRUE(HasError(kNat + "[[honeypot]]\nname = \"hp2\"\nip = \"10.0.0.3\"\npublic_ip = \"192.0.2.11\"\n"
                              "kind = \"qemu\"\n",
                       14, "honeypot[1].kind", "got \"qemu\""));
}

TEST(ConfigLabKeys, AreReadPerHoneypotAndRoundTrip) {
  auto r = Parse(kNat +                       // honeypot[0] ends on line 9
                 "image = \"debian\"\n"        // 10
                 "mem = \"1G\"\n"              // 11
                 "hostname = \"www-01.corp\"\n" // 12
                 "[[honeypot]]\n"              // 13
                 "name = \"hp2\"\n"
                 "ip = \"10.0.0.3\"\n"
                 "public_ip = \"192.0.2.11\"\n"
                 "mem = 134217728\n");        // a plain integer is bytes: 128M
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->honeypots.size(), 2u);
  EXPECT_EQ(r->honeypots[0].image, "debian");
  EXPECT_EQ(r->honeypots[0].mem_mb, 1024u);
  EXPECT_EQ(r->honeypots[0].hostname, "www-01.corp");
  EXPECT_EQ(r->honeypots[1].image, "busybox");
  EXPECT_EQ(r->honeypots[1].mem_mb, 128u);
  EXPECT_EQ(r->honeypots[1].hostname, "hp2");

  std::string dumped = DumpConfig(*r);
  EXPECT_NE(dumped.find("image = \"debian\""), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("mem = \"1G\""), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("mem = \"128M\""), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("hostname = \"www-01.corp\""), std::string::npos) << dumped;
  auto back = ParseConfig(dumped, "d");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << dumped;
  ExpectSameConfig(*r, *back);
}

TEST(ConfigLabKeys, BadValuesNameKeyAndLine) {
  EXPECT_TRUE(HasError(kNat + "image = \"Debian 12\"\n", 10, "honeypot[0].image", "image kind"));
  EXPECT_TRUE(HasError(kNat + "image = \"\"\n", 10, "honeypot[0].image", "got \"\""));
  EXPECT_TRUE(HasError(kNat + "image = \"../x\"\n", 10, "honeypot[0].image"));
  EXPECT_TRUE(HasError(kNat + "image = 3\n", 10, "honeypot[0].image", "must be a string"));
  EXPECT_TRUE(HasError(kNat + "mem = \"8M\"\n", 10, "honeypot[0].mem", "from 16M to 16G"));
  EXPECT_TRUE(HasError(kNat + "mem = \"32G\"\n", 10, "honeypot[0].mem", "got \"32G\""));
  EXPECT_TRUE(HasError(kNat + "mem = \"64.5M\"\n", 10, "honeypot[0].mem"));
  EXPECT_TRUE(HasError(kNat + "mem = \"16385K\"\n", 10, "honeypot[0].mem", "whole MiB"));
  EXPECT_TRUE(HasError(kNat + "mem = 64\n", 10, "honeypot[0].mem", "got 64"));  // bytes, too few
  EXPECT_TRUE(HasError(kNat + "hostname = \"-x\"\n", 10, "honeypot[0].hostname", "host name"));
  EXPECT_TRUE(HasError(kNat + "hostname = \"a..b\"\n", 10, "honeypot[0].hostname"));
  EXPECT_TRUE(HasError(kNat + "hostname = \"a b\"\n", 10, "honeypot[0].hostname"));
  EXPECT_TRUE(HasError(kNat + "hostname = \"" + std::string(64, 'a') + "\"\n", 10, "honeypot[0].hostname"));
  EXPECT_TRUE(HasError(kNat + "hostnme = \"x\"\n", 10, "honeypot[0].hostnme", "did you mean 'hostname'"));
  // Edges that are fine.
  EXPECT_TRUE(Parse(kNat + "mem = \"16M\"\nhostname = \"" + std::string(63, 'a') + "\"\n").ok());
  EXPECT_TRUE(Parse(kNat + "mem = \"16G\"\nimage = \"my-img_2.0\"\n").ok());
}

// ---------------------------------------------------------------------------
// Durations and sizes

TEST(ConfigDuration, ParsesUnits) {
  EXPECT_EQ(ParseDuration("250ms"), 250'000'000);
  EXPECT_EQ(ParseDuration("45s"), 45 * kSec);
  EXPECT_EQ(ParseDuration("30m"), 1800 * kSec);
  EXPECT_EQ(ParseDuration("1h"), 3600 * kSec);
  EXPECT_EQ(ParseDuration("2d"), 2 * 86400 * kSec);
  EXPECT_EQ(ParseDuration("60"), 60 * kSec);
  EXPECT_EQ(ParseDuration("0"), 0);
  EXPECT_EQ(ParseDuration("7us"), 7000);
  EXPECT_EQ(ParseDuration("9ns"), 9);
  EXPECT_EQ(ParseDuration("1h30m"), 5400 * kSec);
  EXPECT_EQ(ParseDuration("1m500ms"), 60'500'000'000);
}

TEST(ConfigDuration, RejectsGarbage) {
  for (const char* s : {"", "h", "1x", "1 h", " 1h", "1h ", "-5s", "+5s", "1.5h", "1H", "1h30", "ms",
                        "1hh", "99999999999999999999", "9999999999d", "106752d"}) {
    EXPECT_FALSE(ParseDuration(s)) << '"' << s << '"';
  }
  EXPECT_TRUE(ParseDuration("106751d"));  // just under INT64_MAX ns
}

TEST(ConfigSize, ParsesUnits) {
  EXPECT_EQ(ParseSize("512K"), 512u << 10);
  EXPECT_EQ(ParseSize("100M"), 100ULL << 20);
  EXPECT_EQ(ParseSize("1G"), 1ULL << 30);
  EXPECT_EQ(ParseSize("2T"), 2ULL << 40);
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_EQ(ParseSize("0"), 0u);
  EXPECT_EQ(ParseSize("100m"), 100ULL << 20);
  EXPECT_EQ(ParseSize("100MB"), 100ULL << 20);
  EXPECT_EQ(ParseSize("100MiB"), 100ULL << 20);
  EXPECT_EQ(ParseSize("10B"), 10u);
}

TEST(ConfigSize, RejectsGarbage) {
  for (const char* s : {"", "M", "1X", "1.5G", "-1M", "1 M", "1MM", "1Mb2", "16777216T",
                        "99999999999999999999"}) {
    EXPECT_FALSE(ParseSize(s)) << '"' << s << '"';
  }
  EXPECT_EQ(ParseSize("16777215T"), 16777215ULL << 40);
}

// ---------------------------------------------------------------------------
// Files

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("hn_config_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(ConfigLoad, ReadsAFileAndNamesItInErrors) {
  std::string path = TempPath("ok.toml");
  { std::ofstream(path) << kHp; }
  auto r = LoadConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->source, path);
  EXPECT_EQ(r->honeypots.size(), 1u);

  { std::ofstream(path) << kHp << "[limits]\ntcp = -1\n"; }
  r = LoadConfig(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path + ":5: limits.tcp:"), std::string::npos) << r.status().message();
  std::filesystem::remove(path);
}

TEST(ConfigLoad, MissingFileSaysWhich) {
  std::string path = TempPath("does-not-exist.toml");
  auto r = LoadConfig(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("No such file"), std::string::npos) << r.status().message();
}

TEST(ConfigLoad, DirectoryIsRefused) {
  std::string dir = std::filesystem::temp_directory_path().string();
  auto r = LoadConfig(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("directory"), std::string::npos) << r.status().message();
}

TEST(ConfigLoad, UnreadableFileSaysWhich) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string path = TempPath("unreadable.toml");
  { std::ofstream(path) << kHp; }
  std::filesystem::permissions(path, std::filesystem::perms::none);
  auto r = LoadConfig(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("Permission denied"), std::string::npos) << r.status().message();
}

// The shipped examples must stay valid. Normalised lexically: tests/data need
// not exist for "<src>/tests/data/../../examples" to name <src>/examples.
std::string ExamplePath(const char* name) {
  return (std::filesystem::path(HONEYNET_TEST_DATA "/../../examples") / name).lexically_normal().string();
}

TEST(ConfigExamples, BridgeExampleParses) {
  auto r = LoadConfig(ExamplePath("bridge.toml"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->mode, Mode::kBridge);
  EXPECT_FALSE(r->honeypots.empty());
  auto back = ParseConfig(DumpConfig(*r), "d");
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSameConfig(*r, *back);
}

TEST(ConfigExamples, NatExampleParses) {
  auto r = LoadConfig(ExamplePath("nat.toml"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->mode, Mode::kNat);
  ASSERT_FALSE(r->honeypots.empty());
  for (const auto& hp : r->honeypots) EXPECT_TRUE(hp.public_ip) << hp.name;
  auto back = ParseConfig(DumpConfig(*r), "d");
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSameConfig(*r, *back);
}


TEST(ConfigHoneypot, ResetScheduleKeys) {
  auto r = Parse(kEveryKey);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->honeypots[0].reset_idle_ns, 2 * 3600 * kSec);
  EXPECT_EQ(r->honeypots[0].reset_max_age_ns, 24 * 3600 * kSec);
  EXPECT_EQ(r->honeypots[0].reset_jitter_ns, 30 * 60 * kSec);
  EXPECT_TRUE(r->honeypots[0].reset_archive);
  EXPECT_EQ(r->honeypots[1].reset_idle_ns, 0);
  auto bad = ParseConfig("[[honeypot]]\nname = \"a\"\nip = \"10.0.0.2\"\nreset_idle = \"soon\"\n", "r.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("r.toml:4: honeypot[0].reset_idle: must be a duration"), std::string::npos)
      << bad.status().message();
}

TEST(ConfigUplink, KeysDefaultsAndTopLevelManagementKeys) {
  auto r = Parse(kEveryKey);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->uplink.has_value());
  EXPECT_EQ(r->uplink->interface, "enp3s0");
  EXPECT_EQ(r->uplink->management_ports, (std::vector<uint16_t>{22, 2222}));
  ASSERT_EQ(r->uplink->management_from.size(), 2u);
  EXPECT_EQ(r->uplink->management_from[0].len, 32);
  EXPECT_EQ(r->uplink->transit.addr.ToString(), "100.127.8.0");
  EXPECT_TRUE(r->uplink->accept_stock_kernel);

  // Defaults; nat needs no outside.gateway with [uplink] (the host's default
  // gateway); management keys beside mode mean the same.
  auto d = ParseConfig("mode = \"nat\"\nmanagement_from = [\"192.0.2.9\"]\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n"
                       "[uplink]\ninterface = \"eth0\"\n[[honeypot]]\nname = \"a\"\nip = \"10.0.0.2\"\n"
                       "public_ip = \"203.0.113.5\"\n",
                       "u.toml");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->uplink->management_ports, (std::vector<uint16_t>{22}));
  ASSERT_EQ(d->uplink->management_from.size(), 1u);
  EXPECT_EQ(d->uplink->management_from[0].addr.ToString(), "192.0.2.9");
  EXPECT_EQ(d->uplink->transit.addr.ToString(), "198.18.254.0");
  EXPECT_FALSE(d->outside_gateway.has_value());
}

TEST(ConfigUplink, ErrorsNameKeyAndLine) {
  auto r = ParseConfig("[uplink]\nmanagement_ports = [22, 0, 22]\nmanagement_from = [\"x\"]\ntransit = \"10.0.0.0/30\"\n"
                       "[[honeypot]]\nname = \"a\"\nip = \"10.0.0.2\"\n",
                       "u.toml");
  ASSERT_FALSE(r.ok());
  const std::string m = r.status().message();
  EXPECT_NE(m.find("u.toml:1: uplink.interface: missing"), std::string::npos) << m;
  EXPECT_NE(m.find("u.toml:2: uplink.management_ports[1]"), std::string::npos) << m;
  EXPECT_NE(m.find("uplink.management_ports[2]: is listed twice"), std::string::npos) << m;
  EXPECT_NE(m.find("u.toml:3: uplink.management_from[0]"), std::string::npos) << m;
  EXPECT_NE(m.find("u.toml:4: uplink.transit"), std::string::npos) << m;
  auto top = ParseConfig("management_ports = [22]\n[[honeypot]]\nname = \"a\"\nip = \"10.0.0.2\"\n", "t.toml");
  ASSERT_FALSE(top.ok());
  EXPECT_NE(top.status().message().find("t.toml:1: management_ports: is only used with [uplink]"), std::string::npos)
      << top.status().message();
}
}  // namespace
}  // namespace hn
