#include "rules/detect.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <utility>

namespace hn {
namespace {

// Suricata's default pcre limits (suricata.yaml pcre.match-limit and
// pcre.match-limit-recursion): a hostile payload cannot make one pcre spin.
constexpr uint32_t kPcreMatchLimit = 3500;
constexpr uint32_t kPcreDepthLimit = 1500;

// Suricata's detect.inspection-recursion-limit: how many content/pcre
// attempts the backtracking may make for one rule on one packet. Past it the
// rule does not match (as in Suricata), so a rule like content:"a";
// content:"a"; distance:0; ... cannot cost quadratic time per packet.
constexpr int kRecursionLimit = 3000;

constexpr size_t kNotFound = std::numeric_limits<size_t>::max();

// A subject for pcre2_match when the payload pointer is null (PCRE2 before
// 10.43 refuses a null subject even with length 0).
constexpr uint8_t kEmpty[1] = {0};

uint8_t Lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? uint8_t(c + 32) : c; }

bool EqualNocase(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

// First position >= from where c.bytes occurs entirely before limit, or
// kNotFound. nocase compares ASCII letters case-insensitively.
size_t Find(const uint8_t* data, size_t from, size_t limit, const ContentMatch& c) {
  const size_t n = c.bytes.size();
  if (from >= limit || limit - from < n) return kNotFound;
  const auto* needle = reinterpret_cast<const uint8_t*>(c.bytes.data());
  if (!c.nocase) {
    const void* hit = memmem(data + from, limit - from, needle, n);
    return hit ? size_t(static_cast<const uint8_t*>(hit) - data) : kNotFound;
  }
  const uint8_t first = Lower(needle[0]);
  for (size_t i = from; i + n <= limit; i++)
    if (Lower(data[i]) == first && EqualNocase(data + i + 1, needle + 1, n - 1)) return i;
  return kNotFound;
}

// The bytes [start, limit) of the payload a content must lie in.
struct Window {
  size_t start = 0, limit = 0;
};

// The window of content c when the previous content/pcre match ended at
// prev_end. Relative (distance/within) takes precedence over offset/depth;
// the parser does not let a rule mix them.
Window WindowOf(const ContentMatch& c, uint32_t prev_end, uint32_t len) {
  int64_t start = 0, limit = len;
  if (c.startswith) {
    limit = int64_t(c.bytes.size());
  } else if (c.distance || c.within) {
    start = int64_t(prev_end) + c.distance.value_or(0);
    if (c.within) limit = start + *c.within;  // from prev_end + distance, before clamping
  } else {
    start = c.offset.value_or(0);
    if (c.depth) limit = start + *c.depth;
  }
  start = std::max<int64_t>(start, 0);
  limit = std::clamp<int64_t>(limit, 0, len);
  return {size_t(start), size_t(limit)};
}

bool SetsFlowbits(const Rule& r) {
  for (const FlowbitOp& op : r.flowbits)
    if (op.cmd == FlowbitOp::kSet || op.cmd == FlowbitOp::kUnset || op.cmd == FlowbitOp::kToggle)
      return true;
  return false;
}

// The rule's fast pattern: the non-negated content marked fast_pattern, else
// the longest non-negated content (the first of equals); nullptr when it has
// no non-negated content.
const ContentMatch* FastPattern(const Rule& r) {
  const ContentMatch* best = nullptr;
  for (const PayloadMatch& m : r.matches) {
    if (m.kind != PayloadMatch::kContent || m.content.negated) continue;
    if (m.content.fast_pattern) return &m.content;
    if (!best || m.content.bytes.size() > best->bytes.size()) best = &m.content;
  }
  return best;
}

bool HeaderMatches(const Rule& r, const uint8_t* src, const uint8_t* dst, bool v6, uint16_t sport,
                   uint16_t dport) {
  if (!r.src.Contains(src, v6) || !r.dst.Contains(dst, v6)) return false;
  if (r.proto != RuleProto::kTcp && r.proto != RuleProto::kUdp) return true;
  return r.sport.Contains(sport) && r.dport.Contains(dport);
}

bool FlowMatches(const FlowOption& f, const DetectPacket& p) {
  if (f.established && !p.established) return false;
  if (f.not_established && p.established) return false;
  if (f.to_server == 1 && !p.to_server) return false;
  if (f.to_server == 0 && p.to_server) return false;
  return true;
}

// isset / isnotset tests against the flow's bits.
bool FlowbitsMatch(const Rule& r, uint64_t bits) {
  for (const FlowbitOp& op : r.flowbits) {
    if (op.cmd != FlowbitOp::kIsSet && op.cmd != FlowbitOp::kIsNotSet) continue;
    const bool want = op.cmd == FlowbitOp::kIsSet;
    size_t hits = 0;  // bits in the wanted state
    for (uint8_t b : op.bits)
      if (bool(bits >> b & 1) == want) hits++;
    if (op.any ? hits == 0 : hits != op.bits.size()) return false;
  }
  return true;
}

// set / unset / toggle of a matched rule.
void ApplyFlowbits(const Rule& r, uint64_t* bits) {
  if (!bits) return;
  for (const FlowbitOp& op : r.flowbits) {
    for (uint8_t b : op.bits) {
      const uint64_t m = uint64_t(1) << b;
      switch (op.cmd) {
        case FlowbitOp::kSet: *bits |= m; break;
        case FlowbitOp::kUnset: *bits &= ~m; break;
        case FlowbitOp::kToggle: *bits ^= m; break;
        default: break;
      }
    }
  }
}

}  // namespace

struct Detector::Impl {
  // One content or pcre of a rule, flattened over all rules (first_step[r]
  // is rule r's first).
  struct Step {
    pcre2_code* code = nullptr;       // pcre only
    pcre2_match_data* data = nullptr;  // pcre only
    // Content only: a later match depends on where this one ended (the next
    // non-negated match is relative, or a negated one in between is), so a
    // failure further on retries this content at its next occurrence.
    bool retry = false;
  };

  ~Impl() {
    for (Step& s : steps) {
      pcre2_match_data_free(s.data);
      pcre2_code_free(s.code);
    }
    pcre2_match_context_free(match_ctx);
    hs_free_scratch(scratch);
    hs_free_database(db);
  }

  // ---- built once ----
  hs_database_t* db = nullptr;  // nullptr: no rule has a fast pattern
  hs_scratch_t* scratch = nullptr;
  pcre2_match_context* match_ctx = nullptr;
  std::vector<uint32_t> pattern_first;  // CSR: pattern id -> pattern_rules[first[id], first[id+1])
  std::vector<uint32_t> pattern_rules;
  std::vector<uint32_t> always;         // rules without a fast pattern
  std::vector<Step> steps;
  std::vector<uint32_t> first_step;     // per rule, into steps
  size_t max_replacements = 0;          // replace contents over all rules
  bool pass_first = true;               // no pass rule after a non-pass rule

  // ---- per packet, sized in Build ----
  std::vector<uint32_t> seen;   // per pattern: the generation it last matched in
  uint32_t generation = 0;
  std::vector<uint32_t> candidates;
  std::vector<uint32_t> found;  // per content of the rule being checked: where it matched
  int budget = 0;               // recursion left for the rule being checked
  const uint8_t* data = nullptr;
  uint32_t len = 0;

  static int OnPattern(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx);
  void CollectCandidates(const DetectPacket& p);
  bool Matches(const Rule& r, uint32_t index, const DetectPacket& p, uint64_t bits);
  bool MatchFrom(const Rule& r, const Step* rule_steps, size_t i, uint32_t prev_end);
  bool MatchContent(const Rule& r, const Step* rule_steps, size_t i, uint32_t prev_end);
  bool MatchPcre(const Rule& r, const Step* rule_steps, size_t i, uint32_t prev_end);
};

// Hyperscan match callback: the first report of a pattern in this scan adds
// its rules to the candidates.
int Detector::Impl::OnPattern(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  Impl& im = *static_cast<Impl*>(ctx);
  if (im.seen[id] == im.generation) return 0;
  im.seen[id] = im.generation;
  for (uint32_t k = im.pattern_first[id]; k < im.pattern_first[id + 1]; k++)
    im.candidates.push_back(im.pattern_rules[k]);
  return 0;
}

// candidates = rules whose fast pattern occurs in the payload, plus the
// always-checked ones, ascending. Each rule has at most one fast pattern, so
// no rule is listed twice and the list fits the capacity reserved in Build.
void Detector::Impl::CollectCandidates(const DetectPacket& p) {
  candidates.clear();
  if (db && p.payload_len > 0) {
    if (++generation == 0) {  // wrapped: stamps from 2^32 scans ago would look current
      std::fill(seen.begin(), seen.end(), 0);
      generation = 1;
    }
    hs_scan(db, reinterpret_cast<const char*>(p.payload), p.payload_len, 0, scratch, OnPattern, this);
  }
  candidates.insert(candidates.end(), always.begin(), always.end());
  std::sort(candidates.begin(), candidates.end());
}

// The exact check of rule r (index `index`) against p; bits: the flow's bits now.
bool Detector::Impl::Matches(const Rule& r, uint32_t index, const DetectPacket& p, uint64_t bits) {
  if (r.proto != RuleProto::kIp && r.proto != p.proto) return false;
  static constexpr uint8_t kZeroAddr[16] = {};
  const uint8_t* src = p.src ? p.src : kZeroAddr;
  const uint8_t* dst = p.dst ? p.dst : kZeroAddr;
  if (!HeaderMatches(r, src, dst, p.v6, p.sport, p.dport) &&
      !(r.bidirectional && HeaderMatches(r, dst, src, p.v6, p.dport, p.sport)))
    return false;
  if (!FlowMatches(r.flow, p)) return false;
  if (!r.dsize.Match(p.payload_len)) return false;
  if (!FlowbitsMatch(r, bits)) return false;
  if (r.matches.empty()) return true;
  data = p.payload ? p.payload : kEmpty;
  len = p.payload ? p.payload_len : 0;
  budget = kRecursionLimit;
  return MatchFrom(r, &steps[first_step[index]], 0, 0);
}

// Whether r.matches[i..] all hold, the previous content/pcre match having
// ended at prev_end.
bool Detector::Impl::MatchFrom(const Rule& r, const Step* rule_steps, size_t i, uint32_t prev_end) {
  if (i == r.matches.size()) return true;
  if (--budget < 0) return false;
  return r.matches[i].kind == PayloadMatch::kPcre ? MatchPcre(r, rule_steps, i, prev_end)
                                                   : MatchContent(r, rule_steps, i, prev_end);
}

// A content: the first occurrence in its window, and when the rest fails and
// depends on this position, the next occurrence, and so on (Suricata's
// backtracking). A negated content holds when absent from its window.
bool Detector::Impl::MatchContent(const Rule& r, const Step* rule_steps, size_t i, uint32_t prev_end) {
  const ContentMatch& c = r.matches[i].content;
  const Window w = WindowOf(c, prev_end, len);
  const size_t n = c.bytes.size();
  if (c.endswith) {  // one possible position: ending at the payload's end
    const bool fits = len >= n && len - n >= w.start && w.limit == len;
    const size_t pos = fits ? Find(data, len - n, len, c) : kNotFound;
    if (c.negated) return pos == kNotFound && MatchFrom(r, rule_steps, i + 1, prev_end);
    if (pos == kNotFound) return false;
    found[i] = uint32_t(pos);
    return MatchFrom(r, rule_steps, i + 1, uint32_t(pos + n));
  }
  if (c.negated)
    return Find(data, w.start, w.limit, c) == kNotFound && MatchFrom(r, rule_steps, i + 1, prev_end);
  for (size_t from = w.start; budget > 0;) {
    const size_t pos = Find(data, from, w.limit, c);
    if (pos == kNotFound) return false;
    found[i] = uint32_t(pos);
    if (MatchFrom(r, rule_steps, i + 1, uint32_t(pos + n))) return true;
    if (!rule_steps[i].retry) return false;
    from = pos + 1;
  }
  return false;
}

// A pcre: one search, from prev_end when relative (R: the subject starts
// there, as Suricata passes it), else from the payload's start. Not retried
// at other positions. A matching error (limit reached) fails the rule either
// way, as in Suricata.
bool Detector::Impl::MatchPcre(const Rule& r, const Step* rule_steps, size_t i, uint32_t prev_end) {
  const PcreMatch& m = r.matches[i].pcre;
  const Step& s = rule_steps[i];
  const uint32_t base = m.relative ? prev_end : 0;
  const int rc = pcre2_match(s.code, data + base, len - base, 0, 0, s.data, match_ctx);
  if (rc == PCRE2_ERROR_NOMATCH) return m.negated && MatchFrom(r, rule_steps, i + 1, prev_end);
  if (rc < 0 || m.negated) return false;
  const PCRE2_SIZE end = pcre2_get_ovector_pointer(s.data)[1];
  return MatchFrom(r, rule_steps, i + 1, base + uint32_t(end));
}

Detector::~Detector() = default;

size_t Detector::always_checked() const { return impl_->always.size(); }

Result<std::unique_ptr<Detector>> Detector::Build(std::vector<Rule> rules) {
  std::unique_ptr<Detector> d(new Detector());
  d->rules_ = std::move(rules);
  d->impl_ = std::make_unique<Impl>();
  Impl& im = *d->impl_;
  const std::vector<Rule>& rs = d->rules_;

  // Fast patterns: each distinct (bytes, nocase) once; per pattern its rules.
  std::map<std::pair<std::string, bool>, uint32_t> ids;
  std::vector<std::vector<uint32_t>> rules_of;
  size_t max_steps = 0;
  bool seen_non_pass = false;
  for (uint32_t r = 0; r < rs.size(); r++) {
    const Rule& rule = rs[r];
    if (rule.action == RuleAction::kPass && seen_non_pass) im.pass_first = false;
    if (rule.action != RuleAction::kPass) seen_non_pass = true;
    max_steps = std::max(max_steps, rule.matches.size());
    const ContentMatch* fp = FastPattern(rule);
    if (!fp) {
      im.always.push_back(r);
      continue;
    }
    auto [it, added] = ids.try_emplace({fp->bytes, fp->nocase}, uint32_t(ids.size()));
    if (added) rules_of.emplace_back();
    rules_of[it->second].push_back(r);
  }
  im.pattern_first.push_back(0);
  for (const auto& list : rules_of) {
    im.pattern_rules.insert(im.pattern_rules.end(), list.begin(), list.end());
    im.pattern_first.push_back(uint32_t(im.pattern_rules.size()));
  }

  if (!ids.empty()) {
    std::vector<const char*> exprs(ids.size());
    std::vector<size_t> lens(ids.size());
    std::vector<unsigned> flags(ids.size()), pids(ids.size());
    for (const auto& [key, id] : ids) {
      exprs[id] = key.first.data();
      lens[id] = key.first.size();
      flags[id] = HS_FLAG_SINGLEMATCH | (key.second ? HS_FLAG_CASELESS : 0);
      pids[id] = id;
    }
    hs_compile_error_t* err = nullptr;
    if (hs_compile_lit_multi(exprs.data(), flags.data(), pids.data(), lens.data(), unsigned(ids.size()),
                             HS_MODE_BLOCK, nullptr, &im.db, &err) != HS_SUCCESS) {
      std::string msg = "rules: hyperscan could not compile the fast patterns: ";
      msg += err && err->message ? err->message : "unknown error";
      hs_free_compile_error(err);
      return Status::Error(msg);
    }
    if (hs_alloc_scratch(im.db, &im.scratch) != HS_SUCCESS)
      return Status::Error("rules: hyperscan could not allocate its scratch space");
  }

  // Every content/pcre gets a step; pcres are compiled here.
  im.match_ctx = pcre2_match_context_create(nullptr);
  if (!im.match_ctx) return Status::Error("rules: out of memory for the pcre match context");
  pcre2_set_match_limit(im.match_ctx, kPcreMatchLimit);
  pcre2_set_depth_limit(im.match_ctx, kPcreDepthLimit);
  for (const Rule& rule : rs) {
    im.first_step.push_back(uint32_t(im.steps.size()));
    for (size_t i = 0; i < rule.matches.size(); i++) {
      const PayloadMatch& m = rule.matches[i];
      Impl::Step& s = im.steps.emplace_back();
      if (m.kind == PayloadMatch::kContent) {
        if (m.content.replace) im.max_replacements++;
        if (m.content.negated) continue;
        // Retry when a later match is relative to this one's end: only
        // negated matches (which keep prev_end) may lie in between.
        for (size_t k = i + 1; k < rule.matches.size(); k++) {
          const PayloadMatch& n = rule.matches[k];
          const bool relative = n.kind == PayloadMatch::kPcre
                                    ? n.pcre.relative
                                    : (n.content.distance || n.content.within) && !n.content.startswith;
          if (relative) s.retry = true;
          if (relative || !(n.kind == PayloadMatch::kPcre ? n.pcre.negated : n.content.negated)) break;
        }
        continue;
      }
      int code = 0;
      PCRE2_SIZE at = 0;
      s.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(m.pcre.pattern.data()), m.pcre.pattern.size(),
                             m.pcre.options, &code, &at, nullptr);
      if (!s.code) {
        PCRE2_UCHAR text[256];
        pcre2_get_error_message(code, text, sizeof(text));
        return Status::Error(rule.file + ":" + std::to_string(rule.line) + ": sid " + std::to_string(rule.sid) +
                             ": pcre \"/" + m.pcre.pattern + "/" + m.pcre.flags + "\" does not compile at offset " +
                             std::to_string(at) + ": " + reinterpret_cast<const char*>(text));
      }
      pcre2_jit_compile(s.code, PCRE2_JIT_COMPLETE);  // best effort: the interpreter works too
      s.data = pcre2_match_data_create_from_pattern(s.code, nullptr);
      if (!s.data) return Status::Error("rules: out of memory for pcre match data");
    }
  }

  // Per-packet vectors at their largest, so that Inspect never allocates.
  im.seen.assign(ids.size(), 0);
  im.candidates.reserve(rs.size());
  im.found.assign(max_steps, 0);
  return d;
}

void Detector::Inspect(const DetectPacket& p, uint64_t* flowbits, DetectResult* out) {
  Impl& im = *impl_;
  out->Clear();
  // A result reused across packets allocates on its first Inspect only.
  if (out->matched.capacity() < rules_.size()) out->matched.reserve(rules_.size());
  if (out->replacements.capacity() < im.max_replacements) out->replacements.reserve(im.max_replacements);

  im.CollectCandidates(p);
  for (uint32_t r : im.candidates) {
    const Rule& rule = rules_[r];
    if (out->pass && rule.action != RuleAction::kPass) {
      if (im.pass_first) break;  // sorted: no pass rule follows
      continue;
    }
    if (!im.Matches(rule, r, p, flowbits ? *flowbits : 0)) continue;
    ApplyFlowbits(rule, flowbits);
    out->matched.push_back(r);
    for (size_t i = 0; i < rule.matches.size(); i++) {
      const PayloadMatch& m = rule.matches[i];
      // found[] holds the successful path of the check just made.
      if (m.kind != PayloadMatch::kContent || !m.content.replace || m.content.negated) continue;
      out->replacements.push_back(
          {im.found[i], uint32_t(m.content.bytes.size()), m.content.replace->data(), r});
    }
    switch (rule.action) {
      case RuleAction::kPass: out->pass = true; break;
      case RuleAction::kReject: out->reject = true; [[fallthrough]];
      case RuleAction::kDrop: out->drop = true; break;
      case RuleAction::kAlert: break;
    }
  }
  if (out->pass) {  // a pass rule hides every other rule's verdict
    std::erase_if(out->matched, [&](uint32_t r) { return rules_[r].action != RuleAction::kPass; });
    out->replacements.clear();
    out->drop = out->reject = false;
  }
}

void SortForDetection(std::vector<Rule>* rules) {
  std::stable_sort(rules->begin(), rules->end(), [](const Rule& a, const Rule& b) {
    if (a.action != b.action) return a.action < b.action;
    return SetsFlowbits(a) && !SetsFlowbits(b);
  });
}

}  // namespace hn
