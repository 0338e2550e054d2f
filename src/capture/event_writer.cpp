// EventWriter: see event_writer.h.
#include "capture/event_writer.h"

#include "capture/retention.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio_ext.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "analysis/ttylog.h"
#include "capture/pcap_writer.h"  // MakeDirectories
#include "common/clock.h"
#include "common/fs.h"
#include "common/term_safe.h"
#include "common/thread_name.h"
#include "common/time_format.h"
#include "flow/community_id.h"

namespace hn {

using ojson = nlohmann::ordered_json;

namespace {

// One events.json line: ASCII only (ensure_ascii: every control character,
// DEL, C1 and other non-ASCII character as \uXXXX; bytes that are not UTF-8
// as U+FFFD), so attacker text in an event (a command line from a tty log)
// can neither split the line nor reach a terminal that shows the file as
// control characters.
std::string JsonLine(const ojson& j) { return j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace); }

// The body of a honeywall.log / syslog line with control characters as \xNN:
// a newline in it cannot forge a second line, an escape sequence cannot
// reach the terminal of whoever tails the log.
std::string LogSafe(const std::string& body) { return EscapeControls(body); }

constexpr size_t kBatch = 1024;                  // events per drain (one flush each)
constexpr auto kIdleWait = std::chrono::milliseconds(20);
constexpr const char* kClassKeys[kProtoClasses] = {"tcp", "udp", "icmp", "other", "broadcast"};

// Seconds and the nanoseconds within them (floor, also for times before 1970).
void SplitNs(int64_t ns, time_t* sec, int64_t* frac) {
  int64_t s = ns / kNsPerSec, f = ns % kNsPerSec;
  if (f < 0) {
    f += kNsPerSec;
    s -= 1;
  }
  *sec = time_t(s);
  *frac = f;
}

// The classic syslog header time, local: "Nov 26 18:42:29" ("Nov  6" for day 6).
std::string SyslogStamp(int64_t ns) {
  time_t sec;
  int64_t frac;
  SplitNs(ns, &sec, &frac);
  tm t{};
  localtime_r(&sec, &t);
  char out[32];
  strftime(out, sizeof out, "%b %e %H:%M:%S", &t);
  return out;
}

const char* DirName(FlowDir d) {
  switch (d) {
    case FlowDir::kInbound: return "inbound";
    case FlowDir::kOutbound: return "outbound";
    case FlowDir::kInternal: return "internal";
    case FlowDir::kOther: break;
  }
  return "other";
}

// Log prefix of an allowed new flow.
const char* DirPrefix(FlowDir d) {
  switch (d) {
    case FlowDir::kInbound: return "INBOUND";
    case FlowDir::kOutbound: return "OUTBOUND";
    case FlowDir::kInternal: return "INTERNAL";
    case FlowDir::kOther: break;
  }
  return "PASS";
}

// A frame drop's key carries no IP when proto is 0 and both addresses are zero.
bool HasIp(const FlowKey& k) {
  if (k.proto != 0) return true;
  for (size_t i = 0; i < 16; i++)
    if (k.src[i] != 0 || k.dst[i] != 0) return true;
  return false;
}

bool HasPorts(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp || proto == 132 /* SCTP */; }
bool IsIcmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmpv6; }

bool IsExempt(Reason r) {
  return r == Reason::kExemptDns || r == Reason::kExemptInternal || r == Reason::kExemptBroadcast ||
         r == Reason::kExemptDhcp;
}

std::string MacText(const uint8_t* m) {
  char b[18];
  snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

bool MacsKnown(const Event& e) {
  for (int i = 0; i < 6; i++)
    if (e.src_mac[i] != 0 || e.dst_mac[i] != 0) return true;
  return false;
}

// iptables LOG's MAC=: destination, source, ethertype, as hex bytes.
std::string IptablesMac(const Event& e) {
  uint16_t type = e.ethertype;
  if (type == 0 && HasIp(e.key)) type = e.key.v6 ? kEthIpv6 : kEthIpv4;
  char t[8];
  snprintf(t, sizeof t, ":%02x:%02x", type >> 8, type & 0xff);
  return MacText(e.dst_mac) + ":" + MacText(e.src_mac) + t;
}

// TCP flags in iptables LOG's order.
std::string TcpFlagsText(uint8_t f) {
  static constexpr struct { uint8_t bit; const char* name; } kFlags[] = {
      {kCwr, "CWR"}, {kEce, "ECE"}, {kUrg, "URG"}, {kAck, "ACK"},
      {kPsh, "PSH"}, {kRst, "RST"}, {kSyn, "SYN"}, {kFin, "FIN"},
  };
  std::string s;
  for (const auto& fl : kFlags) {
    if (!(f & fl.bit)) continue;
    s += ' ';
    s += fl.name;
  }
  return s;
}

// Flow state in Suricata's words.
const char* StateName(const Event& e) {
  if (e.key.proto == kProtoTcp) {
    switch (TcpState(e.tcp_state)) {
      case TcpState::kEstablished:
      case TcpState::kClosing: return "established";
      case TcpState::kClosed: return "closed";
      default: return "new";
    }
  }
  return e.pkts_toclient > 0 ? "established" : "new";
}

const char* EndReasonName(uint8_t r) {
  switch (r) {
    case 1: return "closed";
    case 2: return "shutdown";
    case 3: return "evicted";
    default: return "timeout";
  }
}

std::string Errno() { return strerror(errno); }

// Opens path for appending (made 0640 when new).
FILE* OpenAppend(const std::string& path, Status* st) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    *st = Status::Error("cannot open " + path + " for appending: " + Errno() +
                        " (check capture.dir and its permissions)");
    return nullptr;
  }
  FILE* f = fdopen(fd, "a");
  if (f == nullptr) {
    *st = Status::Error("fdopen " + path + ": " + Errno());
    close(fd);
  }
  return f;
}

std::string BudgetsPath(const Config& cfg) { return cfg.capture.dir + "/budgets.json"; }

// /proc/sys/kernel/random/boot_id: changes at every boot ("" when unreadable).
std::string CurrentBootId() {
  std::string id = ReadFileOrEmpty("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

// ---- tty logs ----------------------------------------------------------------

constexpr int64_t kTtyPollNs = 200'000'000;   // how often DIR/tty is looked at
constexpr size_t kTtyReadBudget = 4u << 20;   // bytes of tty log per turn, so queued events are not held up

// Follows DIR/tty/*.ttylog: reads the complete records appended since the last
// poll and turns OPEN, EXEC and CLOSE into event_type "tty" lines. A file that
// appears later is picked up; a file replaced (other inode) or cut shorter is
// read again from its start. How far each file was turned into events is kept
// in the state file (no fsync: after a crash a few events may repeat, none is
// lost); at start each file is read from its beginning again to rebuild its
// sessions, quietly up to the saved offset.
class TtyFollower {
 public:
  TtyFollower(std::string tty_dir, std::string state_path)
      : dir_(std::move(tty_dir)), state_path_(std::move(state_path)) {
    LoadState();
  }

  // Reads what is new, at most kTtyReadBudget bytes; appends event lines to
  // *out and counts them in *events. True: more is waiting.
  bool Poll(std::string* out, uint64_t* events);
  // Rewrites the state file when offsets moved.
  void SaveState();

 private:
  struct Saved {
    uint64_t inode = 0, offset = 0, first_tty = 0;
    int64_t first_us = 0;
  };
  struct File {
    std::string path, honeypot;
    dev_t dev = 0;
    ino_t ino = 0;
    std::unique_ptr<TtyLogReader> reader;
    std::unique_ptr<TtySessionTracker> tracker;
    uint64_t quiet_until = 0;  // records ending at or before this offset had their events written before
    Saved expect;              // the saved first record, to tell a new file with a reused inode
    uint64_t first_tty = 0;
    int64_t first_us = 0;
    bool broken = false;       // corrupt or unreadable: not followed until replaced
    bool seen = false;
  };

  void LoadState();
  void Reset(File* f, const struct stat& st, bool use_saved);
  bool ReadNew(File* f, size_t* budget, std::string* out, uint64_t* events);
  void Emit(const File& f, const TtyRecord& rec, const TtySessionTracker::Step& step, std::string* out,
            uint64_t* events);

  std::string dir_, state_path_;
  std::map<std::string, Saved> saved_;  // from the state file, by file name
  std::map<std::string, File> files_;   // by file name
  TtyRecord rec_;                       // reused: no allocation per record once grown
  bool dirty_ = false;
};

void TtyFollower::LoadState() {
  FILE* f = fopen(state_path_.c_str(), "re");
  if (f == nullptr) return;  // first start: every file from its beginning
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  fclose(f);
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    for (const auto& [name, v] : j.at("files").items()) {
      Saved s;
      s.inode = v.at("inode").get<uint64_t>();
      s.offset = v.at("offset").get<uint64_t>();
      s.first_tty = v.value("first_tty", uint64_t{0});
      s.first_us = v.value("first_us", int64_t{0});
      saved_[name] = s;
    }
  } catch (const nlohmann::json::exception& ex) {
    saved_.clear();
    fprintf(stderr, "honeywall: %s is corrupt (%s): tty logs are read from their start again (tty events may repeat)\n",
            state_path_.c_str(), ex.what());
  }
}

void TtyFollower::SaveState() {
  if (!dirty_) return;
  dirty_ = false;
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  for (const auto& [name, f] : files_) {
    if (!f.reader) continue;
    nlohmann::ordered_json e;
    e["inode"] = uint64_t(f.ino);
    e["offset"] = std::max(f.reader->offset(), f.quiet_until);
    e["first_tty"] = f.first_tty;
    e["first_us"] = f.first_us;
    files[name] = std::move(e);
  }
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["files"] = std::move(files);
  const std::string text = j.dump(1) + "\n";
  // Best effort, no fsync: after a crash a restart repeats some tty events.
  (void)WriteFileAtomic(state_path_, text, 0640, Sync::kNone);
}

void TtyFollower::Reset(File* f, const struct stat& st, bool use_saved) {
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  f->broken = false;
  f->quiet_until = 0;
  f->expect = Saved{};
  f->first_tty = 0;
  f->first_us = 0;
  f->tracker = std::make_unique<TtySessionTracker>(f->honeypot, /*keep_commands=*/false);
  auto it = saved_.find(f->path.substr(dir_.size() + 1));
  if (use_saved && it != saved_.end() && it->second.inode == uint64_t(st.st_ino) &&
      it->second.offset <= uint64_t(st.st_size)) {
    f->quiet_until = it->second.offset;
    f->expect = it->second;
  }
  dirty_ = true;
  auto r = TtyLogReader::Open(f->path, 0);
  if (!r.ok()) {
    f->reader.reset();
    f->broken = true;
    fprintf(stderr, "honeywall: tty log %s: %s; not followed until it changes\n", f->path.c_str(),
            r.status().message().c_str());
    return;
  }
  f->reader = std::move(*r);
}

void TtyFollower::Emit(const File& f, const TtyRecord& rec, const TtySessionTracker::Step& step, std::string* out,
                       uint64_t* events) {
  const char* action = nullptr;
  if (rec.what == kTtyOpen) action = "open";
  else if (rec.what == kTtyExec) action = "exec";
  else if (rec.what == kTtyClose && step.ended) action = "close";
  if (action == nullptr || step.session == nullptr) return;
  const TtySession& s = *step.session;
  ojson t;
  t["id"] = rec.tty;
  t["session"] = s.id;
  t["name"] = s.name;
  t["action"] = action;
  if (s.parent_tty != 0) t["parent"] = s.parent_tty;
  if (!s.parent.empty()) t["parent_session"] = s.parent;
  if (rec.what == kTtyExec) {
    const std::vector<std::string> argv = rec.Argv();
    std::string cmd;
    for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    t["command"] = cmd;
    t["argv"] = argv;
  } else if (rec.what == kTtyClose) {
    t["bytes_in"] = s.bytes_in;
    t["bytes_out"] = s.bytes_out;
    t["duration"] = double(s.DurationUs()) / 1e6;
  }
  ojson j;
  const int64_t us = std::min<int64_t>(rec.TimeUs(), INT64_MAX / 1000);
  j["timestamp"] = IsoTimeLocal(us * 1000);
  j["event_type"] = "tty";
  j["honeypot"] = f.honeypot;
  j["tty"] = std::move(t);
  *out += JsonLine(j);
  *out += '\n';
  ++*events;
}

bool TtyFollower::ReadNew(File* f, size_t* budget, std::string* out, uint64_t* events) {
  while (*budget > 0) {
    auto next = f->reader->Read(&rec_);
    if (!next.ok()) {
      f->broken = true;
      fprintf(stderr, "honeywall: %s; the tty log is not followed further until it is replaced\n",
              next.status().message().c_str());
      return false;
    }
    if (*next != TtyLogReader::Next::kRecord) return false;
    *budget -= std::min(*budget, kTtyHeaderBytes + size_t(rec_.len));
    if (rec_.offset == 0) {
      f->first_tty = rec_.tty;
      f->first_us = rec_.TimeUs();
      // Same inode, other first record: a new file, not the one the offset was saved for.
      if (f->quiet_until > 0 && (f->expect.first_tty != f->first_tty || f->expect.first_us != f->first_us))
        f->quiet_until = 0;
    }
    const TtySessionTracker::Step step = f->tracker->Feed(rec_);
    if (f->reader->offset() > f->quiet_until) Emit(*f, rec_, step, out, events);
    f->tracker->finished().clear();  // closed sessions are not needed any more
    dirty_ = true;
  }
  return true;
}

bool TtyFollower::Poll(std::string* out, uint64_t* events) {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return false;  // no tty logs (yet)
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 7 && name[0] != '.' && name.compare(name.size() - 7, 7, ".ttylog") == 0) names.push_back(name);
  }
  closedir(d);
  for (auto& [name, f] : files_) f.seen = false;
  size_t budget = kTtyReadBudget;
  bool more = false;
  for (const std::string& name : names) {
    const std::string path = dir_ + "/" + name;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    auto [it, is_new] = files_.try_emplace(name);
    File& f = it->second;
    f.seen = true;
    if (is_new) {
      f.path = path;
      f.honeypot = HoneypotOfTtyLog(name);
      Reset(&f, st, /*use_saved=*/true);
    } else if (st.st_ino != f.ino || st.st_dev != f.dev ||
               (f.reader && uint64_t(st.st_size) < f.reader->offset())) {
      Reset(&f, st, /*use_saved=*/false);  // replaced or cut: a new log
    }
    if (f.broken || !f.reader) continue;
    if (uint64_t(st.st_size) <= f.reader->offset() + f.reader->pending()) continue;  // nothing new
    if (budget == 0) {
      more = true;
      continue;
    }
    more |= ReadNew(&f, &budget, out, events);
  }
  for (auto it = files_.begin(); it != files_.end();) {
    if (!it->second.seen) {
      it = files_.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
  saved_.clear();  // applied to the files present at the first poll
  return more;
}

}  // namespace

struct EventWriter::Impl {
  Config cfg;
  const std::vector<Rule>* rules = nullptr;  // for alerts (SetRules)
  std::string events_path, log_path, budgets_path;
  std::string hostname;
  FILE* events = nullptr;
  FILE* log = nullptr;
  off_t events_good = 0, log_good = 0;  // sizes after the last flush that fully worked
  std::vector<std::string> notices;     // notice lines (events, log) not written yet (disk full)
  std::string notice_logs;
  bool budgets_failing = false;         // the last budgets.json write failed (notice sent)
  int64_t budgets_retry_ns = 0;         // monotonic time of the next attempt while failing
  bool use_syslog = false;
  std::vector<Budget> mirror;  // replays counted starts; saved to budgets.json
  BudgetClock budget_clock;    // the saved file says what time it was on it, and at what boot time
  std::mutex out_mu;           // files, mirror, closed (writer thread vs main thread)
  std::mutex wake_mu;
  std::condition_variable wake_cv;
  bool closed = false;
  std::string budget_error;    // last budgets.json write error
  std::unique_ptr<TtyFollower> tty;  // writer thread only (and Stop after the join)
  int64_t next_tty_poll_ns = 0;
  CaptureDisk* disk = nullptr;       // retention, or nullptr
  uint64_t rotate_bytes = 0;         // events.json / honeywall.log rotate past this (0: never)
  int64_t next_sweep_ns = 0;         // monotonic
  uint64_t reopens = 0, rotations = 0;

  // Closes f and opens path again (appending); *good = its size. Caller holds out_mu.
  bool Reopen(FILE** f, const std::string& path, off_t* good);
  // Moves path aside as path.YYYYmmddTHHMMSSZ[-N] and starts a new one. Caller holds out_mu.
  void RotateFile(FILE** f, const std::string& path, off_t* good);
  void WriteRetention(const RetentionDeletion& d);

  std::string Iface(uint8_t port) const {
    if (port == 0) return cfg.inside.interface;
    if (port == 1) return cfg.outside.interface;
    return "port" + std::to_string(port);
  }
  std::string OtherIface(uint8_t port) const { return Iface(port == 0 ? 1 : port == 1 ? 0 : port); }
  std::string HoneypotName(uint16_t hp) const {
    return hp < cfg.honeypots.size() ? cfg.honeypots[hp].name : std::string();
  }
  ojson EventJson(const Event& e) const;
  std::string LogLine(const Event& e) const;
  bool SaveBudgets();
  void Close();
  bool Commit(FILE* f, off_t* good);
  void WriteNotices();
  void AddNotice(const std::string& what, const std::string& iface, const std::string& message);
  void SaveBudgetsReporting();
};

// Flushes f. When that fails (disk full, I/O error), whatever part of the
// lines since the last good flush reached the file is cut off again and
// stdio's buffer is emptied, so the file only ever holds whole lines and a
// later write starts on a line of its own. *good: the file's size after the
// last good flush.
bool EventWriter::Impl::Commit(FILE* f, off_t* good) {
  struct stat st{};
  uint64_t reserved = 0;
  if (disk != nullptr) {
    // Retention first: bytes it has no room for are not written at all.
    const off_t pos = ftello(f);
    if (pos > *good) {
      if (!disk->Reserve(uint64_t(pos - *good))) {
        __fpurge(f);
        clearerr(f);
        return false;
      }
      reserved = uint64_t(pos - *good);
    }
  }
  const bool flushed = fflush(f) == 0 && !ferror(f);
  if (reserved != 0) disk->Landed(reserved);
  if (flushed) {
    if (fstat(fileno(f), &st) == 0) *good = st.st_size;
    return true;
  }
  __fpurge(f);
  clearerr(f);
  if (fstat(fileno(f), &st) == 0 && st.st_size > *good) (void)ftruncate(fileno(f), *good);
  return false;
}

// Notices are few and matter (a port went down, capture is failing): a line
// that could not be written is kept (up to kMaxNotices) and written with the
// next one or at the writer's next idle turn. Caller holds out_mu.
void EventWriter::Impl::WriteNotices() {
  if (closed || notices.empty()) return;
  for (const std::string& l : notices) fwrite(l.data(), 1, l.size(), events);
  if (Commit(events, &events_good)) notices.clear();
  if (!notice_logs.empty()) {
    fwrite(notice_logs.data(), 1, notice_logs.size(), log);
    if (Commit(log, &log_good)) notice_logs.clear();
  }
}

namespace {

ojson BudgetJson(const Event& e) {
  ojson b;
  b["class"] = ProtoClassName(e.cls);
  b["used"] = e.budget_used;
  b["left"] = e.budget_left;
  b["limit"] = e.budget_limit;
  return b;
}

}  // namespace

// One EVE JSON object, keys in Suricata's order.
ojson EventWriter::Impl::EventJson(const Event& e) const {
  ojson j;
  j["timestamp"] = IsoTimeLocal(e.ts_ns);
  if (e.flow_id != 0) j["flow_id"] = e.flow_id;
  j["in_iface"] = Iface(e.in_port);
  j["event_type"] = e.kind == EventKind::kFlowEnd ? "flow"
                    : e.kind == EventKind::kAlert ? "alert"
                    : e.kind == EventKind::kRuleDrop ? "drop"
                                                     : "honeywall";
  if (HasIp(e.key) && e.kind != EventKind::kSuppressed) {
    const bool ports = HasPorts(e.key.proto);
    j["src_ip"] = e.key.SrcString();
    if (ports) j["src_port"] = e.key.sport;
    j["dest_ip"] = e.key.DstString();
    if (ports) j["dest_port"] = e.key.dport;
    char buf[8];
    j["proto"] = ProtoName(e.key.proto, buf);
    if (IsIcmp(e.key.proto)) {
      j["icmp_type"] = e.icmp_type;
      j["icmp_code"] = e.icmp_code;
    }
  }
  // Community ID is computed here, off the forwarding path (it hashes and allocates).
  if (e.community_id[0] != '\0')
    j["community_id"] = std::string(e.community_id, strnlen(e.community_id, sizeof e.community_id));
  else if (HasIp(e.key) && e.key.proto != 0)
    j["community_id"] = CommunityId(e.key, 0, e.icmp_type, e.icmp_code);
  const std::string hp = HoneypotName(e.honeypot);
  if (!hp.empty()) j["honeypot"] = hp;
  const Rule* rule = (e.kind == EventKind::kAlert || e.kind == EventKind::kRuleDrop) && rules && e.rule < rules->size()
                         ? &(*rules)[e.rule]
                         : nullptr;

  switch (e.kind) {
    case EventKind::kAlert: {
      j["direction"] = e.to_server ? "to_server" : "to_client";
      ojson a;
      a["action"] = e.blocked ? "blocked" : "allowed";
      a["gid"] = rule ? rule->gid : 1;
      a["signature_id"] = rule ? rule->sid : 0;
      a["rev"] = rule ? rule->rev : 0;
      a["signature"] = rule ? rule->msg : "";
      a["category"] = rule ? rule->category : "";
      a["severity"] = rule ? rule->priority : 3;
      if (rule && !rule->metadata.empty()) {
        ojson md = ojson::object();
        for (const auto& [k, v] : rule->metadata) md[k].push_back(v);
        a["metadata"] = std::move(md);
      }
      if (e.replaced) a["replaced"] = true;
      j["alert"] = std::move(a);
      std::string printable(reinterpret_cast<const char*>(e.payload), e.payload_len);
      for (char& ch : printable)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '.';
      j["payload_printable"] = printable;
      ojson hw;
      hw["direction"] = DirName(e.dir);
      j["honeywall"] = std::move(hw);
      break;
    }
    case EventKind::kRuleDrop: {
      ojson d;
      d["len"] = e.ip_len;
      d["ttl"] = e.ttl;
      if (e.key.proto == kProtoTcp) {
        d["syn"] = (e.tcp_flags & 0x02) != 0;
        d["ack"] = (e.tcp_flags & 0x10) != 0;
        d["psh"] = (e.tcp_flags & 0x08) != 0;
        d["rst"] = (e.tcp_flags & 0x04) != 0;
        d["fin"] = (e.tcp_flags & 0x01) != 0;
      }
      d["reason"] = "rules";
      if (rule) {
        d["signature_id"] = rule->sid;
        d["signature"] = rule->msg;
      }
      j["drop"] = std::move(d);
      break;
    }
    case EventKind::kFlowNew: {
      ojson h;
      h["action"] = "allowed";
      h["direction"] = DirName(e.dir);
      h["reason"] = ReasonName(e.reason);
      if (e.counted) h["budget"] = BudgetJson(e);
      j["honeywall"] = std::move(h);
      break;
    }
    case EventKind::kFlowDrop: {
      ojson h;
      h["action"] = "dropped";
      h["direction"] = DirName(e.dir);
      h["reason"] = ReasonName(e.reason);
      if (e.reason == Reason::kBudgetExhausted || e.reason == Reason::kRoachMotel) h["budget"] = BudgetJson(e);
      j["honeywall"] = std::move(h);
      break;
    }
    case EventKind::kFrameDrop: {
      ojson h;
      h["action"] = "dropped";
      h["reason"] = ReasonName(e.reason);
      j["honeywall"] = std::move(h);
      ojson eth;
      eth["src_mac"] = MacText(e.src_mac);
      eth["dest_mac"] = MacText(e.dst_mac);
      eth["ether_type"] = e.ethertype;
      j["ether"] = std::move(eth);
      break;
    }
    case EventKind::kSuppressed: {
      ojson h;
      h["action"] = e.allowed ? "allowed" : "dropped";
      h["reason"] = ReasonName(e.reason);
      h["suppressed"] = e.suppressed;
      h["what"] = e.frame_drop ? "frames" : "flows";
      h["period"] = "1s";
      j["honeywall"] = std::move(h);
      break;
    }
    case EventKind::kFlowEnd: {
      ojson f;
      f["pkts_toserver"] = e.pkts_toserver;
      f["pkts_toclient"] = e.pkts_toclient;
      f["bytes_toserver"] = e.bytes_toserver;
      f["bytes_toclient"] = e.bytes_toclient;
      f["start"] = IsoTimeLocal(e.start_ns);
      f["end"] = IsoTimeLocal(e.ts_ns);
      f["age"] = e.ts_ns > e.start_ns ? (e.ts_ns - e.start_ns) / kNsPerSec : 0;
      f["state"] = StateName(e);
      f["reason"] = EndReasonName(e.end_reason);
      f["action"] = e.allowed ? "allowed" : "dropped";
      j["flow"] = std::move(f);
      break;
    }
  }
  return j;
}

// The rc.firewall-style line (without the syslog header); "" for flow ends.
std::string EventWriter::Impl::LogLine(const Event& e) const {
  if (e.kind == EventKind::kFlowEnd || e.kind == EventKind::kRuleDrop) return {};
  if (e.kind == EventKind::kSuppressed) {
    std::string line = std::string(e.allowed ? "Allow (" : "Drop (") + ReasonName(e.reason) + "): " +
                       std::to_string(e.suppressed) +
                       (e.allowed ? " more flows" : e.frame_drop ? " more frames" : " more flow attempts") +
                       " in the last second not logged one by one (rate limit; all are counted in stats)";
    const std::string hp = HoneypotName(e.honeypot);
    if (!hp.empty()) line += " HONEYPOT=" + hp;
    return line;
  }
  const bool ip = HasIp(e.key);
  const std::string cls = ip ? ProtoClassName(ClassOfProto(e.key.proto)) : "OTHER";
  std::string line;
  if (e.kind == EventKind::kAlert) {
    const Rule* r = rules && e.rule < rules->size() ? &(*rules)[e.rule] : nullptr;
    line = std::string(e.blocked ? "Drop " : "Alert ") + cls + " (rule " + std::to_string(r ? r->gid : 1) + ":" +
           std::to_string(r ? r->sid : 0) + ":" + std::to_string(r ? r->rev : 0) + " \"" + (r ? r->msg : "") + "\"" +
           (e.replaced ? ", replaced" : "") + "): ";
  } else if (e.kind == EventKind::kFlowNew) {
    line = std::string(DirPrefix(e.dir)) + " " + cls + ": ";
  } else if (e.kind == EventKind::kFlowDrop && e.reason == Reason::kBudgetExhausted) {
    line = std::string("Drop ") + ProtoClassName(e.cls) + " > " + std::to_string(e.budget_limit) + " attempts: ";
  } else if (ip) {
    line = "Drop " + cls + " (" + ReasonName(e.reason) + "): ";
  } else {
    line = std::string("Drop (") + ReasonName(e.reason) + "): ";
  }

  line += "IN=" + Iface(e.in_port);
  if (e.kind != EventKind::kFrameDrop) line += " OUT=" + OtherIface(e.in_port);
  if (e.kind == EventKind::kFrameDrop || (e.kind == EventKind::kFlowDrop && MacsKnown(e)))
    line += " MAC=" + IptablesMac(e);
  if (ip) {
    char buf[8];
    line += " SRC=" + e.key.SrcString() + " DST=" + e.key.DstString();
    line += " LEN=" + std::to_string(e.ip_len) + " TTL=" + std::to_string(e.ttl);
    line += std::string(" PROTO=") + ProtoName(e.key.proto, buf);
    if (e.key.proto == kProtoTcp || e.key.proto == kProtoUdp) {
      line += " SPT=" + std::to_string(e.key.sport) + " DPT=" + std::to_string(e.key.dport);
      if (e.key.proto == kProtoTcp) line += TcpFlagsText(e.tcp_flags);
    } else if (IsIcmp(e.key.proto)) {
      line += " TYPE=" + std::to_string(e.icmp_type) + " CODE=" + std::to_string(e.icmp_code);
    }
  }
  const std::string hp = HoneypotName(e.honeypot);
  if (!hp.empty()) line += " HONEYPOT=" + hp;
  if (e.kind == EventKind::kFlowNew) {
    if (e.counted) line += " COUNT=" + std::to_string(e.budget_used) + "/" + std::to_string(e.budget_limit);
    if (IsExempt(e.reason)) line += std::string(" EXEMPT=") + ReasonName(e.reason);
  }
  return line;
}

// Rewrites budgets.json atomically: temp file, fsync, rename, fsync of the dir.
bool EventWriter::Impl::SaveBudgets() {
  ojson j;
  j["version"] = 1;
  j["window"] = cfg.limits.kind == WindowKind::kTokenBucket ? "token-bucket" : "sliding";
  // Times below are on the budget clock (common/clock.h). With the boot they
  // were saved in and the boot time then, a restart in the same boot maps
  // them by elapsed boot time: a wall-clock step while the wall was down
  // refills nothing either.
  j["boot_id"] = CurrentBootId();
  j["clock_ns"] = budget_clock.Now();
  j["boot_ns"] = BootNowNs();
  ojson hps = ojson::object();
  for (size_t i = 0; i < mirror.size() && i < cfg.honeypots.size(); i++) {
    const Budget::Saved s = mirror[i].Save();
    ojson h;
    for (int c = 0; c < kProtoClasses; c++) {
      ojson k;
      k["starts"] = s.starts[size_t(c)];
      k["tokens_micro"] = s.tokens_micro[size_t(c)];
      k["refill_ns"] = s.refill_ns[size_t(c)];
      h[kClassKeys[c]] = std::move(k);
    }
    hps[cfg.honeypots[i].name] = std::move(h);
  }
  j["honeypots"] = std::move(hps);
  const std::string text = j.dump(2) + "\n";
  if (Status st = WriteFileAtomic(budgets_path, text, 0640, Sync::kFileAndDir); !st.ok()) {
    budget_error = st.message();
    return false;
  }
  return true;
}

bool EventWriter::Impl::Reopen(FILE** f, const std::string& path, off_t* good) {
  Status st;
  FILE* nf = OpenAppend(path, &st);
  if (nf == nullptr) return false;  // keep writing to the old one
  if (*f != nullptr) fclose(*f);
  *f = nf;
  struct stat fst{};
  *good = fstat(fileno(nf), &fst) == 0 ? fst.st_size : 0;
  return true;
}

void EventWriter::Impl::RotateFile(FILE** f, const std::string& path, off_t* good) {
  const int64_t now = WallNowNs();
  const time_t sec = time_t(now / kNsPerSec);
  tm t{};
  gmtime_r(&sec, &t);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &t);
  std::string to = path + "." + stamp;
  for (int n = 1; access(to.c_str(), F_OK) == 0 && n < 1000; n++) to = path + "." + stamp + "-" + std::to_string(n);
  if (rename(path.c_str(), to.c_str()) != 0) return;
  if (!Reopen(f, path, good)) return;
  rotations++;
}

void EventWriter::Impl::WriteRetention(const RetentionDeletion& d) {
  ojson j;
  j["timestamp"] = IsoTimeLocal(d.ts_ns);
  j["event_type"] = "retention";
  ojson r;
  r["action"] = "deleted";
  r["file"] = d.path;
  r["bytes"] = d.bytes;
  r["reason"] = d.reason;
  j["retention"] = std::move(r);
  const std::string line = JsonLine(j) + "\n";
  fwrite(line.data(), 1, line.size(), events);
  const std::string body = LogSafe("RETENTION deleted " + d.path + " (" + std::to_string(d.bytes) +
                                   " bytes): capture." + d.reason);
  const std::string l = SyslogStamp(d.ts_ns) + " " + hostname + " honeywall: " + body + "\n";
  fwrite(l.data(), 1, l.size(), log);
  if (use_syslog) syslog(LOG_NOTICE, "%s", body.c_str());
}

void EventWriter::Impl::Close() {
  if (closed) return;
  closed = true;
  if (events != nullptr) fclose(events);
  if (log != nullptr) fclose(log);
  events = log = nullptr;
  if (use_syslog) closelog();
}

EventWriter::EventWriter(const Config& cfg) : impl_(std::make_unique<Impl>()), queue_(kQueueCapacity) {
  impl_->cfg = cfg;
}

Result<std::unique_ptr<EventWriter>> EventWriter::Open(const Config& cfg, const std::vector<Budget>& budgets) {
  Status st = MakeDirectories(cfg.capture.dir);
  if (!st.ok()) return st;
  std::unique_ptr<EventWriter> w(new EventWriter(cfg));
  Impl& im = *w->impl_;
  im.events_path = cfg.capture.dir + "/events.json";
  im.log_path = cfg.capture.dir + "/honeywall.log";
  im.budgets_path = BudgetsPath(cfg);
  im.events = OpenAppend(im.events_path, &st);
  if (im.events == nullptr) return st;
  im.log = OpenAppend(im.log_path, &st);
  if (im.log == nullptr) {
    im.Close();
    return st;
  }
  struct stat fst{};
  if (fstat(fileno(im.events), &fst) == 0) im.events_good = fst.st_size;
  if (fstat(fileno(im.log), &fst) == 0) im.log_good = fst.st_size;
  im.mirror = budgets;
  im.rotate_bytes = cfg.capture.rotate_bytes;
  im.tty = std::make_unique<TtyFollower>(cfg.capture.dir + "/tty", cfg.capture.dir + "/tty-offsets.json");
  tzset();  // localtime_r does not re-read TZ by itself
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
  im.hostname = host;
  if (size_t dot = im.hostname.find('.'); dot != std::string::npos && dot > 0) im.hostname.resize(dot);
  if (cfg.capture.syslog) {
    openlog("honeywall", LOG_NDELAY, LOG_DAEMON);
    im.use_syslog = true;
  }
  return w;
}

EventWriter::~EventWriter() { Stop(); }

void EventWriter::SetRules(const std::vector<Rule>* rules) { impl_->rules = rules; }

void EventWriter::AttachDisk(CaptureDisk* disk) {
  std::lock_guard<std::mutex> lock(impl_->out_mu);
  impl_->disk = disk;
  if (disk != nullptr && disk->rotate_cap() != 0 &&
      (impl_->rotate_bytes == 0 || impl_->rotate_bytes > disk->rotate_cap()))
    impl_->rotate_bytes = disk->rotate_cap();
}

// Once per loop of the writer thread; cheap unless something is due.
void EventWriter::Housekeeping() {
  Impl& im = *impl_;
  const bool reopen = reopen_.exchange(false, std::memory_order_relaxed);
  const int64_t now = MonoNowNs();
  const bool sweep = im.disk != nullptr && now >= im.next_sweep_ns;
  if (sweep) {
    im.next_sweep_ns = now + kNsPerSec;
    im.disk->Sweep();
  }
  std::vector<RetentionDeletion> gone;
  if (im.disk != nullptr) gone = im.disk->TakeDeletions();
  std::lock_guard<std::mutex> lock(im.out_mu);
  if (im.closed) return;
  if (reopen) {
    im.Commit(im.events, &im.events_good);
    im.Commit(im.log, &im.log_good);
    const bool ok = im.Reopen(&im.events, im.events_path, &im.events_good) &&
                    im.Reopen(&im.log, im.log_path, &im.log_good);
    im.reopens++;
    im.AddNotice("log_reopened", "", ok ? "events.json and honeywall.log opened again (SIGHUP)"
                                        : "could not open events.json or honeywall.log again: writing on to the old file");
    im.WriteNotices();
  }
  if (!gone.empty()) {
    for (const RetentionDeletion& d : gone) im.WriteRetention(d);
    im.Commit(im.events, &im.events_good);
    im.Commit(im.log, &im.log_good);
  }
  if (im.rotate_bytes != 0) {
    if (uint64_t(im.events_good) >= im.rotate_bytes) im.RotateFile(&im.events, im.events_path, &im.events_good);
    if (uint64_t(im.log_good) >= im.rotate_bytes) im.RotateFile(&im.log, im.log_path, &im.log_good);
  }
}

void EventWriter::Start() {
  if (thread_.joinable() || stop_.load()) return;
  thread_ = std::thread([this] {
    NameThread("events");
    Run();
  });
}

void EventWriter::Stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(impl_->wake_mu);
      stop_.store(true);
    }
    impl_->wake_cv.notify_all();
    thread_.join();
  }
  stop_.store(true);
  while (DrainBatch() > 0) {
  }  // never started, or posted while stopping
  while (PollTty(/*force=*/true)) {
  }  // tty records written up to now
  std::lock_guard<std::mutex> lock(impl_->out_mu);
  impl_->Close();
}

void EventWriter::Run() {
  for (;;) {
    Housekeeping();
    const size_t n = DrainBatch();
    const bool tty_more = PollTty(/*force=*/false);
    if (n > 0 || tty_more) continue;
    if (stop_.load()) break;
    std::unique_lock<std::mutex> lock(impl_->wake_mu);
    impl_->wake_cv.wait_for(lock, kIdleWait, [this] { return stop_.load(); });
  }
  while (DrainBatch() > 0) {
  }
}

size_t EventWriter::DrainBatch() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.out_mu);
  if (im.closed) return 0;
  size_t n = 0;
  bool counted = false;
  Event e;
  std::string line;
  while (n < kBatch && queue_.Pop(&e)) {
    n++;
    line = JsonLine(im.EventJson(e));
    line += '\n';
    fwrite(line.data(), 1, line.size(), im.events);
    const std::string body = LogSafe(im.LogLine(e));
    if (!body.empty()) {
      line = SyslogStamp(e.ts_ns) + " " + im.hostname + " honeywall: " + body + "\n";
      fwrite(line.data(), 1, line.size(), im.log);
      if (im.use_syslog) syslog(LOG_NOTICE, "%s", body.c_str());
    }
    if (e.counted && e.honeypot < im.mirror.size()) {
      im.mirror[e.honeypot].TryConsume(e.cls, e.budget_ns != 0 ? e.budget_ns : e.ts_ns);
      counted = true;
    }
  }
  if (n == 0) {
    if (!im.notices.empty() || !im.notice_logs.empty()) im.WriteNotices();  // retry after a full disk
    if (im.budgets_failing && MonoNowNs() >= im.budgets_retry_ns) im.SaveBudgetsReporting();
    return 0;
  }
  if (!im.Commit(im.events, &im.events_good)) {
    dropped_.fetch_add(n, std::memory_order_relaxed);  // e.g. disk full: these lines are lost
  } else {
    written_.fetch_add(n, std::memory_order_relaxed);
  }
  im.Commit(im.log, &im.log_good);
  if (counted || (im.budgets_failing && MonoNowNs() >= im.budgets_retry_ns)) im.SaveBudgetsReporting();
  return n;
}

bool EventWriter::PollTty(bool force) {
  Impl& im = *impl_;
  const int64_t now = MonoNowNs();
  if (!force && now < im.next_tty_poll_ns) return false;
  {
    std::lock_guard<std::mutex> lock(im.out_mu);
    if (im.closed || !im.tty) return false;
  }
  std::string lines;
  uint64_t n = 0;
  const bool more = im.tty->Poll(&lines, &n);
  im.next_tty_poll_ns = more ? now : now + kTtyPollNs;
  if (n > 0) {
    std::lock_guard<std::mutex> lock(im.out_mu);
    if (im.closed) return false;
    fwrite(lines.data(), 1, lines.size(), im.events);
    if (!im.Commit(im.events, &im.events_good)) {
      dropped_.fetch_add(n, std::memory_order_relaxed);
    } else {
      tty_written_.fetch_add(n, std::memory_order_relaxed);
    }
  }
  im.tty->SaveState();
  return more;
}

void EventWriter::PostStats(const std::string& stats_json_object) {
  ojson j;
  j["timestamp"] = IsoTimeLocal(WallNowNs());
  j["event_type"] = "stats";
  try {
    j["stats"] = ojson::parse(stats_json_object);
  } catch (const nlohmann::json::exception&) {
    j["stats"] = ojson{{"error", "stats text was not JSON"}, {"text", stats_json_object}};
  }
  const std::string line = JsonLine(j) + "\n";
  // DIR/stats.json: the latest counters alone, for `honeynet status` (which
  // must not scan events.json). Replaced atomically, so a reader never sees half.
  ojson latest;
  latest["timestamp"] = j["timestamp"];
  latest["time_unix"] = double(WallNowNs()) / double(kNsPerSec);
  if (j["stats"].is_object()) {
    for (auto& [k, v] : j["stats"].items()) latest[k] = v;
  } else {
    latest["stats"] = j["stats"];
  }
  const std::string latest_text = latest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(impl_->out_mu);
  if (impl_->closed) return;
  fwrite(line.data(), 1, line.size(), impl_->events);
  impl_->Commit(impl_->events, &impl_->events_good);
  const std::string path = impl_->cfg.capture.dir + "/stats.json";
  // Best effort, no fsync (every stats interval): the same counters are in events.json.
  (void)WriteFileAtomic(path, latest_text, 0640, Sync::kNone);
}

void EventWriter::PostNotice(const std::string& what, const std::string& iface, const std::string& message) {
  std::lock_guard<std::mutex> lock(impl_->out_mu);
  impl_->AddNotice(what, iface, message);
  impl_->WriteNotices();
}

// Queues one notice (events.json line, honeywall.log line, syslog). Caller holds out_mu.
void EventWriter::Impl::AddNotice(const std::string& what, const std::string& iface, const std::string& message) {
  Impl& im = *this;
  const int64_t now = WallNowNs();
  ojson j;
  j["timestamp"] = IsoTimeLocal(now);
  if (!iface.empty()) j["in_iface"] = iface;
  j["event_type"] = "notice";
  ojson n;
  n["what"] = what;
  n["message"] = message;
  j["notice"] = std::move(n);
  const std::string line = JsonLine(j) + "\n";
  const std::string safe = LogSafe(message);
  constexpr size_t kMaxNotices = 256;
  if (im.closed) return;
  if (im.notices.size() < kMaxNotices) {
    im.notices.push_back(line);
    im.notice_logs += SyslogStamp(now) + " " + im.hostname + " honeywall: NOTICE " + safe + "\n";
  }
  if (im.use_syslog) syslog(LOG_NOTICE, "NOTICE %s", safe.c_str());
}

// Saves budgets.json and says so when that starts or stops failing (a full
// disk): while it fails, the budgets in memory still decide, but a restart
// would forget the starts since the last good write. Retried once a second
// (DrainBatch) until it works, also when no new start comes. Caller holds out_mu.
void EventWriter::Impl::SaveBudgetsReporting() {
  const bool ok = SaveBudgets();
  if (!ok) budgets_retry_ns = MonoNowNs() + kNsPerSec;
  if (!ok && !budgets_failing) {
    budgets_failing = true;
    const std::string msg = "budgets.json cannot be written (" + budget_error +
                            "): Data Control goes on with the budgets in memory, but a restart now would "
                            "forget the starts since its last write; trying again every second";
    fprintf(stderr, "honeywall: %s\n", msg.c_str());
    AddNotice("budgets_write_failed", "", msg);
    WriteNotices();
  } else if (ok && budgets_failing) {
    budgets_failing = false;
    AddNotice("budgets_written", "", "budgets.json written again: every counted start is on disk");
    WriteNotices();
  }
}

Status EventWriter::LoadBudgets(const Config& cfg, std::vector<Budget>* budgets, int64_t now_ns) {
  budgets->clear();
  budgets->reserve(cfg.honeypots.size());
  for (const HoneypotConfig& hp : cfg.honeypots) budgets->emplace_back(hp.limits);

  const std::string path = BudgetsPath(cfg);
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr) {
    if (errno == ENOENT) return Status::Ok();  // first start: full budgets
    return Status::Error("cannot read " + path + ": " + Errno() + " (check its permissions)");
  }
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool read_error = ferror(f) != 0;
  fclose(f);
  if (read_error) return Status::Error("cannot read " + path + ": I/O error");

  const std::string fix = "; fix it or delete it (budgets then start full)";
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    if (!j.is_object() || !j.contains("version") || !j.contains("honeypots") || !j["honeypots"].is_object())
      return Status::Error(path + ": not a budgets file (needs \"version\" and \"honeypots\")" + fix);
    if (j["version"] != 1)
      return Status::Error(path + ": version " + j["version"].dump() + " is not supported (only 1)" + fix);
    const nlohmann::json& hps = j["honeypots"];
    // Saved in this boot: what time it is now on the old budget clock is its
    // time then plus the boot time elapsed, whatever the wall clock did.
    int64_t shift = 0;
    if (j.contains("boot_id") && j["boot_id"].is_string() && j["boot_id"] == CurrentBootId() &&
        j.contains("clock_ns") && j["clock_ns"].is_number_integer() && j.contains("boot_ns") &&
        j["boot_ns"].is_number_integer()) {
      const int64_t elapsed = BootNowNs() - j["boot_ns"].get<int64_t>();
      if (elapsed >= 0) shift = now_ns - (j["clock_ns"].get<int64_t>() + elapsed);
    }
    for (size_t i = 0; i < cfg.honeypots.size(); i++) {
      auto it = hps.find(cfg.honeypots[i].name);
      if (it == hps.end()) continue;  // new honeypot: full budget
      if (!it->is_object())
        return Status::Error(path + ": honeypot \"" + cfg.honeypots[i].name + "\" is not an object" + fix);
      Budget& b = (*budgets)[i];
      Budget::Saved s = b.Save();
      for (int c = 0; c < kProtoClasses; c++) {
        auto ct = it->find(kClassKeys[c]);
        if (ct == it->end()) continue;
        s.starts[size_t(c)] = ct->at("starts").get<std::vector<int64_t>>();
        s.tokens_micro[size_t(c)] = ct->at("tokens_micro").get<int64_t>();
        s.refill_ns[size_t(c)] = ct->at("refill_ns").get<int64_t>();
        for (int64_t& t : s.starts[size_t(c)]) t += shift;
        if (s.refill_ns[size_t(c)] != 0) s.refill_ns[size_t(c)] += shift;
      }
      b.Restore(s, now_ns);
    }
  } catch (const nlohmann::json::exception& ex) {
    return Status::Error(path + ": corrupt (" + ex.what() + ")" + fix);
  }
  return Status::Ok();
}

}  // namespace hn
