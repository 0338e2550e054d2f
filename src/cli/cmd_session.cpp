// `honeynet sessions [PATH...]`: the TCP sessions of a capture, one row each.
// `honeynet session FLOW_ID [PATH...]`: one session's transcript (or its raw
// bytes with --raw). The reassembly is src/analysis/tcp_reassembly.*, the
// telnet clean-up src/analysis/telnet.*; docs/analysis.md ("sessions").
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/capture_set.h"
#include "analysis/event_index.h"
#include "analysis/tcp_reassembly.h"
#include "analysis/telnet.h"
#include "cli/commands.h"
#include "common/term_safe.h"
#include "cli/term.h"
#include "common/time_format.h"

namespace hn {
namespace {

using Json = nlohmann::ordered_json;

struct SessionArgs {
  std::vector<std::string> paths;
  std::string port = "inside";
  bool json = false;
  bool all = false;
  bool wide = false;
  std::string flow;
  std::string raw;
  std::string direction = "both";
  bool no_telnet = false;
} g_args;

// ---- text helpers -----------------------------------------------------------

// "12:00:01.002" (local time).
std::string ClockTime(int64_t ns) {
  const time_t sec = time_t(ns / 1'000'000'000);
  tm t{};
  localtime_r(&sec, &t);
  char b[32];
  std::snprintf(b, sizeof b, "%02d:%02d:%02d.%03d", t.tm_hour, t.tm_min, t.tm_sec,
                int(ns / 1'000'000 % 1000));
  return b;
}

std::string Duration(int64_t ns) {
  char b[32];
  const double s = double(ns) / 1e9;
  if (s < 60) std::snprintf(b, sizeof b, "%.1fs", s);
  else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(b, sizeof b, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  return b;
}

std::string Endpoint(const std::string& ip, uint16_t port, bool v6) {
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

// Bytes an attacker sent, made safe to print: printable ASCII and tabs as
// they are, "\r" for a bare carriage return, other bytes as \xNN (so nothing
// in a capture can move the reader's cursor or change their terminal).
void AppendEscaped(std::string_view in, std::string* out, bool keep_tab = true) {
  static const char* kHex = "0123456789abcdef";
  for (unsigned char c : in) {
    if ((c >= 0x20 && c < 0x7f) || (c == '\t' && keep_tab)) {
      out->push_back(char(c));
    } else if (c == '\r') {
      out->append("\\r");
    } else {
      out->append("\\x");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

std::string Base64(const uint8_t* d, size_t n) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = uint32_t(d[i]) << 16 | (i + 1 < n ? uint32_t(d[i + 1]) << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
    out.push_back(k[v >> 18 & 63]);
    out.push_back(k[v >> 12 & 63]);
    out.push_back(i + 1 < n ? k[v >> 6 & 63] : '=');
    out.push_back(i + 2 < n ? k[v & 63] : '=');
  }
  return out;
}

const char* SideName(int side) { return side == 0 ? "client" : "server"; }

std::string EndText(const TcpStreamInfo& s) {
  if (s.rst) return "reset (RST)";
  if (s.fin[0] && s.fin[1]) return "closed (FIN both ways)";
  if (s.fin[0]) return "half-closed by the client (FIN)";
  if (s.fin[1]) return "half-closed by the server (FIN)";
  return "still open at the end of the capture";
}

std::string StateShort(const TcpStreamInfo& s) {
  if (s.rst) return "RST";
  if (s.fin[0] && s.fin[1]) return "FIN";
  if (s.fin[0] || s.fin[1]) return "half";
  return "open";
}

// The paths and the events beside them; prints the error and returns false.
struct Input {
  std::unique_ptr<CaptureSet> set;
  EventIndex events;
};

bool OpenInput(const char* me, Input* in) {
  if (g_args.paths.empty()) {
    std::cerr << me << ": name a capture: a pcap/pcapng file or the honeywall's capture directory "
              << "(e.g. /var/lib/honeynet/lab/capture)\n";
    return false;
  }
  if (g_args.port != "inside" && g_args.port != "outside" && g_args.port != "all") {
    std::cerr << me << ": --port is inside, outside or all, not '" << g_args.port << "'\n";
    return false;
  }
  CaptureSetOptions opt;
  opt.port = g_args.port;
  auto set = CaptureSet::Open(g_args.paths, opt);
  if (!set.ok()) {
    std::cerr << me << ": " << set.status().message() << "\n";
    return false;
  }
  in->set = std::move(*set);
  const std::string ev = EventIndex::FindFor(g_args.paths);
  if (!ev.empty()) {
    auto idx = EventIndex::Load(ev);
    if (idx.ok()) in->events = std::move(*idx);
    else std::cerr << me << ": " << idx.status().message() << " (going on without the events)\n";
  }
  return true;
}

// Feeds every packet of the set to the reassembler. Returns the exit code
// part that the input decides: 1 when a file was damaged (after warning).
int Pump(const char* me, CaptureSet* set, TcpReassembler* r) {
  Progress progress(me, set->total_bytes());
  SetRecord rec;
  uint64_t n = 0;
  while (set->Next(&rec)) {
    r->FeedFrame(rec.linktype, rec.rec.data, rec.rec.caplen, rec.rec.ts_ns);
    if ((++n & 8191) == 0) progress.Update(set->bytes_read());
  }
  r->Finish();
  progress.Done();
  int rc = 0;
  for (const Status& e : set->errors()) {
    std::cerr << me << ": " << e.message() << " (read what came before it)\n";
    rc = 1;
  }
  if (r->stats().fragments)
    std::cerr << me << ": " << r->stats().fragments
              << " IP fragments carrying TCP were not reassembled: their bytes show as gaps\n";
  return rc;
}

// ---- sessions ---------------------------------------------------------------

constexpr size_t kPreviewBytes = 60, kWidePreviewBytes = 400;

class ListSink : public TcpStreamSink {
 public:
  struct Row {
    TcpStreamInfo info;
    uint32_t nth = 1;      // n-th stream with this Community ID
    bool telnet = false;
    bool decided = false;  // telnet or not
    int first_server = -1;
    std::string preview;   // the client's text, cleaned
    TelnetText text{true};
  };
  explicit ListSink(size_t preview_max) : preview_max_(preview_max) {}

  bool OnStart(const TcpStreamInfo& s) override {
    Row& r = live_[s.serial];
    r.nth = ++seen_[s.community_id];
    return true;
  }
  void OnData(const TcpStreamInfo& s, TcpSide side, int64_t, const uint8_t* d, size_t n) override {
    Row& r = live_[s.serial];
    if (side == TcpSide::kServer) {
      if (r.first_server < 0) r.first_server = d[0];
      return;
    }
    if (!r.decided) {
      r.decided = true;
      r.telnet = !g_args.no_telnet && IsTelnet(s.key.sport, s.key.dport, d[0], r.first_server);
      r.text = TelnetText(r.telnet);
    }
    if (r.preview.size() >= preview_max_ + 1) return;
    tmp_.clear();
    r.text.Feed(d, std::min(n, preview_max_ * 4 + 64), &tmp_);
    for (char c : tmp_) {
      if (r.preview.size() > preview_max_) break;
      if (c == '\n') {
        if (!r.preview.empty() && r.preview.back() != ' ') r.preview += "; ";
      } else {
        AppendEscaped(std::string_view(&c, 1), &r.preview, /*keep_tab=*/false);
      }
    }
  }
  void OnEnd(const TcpStreamInfo& s, TcpEnd) override {
    auto it = live_.find(s.serial);
    if (it == live_.end()) return;
    if (g_args.all || s.bytes[0] + s.bytes[1] + s.gap_bytes[0] + s.gap_bytes[1] > 0) {
      it->second.info = s;
      done_.push_back(std::move(it->second));
    }
    live_.erase(it);
  }
  std::vector<Row>& rows() {
    std::sort(done_.begin(), done_.end(), [](const Row& a, const Row& b) { return a.info.serial < b.info.serial; });
    return done_;
  }
  uint32_t count(const std::string& cid) const {
    auto it = seen_.find(cid);
    return it == seen_.end() ? 0 : it->second;
  }

 private:
  size_t preview_max_;
  std::unordered_map<uint64_t, Row> live_;
  std::unordered_map<std::string, uint32_t> seen_;
  std::vector<Row> done_;
  std::string tmp_;
};

std::string RowId(const ListSink& sink, const ListSink::Row& r) {
  if (sink.count(r.info.community_id) > 1) return r.info.community_id + "#" + std::to_string(r.nth);
  return r.info.community_id;
}

std::string Preview(const std::string& p, size_t max) {
  std::string s = p;
  while (s.size() >= 2 && s.compare(s.size() - 2, 2, "; ") == 0) s.resize(s.size() - 2);
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

int RunSessions() {
  const char* me = "honeynet sessions";
  Input in;
  if (!OpenInput(me, &in)) return 2;
  const size_t pmax = g_args.wide ? kWidePreviewBytes : kPreviewBytes;
  ListSink sink(pmax);
  TcpReassembler r(&sink);
  int rc = Pump(me, in.set.get(), &r);
  auto& rows = sink.rows();

  if (g_args.json) {
    Json arr = Json::array();
    for (const auto& row : rows) {
      const TcpStreamInfo& s = row.info;
      Json j;
      j["id"] = RowId(sink, row);
      j["community_id"] = s.community_id;
      j["nth"] = row.nth;
      j["start"] = IsoTimeUtc(s.first_ns, "+0000");
      j["start_unix"] = double(s.first_ns) / 1e9;
      j["end"] = IsoTimeUtc(s.last_ns, "+0000");
      j["duration"] = double(s.last_ns - s.first_ns) / 1e9;
      j["client_ip"] = s.key.SrcString();
      j["client_port"] = s.key.sport;
      j["server_ip"] = s.key.DstString();
      j["server_port"] = s.key.dport;
      j["client_bytes"] = s.bytes[0];
      j["server_bytes"] = s.bytes[1];
      j["client_packets"] = s.packets[0];
      j["server_packets"] = s.packets[1];
      j["client_gap_bytes"] = s.gap_bytes[0];
      j["server_gap_bytes"] = s.gap_bytes[1];
      j["client_dup_bytes"] = s.dup_bytes[0];
      j["server_dup_bytes"] = s.dup_bytes[1];
      j["syn"] = s.saw_syn;
      j["state"] = StateShort(s);
      j["telnet"] = row.telnet;
      j["preview"] = Preview(row.preview, pmax);
      if (const FlowVerdict* v = in.events.Find(s.community_id, s.first_ns)) {
        j["flow_id"] = v->flow_id;
        j["honeypot"] = v->honeypot;
        j["action"] = v->action;
      }
      arr.push_back(std::move(j));
    }
    std::cout << JsonC1Escape(arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) << std::endl;
    return rc;
  }
  if (rows.empty()) {
    std::cout << "no TCP sessions" << (g_args.all ? "" : " with data") << " in " << in.set->files().size()
              << " file(s)" << (g_args.all ? "" : " (--all lists those without data too)") << "\n";
    return rc;
  }
  const bool colour = UseColour(stdout);
  const bool with_events = !in.events.empty();
  std::vector<TextTable::Column> cols = {{"ID"},         {"START"},       {"CLIENT"},
                                         {"SERVER"},     {"C>S", true},   {"S>C", true},
                                         {"DURATION", true}, {"END"}};
  if (with_events) cols.push_back({"HONEYPOT"});
  cols.push_back({"CLIENT TEXT"});
  TextTable t(cols);
  bool any_gap = false;
  for (const auto& row : rows) {
    const TcpStreamInfo& s = row.info;
    std::string end = StateShort(s);
    if (s.gap_bytes[0] + s.gap_bytes[1] > 0) {
      end += ",gap";
      any_gap = true;
    }
    std::vector<std::string> cells = {RowId(sink, row),
                                      LocalDateTime(s.first_ns),
                                      Endpoint(s.key.SrcString(), s.key.sport, s.key.v6),
                                      Endpoint(s.key.DstString(), s.key.dport, s.key.v6),
                                      std::to_string(s.bytes[0]),
                                      std::to_string(s.bytes[1]),
                                      Duration(s.last_ns - s.first_ns),
                                      end};
    if (with_events) {
      const FlowVerdict* v = in.events.Find(s.community_id, s.first_ns);
      std::string hp = v ? v->honeypot : "";
      if (v && v->action == "dropped") hp += hp.empty() ? "dropped" : " (dropped)";
      cells.push_back(hp.empty() ? "-" : hp);
    }
    cells.push_back(Paint(Preview(row.preview, pmax), Colour::kGreen, colour));
    t.Add(std::move(cells));
  }
  t.Print(stdout, colour);
  std::printf("%zu session(s); `honeynet session ID %s` shows one%s\n", rows.size(),
              g_args.paths.size() == 1 ? g_args.paths[0].c_str() : "PATH...",
              any_gap ? "; gap: bytes missing from the capture" : "");
  return rc;
}

// ---- session ----------------------------------------------------------------

// What `session` looks for: a Community ID, optionally its n-th stream, or a
// time the stream must start near (the honeywall's flow_id).
struct Target {
  std::string cid;
  uint32_t nth = 0;                // 0: any
  std::optional<int64_t> near_ns;  // from events.json
};

// The transcript of one stream, printed as it is read. Each direction's text
// is collected into lines; a line is printed when it ends (its timestamp is
// when it was complete), and before it the other direction's text that came
// before the line began (a prompt, say), so typed input and echoed output
// read in the order they happened.
class Transcript {
 public:
  Transcript(const TcpStreamInfo& s, FILE* out, bool colour) : out_(out), colour_(colour) {
    cport_ = s.key.sport;
    sport_ = s.key.dport;
  }
  void Data(const TcpStreamInfo&, int side, int64_t ts, const uint8_t* d, size_t n) {
    if (!decided_) {
      decided_ = true;
      const bool telnet = !g_args.no_telnet && IsTelnet(cport_, sport_, side == 0 ? d[0] : -1, side == 1 ? d[0] : -1);
      text_[0] = TelnetText(telnet);
      text_[1] = TelnetText(telnet);
      telnet_ = telnet;
    }
    tmp_.clear();
    text_[side].Feed(d, n, &tmp_);
    Add(side, ts, tmp_);
  }
  void Gap(int side, int64_t ts, uint64_t len) {
    FlushAll();
    std::string line = "[" + std::to_string(len) + " bytes missing from the capture]";
    Print(side, ts, Paint(line, Colour::kYellow, colour_));
  }
  void End(const TcpStreamInfo& s, TcpEnd why) {
    for (int side = 0; side < 2; side++) {
      tmp_.clear();
      text_[side].Finish(&tmp_);
      Add(side, s.last_ns, tmp_);
    }
    FlushAll();
    std::string line = "-- " + EndText(s) + (why == TcpEnd::kEvicted ? " (dropped from the table: too many streams)" : "") +
                       "; client sent " + std::to_string(s.bytes[0]) + " bytes, server " + std::to_string(s.bytes[1]);
    const uint64_t gaps = s.gap_bytes[0] + s.gap_bytes[1];
    if (gaps) line += "; " + std::to_string(gaps) + " bytes missing";
    if (telnet_) line += "; telnet negotiation removed";
    std::fprintf(out_, "%s\n", Paint(line, Colour::kDim, colour_).c_str());
  }

 private:
  struct Piece {
    size_t pos;
    int64_t ts;
  };
  struct Pending {
    std::string text;
    std::vector<Piece> pieces;
  };
  static constexpr size_t kMaxLine = 4096;

  void Add(int side, int64_t ts, std::string_view t) {
    // A line printed early (before the other side's line) ends at this newline: no empty line for it.
    if (cut_[side] && !t.empty()) {
      if (t.front() == '\n') t.remove_prefix(1);
      cut_[side] = false;
    }
    if (t.empty()) return;
    Pending& p = pend_[side];
    p.pieces.push_back({p.text.size(), ts});
    p.text += t;
    size_t nl;
    while ((nl = p.text.find('\n')) != std::string::npos || p.text.size() >= kMaxLine) {
      const size_t n = nl == std::string::npos ? kMaxLine : nl;
      FlushBefore(1 - side, p.pieces.front().ts);
      Emit(side, n, nl != std::string::npos);
    }
  }
  // Prints the other direction's text that arrived before time ts.
  void FlushBefore(int side, int64_t ts) {
    Pending& p = pend_[side];
    size_t k = 0;
    while (k < p.pieces.size() && p.pieces[k].ts < ts) k++;
    if (k == 0) return;
    const size_t n = k < p.pieces.size() ? p.pieces[k].pos : p.text.size();
    Emit(side, n, false);
  }
  // Prints the first n bytes of a direction's pending text as a line (and drops the newline after them).
  void Emit(int side, size_t n, bool newline) {
    Pending& p = pend_[side];
    // The time of the line: its last piece's.
    int64_t ts = p.pieces.front().ts;
    for (const Piece& pc : p.pieces)
      if (pc.pos < n + (newline ? 1 : 0)) ts = pc.ts;
    std::string line;
    AppendEscaped(std::string_view(p.text).substr(0, n), &line);
    Print(side, ts, side == 0 ? Paint(line, Colour::kGreen, colour_) : line);
    const size_t drop = n + (newline ? 1 : 0);
    p.text.erase(0, drop);
    cut_[side] = !newline && n > 0 && p.text.empty();
    std::vector<Piece> rest;
    for (size_t i = 0; i < p.pieces.size(); i++) {
      const size_t end = i + 1 < p.pieces.size() ? p.pieces[i + 1].pos : SIZE_MAX;
      if (end <= drop) continue;  // wholly printed
      rest.push_back({p.pieces[i].pos > drop ? p.pieces[i].pos - drop : 0, p.pieces[i].ts});
    }
    if (p.text.empty()) rest.clear();
    p.pieces = std::move(rest);
  }
  void FlushAll() {
    // the direction whose text began first goes first
    for (int round = 0; round < 2; round++) {
      int first = -1;
      for (int side = 0; side < 2; side++) {
        if (pend_[side].text.empty()) continue;
        if (first < 0 || pend_[side].pieces.front().ts < pend_[first].pieces.front().ts) first = side;
      }
      if (first < 0) return;
      Emit(first, pend_[first].text.size(), false);
    }
  }
  void Print(int side, int64_t ts, const std::string& line) {
    const std::string stamp = Paint(ClockTime(ts), Colour::kDim, colour_);
    const char* mark = side == 0 ? "> " : "< ";
    std::fprintf(out_, "%s %s%s\n", stamp.c_str(), colour_ ? Paint(mark, side == 0 ? Colour::kGreen : Colour::kNone, true).c_str() : mark,
                 line.c_str());
  }

  FILE* out_;
  bool colour_;
  uint16_t cport_ = 0, sport_ = 0;
  bool decided_ = false;
  bool telnet_ = false;
  TelnetText text_[2];
  Pending pend_[2];
  bool cut_[2] = {false, false};  // the last line printed had no newline yet
  std::string tmp_;
};

// Raw bytes of the directions asked for, into files.
struct RawOut {
  FILE* f[2] = {nullptr, nullptr};
  std::string path[2];
  uint64_t bytes[2] = {0, 0};
  uint64_t gap_bytes[2] = {0, 0};
  uint64_t gaps[2] = {0, 0};
  bool to_stdout = false;
};

class SessionSink : public TcpStreamSink {
 public:
  SessionSink(Target t, bool colour) : target_(std::move(t)), colour_(colour) {}

  bool OnStart(const TcpStreamInfo& s) override {
    if (s.community_id != target_.cid) return false;
    const uint32_t nth = ++seen_;
    if (target_.nth && nth != target_.nth) return false;
    if (target_.near_ns && (s.first_ns < *target_.near_ns - 1'000'000'000 || s.first_ns > *target_.near_ns + 2'000'000'000))
      return false;
    if (!g_args.raw.empty() && matched_ > 0) {  // raw: the first match only
      also_.push_back(nth);
      return false;
    }
    matched_++;
    nth_ = nth;
    if (!g_args.raw.empty()) return OpenRaw(s, nth);
    if (g_args.json) {
      Json j;
      j["id"] = s.community_id;
      j["nth"] = nth;
      j["client_ip"] = s.key.SrcString();
      j["client_port"] = s.key.sport;
      j["server_ip"] = s.key.DstString();
      j["server_port"] = s.key.dport;
      j["start"] = IsoTimeUtc(s.first_ns, "+0000");
      j["start_unix"] = double(s.first_ns) / 1e9;
      j["chunks"] = Json::array();
      json_[s.serial] = std::move(j);
      offset_[s.serial][0] = offset_[s.serial][1] = 0;
      return true;
    }
    const std::string head = "session " + s.community_id + (nth > 1 ? "#" + std::to_string(nth) : "") + "  " +
                             Endpoint(s.key.SrcString(), s.key.sport, s.key.v6) + " > " +
                             Endpoint(s.key.DstString(), s.key.dport, s.key.v6) + "  started " +
                             LocalDateTime(s.first_ns) + (s.saw_syn ? "" : " (capture began mid-connection)");
    std::printf("%s\n%s\n", Paint(head, Colour::kBold, colour_).c_str(),
                Paint("(> client, < server; times are when a line was complete)", Colour::kDim, colour_).c_str());
    live_.emplace(s.serial, std::make_unique<Transcript>(s, stdout, colour_));
    return true;
  }
  void OnData(const TcpStreamInfo& s, TcpSide side, int64_t ts, const uint8_t* d, size_t n) override {
    const int si = SideIndex(side);
    if (!g_args.raw.empty()) {
      if (raw_.f[si] && std::fwrite(d, 1, n, raw_.f[si]) != n) write_error_ = true;
      raw_.bytes[si] += n;
      return;
    }
    if (g_args.json) {
      auto& j = json_[s.serial];
      if (!decided_) {
        decided_ = true;
        const bool telnet = !g_args.no_telnet &&
                            IsTelnet(s.key.sport, s.key.dport, si == 0 ? d[0] : -1, si == 1 ? d[0] : -1);
        text_[0] = TelnetText(telnet);
        text_[1] = TelnetText(telnet);
        j["telnet"] = telnet;
      }
      std::string t;
      text_[si].Feed(d, n, &t);
      j["chunks"].push_back({{"dir", SideName(si)},
                             {"ts", double(ts) / 1e9},
                             {"offset", offset_[s.serial][si]},
                             {"len", n},
                             {"text", t},
                             {"data_b64", Base64(d, n)}});
      offset_[s.serial][si] += n;
      return;
    }
    live_[s.serial]->Data(s, si, ts, d, n);
  }
  void OnGap(const TcpStreamInfo& s, TcpSide side, int64_t ts, uint64_t len) override {
    const int si = SideIndex(side);
    if (!g_args.raw.empty()) {
      raw_.gap_bytes[si] += len;
      raw_.gaps[si]++;
      return;
    }
    if (g_args.json) {
      json_[s.serial]["chunks"].push_back(
          {{"dir", SideName(si)}, {"ts", double(ts) / 1e9}, {"offset", offset_[s.serial][si]}, {"gap", len}});
      offset_[s.serial][si] += len;
      return;
    }
    live_[s.serial]->Gap(si, ts, len);
  }
  void OnEnd(const TcpStreamInfo& s, TcpEnd why) override {
    if (!g_args.raw.empty()) {
      info_ = s;
      return;
    }
    if (g_args.json) {
      auto& j = json_[s.serial];
      j["end"] = IsoTimeUtc(s.last_ns, "+0000");
      j["state"] = StateShort(s);
      j["client_bytes"] = s.bytes[0];
      j["server_bytes"] = s.bytes[1];
      j["client_gap_bytes"] = s.gap_bytes[0];
      j["server_gap_bytes"] = s.gap_bytes[1];
      done_.push_back(std::move(j));
      json_.erase(s.serial);
      return;
    }
    live_[s.serial]->End(s, why);
    live_.erase(s.serial);
    std::printf("\n");
  }

  int matched() const { return matched_; }
  uint32_t seen() const { return seen_; }
  const std::vector<uint32_t>& also() const { return also_; }
  std::vector<Json>& done() { return done_; }
  const RawOut& raw() const { return raw_; }
  bool write_error() const { return write_error_; }
  uint32_t nth() const { return nth_; }
  std::string open_error;

  Status CloseRaw() {
    Status st;
    for (int i = 0; i < 2; i++) {
      if (!raw_.f[i]) continue;
      if (raw_.to_stdout) {
        if (std::fflush(raw_.f[i]) != 0) write_error_ = true;
      } else if (std::fclose(raw_.f[i]) != 0) {
        write_error_ = true;
      }
      raw_.f[i] = nullptr;
    }
    if (write_error_) st = Status::Error("could not write all the raw bytes: " + std::string(std::strerror(errno)));
    return st;
  }

 private:
  bool OpenRaw(const TcpStreamInfo& s, uint32_t nth) {
    const bool want[2] = {g_args.direction != "server", g_args.direction != "client"};
    struct stat st {};
    const std::string& raw = g_args.raw;
    const bool dir = (stat(raw.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) || raw.back() == '/';
    std::string base;
    if (dir) {
      std::string name = s.community_id;
      for (char& c : name)
        if (c == '/' || c == ':') c = '_';
        else if (c == '+') c = '-';
      name.erase(std::remove(name.begin(), name.end(), '='), name.end());
      if (nth > 1) name += "." + std::to_string(nth);
      base = raw + (raw.back() == '/' ? "" : "/") + "session-" + name;
    }
    for (int i = 0; i < 2; i++) {
      if (!want[i]) continue;
      if (raw == "-") {
        raw_.f[i] = stdout;
        raw_.to_stdout = true;
        raw_.path[i] = "standard output";
        continue;
      }
      if (dir) raw_.path[i] = base + "." + SideName(i);
      else if (want[0] && want[1]) raw_.path[i] = raw + "." + SideName(i);
      else raw_.path[i] = raw;
      raw_.f[i] = std::fopen(raw_.path[i].c_str(), "wb");
      if (!raw_.f[i]) {
        open_error = "cannot write " + raw_.path[i] + ": " + std::strerror(errno);
        return false;
      }
    }
    return true;
  }

  Target target_;
  bool colour_;
  uint32_t seen_ = 0;
  int matched_ = 0;
  uint32_t nth_ = 0;
  std::vector<uint32_t> also_;
  std::unordered_map<uint64_t, std::unique_ptr<Transcript>> live_;
  std::unordered_map<uint64_t, Json> json_;
  std::unordered_map<uint64_t, std::array<uint64_t, 2>> offset_;
  std::vector<Json> done_;
  bool decided_ = false;
  TelnetText text_[2];
  RawOut raw_;
  TcpStreamInfo info_;
  bool write_error_ = false;
};

int RunSession() {
  const char* me = "honeynet session";
  if (g_args.direction != "client" && g_args.direction != "server" && g_args.direction != "both") {
    std::cerr << me << ": --direction is client, server or both, not '" << g_args.direction << "'\n";
    return 2;
  }
  if (g_args.raw == "-" && g_args.direction == "both") {
    std::cerr << me << ": --raw - writes one direction to standard output: add --direction client or server\n";
    return 2;
  }
  Input in;
  if (!OpenInput(me, &in)) return 2;
  Target target;
  std::string arg = g_args.flow;
  if (const size_t hash = arg.rfind('#'); hash != std::string::npos) {
    const std::string n = arg.substr(hash + 1);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || std::stoul(n) == 0) {
      std::cerr << me << ": '" << g_args.flow << "': after # comes which stream of that id (1, 2, ...)\n";
      return 2;
    }
    target.nth = uint32_t(std::stoul(n));
    arg.resize(hash);
  }
  auto cid = in.events.ResolveFlowArg(arg);
  if (!cid.ok()) {
    std::cerr << me << ": " << cid.status().message() << "\n";
    return 2;
  }
  target.cid = *cid;
  if (arg.rfind("1:", 0) != 0) {
    if (const FlowVerdict* v = in.events.ByFlowId(std::stoull(arg))) {
      target.near_ns = v->ts_ns;
      if (v->proto != "TCP")
        std::cerr << me << ": flow_id " << arg << " is " << v->proto << ", not TCP: it has no session\n";
    }
  }
  const bool colour = g_args.raw.empty() && !g_args.json && UseColour(stdout);
  SessionSink sink(target, colour);
  TcpReassembler r(&sink);
  int rc = Pump(me, in.set.get(), &r);

  if (!sink.open_error.empty()) {
    std::cerr << me << ": " << sink.open_error << "\n";
    sink.CloseRaw();
    return 1;
  }
  if (sink.matched() == 0) {
    std::cerr << me << ": no TCP session " << g_args.flow << " in " << in.set->files().size() << " file(s)";
    if (sink.seen()) std::cerr << " (" << sink.seen() << " with that Community ID, none matched #" << target.nth << ")";
    std::cerr << "; `honeynet sessions` lists them\n";
    return 1;
  }
  if (!g_args.raw.empty()) {
    Status st = sink.CloseRaw();
    if (!st.ok()) {
      std::cerr << me << ": " << st.message() << "\n";
      return 1;
    }
    const RawOut& o = sink.raw();
    for (int i = 0; i < 2; i++) {
      if (o.path[i].empty()) continue;
      std::cerr << me << ": " << SideName(i) << ": " << o.bytes[i] << " bytes to " << o.path[i];
      if (o.gaps[i])
        std::cerr << " (" << o.gaps[i] << " gap(s), " << o.gap_bytes[i]
                  << " bytes missing from the capture, not in the file: it is the captured bytes joined)";
      std::cerr << "\n";
    }
    if (!sink.also().empty()) {
      std::cerr << me << ": this 5-tuple carried " << sink.also().size() + 1
                << " sessions; wrote #" << sink.nth() << ", the others are";
      for (uint32_t n : sink.also()) std::cerr << " " << target.cid << "#" << n;
      std::cerr << "\n";
    }
    return rc;
  }
  if (g_args.json) {
    Json arr = Json::array();
    for (Json& j : sink.done()) arr.push_back(std::move(j));
    std::cout << JsonC1Escape(arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) << std::endl;
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace

void AddSessionCommands(CLI::App& app) {
  auto common = [](CLI::App* c) {
    c->add_option("--port", g_args.port,
                  "For honeywall capture directories: read the inside (honeypot side), outside or all pcaps")
        ->capture_default_str();
    c->add_flag("--no-telnet", g_args.no_telnet, "Do not remove telnet negotiation (port 23 or IAC at the start)");
  };
  CLI::App* list = app.add_subcommand(
      "sessions",
      "List the TCP sessions of a capture: id (Community ID), start, endpoints, bytes each way after "
      "reassembly, how it ended, and the start of what the client sent");
  list->add_option("paths", g_args.paths, "pcap/pcapng files or honeywall capture directories");
  common(list);
  list->add_flag("--json", g_args.json, "JSON output (an array of sessions) for scripts");
  list->add_flag("--all", g_args.all, "Also the sessions that carried no data (scans, refused connections)");
  list->add_flag("--wide", g_args.wide, "A longer client text column");
  list->callback([] { SetRun(RunSessions); });

  CLI::App* one = app.add_subcommand(
      "session",
      "One TCP session reassembled: a transcript with > for the client and < for the server, telnet "
      "negotiation removed, non-printable bytes as \\xNN; or its raw bytes with --raw");
  one->add_option("flow", g_args.flow,
                  "Community ID (\"1:...\", as `sessions` and `flows` show; \"ID#2\" for the second session of a "
                  "reused 5-tuple) or the honeywall's numeric flow_id from events.json")
      ->required();
  one->add_option("paths", g_args.paths, "pcap/pcapng files or honeywall capture directories");
  common(one);
  one->add_flag("--json", g_args.json,
                "JSON output: the session with its chunks (time, direction, text, bytes as base64); "
                "holds the session in memory");
  one->add_option("--raw", g_args.raw,
                  "Write the reassembled bytes instead: into DIR (session-ID.client/.server), into FILE (one "
                  "direction) or FILE.client/FILE.server (both), or to - (standard output, one direction)");
  one->add_option("--direction", g_args.direction, "With --raw: client, server or both")->capture_default_str();
  one->callback([] { SetRun(RunSession); });
}

}  // namespace hn
