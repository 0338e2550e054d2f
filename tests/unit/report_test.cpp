// Report: the summary of a capture directory from its events.json and pcaps.
#include "analysis/report.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "flow/community_id.h"
#include "frames.h"

namespace hn {
namespace {

using test::I;
using test::M;

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1795716000;  // 2026-11-26T18:00:00Z

// A microsecond pcap of Ethernet frames (ts in seconds since kT0).
void WritePcap(const std::string& path, const std::vector<std::pair<int64_t, std::vector<uint8_t>>>& frames) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const uint32_t gh[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
  fwrite(gh, 4, 6, f);
  for (const auto& [t, fr] : frames) {
    const uint32_t rh[4] = {uint32_t(kT0 + t), 0, uint32_t(fr.size()), uint32_t(fr.size())};
    fwrite(rh, 4, 4, f);
    fwrite(fr.data(), 1, fr.size(), f);
  }
  fclose(f);
}

std::vector<uint8_t> Tcp(const char* s, const char* d, uint16_t sp, uint16_t dp, uint8_t flags,
                         const std::string& payload = "") {
  test::Ip4Spec spec{I(s), I(d), kProtoTcp};
  return test::Ipv4Frame(M("02:00:00:00:00:02"), M("02:00:00:00:00:01"), spec,
                         test::TcpSeg(I(s), I(d), sp, dp, flags, payload));
}

std::string Cid(const char* s, const char* d, uint16_t sp, uint16_t dp, uint8_t proto) {
  FlowKey k;
  auto a = I(s), b = I(d);
  a.ToNet(k.src.data());
  b.ToNet(k.dst.data());
  k.sport = sp;
  k.dport = dp;
  k.proto = proto;
  return CommunityId(k);
}

std::string Event(int64_t t, uint64_t id, const char* s, const char* d, uint16_t sp, uint16_t dp, const char* proto,
                  uint8_t pnum, const char* action, const char* dir, const char* reason, const std::string& budget = "") {
  char ts[64];
  const time_t tt = time_t(kT0 + t);
  tm g{};
  gmtime_r(&tt, &g);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S.000000+0000", &g);
  std::string e = std::string("{\"timestamp\":\"") + ts + "\",\"flow_id\":" + std::to_string(id) +
                  ",\"event_type\":\"honeywall\",\"src_ip\":\"" + s + "\",\"src_port\":" + std::to_string(sp) +
                  ",\"dest_ip\":\"" + d + "\",\"dest_port\":" + std::to_string(dp) + ",\"proto\":\"" + proto +
                  "\",\"community_id\":\"" + Cid(s, d, sp, dp, pnum) + "\",\"honeypot\":\"hp1\",\"honeywall\":{" +
                  "\"action\":\"" + action + "\",\"direction\":\"" + dir + "\",\"reason\":\"" + reason + "\"";
  if (!budget.empty()) e += ",\"budget\":" + budget;
  return e + "}}\n";
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-report-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const char* f : {"/events.json", "/inside-20261126T180000Z-0000.pcap", "/outside-20261126T180000Z-0000.pcap"})
      unlink((dir_ + f).c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(ReportTest, SummarizesEventsAndPcapsOfACaptureDirectory) {
  const char* hp = "10.0.0.5";
  const std::string b9 = "{\"class\":\"TCP\",\"used\":1,\"left\":0,\"limit\":1}";
  {
    std::ofstream ev(dir_ + "/events.json");
    ev << Event(1, 1, "198.51.100.7", hp, 50000, 23, "TCP", 6, "allowed", "inbound", "inbound")
       << Event(2, 2, "198.51.100.7", hp, 50001, 23, "TCP", 6, "allowed", "inbound", "inbound")
       << Event(3, 3, "203.0.113.1", hp, 50002, 80, "TCP", 6, "allowed", "inbound", "inbound")
       << Event(10, 4, hp, "192.0.2.50", 40000, 6667, "TCP", 6, "allowed", "outbound", "outbound", b9)
       << Event(11, 5, hp, "192.0.2.51", 40001, 6667, "TCP", 6, "dropped", "outbound", "budget_exhausted", b9)
       << Event(12, 6, hp, "192.0.2.52", 40002, 6667, "TCP", 6, "dropped", "outbound", "budget_exhausted", b9)
       << Event(13, 7, hp, "192.0.2.53", 5353, 53, "UDP", 17, "allowed", "outbound", "exempt_dns")
       << "{\"timestamp\":\"2026-11-26T18:00:20.000000+0000\",\"event_type\":\"stats\"}\n";
  }
  std::vector<std::pair<int64_t, std::vector<uint8_t>>> frames;
  // Inbound telnet session with typing and text answers.
  frames.push_back({1, Tcp("198.51.100.7", hp, 50000, 23, kSyn)});
  frames.push_back({1, Tcp(hp, "198.51.100.7", 23, 50000, kSyn | kAck)});
  for (const char* c : {"r", "o", "o", "t", "\r\n", "id\r\n"}) {
    frames.push_back({2, Tcp("198.51.100.7", hp, 50000, 23, kAck | kPsh, c)});
    frames.push_back({2, Tcp(hp, "198.51.100.7", 23, 50000, kAck | kPsh, std::string(c) + "uid=0(root) gid=0\r\n# ")});
  }
  // A bulk flow (busiest) and the dropped outbound SYN.
  for (int i = 0; i < 20; i++) frames.push_back({3, Tcp("203.0.113.1", hp, 50002, 80, kAck, std::string(1200, 'B'))});
  frames.push_back({10, Tcp(hp, "192.0.2.50", 40000, 6667, kSyn)});
  frames.push_back({11, Tcp(hp, "192.0.2.51", 40001, 6667, kSyn)});
  frames.push_back({12, Tcp(hp, "192.0.2.52", 40002, 6667, kSyn)});
  WritePcap(dir_ + "/inside-20261126T180000Z-0000.pcap", frames);
  WritePcap(dir_ + "/outside-20261126T180000Z-0000.pcap", {{1, Tcp("198.51.100.99", hp, 1, 2, kSyn)}});

  ReportOptions o;
  o.top_flows = 2;
  auto r = BuildReport({dir_}, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->events_path, dir_ + "/events.json");
  EXPECT_EQ(r->events, 7u);
  ASSERT_EQ(r->files.size(), 1u);  // inside only by default
  EXPECT_EQ(r->totals.frames, frames.size());
  EXPECT_EQ(r->totals.flows, 5u);
  EXPECT_EQ(r->first_ns, (kT0 + 1) * kS);
  EXPECT_EQ(r->last_ns, (kT0 + 12) * kS);

  ASSERT_EQ(r->honeypots.size(), 1u);
  const HoneypotSummary& h = r->honeypots[0];
  EXPECT_EQ(h.name, "hp1");
  EXPECT_EQ(h.addresses, std::vector<std::string>{hp});
  EXPECT_EQ(h.inbound_flows, 3u);
  EXPECT_EQ(h.distinct_sources, 2u);
  ASSERT_EQ(h.sources.size(), 2u);
  EXPECT_EQ(h.sources[0], (std::pair<std::string, uint64_t>{"198.51.100.7", 2}));
  ASSERT_EQ(h.ports.size(), 2u);
  EXPECT_EQ(h.ports[0], (std::pair<std::string, uint64_t>{"TCP/23", 2}));
  ASSERT_EQ(h.outbound.count("TCP"), 1u);
  EXPECT_EQ(h.outbound.at("TCP").allowed, 1u);
  EXPECT_EQ(h.outbound.at("TCP").dropped, 2u);
  EXPECT_EQ(h.outbound.at("TCP").drop_reasons.at("budget_exhausted"), 2u);
  EXPECT_EQ(h.outbound.at("UDP").allowed, 1u);
  EXPECT_EQ(h.outbound.at("UDP").dropped, 0u);
  ASSERT_EQ(h.budget_hits.size(), 1u);  // two drops, one hit
  EXPECT_EQ(h.budget_hits[0].ts_ns, (kT0 + 11) * kS);
  EXPECT_EQ(h.budget_hits[0].cls, "TCP");

  ASSERT_EQ(r->busiest.size(), 2u);
  EXPECT_EQ(r->busiest[0].key.dport, 80);
  EXPECT_EQ(r->busiest[0].total_pkts(), 20u);
  EXPECT_EQ(r->busiest[1].key.dport, 23);
  EXPECT_GE(r->busiest[0].total_bytes(), r->busiest[1].total_bytes());
  EXPECT_EQ(r->busiest[0].honeypot, "hp1");  // joined from the events
  ASSERT_EQ(r->interactive_total, 1u);
  ASSERT_EQ(r->interactive.size(), 1u);
  EXPECT_EQ(r->interactive[0].key.dport, 23);
  EXPECT_EQ(r->interactive[0].flow_id, 1u);

  const auto j = ReportToJson(*r);
  EXPECT_EQ(j["honeypots"][0]["outbound"]["TCP"]["dropped"], 2);
  EXPECT_EQ(j["honeypots"][0]["budget_hits"][0]["time"], "2026-11-26T18:00:11.000000Z");
  EXPECT_EQ(j["busiest_flows"].size(), 2u);
  EXPECT_EQ(j["interactive_sessions"][0]["flow_id"], 1);
  EXPECT_EQ(j["interactive_sessions"][0]["interactive_text"], true);
  EXPECT_EQ(j["totals"]["frames"], frames.size());

  // The dropped outbound flows carry their verdict.
  o.top_flows = 100;
  auto all = BuildReport({dir_}, o);
  ASSERT_TRUE(all.ok());
  int dropped = 0;
  for (const FlowRecord& f : all->busiest)
    if (f.action == "dropped") {
      dropped++;
      EXPECT_EQ(f.reason, "budget_exhausted");
      EXPECT_EQ(f.tcp, TcpFlowState::kSynSent);
    }
  EXPECT_EQ(dropped, 2);
}

TEST_F(ReportTest, WithoutEventsThePcapHalfStillWorks) {
  WritePcap(dir_ + "/inside-20261126T180000Z-0000.pcap", {{1, Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn)}});
  auto r = BuildReport({dir_}, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->events_path.empty());
  EXPECT_TRUE(r->honeypots.empty());
  EXPECT_EQ(r->totals.flows, 1u);
  EXPECT_FALSE(r->busiest[0].has_verdict);
}

TEST_F(ReportTest, NothingReadableIsAnError) {
  auto r = BuildReport({dir_}, {});
  EXPECT_FALSE(r.ok());
  auto missing = BuildReport({dir_ + "/nope"}, {});
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace hn
