#include "web/pages.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "analysis/ttylog.h"
#include "lab/lab.h"
#include "web/capture_query.h"
#include "web/html.h"

namespace hn::web {

namespace {

using json = nlohmann::json;
constexpr int64_t kNsPerSec = 1'000'000'000;

std::string Head(const std::string& title) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" + Esc(title) + " · honeynet</title>"
         "<link rel=\"stylesheet\" href=\"/static/style.css\">"
         "<script src=\"/static/app.js\" defer></script></head><body>"
         "<header><a class=\"brand\" href=\"/\">honeynet</a><nav>"
         "<a href=\"/\">Attackers</a><a href=\"/alerts\">Alerts</a><a href=\"/search\">Search</a></nav>"
         "<form class=\"quick\" action=\"/search\" method=\"get\"><input name=\"q\" "
         "placeholder=\"address, port, Community ID, flow id\" aria-label=\"search\"></form></header><main>";
}
const char* kFoot = "</main><footer>honeynet web · read-only view of the capture</footer></body></html>\n";

std::string Num(int64_t v) { return std::to_string(v); }

std::string AttackerLink(const std::string& ip) {
  return "<a class=\"attacker\" href=\"/attacker/" + UrlEncode(ip) + "\">" + Esc(ip) + "</a>";
}

std::string Endpoint(const std::string& ip, int port) {
  if (port < 0) return Esc(ip);
  return Esc(ip.find(':') != std::string::npos ? "[" + ip + "]:" + std::to_string(port)
                                                : ip + ":" + std::to_string(port));
}

// What an event is, in a few words, with a class for its colour.
std::pair<std::string, std::string> Describe(const EventRow& e) {
  if (e.type == "honeywall") {
    const std::string dir = e.direction.empty() ? "frame" : e.direction;
    if (e.action == "dropped") return {dir + " blocked (" + e.reason + ")", "bad"};
    return {dir + " allowed", dir == "outbound" ? "warn" : "ok"};
  }
  if (e.type == "flow") return {"flow ended (" + e.reason + ")", "muted"};
  if (e.type == "alert") return {"rule alert: " + e.sig + (e.action == "blocked" ? " (blocked)" : ""), "bad"};
  if (e.type == "drop") return {"rule drop: " + e.sig, "bad"};
  if (e.type == "tty") {
    std::string s = "tty " + e.action + " " + e.reason;
    if (!e.sig.empty()) s += ": " + e.sig;
    return {s, "tty"};
  }
  if (e.type == "retention") return {"retention " + e.action + " " + e.sig, "muted"};
  if (e.type == "notice") return {"notice: " + e.sig, "muted"};
  return {e.type, "muted"};
}

// Budget hit: "budget exhausted" is in the reason of the first drop.
std::string BudgetNote(const EventRow& e) {
  if (e.type != "honeywall" || e.reason != "budget_exhausted") return "";
  json j = json::parse(e.json, nullptr, false);
  if (!j.is_object()) return "";
  auto hw = j.find("honeywall");
  if (hw == j.end() || !hw->contains("budget")) return "";
  const json& b = (*hw)["budget"];
  std::string s = "budget";
  if (b.contains("class") && b["class"].is_string()) s += " " + b["class"].get<std::string>();
  if (b.contains("used") && b.contains("limit")) s += " " + b["used"].dump() + "/" + b["limit"].dump();
  return s;
}

std::string EventRowHtml(const EventRow& e, bool with_links = true) {
  auto [what, cls] = Describe(e);
  std::string flow;
  if (e.flow_id && with_links)
    flow = "<a href=\"/flow/" + std::to_string(e.flow_id) + "\">flow</a> · <a href=\"/pcap/flow/" +
           std::to_string(e.flow_id) + ".pcap\">pcap</a>";
  std::string extra = BudgetNote(e);
  return "<tr class=\"" + cls + "\" data-id=\"" + Num(e.id) + "\"><td class=\"t\">" + Esc(ShowTime(e.ts_ns)) +
         "</td><td>" + Esc(what) + (extra.empty() ? "" : " <span class=\"tag\">" + Esc(extra) + "</span>") +
         "</td><td>" + Esc(e.honeypot) + "</td><td>" + Esc(e.proto) + "</td><td>" + Endpoint(e.src, e.sport) +
         "</td><td>" + Endpoint(e.dst, e.dport) + "</td><td>" + flow + "</td></tr>\n";
}

const char* kEventHead =
    "<thead><tr><th>time</th><th>what</th><th>honeypot</th><th>proto</th><th>source</th><th>destination</th>"
    "<th></th></tr></thead>";

// Horizontal bars (top ports, top sources) as inline SVG; labels escaped.
std::string Bars(const std::string& title, const std::vector<std::pair<std::string, int64_t>>& v, bool ip_links) {
  std::string s = "<figure class=\"chart\"><figcaption>" + Esc(title) + "</figcaption>";
  if (v.empty()) return s + "<p class=\"muted\">nothing yet</p></figure>";
  int64_t mx = 1;
  for (auto& [k, n] : v) mx = std::max(mx, n);
  const int row = 18, w = 360;
  s += "<svg role=\"img\" width=\"" + Num(w) + "\" height=\"" + Num(int64_t(v.size()) * row) + "\" viewBox=\"0 0 " +
       Num(w) + " " + Num(int64_t(v.size()) * row) + "\">";
  for (size_t i = 0; i < v.size(); i++) {
    const int64_t len = std::max<int64_t>(1, v[i].second * 200 / mx);
    const int64_t y = int64_t(i) * row;
    s += "<rect x=\"120\" y=\"" + Num(y + 3) + "\" width=\"" + Num(len) + "\" height=\"12\" class=\"bar\"></rect>";
    std::string label = "<text x=\"115\" y=\"" + Num(y + 13) + "\" text-anchor=\"end\">" + Esc(v[i].first) + "</text>";
    if (ip_links) label = "<a href=\"/attacker/" + UrlEncode(v[i].first) + "\">" + label + "</a>";
    s += label + "<text x=\"" + Num(125 + len) + "\" y=\"" + Num(y + 13) + "\">" + Num(v[i].second) + "</text>";
  }
  return s + "</svg></figure>";
}

std::string TimeChart(const std::vector<std::pair<int64_t, int64_t>>& v) {
  std::string s = "<figure class=\"chart\"><figcaption>Inbound connections over time</figcaption>";
  if (v.empty()) return s + "<p class=\"muted\">nothing yet</p></figure>";
  int64_t mx = 1;
  for (auto& [t, n] : v) mx = std::max(mx, n);
  const int h = 120, bw = std::max<int>(2, 480 / int(v.size()));
  const int w = bw * int(v.size());
  s += "<svg role=\"img\" width=\"" + Num(w) + "\" height=\"" + Num(h + 16) + "\" viewBox=\"0 0 " + Num(w) + " " +
       Num(h + 16) + "\">";
  for (size_t i = 0; i < v.size(); i++) {
    const int64_t bh = v[i].second ? std::max<int64_t>(1, v[i].second * h / mx) : 0;
    s += "<rect x=\"" + Num(int64_t(i) * bw) + "\" y=\"" + Num(h - bh) + "\" width=\"" + Num(bw - 1) +
         "\" height=\"" + Num(bh) + "\" class=\"bar\"><title>" + Esc(ShowTime(v[i].first)) + ": " +
         Num(v[i].second) + "</title></rect>";
  }
  s += "<text x=\"0\" y=\"" + Num(h + 13) + "\">" + Esc(ShowTime(v.front().first)) + "</text>";
  s += "<text x=\"" + Num(w) + "\" y=\"" + Num(h + 13) + "\" text-anchor=\"end\">" + Esc(ShowTime(v.back().first)) +
       "</text></svg><p class=\"muted\">max " + Num(mx) + " per bar</p></figure>";
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string HoneypotsSection(PageContext& c) {
  if (c.data_dir.empty()) return "";
  std::string s = "<section><h2>Honeypots</h2>";
  auto st = LabStatus(c.data_dir);
  if (!st.ok() || !st->value("up", false)) {
    return s + "<p class=\"muted\">No lab is up in " + Esc(c.data_dir) + ".</p></section>";
  }
  const json& j = *st;
  const json wall = j.value("wall", json::object());
  s += "<p>Honeywall: <span class=\"" + std::string(wall.value("running", false) ? "ok\">running" : "bad\">down") +
       "</span></p>";
  s += "<table class=\"honeypots\"><thead><tr><th>honeypot</th><th>state</th><th>address</th><th>public</th>"
       "<th>TCP</th><th>UDP</th><th>ICMP</th><th>other</th></tr></thead><tbody>";
  for (const json& h : j.value("honeypots", json::array())) {
    auto budget = [&](const char* k) {
      const json b = h.value("budgets", json::object()).value(k, json::object());
      if (!b.contains("limit")) return std::string("-");
      return b.value("used", json(0)).dump() + "/" + b["limit"].dump();
    };
    const bool running = h.value("running", false);
    s += "<tr><td class=\"hp\">" + Esc(h.value("name", "")) + "</td><td class=\"" +
         std::string(running ? "ok\">running" : "bad\">down") + "</td><td>" + Esc(h.value("address", "")) +
         "</td><td>" + Esc(h.value("public_address", "")) + "</td><td>" + Esc(budget("tcp")) + "</td><td>" +
         Esc(budget("udp")) + "</td><td>" + Esc(budget("icmp")) + "</td><td>" + Esc(budget("other")) + "</td></tr>";
  }
  return s + "</tbody></table><p class=\"muted\">budgets: connections used / allowed per window</p></section>";
}

// Login evidence, outbound attempts: a few words for the attackers table.
std::string Followed(const AttackerRow& a) {
  std::vector<std::string> v;
  if (a.logins) v.push_back("login (" + Num(a.logins) + " tty)");
  else if (a.sessions) v.push_back(Num(a.sessions) + " session" + (a.sessions > 1 ? "s" : ""));
  if (a.outbound || a.blocked)
    v.push_back("outbound: " + Num(a.outbound) + " allowed, " + Num(a.blocked) + " blocked");
  if (a.alerts) v.push_back(Num(a.alerts) + " alerts");
  return v.empty() ? "-" : Join(v, "; ");
}

std::string PortsText(const AttackerRow& a) {
  std::vector<std::string> v;
  for (auto& [p, n] : a.ports) v.push_back(Num(p) + (n > 1 ? "×" + Num(n) : ""));
  return Join(v, ", ");
}

std::string TranscriptHtml(const Transcript& t) {
  std::string s = "<article class=\"session\"><h3>" + Esc(t.client) + " → " + Esc(t.server) + "</h3><p class=\"meta\">" +
                  Esc(ShowTime(t.first_ns)) + " to " + Esc(ShowTime(t.last_ns)) + " · typed " + Num(int64_t(t.bytes[0])) +
                  " bytes, shown " + Num(int64_t(t.bytes[1])) + " bytes" + (t.telnet ? " · telnet" : "") +
                  (t.truncated ? " · cut at 64 KiB" : "") +
                  (t.gap_bytes ? " · " + Num(int64_t(t.gap_bytes)) + " bytes missing from the capture" : "") +
                  " · <a href=\"/search?q=" + UrlEncode(t.community_id) + "\">events</a></p>";
  std::string typed;
  for (const auto& ch : t.chunks)
    if (ch.side == 0) typed += ch.text;
  s += "<h4>Typed</h4><pre class=\"typed\">" + Esc(typed) + "</pre>";
  s += "<details><summary>Whole transcript</summary><pre class=\"transcript\">";
  for (const auto& ch : t.chunks)
    s += "<span class=\"" + std::string(ch.side == 0 ? "in" : "out") + "\">" + Esc(ch.text) + "</span>";
  return s + "</pre></details></article>\n";
}

}  // namespace

std::string ShowTime(int64_t ns) {
  const time_t sec = time_t(ns / kNsPerSec);
  tm t{};
  localtime_r(&sec, &t);
  char b[40];
  strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &t);
  return b;
}

int64_t ParseLocalTime(const std::string& s) {
  if (s.empty()) return 0;
  tm t{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M", &t);
  if (!end) end = strptime(s.c_str(), "%Y-%m-%d %H:%M", &t);
  if (!end) return 0;
  if (*end == ':') {
    int sec = 0;
    if (sscanf(end + 1, "%2d", &sec) == 1) t.tm_sec = sec;
  }
  t.tm_isdst = -1;
  const time_t v = mktime(&t);
  return v < 0 ? 0 : int64_t(v) * kNsPerSec;
}

std::string CanonicalIp(const std::string& s) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (s.size() < 64 && inet_pton(AF_INET, s.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, out, sizeof out)) return out;
  if (s.size() < 64 && inet_pton(AF_INET6, s.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, out, sizeof out)) return out;
  return "";
}

bool ValidHoneypotName(const std::string& s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
  for (char ch : s)
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.')) return false;
  return true;
}

std::string PageError(int code, const std::string& message) {
  return Head("error " + Num(code)) + "<h1>" + Num(code) + "</h1><p>" + Esc(message) + "</p>" + kFoot;
}

std::string PageHome(PageContext& c) {
  const IndexTotals tot = c.index->Totals();
  std::string s = Head("Attackers");
  s += "<h1>Attackers</h1><p class=\"summary\">" + Num(tot.attackers) + " sources, " + Num(tot.events) +
       " events, " + Num(tot.alerts) + " rule alerts · capture " + Esc(c.capture_dir) + "</p>";
  s += HoneypotsSection(c);
  s += "<section class=\"charts\">" + TimeChart(c.index->InboundOverTime(60)) +
       Bars("Top ports", c.index->TopPorts(10), false) + Bars("Top sources", c.index->TopSources(10), true) +
       "</section>";
  const auto rows = c.index->Attackers(500);
  s += "<section><h2>Sources</h2><table class=\"attackers\"><thead><tr><th>address</th><th>first seen</th>"
       "<th>last seen</th><th>honeypots</th><th>ports</th><th>flows</th><th>then</th></tr></thead><tbody>";
  for (const AttackerRow& a : rows) {
    std::vector<std::string> hps;
    for (const auto& h : a.honeypots) hps.push_back(Esc(h));
    s += "<tr><td>" + AttackerLink(a.ip) + "</td><td class=\"t\">" + Esc(ShowTime(a.first_ns)) +
         "</td><td class=\"t\">" + Esc(ShowTime(a.last_ns)) + "</td><td>" + Join(hps, ", ") + "</td><td>" +
         Esc(PortsText(a)) + "</td><td>" + Num(a.flows) + "</td><td>" + Esc(Followed(a)) + "</td></tr>\n";
  }
  if (rows.empty()) s += "<tr><td colspan=\"7\" class=\"muted\">No inbound connection yet.</td></tr>";
  s += "</tbody></table></section>";
  // Live: app.js asks /api/events?after=N every 2 s and puts new rows on top.
  EventQuery q;
  q.limit = 25;
  s += "<section><h2>Live</h2><table class=\"events\" id=\"live\" data-after=\"" + Num(tot.max_id) + "\">" +
       kEventHead + "<tbody>";
  for (const EventRow& e : c.index->Query(q)) s += EventRowHtml(e);
  s += "</tbody></table></section>";
  return s + kFoot;
}

std::optional<std::string> PageAttacker(PageContext& c, const std::string& ip) {
  auto a = c.index->Attacker(ip);
  if (!a) return std::nullopt;
  std::string s = Head("Attacker " + ip);
  std::vector<std::string> hps;
  for (const auto& h : a->honeypots) hps.push_back(Esc(h));
  s += "<h1>Attacker " + Esc(ip) + "</h1><dl class=\"facts\"><dt>first seen</dt><dd>" + Esc(ShowTime(a->first_ns)) +
       "</dd><dt>last seen</dt><dd>" + Esc(ShowTime(a->last_ns)) + "</dd><dt>honeypots</dt><dd>" + Join(hps, ", ") +
       "</dd><dt>ports</dt><dd>" + Esc(PortsText(*a)) + "</dd><dt>inbound flows</dt><dd>" + Num(a->flows) +
       "</dd><dt>then</dt><dd>" + Esc(Followed(*a)) + "</dd></dl>";
  s += "<p><a class=\"button\" href=\"/pcap/attacker/" + UrlEncode(ip) +
       ".pcap\" download>Download the pcap of " + Esc(ip) + "</a> (every packet to or from this address, "
       "as the honeypots' side of the honeywall saw it)</p>";

  // Timeline.
  const auto story = c.index->Story(*a, 3000);
  int64_t blocked = 0;
  for (const auto& e : story)
    if (e.type == "honeywall" && e.direction == "outbound" && e.action == "dropped") blocked++;
  s += "<section><h2>Timeline</h2><p class=\"summary\">" + Num(int64_t(story.size())) +
       " events: the address's flows, then what its honeypots did (" + Num(blocked) +
       " outbound attempts blocked)</p><table class=\"events\" id=\"timeline\">" + kEventHead + "<tbody>";
  std::set<std::pair<std::string, std::string>> tty_sessions;
  for (const EventRow& e : story) {
    s += EventRowHtml(e);
    if (e.type == "tty" && e.action == "open" && !e.reason.empty()) tty_sessions.insert({e.honeypot, e.reason});
  }
  s += "</tbody></table></section>";

  // TTY sessions (where TTY capture is on).
  if (!tty_sessions.empty()) {
    s += "<section><h2>Terminal sessions</h2><ul>";
    for (const auto& [hp, id] : tty_sessions)
      s += "<li><a href=\"/tty/" + UrlEncode(hp) + "/" + UrlEncode(id) + "\">replay " + Esc(id) + "</a></li>";
    s += "</ul></section>";
  }

  // Session transcripts from the pcaps.
  s += "<section><h2>Sessions</h2>";
  auto tr = AttackerTranscripts(c.capture_dir, ip, a->first_ns - kNsPerSec, a->last_ns + 3600 * kNsPerSec);
  if (!tr.ok()) {
    s += "<p class=\"bad\">" + Esc(tr.status().message()) + "</p>";
  } else if (tr->empty()) {
    s += "<p class=\"muted\">No TCP session with data in the capture.</p>";
  } else {
    for (const Transcript& t : *tr) s += TranscriptHtml(t);
  }
  s += "</section>";
  return s + kFoot;
}

std::optional<std::string> PageFlow(PageContext& c, uint64_t flow_id) {
  const auto ev = c.index->Flow(flow_id);
  if (ev.empty()) return std::nullopt;
  const EventRow& f = ev.front();
  std::string s = Head("Flow " + Num(int64_t(flow_id)));
  s += "<h1>Flow " + Num(int64_t(flow_id)) + "</h1><p>" + Esc(f.proto) + " " + Endpoint(f.src, f.sport) + " → " +
       Endpoint(f.dst, f.dport) + " · Community ID <code>" + Esc(f.cid) + "</code> · <a href=\"/pcap/flow/" +
       Num(int64_t(flow_id)) + ".pcap\" download>pcap of this flow</a></p>";
  s += "<table class=\"events\">" + std::string(kEventHead) + "<tbody>";
  for (const auto& e : ev) s += EventRowHtml(e, false);
  s += "</tbody></table><h2>Events as recorded</h2>";
  for (const auto& e : ev) s += "<pre class=\"json\">" + Esc(e.json) + "</pre>";
  if (f.proto == "TCP") {
    int64_t end = f.ts_ns;
    for (const auto& e : ev) end = std::max(end, e.ts_ns);
    auto tr = AttackerTranscripts(c.capture_dir, f.src, f.ts_ns - kNsPerSec, end + kNsPerSec);
    if (tr.ok())
      for (const Transcript& t : *tr)
        if (t.community_id == f.cid) s += "<h2>Transcript</h2>" + TranscriptHtml(t);
  }
  return s + kFoot;
}

std::string PageAlerts(PageContext& c) {
  std::string s = Head("Alerts");
  const auto groups = c.index->AlertGroups(1000);
  s += "<h1>Alerts</h1><p class=\"summary\">rule alerts grouped by signature, source and destination</p>"
       "<table class=\"alerts\"><thead><tr><th>signature</th><th>sid</th><th>severity</th><th>source</th>"
       "<th>destination</th><th>count</th><th>blocked</th><th>first</th><th>last</th></tr></thead><tbody>";
  for (const AlertGroup& g : groups) {
    s += "<tr class=\"sev" + Num(g.severity) + "\"><td>" + Esc(g.signature) + "</td><td>" + Num(g.sid) + "</td><td>" +
         Num(g.severity) + "</td><td>" + AttackerLink(g.src) + "</td><td>" + AttackerLink(g.dst) + "</td><td>" +
         Num(g.count) + "</td><td>" + Num(g.blocked) + "</td><td class=\"t\">" + Esc(ShowTime(g.first_ns)) +
         "</td><td class=\"t\">" + Esc(ShowTime(g.last_ns)) + "</td></tr>\n";
  }
  if (groups.empty()) s += "<tr><td colspan=\"9\" class=\"muted\">No rule alert (rules: docs/rules.md).</td></tr>";
  return s + "</tbody></table>" + kFoot;
}

std::string PageSearch(PageContext& c, const SearchArgs& a) {
  std::string s = Head("Search");
  s += "<h1>Search</h1><form class=\"search\" action=\"/search\" method=\"get\">"
       "<label>address, port, Community ID or flow id <input name=\"q\" value=\"" + Esc(a.q) + "\"></label>"
       "<label>from <input type=\"datetime-local\" name=\"from\" value=\"" + Esc(a.from) + "\"></label>"
       "<label>to <input type=\"datetime-local\" name=\"to\" value=\"" + Esc(a.to) + "\"></label>"
       "<label>type <select name=\"type\">";
  for (const char* t : {"", "honeywall", "flow", "alert", "drop", "tty", "retention", "notice"})
    s += "<option" + std::string(a.type == t ? " selected" : "") + " value=\"" + t + "\">" + (*t ? t : "any") +
         "</option>";
  s += "</select></label><button>Search</button></form>";
  EventQuery q;
  q.limit = 1000;
  q.type = a.type;
  q.from_ns = ParseLocalTime(a.from);
  q.to_ns = ParseLocalTime(a.to);
  std::string what;
  if (!a.q.empty()) {
    if (std::string ip = CanonicalIp(a.q); !ip.empty()) {
      q.ip = ip;
      what = "address " + ip;
    } else if (a.q.rfind("1:", 0) == 0) {
      q.cid = a.q;
      what = "Community ID " + a.q;
    } else if (a.q.find_first_not_of("0123456789") == std::string::npos && a.q.size() <= 20) {
      const unsigned long long v = std::stoull(a.q);
      if (v <= 65535) {
        q.port = int(v);
        what = "port " + a.q;
      } else {
        q.flow_id = v;
        what = "flow " + a.q;
      }
    } else {
      return s + "<p class=\"bad\">Not an address, a port, a Community ID (1:...) or a flow id: " + Esc(a.q) + "</p>" +
             kFoot;
    }
  }
  if (a.q.empty() && a.type.empty() && !q.from_ns && !q.to_ns) return s + kFoot;
  const auto rows = c.index->Query(q);
  s += "<p class=\"summary\">" + Num(int64_t(rows.size())) + " events" + (what.empty() ? "" : " for " + Esc(what)) +
       (rows.size() == q.limit ? " (the newest " + Num(int64_t(q.limit)) + ")" : "") + "</p>";
  if (!q.ip.empty() && c.index->Attacker(q.ip)) s += "<p>" + AttackerLink(q.ip) + ": the attacker's story</p>";
  s += "<table class=\"events\">" + std::string(kEventHead) + "<tbody>";
  for (const auto& e : rows) s += EventRowHtml(e);
  return s + "</tbody></table>" + kFoot;
}

std::optional<std::string> PageTty(PageContext& c, const std::string& honeypot, const std::string& session) {
  if (!ValidHoneypotName(honeypot)) return std::nullopt;
  std::string hp;
  uint64_t tty = 0;
  uint32_t ord = 0;
  if (!ParseTtySessionId(session, &hp, &tty, &ord) || hp != honeypot) return std::nullopt;
  std::string s = Head("Terminal " + session);
  s += "<h1>Terminal session " + Esc(session) + "</h1><p>What the honeypot's terminal showed, replayed as it "
       "happened (pauses over 2 s are cut). <button id=\"tty-play\">Replay</button> <button id=\"tty-all\">Show "
       "all</button></p><pre class=\"tty\" id=\"tty\" data-src=\"/api/tty/" + UrlEncode(honeypot) + "/" +
       UrlEncode(session) + "\"></pre>";
  return s + kFoot;
}

std::string ApiEvents(PageContext& c, int64_t after_id) {
  EventQuery q;
  q.after_id = after_id;
  q.limit = 200;
  q.newest_first = false;
  json out = json::array();
  for (const EventRow& e : c.index->Query(q)) {
    auto [what, cls] = Describe(e);
    json j = {{"id", e.id}, {"time", ShowTime(e.ts_ns)}, {"what", what}, {"cls", cls}, {"honeypot", e.honeypot},
              {"proto", e.proto}, {"src", e.src}, {"dst", e.dst}, {"flow_id", e.flow_id}};
    if (e.sport >= 0) j["sport"] = e.sport;
    if (e.dport >= 0) j["dport"] = e.dport;
    out.push_back(std::move(j));
  }
  return out.dump(-1, ' ', true, json::error_handler_t::replace);
}

std::optional<std::string> ApiTty(PageContext& c, const std::string& honeypot, const std::string& session) {
  if (!ValidHoneypotName(honeypot)) return std::nullopt;
  std::string hp;
  uint64_t tty = 0;
  uint32_t ord = 0;
  if (!ParseTtySessionId(session, &hp, &tty, &ord) || hp != honeypot) return std::nullopt;
  const std::string path = c.capture_dir + "/tty/" + honeypot + ".ttylog";
  json frames = json::array();
  std::string text;
  int64_t delay_us = 0;
  size_t total = 0;
  TtyPlayOptions po;
  po.max_gap_us = 2'000'000;
  po.input = false;
  TtyPlayer player(
      po,
      [&](std::string_view d) {
        if (total > (4u << 20)) return;
        total += d.size();
        frames.push_back({{"d", delay_us / 1000}, {"t", std::string(d)}});
        delay_us = 0;
      },
      [&](int64_t us) { delay_us += us; });
  bool found = false;
  std::string want = session;
  if (ord == 1 && want.size() > 2 && want.compare(want.size() - 2, 2, ".1") == 0) want.resize(want.size() - 2);
  TtyLogScan scan = ScanTtyLog(path, [&](const TtyRecord& r, const TtySession& s) {
    if (s.id == want || s.parent == want) {
      found = true;
      player.Feed(r);
    }
  });
  player.Finish();
  if (!found) return std::nullopt;
  return json{{"session", session}, {"frames", frames}}.dump(-1, ' ', true, json::error_handler_t::replace);
}

}  // namespace hn::web
