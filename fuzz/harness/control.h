// Fuzz harness: Data Control (src/control): Decide() and Budget.
//
// Input: limits (per-class maxima 0..12 or 0..1000, window kind, window
// 0.1..25.6 s or 1 ns..65 us), a
// policy (roach motel, DNS servers), then records until the input ends, each
// a FlowStart (side, protocol, ports, destination, broadcast, TCP flags, with
// or without a budget), a clock step (forward, big jump, or backwards), and
// now and then a Restore() from a fuzzer-made saved budget.
// A model keeps every allowed start per class.
// Invariants:
//  - verdict and reason agree (pass reasons pass, drop reasons drop); counted
//    iff the reason is kOutbound; an exemption is given only when its
//    condition holds; from outside is always kInbound; a pass from inside is
//    either counted or exempt; the budget is not touched unless the reason is
//    kOutbound or kBudgetExhausted; used <= limit and used + left == limit;
//  - sliding window: a start is allowed exactly when fewer than `limit` starts
//    are in the window (so never more than `limit` in any window), and Used()
//    is that count;
//  - token bucket: the starts in any stretch of time T number at most
//    limit + limit*T/period; with no clock step back and no restore, a start
//    with none in the last two periods is allowed;
//  - Save() -> Restore() into a fresh budget reads the same Used() per class.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "common/addr.h"
#include "control/budget.h"
#include "control/control.h"
#include "common.h"

namespace hn::fuzz {

namespace control_detail {

constexpr int64_t kMs = 1'000'000;

// Everything the model knows about one protocol class.
struct ClassModel {
  std::vector<int64_t> starts;   // sliding: allowed starts, clamped as the budget clamps them
  std::vector<int64_t> vstarts;  // bucket: virtual times of allowed starts since the last restore
  int64_t vnow = 0;              // bucket: virtual clock (forward steps of TryConsume calls only)
  int64_t last_call = INT64_MIN; // time of the last TryConsume call
};

inline bool PassReason(Reason r) {
  switch (r) {
    case Reason::kInbound:
    case Reason::kOutbound:
    case Reason::kReply:
    case Reason::kExemptDns:
    case Reason::kExemptInternal:
    case Reason::kExemptBroadcast:
    case Reason::kExemptDhcp: return true;
    default: return false;
  }
}

inline bool SameSaved(const Budget::Saved& a, const Budget::Saved& b) {
  return a.starts == b.starts && a.tokens_micro == b.tokens_micro && a.refill_ns == b.refill_ns;
}

class ControlScenario {
 public:
  ControlScenario(const Limits& limits, ControlPolicy policy) : limits_(limits), policy_(std::move(policy)), budget_(limits) {}

  void Step(const FlowStart& f, bool with_budget, int64_t now) {
    Budget* b = with_budget ? &budget_ : nullptr;
    const Budget::Saved before = budget_.Save();
    const Decision d = Decide(policy_, f, b, now);
    // Real broadcasts from inside go to the broadcast budget (after the
    // internal, listed-DHCP and DNS exemptions, which a broadcast never meets
    // except DNS to a listed server).
    const bool bcast = f.from_inside && f.dst_broadcast &&
                       (d.reason == Reason::kExemptBroadcast || d.reason == Reason::kBudgetExhausted ||
                        d.reason == Reason::kUnknownSource || d.reason == Reason::kExemptDhcp);
    const ProtoClass cls = bcast ? ProtoClass::kBroadcast : ClassOfProto(f.ip_proto);
    const size_t c = size_t(cls);
    HN_FUZZ_CHECK(d.cls == cls);
    HN_FUZZ_CHECK(std::string(ReasonName(d.reason)) != "unknown");
    HN_FUZZ_CHECK((d.verdict == Verdict::kPass) == PassReason(d.reason), ReasonName(d.reason));
    const bool bcast_call = bcast && b != nullptr;
    HN_FUZZ_CHECK(d.counted == (d.reason == Reason::kOutbound || (bcast_call && d.verdict == Verdict::kPass)),
                  ReasonName(d.reason));
    CheckReasonHolds(f, b, d);
    const bool consumed_call = d.reason == Reason::kOutbound || d.reason == Reason::kBudgetExhausted || bcast_call;
    if (!consumed_call) {
      HN_FUZZ_CHECK(SameSaved(before, budget_.Save()), std::string("budget changed for ") + ReasonName(d.reason));
      return;
    }
    HN_FUZZ_CHECK(d.limit == limits_.max[c]);
    HN_FUZZ_CHECK(d.used <= d.limit && d.used + d.left == d.limit,
                  std::to_string(d.used) + "+" + std::to_string(d.left) + " vs " + std::to_string(d.limit));
    const bool allowed = d.counted;
    if (limits_.kind == WindowKind::kSliding) CheckSliding(c, allowed, d, now);
    else CheckBucket(c, allowed, now);
  }

  // A restore from a saved form that may hold anything.
  void Restore(const Budget::Saved& s, int64_t now) {
    budget_.Restore(s, now);
    const Budget::Saved after = budget_.Save();
    for (int c = 0; c < kProtoClasses; c++) {
      HN_FUZZ_CHECK(after.starts[c].size() <= limits_.max[c]);
      HN_FUZZ_CHECK(std::is_sorted(after.starts[c].begin(), after.starts[c].end()));
      for (int64_t t : after.starts[c]) HN_FUZZ_CHECK(t <= now && __int128(now) - t < limits_.window_ns);
      HN_FUZZ_CHECK(budget_.Used(ProtoClass(c), now) <= limits_.max[c]);
      ClassModel& m = model_[c];
      m.starts = after.starts[c];
      m.vstarts.clear();
    }
    restored_ = true;
  }

  // Save() -> Restore() into a fresh budget gives the same Used() per class.
  void CheckRoundTrip(int64_t now) {
    Budget copy(limits_);
    copy.Restore(budget_.Save(), now);
    for (int c = 0; c < kProtoClasses; c++)
      HN_FUZZ_CHECK(copy.Used(ProtoClass(c), now) == budget_.Used(ProtoClass(c), now), "class " + std::to_string(c));
  }

  void NoteClockBack() { stepped_back_ = true; }

 private:
  // Each exemption/drop reason only when its condition holds.
  void CheckReasonHolds(const FlowStart& f, const Budget* b, const Decision& d) {
    HN_FUZZ_CHECK((d.reason == Reason::kInbound) == !f.from_inside);
    const bool udp = f.ip_proto == 17, tcp = f.ip_proto == 6;
    switch (d.reason) {
      case Reason::kExemptInternal: HN_FUZZ_CHECK(f.dst_honeypot != 0xffff); break;
      case Reason::kExemptBroadcast: HN_FUZZ_CHECK(f.dst_broadcast); break;
      case Reason::kExemptDhcp:
        HN_FUZZ_CHECK(udp && f.sport == 68 && f.dport == 67 &&
                      (f.dst_broadcast || std::find(policy_.dhcp_servers.begin(), policy_.dhcp_servers.end(),
                                                    f.dst_ip) != policy_.dhcp_servers.end()));
        break;
      case Reason::kDhcpServer: HN_FUZZ_CHECK(udp && (f.sport == 67 || f.sport == 547)); break;
      case Reason::kExemptDns:
        HN_FUZZ_CHECK((udp || tcp) && f.dport == 53 &&
                      std::find(policy_.dns_servers.begin(), policy_.dns_servers.end(), f.dst_ip) !=
                          policy_.dns_servers.end());
        break;
      case Reason::kNotFlowStart: HN_FUZZ_CHECK(tcp && !f.tcp_syn_only); break;
      case Reason::kRoachMotel: HN_FUZZ_CHECK(policy_.roach_motel); break;
      case Reason::kUnknownSource: HN_FUZZ_CHECK(b == nullptr); break;
      case Reason::kOutbound:
      case Reason::kBudgetExhausted:
        HN_FUZZ_CHECK(b != nullptr && (!policy_.roach_motel || f.dst_broadcast) && f.from_inside);
        HN_FUZZ_CHECK(!tcp || f.tcp_syn_only || f.dst_broadcast, "a non-SYN TCP segment was counted as a start");
        break;
      case Reason::kInbound: break;
      default: HN_FUZZ_CHECK(false, std::string("Decide gave ") + ReasonName(d.reason));
    }
    // Nothing from inside passes uncounted unless an exemption says so.
    if (f.from_inside && d.verdict == Verdict::kPass)
      HN_FUZZ_CHECK(d.counted || d.reason == Reason::kExemptInternal || d.reason == Reason::kExemptDhcp ||
                    d.reason == Reason::kExemptDns);
  }

  void CheckSliding(size_t c, bool allowed, const Decision& d, int64_t now) {
    ClassModel& m = model_[c];
    const uint32_t max = limits_.max[c];
    if (max > 0)  // the budget clamps starts from the future (clock stepped back) to now
      for (int64_t& t : m.starts) t = std::min(t, now);
    size_t in_window = 0;
    for (int64_t t : m.starts) in_window += __int128(now) - t < limits_.window_ns;
    const bool expect = max > 0 && in_window < max;
    HN_FUZZ_CHECK(allowed == expect, "sliding: " + std::to_string(in_window) + " in window, limit " +
                                         std::to_string(max) + (allowed ? ", allowed" : ", denied"));
    if (allowed) {
      m.starts.push_back(now);
      in_window++;
    }
    HN_FUZZ_CHECK(d.used == std::min<size_t>(in_window, max), "used " + std::to_string(d.used) + " in window " + std::to_string(in_window));
  }

  void CheckBucket(size_t c, bool allowed, int64_t now) {
    ClassModel& m = model_[c];
    const uint32_t max = limits_.max[c];
    if (max == 0) {
      HN_FUZZ_CHECK(!allowed);
      return;
    }
    if (m.last_call != INT64_MIN && now > m.last_call) m.vnow += now - m.last_call;
    m.last_call = now;
    if (!allowed) {
      if (!stepped_back_ && !restored_) {
        const bool recent = !m.vstarts.empty() && __int128(m.vnow) - m.vstarts.back() < 2 * __int128(limits_.window_ns);
        HN_FUZZ_CHECK(recent, "bucket denied a start with none in the last two periods");
      }
      return;
    }
    m.vstarts.push_back(m.vnow);
    // Starts in [vstarts[j], vnow] <= max + max*T/period (scaled by 1e6 as the bucket counts).
    const size_t n = m.vstarts.size();
    for (size_t j = 0; j < n; j++) {
      const __int128 count = __int128(n - j) * 1'000'000;
      const __int128 bound = __int128(max) * 1'000'000 +
                             (__int128(m.vnow) - m.vstarts[j]) * max * 1'000'000 / limits_.window_ns;
      HN_FUZZ_CHECK(count <= bound, "bucket: " + std::to_string(n - j) + " starts in a stretch that allows fewer");
    }
  }

  Limits limits_;
  ControlPolicy policy_;
  Budget budget_;
  std::array<ClassModel, kProtoClasses> model_;
  bool stepped_back_ = false;
  bool restored_ = false;
};

inline const Ip4 kDnsPool[] = {Ip4{0x08080808}, Ip4{0xc0000235}, Ip4{0x0a000001}, Ip4{0xc0000214}};

inline Ip4 PoolIp(uint8_t v) {
  if (v < 128) return kDnsPool[v & 3];
  return Ip4{0xc6336400u | v};  // 198.51.100.x
}

inline uint16_t PoolPort(ByteReader& in) {
  static constexpr uint16_t kPorts[] = {53, 67, 68, 80, 443, 23, 40000};
  const uint8_t v = in.U8();
  return v < 7 * 32 ? kPorts[v % 7] : in.U16();
}

// A saved budget with anything in it: times near now or anywhere, tokens of any sign.
inline Budget::Saved FuzzSaved(ByteReader& in, int64_t now) {
  Budget::Saved s;
  for (int c = 0; c < kProtoClasses; c++) {
    const size_t n = in.U8() % 20;
    for (size_t i = 0; i < n; i++) {
      const uint8_t k = in.U8();
      s.starts[c].push_back(k < 200 ? now - int64_t(in.U16()) * 10 * kMs + int64_t(k & 1) * 100 * kMs
                                    : int64_t(in.U64()));
    }
    s.tokens_micro[c] = int64_t(in.U64());
    s.refill_ns[c] = in.Bit() ? int64_t(in.U64()) : now - int64_t(in.U16()) * 10 * kMs;
  }
  return s;
}

}  // namespace control_detail

inline int FuzzControl(const uint8_t* data, size_t size) {
  using namespace control_detail;
  ByteReader in(data, size);
  Limits limits;
  const uint8_t head = in.U8();
  limits.kind = head & 1 ? WindowKind::kTokenBucket : WindowKind::kSliding;
  for (auto& m : limits.max) m = head & 0x80 ? in.U16() % 1001 : in.U8() % 13;
  // Mostly 0.1..25.6 s; sometimes 1 ns..65 us, the shortest windows the config allows.
  limits.window_ns = head & 0x40 ? int64_t(1 + in.U16()) : int64_t(1 + in.U8()) * 100 * kMs;
  ControlPolicy policy;
  policy.roach_motel = (head & 0x0e) == 0x0e;
  for (int i = (head >> 4) % 4; i > 0; i--) policy.dns_servers.push_back(PoolIp(in.U8()));
  if ((head & 0x30) == 0x30) policy.dhcp_servers.push_back(PoolIp(in.U8()));
  ControlScenario s(limits, policy);

  static constexpr uint8_t kProtos[] = {6, 17, 1, 58, 47, 6, 17, 132};
  int64_t now = 1'800'000'000LL * 1'000'000'000LL;
  for (int steps = 0; !in.empty() && steps < 512; steps++) {
    const uint8_t op = in.U8();
    const uint8_t flags = in.U8();
    // The clock: mostly small steps forward, sometimes a jump, sometimes back.
    const uint8_t dt = in.U8();
    if ((flags & 0xc0) == 0xc0) {
      now -= int64_t(dt) * 100 * kMs;
      s.NoteClockBack();
    } else if ((flags & 0xc0) == 0x80) {
      now += int64_t(dt) * 1000 * kMs;
    } else {
      now += int64_t(dt) * 10 * kMs;
    }
    if ((op & 0xf0) == 0xf0 && (flags & 0x20)) {
      s.Restore(FuzzSaved(in, now), now);
      continue;
    }
    FlowStart f;
    f.from_inside = (op & 3) != 0;
    f.ip_proto = kProtos[(op >> 2) & 7];
    f.src_honeypot = 0;
    f.dst_honeypot = (flags & 0x07) == 0x07 ? uint16_t(1) : uint16_t(0xffff);
    f.dst_broadcast = (flags & 0x18) == 0x18;
    f.tcp_syn_only = !(flags & 0x20);
    f.tcp_syn_ack = !f.tcp_syn_only && (op & 0x20);
    f.sport = PoolPort(in);
    f.dport = PoolPort(in);
    f.dst_ip = PoolIp(in.U8());
    const bool with_budget = (op & 0xc0) != 0xc0 || (op & 0x30) != 0x30;
    s.Step(f, with_budget, now);
    if ((op & 0x80) && (flags & 0x01)) s.CheckRoundTrip(now);
  }
  return 0;
}

}  // namespace hn::fuzz
