// WebIndex: what `honeynet web` knows of a lab's capture directory, kept in
// an SQLite file so that a week of events costs disk, not memory.
//
// It follows CAPTURE/events.json and the files it was rotated into
// (events.json.YYYYmmddTHHMMSSZ[-N]) by inode and byte offset, like `tail -F`:
// each Refresh() reads the complete lines appended since the last one (a
// truncated or replaced file is read again from its start), and stores every
// event except the periodic "stats" lines. Besides the events it keeps the
// attackers: every source of an inbound flow, with first and last seen, flow
// and session counts, the honeypots and ports it touched.
//
// The index is a cache: deleting it (DATA/web/index-DEV-INODE.sqlite, named
// after the capture directory) rebuilds it from
// the capture on the next start. Lines that are not JSON are counted and
// skipped. SQLite's page cache is capped (8 MiB), so memory stays flat however
// long the lab has run.
//
// Who may call: src/web (the server's refresh thread and its request
// handlers; every method takes the index's lock).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace hn::web {

struct AttackerRow {
  std::string ip;
  int64_t first_ns = 0, last_ns = 0;
  int64_t flows = 0;      // inbound flows (allowed or dropped)
  int64_t sessions = 0;   // inbound TCP flows that carried data to the honeypot
  std::vector<std::string> honeypots;
  std::vector<std::pair<int, int64_t>> ports;  // destination port, flows (most first)
  // Joined at query time: what the touched honeypots did from first seen to
  // an hour after last seen.
  int64_t outbound = 0, blocked = 0;  // outbound flows allowed / dropped
  int64_t logins = 0;                 // tty sessions opened on those honeypots (TTY capture)
  int64_t alerts = 0;                 // rule alerts involving the address
};

struct EventRow {
  int64_t id = 0, ts_ns = 0;
  std::string type;       // EVE event_type: honeywall, flow, alert, drop, tty, retention, notice
  std::string src, dst, proto, cid, honeypot;
  int sport = -1, dport = -1;  // -1: none
  uint64_t flow_id = 0;
  std::string direction;  // inbound | outbound | ... (honeywall, alert events)
  std::string action;     // allowed | dropped | blocked
  std::string reason;     // honeywall.reason, drop reason
  std::string sig;        // alert signature; tty: the command or action
  std::string json;       // the whole line
};

struct EventQuery {
  std::string ip;          // src or dst
  int port = -1;           // sport or dport
  std::string cid;         // Community ID
  uint64_t flow_id = 0;
  std::string honeypot;
  std::string type;        // one event_type
  int64_t from_ns = 0, to_ns = 0;  // 0: open
  int64_t after_id = 0;    // id > after_id (live updates)
  size_t limit = 500;
  bool newest_first = true;
};

struct AlertGroup {
  std::string signature, src, dst;
  int64_t sid = 0, severity = 3, count = 0, blocked = 0;
  int64_t first_ns = 0, last_ns = 0;
};

struct IndexTotals {
  int64_t events = 0, attackers = 0, alerts = 0, bad_lines = 0;
  int64_t max_id = 0;
};

class WebIndex {
 public:
  // Opens (creates) the index at db_path for the capture directory.
  static Result<std::unique_ptr<WebIndex>> Open(const std::string& db_path, const std::string& capture_dir);
  ~WebIndex();
  WebIndex(const WebIndex&) = delete;
  WebIndex& operator=(const WebIndex&) = delete;

  // Reads what is new (at most max_bytes of lines this call); *more is set
  // when there is more to read. Returns how many events were stored.
  Result<uint64_t> Refresh(uint64_t max_bytes = 16u << 20, bool* more = nullptr);

  std::vector<AttackerRow> Attackers(size_t limit);
  std::optional<AttackerRow> Attacker(const std::string& ip);
  std::vector<EventRow> Query(const EventQuery& q);
  // One attacker's story, oldest first: its inbound flows and their ends,
  // alerts and drops naming its address, and what its honeypots did from
  // first seen to an hour after last seen (outbound flows allowed and
  // blocked, alerts, tty sessions).
  std::vector<EventRow> Story(const AttackerRow& a, size_t limit);
  std::optional<EventRow> ById(int64_t id);
  // The flow's events (verdict, alerts, end) by the honeywall's flow_id.
  std::vector<EventRow> Flow(uint64_t flow_id);
  std::vector<AlertGroup> AlertGroups(size_t limit);
  // Inbound flows per time bucket over the whole capture: (bucket start, count).
  std::vector<std::pair<int64_t, int64_t>> InboundOverTime(int buckets);
  std::vector<std::pair<std::string, int64_t>> TopPorts(size_t n);
  std::vector<std::pair<std::string, int64_t>> TopSources(size_t n);
  IndexTotals Totals();

 private:
  WebIndex() = default;
  Status Exec(const char* sql);
  Status IngestLine(std::string_view line);
  Result<uint64_t> ReadFile(const std::string& path, uint64_t max_bytes, bool* more);
  void FillAttacker(AttackerRow* a);

  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::string capture_dir_;
  int64_t bad_lines_ = 0;
};

}  // namespace hn::web
