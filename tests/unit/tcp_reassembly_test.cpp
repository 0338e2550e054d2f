// TcpReassembler: streams rebuilt from crafted segments in capture order.
#include "analysis/tcp_reassembly.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace hn {
namespace {

constexpr uint8_t kA = 0x10, kS = 0x02, kF = 0x01, kR = 0x04, kP = 0x08;

// An Ethernet/IPv4/TCP frame (checksums left 0: the reassembler reads like tshark, without checking them).
std::vector<uint8_t> Frame(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
                           uint32_t seq, uint32_t ack, const std::string& payload) {
  std::vector<uint8_t> f(14 + 20 + 20 + payload.size());
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  const uint16_t total = uint16_t(40 + payload.size());
  ip[2] = uint8_t(total >> 8);
  ip[3] = uint8_t(total);
  ip[8] = 64;
  ip[9] = 6;
  unsigned a, b, c, d;
  std::sscanf(src, "%u.%u.%u.%u", &a, &b, &c, &d);
  ip[12] = uint8_t(a); ip[13] = uint8_t(b); ip[14] = uint8_t(c); ip[15] = uint8_t(d);
  std::sscanf(dst, "%u.%u.%u.%u", &a, &b, &c, &d);
  ip[16] = uint8_t(a); ip[17] = uint8_t(b); ip[18] = uint8_t(c); ip[19] = uint8_t(d);
  uint8_t* t = ip + 20;
  t[0] = uint8_t(sport >> 8); t[1] = uint8_t(sport);
  t[2] = uint8_t(dport >> 8); t[3] = uint8_t(dport);
  for (int i = 0; i < 4; i++) t[4 + i] = uint8_t(seq >> (24 - 8 * i));
  for (int i = 0; i < 4; i++) t[8 + i] = uint8_t(ack >> (24 - 8 * i));
  t[12] = 5 << 4;
  t[13] = flags;
  t[14] = 0xff; t[15] = 0xff;
  std::memcpy(t + 20, payload.data(), payload.size());
  return f;
}

struct Event {
  char kind;  // 'D' data, 'G' gap, 'S' start, 'E' end
  uint64_t serial;
  int side;
  std::string data;
  uint64_t gap = 0;
  int64_t ts = 0;
};

class Collect : public TcpStreamSink {
 public:
  bool OnStart(const TcpStreamInfo& s) override {
    events.push_back({'S', s.serial, 0, s.key.SrcString() + ":" + std::to_string(s.key.sport), 0, s.first_ns});
    return ignore_port == 0 || s.key.dport != ignore_port;
  }
  void OnData(const TcpStreamInfo& s, TcpSide side, int64_t ts, const uint8_t* d, size_t n) override {
    events.push_back({'D', s.serial, SideIndex(side), std::string(reinterpret_cast<const char*>(d), n), 0, ts});
    text[s.serial][SideIndex(side)] += std::string(reinterpret_cast<const char*>(d), n);
  }
  void OnGap(const TcpStreamInfo& s, TcpSide side, int64_t ts, uint64_t len) override {
    events.push_back({'G', s.serial, SideIndex(side), "", len, ts});
    text[s.serial][SideIndex(side)] += "[gap " + std::to_string(len) + "]";
  }
  void OnEnd(const TcpStreamInfo& s, TcpEnd why) override {
    ends.push_back({s.serial, why});
    infos[s.serial] = s;
  }
  std::vector<Event> events;
  std::map<uint64_t, std::string[2]> text;
  std::vector<std::pair<uint64_t, TcpEnd>> ends;
  std::map<uint64_t, TcpStreamInfo> infos;
  uint16_t ignore_port = 0;
};

// A client 10.0.0.1:40000 and a server 10.0.0.2:23 with chosen ISNs.
class Conn {
 public:
  Conn(TcpReassembler* r, uint32_t cisn = 1000, uint32_t sisn = 5000, uint16_t cport = 40000)
      : r_(r), c_(cisn), s_(sisn), cport_(cport) {}
  void Handshake() {
    C(kS, c_, 0, "");
    S(kS | kA, s_, c_ + 1, "");
    C(kA, c_ + 1, s_ + 1, "");
  }
  // Client segment at offset off of its stream (0 = first data byte).
  void CData(uint32_t off, const std::string& d, uint8_t flags = kA | kP) { C(flags, c_ + 1 + off, s_ + 1, d); }
  void SData(uint32_t off, const std::string& d, uint8_t flags = kA | kP) { S(flags, s_ + 1 + off, c_ + 1, d); }
  void C(uint8_t flags, uint32_t seq, uint32_t ack, const std::string& d) {
    auto f = Frame("10.0.0.1", cport_, "10.0.0.2", 23, flags, seq, ack, d);
    r_->FeedFrame(1, f.data(), uint32_t(f.size()), ts_ += 1000);
  }
  void S(uint8_t flags, uint32_t seq, uint32_t ack, const std::string& d) {
    auto f = Frame("10.0.0.2", 23, "10.0.0.1", cport_, flags, seq, ack, d);
    r_->FeedFrame(1, f.data(), uint32_t(f.size()), ts_ += 1000);
  }
  uint32_t cisn() const { return c_; }
  uint32_t sisn() const { return s_; }
  int64_t ts_ = 1'000'000'000;

 private:
  TcpReassembler* r_;
  uint32_t c_, s_;
  uint16_t cport_;
};

TEST(TcpReassembly, InOrderBothDirections) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.SData(0, "login: ");
  c.CData(0, "root\r\n");
  c.SData(7, "Password: ");
  c.C(kF | kA, c.cisn() + 7, c.sisn() + 18, "");
  c.S(kF | kA, c.sisn() + 18, c.cisn() + 8, "");
  r.Finish();
  ASSERT_EQ(sink.ends.size(), 1u);
  EXPECT_EQ(sink.text[1][0], "root\r\n");
  EXPECT_EQ(sink.text[1][1], "login: Password: ");
  const TcpStreamInfo& s = sink.infos[1];
  EXPECT_EQ(s.key.SrcString(), "10.0.0.1");
  EXPECT_EQ(s.key.dport, 23);
  EXPECT_TRUE(s.saw_syn && s.saw_synack && s.closed());
  EXPECT_EQ(s.bytes[0], 6u);
  EXPECT_EQ(s.bytes[1], 17u);
  EXPECT_EQ(s.packets[0], 4u);
  EXPECT_EQ(s.packets[1], 4u);
  EXPECT_EQ(s.gap_bytes[0] + s.gap_bytes[1], 0u);
  EXPECT_EQ(s.community_id.substr(0, 2), "1:");
  EXPECT_EQ(r.stats().streams, 1u);
}

TEST(TcpReassembly, OutOfOrderHeldUntilTheGapFills) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(6, "ghi");
  c.CData(3, "def");
  EXPECT_EQ(sink.text[1][0], "");  // nothing before the first bytes arrive
  EXPECT_EQ(r.held_bytes(), 6u);
  c.CData(0, "abc");
  EXPECT_EQ(sink.text[1][0], "abcdefghi");
  EXPECT_EQ(r.held_bytes(), 0u);
  // each piece keeps the time of the packet that carried it
  std::vector<int64_t> ts;
  for (const Event& e : sink.events)
    if (e.kind == 'D') ts.push_back(e.ts);
  ASSERT_EQ(ts.size(), 3u);
  EXPECT_GT(ts[0], ts[1]);  // "abc" came last
  EXPECT_LT(ts[2], ts[1]);  // "ghi" came first
}

TEST(TcpReassembly, RetransmissionsDropped) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(0, "hello ");
  c.CData(0, "hello ");
  c.CData(6, "world");
  c.CData(6, "world");
  c.CData(0, "hello world");
  r.Finish();
  EXPECT_EQ(sink.text[1][0], "hello world");
  EXPECT_EQ(sink.infos[1].dup_bytes[0], 6u + 5u + 11u);
}

TEST(TcpReassembly, OverlapFirstCopyWins) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(0, "AAAA");
  c.CData(2, "XXYY");  // bytes 2..3 delivered already: only "YY" is new
  EXPECT_EQ(sink.text[1][0], "AAAAYY");
  // two held copies of the same bytes with different content: the earlier captured wins
  c.CData(10, "1111");
  c.CData(10, "2222");
  c.CData(8, "..3333");  // overlaps the held ones; starts earlier
  c.CData(6, "--");
  r.Finish();
  // next=8 after "--": "..3333" (arrived after "1111"/"2222" but they start later) fits first, then
  // "1111" ends at 14 like "..3333": nothing new; "2222" too.
  EXPECT_EQ(sink.text[1][0], "AAAAYY--..3333");
}

TEST(TcpReassembly, HeldOverlapsTakenInArrivalOrder) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(4, "first");   // 4..8
  c.CData(4, "SECOND!"); // 4..10: the same start, longer, different
  c.CData(0, "0123");
  r.Finish();
  // "first" is taken (arrival order), then the part of the second copy past it ("D!")
  EXPECT_EQ(sink.text[1][0], "0123firstD!");
}

TEST(TcpReassembly, SequenceWrap) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r, /*cisn=*/0xFFFFFFF0u, /*sisn=*/0xFFFFFFFEu);
  c.Handshake();
  std::string want;
  for (int i = 0; i < 8; i++) want += "chunk-" + std::to_string(i) + ";";
  // 64 bytes starting at 0xFFFFFFF1: crosses 2^32 at offset 15; sent out of order around the wrap
  const std::string a = want.substr(0, 10), b = want.substr(10, 12), d = want.substr(22);
  c.CData(22, d);
  c.CData(10, b);
  c.CData(0, a);
  c.SData(0, "server-after-wrap");  // server data starts at 0xFFFFFFFF: wraps at its second byte
  r.Finish();
  EXPECT_EQ(sink.text[1][0], want);
  EXPECT_EQ(sink.text[1][1], "server-after-wrap");
  EXPECT_EQ(sink.infos[1].gap_bytes[0], 0u);
}

TEST(TcpReassembly, AckPastAHoleMarksAGap) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(0, "abc");
  // "defg" (offset 3) was lost by the capture; the server acknowledges past it
  c.CData(7, "hij");
  c.S(kA, c.sisn() + 1, c.cisn() + 1 + 10, "");
  EXPECT_EQ(sink.text[1][0], "abc[gap 4]hij");
  const Event* gap = nullptr;
  for (const Event& e : sink.events)
    if (e.kind == 'G') gap = &e;
  ASSERT_NE(gap, nullptr);
  EXPECT_EQ(gap->gap, 4u);
  r.Finish();
  EXPECT_EQ(sink.infos[1].gap_bytes[0], 4u);
  EXPECT_EQ(sink.infos[1].gaps[0], 1u);
}

TEST(TcpReassembly, AckBelowTheHoleDoesNotMarkAGap) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(0, "abc");
  c.CData(7, "hij");
  c.S(kA, c.sisn() + 1, c.cisn() + 1 + 3, "");  // acks "abc" only
  EXPECT_EQ(sink.text[1][0], "abc");
  c.CData(3, "defg");  // the retransmission fills it
  EXPECT_EQ(sink.text[1][0], "abcdefghij");
}

TEST(TcpReassembly, HeldDataAtTheEndIsDeliveredAfterAGap) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(0, "abc");
  c.CData(5, "fgh");
  r.Finish();
  EXPECT_EQ(sink.text[1][0], "abc[gap 2]fgh");
  ASSERT_EQ(sink.ends.size(), 1u);
  EXPECT_EQ(sink.ends[0].second, TcpEnd::kEndOfInput);
}

TEST(TcpReassembly, HeldSegmentBoundForcesAGap) {
  Collect sink;
  TcpReassemblyLimits lim;
  lim.max_held_segments = 4;
  TcpReassembler r(&sink, lim);
  Conn c(&r);
  c.Handshake();
  // byte 0 never comes; 6 one-byte segments after it
  for (uint32_t i = 1; i <= 6; i++) c.CData(i * 2, std::string(1, char('a' + i)));
  EXPECT_LE(r.held_bytes(), 4u);
  EXPECT_GE(r.stats().forced_gaps, 1u);
  r.Finish();
  EXPECT_EQ(sink.text[1][0], "[gap 2]b[gap 1]c[gap 1]d[gap 1]e[gap 1]f[gap 1]g");
}

TEST(TcpReassembly, HeldByteBoundForcesAGap) {
  Collect sink;
  TcpReassemblyLimits lim;
  lim.max_held_bytes = 100;
  TcpReassembler r(&sink, lim);
  Conn c(&r);
  c.Handshake();
  c.CData(10, std::string(60, 'x'));
  c.CData(70, std::string(60, 'y'));  // 120 held > 100: the hole before "x" becomes a gap
  EXPECT_EQ(sink.text[1][0], "[gap 10]" + std::string(60, 'x') + std::string(60, 'y'));
  EXPECT_EQ(r.held_bytes(), 0u);
}

TEST(TcpReassembly, StreamTableBoundEvictsTheLeastRecent) {
  Collect sink;
  TcpReassemblyLimits lim;
  lim.max_streams = 2;
  TcpReassembler r(&sink, lim);
  Conn a(&r, 100, 200, 40001), b(&r, 300, 400, 40002), d(&r, 500, 600, 40003);
  a.Handshake();
  b.Handshake();
  a.CData(0, "a");  // a is now more recent than b
  d.Handshake();
  EXPECT_EQ(r.live_streams(), 2u);
  ASSERT_EQ(sink.ends.size(), 1u);
  EXPECT_EQ(sink.ends[0].first, 2u);  // b
  EXPECT_EQ(sink.ends[0].second, TcpEnd::kEvicted);
  EXPECT_EQ(r.stats().evicted, 1u);
}

TEST(TcpReassembly, NewSynOnTheSameTupleStartsANewStream) {
  Collect sink;
  TcpReassembler r(&sink);
  {
    Conn c(&r, 1000, 5000);
    c.Handshake();
    c.CData(0, "one");
    c.C(kR, c.cisn() + 4, 0, "");
  }
  Conn c2(&r, 90000, 70000);
  c2.ts_ += 10'000'000;
  c2.C(kS, 90000, 0, "");
  c2.C(kS, 90000, 0, "");  // a retransmitted SYN is the same stream
  c2.S(kS | kA, 70000, 90001, "");
  c2.CData(0, "two");
  r.Finish();
  ASSERT_EQ(sink.ends.size(), 2u);
  EXPECT_EQ(sink.ends[0].second, TcpEnd::kReused);
  EXPECT_EQ(sink.text[1][0], "one");
  EXPECT_EQ(sink.text[2][0], "two");
  EXPECT_EQ(sink.infos[1].community_id, sink.infos[2].community_id);
}

TEST(TcpReassembly, ClosedStreamEndsAfterItsLinger) {
  Collect sink;
  TcpReassemblyLimits lim;
  lim.closed_linger_ns = 5'000'000'000;
  TcpReassembler r(&sink, lim);
  Conn c(&r, 1000, 5000, 40001);
  c.Handshake();
  c.CData(0, "x");
  c.C(kR | kA, c.cisn() + 2, c.sisn() + 1, "");
  Conn later(&r, 7, 9, 40002);
  later.ts_ = c.ts_ + 2'000'000'000;
  later.Handshake();
  EXPECT_TRUE(sink.ends.empty());  // 2 s: still lingering
  later.ts_ += 4'000'000'000;
  later.CData(0, "y");
  ASSERT_EQ(sink.ends.size(), 1u);
  EXPECT_EQ(sink.ends[0].second, TcpEnd::kLinger);
}

TEST(TcpReassembly, MidStreamCaptureAndSynAckFirst) {
  Collect sink;
  TcpReassembler r(&sink);
  // no handshake: the first packet's sender is the client, its bytes start the stream
  Conn c(&r, 1000, 5000, 40001);
  c.CData(100, "mid");
  c.SData(50, "reply");
  // a SYN+ACK first: its receiver is the client
  Conn d(&r, 2000, 6000, 40002);
  d.S(kS | kA, 6000, 2001, "");
  d.CData(0, "hi");
  r.Finish();
  EXPECT_EQ(sink.text[1][0], "mid");
  EXPECT_EQ(sink.text[1][1], "reply");
  EXPECT_EQ(sink.infos[2].key.sport, 40002);
  EXPECT_EQ(sink.text[2][0], "hi");
  EXPECT_FALSE(sink.infos[2].saw_syn);
  EXPECT_TRUE(sink.infos[2].saw_synack);
}

TEST(TcpReassembly, FrameCutShortIsAGap) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  auto f = Frame("10.0.0.1", 40000, "10.0.0.2", 23, kA, c.cisn() + 1, c.sisn() + 1, "0123456789");
  r.FeedFrame(1, f.data(), uint32_t(f.size() - 4), 2'000'000'000);  // snap length: 4 bytes not captured
  c.CData(10, "next");
  r.Finish();
  EXPECT_EQ(sink.text[1][0], "012345[gap 4]next");
}

TEST(TcpReassembly, DataOnSynIsKept) {
  Collect sink;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.C(kS, c.cisn(), 0, "fastopen");
  c.S(kS | kA, c.sisn(), c.cisn() + 9, "");
  c.CData(8, "+more");
  r.Finish();
  EXPECT_EQ(sink.text[1][0], "fastopen+more");
}

TEST(TcpReassembly, IgnoredStreamsGetNoCallbacks) {
  Collect sink;
  sink.ignore_port = 23;
  TcpReassembler r(&sink);
  Conn c(&r);
  c.Handshake();
  c.CData(5, "held?");
  c.CData(0, "data!");
  r.Finish();
  EXPECT_TRUE(sink.text.empty());
  EXPECT_TRUE(sink.ends.empty());
  EXPECT_EQ(r.held_bytes(), 0u);
}

TEST(TcpReassembly, RawIpAndCookedLinkTypes) {
  Collect sink;
  TcpReassembler r(&sink);
  auto f = Frame("10.0.0.1", 40000, "10.0.0.2", 80, kS, 10, 0, "");
  r.FeedFrame(101, f.data() + 14, uint32_t(f.size() - 14), 1);  // raw IP
  auto g = Frame("10.0.0.1", 40000, "10.0.0.2", 80, kA, 11, 0, "GET /");
  std::vector<uint8_t> sll(16 + g.size() - 14);
  sll[14] = 0x08;  // protocol IPv4
  std::memcpy(sll.data() + 16, g.data() + 14, g.size() - 14);
  r.FeedFrame(113, sll.data(), uint32_t(sll.size()), 2);  // Linux cooked
  r.Finish();
  EXPECT_EQ(sink.text[1][0], "GET /");
  EXPECT_EQ(r.stats().streams, 1u);
}

TEST(TcpReassembly, NonTcpAndGarbageAreSkipped) {
  Collect sink;
  TcpReassembler r(&sink);
  std::vector<uint8_t> junk(10, 0xAB);
  r.FeedFrame(1, junk.data(), uint32_t(junk.size()), 1);
  auto f = Frame("10.0.0.1", 40000, "10.0.0.2", 80, kS, 10, 0, "");
  f[14 + 9] = 17;  // UDP now
  r.FeedFrame(1, f.data(), uint32_t(f.size()), 2);
  r.FeedFrame(999, f.data(), uint32_t(f.size()), 3);
  r.Finish();
  EXPECT_EQ(r.stats().streams, 0u);
  EXPECT_EQ(r.stats().frames, 3u);
}

}  // namespace
}  // namespace hn
