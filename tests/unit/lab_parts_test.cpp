// Tests for the parts of the lab that run without root or guests: the lab's
// wall config (built-in and checked user configs), guest MACs, status of an
// empty data dir, the lab services (on loopback only), the selftest's telnet
// option refusal and its pcap search.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "config/config.h"
#include "lab/lab.h"
#include "lab/selftest.h"
#include "lab/services.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hn-lab-parts-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------
// The lab's wall config

TEST(LabConfig, BuiltinIsThePapersNatWalkThrough) {
  Config c = BuiltinLabConfig("/data");
  EXPECT_EQ(c.mode, Mode::kNat);
  ASSERT_TRUE(c.inside_gateway_ip);
  EXPECT_EQ(c.inside_gateway_ip->addr.ToString(), "10.0.0.1");
  EXPECT_EQ(c.inside_gateway_ip->len, 24);
  EXPECT_EQ(c.outside_gateway->ToString(), "192.0.2.1");
  ASSERT_EQ(c.honeypots.size(), 1u);
  EXPECT_EQ(c.honeypots[0].name, "hp1");
  EXPECT_EQ(c.honeypots[0].ip.ToString(), "10.0.0.2");
  EXPECT_EQ(c.honeypots[0].public_ip->ToString(), "192.0.2.10");
  EXPECT_EQ(c.honeypots[0].image, "busybox");
  EXPECT_TRUE(c.dns_servers.empty());
  EXPECT_EQ(c.capture.dir, "/data/lab/capture");

  auto wc = LabWallConfig(c, "/data");
  ASSERT_TRUE(wc.ok()) << wc.status().message();
  EXPECT_EQ(wc->capture.stats_interval_ns, 1'000'000'000);
  EXPECT_EQ(wc->honeypots[0].mac, LabGuestMac(0));
  // What the lab writes as wall.toml is what `honeynet wall` reads back.
  auto back = ParseConfig(DumpConfig(wc.value()), "wall.toml");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << DumpConfig(wc.value());
  EXPECT_EQ(back->honeypots[0].mac, LabGuestMac(0));
  EXPECT_EQ(back->capture.dir, "/data/lab/capture");
  EXPECT_EQ(back->honeypots[0].public_ip, c.honeypots[0].public_ip);
}

TEST(LabConfig, GuestMacsAreFixedAndDistinct) {
  EXPECT_EQ(LabGuestMac(0).ToString(), "52:54:00:4e:00:02");
  EXPECT_EQ(LabGuestMac(1).ToString(), "52:54:00:4e:00:03");
  EXPECT_EQ(LabGuestMac(300).ToString(), "52:54:00:4e:01:2e");
  EXPECT_FALSE(LabGuestMac(5).IsMulticast());
}

// A user config: capture goes to the lab, a configured MAC is kept.
TEST(LabConfig, UserConfigIsAdjustedNotRewritten) {
  auto c = ParseConfig(R"(mode = "nat"
[inside]
gateway_ip = "10.9.0.1/16"
[outside]
gateway = "192.0.2.1"
[capture]
dir = "/elsewhere"
[[honeypot]]
name = "a"
ip = "10.9.0.5"
public_ip = "192.0.2.10"
mac = "52:54:00:aa:bb:cc"
mem = "128M"
[[honeypot]]
name = "b"
ip = "10.9.1.5"
public_ip = "198.51.100.7"
)",
                       "u.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto wc = LabWallConfig(c.value(), "/d");
  ASSERT_TRUE(wc.ok()) << wc.status().message();
  EXPECT_EQ(wc->capture.dir, "/d/lab/capture");
  EXPECT_EQ(wc->honeypots[0].mac->ToString(), "52:54:00:aa:bb:cc");
  EXPECT_EQ(wc->honeypots[1].mac, LabGuestMac(1));
  EXPECT_EQ(wc->honeypots[0].mem_mb, 128u);
  EXPECT_EQ(wc->honeypots[1].hostname, "b");
}

TEST(LabConfig, WhatTheLabCannotBuildIsRefused) {
  Config base = BuiltinLabConfig("/d");
  auto expect_error = [&](Config c, const std::string& fragment) {
    auto r = LabWallConfig(c, "/d");
    ASSERT_FALSE(r.ok()) << "accepted; wanted an error with: " << fragment;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  };
  Config c = base;
  c.honeypots[0].image = "gentoo";
  expect_error(c, "image \"gentoo\" is not one the lab can build");
  c = base;
  c.inside.interface = "hn-br";
  expect_error(c, "interface name hn-br");
  c = base;
  c.outside.interface = "hn-tap3";
  expect_error(c, "interface name hn-tap3");
  c = base;
  c.honeypots[0].public_ip = *Ip4::Parse(kAttackerIp);
  expect_error(c, "taken by the lab's internet");
  c = base;
  c.honeypots[0].public_ip = *Ip4::Parse("192.0.2.31");
  expect_error(c, "taken by the lab's internet");
  c = base;
  c.honeypots.clear();
  expect_error(c, "at least one [[honeypot]]");
  c = base;
  for (int i = 0; i < 64; i++) c.honeypots.push_back(c.honeypots[0]);
  expect_error(c, "at most 64 honeypots");
  c = base;
  c.mode = Mode::kBridge;
  c.honeypots[0].public_ip.reset();
  c.honeypots[0].ip = *Ip4::Parse("198.51.100.9");
  expect_error(c, "bridge mode");
  c.honeypots[0].ip = *Ip4::Parse("192.0.2.9");
  EXPECT_TRUE(LabWallConfig(c, "/d").ok());
}

TEST(LabStatus, NoLabInAnEmptyDataDir) {
  TempDir d;
  auto s = LabStatus(d.path());
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->value("up", true));
  EXPECT_NE(FormatLabStatus(s.value()).find("no lab is up"), std::string::npos);
}

TEST(LabStatus, CorruptStateSaysWhatToDo) {
  TempDir d;
  fs::create_directories(d.path() + "/lab");
  std::ofstream(d.path() + "/lab/state.json") << "{not json";
  auto s = LabStatus(d.path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("state.json: corrupt"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("down --force"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Lab services (loopback only)

TEST(LabServices, ParsePortList) {
  EXPECT_EQ(ParsePortList("21,80,6667"), (std::vector<uint16_t>{21, 80, 6667}));
  EXPECT_EQ(ParsePortList("0"), (std::vector<uint16_t>{0}));
  EXPECT_EQ(ParsePortList(""), (std::vector<uint16_t>{}));
  for (const char* bad : {"80,", ",80", "1,,2", "65536", "-1", "http", "80 ", "8a"}) {
    EXPECT_FALSE(ParsePortList(bad)) << bad;
  }
}

TEST(LabServices, NamesOfTheLabPorts) {
  EXPECT_EQ(ServiceName(80, true), "http");
  EXPECT_EQ(ServiceName(6667, true), "irc");
  EXPECT_EQ(ServiceName(53, false), "domain");
  EXPECT_EQ(ServiceName(9999, true), "tcp");
}

// Runs the services on 127.0.0.1 (ephemeral ports) in a thread.
class ServicesOnLoopback {
 public:
  explicit ServicesOnLoopback(ServicesOptions o) {
    o.bind_ip = "127.0.0.1";
    thread_ = std::thread([this, o] {
      result_ = RunServices(o, stop_, [this](const ServicesBound& b) {
        std::lock_guard<std::mutex> l(mu_);
        bound_ = b;
        ready_ = true;
      });
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    });
    for (int i = 0; i < 500; i++) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (ready_ || done_) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~ServicesOnLoopback() { Stop(); }
  Status Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  ServicesBound bound() {
    std::lock_guard<std::mutex> l(mu_);
    return bound_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  bool ready_ = false, done_ = false;
  ServicesBound bound_;
  Status result_;
};

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Reads until want is in the text or 3 s pass; what was read.
std::string ReadUntil(int fd, const std::string& want) {
  std::string got;
  for (int i = 0; i < 30 && got.find(want) == std::string::npos; i++) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  return got;
}

TEST(LabServices, TcpBannerEchoAndCloseOnEof) {
  ServicesOptions o;
  o.tcp_ports = {0, 0};
  ServicesOnLoopback svc(o);
  ServicesBound b = svc.bound();
  ASSERT_EQ(b.tcp_ports.size(), 2u);
  ASSERT_NE(b.tcp_ports[0], 0);
  for (uint16_t port : b.tcp_ports) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(port);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
    std::string banner = ReadUntil(fd, "\r\n");
    EXPECT_EQ(banner.rfind("hn-outside 127.0.0.1:" + std::to_string(port) + " ", 0), 0u) << banner;
    ASSERT_EQ(send(fd, "ping me\n", 8, 0), 8);
    EXPECT_EQ(ReadUntil(fd, "ping me\n"), "ping me\n");
    // Half-close: the service closes too (what `nc </dev/null` needs to end).
    shutdown(fd, SHUT_WR);
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 3000), 1);
    char c;
    EXPECT_EQ(recv(fd, &c, 1, 0), 0);
    close(fd);
  }
  EXPECT_TRUE(svc.Stop().ok());
}

TEST(LabServices, UdpEcho) {
  ServicesOptions o;
  o.udp_ports = {0};
  ServicesOnLoopback svc(o);
  ASSERT_EQ(svc.bound().udp_ports.size(), 1u);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(svc.bound().udp_ports[0]);
  ASSERT_EQ(sendto(fd, "dgram", 5, 0, reinterpret_cast<sockaddr*>(&a), sizeof a), 5);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1);
  char buf[16];
  ASSERT_EQ(recv(fd, buf, sizeof buf, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "dgram");
  close(fd);
}

TEST(LabServices, PortInUseNamesThePort) {
  int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(0);
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  socklen_t len = sizeof a;
  getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t port = ntohs(a.sin_port);
  ServicesOptions o;
  o.bind_ip = "127.0.0.1";
  o.tcp_ports = {port};
  std::atomic<bool> stop{false};
  bool ready = false;
  Status s = RunServices(o, stop, [&](const ServicesBound&) { ready = true; });
  close(busy);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(ready);
  EXPECT_NE(s.message().find("cannot listen on TCP 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << s.message();
}

// ---------------------------------------------------------------------------
// Selftest: telnet option refusal

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(char(c));
  return s;
}

TEST(SelftestTelnet, RefusesEveryOptionAndKeepsTheData) {
  TelnetParser p;
  std::string data, replies;
  // IAC DO ECHO, IAC WILL SGA, text, IAC IAC (a data 255), IAC DONT x (no reply).
  std::string in = Bytes({255, 253, 1, 255, 251, 3}) + "hp1 login: " + Bytes({255, 255, 255, 254, 31});
  p.Feed(reinterpret_cast<const unsigned char*>(in.data()), in.size(), &data, &replies);
  EXPECT_EQ(replies, Bytes({255, 252, 1, 255, 254, 3}));
  EXPECT_EQ(data, "hp1 login: " + Bytes({255}));
}

TEST(SelftestTelnet, CommandsSplitAcrossReadsAndSubnegotiation) {
  TelnetParser p;
  std::string data, replies;
  std::string in = "ab" + Bytes({255, 253, 24, 255, 250, 24, 1, 255, 240}) + "cd";
  for (char c : in) {  // one byte per read
    p.Feed(reinterpret_cast<const unsigned char*>(&c), 1, &data, &replies);
  }
  EXPECT_EQ(data, "abcd");
  EXPECT_EQ(replies, Bytes({255, 252, 24}));
}

// ---------------------------------------------------------------------------
// Selftest: ping payloads in pcap files

// An Ethernet + IPv4 + ICMP echo frame with 56 bytes of payload: 4 bytes of
// timestamp (as busybox ping writes), then the pattern.
std::vector<uint8_t> EchoFrame(const char* src, const char* dst, bool request, uint8_t pattern, bool vlan = false) {
  std::vector<uint8_t> f(14 + (vlan ? 4 : 0) + 20 + 8 + 56, 0);
  size_t off = 12;
  if (vlan) {
    f[off] = 0x81;
    f[off + 1] = 0x00;
    f[off + 3] = 5;
    off += 4;
  }
  f[off] = 0x08;
  f[off + 1] = 0x00;
  uint8_t* ip = f.data() + off + 2;
  ip[0] = 0x45;
  ip[3] = 20 + 8 + 56;
  ip[8] = 64;
  ip[9] = 1;
  inet_pton(AF_INET, src, ip + 12);
  inet_pton(AF_INET, dst, ip + 16);
  uint8_t* icmp = ip + 20;
  icmp[0] = request ? 8 : 0;
  std::memset(icmp + 8, pattern, 56);
  std::memset(icmp + 8, 0x42, 4);
  return f;
}

void WritePcap(const std::string& path, const std::vector<std::pair<int64_t, std::vector<uint8_t>>>& frames) {
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 262144, PCAP_TSTAMP_PRECISION_NANO);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(d, nullptr);
  for (const auto& [ts, f] : frames) {
    pcap_pkthdr h{};
    h.ts.tv_sec = ts / 1'000'000'000;
    h.ts.tv_usec = ts % 1'000'000'000;  // nanoseconds in a nanosecond file
    h.caplen = h.len = uint32_t(f.size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

TEST(SelftestCapture, CountsOnlyMatchingEchoesSinceTheStart) {
  TempDir d;
  const int64_t t = 1'800'000'000LL * 1'000'000'000;
  const std::string in = d.path() + "/inside-1.pcap";
  std::vector<uint8_t> cut = EchoFrame("10.0.0.2", "192.0.2.20", true, 0xab);
  cut.resize(14 + 20 + 8 + 20);  // captured short: only 20 payload bytes
  WritePcap(in, {
                    {t + 1, EchoFrame("10.0.0.2", "192.0.2.20", true, 0xab)},           // yes
                    {t + 2, EchoFrame("10.0.0.2", "192.0.2.20", true, 0xab, true)},     // yes (VLAN)
                    {t + 3, EchoFrame("10.0.0.2", "192.0.2.20", true, 0xac)},           // other pattern
                    {t + 4, EchoFrame("10.0.0.3", "192.0.2.20", true, 0xab)},           // other source
                    {t + 5, EchoFrame("10.0.0.2", "192.0.2.21", true, 0xab)},           // other target
                    {t + 6, EchoFrame("192.0.2.20", "10.0.0.2", false, 0xab)},          // a reply
                    {t - 5'000'000'000, EchoFrame("10.0.0.2", "192.0.2.20", true, 0xab)},  // before
                    {t + 7, cut},                                                      // too short a run
                    {t + 8, EchoFrame("10.0.0.2", "192.0.2.20", true, 0xab)},           // yes
                });
  EXPECT_EQ(CountPingPayloads({in}, "10.0.0.2", "192.0.2.20", true, 0xab, 40, t), 3);
  EXPECT_EQ(CountPingPayloads({in}, "192.0.2.20", "10.0.0.2", false, 0xab, 40, t), 1);
  EXPECT_EQ(CountPingPayloads({in}, "", "", true, 0xab, 40, 0), 6);
  EXPECT_EQ(CountPingPayloads({in}, "10.0.0.2", "192.0.2.20", true, 0xab, 53, t), 0);  // 52 pattern bytes

  // A file still being written ends mid-record: the whole records count.
  const std::string partial = d.path() + "/inside-2.pcap";
  fs::copy_file(in, partial);
  fs::resize_file(partial, fs::file_size(partial) - 30);
  EXPECT_EQ(CountPingPayloads({partial}, "10.0.0.2", "192.0.2.20", true, 0xab, 40, t), 2);
  EXPECT_EQ(CountPingPayloads({in, partial, d.path() + "/missing.pcap"}, "10.0.0.2", "192.0.2.20", true, 0xab, 40, t),
            5);
}

TEST(SelftestFormat, TableSaysPassAndFail) {
  std::string ok = FormatSelftest({{"a check", true, "fine"}, {"another", true, "also"}});
  EXPECT_NE(ok.find("a check | pass   | fine"), std::string::npos) << ok;
  EXPECT_NE(ok.find("all 2 checks passed"), std::string::npos) << ok;
  std::string bad = FormatSelftest({{"a", true, ""}, {"b", false, "why"}});
  EXPECT_NE(bad.find("FAIL"), std::string::npos) << bad;
  EXPECT_NE(bad.find("1 of 2 checks FAILED"), std::string::npos) << bad;
}

}  // namespace
}  // namespace hn

namespace hn {
namespace {

TEST(LabStatus, ShowsOutboundBandwidthOfLimitedHoneypots) {
  nlohmann::json s = {{"up", true}, {"data_dir", "/d"}, {"mode", "nat"}, {"config", "c"}, {"ready", true}};
  s["honeypots"] = nlohmann::json::array();
  s["honeypots"].push_back({{"name", "hp1"}, {"budgets", nullptr}, {"running", true}, {"address", "10.0.0.2"}, {"public_address", nullptr},
                            {"bandwidth", {{"rate_bps", 8000000}, {"sent_bytes", 123456}, {"queued_frames", 7},
                                           {"queue_frames", 2}, {"dropped_frames", 3}, {"max_queue_delay_ms", 48.5}}}});
  s["honeypots"].push_back({{"name", "hp2"}, {"budgets", nullptr}, {"running", true}, {"address", "10.0.0.3"}, {"public_address", nullptr},
                            {"bandwidth", nullptr}});
  const std::string text = FormatLabStatus(s);
  EXPECT_NE(text.find("hp1        bandwidth out 8Mbit: sent 123456 bytes, queued 7 frames (now 2), dropped 3 frames, "
                      "longest wait 48.5 ms"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("hp2        bandwidth"), std::string::npos) << text;
}

}  // namespace
}  // namespace hn
