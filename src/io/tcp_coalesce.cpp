// TcpCoalescer: see tcp_coalesce.h for the rules and why they are GRO's.
#include "io/tcp_coalesce.h"

#include <algorithm>
#include <cstring>

#include "decode/checksum.h"

namespace hn {
namespace {

constexpr uint32_t kEth = 14;
constexpr uint32_t kIp = 20;                 // IPv4 without options: the only kind joined
constexpr uint32_t kTcpOff = kEth + kIp;     // 34
// The whole frame under 64 KiB: the kernel cuts (and, sent without a qdisc,
// drops) a super-segment whose skb is gso_max_size (65536 by default) or
// longer, and the Ethernet header counts there.
constexpr uint32_t kMaxFrameLen = 65535;

uint16_t Be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, uint16_t(v >> 16));
  Put16(p + 2, uint16_t(v));
}

}  // namespace

bool TcpCoalescer::Parse(const uint8_t* f, uint32_t len, TcpSegInfo* s, bool partial) {
  if (len < kTcpOff + 20) return false;
  if (f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45) return false;  // IPv4, no options
  const uint32_t ip_len = Be16(f + 16);
  if (ip_len < kIp + 20 || kEth + ip_len != len) return false;         // exact: no padding, no truncation
  if ((Be16(f + 20) & 0x3fff) != 0 || f[23] != 6) return false;        // not a fragment; TCP
  const uint32_t tcp_len = uint32_t(f[kTcpOff + 12] >> 4) * 4;
  if (tcp_len < 20 || kIp + tcp_len > ip_len) return false;
  const uint8_t flags = f[kTcpOff + 13];
  if (!(flags & kAck) || (flags & (kFin | kSyn | kRst | kUrg | kCwr))) return false;
  if (Be16(f + kTcpOff + 18) != 0) return false;  // urgent pointer
  if (kIp + tcp_len == ip_len) return false;        // no payload (an ACK): nothing to join
  // Both checksums as the receiver would check them: a bad one stays alone.
  if (Ipv4HeaderChecksum(f + kEth, kIp) != Be16(f + kEth + 10)) return false;
  if (!partial && L4ChecksumIpv4(f + 26, f + 30, 6, f + kTcpOff, ip_len - kIp) != Be16(f + kTcpOff + 16)) return false;
  s->tcp_off = kTcpOff;
  s->tcp_len = tcp_len;
  s->payload = ip_len - kIp - tcp_len;
  s->psh = (flags & kPsh) != 0;
  return true;
}

bool TcpCoalescer::Start(uint8_t* buf, uint32_t cap, const uint8_t* f, uint32_t len, const TcpSegInfo& s) {
  open_ = false;
  if (s.psh || s.payload < kMinPayload || len > cap) return false;
  std::memcpy(buf, f, len);
  buf_ = buf;
  cap_ = cap;
  len_ = len;
  segs_ = 1;
  gso_size_ = s.payload;
  tcp_off_ = s.tcp_off;
  tcp_len_ = s.tcp_len;
  next_seq_ = Be32(f + s.tcp_off + 4) + s.payload;
  next_id_ = uint16_t(Be16(f + 18) + 1);
  psh_ = false;
  ended_ = false;
  open_ = true;
  return true;
}

bool TcpCoalescer::Append(const uint8_t* f, uint32_t /*len*/, const TcpSegInfo& s) {
  if (!open_ || ended_) return false;
  const uint8_t* h = buf_;
  const uint32_t t = tcp_off_;
  if (s.tcp_len != tcp_len_ || s.payload > gso_size_) return false;
  if (len_ + s.payload > cap_ || len_ + s.payload > kMaxFrameLen) return false;
  if (std::memcmp(f, h, 12) != 0) return false;                                 // MACs
  if (f[15] != h[15] || Be16(f + 18) != next_id_) return false;                 // TOS; ID + 1
  if (std::memcmp(f + 20, h + 20, 4) != 0) return false;                        // DF/frag, TTL, protocol
  if (std::memcmp(f + 26, h + 26, 8) != 0) return false;                        // addresses
  if (std::memcmp(f + t, h + t, 4) != 0) return false;                          // ports
  if (Be32(f + t + 4) != next_seq_) return false;                               // right after the last
  if (std::memcmp(f + t + 8, h + t + 8, 5) != 0) return false;                  // ACK number, data offset
  if ((f[t + 13] & ~kPsh) != (h[t + 13] & ~kPsh)) return false;                // flags but PSH
  if (std::memcmp(f + t + 14, h + t + 14, 2) != 0) return false;                // window
  if (tcp_len_ > 20 && std::memcmp(f + t + 20, h + t + 20, tcp_len_ - 20) != 0) return false;  // options
  std::memcpy(buf_ + len_, f + t + tcp_len_, s.payload);
  len_ += s.payload;
  segs_++;
  next_seq_ += s.payload;
  next_id_++;
  if (s.psh) psh_ = true;
  if (s.psh || s.payload < gso_size_) ended_ = true;
  return true;
}

uint32_t TcpCoalescer::Finish(GsoInstr* g) {
  uint8_t* b = buf_;
  const uint32_t ip_len = len_ - kEth;
  Put16(b + 16, uint16_t(ip_len));
  Put16(b + 24, 0);
  Put16(b + 24, Ipv4HeaderChecksum(b + kEth, kIp));
  if (psh_) b[tcp_off_ + 13] |= kPsh;
  // The offload's starting value: the pseudo-header sum, not inverted.
  uint8_t pseudo[12];
  std::memcpy(pseudo, b + 26, 8);
  pseudo[8] = 0;
  pseudo[9] = 6;
  Put16(pseudo + 10, uint16_t(ip_len - kIp));
  Put16(b + tcp_off_ + 16, uint16_t(ChecksumPartial(pseudo, sizeof pseudo)));
  g->hdr_len = uint16_t(tcp_off_ + tcp_len_);
  g->gso_size = uint16_t(gso_size_);
  g->csum_start = uint16_t(tcp_off_);
  g->csum_offset = 16;
  g->segments = uint16_t(segs_);
  open_ = false;
  return len_;
}

uint32_t TcpCoalescer::CutSegment(const uint8_t* sup, uint32_t len, const GsoInstr& g, uint32_t i, uint8_t* out) {
  const uint32_t hdr = g.hdr_len;
  if (g.gso_size == 0 || hdr < g.csum_start + 20u || len <= hdr) return 0;
  const uint64_t off = uint64_t(i) * g.gso_size;
  if (off >= len - hdr) return 0;
  const uint32_t n = uint32_t(std::min<uint64_t>(g.gso_size, len - hdr - off));
  std::memcpy(out, sup, hdr);
  std::memcpy(out + hdr, sup + hdr + off, n);
  uint8_t* ip = out + kEth;
  Put16(ip + 2, uint16_t(hdr - kEth + n));
  Put16(ip + 4, uint16_t(Be16(sup + kEth + 4) + i));
  Put16(ip + 10, 0);
  Put16(ip + 10, Ipv4HeaderChecksum(ip, kIp));
  uint8_t* t = out + g.csum_start;
  Put32(t + 4, uint32_t(Be32(sup + g.csum_start + 4) + off));
  if (off + n != len - hdr) t[13] &= uint8_t(~(kPsh | kFin));  // as tcp_gso_segment: on the last only
  if (i > 0) t[13] &= uint8_t(~kCwr);                            // on the first only
  Put16(t + 16, 0);
  Put16(t + 16, L4ChecksumIpv4(ip + 12, ip + 16, 6, t, hdr - g.csum_start + n));
  return hdr + n;
}

uint32_t TcpCoalescer::Abandon() {
  open_ = false;
  return len_;
}

}  // namespace hn
