// fuzz_seed: writes the seed corpus of every fuzz target (fuzz/corpus/<target>/)
// from the unit tests' frame builders (tests/unit/frames.h) and the project's
// own PcapWriter, so that each target starts from real, well-formed inputs and
// the fuzzer spends its time on the interesting edges instead of on finding a
// valid Ethernet header. The byte layouts follow the harnesses' input formats
// (fuzz/harness/*.h). Deterministic: the same files every run.
//
//   ninja -C build-fuzz fuzz_seed && build-fuzz/fuzz_seed fuzz/corpus [examples/]
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "capture/pcap_writer.h"
#include "config/config.h"
#include "frames.h"

namespace hn {
namespace {

using Bytes = std::vector<uint8_t>;
using namespace hn::test;

std::string g_root;

void Write(const std::string& target, const std::string& name, const Bytes& b) {
  const std::string dir = g_root + "/" + target;
  mkdir(g_root.c_str(), 0755);
  mkdir(dir.c_str(), 0755);
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  if (!f) {
    std::fprintf(stderr, "fuzz_seed: cannot write %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
}

void Append(Bytes& b, const Bytes& x) { b.insert(b.end(), x.begin(), x.end()); }

const Mac kHp = M("52:54:00:00:00:02");
const Mac kOut = M("02:00:00:00:00:99");

// ---- decode: frames -------------------------------------------------------------------

Bytes WithTags(Bytes f, std::initializer_list<uint16_t> tpids) {
  Bytes tags;
  for (uint16_t t : tpids) {
    tags.push_back(uint8_t(t >> 8));
    tags.push_back(uint8_t(t));
    tags.push_back(0x00);
    tags.push_back(0x05);
  }
  f.insert(f.begin() + 12, tags.begin(), tags.end());
  return f;
}

// IPv6 with the given next header and body (extension headers included in body).
Bytes Ipv6(uint8_t nh, const Bytes& body) {
  Bytes f = Eth(kOut, kHp, kEthIpv6);
  Bytes ip(40, 0);
  ip[0] = 0x60;
  Store16(ip.data() + 4, uint16_t(body.size()));
  ip[6] = nh;
  ip[7] = 64;
  const uint8_t prefix[4] = {0x20, 0x01, 0x0d, 0xb8};  // 2001:db8::1 -> 2001:db8::2
  std::copy(prefix, prefix + 4, ip.begin() + 8);
  std::copy(prefix, prefix + 4, ip.begin() + 24);
  ip[23] = 1;
  ip[39] = 2;
  Append(f, ip);
  Append(f, body);
  return f;
}

Bytes Tcp6(uint8_t flags) {
  Bytes t(20, 0);
  Store16(t.data(), 40000);
  Store16(t.data() + 2, 80);
  t[12] = 5 << 4;
  t[13] = flags;
  return t;
}

// IPv4 with options: the TCP SYN frame with a 4-byte NOP/EOL option block.
Bytes WithIpOptions(Bytes f) {
  const uint8_t opts[4] = {1, 1, 1, 0};
  f.insert(f.begin() + 34, opts, opts + 4);
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x46;
  Store16(ip + 2, uint16_t(Load16(ip + 2) + 4));
  Store16(ip + 10, 0);
  Store16(ip + 10, Ipv4HeaderChecksum(ip, 24));
  return f;
}

std::vector<std::pair<std::string, Bytes>> Frames() {
  const Ip4 a = I("192.0.2.10"), b = I("198.51.100.7"), dns = I("192.0.2.53");
  std::vector<std::pair<std::string, Bytes>> v;
  Ip4Spec tcp{a, b};
  v.push_back({"tcp_syn", Ipv4Frame(kOut, kHp, tcp, TcpSeg(a, b, 40000, 80, kSyn))});
  v.push_back({"tcp_psh_payload", Ipv4Frame(kOut, kHp, tcp, TcpSeg(a, b, 40000, 80, kAck | kPsh, "GET / HTTP/1.0\r\n\r\n"))});
  v.push_back({"tcp_fin_ack", Ipv4Frame(kHp, kOut, Ip4Spec{b, a}, TcpSeg(b, a, 80, 40000, kFin | kAck))});
  Ip4Spec udp{a, dns, kProtoUdp};
  v.push_back({"udp_dns", Ipv4Frame(kOut, kHp, udp, UdpDgram(a, dns, 5353, 53, std::string("\x12\x34\x01\x00\x00\x01", 6)))});
  v.push_back({"udp_zero_csum", Ipv4Frame(kOut, kHp, udp, UdpDgram(a, dns, 68, 67, "dhcp", true))});
  Ip4Spec icmp{a, b, kProtoIcmp};
  v.push_back({"icmp_echo", Ipv4Frame(kOut, kHp, icmp, IcmpMsg(8, 0, 0x1234, 1, {'p', 'i', 'n', 'g'}))});
  {
    Bytes inner = Ipv4Frame(kOut, kHp, tcp, TcpSeg(a, b, 40000, 80, kSyn));
    Bytes quote(inner.begin() + 14, inner.begin() + 14 + 28);
    v.push_back({"icmp_unreach_quote", Ipv4Frame(kHp, kOut, Ip4Spec{b, a, kProtoIcmp}, IcmpMsg(3, 3, 0, 0, quote))});
  }
  v.push_back({"arp_request", Arp(M("ff:ff:ff:ff:ff:ff"), kHp, 1, a, Mac{}, I("192.0.2.1"))});
  v.push_back({"vlan_tcp", WithTags(v[0].second, {kEthVlan})});
  v.push_back({"qinq_tcp", WithTags(v[0].second, {kEthQinQ, kEthVlan})});
  v.push_back({"ipv4_options", WithIpOptions(v[0].second)});
  Ip4Spec frag{a, b, kProtoUdp};
  frag.id = 77;
  frag.mf = true;
  v.push_back({"ipv4_frag_first", Ipv4Frame(kOut, kHp, frag, UdpDgram(a, b, 4000, 4001, std::string(24, 'x')))});
  frag.mf = false;
  frag.frag_off_bytes = 32;
  v.push_back({"ipv4_frag_later", Ipv4Frame(kOut, kHp, frag, Bytes(16, 'y'))});
  v.push_back({"ipv6_tcp_syn", Ipv6(kProtoTcp, Tcp6(kSyn))});
  {
    Bytes body = {kProtoUdp, 0, 0, 0, 0, 0, 0, 0};         // hop-by-hop, 8 bytes
    const Bytes fragh = {44 /*unused*/, 0, 0x00, 0x01, 0, 0, 0, 9};  // fragment header (first, MF)
    body[0] = 44;                                           // hop-by-hop -> fragment
    Bytes fh = fragh;
    fh[0] = kProtoUdp;
    Append(body, fh);
    Bytes u = {0x0f, 0xa0, 0x00, 0x35, 0x00, 0x0c, 0, 0, 'a', 'b', 'c', 'd'};
    Append(body, u);
    v.push_back({"ipv6_hbh_frag_udp", Ipv6(0, body)});
    Bytes later = {kProtoUdp, 0, 0x00, 0x20, 0, 0, 0, 9};
    Append(later, Bytes(16, 'z'));
    v.push_back({"ipv6_frag_later", Ipv6(44, later)});
  }
  {
    Bytes inner6 = Ipv6(kProtoUdp, {0x0f, 0xa0, 0x00, 0x35, 0x00, 0x08, 0, 0});
    Bytes err = {1, 4, 0, 0, 0, 0, 0, 0};
    err.insert(err.end(), inner6.begin() + 14, inner6.end());
    v.push_back({"icmpv6_unreach_quote", Ipv6(kProtoIcmpv6, err)});
    v.push_back({"icmpv6_echo", Ipv6(kProtoIcmpv6, {128, 0, 0, 0, 0x12, 0x34, 0, 1})});
  }
  {
    Ip4Spec sctp{a, b, 132};
    Bytes s(16, 0);
    Store16(s.data(), 5000);
    Store16(s.data() + 2, 5001);
    v.push_back({"sctp", Ipv4Frame(kOut, kHp, sctp, s)});
    Ip4Spec gre{a, b, 47};
    v.push_back({"gre", Ipv4Frame(kOut, kHp, gre, Bytes(8, 0))});
  }
  {
    Bytes small = Ipv4Frame(kOut, kHp, udp, UdpDgram(a, dns, 1, 2, ""));
    small.resize(60, 0);  // Ethernet padding past the IP datagram
    v.push_back({"udp_padded", small});
    Bytes lldp = Eth(M("01:80:c2:00:00:0e"), kOut, 0x88cc);
    lldp.resize(60, 0);
    v.push_back({"lldp", lldp});
  }
  return v;
}

// ---- flow: ops -------------------------------------------------------------------------

void FlowSeeds(const std::vector<std::pair<std::string, Bytes>>& frames) {
  // Capacity 8, timeouts 10..60 s; every IP frame, its reply-direction pool key,
  // time steps and sweeps.
  Bytes s = {8, 10, 40, 5, 20, 10, 30};
  for (const auto& [name, f] : frames) {
    if (f.size() > 255) continue;
    s.push_back(0x00);  // op: frame
    s.push_back(uint8_t(f.size()));
    Append(s, f);
  }
  Append(s, {0x01, 0x12, 0x1a, 0x02, 0x1a, 0x12, 0x03, 0x12, 0x1a});  // pool key, its reverse, remove
  Append(s, {0x04, 0x03, 0xe8, 0x10, 0x05, 0x75});                     // 10 s on, expire 16 slots, sweep, check
  Write("flow", "frames_then_expire", s);

  // A full table: 4 slots, many pool keys, a remove in the middle of chains, sweeps.
  Bytes t = {4, 1, 1, 1, 1, 1, 1};
  for (uint8_t k = 0; k < 24; k++) Append(t, {uint8_t(k & 1 ? 0x01 : 0x02), uint8_t(k * 37), uint8_t(k * 11)});
  for (uint8_t k = 0; k < 8; k++) Append(t, {0x03, uint8_t(k * 37), uint8_t(k * 11)});
  Append(t, {0x04, 0x01, 0x00, 0xff, 0x05, 0x76});
  Write("flow", "full_table_churn", t);
}

// ---- control: FlowStart records ------------------------------------------------------------

void ControlSeeds() {
  // Sliding, limits 9/12/12/10, window 10 s, two DNS servers: 12 TCP SYNs, DNS, DHCP, inbound.
  Bytes s = {0x20, 9, 12, 12, 10, 99, 0x01, 0x02};
  for (uint8_t i = 0; i < 12; i++) Append(s, {0x01, 0x00, 10, 3, 3, uint8_t(0x80 + i)});  // TCP 80 -> 198.51.100.x
  Append(s, {0x05, 0x00, 10, 0, 0, 0x01});       // UDP 53 -> DNS server 192.0.2.53
  Append(s, {0x05, 0x00, 10, 2, 1, 0xff});       // UDP 68 -> 67 (DHCP)
  Append(s, {0x00, 0x00, 10, 3, 3, 0x90});       // from outside
  Append(s, {0x01, 0x20, 10, 3, 3, 0x91});       // TCP without SYN
  Append(s, {0x01, 0x80, 200, 3, 3, 0x92});      // 200 s later: window passed
  Append(s, {0x81, 0x01, 1, 3, 3, 0x93});        // with a Save/Restore check
  Write("control", "sliding_budget", s);

  // Token bucket, limits 3/3/3/3, window 2 s, clock steps back, a restore.
  Bytes t = {0x01, 3, 3, 3, 3, 19};
  for (uint8_t i = 0; i < 8; i++) Append(t, {0x09, 0x00, 20, 3, 3, uint8_t(0x80 + i)});  // ICMP
  Append(t, {0x01, 0xc0, 5, 3, 3, 0x88});        // clock back 0.5 s
  Append(t, {0xf1, 0x20, 1});                    // restore from a saved form:
  for (int c = 0; c < 4; c++) Append(t, {2, 1, 0, 10, 250, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0});
  for (uint8_t i = 0; i < 4; i++) Append(t, {0x05, 0x00, 100, 3, 3, uint8_t(0x80 + i)});
  Write("control", "bucket_restore", t);
}

// ---- engine: config + steps ---------------------------------------------------------------

// A template frame step (see engine_detail::MakeFrame): op, dt, kind, dmac, smac, ips, ports, x.
Bytes Step(bool outside, uint8_t dt, uint8_t kind, uint8_t dmac, uint8_t smac, uint8_t src, uint8_t dst,
           uint8_t sport, uint8_t dport, uint8_t x) {
  return {uint8_t(outside ? 1 : 0), dt, kind, dmac, smac, uint8_t(src | dst << 4), uint8_t(sport | dport << 3), x};
}

void EngineSeeds() {
  // Bridge, one learned honeypot, sliding 9 TCP per 60 s: Part V's 12 SYNs, an
  // inbound connection and its replies, DNS, ARP, IPv6, a timer, time passing.
  Bytes b = {0x30, 64, 60, 60, 0, 0x00, 9, 12, 12, 10, 59, 0};
  for (uint8_t i = 0; i < 12; i++) Append(b, Step(false, 10, 0, 3, 0, 0, uint8_t(13 + i % 3), uint8_t(i % 8), 0, kSyn));
  Append(b, Step(true, 10, 0, 0, 3, 13, 0, 0, 1, kSyn));             // inbound telnet
  Append(b, Step(false, 10, 0, 3, 0, 0, 13, 1, 0, kSyn | kAck));     // reply
  Append(b, Step(true, 10, 0, 0, 3, 13, 0, 0, 1, kAck));
  Append(b, Step(false, 10, 2, 3, 0, 0, 11, 6, 2, 0));               // DNS to the server
  Append(b, Step(false, 10, 5, 7, 0, 0, 7, 0, 0, 0));                // ARP who-has gateway
  Append(b, Step(false, 10, 6, 3, 0, 1, 2, 6, 0, 0));                // IPv6 TCP SYN
  Append(b, Step(false, 10, 7, 3, 0, 0, 13, 6, 7, 2));               // first fragment
  Append(b, Step(false, 10, 7, 3, 0, 0, 13, 6, 7, 0));               // later fragment
  Append(b, Step(true, 10, 4, 0, 3, 13, 0, 0, 0, 0));                // ICMP error quoting a flow
  Append(b, {0x5f, 70});                                              // 70 s later: timer (flows expire)
  for (uint8_t i = 0; i < 3; i++) Append(b, Step(false, 10, 0, 3, 0, 0, 14, uint8_t(i), 5, kSyn));
  Write("engine", "bridge_part_v", b);

  // Nat, two honeypots (one pinned MAC), token bucket on the second: gateway ARP,
  // outbound SYNs, inbound to the public address, TTL 1, honeypot to honeypot.
  Bytes n = {0x01, 64, 60, 60, 1, 0x00, 9, 12, 12, 10, 59, 0x03, 3, 3, 3, 3, 9, 0};
  Append(n, Step(true, 1, 5, 6, 4, 7, 0, 0, 0, 1));                  // gateway's ARP reply
  for (uint8_t i = 0; i < 11; i++) Append(n, Step(false, 10, 0, 5, 0, 3, uint8_t(13 + i % 3), uint8_t(i % 8), 0, kSyn));
  Append(n, Step(true, 10, 0, 6, 4, 13, 0, 0, 1, kSyn));             // inbound to 192.0.2.10
  Append(n, Step(false, 10, 0, 5, 0, 3, 13, 1, 0, kSyn | kAck));
  Append(n, Step(false, 10, 3, 5, 1, 4, 13, 0, 0, 0));               // second honeypot pings out
  Append(n, Step(false, 10, 0, 5, 0, 3, 13, 6, 0, 0x80 | kSyn));     // TTL 1
  Append(n, Step(false, 10, 0, 5, 0, 3, 4, 6, 0, kSyn));             // honeypot to honeypot
  Append(n, Step(true, 10, 3, 6, 4, 13, 1, 0, 0, 0));                // ping the public address
  Append(n, {0x5f, 5});
  Write("engine", "nat_two_honeypots", n);
}

// ---- config: TOML files ------------------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void ConfigSeeds(const std::string& examples) {
  for (const char* name : {"bridge.toml", "nat.toml"}) {
    const std::string text = ReadFile(examples + "/" + name);
    if (text.empty()) continue;
    Write("config", name, Bytes(text.begin(), text.end()));
    Result<Config> c = ParseConfig(text, name);
    if (c.ok()) {
      const std::string dump = DumpConfig(*c);
      Write("config", std::string("dump_") + name, Bytes(dump.begin(), dump.end()));
    }
  }
  const std::string errors =
      "mode = \"nat\"\n[limits]\ntcp = -3\nwindow = \"1x\"\n[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.300\"\n"
      "mac = \"52:54:00\"\n[capture]\nrotate_size = \"100Q\"\nbogus = 1\n";
  Write("config", "errors", Bytes(errors.begin(), errors.end()));
}

// ---- pcap: capture files ---------------------------------------------------------------------

void PcapSeeds(const std::vector<std::pair<std::string, Bytes>>& frames) {
  char tmpl[] = "/tmp/fuzz_seed.XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) return;
  PcapWriter::Options o;
  o.dir = dir;
  o.prefix = "seed";
  auto opened = PcapWriter::Open(o);
  if (!opened.ok()) {
    std::fprintf(stderr, "fuzz_seed: %s\n", opened.status().message().c_str());
    std::exit(1);
  }
  std::unique_ptr<PcapWriter> w = std::move(*opened);
  int64_t ts = 1'700'000'000LL * 1'000'000'000LL + 123456789;
  for (size_t i = 0; i < 8 && i < frames.size(); i++, ts += 1'000'000)
    w->Write(ts, frames[i].second.data(), uint32_t(frames[i].second.size()), uint32_t(frames[i].second.size()));
  const std::string path = w->files().front();
  w.reset();  // flushes and closes the file
  const std::string pcap = ReadFile(path);
  std::remove(path.c_str());
  rmdir(dir);
  const Bytes nano(pcap.begin(), pcap.end());
  Write("pcap", "writer_ns", nano);
  Bytes cut = nano;
  cut.resize(cut.size() - 7);
  Write("pcap", "writer_truncated", cut);

  // Microsecond pcap, hand-made: header + 2 records.
  Bytes us = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0};
  for (size_t i = 0; i < 2; i++) {
    const Bytes& f = frames[i].second;
    const uint32_t n = uint32_t(f.size());
    Append(us, {0x10, 0x20, 0x30, 0x40, 0x40, 0xe2, 0x01, 0x00});
    Append(us, {uint8_t(n), uint8_t(n >> 8), 0, 0, uint8_t(n), uint8_t(n >> 8), 0, 0});
    Append(us, f);
  }
  Write("pcap", "usec_le", us);

  // pcapng: SHB, IDB (Ethernet, if_tsresol 10^-9), two EPBs. Little-endian.
  auto le32 = [](Bytes& b, uint32_t v) { Append(b, {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}); };
  Bytes ng;
  for (uint32_t v : {0x0a0d0d0au, 28u, 0x1a2b3c4du}) le32(ng, v);  // SHB
  Append(ng, {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  le32(ng, 28);
  for (uint32_t v : {1u, 32u, 1u, 65535u}) le32(ng, v);  // IDB: Ethernet, snaplen 65535
  Append(ng, {9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0});       // if_tsresol = 9 (ns), end of options
  le32(ng, 32);
  for (size_t i = 0; i < 2; i++) {
    const Bytes& f = frames[i].second;
    const uint32_t n = uint32_t(f.size()), pad = (4 - n % 4) % 4, total = 32 + n + pad;
    for (uint32_t v : {6u, total, 0u, 0x17a2b3c4u, 0x5d6e7f80u + uint32_t(i), n, n}) le32(ng, v);  // EPB
    Append(ng, f);
    ng.resize(ng.size() + pad, 0);
    le32(ng, total);
  }
  Write("pcap", "pcapng_ns", ng);
  Write("pcap", "garbage", Bytes{'n', 'o', 't', ' ', 'a', ' ', 'p', 'c', 'a', 'p', '\n'});
}

}  // namespace
}  // namespace hn

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_seed CORPUS_DIR [EXAMPLES_DIR]\n");
    return 2;
  }
  hn::g_root = argv[1];
  const std::string examples = argc > 2 ? argv[2] : "examples";
  const auto frames = hn::Frames();
  for (const auto& [name, f] : frames) hn::Write("decode", name, f);
  hn::FlowSeeds(frames);
  hn::ControlSeeds();
  hn::EngineSeeds();
  hn::ConfigSeeds(examples);
  hn::PcapSeeds(frames);
  std::printf("fuzz_seed: wrote the seed corpus under %s\n", argv[1]);
  return 0;
}
