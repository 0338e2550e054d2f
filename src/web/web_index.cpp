#include "web/web_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "analysis/event_index.h"

namespace hn::web {

namespace {

using json = nlohmann::json;
constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kAfterLast = 3600 * kNsPerSec;  // how long after last seen a honeypot's acts are joined

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return s_ != nullptr; }
  Stmt& Bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); return *this; }
  Stmt& Bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT); return *this; }
  Stmt& BindNull(int i) { sqlite3_bind_null(s_, i); return *this; }
  bool Step() { return s_ && sqlite3_step(s_) == SQLITE_ROW; }
  int Run() { return s_ ? sqlite3_step(s_) : SQLITE_ERROR; }
  void Reset() { sqlite3_reset(s_); sqlite3_clear_bindings(s_); }
  int64_t Int(int c) const { return sqlite3_column_int64(s_, c); }
  bool Null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string Text(int c) const {
    const auto* t = sqlite3_column_text(s_, c);
    return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(s_, c))) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kSchema = R"SQL(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA cache_size=-8192;
PRAGMA temp_store=FILE;
PRAGMA journal_size_limit=16777216;
CREATE TABLE IF NOT EXISTS files(ino INTEGER PRIMARY KEY, name TEXT, off INTEGER, first TEXT);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY, ts INTEGER, type TEXT, src TEXT, sport INTEGER, dst TEXT, dport INTEGER,
  proto TEXT, cid TEXT, flow_id INTEGER, honeypot TEXT, direction TEXT, action TEXT, reason TEXT,
  sig TEXT, json TEXT);
CREATE INDEX IF NOT EXISTS ev_src ON events(src, ts);
CREATE INDEX IF NOT EXISTS ev_dst ON events(dst, ts);
CREATE INDEX IF NOT EXISTS ev_hp ON events(honeypot, ts);
CREATE INDEX IF NOT EXISTS ev_cid ON events(cid);
CREATE INDEX IF NOT EXISTS ev_flow ON events(flow_id);
CREATE INDEX IF NOT EXISTS ev_ts ON events(ts);
CREATE INDEX IF NOT EXISTS ev_type ON events(type, ts);
-- What followed on a honeypot (outbound attempts, terminals): few rows, so
-- the per-attacker sums of the attackers list stay fast however long an
-- address keeps scanning. Queries name these with INDEXED BY.
CREATE INDEX IF NOT EXISTS ev_followup ON events(honeypot, ts) WHERE direction='outbound' OR type='tty';
CREATE INDEX IF NOT EXISTS ev_inbound ON events(ts) WHERE type='honeywall' AND direction='inbound';
CREATE TABLE IF NOT EXISTS attackers(ip TEXT PRIMARY KEY, first INTEGER, last INTEGER, flows INTEGER, sessions INTEGER);
CREATE TABLE IF NOT EXISTS attacker_hp(ip TEXT, honeypot TEXT, PRIMARY KEY(ip, honeypot));
CREATE TABLE IF NOT EXISTS attacker_port(ip TEXT, port INTEGER, n INTEGER, PRIMARY KEY(ip, port));
)SQL";

std::string Str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t Int(const json& j, const char* k, int64_t dflt) {
  auto it = j.find(k);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : dflt;
}

EventRow RowFrom(const Stmt& s) {
  EventRow r;
  r.id = s.Int(0);
  r.ts_ns = s.Int(1);
  r.type = s.Text(2);
  r.src = s.Text(3);
  r.sport = s.Null(4) ? -1 : int(s.Int(4));
  r.dst = s.Text(5);
  r.dport = s.Null(6) ? -1 : int(s.Int(6));
  r.proto = s.Text(7);
  r.cid = s.Text(8);
  r.flow_id = uint64_t(s.Int(9));
  r.honeypot = s.Text(10);
  r.direction = s.Text(11);
  r.action = s.Text(12);
  r.reason = s.Text(13);
  r.sig = s.Text(14);
  r.json = s.Text(15);
  return r;
}

constexpr const char* kCols =
    "id, ts, type, src, sport, dst, dport, proto, cid, flow_id, honeypot, direction, action, reason, sig, json";

// events.json's rotated files first (their names sort by time), then the live one.
std::vector<std::string> EventFiles(const std::string& dir) {
  std::vector<std::string> rotated;
  bool live = false;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n == "events.json") live = true;
      else if (n.rfind("events.json.", 0) == 0) rotated.push_back(n);
    }
    closedir(d);
  }
  std::sort(rotated.begin(), rotated.end());
  if (live) rotated.push_back("events.json");
  for (auto& n : rotated) n = dir + "/" + n;
  return rotated;
}

}  // namespace

Result<std::unique_ptr<WebIndex>> WebIndex::Open(const std::string& db_path, const std::string& capture_dir) {
  std::unique_ptr<WebIndex> ix(new WebIndex());
  ix->capture_dir_ = capture_dir;
  if (sqlite3_open_v2(db_path.c_str(), &ix->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = ix->db_ ? sqlite3_errmsg(ix->db_) : "out of memory";
    return Status::Error("cannot open the web index " + db_path + ": " + msg);
  }
  sqlite3_busy_timeout(ix->db_, 2000);
  if (Status s = ix->Exec(kSchema); !s.ok())
    return Status::Error("web index " + db_path + ": " + s.message() + " (delete the file to rebuild it)");
  return ix;
}

WebIndex::~WebIndex() {
  if (db_) sqlite3_close(db_);
}

Status WebIndex::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "error";
    sqlite3_free(err);
    return Status::Error(m);
  }
  return Status::Ok();
}

Status WebIndex::IngestLine(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) {
    bad_lines_++;
    return Status::Ok();
  }
  const std::string type = Str(j, "event_type");
  if (type.empty() || type == "stats") return Status::Ok();
  const auto ts = ParseEveTimestamp(Str(j, "timestamp"));
  if (!ts) {
    bad_lines_++;
    return Status::Ok();
  }
  EventRow r;
  r.ts_ns = *ts;
  r.type = type;
  r.src = Str(j, "src_ip");
  r.dst = Str(j, "dest_ip");
  r.sport = int(Int(j, "src_port", -1));
  r.dport = int(Int(j, "dest_port", -1));
  r.proto = Str(j, "proto");
  r.cid = Str(j, "community_id");
  r.flow_id = uint64_t(Int(j, "flow_id", 0));
  r.honeypot = Str(j, "honeypot");
  if (auto hw = j.find("honeywall"); hw != j.end() && hw->is_object()) {
    r.direction = Str(*hw, "direction");
    r.action = Str(*hw, "action");
    r.reason = Str(*hw, "reason");
  }
  if (type == "alert") {
    if (auto a = j.find("alert"); a != j.end() && a->is_object()) {
      r.action = Str(*a, "action");
      r.sig = Str(*a, "signature");
      r.reason = std::to_string(Int(*a, "signature_id", 0));
    }
  } else if (type == "drop") {
    if (auto d = j.find("drop"); d != j.end() && d->is_object()) {
      r.action = "blocked";
      r.sig = Str(*d, "signature");
      r.reason = Str(*d, "reason");
    }
  } else if (type == "flow") {
    if (auto f = j.find("flow"); f != j.end() && f->is_object()) {
      r.action = Str(*f, "action");
      r.reason = Str(*f, "state");
    }
  } else if (type == "tty") {
    if (auto t = j.find("tty"); t != j.end() && t->is_object()) {
      r.action = Str(*t, "action");
      r.sig = Str(*t, "command");
      r.reason = Str(*t, "session");
    }
  } else if (type == "retention") {
    if (auto t = j.find("retention"); t != j.end() && t->is_object()) {
      r.action = Str(*t, "action");
      r.sig = Str(*t, "file");
      r.reason = Str(*t, "reason");
    }
  } else if (type == "notice") {
    if (auto t = j.find("notice"); t != j.end() && t->is_object()) {
      r.sig = Str(*t, "message");
      r.reason = Str(*t, "kind");
    }
  }

  Stmt ins(db_,
           "INSERT INTO events(ts, type, src, sport, dst, dport, proto, cid, flow_id, honeypot, direction, action, "
           "reason, sig, json) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)");
  ins.Bind(1, r.ts_ns).Bind(2, r.type).Bind(3, r.src);
  if (r.sport >= 0) ins.Bind(4, int64_t(r.sport)); else ins.BindNull(4);
  ins.Bind(5, r.dst);
  if (r.dport >= 0) ins.Bind(6, int64_t(r.dport)); else ins.BindNull(6);
  ins.Bind(7, r.proto).Bind(8, r.cid).Bind(9, int64_t(r.flow_id)).Bind(10, r.honeypot).Bind(11, r.direction);
  ins.Bind(12, r.action).Bind(13, r.reason).Bind(14, r.sig).Bind(15, std::string(line));
  if (ins.Run() != SQLITE_DONE) return Status::Error(std::string("insert: ") + sqlite3_errmsg(db_));

  if (type == "honeywall" && r.direction == "inbound" && !r.src.empty()) {
    Stmt a(db_,
           "INSERT INTO attackers(ip, first, last, flows, sessions) VALUES(?1, ?2, ?2, 1, 0) "
           "ON CONFLICT(ip) DO UPDATE SET first=min(first, ?2), last=max(last, ?2), flows=flows+1");
    a.Bind(1, r.src).Bind(2, r.ts_ns).Run();
    if (!r.honeypot.empty()) {
      Stmt h(db_, "INSERT OR IGNORE INTO attacker_hp(ip, honeypot) VALUES(?1, ?2)");
      h.Bind(1, r.src).Bind(2, r.honeypot).Run();
    }
    if (r.dport >= 0) {
      Stmt p(db_,
             "INSERT INTO attacker_port(ip, port, n) VALUES(?1, ?2, 1) "
             "ON CONFLICT(ip, port) DO UPDATE SET n=n+1");
      p.Bind(1, r.src).Bind(2, int64_t(r.dport)).Run();
    }
  } else if (type == "flow" && !r.src.empty()) {
    int64_t to_server = 0, pkts = 0;
    if (auto f = j.find("flow"); f != j.end() && f->is_object()) {
      to_server = Int(*f, "bytes_toserver", 0);
      pkts = Int(*f, "pkts_toserver", 0);
    }
    // The end of an attacker's flow: last seen moves, and a TCP flow whose
    // client sent payload is a session. The flow counts frame bytes; a frame
    // without payload is at most 66 bytes (14 Ethernet + 20 IP + 32 TCP with
    // timestamps), the SYN 74 (its options): what is over that is payload.
    const bool session = r.proto == "TCP" && to_server - 66 * pkts - 8 > 0;
    Stmt u(db_, "UPDATE attackers SET last=max(last, ?2), sessions=sessions+?3 WHERE ip=?1");
    u.Bind(1, r.src).Bind(2, r.ts_ns).Bind(3, session ? 1 : 0).Run();
  }
  return Status::Ok();
}

Result<uint64_t> WebIndex::ReadFile(const std::string& path, uint64_t max_bytes, bool* more) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return uint64_t(0);  // rotated away or deleted meanwhile
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return uint64_t(0);
  }
  const std::string name = path.substr(path.rfind('/') + 1);
  uint64_t off = 0;
  std::string first;
  {
    Stmt q(db_, "SELECT off, first FROM files WHERE ino=?1");
    q.Bind(1, int64_t(st.st_ino));
    if (q.Step()) {
      off = uint64_t(q.Int(0));
      first = q.Text(1);
    }
  }
  // The first line tells a new file that reuses an inode from an old one.
  char head[128];
  const ssize_t hn = pread(fd, head, sizeof head, 0);
  const std::string now_first = hn > 0 ? std::string(head, size_t(hn)) : std::string();
  if (uint64_t(st.st_size) < off || (off > 0 && !first.empty() && now_first.compare(0, first.size(), first) != 0))
    off = 0;
  uint64_t stored = 0;
  if (uint64_t(st.st_size) > off) {
    const uint64_t want = std::min<uint64_t>(uint64_t(st.st_size) - off, max_bytes);
    std::string buf(want, '\0');
    const ssize_t n = pread(fd, buf.data(), want, off_t(off));
    if (n > 0) {
      buf.resize(size_t(n));
      size_t end = buf.rfind('\n');
      if (end == std::string::npos && buf.size() == max_bytes) end = buf.size() - 1;  // an absurd line: skip it
      if (end != std::string::npos) {
        Exec("BEGIN");
        size_t pos = 0;
        while (pos <= end) {
          size_t nl = buf.find('\n', pos);
          if (nl == std::string::npos || nl > end) nl = end + 1;
          std::string_view line(buf.data() + pos, nl - pos);
          if (!line.empty()) {
            const auto before = sqlite3_total_changes(db_);
            if (Status s = IngestLine(line); !s.ok()) {
              Exec("ROLLBACK");
              close(fd);
              return s;
            }
            if (sqlite3_total_changes(db_) != before) stored++;
          }
          pos = nl + 1;
        }
        off += end + 1;
        Stmt u(db_, "INSERT INTO files(ino, name, off, first) VALUES(?1,?2,?3,?4) "
                    "ON CONFLICT(ino) DO UPDATE SET name=?2, off=?3, first=?4");
        u.Bind(1, int64_t(st.st_ino)).Bind(2, name).Bind(3, int64_t(off)).Bind(4, now_first.substr(0, 64)).Run();
        Exec("COMMIT");
        if (uint64_t(st.st_size) > off && more) *more = true;
      }
    }
  }
  close(fd);
  return stored;
}

Result<uint64_t> WebIndex::Refresh(uint64_t max_bytes, bool* more) {
  std::lock_guard lock(mu_);
  if (more) *more = false;
  uint64_t total = 0;
  for (const std::string& path : EventFiles(capture_dir_)) {
    auto r = ReadFile(path, max_bytes, more);
    if (!r.ok()) return r.status();
    total += *r;
    if (more && *more) break;  // oldest first: finish one file before the next
  }
  return total;
}

void WebIndex::FillAttacker(AttackerRow* a) {
  {
    Stmt q(db_, "SELECT honeypot FROM attacker_hp WHERE ip=?1 ORDER BY honeypot");
    q.Bind(1, a->ip);
    while (q.Step()) a->honeypots.push_back(q.Text(0));
  }
  {
    Stmt q(db_, "SELECT port, n FROM attacker_port WHERE ip=?1 ORDER BY n DESC, port LIMIT 12");
    q.Bind(1, a->ip);
    while (q.Step()) a->ports.emplace_back(int(q.Int(0)), q.Int(1));
  }
  for (const std::string& hp : a->honeypots) {
    Stmt q(db_,
           "SELECT sum(type='honeywall' AND action='allowed'), sum(type='honeywall' AND action='dropped'), "
           "sum(type='tty' AND action='open') FROM events INDEXED BY ev_followup WHERE honeypot=?1 AND "
           "ts BETWEEN ?2 AND ?3 AND (direction='outbound' OR type='tty')");
    q.Bind(1, hp).Bind(2, a->first_ns).Bind(3, a->last_ns + kAfterLast);
    if (q.Step()) {
      a->outbound += q.Int(0);
      a->blocked += q.Int(1);
      a->logins += q.Int(2);
    }
  }
  Stmt q(db_, "SELECT count(*) FROM events WHERE type='alert' AND (src=?1 OR dst=?1)");
  q.Bind(1, a->ip);
  if (q.Step()) a->alerts = q.Int(0);
}

std::vector<AttackerRow> WebIndex::Attackers(size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<AttackerRow> out;
  Stmt q(db_, "SELECT ip, first, last, flows, sessions FROM attackers ORDER BY last DESC LIMIT ?1");
  q.Bind(1, int64_t(limit));
  while (q.Step()) out.push_back({q.Text(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4)});
  for (auto& a : out) FillAttacker(&a);
  return out;
}

std::optional<AttackerRow> WebIndex::Attacker(const std::string& ip) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT ip, first, last, flows, sessions FROM attackers WHERE ip=?1");
  q.Bind(1, ip);
  if (!q.Step()) return std::nullopt;
  AttackerRow a{q.Text(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4)};
  FillAttacker(&a);
  return a;
}

std::vector<EventRow> WebIndex::Query(const EventQuery& eq) {
  std::lock_guard lock(mu_);
  std::string sql = std::string("SELECT ") + kCols + " FROM events WHERE 1";
  if (!eq.ip.empty()) sql += " AND (src=?1 OR dst=?1)";
  if (eq.port >= 0) sql += " AND (sport=?2 OR dport=?2)";
  if (!eq.cid.empty()) sql += " AND cid=?3";
  if (eq.flow_id) sql += " AND flow_id=?4";
  if (!eq.honeypot.empty()) sql += " AND honeypot=?5";
  if (!eq.type.empty()) sql += " AND type=?6";
  if (eq.from_ns) sql += " AND ts>=?7";
  if (eq.to_ns) sql += " AND ts<=?8";
  if (eq.after_id) sql += " AND id>?9";
  sql += eq.newest_first ? " ORDER BY id DESC" : " ORDER BY id";
  sql += " LIMIT ?10";
  Stmt q(db_, sql.c_str());
  if (!eq.ip.empty()) q.Bind(1, eq.ip);
  if (eq.port >= 0) q.Bind(2, int64_t(eq.port));
  if (!eq.cid.empty()) q.Bind(3, eq.cid);
  if (eq.flow_id) q.Bind(4, int64_t(eq.flow_id));
  if (!eq.honeypot.empty()) q.Bind(5, eq.honeypot);
  if (!eq.type.empty()) q.Bind(6, eq.type);
  if (eq.from_ns) q.Bind(7, eq.from_ns);
  if (eq.to_ns) q.Bind(8, eq.to_ns);
  if (eq.after_id) q.Bind(9, eq.after_id);
  q.Bind(10, int64_t(eq.limit));
  std::vector<EventRow> out;
  while (q.Step()) out.push_back(RowFrom(q));
  return out;
}

std::vector<EventRow> WebIndex::Story(const AttackerRow& a, size_t limit) {
  std::lock_guard lock(mu_);
  std::map<int64_t, EventRow> rows;  // by id: one copy of each
  {
    Stmt q(db_, (std::string("SELECT ") + kCols + " FROM events WHERE (src=?1 OR dst=?1) AND type!='flow' "
                 "ORDER BY ts LIMIT ?2").c_str());
    q.Bind(1, a.ip).Bind(2, int64_t(limit));
    while (q.Step()) {
      EventRow r = RowFrom(q);
      rows.emplace(r.id, std::move(r));
    }
  }
  {
    Stmt q(db_, (std::string("SELECT ") + kCols + " FROM events WHERE src=?1 AND type='flow' "
                 "ORDER BY ts LIMIT ?2").c_str());
    q.Bind(1, a.ip).Bind(2, int64_t(limit));
    while (q.Step()) {
      EventRow r = RowFrom(q);
      rows.emplace(r.id, std::move(r));
    }
  }
  for (const std::string& hp : a.honeypots) {
    Stmt q(db_, (std::string("SELECT ") + kCols + " FROM events INDEXED BY ev_followup WHERE honeypot=?1 AND ts BETWEEN ?2 AND ?3 AND "
                 "(direction='outbound' OR type='tty') AND ((type IN ('flow','honeywall','alert','drop') AND direction='outbound') OR "
                 // TTY sessions of terminals an attacker can reach (pts, serial lines
                 // of a login service), not the guest's own consoles.
                 "(type='tty' AND coalesce(json_extract(json, '$.tty.name'), '') NOT GLOB 'tty[0-9]*' AND "
                 "coalesce(json_extract(json, '$.tty.name'), '') != 'console')) "
                 "ORDER BY ts LIMIT ?4").c_str());
    q.Bind(1, hp).Bind(2, a.first_ns).Bind(3, a.last_ns + kAfterLast).Bind(4, int64_t(limit));
    while (q.Step()) {
      EventRow r = RowFrom(q);
      rows.emplace(r.id, std::move(r));
    }
  }
  std::vector<EventRow> out;
  for (auto& [id, r] : rows) out.push_back(std::move(r));
  std::stable_sort(out.begin(), out.end(), [](const EventRow& x, const EventRow& y) { return x.ts_ns < y.ts_ns; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::optional<EventRow> WebIndex::ById(int64_t id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kCols + " FROM events WHERE id=?1").c_str());
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  return RowFrom(q);
}

std::vector<EventRow> WebIndex::Flow(uint64_t flow_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kCols + " FROM events WHERE flow_id=?1 ORDER BY ts, id LIMIT 200").c_str());
  q.Bind(1, int64_t(flow_id));
  std::vector<EventRow> out;
  while (q.Step()) out.push_back(RowFrom(q));
  return out;
}

std::vector<AlertGroup> WebIndex::AlertGroups(size_t limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_,
         "SELECT sig, src, dst, CAST(reason AS INTEGER), count(*), sum(action='blocked'), min(ts), max(ts), "
         "min(json_extract(json, '$.alert.severity')) FROM events WHERE type='alert' "
         "GROUP BY sig, src, dst ORDER BY max(ts) DESC LIMIT ?1");
  q.Bind(1, int64_t(limit));
  std::vector<AlertGroup> out;
  while (q.Step()) {
    AlertGroup g;
    g.signature = q.Text(0);
    g.src = q.Text(1);
    g.dst = q.Text(2);
    g.sid = q.Int(3);
    g.count = q.Int(4);
    g.blocked = q.Int(5);
    g.first_ns = q.Int(6);
    g.last_ns = q.Int(7);
    g.severity = q.Null(8) ? 3 : q.Int(8);
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> WebIndex::InboundOverTime(int buckets) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t lo = 0, hi = 0;
  {
    Stmt q(db_, "SELECT min(ts), max(ts) FROM events INDEXED BY ev_inbound WHERE type='honeywall' AND direction='inbound'");
    if (!q.Step() || q.Null(0)) return out;
    lo = q.Int(0);
    hi = q.Int(1);
  }
  if (buckets < 1) buckets = 1;
  // The smallest round width that spreads the span over at most `buckets`
  // bars (a lab's few minutes get seconds, a week gets hours).
  static constexpr int64_t kWidths[] = {1, 5, 10, 30, 60, 300, 600, 1800, 3600, 6 * 3600, 86400, 7 * 86400};
  int64_t width = 0;
  for (int64_t w : kWidths) {
    width = w * kNsPerSec;
    if ((hi - lo) / width < buckets) break;
  }
  lo -= lo % width;
  const int n = int((hi - lo) / width) + 1;
  out.resize(size_t(n));
  for (int i = 0; i < n; i++) out[size_t(i)] = {lo + i * width, 0};
  Stmt q(db_, "SELECT (ts-?1)/?2, count(*) FROM events INDEXED BY ev_inbound WHERE type='honeywall' AND direction='inbound' GROUP BY 1");
  q.Bind(1, lo).Bind(2, width);
  while (q.Step()) {
    const int64_t b = q.Int(0);
    if (b >= 0 && b < n) out[size_t(b)].second = q.Int(1);
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> WebIndex::TopPorts(size_t n) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT port, sum(n) FROM attacker_port GROUP BY port ORDER BY 2 DESC, port LIMIT ?1");
  q.Bind(1, int64_t(n));
  std::vector<std::pair<std::string, int64_t>> out;
  while (q.Step()) out.emplace_back(std::to_string(q.Int(0)), q.Int(1));
  return out;
}

std::vector<std::pair<std::string, int64_t>> WebIndex::TopSources(size_t n) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT ip, flows FROM attackers ORDER BY flows DESC, ip LIMIT ?1");
  q.Bind(1, int64_t(n));
  std::vector<std::pair<std::string, int64_t>> out;
  while (q.Step()) out.emplace_back(q.Text(0), q.Int(1));
  return out;
}

IndexTotals WebIndex::Totals() {
  std::lock_guard lock(mu_);
  IndexTotals t;
  t.bad_lines = bad_lines_;
  Stmt q(db_, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM attackers), "
              "(SELECT count(*) FROM events WHERE type='alert'), (SELECT max(id) FROM events)");
  if (q.Step()) {
    t.events = q.Int(0);
    t.attackers = q.Int(1);
    t.alerts = q.Int(2);
    t.max_id = q.Null(3) ? 0 : q.Int(3);
  }
  return t;
}

}  // namespace hn::web
