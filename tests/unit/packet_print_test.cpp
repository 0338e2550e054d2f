// Packet printing: the fields Dissect() reads from frames built by hand
// (Ethernet, VLAN/QinQ, ARP, IPv4 with fragments, IPv6, TCP, UDP, ICMP echo
// and errors), frames cut short anywhere (what is there is printed and
// marked), the text and JSON forms, the flow key against the wall's own
// decoder, time parsing and formatting, and random bytes that must not crash.
#include "analysis/packet_print.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

#include "decode/packet.h"
#include "flow/community_id.h"
#include "frames.h"

namespace hn {
namespace {

using namespace test;
using Bytes = std::vector<uint8_t>;
constexpr int64_t kT0 = 1795720083LL * 1'000'000'000 + 123'456'789;  // 2026-11-26T19:08:03.123456789Z

const Mac kA = M("02:00:00:00:00:0a"), kB = M("02:00:00:00:00:0b");

Bytes TcpFrame(uint8_t flags, const std::string& payload = "", uint16_t ip_id = 7) {
  Ip4Spec s;
  s.src = I("192.0.2.66");
  s.dst = I("10.0.0.2");
  s.proto = kProtoTcp;
  s.ttl = 57;
  s.id = ip_id;
  Bytes f = Ipv4Frame(kB, kA, s, TcpSeg(s.src, s.dst, 40001, 23, flags, payload, 1000));
  Store32(f.data() + 14 + 20 + 8, 5001);  // ack
  if (f.size() < 60) f.resize(60);  // Ethernet's minimum, as on the wire
  return f;
}

struct Printed {
  Dissection d;
  std::string text;
  nlohmann::json json;
};

Printed Print(const Bytes& f, uint32_t wire_len = 0, int linktype = 1) {
  Printed p;
  SetRecord r;
  r.rec.ts_ns = kT0;
  r.rec.caplen = uint32_t(f.size());
  r.rec.len = wire_len ? wire_len : uint32_t(f.size());
  r.rec.data = f.data();
  r.linktype = linktype;
  r.index = 1;
  Dissect(f.data(), r.rec.caplen, r.rec.len, linktype, &p.d);
  FormatText(r, p.d, PrintOptions{}, &p.text);
  std::string js;
  FormatJson(r, p.d, PrintOptions{}, &js);
  EXPECT_EQ(js.back(), '\n');
  p.json = nlohmann::json::parse(js);
  return p;
}

TEST(PacketPrintTest, TcpSegmentFieldsTextAndJson) {
  const Printed p = Print(TcpFrame(kPsh | kAck, "login: "));
  EXPECT_EQ(p.d.net, Dissection::Net::kIpv4);
  EXPECT_EQ(p.d.transport, Dissection::Transport::kTcp);
  EXPECT_FALSE(p.d.truncated());
  EXPECT_NE(p.text.find("#1 2026-11-26T19:08:03.123456789Z"), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("eth   02:00:00:00:00:0a > 02:00:00:00:00:0b  type IPv4 (0x0800)"), std::string::npos)
      << p.text;
  EXPECT_NE(p.text.find("ip    192.0.2.66 > 10.0.0.2  ttl 57  id 7"), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("tcp   40001 > 23  [PSH,ACK]  seq 1000  ack 5001"), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("6c 6f 67 69 6e 3a 20"), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("login: "), std::string::npos);
  EXPECT_EQ(p.text.find("[truncated]"), std::string::npos);

  EXPECT_EQ(p.json["ts_epoch"], "1795720083.123456789");
  EXPECT_EQ(p.json["ip"]["src"], "192.0.2.66");
  EXPECT_EQ(p.json["ip"]["ttl"], 57);
  EXPECT_EQ(p.json["tcp"]["sport"], 40001);
  EXPECT_EQ(p.json["tcp"]["flags"], kPsh | kAck);
  EXPECT_EQ(p.json["tcp"]["flags_text"], "PSH,ACK");
  EXPECT_EQ(p.json["tcp"]["payload_len"], 7);
  EXPECT_EQ(p.json["payload_hex"], "6c6f67696e3a20");
  EXPECT_EQ(p.json["truncated"], false);
}

TEST(PacketPrintTest, EthernetPaddingIsNotPayload) {
  const Printed p = Print(TcpFrame(kSyn));  // 54 bytes padded to 60
  EXPECT_EQ(p.d.payload_len, 0u);
  EXPECT_EQ(p.json["tcp"]["payload_len"], 0);
  EXPECT_EQ(p.text.find("data"), std::string::npos) << p.text;
}

TEST(PacketPrintTest, FlowKeyAndCommunityIdMatchTheWallsDecoder) {
  std::vector<Bytes> frames = {TcpFrame(kSyn), Arp(kA, kA, 1, I("10.0.0.1"), Mac{}, I("10.0.0.2"))};
  Ip4Spec s;
  s.src = I("10.0.0.2");
  s.dst = I("192.0.2.20");
  s.proto = kProtoUdp;
  frames.push_back(Ipv4Frame(kA, kB, s, UdpDgram(s.src, s.dst, 5000, 53, "q")));
  s.proto = kProtoIcmp;
  frames.push_back(Ipv4Frame(kA, kB, s, IcmpMsg(8, 0, 0x1234, 1, Bytes{1, 2, 3, 4})));
  frames.push_back(Ipv4Frame(kA, kB, s, IcmpMsg(0, 0, 0x1234, 1, Bytes{1, 2, 3, 4})));
  frames.push_back(Ipv4Frame(kA, kB, s, IcmpMsg(3, 1, 0, 0, Bytes{})));
  for (const Bytes& f : frames) {
    Dissection d;
    Dissect(f.data(), uint32_t(f.size()), uint32_t(f.size()), 1, &d);
    Bytes copy = f;
    Packet pkt;
    Decode(copy.data(), uint32_t(copy.size()), &pkt);
    FlowKey mine;
    const bool ip = DissectionFlowKey(d, &mine);
    EXPECT_EQ(ip, pkt.is_ipv4() || pkt.is_ipv6());
    if (!ip) {
      EXPECT_EQ(DissectionCommunityId(d), "");
      continue;
    }
    const FlowKey wall = MakeFlowKey(pkt);
    EXPECT_TRUE(mine == wall);
    EXPECT_EQ(DissectionCommunityId(d), CommunityId(wall, 0, pkt.icmp_type, pkt.icmp_code));
  }
  // Echo request and reply are one flow.
  Dissection req, rep;
  Dissect(frames[3].data(), uint32_t(frames[3].size()), uint32_t(frames[3].size()), 1, &req);
  Dissect(frames[4].data(), uint32_t(frames[4].size()), uint32_t(frames[4].size()), 1, &rep);
  EXPECT_EQ(req.icmp_id, 0x1234);
  EXPECT_EQ(req.icmp_seq, 1);
}

TEST(PacketPrintTest, VlanAndQinQTags) {
  Bytes f = TcpFrame(kSyn);
  // insert an 802.1ad tag (id 100) and an 802.1Q tag (id 20, pcp 5) after the MACs
  const Bytes tags = {0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0xa0, 0x14};
  f.insert(f.begin() + 12, tags.begin(), tags.end());
  const Printed p = Print(f);
  ASSERT_EQ(p.d.vlan_count, 2);
  EXPECT_EQ(p.d.vlan[0].tpid, kEthQinQ);
  EXPECT_EQ(p.d.vlan[0].id, 100);
  EXPECT_EQ(p.d.vlan[1].id, 20);
  EXPECT_EQ(p.d.vlan[1].pcp, 5);
  EXPECT_EQ(p.d.transport, Dissection::Transport::kTcp);
  EXPECT_NE(p.text.find("vlan 100 (tpid 0x88a8)  vlan 20 pcp 5  type IPv4"), std::string::npos) << p.text;
  EXPECT_EQ(p.json["eth"]["vlan"][1]["id"], 20);
}

TEST(PacketPrintTest, ArpRequest) {
  const Printed p = Print(Arp(M("ff:ff:ff:ff:ff:ff"), kA, 1, I("10.0.0.1"), Mac{}, I("10.0.0.2")));
  EXPECT_EQ(p.d.net, Dissection::Net::kArp);
  EXPECT_NE(p.text.find("arp   request  10.0.0.1 (02:00:00:00:00:0a) > 10.0.0.2 (00:00:00:00:00:00)"),
            std::string::npos)
      << p.text;
  EXPECT_EQ(p.json["arp"]["op"], 1);
  EXPECT_EQ(p.json["arp"]["tpa"], "10.0.0.2");
  EXPECT_EQ(p.d.payload_len, 0u);  // the rest is padding
}

TEST(PacketPrintTest, IcmpErrorShowsTheQuotedDatagram) {
  Ip4Spec in;
  in.src = I("10.0.0.2");
  in.dst = I("192.0.2.20");
  in.proto = kProtoUdp;
  const Bytes quoted = Ipv4Frame(kA, kB, in, UdpDgram(in.src, in.dst, 33434, 33435, "xxxxxxxx"));
  Ip4Spec out;
  out.src = I("192.0.2.20");
  out.dst = I("10.0.0.2");
  out.proto = kProtoIcmp;
  const Bytes body(quoted.begin() + 14, quoted.begin() + 14 + 28);
  const Printed p = Print(Ipv4Frame(kB, kA, out, IcmpMsg(3, 3, 0, 0, body)));
  EXPECT_TRUE(p.d.has_inner);
  EXPECT_NE(p.text.find("destination unreachable (type 3 code 3)  quoting 10.0.0.2:33434 > 192.0.2.20:33435 UDP"),
            std::string::npos)
      << p.text;
  EXPECT_EQ(p.json["icmp"]["inner"]["dport"], 33435);
}

TEST(PacketPrintTest, Ipv4FragmentsFirstHasPortsLaterOnlyData) {
  Bytes first = TcpFrame(kSyn);
  first[14 + 6] = 0x20;  // MF, offset 0
  Printed p = Print(first);
  EXPECT_TRUE(p.d.is_fragment);
  EXPECT_TRUE(p.d.has_l4);
  EXPECT_NE(p.text.find("flags MF  frag offset 0"), std::string::npos) << p.text;

  Bytes later = TcpFrame(kSyn);
  later[14 + 6] = 0x00;
  later[14 + 7] = 0x03;  // offset 24 bytes, last fragment
  p = Print(later);
  EXPECT_EQ(p.d.transport, Dissection::Transport::kNone);
  EXPECT_FALSE(p.d.has_l4);
  EXPECT_EQ(p.json["ip"]["frag_offset"], 24);
  EXPECT_FALSE(p.json.contains("tcp"));
  EXPECT_EQ(p.d.payload_len, 20u);  // the "TCP header" bytes are fragment data here
  FlowKey k;
  ASSERT_TRUE(DissectionFlowKey(p.d, &k));
  EXPECT_EQ(k.sport, 0);
}

TEST(PacketPrintTest, Ipv6UdpAndIcmpv6Echo) {
  Bytes f = Eth(kB, kA, kEthIpv6);
  const uint8_t hdr[40] = {0x60, 0, 0, 0, 0, 13, kProtoIcmpv6, 255,
                           0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66,
                           0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  f.insert(f.end(), hdr, hdr + 40);
  const uint8_t echo[13] = {128, 0, 0, 0, 0, 7, 0, 3, 'p', 'i', 'n', 'g', '6'};
  f.insert(f.end(), echo, echo + 13);
  const Printed p = Print(f);
  EXPECT_EQ(p.d.net, Dissection::Net::kIpv6);
  EXPECT_NE(p.text.find("ip6   2001:db8::66 > fd00::2  hlim 255  len 13  next ICMPv6"), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("icmp6 echo request (type 128 code 0)  id 7  seq 3"), std::string::npos) << p.text;
  EXPECT_EQ(p.json["icmp6"]["id"], 7);
  EXPECT_EQ(p.json["ip"]["version"], 6);
}

TEST(PacketPrintTest, CaptureShortOfTheWireIsMarkedAndPrintsWhatIsThere) {
  const Bytes full = TcpFrame(kPsh | kAck, std::string(1000, 'Z'));
  // cut in the payload
  Printed p = Print(Bytes(full.begin(), full.begin() + 100), uint32_t(full.size()));
  EXPECT_TRUE(p.d.truncated());
  EXPECT_EQ(p.d.payload_len, 46u);
  EXPECT_EQ(p.d.payload_wire_len, 1000u);
  EXPECT_NE(p.text.find("1054 bytes (captured 100) [truncated]"), std::string::npos) << p.text;
  EXPECT_NE(p.text.find("46 bytes of 1000 [truncated]"), std::string::npos) << p.text;
  EXPECT_EQ(p.json["tcp"]["payload_len"], 1000);
  EXPECT_EQ(p.json["payload_len"], 46);

  // cut inside the TCP header: the ports are there, nothing after them
  p = Print(Bytes(full.begin(), full.begin() + 40), uint32_t(full.size()));
  EXPECT_STREQ(p.d.cut_layer, "tcp");
  EXPECT_NE(p.text.find("tcp   40001 > 23 [truncated] (tcp cut short)"), std::string::npos) << p.text;
  EXPECT_EQ(p.json["tcp"]["sport"], 40001);
  EXPECT_FALSE(p.json["tcp"].contains("seq"));
  FlowKey k;
  ASSERT_TRUE(DissectionFlowKey(p.d, &k));  // as the wall: no L4, no ports
  EXPECT_EQ(k.sport, 0);

  // cut inside the IPv4 header: its first 6 bytes
  p = Print(Bytes(full.begin(), full.begin() + 20), uint32_t(full.size()));
  EXPECT_STREQ(p.d.cut_layer, "ipv4");
  EXPECT_EQ(p.json["ip"]["id"], 7);
  EXPECT_FALSE(p.json["ip"].contains("src"));
  EXPECT_FALSE(DissectionFlowKey(p.d, &k));

  // cut inside the Ethernet header
  p = Print(Bytes(full.begin(), full.begin() + 9), uint32_t(full.size()));
  EXPECT_STREQ(p.d.cut_layer, "ethernet");
  EXPECT_NE(p.text.find("[truncated]"), std::string::npos);
  EXPECT_EQ(p.d.payload_len, 9u);
}

TEST(PacketPrintTest, HeadersThatLieAreNamed) {
  Bytes f = TcpFrame(kSyn);
  f[14] = 0x43;  // IHL 3
  Printed p = Print(f);
  ASSERT_NE(p.d.problem, nullptr);
  EXPECT_NE(p.text.find("IHL"), std::string::npos) << p.text;
  f = TcpFrame(kSyn);
  f[14 + 20 + 12] = 0x20;  // TCP data offset 2
  p = Print(f);
  ASSERT_NE(p.d.problem, nullptr);
  EXPECT_NE(std::string(p.d.problem).find("data offset"), std::string::npos);
}

TEST(PacketPrintTest, OtherLinkTypes) {
  const Bytes eth = TcpFrame(kSyn);
  const Bytes raw(eth.begin() + 14, eth.begin() + 54);
  Printed p = Print(raw, 0, 12);  // DLT_RAW
  EXPECT_EQ(p.d.link, Dissection::Link::kRaw);
  EXPECT_EQ(p.json["tcp"]["dport"], 23);
  Bytes sll(16, 0);
  sll[14] = 0x08;  // protocol IPv4
  sll.insert(sll.end(), raw.begin(), raw.end());
  p = Print(sll, 0, 113);
  EXPECT_EQ(p.d.link, Dissection::Link::kSll);
  EXPECT_EQ(p.json["ip"]["dst"], "10.0.0.2");
  p = Print(raw, 0, 147);  // a link type we do not decode: bytes only
  EXPECT_EQ(p.d.link, Dissection::Link::kUnknown);
  EXPECT_EQ(p.d.payload_len, raw.size());
  EXPECT_NE(p.text.find("linktype 147 (not decoded)"), std::string::npos);
}

TEST(PacketPrintTest, FrameHexAndColour) {
  const Bytes f = TcpFrame(kSyn);
  SetRecord r;
  r.rec.ts_ns = kT0;
  r.rec.caplen = r.rec.len = uint32_t(f.size());
  r.rec.data = f.data();
  Dissection d;
  Dissect(f.data(), r.rec.caplen, r.rec.len, 1, &d);
  PrintOptions o;
  o.frame_hex = true;
  std::string text;
  FormatText(r, d, o, &text);
  EXPECT_NE(text.find("frame 60 bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("0030  "), std::string::npos);
  EXPECT_EQ(text.find("\x1b["), std::string::npos);
  o.colour = true;
  text.clear();
  FormatText(r, d, o, &text);
  EXPECT_NE(text.find("\x1b["), std::string::npos);
}

TEST(PacketPrintTest, RandomBytesAndEveryCutNeverCrash) {
  std::mt19937 rng(6);
  std::vector<Bytes> seeds = {TcpFrame(kPsh | kAck, "hello"), Arp(kA, kA, 2, I("1.2.3.4"), kB, I("5.6.7.8"))};
  std::string out;
  for (int round = 0; round < 20000; round++) {
    Bytes f = seeds[size_t(round) % seeds.size()];
    const int flips = 1 + int(rng() % 6);
    for (int i = 0; i < flips; i++) f[rng() % f.size()] = uint8_t(rng());
    f.resize(rng() % (f.size() + 1));
    for (const int lt : {1, 12, 113, 276, 0, 228, 229}) {
      Dissection d;
      Dissect(f.data(), uint32_t(f.size()), uint32_t(f.size() + rng() % 3), lt, &d);
      ASSERT_LE(size_t(d.payload_off) + d.payload_len, f.size());
      SetRecord r;
      r.rec.data = f.data();
      r.rec.caplen = uint32_t(f.size());
      r.rec.len = r.rec.caplen;
      out.clear();
      FormatText(r, d, PrintOptions{}, &out);
      out.clear();
      FormatJson(r, d, PrintOptions{}, &out);
      ASSERT_NO_THROW((void)nlohmann::json::parse(out)) << out;
    }
  }
}

TEST(PacketPrintTest, TimeFormatting) {
  std::string s;
  AppendUtc(kT0, 9, &s);
  EXPECT_EQ(s, "2026-11-26T19:08:03.123456789Z");
  s.clear();
  AppendUtc(kT0, 6, &s);
  EXPECT_EQ(s, "2026-11-26T19:08:03.123456Z");
  s.clear();
  AppendUtc(-1, 3, &s);  // before the epoch
  EXPECT_EQ(s, "1969-12-31T23:59:59.999Z");
  s.clear();
  AppendTcpFlags(kAck | kSyn | kFin | kCwr, &s);
  EXPECT_EQ(s, "SYN,FIN,ACK,CWR");
}

TEST(PacketPrintTest, ParseTimeArgForms) {
  const int64_t sec = 1795720083LL * 1'000'000'000;
  EXPECT_EQ(*ParseTimeArg("2026-11-26T19:08:03Z"), sec);
  EXPECT_EQ(*ParseTimeArg("2026-11-26T19:08:03.123456789Z"), kT0);
  EXPECT_EQ(*ParseTimeArg("2026-11-26T19:08:03.5Z"), sec + 500'000'000);
  EXPECT_EQ(*ParseTimeArg("2026-11-26 19:08:03"), sec);
  EXPECT_EQ(*ParseTimeArg("2026-11-26T19:08:03+00:00"), sec);
  EXPECT_EQ(*ParseTimeArg("2026-11-26"), sec - (19 * 3600 + 8 * 60 + 3) * 1'000'000'000LL);
  EXPECT_EQ(*ParseTimeArg("1795720083"), sec);
  EXPECT_EQ(*ParseTimeArg("1795720083.25"), sec + 250'000'000);
  EXPECT_EQ(*ParseTimeArg("1970-01-01T00:00:00Z"), 0);
  for (const char* bad : {"", "yesterday", "2026-13-01T00:00:00Z", "2026-11-26T25:00:00Z", "12.", "1.1234567890",
                          "2026-11-26T19:08:03+01:00", "2026-11-26T19:08"}) {
    const auto r = ParseTimeArg(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(ParseTimeArg("x").status().message().find("2026-11-26T19:08:03Z"), std::string::npos);
}

}  // namespace
}  // namespace hn
