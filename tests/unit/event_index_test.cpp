// EventIndex: reading events.json as the honeywall writes it, and joining flows to it.
#include "analysis/event_index.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "flow/community_id.h"

namespace hn {
namespace {

constexpr int64_t kS = 1'000'000'000;

class EventIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-evidx-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    unlink((dir_ + "/events.json").c_str());
    unlink((dir_ + "/inside-x.pcap").c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& text) {
    std::ofstream f(dir_ + "/events.json");
    f << text;
  }
  std::string dir_;
};

// One "honeywall" line the way EventWriter writes it.
std::string Verdict(const std::string& ts, uint64_t id, const std::string& cid, const std::string& hp,
                    const std::string& action, const std::string& dir, const std::string& reason,
                    const std::string& budget = "", const std::string& src = "10.0.0.5",
                    const std::string& dst = "192.0.2.9") {
  std::string s = "{\"timestamp\":\"" + ts + "\",\"flow_id\":" + std::to_string(id) +
                  ",\"in_iface\":\"hn-in\",\"event_type\":\"honeywall\",\"src_ip\":\"" + src +
                  "\",\"src_port\":40000,\"dest_ip\":\"" + dst + "\",\"dest_port\":80,\"proto\":\"TCP\"," +
                  "\"community_id\":\"" + cid + "\",";
  if (!hp.empty()) s += "\"honeypot\":\"" + hp + "\",";
  s += "\"honeywall\":{\"action\":\"" + action + "\",\"direction\":\"" + dir + "\",\"reason\":\"" + reason + "\"";
  if (!budget.empty()) s += ",\"budget\":" + budget;
  s += "}}\n";
  return s;
}

TEST(EveTimestampTest, ParsesSuricataFormatWithOffsets) {
  // 2026-11-26T18:42:29Z = 1795718549
  EXPECT_EQ(ParseEveTimestamp("2026-11-26T18:42:29.123456+0000"), 1795718549 * kS + 123456000);
  EXPECT_EQ(ParseEveTimestamp("2026-11-26T19:42:29.123456+0100"), 1795718549 * kS + 123456000);
  EXPECT_EQ(ParseEveTimestamp("2026-11-26T13:12:29.5-05:30"), 1795718549 * kS + 500000000);
  EXPECT_EQ(ParseEveTimestamp("2026-11-26T18:42:29Z"), 1795718549 * kS);
  EXPECT_EQ(ParseEveTimestamp("2026-11-26T18:42:29.000000001Z"), 1795718549 * kS + 1);
  EXPECT_FALSE(ParseEveTimestamp(""));
  EXPECT_FALSE(ParseEveTimestamp("2026-11-26 18:42:29Z"));
  EXPECT_FALSE(ParseEveTimestamp("2026-11-26T18:42:29"));       // no zone: ambiguous
  EXPECT_FALSE(ParseEveTimestamp("2026-13-26T18:42:29Z"));
  EXPECT_FALSE(ParseEveTimestamp("2026-11-26T18:42:29.Z"));
  EXPECT_FALSE(ParseEveTimestamp("2026-11-26T18:42:29Z junk"));
}

TEST_F(EventIndexTest, MissingFileOrDirectoryWithoutEventsIsEmpty) {
  auto a = EventIndex::Load(dir_);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(a->empty());
  auto b = EventIndex::Load("");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
  auto c = EventIndex::Load(dir_ + "/events.json");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
  EXPECT_EQ(EventIndex::FindFor({dir_}), "");
}

TEST_F(EventIndexTest, ReadsVerdictsAddressesAndSkipsBadLines) {
  Write(Verdict("2026-11-26T18:00:00.000000+0000", 7, "1:aaa", "hp1", "allowed", "inbound", "inbound", "",
                "198.51.100.1", "10.0.0.5") +
        "not json at all\n" +
        "{\"timestamp\":\"2026-11-26T18:00:01.000000+0000\",\"event_type\":\"stats\",\"stats\":{}}\n" +
        "{\"timestamp\":\"garbage\",\"event_type\":\"honeywall\",\"honeywall\":{\"action\":\"allowed\"}}\n" +
        Verdict("2026-11-26T18:00:02.000000+0000", 8, "1:bbb", "hp1", "allowed", "outbound", "outbound",
                "{\"class\":\"TCP\",\"used\":1,\"left\":8,\"limit\":9}") +
        Verdict("2026-11-26T18:00:03.000000+0000", 9, "1:ccc", "hp2", "dropped", "outbound", "spoofed_source", "",
                "10.9.9.9") +
        "\n" +
        "{\"timestamp\":\"2026-11-26T18:00:04.000000+0000\",\"event_type\":\"flow\",\"flow_id\":7,"
        "\"flow\":{\"pkts_toserver\":3}}\n");
  auto idx = EventIndex::Load(dir_);
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  EXPECT_EQ(idx->bad_lines(), 2u);  // the non-JSON line and the bad timestamp
  ASSERT_EQ(idx->verdicts().size(), 3u);
  const FlowVerdict& v = idx->verdicts()[0];
  EXPECT_EQ(v.flow_id, 7u);
  EXPECT_EQ(v.community_id, "1:aaa");
  EXPECT_EQ(v.honeypot, "hp1");
  EXPECT_EQ(v.action, "allowed");
  EXPECT_EQ(v.direction, "inbound");
  EXPECT_EQ(v.proto, "TCP");
  EXPECT_EQ(v.src_ip, "198.51.100.1");
  EXPECT_EQ(v.src_port, 40000);
  EXPECT_EQ(v.dest_port, 80);
  EXPECT_EQ(v.ts_ns, 1795716000 * kS);
  // hp1: the inbound destination and the outbound source; hp2's spoofed source is not its address.
  ASSERT_EQ(idx->honeypot_addresses().count("hp1"), 1u);
  EXPECT_EQ(idx->honeypot_addresses().at("hp1"), (std::set<std::string>{"10.0.0.5"}));
  EXPECT_TRUE(idx->honeypot_addresses().count("hp2") == 0 || idx->honeypot_addresses().at("hp2").empty());
  EXPECT_EQ(EventIndex::FindFor({dir_}), dir_ + "/events.json");
}

TEST_F(EventIndexTest, FindMatchesByCommunityIdAndTimeForReusedTuples) {
  Write(Verdict("2026-11-26T18:00:00.000000+0000", 1, "1:same", "hp1", "allowed", "outbound", "outbound") +
        Verdict("2026-11-26T18:10:00.000000+0000", 2, "1:same", "hp1", "dropped", "outbound", "budget_exhausted"));
  auto idx = EventIndex::Load(dir_ + "/events.json");
  ASSERT_TRUE(idx.ok());
  const int64_t t0 = 1795716000 * kS;
  EXPECT_EQ(idx->Find("1:nope", t0), nullptr);
  EXPECT_EQ(idx->Find("1:same", t0 - 5 * kS), nullptr);              // before any verdict
  ASSERT_NE(idx->Find("1:same", t0 - kS / 2), nullptr);              // within the 1 s slack
  EXPECT_EQ(idx->Find("1:same", t0 - kS / 2)->flow_id, 1u);
  EXPECT_EQ(idx->Find("1:same", t0 + 300 * kS)->flow_id, 1u);
  EXPECT_EQ(idx->Find("1:same", t0 + 600 * kS)->flow_id, 2u);
  EXPECT_EQ(idx->Find("1:same", t0 + 900 * kS)->action, "dropped");
  ASSERT_NE(idx->ByFlowId(2), nullptr);
  EXPECT_EQ(idx->ByFlowId(2)->reason, "budget_exhausted");
  EXPECT_EQ(idx->ByFlowId(3), nullptr);
}

TEST_F(EventIndexTest, ResolveFlowArgAcceptsCommunityIdAndKnownFlowIds) {
  EventIndex empty;
  auto r0 = empty.ResolveFlowArg("1:abc=");
  ASSERT_TRUE(r0.ok());
  EXPECT_EQ(*r0, "1:abc=");
  auto r1 = empty.ResolveFlowArg("42");
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.status().message().find("no events.json"), std::string::npos) << r1.status().message();

  Write(Verdict("2026-11-26T18:00:00.000000+0000", 42, "1:forty-two", "hp1", "allowed", "inbound", "inbound"));
  auto idx = EventIndex::Load(dir_);
  ASSERT_TRUE(idx.ok());
  auto r2 = idx->ResolveFlowArg("42");
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ(*r2, "1:forty-two");
  auto r3 = idx->ResolveFlowArg("43");
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.status().message().find("not in events.json"), std::string::npos);
  for (const char* bad : {"", "abc", "12x", "-5", "2:abc", "1:"}) {
    auto r = idx->ResolveFlowArg(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("Community ID"), std::string::npos) << r.status().message();
    }
  }
}

TEST_F(EventIndexTest, BudgetHitsAreCountedOncePerExhaustion) {
  auto b = [](int used, int left) {
    return "{\"class\":\"TCP\",\"used\":" + std::to_string(used) + ",\"left\":" + std::to_string(left) +
           ",\"limit\":2}";
  };
  Write(Verdict("2026-11-26T18:00:00.000000+0000", 1, "1:a", "hp1", "allowed", "outbound", "outbound", b(1, 1)) +
        Verdict("2026-11-26T18:00:01.000000+0000", 2, "1:b", "hp1", "allowed", "outbound", "outbound", b(2, 0)) +
        Verdict("2026-11-26T18:00:02.000000+0000", 3, "1:c", "hp1", "dropped", "outbound", "budget_exhausted", b(2, 0)) +
        Verdict("2026-11-26T18:00:03.000000+0000", 4, "1:d", "hp1", "dropped", "outbound", "budget_exhausted", b(2, 0)) +
        Verdict("2026-11-26T18:00:04.000000+0000", 5, "1:e", "hp2", "dropped", "outbound", "budget_exhausted", b(2, 0)) +
        // the window slid: room again, then a second hit
        Verdict("2026-11-26T19:00:05.000000+0000", 6, "1:f", "hp1", "allowed", "outbound", "outbound", b(2, 0)) +
        Verdict("2026-11-26T19:00:06.000000+0000", 7, "1:g", "hp1", "dropped", "outbound", "budget_exhausted", b(2, 0)));
  auto idx = EventIndex::Load(dir_);
  ASSERT_TRUE(idx.ok());
  ASSERT_EQ(idx->budget_hits().size(), 3u);
  EXPECT_EQ(idx->budget_hits()[0].honeypot, "hp1");
  EXPECT_EQ(idx->budget_hits()[0].cls, "TCP");
  EXPECT_EQ(idx->budget_hits()[0].limit, 2u);
  EXPECT_EQ(idx->budget_hits()[0].ts_ns, (1795716000 + 2) * kS);
  EXPECT_EQ(idx->budget_hits()[1].honeypot, "hp2");
  EXPECT_EQ(idx->budget_hits()[2].ts_ns, (1795716000 + 3600 + 6) * kS);
}

TEST_F(EventIndexTest, CommunityIdOfAPacketKeyMatchesTheEvents) {
  // The join works because the analysis side computes the same string as the writer.
  FlowKey k;
  k.src = {10, 0, 0, 5};
  k.dst = {192, 0, 2, 9};
  k.sport = 40000;
  k.dport = 80;
  k.proto = 6;
  const std::string cid = CommunityId(k);
  Write(Verdict("2026-11-26T18:00:00.000000+0000", 1, cid, "hp1", "allowed", "outbound", "outbound"));
  auto idx = EventIndex::Load(dir_);
  ASSERT_TRUE(idx.ok());
  EXPECT_NE(idx->Find(CommunityId(k.Reversed()), 1795716000 * kS), nullptr);
}

TEST_F(EventIndexTest, FindForUsesTheDirectoryOfTheFirstFile) {
  Write("");
  { std::ofstream f(dir_ + "/inside-x.pcap"); }
  EXPECT_EQ(EventIndex::FindFor({dir_ + "/inside-x.pcap"}), dir_ + "/events.json");
  EXPECT_EQ(EventIndex::FindFor({"/nonexistent-dir/x.pcap", dir_}), dir_ + "/events.json");
}

}  // namespace
}  // namespace hn
