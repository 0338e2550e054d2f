// EventWriter: every kind of event, checked field by field in events.json
// (parsed back with nlohmann, key order included) and line by line in
// honeywall.log; budgets.json round trip through LoadBudgets; queue overflow;
// tty events from DIR/tty/*.ttylog files written while the writer runs.
#include "capture/event_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "analysis/ttylog.h"
#include "common/clock.h"

namespace hn {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

// 2026-11-26T16:42:29.123456789Z; the tests run with TZ=UTC+2 (POSIX "XST-2").
int64_t EventTime() {
  tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 10;
  t.tm_mday = 26;
  t.tm_hour = 16;
  t.tm_min = 42;
  t.tm_sec = 29;
  return int64_t(timegm(&t)) * kNsPerSec + 123'456'789;
}
constexpr char kStamp[] = "2026-11-26T18:42:29.123456+0200";

std::string ShortHostname() {
  char h[256] = {};
  gethostname(h, sizeof h - 1);
  std::string s = h;
  if (size_t dot = s.find('.'); dot != std::string::npos && dot > 0) s.resize(dot);
  return s;
}

FlowKey Key4(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto) {
  FlowKey k;
  Ip4::Parse(src)->ToNet(k.src.data());
  Ip4::Parse(dst)->ToNet(k.dst.data());
  k.sport = sport;
  k.dport = dport;
  k.proto = proto;
  return k;
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> Keys(const ojson& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
  return k;
}

class EventWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* tz = getenv("TZ")) old_tz_ = tz;
    had_tz_ = getenv("TZ") != nullptr;
    setenv("TZ", "XST-2", 1);
    tzset();
    char tmpl[] = "/tmp/hn-events-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    cfg_.capture.dir = root_ + "/capture";
    cfg_.inside.interface = "hw-in";
    cfg_.outside.interface = "hw-out";
    HoneypotConfig hp1, hp2;
    hp1.name = "hp1";
    hp1.ip = *Ip4::Parse("10.0.0.5");
    hp2.name = "hp2";
    hp2.ip = *Ip4::Parse("10.0.0.6");
    hp2.limits.max = {2, 3, 4, 5, 6};
    cfg_.honeypots = {hp1, hp2};
    host_ = ShortHostname();
  }
  void TearDown() override {
    if (had_tz_) {
      setenv("TZ", old_tz_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
    fs::remove_all(root_);
  }

  std::vector<Budget> FullBudgets() const {
    std::vector<Budget> b;
    for (const auto& hp : cfg_.honeypots) b.emplace_back(hp.limits);
    return b;
  }

  // Writes the events (through Start/Stop) and returns the JSON lines and log lines.
  void WriteAll(const std::vector<Event>& events) {
    auto w = EventWriter::Open(cfg_, FullBudgets());
    ASSERT_TRUE(w.ok()) << w.status().message();
    (*w)->Start();
    for (const Event& e : events) ASSERT_TRUE((*w)->Post(e));
    (*w)->Stop();
    EXPECT_EQ((*w)->written(), events.size());
    EXPECT_EQ((*w)->dropped(), 0u);
    json_.clear();
    for (const auto& l : Lines(cfg_.capture.dir + "/events.json")) json_.push_back(ojson::parse(l));
    log_ = Lines(cfg_.capture.dir + "/honeywall.log");
  }

  std::string LogPrefix() const { return "Nov 26 18:42:29 " + host_ + " honeywall: "; }

  Event Base(EventKind kind) const {
    Event e;
    e.kind = kind;
    e.ts_ns = EventTime();
    e.flow_id = 1234567890123;
    std::strcpy(e.community_id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    e.ip_len = 60;
    e.ttl = 64;
    return e;
  }

  std::string root_;
  std::string old_tz_;
  bool had_tz_ = false;
  Config cfg_;
  std::string host_;
  std::vector<ojson> json_;
  std::vector<std::string> log_;
};

TEST_F(EventWriterTest, InboundTcpFlowNew) {
  Event e = Base(EventKind::kFlowNew);
  e.key = Key4("203.0.113.9", 40000, "10.0.0.5", 23, 6);
  e.in_port = 1;
  e.honeypot = 0;
  e.dir = FlowDir::kInbound;
  e.reason = Reason::kInbound;
  e.tcp_flags = kSyn;
  WriteAll({e});
  ASSERT_EQ(json_.size(), 1u);
  const ojson& j = json_[0];
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"timestamp", "flow_id", "in_iface", "event_type", "src_ip", "src_port",
                                               "dest_ip", "dest_port", "proto", "community_id", "honeypot",
                                               "honeywall"}));
  EXPECT_EQ(j["timestamp"], kStamp);
  EXPECT_EQ(j["flow_id"], 1234567890123);
  EXPECT_EQ(j["in_iface"], "hw-out");
  EXPECT_EQ(j["event_type"], "honeywall");
  EXPECT_EQ(j["src_ip"], "203.0.113.9");
  EXPECT_EQ(j["src_port"], 40000);
  EXPECT_EQ(j["dest_ip"], "10.0.0.5");
  EXPECT_EQ(j["dest_port"], 23);
  EXPECT_EQ(j["proto"], "TCP");
  EXPECT_EQ(j["community_id"], "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
  EXPECT_EQ(j["honeypot"], "hp1");
  EXPECT_EQ(j["honeywall"], ojson::parse(R"({"action":"allowed","direction":"inbound","reason":"inbound"})"));
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0], LogPrefix() +
                         "INBOUND TCP: IN=hw-out OUT=hw-in SRC=203.0.113.9 DST=10.0.0.5 LEN=60 TTL=64 PROTO=TCP "
                         "SPT=40000 DPT=23 SYN HONEYPOT=hp1");
}

TEST_F(EventWriterTest, OutboundCountedAndExemptFlowNew) {
  Event tcp = Base(EventKind::kFlowNew);
  tcp.key = Key4("10.0.0.5", 41000, "198.51.100.7", 80, 6);
  tcp.in_port = 0;
  tcp.honeypot = 0;
  tcp.dir = FlowDir::kOutbound;
  tcp.reason = Reason::kOutbound;
  tcp.counted = true;
  tcp.cls = ProtoClass::kTcp;
  tcp.budget_used = 3;
  tcp.budget_left = 6;
  tcp.budget_limit = 9;
  tcp.tcp_flags = kSyn | kEce | kCwr;
  Event dns = Base(EventKind::kFlowNew);
  dns.key = Key4("10.0.0.5", 5353, "192.0.2.53", 53, 17);
  dns.honeypot = 0;
  dns.dir = FlowDir::kOutbound;
  dns.reason = Reason::kExemptDns;
  dns.cls = ProtoClass::kUdp;
  dns.ip_len = 71;
  WriteAll({tcp, dns});
  ASSERT_EQ(json_.size(), 2u);
  EXPECT_EQ(json_[0]["in_iface"], "hw-in");
  EXPECT_EQ(json_[0]["honeywall"],
            ojson::parse(R"({"action":"allowed","direction":"outbound","reason":"outbound",
                             "budget":{"class":"TCP","used":3,"left":6,"limit":9}})"));
  EXPECT_EQ(json_[1]["proto"], "UDP");
  EXPECT_EQ(json_[1]["honeywall"],
            ojson::parse(R"({"action":"allowed","direction":"outbound","reason":"exempt_dns"})"));
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_EQ(log_[0], LogPrefix() +
                         "OUTBOUND TCP: IN=hw-in OUT=hw-out SRC=10.0.0.5 DST=198.51.100.7 LEN=60 TTL=64 PROTO=TCP "
                         "SPT=41000 DPT=80 CWR ECE SYN HONEYPOT=hp1 COUNT=3/9");
  EXPECT_EQ(log_[1], LogPrefix() +
                         "OUTBOUND UDP: IN=hw-in OUT=hw-out SRC=10.0.0.5 DST=192.0.2.53 LEN=71 TTL=64 PROTO=UDP "
                         "SPT=5353 DPT=53 HONEYPOT=hp1 EXEMPT=exempt_dns");
}

TEST_F(EventWriterTest, IcmpAndOtherProtocolsHaveNoPorts) {
  Event ping = Base(EventKind::kFlowNew);
  ping.key = Key4("203.0.113.9", 77, "10.0.0.6", 77, 1);  // echo id in the key's ports
  ping.in_port = 1;
  ping.honeypot = 1;
  ping.dir = FlowDir::kInbound;
  ping.reason = Reason::kInbound;
  ping.icmp_type = 8;
  ping.icmp_code = 0;
  ping.ip_len = 84;
  Event gre = Base(EventKind::kFlowNew);
  gre.key = Key4("203.0.113.9", 0, "10.0.0.6", 0, 47);
  gre.in_port = 1;
  gre.honeypot = 1;
  gre.dir = FlowDir::kInbound;
  gre.reason = Reason::kInbound;
  WriteAll({ping, gre});
  ASSERT_EQ(json_.size(), 2u);
  EXPECT_EQ(Keys(json_[0]), (std::vector<std::string>{"timestamp", "flow_id", "in_iface", "event_type", "src_ip",
                                                      "dest_ip", "proto", "icmp_type", "icmp_code", "community_id",
                                                      "honeypot", "honeywall"}));
  EXPECT_EQ(json_[0]["proto"], "ICMP");
  EXPECT_EQ(json_[0]["icmp_type"], 8);
  EXPECT_EQ(json_[0]["icmp_code"], 0);
  EXPECT_EQ(json_[0]["honeypot"], "hp2");
  EXPECT_FALSE(json_[1].contains("src_port"));
  EXPECT_FALSE(json_[1].contains("icmp_type"));
  EXPECT_EQ(json_[1]["proto"], "47");
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_EQ(log_[0], LogPrefix() +
                         "INBOUND ICMP: IN=hw-out OUT=hw-in SRC=203.0.113.9 DST=10.0.0.6 LEN=84 TTL=64 PROTO=ICMP "
                         "TYPE=8 CODE=0 HONEYPOT=hp2");
  EXPECT_EQ(log_[1], LogPrefix() +
                         "INBOUND OTHER: IN=hw-out OUT=hw-in SRC=203.0.113.9 DST=10.0.0.6 LEN=60 TTL=64 PROTO=47 "
                         "HONEYPOT=hp2");
}

TEST_F(EventWriterTest, FlowDrops) {
  Event budget = Base(EventKind::kFlowDrop);
  budget.key = Key4("10.0.0.5", 41001, "198.51.100.7", 80, 6);
  budget.honeypot = 0;
  budget.dir = FlowDir::kOutbound;
  budget.reason = Reason::kBudgetExhausted;
  budget.cls = ProtoClass::kTcp;
  budget.budget_used = 9;
  budget.budget_left = 0;
  budget.budget_limit = 9;
  budget.tcp_flags = kSyn;
  Event roach = Base(EventKind::kFlowDrop);
  roach.key = Key4("10.0.0.6", 4444, "198.51.100.8", 53, 17);
  roach.honeypot = 1;
  roach.dir = FlowDir::kOutbound;
  roach.reason = Reason::kRoachMotel;
  roach.cls = ProtoClass::kUdp;
  roach.budget_limit = 3;
  roach.budget_left = 3;
  Event spoof = Base(EventKind::kFlowDrop);
  spoof.key = Key4("10.9.9.9", 1000, "198.51.100.7", 25, 6);
  spoof.honeypot = 0;
  spoof.dir = FlowDir::kOutbound;
  spoof.reason = Reason::kSpoofedSource;
  spoof.tcp_flags = kSyn;
  const uint8_t src[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, dst[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::memcpy(spoof.src_mac, src, 6);
  std::memcpy(spoof.dst_mac, dst, 6);
  WriteAll({budget, roach, spoof});
  ASSERT_EQ(json_.size(), 3u);
  EXPECT_EQ(json_[0]["event_type"], "honeywall");
  EXPECT_EQ(json_[0]["honeywall"],
            ojson::parse(R"({"action":"dropped","direction":"outbound","reason":"budget_exhausted",
                             "budget":{"class":"TCP","used":9,"left":0,"limit":9}})"));
  EXPECT_EQ(json_[1]["honeywall"],
            ojson::parse(R"({"action":"dropped","direction":"outbound","reason":"roach_motel",
                             "budget":{"class":"UDP","used":0,"left":3,"limit":3}})"));
  EXPECT_EQ(json_[2]["honeywall"],
            ojson::parse(R"({"action":"dropped","direction":"outbound","reason":"spoofed_source"})"));
  ASSERT_EQ(log_.size(), 3u);
  EXPECT_EQ(log_[0], LogPrefix() +
                         "Drop TCP > 9 attempts: IN=hw-in OUT=hw-out SRC=10.0.0.5 DST=198.51.100.7 LEN=60 TTL=64 "
                         "PROTO=TCP SPT=41001 DPT=80 SYN HONEYPOT=hp1");
  EXPECT_EQ(log_[1], LogPrefix() +
                         "Drop UDP (roach_motel): IN=hw-in OUT=hw-out SRC=10.0.0.6 DST=198.51.100.8 LEN=60 TTL=64 "
                         "PROTO=UDP SPT=4444 DPT=53 HONEYPOT=hp2");
  EXPECT_EQ(log_[2], LogPrefix() +
                         "Drop TCP (spoofed_source): IN=hw-in OUT=hw-out "
                         "MAC=02:00:00:00:00:01:52:54:00:12:34:56:08:00 SRC=10.9.9.9 DST=198.51.100.7 LEN=60 "
                         "TTL=64 PROTO=TCP SPT=1000 DPT=25 SYN HONEYPOT=hp1");
}

TEST_F(EventWriterTest, FrameDrops) {
  Event lldp = Base(EventKind::kFrameDrop);
  lldp.flow_id = 0;
  lldp.community_id[0] = '\0';
  lldp.reason = Reason::kNonIp;
  lldp.ethertype = 0x88b5;
  const uint8_t src[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}, dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::memcpy(lldp.src_mac, src, 6);
  std::memcpy(lldp.dst_mac, dst, 6);
  Event bad = lldp;
  bad.reason = Reason::kMalformed;
  bad.ethertype = 0x0800;
  bad.key = Key4("10.0.0.5", 1, "198.51.100.7", 2, 6);
  bad.honeypot = 0;
  WriteAll({lldp, bad});
  ASSERT_EQ(json_.size(), 2u);
  EXPECT_EQ(Keys(json_[0]), (std::vector<std::string>{"timestamp", "in_iface", "event_type", "honeywall", "ether"}));
  EXPECT_EQ(json_[0]["in_iface"], "hw-in");
  EXPECT_EQ(json_[0]["honeywall"], ojson::parse(R"({"action":"dropped","reason":"non_ip"})"));
  EXPECT_EQ(json_[0]["ether"],
            ojson::parse(R"({"src_mac":"52:54:00:ab:cd:ef","dest_mac":"ff:ff:ff:ff:ff:ff","ether_type":34997})"));
  EXPECT_EQ(json_[1]["src_ip"], "10.0.0.5");
  EXPECT_EQ(json_[1]["dest_ip"], "198.51.100.7");
  EXPECT_EQ(json_[1]["proto"], "TCP");
  EXPECT_EQ(json_[1]["honeypot"], "hp1");
  EXPECT_EQ(json_[1]["honeywall"]["reason"], "malformed");
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_EQ(log_[0], LogPrefix() + "Drop (non_ip): IN=hw-in MAC=ff:ff:ff:ff:ff:ff:52:54:00:ab:cd:ef:88:b5");
  EXPECT_EQ(log_[1], LogPrefix() +
                         "Drop TCP (malformed): IN=hw-in MAC=ff:ff:ff:ff:ff:ff:52:54:00:ab:cd:ef:08:00 "
                         "SRC=10.0.0.5 DST=198.51.100.7 LEN=60 TTL=64 PROTO=TCP SPT=1 DPT=2 HONEYPOT=hp1");
}

TEST_F(EventWriterTest, FlowEndsAreFlowEventsWithoutLogLines) {
  Event tcp = Base(EventKind::kFlowEnd);
  tcp.key = Key4("203.0.113.9", 40000, "10.0.0.5", 23, 6);
  tcp.in_port = 1;
  tcp.honeypot = 0;
  tcp.start_ns = tcp.ts_ns - 12 * kNsPerSec - 500'000'000;
  tcp.pkts_toserver = 5;
  tcp.pkts_toclient = 4;
  tcp.bytes_toserver = 300;
  tcp.bytes_toclient = 2000;
  tcp.end_reason = 1;
  tcp.allowed = true;
  tcp.tcp_state = uint8_t(TcpState::kClosed);
  Event udp = Base(EventKind::kFlowEnd);
  udp.key = Key4("10.0.0.5", 5000, "198.51.100.9", 69, 17);
  udp.honeypot = 0;
  udp.start_ns = udp.ts_ns - 120 * kNsPerSec;
  udp.pkts_toserver = 1;
  udp.bytes_toserver = 50;
  udp.end_reason = 0;
  udp.allowed = false;
  Event icmp = Base(EventKind::kFlowEnd);
  icmp.key = Key4("203.0.113.9", 9, "10.0.0.6", 9, 1);
  icmp.in_port = 1;
  icmp.icmp_type = 8;
  icmp.start_ns = icmp.ts_ns;
  icmp.pkts_toserver = icmp.pkts_toclient = 1;
  icmp.end_reason = 2;
  icmp.allowed = true;
  Event est = tcp;
  est.tcp_state = uint8_t(TcpState::kEstablished);
  est.end_reason = 2;
  WriteAll({tcp, udp, icmp, est});
  ASSERT_EQ(json_.size(), 4u);
  EXPECT_TRUE(log_.empty()) << "flow ends go to events.json only";
  const ojson& j = json_[0];
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"timestamp", "flow_id", "in_iface", "event_type", "src_ip", "src_port",
                                               "dest_ip", "dest_port", "proto", "community_id", "honeypot", "flow"}));
  EXPECT_EQ(j["event_type"], "flow");
  EXPECT_EQ(Keys(j["flow"]), (std::vector<std::string>{"pkts_toserver", "pkts_toclient", "bytes_toserver",
                                                       "bytes_toclient", "start", "end", "age", "state", "reason",
                                                       "action"}));
  EXPECT_EQ(j["flow"], ojson::parse(R"({"pkts_toserver":5,"pkts_toclient":4,"bytes_toserver":300,
      "bytes_toclient":2000,"start":"2026-11-26T18:42:16.623456+0200","end":"2026-11-26T18:42:29.123456+0200",
      "age":12,"state":"closed","reason":"closed","action":"allowed"})"));
  EXPECT_EQ(json_[1]["flow"]["state"], "new");
  EXPECT_EQ(json_[1]["flow"]["reason"], "timeout");
  EXPECT_EQ(json_[1]["flow"]["action"], "dropped");
  EXPECT_EQ(json_[1]["flow"]["age"], 120);
  EXPECT_EQ(json_[2]["icmp_type"], 8);
  EXPECT_EQ(json_[2]["icmp_code"], 0);
  EXPECT_FALSE(json_[2].contains("src_port"));
  EXPECT_FALSE(json_[2].contains("honeypot"));
  EXPECT_EQ(json_[2]["flow"]["state"], "established");
  EXPECT_EQ(json_[2]["flow"]["reason"], "shutdown");
  EXPECT_EQ(json_[2]["flow"]["age"], 0);
  EXPECT_EQ(json_[3]["flow"]["state"], "established");
}

TEST_F(EventWriterTest, StatsEvents) {
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_TRUE(w.ok());
  const int64_t before = WallNowNs();
  (*w)->PostStats(R"({"capture":{"frames":10,"kernel_drops":0},"events_dropped":0})");
  (*w)->Stop();
  auto lines = Lines(cfg_.capture.dir + "/events.json");
  ASSERT_EQ(lines.size(), 1u);
  ojson j = ojson::parse(lines[0]);
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"timestamp", "event_type", "stats"}));
  EXPECT_EQ(j["event_type"], "stats");
  EXPECT_EQ(j["stats"], ojson::parse(R"({"capture":{"frames":10,"kernel_drops":0},"events_dropped":0})"));
  // Local time, Suricata format, now.
  tm t{};
  const std::string ts = j["timestamp"];
  ASSERT_NE(strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &t), nullptr) << ts;
  EXPECT_TRUE(ts.ends_with("+0200")) << ts;
  EXPECT_NEAR(double(timegm(&t) - 2 * 3600), double(before / kNsPerSec), 5.0);
}

TEST_F(EventWriterTest, WritesWhileRunningAndAppendsAcrossRestarts) {
  Event e = Base(EventKind::kFlowEnd);
  e.key = Key4("203.0.113.9", 1, "10.0.0.5", 2, 17);
  {
    auto w = EventWriter::Open(cfg_, FullBudgets());
    ASSERT_TRUE(w.ok());
    (*w)->Start();
    for (int i = 0; i < 3; i++) ASSERT_TRUE((*w)->Post(e));
    // The thread writes and flushes without a Stop (poll with a deadline; it
    // counts a line just after writing it, so wait for both).
    const int64_t deadline = MonoNowNs() + 5 * kNsPerSec;
    while ((Lines(cfg_.capture.dir + "/events.json").size() < 3 || (*w)->written() < 3) && MonoNowNs() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(Lines(cfg_.capture.dir + "/events.json").size(), 3u);
    EXPECT_EQ((*w)->written(), 3u);
  }  // destructor stops
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Post(e));
  (*w)->Stop();
  (*w)->Stop();  // idempotent
  EXPECT_EQ(Lines(cfg_.capture.dir + "/events.json").size(), 4u) << "a restart appends";
}

TEST_F(EventWriterTest, FullQueueCountsDrops) {
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_TRUE(w.ok());
  Event e = Base(EventKind::kFlowDrop);
  e.key = Key4("203.0.113.9", 1, "10.0.0.5", 2, 17);
  // Not started: nothing drains the queue.
  size_t accepted = 0;
  for (size_t i = 0; i < EventWriter::kQueueCapacity + 7; i++) accepted += (*w)->Post(e) ? 1 : 0;
  EXPECT_EQ(accepted, EventWriter::kQueueCapacity);
  EXPECT_EQ((*w)->dropped(), 7u);
  (*w)->Stop();  // writes what was queued even without Start
  EXPECT_EQ((*w)->written(), EventWriter::kQueueCapacity);
  EXPECT_EQ(Lines(cfg_.capture.dir + "/events.json").size(), EventWriter::kQueueCapacity);
}

TEST_F(EventWriterTest, RoutineEventsLeaveAQuarterOfTheQueueToVerdicts) {
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_TRUE(w.ok());
  Event routine = Base(EventKind::kFlowEnd);
  routine.key = Key4("203.0.113.9", 1, "10.0.0.5", 2, 17);
  size_t accepted = 0;
  for (size_t i = 0; i < EventWriter::kQueueCapacity; i++) accepted += (*w)->Post(routine) ? 1 : 0;
  EXPECT_EQ(accepted, EventWriter::kQueueCapacity / 4 * 3);
  EXPECT_EQ((*w)->shed(), EventWriter::kQueueCapacity / 4);
  EXPECT_EQ((*w)->dropped(), 0u);
  Event verdict = Base(EventKind::kFlowDrop);
  verdict.key = routine.key;
  accepted = 0;
  for (size_t i = 0; i < EventWriter::kQueueCapacity / 4; i++) accepted += (*w)->Post(verdict) ? 1 : 0;
  EXPECT_EQ(accepted, EventWriter::kQueueCapacity / 4);
  (*w)->Stop();
}

TEST_F(EventWriterTest, BudgetsSurviveARestart) {
  const int64_t now = WallNowNs();
  std::vector<Budget> budgets;
  ASSERT_TRUE(EventWriter::LoadBudgets(cfg_, &budgets, now).ok()) << "no file yet: full budgets";
  ASSERT_EQ(budgets.size(), 2u);
  EXPECT_EQ(budgets[0].Used(ProtoClass::kTcp, now), 0u);
  EXPECT_EQ(budgets[1].Limit(ProtoClass::kTcp), 2u) << "per-honeypot limits";

  auto counted = [&](uint16_t hp, ProtoClass cls, int64_t ts) {
    Event e = Base(EventKind::kFlowNew);
    e.ts_ns = ts;
    e.key = Key4(hp == 0 ? "10.0.0.5" : "10.0.0.6", 40000, "198.51.100.7", 80, cls == ProtoClass::kTcp ? 6 : 17);
    e.honeypot = hp;
    e.dir = FlowDir::kOutbound;
    e.reason = Reason::kOutbound;
    e.counted = true;
    e.cls = cls;
    return e;
  };
  {
    auto w = EventWriter::Open(cfg_, budgets);
    ASSERT_TRUE(w.ok());
    (*w)->Start();
    for (int i = 0; i < 3; i++) ASSERT_TRUE((*w)->Post(counted(0, ProtoClass::kTcp, now + i)));
    ASSERT_TRUE((*w)->Post(counted(1, ProtoClass::kUdp, now)));
    (*w)->Stop();
  }
  const std::string path = cfg_.capture.dir + "/budgets.json";
  ASSERT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  nlohmann::json saved = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(saved["version"], 1);
  EXPECT_EQ(saved["window"], "sliding");
  EXPECT_EQ(saved["honeypots"]["hp1"]["tcp"]["starts"], nlohmann::json({now, now + 1, now + 2}));
  EXPECT_EQ(saved["honeypots"]["hp2"]["udp"]["starts"].size(), 1u);

  // "Restart": load again; the spent budget stays spent.
  ASSERT_TRUE(EventWriter::LoadBudgets(cfg_, &budgets, now + 10).ok());
  EXPECT_EQ(budgets[0].Used(ProtoClass::kTcp, now + 10), 3u);
  EXPECT_EQ(budgets[0].Left(ProtoClass::kTcp, now + 10), 6u);
  EXPECT_EQ(budgets[0].Used(ProtoClass::kUdp, now + 10), 0u);
  EXPECT_EQ(budgets[1].Used(ProtoClass::kUdp, now + 10), 1u);
  EXPECT_EQ(budgets[1].Left(ProtoClass::kUdp, now + 10), 2u);

  // The second run's writer starts from the loaded budgets and adds to them.
  {
    auto w = EventWriter::Open(cfg_, budgets);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Post(counted(0, ProtoClass::kTcp, now + 20)));
    (*w)->Stop();
  }
  ASSERT_TRUE(EventWriter::LoadBudgets(cfg_, &budgets, now + 30).ok());
  EXPECT_EQ(budgets[0].Used(ProtoClass::kTcp, now + 30), 4u);
}

TEST_F(EventWriterTest, LoadBudgetsFileProblems) {
  const std::string path = cfg_.capture.dir + "/budgets.json";
  fs::create_directories(cfg_.capture.dir);
  const int64_t now = WallNowNs();
  std::vector<Budget> budgets;

  std::ofstream(path) << "{ this is not json";
  Status st = EventWriter::LoadBudgets(cfg_, &budgets, now);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();

  std::ofstream(path) << R"({"version":1,"window":"sliding","honeypots":{"hp1":{"tcp":{"starts":"x"}}}})";
  st = EventWriter::LoadBudgets(cfg_, &budgets, now);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();

  std::ofstream(path) << R"({"version":7,"honeypots":{}})";
  EXPECT_FALSE(EventWriter::LoadBudgets(cfg_, &budgets, now).ok());

  // A honeypot the config no longer has is ignored; one the file lacks is full.
  std::ofstream(path) << R"({"version":1,"window":"sliding","honeypots":{
      "gone":{"tcp":{"starts":[1,2,3],"tokens_micro":0,"refill_ns":0}},
      "hp2":{"udp":{"starts":[)" << now - 1 << R"(],"tokens_micro":0,"refill_ns":0}}}})";
  st = EventWriter::LoadBudgets(cfg_, &budgets, now);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(budgets.size(), 2u);
  EXPECT_EQ(budgets[0].Used(ProtoClass::kTcp, now), 0u);
  EXPECT_EQ(budgets[1].Used(ProtoClass::kUdp, now), 1u);
  EXPECT_EQ(budgets[1].Used(ProtoClass::kTcp, now), 0u);
}

TEST_F(EventWriterTest, OpenFailsWithAClearMessage) {
  fs::create_directories(root_);
  std::ofstream(root_ + "/file") << "x";
  cfg_.capture.dir = root_ + "/file/capture";
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("capture.dir"), std::string::npos) << w.status().message();
}

// ---- tty logs --------------------------------------------------------------

class EventWriterTtyTest : public EventWriterTest {
 protected:
  std::string TtyPath(const std::string& honeypot) const { return cfg_.capture.dir + "/tty/" + honeypot + ".ttylog"; }
  void Append(const std::string& honeypot, const TtyLogBuilder& b) {
    fs::create_directories(cfg_.capture.dir + "/tty");
    Status st = b.AppendTo(TtyPath(honeypot));
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::vector<ojson> TtyEvents() const {
    std::vector<ojson> out;
    for (const auto& l : Lines(cfg_.capture.dir + "/events.json")) {
      ojson j = ojson::parse(l);
      if (j["event_type"] == "tty") out.push_back(std::move(j));
    }
    return out;
  }
  // Polls events.json until it holds n tty events (or 5 s passed).
  std::vector<ojson> WaitTty(size_t n) const {
    const int64_t deadline = MonoNowNs() + 5 * kNsPerSec;
    std::vector<ojson> ev = TtyEvents();
    while (ev.size() < n && MonoNowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ev = TtyEvents();
    }
    return ev;
  }
  static std::vector<std::string> Actions(const std::vector<ojson>& ev) {
    std::vector<std::string> a;
    for (const ojson& e : ev) a.push_back(e["honeypot"].get<std::string>() + " " + e["tty"]["session"].get<std::string>() +
                                         " " + e["tty"]["action"].get<std::string>());
    return a;
  }
  int64_t T() const { return EventTime() / 1000; }  // the records' time, in microseconds
};

TEST_F(EventWriterTtyTest, FollowsTtyLogsWrittenWhileItRuns) {
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_TRUE(w.ok()) << w.status().message();
  (*w)->Start();
  // The tty directory and the file appear after the start.
  TtyLogBuilder a;
  a.Open(3, 0, "pts/0", T())
      .Output(3, "login: ", T() + 1)
      .Input(3, "root\r", T() + 2)
      .Input(3, "secret\n", T() + 3)
      .Exec(3, {"uname", "-a"}, T() + 4)
      .Output(3, "Linux\r\n", T() + 5);
  Append("hp1", a);
  std::vector<ojson> ev = WaitTty(2);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(Keys(ev[0]), (std::vector<std::string>{"timestamp", "event_type", "honeypot", "tty"}));
  EXPECT_EQ(ev[0]["timestamp"], kStamp);
  EXPECT_EQ(ev[0]["honeypot"], "hp1");
  EXPECT_EQ(ev[0]["tty"], ojson::parse(R"({"id":3,"session":"hp1:3","name":"pts/0","action":"open"})"));
  EXPECT_EQ(ev[1]["timestamp"], "2026-11-26T18:42:29.123460+0200");
  EXPECT_EQ(ev[1]["tty"], ojson::parse(R"({"id":3,"session":"hp1:3","name":"pts/0","action":"exec",
                                           "command":"uname -a","argv":["uname","-a"]})"));

  // A nested pty opened and closed, and half of the next EXEC record.
  const std::string exec = EncodeTtyRecord(kTtyExec, 3, 0, T() + 20, std::string("wget\0http://x/\0", 15));
  TtyLogBuilder b;
  b.Open(4, 3, "pts/1", T() + 10).Output(4, "$ ", T() + 11).Close(4, T() + 12).Raw(exec.substr(0, 40));
  Append("hp1", b);
  ev = WaitTty(4);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2]["tty"], ojson::parse(R"({"id":4,"session":"hp1:4","name":"pts/1","action":"open","parent":3,
                                           "parent_session":"hp1:3"})"));
  EXPECT_EQ(ev[3]["tty"]["action"], "close");
  EXPECT_EQ(ev[3]["tty"]["bytes_out"], 2);
  EXPECT_EQ(ev[3]["tty"]["bytes_in"], 0);

  // The rest of the EXEC, the CLOSE, and a second honeypot's log.
  TtyLogBuilder c;
  c.Raw(exec.substr(40)).Close(3, T() + 30);
  Append("hp1", c);
  TtyLogBuilder d;
  d.Open(1, 0, "ttyS0", T()).Exec(1, {"/bin/sh"}, T() + 1);
  Append("web-2", d);
  ev = WaitTty(8);
  (*w)->Stop();
  ev = TtyEvents();
  EXPECT_EQ(Actions(ev), (std::vector<std::string>{"hp1 hp1:3 open", "hp1 hp1:3 exec", "hp1 hp1:4 open",
                                                   "hp1 hp1:4 close", "hp1 hp1:3 exec", "hp1 hp1:3 close",
                                                   "web-2 web-2:1 open", "web-2 web-2:1 exec"}));
  ASSERT_EQ(ev.size(), 8u);
  EXPECT_EQ(ev[4]["tty"]["command"], "wget http://x/");
  EXPECT_EQ(ev[5]["tty"], ojson::parse(R"({"id":3,"session":"hp1:3","name":"pts/0","action":"close",
                                           "bytes_in":12,"bytes_out":14,"duration":0.00003})"));
  EXPECT_EQ(ev[7]["tty"]["command"], "/bin/sh");
  EXPECT_EQ((*w)->tty_events(), 8u);
  EXPECT_EQ((*w)->written(), 0u) << "tty events are not counted with the forwarder's";
  EXPECT_EQ((*w)->dropped(), 0u);
}

TEST_F(EventWriterTtyTest, RestartsNeitherRepeatNorSkipTtyEvents) {
  TtyLogBuilder a;
  a.Open(3, 0, "pts/0", T()).Output(3, "12345", T() + 1).Exec(3, {"id"}, T() + 2);
  Append("hp1", a);
  {
    auto w = EventWriter::Open(cfg_, FullBudgets());
    ASSERT_TRUE(w.ok());
    (*w)->Stop();  // reads the tty logs up to now even without Start
  }
  EXPECT_EQ(Actions(TtyEvents()), (std::vector<std::string>{"hp1 hp1:3 open", "hp1 hp1:3 exec"}));

  // Written while no honeywall ran: picked up at the next start, and the
  // session's byte count includes what came before the restart.
  TtyLogBuilder b;
  b.Output(3, "678", T() + 3).Exec(3, {"ps"}, T() + 4).Close(3, T() + 5).Open(3, 0, "pts/0", T() + 6);
  Append("hp1", b);
  {
    auto w = EventWriter::Open(cfg_, FullBudgets());
    ASSERT_TRUE(w.ok());
    (*w)->Start();
    WaitTty(5);
    (*w)->Stop();
  }
  std::vector<ojson> ev = TtyEvents();
  EXPECT_EQ(Actions(ev), (std::vector<std::string>{"hp1 hp1:3 open", "hp1 hp1:3 exec", "hp1 hp1:3 exec",
                                                   "hp1 hp1:3 close", "hp1 hp1:3.2 open"}));
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[2]["tty"]["command"], "ps");
  EXPECT_EQ(ev[3]["tty"]["bytes_out"], 8);

  // The log replaced by a new one (a longer one, possibly on the same inode):
  // read from its start.
  fs::remove(TtyPath("hp1"));
  TtyLogBuilder c;
  c.Open(7, 0, "pts/5", T() + 100).Output(7, std::string(1000, 'x'), T() + 101).Close(7, T() + 102);
  Append("hp1", c);
  {
    auto w = EventWriter::Open(cfg_, FullBudgets());
    ASSERT_TRUE(w.ok());
    (*w)->Stop();
  }
  ev = TtyEvents();
  ASSERT_EQ(ev.size(), 7u);
  EXPECT_EQ(Actions(ev)[5], "hp1 hp1:7 open");
  EXPECT_EQ(Actions(ev)[6], "hp1 hp1:7 close");
  EXPECT_EQ(ev[6]["tty"]["bytes_out"], 1000);
}

TEST_F(EventWriterTtyTest, ACorruptTtyLogStopsOnlyItself) {
  TtyLogBuilder bad;
  bad.Open(3, 0, "pts/0", T()).Raw(EncodeTtyRecord(kTtyWrite, 3, 7, T(), "x")).Exec(3, {"never"}, T() + 1);
  Append("hp1", bad);
  TtyLogBuilder good;
  good.Open(2, 0, "pts/0", T()).Exec(2, {"ls", "-la"}, T() + 1);
  Append("hp2", good);
  fs::create_directories(cfg_.capture.dir + "/tty/sub.ttylog");  // not a file: ignored
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_TRUE(w.ok());
  (*w)->Start();
  WaitTty(3);
  (*w)->Stop();
  EXPECT_EQ(Actions(TtyEvents()), (std::vector<std::string>{"hp1 hp1:3 open", "hp2 hp2:2 open", "hp2 hp2:2 exec"}));
}

// budgets.json says when (budget clock) and at what boot time it was saved: a
// restart in the same boot maps the starts by the boot time elapsed, so a wall
// clock stepped forward while the honeywall was down refills nothing.
TEST_F(EventWriterTest, BudgetsSurviveAWallClockJumpAcrossARestart) {
  const int64_t now = WallNowNs();
  std::vector<Budget> budgets;
  ASSERT_TRUE(EventWriter::LoadBudgets(cfg_, &budgets, now).ok());
  {
    auto w = EventWriter::Open(cfg_, budgets);
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 9; i++) {
      Event e = Base(EventKind::kFlowNew);
      e.ts_ns = now + i;
      e.budget_ns = now + i;
      e.key = Key4("10.0.0.5", uint16_t(40000 + i), "198.51.100.7", 80, 6);
      e.honeypot = 0;
      e.dir = FlowDir::kOutbound;
      e.reason = Reason::kOutbound;
      e.counted = true;
      e.cls = ProtoClass::kTcp;
      ASSERT_TRUE((*w)->Post(e));
    }
    (*w)->Stop();
  }
  nlohmann::json saved = nlohmann::json::parse(std::ifstream(cfg_.capture.dir + "/budgets.json"));
  ASSERT_TRUE(saved.contains("boot_id") && saved.contains("clock_ns") && saved.contains("boot_ns")) << saved.dump();
  const int64_t jumped = now + 2 * 3600 * kNsPerSec;  // the wall clock, two hours ahead a moment later
  ASSERT_TRUE(EventWriter::LoadBudgets(cfg_, &budgets, jumped).ok());
  EXPECT_EQ(budgets[0].Left(ProtoClass::kTcp, jumped), 0u) << "the jump refilled the budget";
  // Another boot: no elapsed time to trust; the wall clock decides (documented).
  saved["boot_id"] = "another-boot";
  std::ofstream(cfg_.capture.dir + "/budgets.json") << saved.dump();
  ASSERT_TRUE(EventWriter::LoadBudgets(cfg_, &budgets, jumped).ok());
  EXPECT_EQ(budgets[0].Left(ProtoClass::kTcp, jumped), 9u);
}

// Attacker text in an event (a command line typed in a honeypot) cannot split
// an events.json line, and events.json holds no control character and no C1
// (ASCII only); a message with a newline cannot forge a honeywall.log line.
TEST_F(EventWriterTtyTest, AttackerTextStaysOnItsLineAndHoldsNoControls) {
  const std::string hostile = "x\nINBOUND TCP: forged\r\x1b]0;pwned\x07\x9d" "8bit\x9c\xc2\x9d" "utf8\xc2\x9c\x7f";
  TtyLogBuilder a;
  a.Open(3, 0, "pts/0\x1b]2;t\x07", T()).Exec(3, {"printf", hostile}, T() + 1);
  Append("hp1", a);
  auto w = EventWriter::Open(cfg_, FullBudgets());
  ASSERT_TRUE(w.ok()) << w.status().message();
  (*w)->Start();
  WaitTty(2);
  (*w)->PostNotice("test", "", "line one\nDec 25 00:00:00 wall honeywall: INBOUND TCP: forged\x1b[2J\xc2\x9b" "6n");
  (*w)->Stop();

  std::ifstream in(cfg_.capture.dir + "/events.json", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t i = 0; i < text.size(); i++) {
    const auto c = static_cast<unsigned char>(text[i]);
    EXPECT_TRUE((c >= 0x20 && c < 0x7f) || c == '\n') << "byte 0x" << std::hex << int(c) << " at " << std::dec << i;
  }
  const std::vector<ojson> ev = TtyEvents();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1]["tty"]["argv"][1], "x\nINBOUND TCP: forged\r\x1b]0;pwned\x07\xef\xbf\xbd" "8bit\xef\xbf\xbd\xc2\x9d"
                                     "utf8\xc2\x9c\x7f")
      << "the same text back (bytes that are not UTF-8 as U+FFFD)";
  EXPECT_NE(text.find(R"(\u001b]0;pwned\u0007)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(\u009dutf8)"), std::string::npos) << text;
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 3u) << text;  // open, exec, notice

  const std::vector<std::string> log = Lines(cfg_.capture.dir + "/honeywall.log");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].ends_with(
      " honeywall: NOTICE line one\\x0aDec 25 00:00:00 wall honeywall: INBOUND TCP: forged\\x1b[2J\\xc2\\x9b6n"))
      << log[0];
}

}  // namespace
}  // namespace hn
