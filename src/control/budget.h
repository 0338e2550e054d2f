// Budget: how many new outbound connections one honeypot may still start, per
// protocol class, in the configured window. Two kinds of window:
//
//  - sliding (default): at most N starts in any period of `window` length. We
//    keep the times of the last N starts; a new one is allowed when the oldest
//    of them is older than `window`. Exact, and what the 2002 paper means by
//    "9 TCP connections per hour".
//  - token-bucket: rc.firewall's `-m limit --limit N/hour --limit-burst N`.
//    The bucket holds up to N tokens and refills one every period/N; a start
//    takes a token. Unlike the sliding window it refills gradually, so after
//    a burst of N the next start is allowed after period/N, not after `period`.
//    See docs/data-control.md.
//
// Times are wall-clock nanoseconds so a saved budget means the same after a
// restart. Who may call: the forwarding thread (its copy) and the event writer
// (its mirror, to persist); neither shares an instance.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

// kBroadcast is not a protocol: it is the budget of flows to real broadcast and
// multicast destinations (broadcast or multicast at layer 2 and layer 3), which
// the protocol budgets exempt (docs/data-control.md). ClassOfProto never returns it.
enum class ProtoClass : uint8_t { kTcp = 0, kUdp = 1, kIcmp = 2, kOther = 3, kBroadcast = 4 };
inline constexpr int kProtoClasses = 5;
const char* ProtoClassName(ProtoClass c);  // "TCP", "UDP", "ICMP", "OTHER", "BROADCAST"
ProtoClass ClassOfProto(uint8_t ip_proto);  // ICMPv6 counts as ICMP

enum class WindowKind : uint8_t { kSliding, kTokenBucket };

struct Limits {
  std::array<uint32_t, kProtoClasses> max = {9, 20, 50, 10, 30};  // tcp, udp, icmp, other, broadcast
  WindowKind kind = WindowKind::kSliding;
  int64_t window_ns = 3600LL * 1'000'000'000;  // sliding window length / token-bucket period
  // Outbound bandwidth (actions/shaper.h), not a start budget: Budget ignores them.
  uint64_t bandwidth_bps = 0;    // limits.bandwidth ("8Mbit", decimal): bits/s a honeypot may send out; 0: no limit
  uint64_t bandwidth_burst = 0;  // limits.bandwidth_burst ("64K", bytes); 0: max(10 x MTU, 100 ms of rate)
};

class Budget {
 public:
  explicit Budget(const Limits& limits);

  // Records a start at now_ns and returns true when the budget allows it;
  // returns false (and records nothing) when it is spent.
  bool TryConsume(ProtoClass c, int64_t now_ns);
  // Starts counted in the current window (sliding) / tokens taken (bucket, rounded up).
  uint32_t Used(ProtoClass c, int64_t now_ns) const;
  uint32_t Left(ProtoClass c, int64_t now_ns) const;
  uint32_t Limit(ProtoClass c) const { return limits_.max[size_t(c)]; }
  const Limits& limits() const { return limits_; }

  // Saved form: nlohmann-free, so the per-packet path does not pull JSON in.
  // sliding: the start times per class; bucket: tokens (scaled by 1e6) and last refill time.
  struct Saved {
    std::array<std::vector<int64_t>, kProtoClasses> starts;
    std::array<int64_t, kProtoClasses> tokens_micro{};
    std::array<int64_t, kProtoClasses> refill_ns{};
  };
  Saved Save() const;
  // Restores from a saved form made with any limits: extra starts beyond the
  // current limit are kept only up to the limit (the newest ones).
  void Restore(const Saved& s, int64_t now_ns);

 private:
  // Both kinds of bookkeeping are kept up to date whatever the kind (it costs a
  // few instructions per start), so a saved budget keeps what was spent even
  // when the window kind changes between runs; `kind` only picks which of
  // them decides.
  void Refill(ProtoClass c, int64_t now_ns);              // brings tokens up to now_ns
  int64_t TokensAt(ProtoClass c, int64_t now_ns) const;   // tokens at now_ns, no change
  uint32_t SlidingUsed(ProtoClass c, int64_t now_ns) const;
  void RecordStart(ProtoClass c, int64_t now_ns);
  int64_t StartAt(ProtoClass c, size_t k) const;          // k-th recorded start, oldest first
  void ClampFutureStarts(ProtoClass c, int64_t now_ns);   // after the clock stepped back
  int64_t Capacity(ProtoClass c) const;                   // max[c] tokens, scaled by 1e6
  Limits limits_;
  // sliding: ring of the last max[c] start times per class
  std::array<std::vector<int64_t>, kProtoClasses> ring_;
  std::array<size_t, kProtoClasses> head_{};   // next slot to write
  std::array<size_t, kProtoClasses> count_{};  // valid entries
  // token bucket: tokens scaled by 1e6 to refill fractionally without floats
  std::array<int64_t, kProtoClasses> tokens_micro_{};
  std::array<int64_t, kProtoClasses> refill_ns_{};
};

}  // namespace hn
