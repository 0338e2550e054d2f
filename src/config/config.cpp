// Config loader: TOML text -> Config, with every value checked and every
// error pointing at FILE:LINE and the dotted key. See config.h, docs/config.md.
#include "config/config.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <string_view>
#include <toml++/toml.h>

namespace hn {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kMaxDurationNs = 365LL * 24 * 3600 * kNsPerSec;  // longer is surely a typo
constexpr uint32_t kMaxLimit = 1'000'000;
constexpr uint64_t kMinRateBps = 8'000;
constexpr uint64_t kMaxRateBps = 100'000'000'000ULL;
constexpr uint64_t kMinRotateBytes = 4096;
constexpr uint64_t kMaxRotateBytes = 1ULL << 40;
// capture.max_total and min_free: 64K (tests on a small tmpfs) to 1P.
constexpr uint64_t kMinRetainBytes = 64 * 1024;
constexpr uint64_t kMaxRetainBytes = 1ULL << 50;
constexpr size_t kMaxErrors = 20;

// ---------------------------------------------------------------------------
// Error collection

struct ConfigError {
  int line;
  std::string text;  // "KEY: what is wrong, got VALUE"
};

// Collects every error found, so a user can fix them all in one go.
class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}
  void Add(int line, const std::string& key, const std::string& what) {
    list_.push_back({line, key + ": " + what});
  }
  bool empty() const { return list_.empty(); }
  // "FILE:LINE: KEY: ..." lines sorted by line, at most kMaxErrors of them.
  std::string Message() {
    std::stable_sort(list_.begin(), list_.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    std::string out;
    for (size_t i = 0; i < list_.size() && i < kMaxErrors; i++) {
      if (i) out += '\n';
      out += source_ + ":" + std::to_string(list_[i].line) + ": " + list_[i].text;
    }
    if (list_.size() > kMaxErrors) {
      out += "\n" + source_ + ": ... and " + std::to_string(list_.size() - kMaxErrors) + " more errors";
    }
    return out;
  }

 private:
  std::string source_;
  std::vector<ConfigError> list_;
};

// Line of a node's value; fallback when toml++ has no position for it
// (tables created implicitly by a dotted key or a [a.b] header).
int LineOf(const toml::node& n, int fallback = 1) {
  int line = int(n.source().begin.line);
  return line > 0 ? line : fallback;
}

std::string Quote(std::string_view s);

// A value in TOML syntax (strings in double quotes), for "got VALUE".
std::string ShowFull(const toml::node& n) {
  if (n.is_table()) return "a table";
  if (n.is_string()) return Quote(n.as_string()->get());
  if (const toml::array* a = n.as_array()) {
    std::string out = "[";
    for (size_t i = 0; i < a->size(); i++) out += (i ? ", " : "") + ShowFull((*a)[i]);
    return out + "]";
  }
  std::ostringstream os;
  n.visit([&](auto&& v) { os << v; });
  return os.str();
}

// ShowFull, shortened to fit in one message line.
std::string Show(const toml::node& n) {
  std::string s = ShowFull(n);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// A TOML basic string: double quotes, with escapes where TOML needs them.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------
// Unknown keys

// Optimal string alignment distance: Levenshtein plus adjacent transpositions.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); i++) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); j++) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    for (size_t j = 1; j <= b.size(); j++) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string JoinKey(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

// Reports every key of t that is not in known, suggesting the closest known
// key when it is at most 2 edits away.
void CheckKeys(const toml::table& t, const std::string& prefix,
               std::initializer_list<std::string_view> known, Errors& err) {
  for (auto&& [k, v] : t) {
    std::string_view name = k.str();
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string_view best;
    size_t best_d = 3;
    for (auto cand : known) {
      size_t d = EditDistance(name, cand);
      if (d < best_d) best_d = d, best = cand;
    }
    std::string what = "unknown key";
    if (!best.empty()) {
      what += "; did you mean '" + std::string(best) + "'?";
    } else {
      std::string list;
      for (auto cand : known) list += (list.empty() ? "" : ", ") + std::string(cand);
      what += " (known here: " + list + ")";
    }
    int line = int(k.source().begin.line);
    err.Add(line > 0 ? line : LineOf(v), JoinKey(prefix, name), what);
  }
}

// ---------------------------------------------------------------------------
// Typed readers. Each returns true when the key is present and valid (out
// set); false when absent or invalid (the error is recorded).

struct Ctx {
  Errors& err;
  int fallback_line;  // line to blame for a missing key (its table's header)
};

bool ReadString(const toml::table& t, std::string_view key, const std::string& prefix, Ctx& c,
                std::string* out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  if (!n->is_string()) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key), "must be a string (in quotes), got " + Show(*n));
    return false;
  }
  *out = n->as_string()->get();
  return true;
}

bool ReadBool(const toml::table& t, std::string_view key, const std::string& prefix, Ctx& c,
              bool* out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  if (!n->is_boolean()) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key), "must be true or false, got " + Show(*n));
    return false;
  }
  *out = n->as_boolean()->get();
  return true;
}

bool ReadInt(const toml::table& t, std::string_view key, const std::string& prefix, Ctx& c,
             int64_t lo, int64_t hi, int64_t* out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  if (!n->is_integer() || n->as_integer()->get() < lo || n->as_integer()->get() > hi) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key),
              "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                  ", got " + Show(*n));
    return false;
  }
  *out = n->as_integer()->get();
  return true;
}

// A duration: a string like "45s" or an integer number of seconds; > 0.
bool ReadDuration(const toml::table& t, std::string_view key, const std::string& prefix, Ctx& c,
                  int64_t* out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  std::optional<int64_t> ns;
  if (n->is_string()) {
    ns = ParseDuration(n->as_string()->get());
  } else if (n->is_integer()) {
    int64_t s = n->as_integer()->get();
    if (s > 0 && s <= kMaxDurationNs / kNsPerSec) ns = s * kNsPerSec;
  }
  if (!ns || *ns <= 0 || *ns > kMaxDurationNs) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key),
              "must be a duration > 0 and <= 365d, like \"250ms\", \"45s\", \"30m\", \"1h\" or \"2d\", got " +
                  Show(*n));
    return false;
  }
  *out = *ns;
  return true;
}

std::string FormatSize(uint64_t bytes);  // below

std::string PercentText(double pct) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", pct);
  return buf;
}

bool ReadSize(const toml::table& t, std::string_view key, const std::string& prefix, Ctx& c,
              uint64_t lo, uint64_t hi, uint64_t* out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  std::optional<uint64_t> bytes;
  if (n->is_string()) {
    bytes = ParseSize(n->as_string()->get());
  } else if (n->is_integer() && n->as_integer()->get() >= 0) {
    bytes = uint64_t(n->as_integer()->get());
  }
  if (!bytes || *bytes < lo || *bytes > hi) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key),
              "must be a size from " + FormatSize(lo) + " to " + FormatSize(hi) +
                  ", like \"512K\", \"100M\" or \"1G\" (powers of 1024), got " +
                  Show(*n));
    return false;
  }
  *out = *bytes;
  return true;
}

// A host can have this address: not 0.0.0.0/8, loopback, multicast or broadcast.
bool IsUnicastHost(Ip4 ip) {
  uint32_t top = ip.v >> 24;
  return top != 0 && top != 127 && top < 224;
}

bool ReadIp4(const toml::table& t, std::string_view key, const std::string& prefix, Ctx& c,
             Ip4* out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  std::optional<Ip4> ip;
  if (n->is_string()) ip = Ip4::Parse(n->as_string()->get());
  if (!ip) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key),
              "must be an IPv4 address in quotes like \"192.0.2.10\", got " + Show(*n));
    return false;
  }
  if (!IsUnicastHost(*ip)) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key),
              "must be a unicast host address (not 0.x, 127.x, multicast or broadcast), got " + Show(*n));
    return false;
  }
  *out = *ip;
  return true;
}

bool ReadMac(const toml::table& t, std::string_view key, const std::string& prefix, Ctx& c,
             Mac* out) {
  const toml::node* n = t.get(key);
  if (!n) return false;
  std::optional<Mac> mac;
  if (n->is_string()) mac = Mac::Parse(n->as_string()->get());
  if (!mac || mac->IsMulticast() || mac->IsZero()) {
    c.err.Add(LineOf(*n), JoinKey(prefix, key),
              "must be a unicast MAC address like \"52:54:00:12:34:56\" (first byte even, not all zero), got " +
                  Show(*n));
    return false;
  }
  *out = *mac;
  return true;
}

// A sub-table; reports an error when the key holds something else.
const toml::table* ReadTable(const toml::table& t, std::string_view key, const std::string& prefix,
                             Ctx& c) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) {
    std::string full = JoinKey(prefix, key);
    c.err.Add(LineOf(*n), full, "must be a table (a [" + full + "] section), got " + Show(*n));
    return nullptr;
  }
  return n->as_table();
}

// ---------------------------------------------------------------------------
// Sections

// Linux accepts an interface name of 1..15 bytes without '/', ':' or
// whitespace, and not "." or "..".
bool ValidInterfaceName(const std::string& s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  for (unsigned char ch : s) {
    if (ch == '/' || ch == ':' || ch <= ' ' || ch == 0x7f) return false;
  }
  return true;
}

bool ValidHoneypotName(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (unsigned char ch : s) {
    if (!std::isalnum(ch) && ch != '_' && ch != '.' && ch != '-') return false;
  }
  return true;
}

// Parses the [limits] keys of t on top of base (the global limits, or the
// defaults for the global table itself).
Limits ParseLimits(const toml::table& t, const std::string& prefix, const Limits& base, Ctx& c) {
  const bool global = prefix == "limits";
  if (global) {
    CheckKeys(t, prefix, {"tcp", "udp", "icmp", "other", "broadcast", "window", "period", "bandwidth",
                          "bandwidth_burst", "bandwidth_total"}, c.err);
  } else {
    CheckKeys(t, prefix, {"tcp", "udp", "icmp", "other", "broadcast", "window", "period", "bandwidth",
                          "bandwidth_burst"}, c.err);
  }
  Limits out = base;
  if (const toml::node* n = t.get("bandwidth")) {
    std::optional<uint64_t> r;
    if (n->is_string()) r = ParseRate(n->as_string()->get());
    if (!r || *r < kMinRateBps || *r > kMaxRateBps) {
      c.err.Add(LineOf(*n), JoinKey(prefix, "bandwidth"),
                "must be a rate in bits per second from 8kbit to 100Gbit, decimal units, like \"8Mbit\", "
                "\"500kbit\" or \"1Gbit\", got " + Show(*n));
    } else {
      out.bandwidth_bps = *r;
    }
  }
  ReadSize(t, "bandwidth_burst", prefix, c, 1500, 1ULL << 30, &out.bandwidth_burst);
  static constexpr std::string_view kNames[kProtoClasses] = {"tcp", "udp", "icmp", "other", "broadcast"};
  for (int i = 0; i < kProtoClasses; i++) {
    int64_t v;
    if (ReadInt(t, kNames[i], prefix, c, 0, kMaxLimit, &v)) out.max[size_t(i)] = uint32_t(v);
  }
  if (const toml::node* w = t.get("window")) {
    std::optional<int64_t> ns;
    if (w->is_string() && w->as_string()->get() == "token-bucket") {
      out.kind = WindowKind::kTokenBucket;  // period: below, else the base's span
    } else {
      if (w->is_string()) ns = ParseDuration(w->as_string()->get());
      if (w->is_integer() && w->as_integer()->get() > 0 &&
          w->as_integer()->get() <= kMaxDurationNs / kNsPerSec) {
        ns = w->as_integer()->get() * kNsPerSec;
      }
      if (!ns || *ns <= 0 || *ns > kMaxDurationNs) {
        c.err.Add(LineOf(*w), JoinKey(prefix, "window"),
                  "must be the sliding window's length as a duration > 0 and <= 365d, like \"1h\" "
                  "or \"30m\", or \"token-bucket\", got " + Show(*w));
      } else {
        out.kind = WindowKind::kSliding;
        out.window_ns = *ns;
      }
    }
  }
  if (const toml::node* p = t.get("period")) {
    int64_t ns;
    if (out.kind != WindowKind::kTokenBucket) {
      c.err.Add(LineOf(*p), JoinKey(prefix, "period"),
                "only used with window = \"token-bucket\" (a sliding window's length is window "
                "itself), got " + Show(*p));
    } else if (ReadDuration(t, "period", prefix, c, &ns)) {
      out.window_ns = ns;
    }
  }
  return out;
}

// An image kind: 1 to 32 of a-z 0-9 _ . -, starting with a letter or digit
// (which kinds exist is the lab's business: src/lab/image.h).
bool ValidImageName(const std::string& s) {
  if (s.empty() || s.size() > 32 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (unsigned char ch : s) {
    if (!(std::islower(ch) || std::isdigit(ch) || ch == '_' || ch == '.' || ch == '-')) return false;
  }
  return true;
}

// A host name a guest can carry: 1 to 63 of A-Z a-z 0-9 . -, not starting
// with '-' or '.', not ending with '.', no empty label.
bool ValidHostname(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] == '-' || s[0] == '.' || s.back() == '.') return false;
  if (s.find("..") != std::string::npos) return false;
  for (unsigned char ch : s) {
    if (!std::isalnum(ch) && ch != '.' && ch != '-') return false;
  }
  return true;
}

constexpr uint64_t kMinGuestMem = 16ULL << 20;
constexpr uint64_t kMaxGuestMem = 16ULL << 30;

// The lab's keys of a honeypot (kind, image, mem, hostname); the honeywall
// ignores them. hostname defaults to the name (set by the caller once the name
// is read).
void ParseGuestKeys(const toml::table& t, const std::string& prefix, Ctx& c, HoneypotConfig* hp) {
  std::string kind;
  if (ReadString(t, "kind", prefix, c, &kind)) {
    if (kind == "uml" || kind == "netns") {
      hp->kind = kind;
    } else {
      c.err.Add(LineOf(*t.get("kind")), prefix + ".kind",
                "must be \"uml\" (a User-Mode Linux guest, the default) or \"netns\" (a namespace honeypot: "
                "lighter, contains far less), got " + Quote(kind));
    }
  }
  std::string image;
  if (ReadString(t, "image", prefix, c, &image)) {
    if (ValidImageName(image)) {
      hp->image = image;
    } else {
      c.err.Add(LineOf(*t.get("image")), prefix + ".image",
                "must be an image kind like \"busybox\" or \"debian\" (1 to 32 of a-z 0-9 _ . -; "
                "`honeynet image list` shows the built ones), got " + Quote(image));
    }
  }
  if (const toml::node* n = t.get("mem")) {
    std::optional<uint64_t> bytes;
    if (n->is_string()) bytes = ParseSize(n->as_string()->get());
    if (n->is_integer() && n->as_integer()->get() >= 0) bytes = uint64_t(n->as_integer()->get());
    if (!bytes || *bytes < kMinGuestMem || *bytes > kMaxGuestMem || *bytes % (1ULL << 20) != 0) {
      c.err.Add(LineOf(*n), prefix + ".mem",
                "must be the guest's memory in whole MiB from 16M to 16G, like \"64M\" or \"1G\", got " +
                    Show(*n));
    } else {
      hp->mem_mb = uint32_t(*bytes >> 20);
    }
  }
  std::string host;
  if (ReadString(t, "hostname", prefix, c, &host)) {
    if (ValidHostname(host)) {
      hp->hostname = host;
    } else {
      c.err.Add(LineOf(*t.get("hostname")), prefix + ".hostname",
                "must be a host name of 1 to 63 of A-Z a-z 0-9 . - (not starting with - or ., "
                "no empty label), like \"www1\", got " + Quote(host));
    }
  }
  // Containment limits (docs/security.md).
  ReadInt(t, "pids_max", prefix, c, 16, 1 << 22, &hp->pids_max);
  ReadSize(t, "memory_max", prefix, c, 32ULL << 20, 1ULL << 40, &hp->memory_max);
  ReadSize(t, "swap_max", prefix, c, 0, 1ULL << 40, &hp->swap_max);
  if (const toml::node* n = t.get("cpu_max")) {
    // 50 or "50%": percent of one CPU.
    std::optional<int64_t> pct;
    if (n->is_integer()) pct = n->as_integer()->get();
    if (n->is_string()) {
      std::string v = n->as_string()->get();
      if (!v.empty() && v.back() == '%') v.pop_back();
      if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.size() < 7) pct = std::stoll(v);
    }
    const int64_t hi = 100 * std::max<long>(1, ::sysconf(_SC_NPROCESSORS_ONLN));
    if (!pct || *pct < 1 || *pct > hi) {
      c.err.Add(LineOf(*n), prefix + ".cpu_max",
                "must be a share of one CPU in percent from 1 to " + std::to_string(hi) + ", like 50 or \"50%\", got " +
                    Show(*n));
    } else {
      hp->cpu_max = *pct;
    }
  }
  ReadInt(t, "io_weight", prefix, c, 1, 10000, &hp->io_weight);
  ReadSize(t, "disk_max", prefix, c, 16ULL << 20, 1ULL << 40, &hp->disk_max);
  ReadBool(t, "unsafe", prefix, c, &hp->unsafe);
  ReadDuration(t, "reset_idle", prefix, c, &hp->reset_idle_ns);
  ReadDuration(t, "reset_max_age", prefix, c, &hp->reset_max_age_ns);
  ReadDuration(t, "reset_jitter", prefix, c, &hp->reset_jitter_ns);
  ReadBool(t, "reset_archive", prefix, c, &hp->reset_archive);
}

// Where each honeypot's values were written, for cross-checks.
struct HoneypotLines {
  int table = 1, name = 1, ip = 1, public_ip = 1, mac = 1;
};

HoneypotConfig ParseHoneypot(const toml::table& t, size_t index, const Limits& global, Ctx& c,
                             HoneypotLines* lines) {
  std::string prefix = "honeypot[" + std::to_string(index) + "]";
  CheckKeys(t, prefix,
            {"name", "ip", "ip6", "public_ip", "mac", "limits", "kind", "image", "mem", "hostname", "pids_max", "memory_max",
             "swap_max", "cpu_max", "io_weight", "disk_max", "unsafe", "reset_idle", "reset_max_age",
              "reset_jitter", "reset_archive"},
            c.err);
  HoneypotConfig hp;
  hp.limits = global;
  lines->table = LineOf(t, c.fallback_line);
  auto line_of = [&](std::string_view key) {
    const toml::node* n = t.get(key);
    return n ? LineOf(*n, lines->table) : lines->table;
  };
  lines->name = line_of("name");
  lines->ip = line_of("ip");
  lines->public_ip = line_of("public_ip");
  lines->mac = line_of("mac");

  if (!t.get("name")) {
    c.err.Add(lines->table, prefix + ".name",
              "missing; every [[honeypot]] needs a unique name like \"hp1\"");
  } else if (ReadString(t, "name", prefix, c, &hp.name) && !ValidHoneypotName(hp.name)) {
    c.err.Add(lines->name, prefix + ".name",
              "must be 1 to 32 of A-Z a-z 0-9 _ . -, got " + Quote(hp.name));
  }
  if (!t.get("ip")) {
    c.err.Add(lines->table, prefix + ".ip",
              "missing; every [[honeypot]] needs its IPv4 address like \"10.0.0.2\"");
  } else {
    ReadIp4(t, "ip", prefix, c, &hp.ip);
  }
  Ip4 pub;
  if (ReadIp4(t, "public_ip", prefix, c, &pub)) hp.public_ip = pub;
  Mac mac;
  if (ReadMac(t, "mac", prefix, c, &mac)) hp.mac = mac;
  if (const toml::node* n = t.get("ip6")) {
    // One address or a list of them.
    auto one = [&](const toml::node& v, const std::string& key) {
      std::optional<Ip6> a;
      if (v.is_string()) a = Ip6::Parse(v.as_string()->get());
      if (!a || a->b[0] == 0xff || std::all_of(a->b.begin(), a->b.end(), [](uint8_t x) { return x == 0; })) {
        c.err.Add(LineOf(v, LineOf(*n)), key,
                  "must be a unicast IPv6 address in quotes like \"2001:db8::10\" (or a list of them), got " + Show(v));
      } else {
        hp.ip6.push_back(*a);
      }
    };
    if (const toml::array* a = n->as_array()) {
      for (size_t i = 0; i < a->size(); i++) one((*a)[i], prefix + ".ip6[" + std::to_string(i) + "]");
    } else {
      one(*n, prefix + ".ip6");
    }
  }
  if (const toml::table* lt = ReadTable(t, "limits", prefix, c)) {
    hp.limits = ParseLimits(*lt, prefix + ".limits", global, c);
  }
  ParseGuestKeys(t, prefix, c, &hp);
  if (hp.hostname.empty()) hp.hostname = hp.name;
  return hp;
}

// [inside] / [outside]: interface, mac, and the mode-specific gateway key.
void ParsePort(const toml::table& t, const std::string& name, std::string_view gw_key, Ctx& c,
               PortConfig* port) {
  CheckKeys(t, name, {"interface", "mac", gw_key}, c.err);
  if (ReadString(t, "interface", name, c, &port->interface) && !ValidInterfaceName(port->interface)) {
    c.err.Add(LineOf(*t.get("interface")), name + ".interface",
              "must be an interface name of 1 to 15 characters without '/', ':' or spaces, got " +
                  Quote(port->interface));
  }
  Mac mac;
  if (ReadMac(t, "mac", name, c, &mac)) port->mac = mac;
}

std::string PrefixString(const Ip4Prefix& p) { return p.addr.ToString() + "/" + std::to_string(p.len); }

Ip4 NetworkOf(const Ip4Prefix& p) { return Ip4{p.addr.v & p.Mask()}; }

// Checks that need the whole file: interfaces, nat requirements, prefixes,
// duplicates. lines: where each honeypot was written.
void CrossCheck(Config& cfg, const std::vector<HoneypotLines>& lines, int mode_line,
                const std::map<std::string, int>& key_lines, int honeypot_line, bool report_none,
                Ctx& c) {
  auto line = [&](const std::string& key, int fallback) {
    auto it = key_lines.find(key);
    return it == key_lines.end() ? fallback : it->second;
  };
  bool nat = cfg.mode == Mode::kNat;

  if (cfg.inside.interface == cfg.outside.interface) {
    c.err.Add(line("outside.interface", line("inside.interface", 1)), "outside.interface",
              "must differ from inside.interface (the honeywall sits between two ports), got " +
                  Quote(cfg.outside.interface));
  }
  if (cfg.honeypots.empty() && report_none) {
    c.err.Add(honeypot_line, "honeypot",
              "at least one [[honeypot]] is needed (with name and ip), got none");
  }

  if (nat) {
    if (!cfg.inside_gateway_ip) {
      if (!key_lines.count("inside.gateway_ip")) {
        c.err.Add(line("inside", mode_line), "inside.gateway_ip",
                  "missing; mode = \"nat\" needs the honeypots' gateway with prefix length, like "
                  "gateway_ip = \"10.0.0.1/24\" under [inside]");
      }
    }
    if (!cfg.outside_gateway && !key_lines.count("outside.gateway") && !cfg.uplink) {
      c.err.Add(line("outside", mode_line), "outside.gateway",
                "missing; mode = \"nat\" needs the upstream router's IPv4 address, like "
                "gateway = \"192.0.2.1\" under [outside]");
    }
  }
  if (nat && cfg.inside_gateway_ip && cfg.outside_gateway &&
      cfg.inside_gateway_ip->Contains(*cfg.outside_gateway)) {
    c.err.Add(line("outside.gateway", 1), "outside.gateway",
              "must be outside the inside network " + PrefixString(*cfg.inside_gateway_ip) +
                  ", got " + Quote(cfg.outside_gateway->ToString()));
  }

  // First occurrence of each value, for duplicate messages.
  std::map<std::string, size_t> names, ips, pubs, macs;
  for (size_t i = 0; i < cfg.honeypots.size(); i++) {
    HoneypotConfig& hp = cfg.honeypots[i];
    const HoneypotLines& ln = lines[i];
    std::string p = "honeypot[" + std::to_string(i) + "]";
    auto dup = [&](std::map<std::string, size_t>& seen, const std::string& value, const char* key,
                   int at) {
      auto [it, fresh] = seen.emplace(value, i);
      if (!fresh) {
        c.err.Add(at, p + "." + key,
                  "must be unique, same as honeypot[" + std::to_string(it->second) + "]." + key +
                      ", got " + Quote(value));
      }
    };
    if (!hp.name.empty()) dup(names, hp.name, "name", ln.name);
    if (hp.ip.v != 0) dup(ips, hp.ip.ToString(), "ip", ln.ip);
    if (hp.mac) {
      dup(macs, hp.mac->ToString(), "mac", ln.mac);
      for (const PortConfig* port : {&cfg.inside, &cfg.outside}) {
        if (port->mac && *port->mac == *hp.mac) {
          c.err.Add(ln.mac, p + ".mac",
                    "must differ from the honeywall's " +
                        std::string(port == &cfg.inside ? "inside.mac" : "outside.mac") + ", got " +
                        Quote(hp.mac->ToString()));
        }
      }
    }

    if (!nat) {
      // Bridge mode keeps the honeypot's own address: a public_ip equal to it
      // is harmless and dropped, anything else is a misunderstanding.
      if (hp.public_ip && *hp.public_ip != hp.ip) {
        c.err.Add(ln.public_ip, p + ".public_ip",
                  "public_ip is for nat mode (in bridge mode the honeypot is reached at its own ip); "
                  "remove it or set mode = \"nat\", got " + Quote(hp.public_ip->ToString()));
      }
      hp.public_ip.reset();
      continue;
    }
    if (!hp.public_ip) {
      if (!key_lines.count(p + ".public_ip")) {
        c.err.Add(ln.table, p + ".public_ip",
                  "missing; mode = \"nat\" needs each honeypot's public address, like "
                  "public_ip = \"192.0.2.10\"");
      }
    } else {
      dup(pubs, hp.public_ip->ToString(), "public_ip", ln.public_ip);
      if (cfg.outside_gateway && *hp.public_ip == *cfg.outside_gateway) {
        c.err.Add(ln.public_ip, p + ".public_ip",
                  "must not be outside.gateway (the upstream router's own address), got " +
                      Quote(hp.public_ip->ToString()));
      }
      if (cfg.inside_gateway_ip && cfg.inside_gateway_ip->Contains(*hp.public_ip)) {
        c.err.Add(ln.public_ip, p + ".public_ip",
                  "must be outside the inside network " + PrefixString(*cfg.inside_gateway_ip) +
                      " (it is the address the outside sees), got " + Quote(hp.public_ip->ToString()));
      }
    }
    if (cfg.inside_gateway_ip && hp.ip.v != 0) {
      const Ip4Prefix& gw = *cfg.inside_gateway_ip;
      if (!gw.Contains(hp.ip)) {
        c.err.Add(ln.ip, p + ".ip",
                  "must be inside inside.gateway_ip's network " + PrefixString(gw) +
                      " in nat mode, got " + Quote(hp.ip.ToString()));
      } else if (hp.ip == gw.addr) {
        c.err.Add(ln.ip, p + ".ip",
                  "must not be inside.gateway_ip's own address (the honeywall answers for it), got " +
                      Quote(hp.ip.ToString()));
      } else if (gw.len <= 30 && (hp.ip == NetworkOf(gw) || hp.ip == gw.Broadcast())) {
        c.err.Add(ln.ip, p + ".ip",
                  "must not be the network or broadcast address of " + PrefixString(gw) + ", got " +
                      Quote(hp.ip.ToString()));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Top level

// management_ports: a list of TCP ports (1-65535), no duplicates.
void ReadPortList(const toml::node& n, const std::string& key, Ctx& c, std::vector<uint16_t>* out) {
  if (!n.is_array()) {
    c.err.Add(LineOf(n), key, "must be a list of TCP ports like [22], got " + Show(n));
    return;
  }
  out->clear();
  const toml::array& a = *n.as_array();
  for (size_t i = 0; i < a.size(); i++) {
    const int64_t v = a[i].is_integer() ? a[i].as_integer()->get() : -1;
    if (v < 1 || v > 65535) {
      c.err.Add(LineOf(a[i], LineOf(n)), key + "[" + std::to_string(i) + "]",
                "must be a TCP port from 1 to 65535, got " + Show(a[i]));
    } else if (std::find(out->begin(), out->end(), uint16_t(v)) != out->end()) {
      c.err.Add(LineOf(a[i], LineOf(n)), key + "[" + std::to_string(i) + "]", "is listed twice: " + Show(a[i]));
    } else {
      out->push_back(uint16_t(v));
    }
  }
}

// management_from: a list of "a.b.c.d/len" (or a bare address, /32).
void ReadPrefixList(const toml::node& n, const std::string& key, Ctx& c, std::vector<Ip4Prefix>* out) {
  if (!n.is_array()) {
    c.err.Add(LineOf(n), key, "must be a list of IPv4 networks like [\"198.51.100.7/32\"], got " + Show(n));
    return;
  }
  out->clear();
  const toml::array& a = *n.as_array();
  for (size_t i = 0; i < a.size(); i++) {
    std::optional<Ip4Prefix> p;
    if (a[i].is_string()) {
      const std::string& v = a[i].as_string()->get();
      p = v.find('/') == std::string::npos ? (Ip4::Parse(v) ? std::optional<Ip4Prefix>(Ip4Prefix{*Ip4::Parse(v), 32})
                                                            : std::nullopt)
                                           : Ip4Prefix::Parse(v);
    }
    if (!p) {
      c.err.Add(LineOf(a[i], LineOf(n)), key + "[" + std::to_string(i) + "]",
                "must be an IPv4 network in quotes like \"198.51.100.0/24\" or an address, got " + Show(a[i]));
    } else {
      out->push_back(*p);
    }
  }
}

// [uplink] (docs/deploy.md). Top-level management_ports / management_from are
// read as the same keys (a config may set them beside mode); both places at
// once is an error.
void ParseUplink(const toml::table& root, Config& cfg, Ctx& c) {
  const toml::table* t = ReadTable(root, "uplink", "", c);
  for (const char* key : {"management_ports", "management_from"}) {
    const toml::node* top = root.get(key);
    if (top == nullptr) continue;
    if (t == nullptr) {
      c.err.Add(LineOf(*top), key, "is only used with [uplink] (the host's real network); add [uplink] "
                                   "interface = \"eth0\" or remove the key");
    } else if (t->get(key) != nullptr) {
      c.err.Add(LineOf(*top), key, "is set twice: here and as uplink." + std::string(key) + "; keep one");
    }
  }
  if (t == nullptr) return;
  CheckKeys(*t, "uplink",
            {"interface", "management_ports", "management_from", "transit", "accept_stock_kernel", "new_macs"}, c.err);
  UplinkConfig u;
  const int line = LineOf(*t, 1);
  if (!ReadString(*t, "interface", "uplink", c, &u.interface)) {
    if (t->get("interface") == nullptr)
      c.err.Add(line, "uplink.interface",
                "missing; [uplink] needs the host's interface to the real network, like interface = \"eth0\"");
  } else if (u.interface.empty() || u.interface.size() > 15 ||
             u.interface.find_first_of("/: \t") != std::string::npos || u.interface == "lo") {
    c.err.Add(LineOf(*t->get("interface")), "uplink.interface",
              "must be the name of a network interface of this host (1 to 15 characters, not lo), got " +
                  Show(*t->get("interface")));
  }
  const toml::node* ports = t->get("management_ports");
  if (ports == nullptr) ports = root.get("management_ports");
  if (ports != nullptr) ReadPortList(*ports, "uplink.management_ports", c, &u.management_ports);
  const toml::node* from = t->get("management_from");
  if (from == nullptr) from = root.get("management_from");
  if (from != nullptr) ReadPrefixList(*from, "uplink.management_from", c, &u.management_from);
  if (const toml::node* n = t->get("transit")) {
    std::optional<Ip4Prefix> p;
    if (n->is_string()) p = Ip4Prefix::Parse(n->as_string()->get());
    if (!p || p->len < 16 || p->len > 29) {
      c.err.Add(LineOf(*n), "uplink.transit",
                "must be an IPv4 network from /16 to /29 no one else uses, like \"198.18.254.0/24\", got " +
                    Show(*n));
    } else {
      u.transit = Ip4Prefix{Ip4{p->addr.v & p->Mask()}, p->len};
    }
  }
  ReadBool(*t, "accept_stock_kernel", "uplink", c, &u.accept_stock_kernel);
  ReadBool(*t, "new_macs", "uplink", c, &u.new_macs);
  cfg.uplink = u;
}

// [rules]: files = ["a.rules", {path = "et.rules", turn_around = true}], and
// [rules.vars] NAME = "value". Relative paths start at the config file's
// directory. The rule files themselves are read by the honeywall (src/rules/).
void ParseRules(const toml::table& root, Config& cfg, Ctx& c) {
  const toml::table* t = ReadTable(root, "rules", "", c);
  if (!t) return;
  CheckKeys(*t, "rules", {"files", "vars"}, c.err);
  std::string base;
  if (const size_t slash = cfg.source.rfind('/'); slash != std::string::npos) {
    base = cfg.source.substr(0, slash + 1);
  }
  if (!base.empty() && base[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) base = std::string(cwd) + "/" + base;
  } else if (base.empty()) {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) base = std::string(cwd) + "/";
  }
  auto absolute = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : base + p; };
  if (const toml::node* n = t->get("files")) {
    const toml::array* a = n->as_array();
    if (!a) {
      c.err.Add(LineOf(*n), "rules.files", "must be a list of rule files like [\"local.rules\"], got " + Show(*n));
    } else {
      for (size_t i = 0; i < a->size(); i++) {
        const toml::node& e = *a->get(i);
        const std::string key = "rules.files[" + std::to_string(i) + "]";
        RulesFileConfig f;
        f.line = LineOf(e, LineOf(*n));
        if (e.is_string()) {
          f.path = e.as_string()->get();
        } else if (const toml::table* ft = e.as_table()) {
          CheckKeys(*ft, key, {"path", "turn_around"}, c.err);
          Ctx fc{c.err, f.line};
          if (!ReadString(*ft, "path", key, fc, &f.path)) {
            c.err.Add(f.line, key + ".path", "missing; a rules file entry names its file: {path = \"x.rules\"}");
            continue;
          }
          ReadBool(*ft, "turn_around", key, fc, &f.turn_around);
        } else {
          c.err.Add(f.line, key, "must be a file name or {path = \"...\", turn_around = true}, got " + Show(e));
          continue;
        }
        if (f.path.empty()) {
          c.err.Add(f.line, key, "must name a file, got \"\"");
          continue;
        }
        f.path = absolute(f.path);
        cfg.rules.files.push_back(f);
      }
    }
  }
  if (const toml::table* v = ReadTable(*t, "vars", "rules", c)) {
    for (const auto& [k, node] : *v) {
      const std::string name(k.str());
      bool ok = !name.empty() && name.size() <= 64;
      for (unsigned char ch : name) ok = ok && (std::isalnum(ch) || ch == '_');
      if (!ok) {
        c.err.Add(LineOf(node), "rules.vars." + name, "a variable name is letters, digits and _ (like HOME_NET)");
        continue;
      }
      std::string value;
      if (node.is_string()) {
        value = node.as_string()->get();
      } else if (node.is_integer()) {
        value = std::to_string(node.as_integer()->get());
      } else {
        c.err.Add(LineOf(node), "rules.vars." + name,
                  "must be a string like \"[10.0.0.0/8,192.0.2.7]\" or \"[80,8080]\", got " + Show(node));
        continue;
      }
      cfg.rules.vars.emplace_back(name, value);
    }
  }
}

// [alerts] (docs/alerts.md): sinks (command, webhook, syslog; at least one),
// kinds, rate limits, sink timeout, disk threshold.
void ParseAlerts(const toml::table& root, Config& cfg, Ctx& c) {
  const toml::table* t = ReadTable(root, "alerts", "", c);
  if (t == nullptr) return;
  CheckKeys(*t, "alerts", {"command", "webhook", "syslog", "kinds", "rate", "burst", "timeout", "disk_full"}, c.err);
  AlertsConfig a;
  const int line = LineOf(*t, 1);
  if (ReadString(*t, "command", "alerts", c, &a.command) && a.command.find_first_not_of(" \t") == std::string::npos) {
    c.err.Add(LineOf(*t->get("command")), "alerts.command",
              "must be a shell command like \"cat >> /var/log/honeynet-alerts.jsonl\", got " + Quote(a.command));
  }
  if (ReadString(*t, "webhook", "alerts", c, &a.webhook)) {
    const std::string& u = a.webhook;
    const size_t rest = u.rfind("https://", 0) == 0 ? 8 : u.rfind("http://", 0) == 0 ? 7 : 0;
    bool ok = rest != 0 && u.size() > rest && u[rest] != '/' && u.size() <= 2048;
    for (unsigned char ch : u) ok = ok && ch > ' ' && ch < 0x7f;
    if (!ok) {
      c.err.Add(LineOf(*t->get("webhook")), "alerts.webhook",
                "must be an http:// or https:// URL like \"https://hooks.example.org/honeynet\", got " + Quote(u));
    }
  }
  ReadBool(*t, "syslog", "alerts", c, &a.syslog);
  if (const toml::node* n = t->get("kinds")) {
    const toml::array* arr = n->as_array();
    std::string known;
    for (const char* k : kAlertKinds) known += (known.empty() ? "" : ", ") + std::string(k);
    if (arr == nullptr) {
      c.err.Add(LineOf(*n), "alerts.kinds", "must be a list of alert kinds like [\"new_attacker\", \"login\"] (" +
                                               known + "), got " + Show(*n));
    } else {
      for (size_t i = 0; i < arr->size(); i++) {
        const toml::node& e = *arr->get(i);
        const std::string key = "alerts.kinds[" + std::to_string(i) + "]";
        const bool valid = e.is_string() && std::any_of(std::begin(kAlertKinds), std::end(kAlertKinds), [&](const char* k) {
                             return e.as_string()->get() == k;
                           });
        if (!valid) {
          c.err.Add(LineOf(e, LineOf(*n)), key, "unknown alert kind (known: " + known + "), got " + Show(e));
        } else if (std::find(a.kinds.begin(), a.kinds.end(), e.as_string()->get()) == a.kinds.end()) {
          a.kinds.push_back(e.as_string()->get());
        }
      }
      if (arr->empty()) c.err.Add(LineOf(*n), "alerts.kinds", "is empty: leave it out to send every kind (" + known + ")");
    }
  }
  ReadInt(*t, "rate", "alerts", c, 1, 60000, &a.rate);
  ReadInt(*t, "burst", "alerts", c, 1, 10000, &a.burst);
  ReadDuration(*t, "timeout", "alerts", c, &a.timeout_ns);
  if (const toml::node* n = t->get("disk_full")) {
    bool ok = false;
    if (n->is_string()) {
      std::string v = n->as_string()->get();
      if (!v.empty() && v.back() == '%') {
        v.pop_back();
        char* end = nullptr;
        const double pct = std::strtod(v.c_str(), &end);
        ok = !v.empty() && end != nullptr && *end == '\0' && pct > 0 && pct <= 100;
        if (ok) a.disk_full_pct = pct;
      }
    } else if (n->is_integer() && n->as_integer()->get() > 0 && n->as_integer()->get() <= 100) {
      a.disk_full_pct = double(n->as_integer()->get());
      ok = true;
    }
    if (!ok) {
      c.err.Add(LineOf(*n), "alerts.disk_full",
                "must be the share of the capture filesystem in use that raises the alert, like \"90%\" (more than "
                "0, at most 100), got " + Show(*n));
    }
  }
  if (!t->get("command") && !t->get("webhook") && !a.syslog) {
    c.err.Add(line, "alerts", "has no sink: set command = \"...\", webhook = \"https://...\" or syslog = true");
  }
  cfg.alerts = a;
}

void ParseTop(const toml::table& root, Config& cfg, Ctx& c) {
  CheckKeys(root,
            "", {"mode", "roach_motel", "dns_servers", "dhcp_servers", "ipv6", "busy_poll", "gso", "gro", "coalesce", "inside", "outside", "honeypot",
                 "limits", "capture", "flow", "uplink", "management_ports", "management_from", "rules", "alerts"},
            c.err);
  // Lines of keys that were present (valid or not), for cross-check messages.
  std::map<std::string, int> key_lines;
  auto note = [&](const toml::table& t, const std::string& prefix, std::string_view key, int fb) {
    if (const toml::node* n = t.get(key)) key_lines[JoinKey(prefix, key)] = LineOf(*n, fb);
  };

  int mode_line = 1;
  if (const toml::node* n = root.get("mode")) {
    mode_line = LineOf(*n);
    std::string m;
    if (ReadString(root, "mode", "", c, &m)) {
      if (m == "bridge") {
        cfg.mode = Mode::kBridge;
      } else if (m == "nat") {
        cfg.mode = Mode::kNat;
      } else {
        c.err.Add(mode_line, "mode", "must be \"bridge\" or \"nat\", got " + Show(*n));
      }
    }
  }
  ReadBool(root, "roach_motel", "", c, &cfg.roach_motel);
  ReadBool(root, "ipv6", "", c, &cfg.allow_ipv6);
  ReadBool(root, "gso", "", c, &cfg.gso);
  ReadBool(root, "coalesce", "", c, &cfg.coalesce);
  // gro = true: the kernel coalesces received TCP frames on the data ports
  // (GRO), so super-frames arrive even from senders without TSO; carrying
  // them whole is what gso does, so gro implies it (docs/config.md).
  if (const toml::node* n = root.get("gro"); n && ReadBool(root, "gro", "", c, &cfg.gro) && cfg.gro) {
    if (const toml::node* g = root.get("gso"); g && g->is_boolean() && !cfg.gso) {
      c.err.Add(LineOf(*n), "gro",
                "true needs gso = true (the super-frames GRO makes are carried whole); gso = false is on line " +
                    std::to_string(LineOf(*g)));
    }
    cfg.gso = true;
  }
  if (const toml::node* n = root.get("busy_poll")) {
    int64_t ns = 0;
    if (ReadDuration(root, "busy_poll", "", c, &ns)) {
      if (ns > kNsPerSec) {
        c.err.Add(LineOf(*n), "busy_poll", "must be at most 1s (the forwarder spins that long after a frame), got " + Show(*n));
      } else {
        cfg.busy_poll_ns = ns;
      }
    }
  }
  // dns_servers, dhcp_servers: lists of unicast IPv4 addresses.
  for (auto [key, out] : {std::pair<const char*, std::vector<Ip4>*>{"dns_servers", &cfg.dns_servers},
                          std::pair<const char*, std::vector<Ip4>*>{"dhcp_servers", &cfg.dhcp_servers}}) {
    const toml::node* n = root.get(key);
    if (!n) continue;
    if (!n->is_array()) {
      c.err.Add(LineOf(*n), key, "must be a list of IPv4 addresses like [\"192.0.2.53\"], got " + Show(*n));
      continue;
    }
    const toml::array& a = *n->as_array();
    for (size_t i = 0; i < a.size(); i++) {
      std::optional<Ip4> ip;
      if (a[i].is_string()) ip = Ip4::Parse(a[i].as_string()->get());
      if (!ip || !IsUnicastHost(*ip)) {
        c.err.Add(LineOf(a[i], LineOf(*n)), std::string(key) + "[" + std::to_string(i) + "]",
                  "must be a unicast IPv4 address in quotes like \"192.0.2.53\", got " + Show(a[i]));
      } else {
        out->push_back(*ip);
      }
    }
  }

  if (const toml::table* t = ReadTable(root, "inside", "", c)) {
    key_lines["inside"] = LineOf(*t, mode_line);
    note(*t, "inside", "interface", mode_line);
    note(*t, "inside", "gateway_ip", mode_line);
    ParsePort(*t, "inside", "gateway_ip", c, &cfg.inside);
    if (const toml::node* n = t->get("gateway_ip")) {
      std::optional<Ip4Prefix> p;
      if (n->is_string()) {
        const std::string& s = n->as_string()->get();
        if (s.find('/') != std::string::npos) p = Ip4Prefix::Parse(s);
      }
      if (!p || p->len < 1 || p->len > 30) {
        c.err.Add(LineOf(*n), "inside.gateway_ip",
                  "must be an IPv4 address with a prefix length from /1 to /30, like \"10.0.0.1/24\", got " +
                      Show(*n));
      } else if (p->addr == NetworkOf(*p) || p->addr == p->Broadcast()) {
        c.err.Add(LineOf(*n), "inside.gateway_ip",
                  "must be a host address, not the network or broadcast address, like \"10.0.0.1/24\", got " +
                      Show(*n));
      } else {
        cfg.inside_gateway_ip = p;
      }
    }
  }
  if (const toml::table* t = ReadTable(root, "outside", "", c)) {
    key_lines["outside"] = LineOf(*t, mode_line);
    note(*t, "outside", "interface", mode_line);
    note(*t, "outside", "gateway", mode_line);
    ParsePort(*t, "outside", "gateway", c, &cfg.outside);
    Ip4 gw;
    if (ReadIp4(*t, "gateway", "outside", c, &gw)) cfg.outside_gateway = gw;
  }

  // Global limits first, whatever their place in the file: honeypots start from them.
  if (const toml::table* t = ReadTable(root, "limits", "", c)) {
    Ctx lc{c.err, LineOf(*t)};
    cfg.limits = ParseLimits(*t, "limits", Limits{}, lc);
    if (const toml::node* n = t->get("bandwidth_total")) {
      std::optional<uint64_t> r;
      if (n->is_string()) r = ParseRate(n->as_string()->get());
      if (!r || *r < kMinRateBps || *r > kMaxRateBps) {
        c.err.Add(LineOf(*n), "limits.bandwidth_total",
                  "must be a rate in bits per second from 8kbit to 100Gbit, like \"100Mbit\", got " + Show(*n));
      } else {
        cfg.bandwidth_total_bps = *r;
      }
    }
  }
  ParseRules(root, cfg, c);

  if (const toml::table* t = ReadTable(root, "capture", "", c)) {
    CheckKeys(*t, "capture",
              {"dir", "pcap", "method", "policy", "direct_io", "rotate_size", "rotate_time", "ring_mb", "stats_interval", "syslog", "user",
               "max_total", "max_age", "min_free"},
              c.err);
    if (ReadString(*t, "dir", "capture", c, &cfg.capture.dir) && cfg.capture.dir.empty()) {
      c.err.Add(LineOf(*t->get("dir")), "capture.dir",
                "must be a directory path, like \"/var/lib/honeynet\", got \"\"");
    }
    ReadBool(*t, "pcap", "capture", c, &cfg.capture.pcap);
    std::string method;
    if (ReadString(*t, "method", "capture", c, &method)) {
      if (method == "inline") {
        cfg.capture.inline_capture = true;
      } else if (method == "socket") {
        cfg.capture.inline_capture = false;
      } else {
        c.err.Add(LineOf(*t->get("method")), "capture.method",
                  "must be \"inline\" (the forwarder hands frames to the capture) or \"socket\" "
                  "(the capture reads its own socket per port), got " + Show(*t->get("method")));
      }
    }
    std::string policy;
    if (ReadString(*t, "policy", "capture", c, &policy)) {
      if (policy == "capture-first") {
        cfg.capture.capture_first = true;
        if (!cfg.capture.inline_capture)
          c.err.Add(LineOf(*t->get("policy")), "capture.policy",
                    "\"capture-first\" needs capture.method = \"inline\" (with \"socket\" the kernel hands frames "
                    "to the capture on its own and cannot hold them); use \"forward-first\" or method = \"inline\"");
      } else if (policy == "forward-first") {
        cfg.capture.capture_first = false;
      } else {
        c.err.Add(LineOf(*t->get("policy")), "capture.policy",
                  "must be \"capture-first\" (forward a frame only once the capture has it; the default) or "
                  "\"forward-first\" (never hold forwarding for the capture; its losses are counted), got " +
                      Show(*t->get("policy")));
      }
    } else if (!cfg.capture.inline_capture) {
      cfg.capture.capture_first = false;  // method = "socket": forward-first by nature
    }
    ReadBool(*t, "direct_io", "capture", c, &cfg.capture.direct_io);
    ReadSize(*t, "rotate_size", "capture", c, kMinRotateBytes, kMaxRotateBytes, &cfg.capture.rotate_bytes);
    ReadDuration(*t, "rotate_time", "capture", c, &cfg.capture.rotate_ns);
    ReadSize(*t, "max_total", "capture", c, kMinRetainBytes, kMaxRetainBytes, &cfg.capture.max_total);
    ReadDuration(*t, "max_age", "capture", c, &cfg.capture.max_age_ns);
    if (const toml::node* n = t->get("min_free")) {
      // A size, or a percentage of the capture directory's filesystem.
      bool ok = false;
      if (n->is_string()) {
        std::string v = n->as_string()->get();
        if (!v.empty() && v.back() == '%') {
          v.pop_back();
          char* end = nullptr;
          const double pct = std::strtod(v.c_str(), &end);
          ok = !v.empty() && end != nullptr && *end == '\0' && pct > 0 && pct < 100;
          if (ok) cfg.capture.min_free_pct = pct;
        } else if (std::optional<uint64_t> b = ParseSize(v); b && *b >= kMinRetainBytes && *b <= kMaxRetainBytes) {
          cfg.capture.min_free = *b;
          ok = true;
        }
      } else if (n->is_integer() && n->as_integer()->get() >= int64_t(kMinRetainBytes)) {
        cfg.capture.min_free = uint64_t(n->as_integer()->get());
        ok = true;
      }
      if (!ok)
        c.err.Add(LineOf(*n), "capture.min_free",
                  "must be a size like \"2G\" or \"512M\" (64K to 1P) or a percentage of the filesystem like "
                  "\"10%\" (more than 0, less than 100), got " + Show(*n));
    }
    int64_t v;
    if (ReadInt(*t, "ring_mb", "capture", c, 1, 4096, &v)) cfg.capture.ring_mb = uint32_t(v);
    ReadDuration(*t, "stats_interval", "capture", c, &cfg.capture.stats_interval_ns);
    ReadBool(*t, "syslog", "capture", c, &cfg.capture.syslog);
    if (ReadString(*t, "user", "capture", c, &cfg.capture.user)) {
      const std::string& u = cfg.capture.user;
      const bool name_ok = !u.empty() && u.size() <= 32 && u[0] != '-' &&
                           std::all_of(u.begin(), u.end(), [](char ch) {
                             return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' ||
                                    ch == '.';
                           });
      if (!name_ok)
        c.err.Add(LineOf(*t->get("user")), "capture.user",
                  "must be the name of a user of this machine, like \"honeynet\" or \"root\", got " +
                      Show(*t->get("user")));
      else if (::getpwnam(u.c_str()) == nullptr)
        c.err.Add(LineOf(*t->get("user")), "capture.user",
                  "no such user on this machine (create it, e.g. `useradd --system " + u +
                      "`, or leave the key out: the default is \"honeynet\" when that user exists, else root), got " +
                      Show(*t->get("user")));
    }
  }

  if (const toml::table* t = ReadTable(root, "flow", "", c)) {
    CheckKeys(*t, "flow", {"max", "tcp_timeout", "udp_timeout"}, c.err);
    int64_t v;
    if (ReadInt(*t, "max", "flow", c, 1024, 16LL << 20, &v)) cfg.max_flows = uint32_t(v);
    ReadDuration(*t, "tcp_timeout", "flow", c, &cfg.tcp_established_timeout_ns);
    ReadDuration(*t, "udp_timeout", "flow", c, &cfg.udp_timeout_ns);
  }

  ParseUplink(root, cfg, c);
  ParseAlerts(root, cfg, c);

  // Honeypots last: they start from the global limits.
  int honeypot_line = 1;
  bool report_none = true;  // "at least one [[honeypot]]" unless the key is there but malformed
  std::vector<HoneypotLines> lines;
  if (const toml::node* n = root.get("honeypot")) {
    honeypot_line = LineOf(*n);
    const toml::array* a = n->as_array();
    if (a && a->empty()) {
      // honeypot = []: reported as "none" below, at this line.
    } else if (!a || !a->is_array_of_tables()) {
      c.err.Add(honeypot_line, "honeypot",
                "must be a list of tables: write [[honeypot]] (two brackets) before each honeypot, got " +
                    Show(*n));
      report_none = false;
    } else {
      Ctx hc{c.err, honeypot_line};
      for (size_t i = 0; i < a->size(); i++) {
        const toml::table& ht = *(*a)[i].as_table();
        HoneypotLines ln;
        cfg.honeypots.push_back(ParseHoneypot(ht, i, cfg.limits, hc, &ln));
        note(ht, "honeypot[" + std::to_string(i) + "]", "public_ip", ln.table);
        lines.push_back(ln);
      }
    }
  }
  CrossCheck(cfg, lines, mode_line, key_lines, honeypot_line, report_none, c);
}


// Largest power-of-1024 unit that divides bytes exactly: "100M", "1G", "4097".
std::string FormatSize(uint64_t bytes) {
  static constexpr std::pair<char, int> kUnits[] = {{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}};
  if (bytes != 0) {
    for (auto [c, shift] : kUnits) {
      if (bytes % (1ULL << shift) == 0) return std::to_string(bytes >> shift) + c;
    }
  }
  return std::to_string(bytes);
}

// The limits keys of l; only those that differ from base when base is given.
std::string DumpLimits(const Limits& l, const Limits* base) {
  static constexpr const char* kNames[kProtoClasses] = {"tcp", "udp", "icmp", "other", "broadcast"};
  std::string out;
  for (int i = 0; i < kProtoClasses; i++) {
    if (base && base->max[size_t(i)] == l.max[size_t(i)]) continue;
    out += std::string(kNames[i]) + " = " + std::to_string(l.max[size_t(i)]) + "\n";
  }
  if (l.bandwidth_bps && (!base || base->bandwidth_bps != l.bandwidth_bps)) {
    out += "bandwidth = " + Quote(FormatRate(l.bandwidth_bps)) + "\n";
  }
  if (l.bandwidth_burst && (!base || base->bandwidth_burst != l.bandwidth_burst)) {
    out += "bandwidth_burst = " + std::to_string(l.bandwidth_burst) + "\n";
  }
  if (base && base->kind == l.kind && base->window_ns == l.window_ns) return out;
  if (l.kind == WindowKind::kSliding) {
    out += "window = " + Quote(FormatDuration(l.window_ns)) + "\n";
  } else {
    out += "window = \"token-bucket\"\n";
    out += "period = " + Quote(FormatDuration(l.window_ns)) + "\n";
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API

std::optional<uint64_t> ParseRate(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) i++;
  if (i == 0) return std::nullopt;
  const std::string num = s.substr(0, i);
  if (std::count(num.begin(), num.end(), '.') > 1 || num.front() == '.' || num.back() == '.') return std::nullopt;
  std::string unit = s.substr(i);
  for (char& ch : unit) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  double mult = 0;
  if (unit.empty() || unit == "bit") mult = 1;
  else if (unit == "kbit") mult = 1e3;
  else if (unit == "mbit") mult = 1e6;
  else if (unit == "gbit") mult = 1e9;
  else if (unit == "tbit") mult = 1e12;
  else return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(num.c_str(), &end);
  if (!end || *end != '\0' || !(v >= 0)) return std::nullopt;
  const double bps = v * mult;
  if (bps > 1e15) return std::nullopt;
  const uint64_t r = uint64_t(bps + 0.5);
  return r;
}

std::string FormatRate(uint64_t bps) {
  if (bps && bps % 1'000'000'000 == 0) return std::to_string(bps / 1'000'000'000) + "Gbit";
  if (bps && bps % 1'000'000 == 0) return std::to_string(bps / 1'000'000) + "Mbit";
  if (bps && bps % 1'000 == 0) return std::to_string(bps / 1'000) + "kbit";
  return std::to_string(bps) + "bit";
}

// Largest unit that divides ns exactly: "90m", "250ms", "2d".
std::string FormatDuration(int64_t ns) {
  struct Unit { const char* name; int64_t ns; };
  static constexpr Unit kUnits[] = {{"d", 86400 * kNsPerSec}, {"h", 3600 * kNsPerSec},
                                    {"m", 60 * kNsPerSec},    {"s", kNsPerSec},
                                    {"ms", 1'000'000},        {"us", 1'000}};
  if (ns != 0) {
    for (const Unit& u : kUnits) {
      if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.name;
    }
  }
  return std::to_string(ns) + "ns";
}

std::optional<int64_t> ParseDuration(const std::string& s) {
  if (s.empty()) return std::nullopt;
  const char* p = s.data();
  const char* end = s.data() + s.size();
  int64_t total = 0;
  bool any_unit = false;
  while (p < end) {
    uint64_t n = 0;
    auto [q, ec] = std::from_chars(p, end, n);
    if (ec != std::errc() || q == p) return std::nullopt;
    p = q;
    const char* u = p;
    while (p < end && std::isalpha(static_cast<unsigned char>(*p))) p++;
    std::string_view unit(u, size_t(p - u));
    int64_t mult;
    if (unit.empty()) {
      if (any_unit || p != end) return std::nullopt;  // "1h30": a bare number only stands alone
      mult = kNsPerSec;
    } else if (unit == "ns") {
      mult = 1;
    } else if (unit == "us") {
      mult = 1'000;
    } else if (unit == "ms") {
      mult = 1'000'000;
    } else if (unit == "s") {
      mult = kNsPerSec;
    } else if (unit == "m") {
      mult = 60 * kNsPerSec;
    } else if (unit == "h") {
      mult = 3600 * kNsPerSec;
    } else if (unit == "d") {
      mult = 86400 * kNsPerSec;
    } else {
      return std::nullopt;
    }
    any_unit = any_unit || !unit.empty();
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    if (n > uint64_t(kMax / mult)) return std::nullopt;
    int64_t part = int64_t(n) * mult;
    if (total > kMax - part) return std::nullopt;
    total += part;
  }
  return total;
}

std::optional<uint64_t> ParseSize(const std::string& s) {
  uint64_t n = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, n);
  if (ec != std::errc() || p == s.data()) return std::nullopt;
  std::string unit(p, end);
  for (char& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  // "K", "KB" and "KiB" all mean 1024 here (as in most tools' size options).
  if (unit.size() == 3 && unit[1] == 'I' && unit[2] == 'B') unit.resize(1);
  if (unit.size() == 2 && unit[1] == 'B') unit.resize(1);
  int shift;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "K") {
    shift = 10;
  } else if (unit == "M") {
    shift = 20;
  } else if (unit == "G") {
    shift = 30;
  } else if (unit == "T") {
    shift = 40;
  } else {
    return std::nullopt;
  }
  if (shift && n > (std::numeric_limits<uint64_t>::max() >> shift)) return std::nullopt;
  return n << shift;
}

Result<Config> ParseConfig(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return Status::Error(source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                         ": TOML syntax error: " + std::string(e.description()));
  }
  Config cfg;
  cfg.source = source;
  Errors err(source);
  Ctx c{err, 1};
  ParseTop(root, cfg, c);
  if (!err.empty()) return Status::Error(err.Message());
  return cfg;
}

Result<Config> LoadConfig(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Status::Error("cannot open config file " + path + ": " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::Error("cannot read config file " + path + ": it is a directory, not a TOML file");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return Status::Error("cannot read config file " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > (16u << 20)) {
      ::close(fd);
      return Status::Error("cannot read config file " + path + ": larger than 16 MiB, not a config");
    }
  }
  ::close(fd);
  return ParseConfig(text, path);
}

std::string DumpConfig(const Config& c) {
  std::string o;
  o += "# honeynet configuration (every key; see docs/config.md)\n";
  o += "mode = " + Quote(c.mode == Mode::kNat ? "nat" : "bridge") + "\n";
  o += std::string("roach_motel = ") + (c.roach_motel ? "true" : "false") + "\n";
  o += "dns_servers = [";
  for (size_t i = 0; i < c.dns_servers.size(); i++) {
    o += (i ? ", " : "") + Quote(c.dns_servers[i].ToString());
  }
  o += "]\n";
  o += "dhcp_servers = [";
  for (size_t i = 0; i < c.dhcp_servers.size(); i++) o += (i ? ", " : "") + Quote(c.dhcp_servers[i].ToString());
  o += "]\n";
  o += std::string("ipv6 = ") + (c.allow_ipv6 ? "true" : "false") + "\n";
  if (c.busy_poll_ns > 0) o += "busy_poll = " + Quote(FormatDuration(c.busy_poll_ns)) + "\n";
  o += std::string("gso = ") + (c.gso ? "true" : "false") + "\n";
  if (c.gro) o += "gro = true\n";

  o += "\n[inside]\ninterface = " + Quote(c.inside.interface) + "\n";
  if (c.inside_gateway_ip) o += "gateway_ip = " + Quote(PrefixString(*c.inside_gateway_ip)) + "\n";
  if (c.inside.mac) o += "mac = " + Quote(c.inside.mac->ToString()) + "\n";

  o += "\n[outside]\ninterface = " + Quote(c.outside.interface) + "\n";
  if (c.outside_gateway) o += "gateway = " + Quote(c.outside_gateway->ToString()) + "\n";
  if (c.outside.mac) o += "mac = " + Quote(c.outside.mac->ToString()) + "\n";

  if (c.uplink) {
    const UplinkConfig& u = *c.uplink;
    o += "\n[uplink]\ninterface = " + Quote(u.interface) + "\n";
    o += "management_ports = [";
    for (size_t i = 0; i < u.management_ports.size(); i++) o += (i ? ", " : "") + std::to_string(u.management_ports[i]);
    o += "]\nmanagement_from = [";
    for (size_t i = 0; i < u.management_from.size(); i++) o += (i ? ", " : "") + Quote(PrefixString(u.management_from[i]));
    o += "]\ntransit = " + Quote(PrefixString(u.transit)) + "\n";
    o += std::string("accept_stock_kernel = ") + (u.accept_stock_kernel ? "true" : "false") + "\n";
    o += std::string("new_macs = ") + (u.new_macs ? "true" : "false") + "\n";
  }

  o += "\n[limits]\n" + DumpLimits(c.limits, nullptr);
  if (c.bandwidth_total_bps) o += "bandwidth_total = " + Quote(FormatRate(c.bandwidth_total_bps)) + "\n";
  if (!c.rules.files.empty() || !c.rules.vars.empty()) {
    o += "\n[rules]\nfiles = [";
    for (size_t i = 0; i < c.rules.files.size(); i++) {
      const RulesFileConfig& f = c.rules.files[i];
      o += i ? ", " : "";
      o += f.turn_around ? "{path = " + Quote(f.path) + ", turn_around = true}" : Quote(f.path);
    }
    o += "]\n";
    if (!c.rules.vars.empty()) {
      o += "\n[rules.vars]\n";
      for (const auto& [k, v] : c.rules.vars) o += k + " = " + Quote(v) + "\n";
    }
  }

  if (c.alerts) {
    const AlertsConfig& a = *c.alerts;
    o += "\n[alerts]\n";
    if (!a.command.empty()) o += "command = " + Quote(a.command) + "\n";
    if (!a.webhook.empty()) o += "webhook = " + Quote(a.webhook) + "\n";
    o += std::string("syslog = ") + (a.syslog ? "true" : "false") + "\n";
    if (!a.kinds.empty()) {
      o += "kinds = [";
      for (size_t i = 0; i < a.kinds.size(); i++) o += (i ? ", " : "") + Quote(a.kinds[i]);
      o += "]\n";
    }
    o += "rate = " + std::to_string(a.rate) + "\n";
    o += "burst = " + std::to_string(a.burst) + "\n";
    o += "timeout = " + Quote(FormatDuration(a.timeout_ns)) + "\n";
    o += "disk_full = " + Quote(PercentText(a.disk_full_pct)) + "\n";
  }

  const CaptureConfig& cap = c.capture;
  o += "\n[capture]\n";
  o += "dir = " + Quote(cap.dir) + "\n";
  o += std::string("pcap = ") + (cap.pcap ? "true" : "false") + "\n";
  o += std::string("method = ") + (cap.inline_capture ? "\"inline\"" : "\"socket\"") + "\n";
  o += std::string("policy = ") + (cap.capture_first ? "\"capture-first\"" : "\"forward-first\"") + "\n";
  if (cap.direct_io) o += "direct_io = true\n";
  if (!cap.user.empty()) o += "user = " + Quote(cap.user) + "\n";
  o += "rotate_size = " + Quote(FormatSize(cap.rotate_bytes)) + "\n";
  o += "rotate_time = " + Quote(FormatDuration(cap.rotate_ns)) + "\n";
  o += "ring_mb = " + std::to_string(cap.ring_mb) + "\n";
  o += "stats_interval = " + Quote(FormatDuration(cap.stats_interval_ns)) + "\n";
  o += std::string("syslog = ") + (cap.syslog ? "true" : "false") + "\n";
  if (cap.max_total != 0) o += "max_total = " + Quote(FormatSize(cap.max_total)) + "\n";
  if (cap.max_age_ns != 0) o += "max_age = " + Quote(FormatDuration(cap.max_age_ns)) + "\n";
  if (cap.min_free != 0) o += "min_free = " + Quote(FormatSize(cap.min_free)) + "\n";
  if (cap.min_free_pct > 0) o += "min_free = " + Quote(PercentText(cap.min_free_pct)) + "\n";

  o += "\n[flow]\n";
  o += "max = " + std::to_string(c.max_flows) + "\n";
  o += "tcp_timeout = " + Quote(FormatDuration(c.tcp_established_timeout_ns)) + "\n";
  o += "udp_timeout = " + Quote(FormatDuration(c.udp_timeout_ns)) + "\n";

  for (const HoneypotConfig& hp : c.honeypots) {
    o += "\n[[honeypot]]\n";
    o += "name = " + Quote(hp.name) + "\n";
    o += "ip = " + Quote(hp.ip.ToString()) + "\n";
    if (hp.public_ip) o += "public_ip = " + Quote(hp.public_ip->ToString()) + "\n";
    if (hp.mac) o += "mac = " + Quote(hp.mac->ToString()) + "\n";
    if (!hp.ip6.empty()) {
      o += "ip6 = [";
      for (size_t i = 0; i < hp.ip6.size(); i++) o += (i ? ", " : "") + Quote(hp.ip6[i].ToString());
      o += "]\n";
    }
    o += "kind = " + Quote(hp.kind) + "\n";
    o += "image = " + Quote(hp.image) + "\n";
    o += "mem = " + Quote(FormatSize(uint64_t(hp.mem_mb) << 20)) + "\n";
    if (!hp.hostname.empty() && hp.hostname != hp.name) o += "hostname = " + Quote(hp.hostname) + "\n";
    const HoneypotConfig def;
    if (hp.pids_max != def.pids_max) o += "pids_max = " + std::to_string(hp.pids_max) + "\n";
    if (hp.memory_max != def.memory_max) o += "memory_max = " + Quote(FormatSize(hp.memory_max)) + "\n";
    if (hp.swap_max != def.swap_max) o += "swap_max = " + std::to_string(hp.swap_max) + "\n";
    if (hp.cpu_max != def.cpu_max) o += "cpu_max = " + std::to_string(hp.cpu_max) + "\n";
    if (hp.io_weight != def.io_weight) o += "io_weight = " + std::to_string(hp.io_weight) + "\n";
    if (hp.disk_max != def.disk_max) o += "disk_max = " + Quote(FormatSize(hp.disk_max)) + "\n";
    if (hp.reset_idle_ns != 0) o += "reset_idle = " + Quote(FormatDuration(hp.reset_idle_ns)) + "\n";
    if (hp.reset_max_age_ns != 0) o += "reset_max_age = " + Quote(FormatDuration(hp.reset_max_age_ns)) + "\n";
    if (hp.reset_jitter_ns != 0) o += "reset_jitter = " + Quote(FormatDuration(hp.reset_jitter_ns)) + "\n";
    if (hp.reset_archive) o += "reset_archive = true\n";
    if (hp.unsafe) o += "unsafe = true\n";
    std::string lim = DumpLimits(hp.limits, &c.limits);
    if (!lim.empty()) o += "[honeypot.limits]\n" + lim;
  }
  return o;
}

}  // namespace hn
