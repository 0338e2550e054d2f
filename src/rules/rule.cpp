#include "rules/rule.h"

#include <cstring>

namespace hn {
namespace {

bool InRange(const AddrRange& r, const uint8_t* a, bool v6) {
  if (r.v6 != v6) return false;
  const int full = r.bits / 8;
  if (std::memcmp(r.addr.data(), a, size_t(full)) != 0) return false;
  const int rest = r.bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = uint8_t(0xff << (8 - rest));
  return (r.addr[size_t(full)] & mask) == (a[full] & mask);
}

}  // namespace

const char* RuleActionName(RuleAction a) {
  switch (a) {
    case RuleAction::kPass: return "pass";
    case RuleAction::kDrop: return "drop";
    case RuleAction::kReject: return "reject";
    case RuleAction::kAlert: return "alert";
  }
  return "alert";
}

bool AddrSet::Contains(const uint8_t* a, bool v6) const {
  for (const AddrRange& r : exclude)
    if (InRange(r, a, v6)) return false;
  if (include.empty()) return true;
  for (const AddrRange& r : include)
    if (InRange(r, a, v6)) return true;
  return false;
}

bool PortSet::Contains(uint16_t p) const {
  for (const auto& [lo, hi] : exclude)
    if (p >= lo && p <= hi) return false;
  if (include.empty()) return true;
  for (const auto& [lo, hi] : include)
    if (p >= lo && p <= hi) return true;
  return false;
}

bool Dsize::Match(uint32_t n) const {
  switch (op) {
    case kNone: return true;
    case kEq: return n == lo;
    case kNe: return n != lo;
    case kLt: return n < lo;
    case kGt: return n > lo;
    case kLe: return n <= lo;
    case kGe: return n >= lo;
    case kRange: return n > lo && n < hi;
  }
  return true;
}

bool Rule::HasReplace() const {
  for (const PayloadMatch& m : matches)
    if (m.kind == PayloadMatch::kContent && m.content.replace) return true;
  return false;
}

}  // namespace hn
