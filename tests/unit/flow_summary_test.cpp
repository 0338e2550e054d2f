// FlowSummarizer: bidirectional flows from frames, counted the way tshark's
// conversation tables count them, with TCP end states, fragments, VLANs,
// truncated frames, bounds, and the join with events.json.
#include "analysis/flow_summary.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "flow/community_id.h"
#include "frames.h"

namespace hn {
namespace {

using test::I;
using test::M;

constexpr int64_t kS = 1'000'000'000;
const Mac kMacA = M("02:00:00:00:00:0a");
const Mac kMacB = M("02:00:00:00:00:0b");
const char* kA = "10.0.0.5";
const char* kB = "192.0.2.9";

// A TCP segment from a to b (or b to a when !from_a) with flags, payload, seq and ack.
std::vector<uint8_t> Tcp(bool from_a, uint8_t flags, const std::string& payload = "", uint32_t seq = 1000,
                         uint32_t ack = 0, uint16_t aport = 40000, uint16_t bport = 23) {
  const Ip4 s = I(from_a ? kA : kB), d = I(from_a ? kB : kA);
  auto l4 = test::TcpSeg(s, d, from_a ? aport : bport, from_a ? bport : aport, flags, payload, seq);
  Store32(l4.data() + 8, ack);  // checksum not fixed: the summarizer does not check it
  test::Ip4Spec spec{s, d, kProtoTcp};
  return test::Ipv4Frame(from_a ? kMacB : kMacA, from_a ? kMacA : kMacB, spec, l4);
}

std::vector<uint8_t> Udp(bool from_a, const std::string& payload, uint16_t aport = 5353, uint16_t bport = 53) {
  const Ip4 s = I(from_a ? kA : kB), d = I(from_a ? kB : kA);
  test::Ip4Spec spec{s, d, kProtoUdp};
  return test::Ipv4Frame(from_a ? kMacB : kMacA, from_a ? kMacA : kMacB, spec,
                         test::UdpDgram(s, d, from_a ? aport : bport, from_a ? bport : aport, payload));
}

std::vector<uint8_t> Echo(bool from_a, uint8_t type, uint16_t id) {
  const Ip4 s = I(from_a ? kA : kB), d = I(from_a ? kB : kA);
  test::Ip4Spec spec{s, d, kProtoIcmp};
  return test::Ipv4Frame(from_a ? kMacB : kMacA, from_a ? kMacA : kMacB, spec,
                         test::IcmpMsg(type, 0, id, 1, std::vector<uint8_t>(32, 'p')));
}

// An 802.1Q tag inserted after the MAC addresses.
std::vector<uint8_t> Vlan(std::vector<uint8_t> f, uint16_t vid) {
  const uint8_t tag[4] = {0x81, 0x00, uint8_t(vid >> 8), uint8_t(vid)};
  f.insert(f.begin() + 12, tag, tag + 4);
  return f;
}

// IPv4 fragments of one UDP datagram (payload bytes), each chunk a multiple of 8 but the last.
std::vector<std::vector<uint8_t>> Fragments(const std::string& payload, uint16_t ip_id, size_t chunk) {
  const Ip4 s = I(kA), d = I(kB);
  const auto udp = test::UdpDgram(s, d, 7000, 7001, payload);
  std::vector<std::vector<uint8_t>> out;
  for (size_t off = 0; off < udp.size(); off += chunk) {
    const size_t n = std::min(chunk, udp.size() - off);
    test::Ip4Spec spec{s, d, kProtoUdp};
    spec.id = ip_id;
    spec.frag_off_bytes = uint16_t(off);
    spec.mf = off + n < udp.size();
    out.push_back(test::Ipv4Frame(kMacB, kMacA, spec, std::vector<uint8_t>(udp.begin() + long(off),
                                                                            udp.begin() + long(off + n))));
  }
  return out;
}

uint64_t Len(const std::vector<uint8_t>& f) { return f.size(); }

TEST(FlowSummaryTest, TcpConnectionCountsFramesEachWayAndEndsClosed) {
  const auto syn = Tcp(true, kSyn, "", 100), synack = Tcp(false, kSyn | kAck, "", 500, 101),
             ack = Tcp(true, kAck, "", 101, 501), data = Tcp(true, kAck | kPsh, "hello", 101, 501),
             reply = Tcp(false, kAck | kPsh, "world!", 501, 106), fin1 = Tcp(true, kFin | kAck, "", 106, 507),
             fin2 = Tcp(false, kFin | kAck, "", 507, 107), last = Tcp(true, kAck, "", 107, 508);
  std::vector<FrameIn> in;
  int64_t t = 10 * kS;
  for (const auto* f : {&syn, &synack, &ack, &data, &reply, &fin1, &fin2, &last}) in.push_back({t += kS / 10, *f});
  FlowTotals tot;
  auto flows = SummarizeFrames(in, {}, &tot);
  ASSERT_EQ(flows.size(), 1u);
  const FlowRecord& r = flows[0];
  EXPECT_EQ(r.key.SrcString(), kA);
  EXPECT_EQ(r.key.DstString(), kB);
  EXPECT_EQ(r.key.sport, 40000);
  EXPECT_EQ(r.key.dport, 23);
  EXPECT_EQ(r.pkts[0], 5u);
  EXPECT_EQ(r.pkts[1], 3u);
  EXPECT_EQ(r.bytes[0], Len(syn) + Len(ack) + Len(data) + Len(fin1) + Len(last));
  EXPECT_EQ(r.bytes[1], Len(synack) + Len(reply) + Len(fin2));
  EXPECT_EQ(r.payload[0], 5u);
  EXPECT_EQ(r.payload[1], 6u);
  EXPECT_EQ(r.tcp, TcpFlowState::kClosed);
  EXPECT_STREQ(TcpFlowStateName(r.tcp), "CLOSED");
  EXPECT_FALSE(r.midstream);
  EXPECT_EQ(r.first_ns, 10 * kS + kS / 10);
  EXPECT_EQ(r.last_ns, 10 * kS + 8 * kS / 10);
  EXPECT_EQ(r.community_id, CommunityId(r.key));
  EXPECT_FALSE(r.has_verdict);
  EXPECT_EQ(tot.frames, 8u);
  EXPECT_EQ(tot.flows, 1u);
}

TEST(FlowSummaryTest, TcpEndStates) {
  auto one = [](std::vector<std::vector<uint8_t>> frames) {
    std::vector<FrameIn> in;
    int64_t t = kS;
    for (auto& f : frames) in.push_back({t++, std::move(f)});
    auto flows = SummarizeFrames(in);
    EXPECT_EQ(flows.size(), 1u);
    return flows.empty() ? FlowRecord{} : flows[0];
  };
  EXPECT_EQ(one({Tcp(true, kSyn)}).tcp, TcpFlowState::kSynSent);
  EXPECT_EQ(one({Tcp(true, kSyn), Tcp(true, kSyn)}).tcp, TcpFlowState::kSynSent);  // a retransmitted SYN: same flow
  EXPECT_EQ(one({Tcp(true, kSyn, "", 1), Tcp(false, kSyn | kAck, "", 9, 2)}).tcp, TcpFlowState::kSynRecv);
  EXPECT_EQ(one({Tcp(true, kSyn, "", 1), Tcp(false, kSyn | kAck, "", 9, 2), Tcp(true, kAck, "", 2, 10)}).tcp,
            TcpFlowState::kEstablished);
  EXPECT_EQ(one({Tcp(true, kSyn, "", 1), Tcp(false, kRst | kAck, "", 0, 2)}).tcp, TcpFlowState::kReset);
  EXPECT_EQ(one({Tcp(true, kSyn, "", 1), Tcp(false, kSyn | kAck, "", 9, 2), Tcp(true, kFin | kAck, "", 2, 10)}).tcp,
            TcpFlowState::kFinWait);
  // A RST is the last word: a later ACK does not reopen the flow.
  EXPECT_EQ(one({Tcp(true, kAck, "x"), Tcp(false, kRst), Tcp(true, kAck, "y")}).tcp, TcpFlowState::kReset);
  const FlowRecord mid = one({Tcp(false, kAck | kPsh, "banner"), Tcp(true, kAck, "")});
  EXPECT_TRUE(mid.midstream);
  EXPECT_EQ(mid.tcp, TcpFlowState::kEstablished);
  EXPECT_EQ(mid.key.SrcString(), kB);  // the first sender is the initiator when no SYN was seen
  // SYN+ACK seen first: its receiver opened the connection.
  const FlowRecord sa = one({Tcp(false, kSyn | kAck, "", 9, 2), Tcp(true, kAck, "", 2, 10)});
  EXPECT_EQ(sa.key.SrcString(), kA);
  EXPECT_EQ(sa.key.dport, 23);
  EXPECT_EQ(sa.pkts[0], 1u);
  EXPECT_EQ(sa.pkts[1], 1u);
  EXPECT_EQ(sa.tcp, TcpFlowState::kEstablished);
}

TEST(FlowSummaryTest, ANewSynOnTheSameTupleStartsANewFlow) {
  std::vector<FrameIn> in = {
      {1 * kS, Tcp(true, kSyn, "", 100)},
      {2 * kS, Tcp(false, kSyn | kAck, "", 500, 101)},
      {3 * kS, Tcp(true, kFin | kAck, "", 101, 501)},
      {4 * kS, Tcp(true, kSyn, "", 100)},  // same ISN but after a FIN: new (as Wireshark's tcp.stream)
      {5 * kS, Tcp(true, kSyn, "", 100)},  // retransmission of that SYN: same flow
      {6 * kS, Tcp(true, kSyn, "", 7777)},  // other ISN: new
  };
  auto flows = SummarizeFrames(in);
  ASSERT_EQ(flows.size(), 3u);
  EXPECT_EQ(flows[0].total_pkts(), 3u);
  EXPECT_EQ(flows[0].tcp, TcpFlowState::kFinWait);
  EXPECT_EQ(flows[1].total_pkts(), 2u);
  EXPECT_EQ(flows[1].first_ns, 4 * kS);
  EXPECT_EQ(flows[2].total_pkts(), 1u);
  EXPECT_EQ(flows[2].tcp, TcpFlowState::kSynSent);
  EXPECT_LT(flows[0].seq_no, flows[1].seq_no);
}

TEST(FlowSummaryTest, UdpAndIcmpEchoPairUp) {
  std::vector<FrameIn> in = {
      {1 * kS, Udp(true, "query")}, {2 * kS, Udp(false, "answer!")}, {3 * kS, Udp(true, "other", 5354)},
      {4 * kS, Echo(true, 8, 77)},   {5 * kS, Echo(false, 0, 77)},     {6 * kS, Echo(true, 8, 78)},
  };
  auto flows = SummarizeFrames(in);
  ASSERT_EQ(flows.size(), 4u);
  EXPECT_EQ(flows[0].key.proto, kProtoUdp);
  EXPECT_EQ(flows[0].pkts[0], 1u);
  EXPECT_EQ(flows[0].pkts[1], 1u);
  EXPECT_EQ(flows[0].payload[1], 7u);
  EXPECT_EQ(flows[0].tcp, TcpFlowState::kNone);
  EXPECT_EQ(flows[1].key.sport, 5354);
  EXPECT_EQ(flows[2].key.proto, kProtoIcmp);
  EXPECT_EQ(flows[2].pkts[0], 1u);
  EXPECT_EQ(flows[2].pkts[1], 1u);  // the reply with the same id is the same flow
  EXPECT_EQ(flows[2].icmp_type, 8);
  EXPECT_EQ(flows[2].community_id, CommunityId(flows[2].key, 0, 8, 0));
  EXPECT_EQ(flows[3].total_pkts(), 1u);  // another id: another flow
}

TEST(FlowSummaryTest, FragmentsJoinTheirFlowInAnyOrder) {
  const std::string payload(3000, 'f');
  auto frags = Fragments(payload, 4242, 1480);
  ASSERT_EQ(frags.size(), 3u);
  uint64_t bytes = 0;
  for (auto& f : frags) bytes += f.size();
  // In order.
  std::vector<FrameIn> in;
  for (size_t i = 0; i < frags.size(); i++) in.push_back({kS + int64_t(i), frags[i]});
  FlowTotals tot;
  auto flows = SummarizeFrames(in, {}, &tot);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].pkts[0], 3u);
  EXPECT_EQ(flows[0].bytes[0], bytes);
  EXPECT_EQ(flows[0].payload[0], 3000u);
  EXPECT_EQ(flows[0].key.sport, 7000);
  EXPECT_EQ(tot.orphan_fragments, 0u);
  // Last first, then the rest: the early ones wait for the first fragment.
  in = {{kS, frags[2]}, {kS + 1, frags[1]}, {kS + 2, frags[0]}};
  flows = SummarizeFrames(in, {}, &tot);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].pkts[0], 3u);
  EXPECT_EQ(flows[0].bytes[0], bytes);
  EXPECT_EQ(flows[0].first_ns, kS);
  EXPECT_EQ(tot.orphan_fragments, 0u);
  // Without the first fragment nothing is a flow; the rest are orphans.
  in = {{kS, frags[1]}, {kS + 1, frags[2]}};
  flows = SummarizeFrames(in, {}, &tot);
  EXPECT_TRUE(flows.empty());
  EXPECT_EQ(tot.orphan_fragments, 2u);
}

TEST(FlowSummaryTest, NonIpVlanAndTruncatedFrames) {
  auto arp = test::Arp(M("ff:ff:ff:ff:ff:ff"), kMacA, 1, I(kA), M("00:00:00:00:00:00"), I(kB));
  auto tagged = Vlan(Tcp(true, kSyn), 42);
  auto big = Tcp(true, kAck | kPsh, std::string(1000, 'x'), 1000);
  std::vector<uint8_t> cut(big.begin(), big.begin() + 60);  // snaplen 60: headers only
  std::vector<uint8_t> runt(big.begin(), big.begin() + 30);  // IP header cut: no flow
  std::vector<FrameIn> in = {{kS, arp}, {2 * kS, tagged}, {3 * kS, cut, uint32_t(big.size())},
                             {4 * kS, runt, uint32_t(big.size())}, {5 * kS, {1, 2, 3}}};
  FlowTotals tot;
  auto flows = SummarizeFrames(in, {}, &tot);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].vlan_id, 42);
  EXPECT_EQ(flows[0].pkts[0], 2u);  // the tagged SYN and the truncated segment: same 5-tuple
  EXPECT_EQ(flows[0].bytes[0], tagged.size() + big.size());  // length on the wire, not captured
  EXPECT_EQ(flows[0].payload[0], 1000u);
  EXPECT_EQ(tot.non_ip, 1u);
  EXPECT_EQ(tot.undecodable, 2u);
  EXPECT_EQ(tot.frames, 5u);
}

TEST(FlowSummaryTest, IdleTimeoutAndTheFlowCapBoundMemory) {
  FlowSummaryOptions o;
  o.idle_timeout_ns = 60 * kS;
  std::vector<FrameIn> in = {{0, Udp(true, "a")}, {30 * kS, Udp(false, "b")}, {200 * kS, Udp(true, "c")}};
  FlowTotals tot;
  auto flows = SummarizeFrames(in, o, &tot);
  ASSERT_EQ(flows.size(), 2u);  // 170 s of silence: the first flow had ended
  EXPECT_EQ(flows[0].total_pkts(), 2u);
  EXPECT_EQ(flows[1].total_pkts(), 1u);

  o = {};
  o.max_flows = 10;
  std::vector<FlowRecord> out;
  FlowSummarizer s(o, [&](FlowRecord&& r) { out.push_back(std::move(r)); });
  for (uint16_t port = 1; port <= 100; port++) {
    auto f = Udp(true, "x", port);
    s.Add(kS + port, 1, f.data(), uint32_t(f.size()), uint32_t(f.size()));
    EXPECT_LE(s.live(), 10u);
  }
  EXPECT_EQ(out.size(), 90u);  // the longest idle went first
  EXPECT_TRUE(out[0].evicted);
  EXPECT_EQ(out[0].key.sport, 1);
  s.Finish();
  EXPECT_EQ(out.size(), 100u);
  EXPECT_EQ(s.totals().evicted, 90u);
  EXPECT_EQ(s.totals().peak_live, 10u);
  EXPECT_EQ(s.totals().flows, 100u);
  EXPECT_EQ(s.live(), 0u);
}

TEST(FlowSummaryTest, ManyFlowsSurviveTableGrowthAndDeletion) {
  // Enough flows to grow the table several times, ended in mixed order by a timeout.
  FlowSummaryOptions o;
  o.idle_timeout_ns = 1000;
  uint64_t ended = 0;
  FlowSummarizer s(o, [&](FlowRecord&& r) {
    ended++;
    EXPECT_EQ(r.total_pkts(), 2u) << r.key.sport;
  });
  for (int round = 0; round < 3; round++) {
    for (uint16_t port = 1; port <= 3000; port++) {
      auto a = Udp(true, "x", port), b = Udp(false, "y", port);
      const int64_t t = round * 1'000'000 + port * 2;
      s.Add(t, 1, a.data(), uint32_t(a.size()), uint32_t(a.size()));
      s.Add(t + 1, 1, b.data(), uint32_t(b.size()), uint32_t(b.size()));
    }
  }
  s.Finish();
  EXPECT_EQ(ended, 9000u);
  EXPECT_EQ(s.totals().frames, 18000u);
}

TEST(FlowSummaryTest, InteractiveTextHeuristic) {
  std::vector<FrameIn> in;
  int64_t t = kS;
  in.push_back({t++, Tcp(true, kSyn, "", 1)});
  in.push_back({t++, Tcp(false, kSyn | kAck, "", 9, 2)});
  in.push_back({t++, Tcp(false, kAck | kPsh, "\xff\xfb\x01\xff\xfb\x03login: ", 10, 2)});
  for (const char* c : {"r", "o", "o", "t", "\r\n", "ls -la\r\n"}) {
    in.push_back({t++, Tcp(true, kAck | kPsh, c, 2, 10)});
    in.push_back({t++, Tcp(false, kAck | kPsh, std::string(c) + "bin  etc  home  root\r\n# ", 10, 2)});
  }
  auto flows = SummarizeFrames(in);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].small_segments[0], 6u);
  EXPECT_GT(flows[0].text_seen[1], 100u);
  EXPECT_EQ(flows[0].client_dir(), 0);
  EXPECT_TRUE(flows[0].interactive_text());

  // The same session picked up mid-stream with the server's answer first:
  // the lower port (23) is taken for the server.
  in.erase(in.begin(), in.begin() + 4);
  flows = SummarizeFrames(in);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_TRUE(flows[0].midstream);
  EXPECT_EQ(flows[0].key.sport, 23);
  EXPECT_EQ(flows[0].client_dir(), 1);
  EXPECT_TRUE(flows[0].interactive_text());

  // Bulk binary download: one request, binary answer.
  in.clear();
  in.push_back({kS, Tcp(true, kAck | kPsh, "GET / HTTP/1.0\r\n\r\n", 2, 10, 40001, 80)});
  for (int i = 0; i < 5; i++)
    in.push_back({kS + 1 + i, Tcp(false, kAck, std::string(500, char(0x90 + i)), 10, 2, 40001, 80)});
  flows = SummarizeFrames(in);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_FALSE(flows[0].interactive_text());
}

TEST(FlowSummaryTest, VerdictsAreJoinedFromTheEventIndex) {
  char tmpl[] = "/tmp/hn-flowsum-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  FlowKey k;
  k.src = {10, 0, 0, 5};
  k.dst = {192, 0, 2, 9};
  k.sport = 40000;
  k.dport = 23;
  k.proto = kProtoTcp;
  {
    std::ofstream f(dir + "/events.json");
    // 1970-01-01T00:00:01Z: the flow's first packet is at 1 s.
    f << "{\"timestamp\":\"1970-01-01T00:00:01.000000+0000\",\"flow_id\":99,\"event_type\":\"honeywall\","
         "\"src_ip\":\"10.0.0.5\",\"src_port\":40000,\"dest_ip\":\"192.0.2.9\",\"dest_port\":23,\"proto\":\"TCP\","
         "\"community_id\":\"" << CommunityId(k) << "\",\"honeypot\":\"hp1\",\"honeywall\":{\"action\":\"dropped\","
         "\"direction\":\"outbound\",\"reason\":\"budget_exhausted\"}}\n";
  }
  auto idx = EventIndex::Load(dir);
  unlink((dir + "/events.json").c_str());
  rmdir(dir.c_str());
  ASSERT_TRUE(idx.ok());
  FlowSummaryOptions o;
  o.events = &*idx;
  auto flows = SummarizeFrames({{kS, Tcp(true, kSyn)}, {2 * kS, Udp(true, "x")}}, o);
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_TRUE(flows[0].has_verdict);
  EXPECT_EQ(flows[0].flow_id, 99u);
  EXPECT_EQ(flows[0].honeypot, "hp1");
  EXPECT_EQ(flows[0].action, "dropped");
  EXPECT_EQ(flows[0].reason, "budget_exhausted");
  EXPECT_EQ(flows[0].direction, "outbound");
  EXPECT_FALSE(flows[1].has_verdict);
}

TEST(FlowSummaryTest, IpUnderOtherLinkTypes) {
  std::vector<FlowRecord> out;
  FlowSummarizer s({}, [&](FlowRecord&& r) { out.push_back(std::move(r)); });
  const auto eth = Udp(true, "hello");
  const std::vector<uint8_t> ip(eth.begin() + 14, eth.end());
  s.Add(kS, 101, ip.data(), uint32_t(ip.size()), uint32_t(ip.size()));  // raw IP
  std::vector<uint8_t> sll(16, 0);
  sll[14] = 0x08;
  sll.insert(sll.end(), ip.begin(), ip.end());
  s.Add(2 * kS, 113, sll.data(), uint32_t(sll.size()), uint32_t(sll.size()));  // Linux cooked
  std::vector<uint8_t> loop = {2, 0, 0, 0};
  loop.insert(loop.end(), ip.begin(), ip.end());
  s.Add(3 * kS, 0, loop.data(), uint32_t(loop.size()), uint32_t(loop.size()));  // BSD loopback
  const uint8_t junk[20] = {0x45};
  s.Add(4 * kS, 147, junk, sizeof junk, sizeof junk);  // a user DLT: not known here
  s.Add(5 * kS, 101, junk, 0, 0);                      // empty raw frame
  s.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].pkts[0], 3u);
  EXPECT_EQ(out[0].bytes[0], ip.size() + sll.size() + loop.size());
  EXPECT_EQ(out[0].key.dport, 53);
  EXPECT_EQ(s.totals().non_ip, 2u);
}

}  // namespace
}  // namespace hn
