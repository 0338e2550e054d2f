// `honeynet flows [PATH...]`: one row per bidirectional flow of capture files
// or honeywall capture directories, joined with the honeywall's verdicts from
// events.json; `honeynet report [DIR]`: the one-screen summary of a capture
// directory. Both print aligned text (colour on a terminal) or JSON.
//
// flows --json prints JSON lines: one object per flow per line (the shape of
// FlowToJson in src/analysis/report.h), so `jq` and line tools can stream it;
// the totals go to stderr. report --json prints one JSON object.
//
// Exit status: 0 all read; 1 a file was damaged or unreadable (what came
// before the damage is still counted; the errors name file and byte on
// stderr) or the output could not be written; 2 the command line was wrong.
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "analysis/bpf_filter.h"
#include "analysis/capture_set.h"
#include "analysis/event_index.h"
#include "analysis/flow_summary.h"
#include "analysis/report.h"
#include "cli/commands.h"
#include "common/term_safe.h"
#include "cli/term.h"
#include "common/clock.h"
#include "common/time_format.h"
#include "config/config.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

constexpr int kExitDamaged = 1;
constexpr int kExitUsage = 2;

struct FlowsArgs {
  std::vector<std::string> paths;
  std::string sort = "first";
  bool json = false;
  std::string port = "inside";
  std::string filter;
  std::string honeypot;
  uint64_t limit = 0;
  size_t max_flows = 1'000'000;
  double idle_timeout_s = 3600;
} g_flows;

struct ReportArgs {
  std::string dir;
  bool json = false;
  std::string port = "inside";
  size_t top = 10;
} g_report;

void Err(const char* cmd, const std::string& msg) { std::fprintf(stderr, "honeynet %s: %s\n", cmd, msg.c_str()); }

// "10.0.0.5:23", "[2001:db8::1]:23", or the address alone for protocols without ports.
std::string Endpoint(const FlowKey& k, bool src) {
  std::string a = src ? k.SrcString() : k.DstString();
  const bool ports = k.proto == kProtoTcp || k.proto == kProtoUdp || k.proto == 132;
  if (!ports) return a;
  if (k.v6) a = "[" + a + "]";
  return a + ":" + std::to_string(src ? k.sport : k.dport);
}

std::string ProtoCell(const FlowRecord& f) {
  char buf[8];
  std::string s = ProtoName(f.key.proto, buf);
  if (f.key.proto == kProtoIcmp || f.key.proto == kProtoIcmpv6)
    s += " " + std::to_string(f.icmp_type) + "/" + std::to_string(f.icmp_code);
  return s;
}

// Time of day (UTC, milliseconds), with the date in front when asked.
std::string TimeCell(int64_t ns, bool with_date) {
  const std::string iso = IsoTimeUtc(ns);  // 2026-11-26T18:42:29.123456Z
  std::string t = iso.substr(11, 12);      // 18:42:29.123
  return with_date ? iso.substr(0, 10) + " " + t : t;
}

std::string Seconds(int64_t ns) {
  char b[32];
  snprintf(b, sizeof b, "%.3f", double(ns) / 1e9);
  return b;
}

// The verdict column: "allowed", "dropped budget_exhausted", or "" when the events do not know the flow.
std::string VerdictCell(const FlowRecord& f, bool colour) {
  if (!f.has_verdict) return "";
  if (f.action == "dropped") return Paint("dropped " + f.reason, Colour::kRed, colour);
  return Paint(f.action, Colour::kGreen, colour) + (f.direction.empty() ? "" : " " + f.direction);
}

// What a user passes to `read --flow` / `session`: the Community ID, and the
// honeywall's flow_id after it when events.json knows the flow.
std::string FlowIdCell(const FlowRecord& f) {
  return f.flow_id != 0 ? f.community_id + " #" + std::to_string(f.flow_id) : f.community_id;
}

using FlowOrder = std::function<bool(const FlowRecord&, const FlowRecord&)>;

// The --sort order: true when a is printed before b.
FlowOrder OrderBy(const std::string& by) {
  auto first = [](const FlowRecord& a, const FlowRecord& b) {
    return a.first_ns != b.first_ns ? a.first_ns < b.first_ns : a.seq_no < b.seq_no;
  };
  FlowOrder cmp = first;
  if (by == "bytes") {
    cmp = [&](const FlowRecord& a, const FlowRecord& b) {
      return a.total_bytes() != b.total_bytes() ? a.total_bytes() > b.total_bytes() : first(a, b);
    };
  } else if (by == "packets") {
    cmp = [&](const FlowRecord& a, const FlowRecord& b) {
      return a.total_pkts() != b.total_pkts() ? a.total_pkts() > b.total_pkts() : first(a, b);
    };
  } else if (by == "duration") {
    cmp = [&](const FlowRecord& a, const FlowRecord& b) {
      return a.duration_ns() != b.duration_ns() ? a.duration_ns() > b.duration_ns() : first(a, b);
    };
  }
  return cmp;
}

// With --limit N only the first N in order are kept: the list is cut back to
// N whenever it reaches 2N, so memory is bounded by the limit.
void Trim(std::vector<FlowRecord>* flows, const FlowOrder& order, size_t limit) {
  if (limit == 0 || flows->size() <= limit) return;
  std::nth_element(flows->begin(), flows->begin() + long(limit), flows->end(), order);
  flows->resize(limit);
}

bool PathsExist(const char* cmd, const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      Err(cmd, "cannot read " + p + ": no such file or directory (check the path)");
      return false;
    }
  }
  return true;
}

std::string TotalsLine(const FlowTotals& t, size_t shown) {
  std::string s = std::to_string(shown) + " flow" + (shown == 1 ? "" : "s");
  if (shown != t.flows) s += " shown of " + std::to_string(t.flows);
  s += "; " + std::to_string(t.frames) + " frames, " + HumanBytes(t.bytes);
  if (t.non_ip > 0) s += "; " + std::to_string(t.non_ip) + " not IP";
  if (t.undecodable > 0) s += "; " + std::to_string(t.undecodable) + " without a readable L4 header";
  if (t.orphan_fragments > 0) s += "; " + std::to_string(t.orphan_fragments) + " fragments without their first";
  if (t.evicted > 0)
    s += "; " + std::to_string(t.evicted) + " flows ended early (more than --max-flows at once)";
  return s;
}

int RunFlows() {
  const FlowsArgs& a = g_flows;
  const char* cmd = "flows";
  if (a.paths.empty()) {
    Err(cmd, "name a capture file or a honeywall capture directory, e.g. honeynet flows /var/lib/honeynet");
    return kExitUsage;
  }
  if (!PathsExist(cmd, a.paths)) return kExitUsage;
  if (a.max_flows == 0) return Err(cmd, "--max-flows must be at least 1"), kExitUsage;
  if (!(a.idle_timeout_s > 0)) return Err(cmd, "--idle-timeout must be more than 0 seconds"), kExitUsage;

  EventIndex events;
  const std::string ev = EventIndex::FindFor(a.paths);
  if (!ev.empty()) {
    auto loaded = EventIndex::Load(ev);
    if (!loaded.ok()) return Err(cmd, loaded.status().message()), kExitDamaged;
    events = std::move(*loaded);
  }
  std::set<std::string> hp_addrs;
  if (!a.honeypot.empty()) {
    const auto& hp = events.honeypot_addresses();
    auto it = hp.find(a.honeypot);
    if (it == hp.end()) {
      if (ev.empty())
        return Err(cmd, "--honeypot needs the honeywall's events.json beside the captures (none found); "
                        "filter by address instead, e.g. -f 'host 10.0.0.2'"),
               kExitUsage;
      std::string known;
      for (const auto& [name, addrs] : hp) known += (known.empty() ? "" : ", ") + name;
      return Err(cmd, "--honeypot: no honeypot '" + a.honeypot + "' in " + ev + " (known: " +
                          (known.empty() ? "none" : known) + ")"),
             kExitUsage;
    }
    hp_addrs = it->second;
  }

  BpfFilter bpf(a.filter);
  if (!bpf.empty()) {
    std::string error;
    if (bpf.For(1, &error) == nullptr) return Err(cmd, error), kExitUsage;
  }

  CaptureSetOptions copts;
  copts.port = a.port;
  auto opened = CaptureSet::Open(a.paths, copts);
  if (!opened.ok()) return Err(cmd, opened.status().message()), kExitDamaged;
  CaptureSet& set = **opened;

  FlowSummaryOptions fo;
  fo.max_flows = a.max_flows;
  fo.idle_timeout_ns = int64_t(a.idle_timeout_s * 1e9);
  fo.events = &events;
  std::vector<FlowRecord> flows;
  auto keep = [&](const FlowRecord& f) {
    if (a.honeypot.empty()) return true;
    if (f.honeypot == a.honeypot) return true;
    return hp_addrs.count(f.key.SrcString()) > 0 || hp_addrs.count(f.key.DstString()) > 0;
  };
  const FlowOrder order = OrderBy(a.sort);
  FlowSummarizer sum(fo, [&](FlowRecord&& f) {
    if (!keep(f)) return;
    flows.push_back(std::move(f));
    if (a.limit > 0 && flows.size() >= 2 * a.limit) Trim(&flows, order, a.limit);
  });

  Progress progress("flows", set.total_bytes());
  SetRecord r;
  uint64_t seen = 0;
  while (set.Next(&r)) {
    if ((++seen & 4095) == 0) progress.Update(set.bytes_read());
    std::string error;
    const int match = bpf.Matches(r.linktype, r.rec.data, r.rec.caplen, r.rec.len, &error);
    if (match < 0) {
      progress.Done();
      return Err(cmd, error), kExitUsage;
    }
    if (match == 0) continue;
    sum.Add(r.rec.ts_ns, r.linktype, r.rec.data, r.rec.caplen, r.rec.len);
  }
  sum.Finish();
  progress.Done();

  Trim(&flows, order, a.limit);
  std::sort(flows.begin(), flows.end(), order);

  if (!isatty(STDOUT_FILENO)) std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20);
  if (a.json) {
    for (const FlowRecord& f : flows) {
      const std::string line =
          JsonC1Escape(FlowToJson(f).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "\n";
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    std::fprintf(stderr, "honeynet flows: %s\n", TotalsLine(sum.totals(), flows.size()).c_str());
  } else {
    const bool colour = UseColour(stdout);
    bool multi_day = false;
    for (const FlowRecord& f : flows)
      multi_day = multi_day || IsoTimeUtc(f.first_ns).substr(0, 10) != IsoTimeUtc(flows[0].first_ns).substr(0, 10);
    // HONEYPOT and VERDICT only when there are events to join.
    const bool joined = !events.empty();
    std::vector<TextTable::Column> cols = {{"FIRST (UTC)"}, {"DURATION", true}, {"PROTO"}, {"INITIATOR"},
                                           {"RESPONDER"}, {"PKTS>", true}, {"BYTES>", true}, {"<PKTS", true},
                                           {"<BYTES", true}, {"STATE"}};
    if (joined) cols.insert(cols.end(), {{"HONEYPOT"}, {"VERDICT"}});
    cols.push_back({"FLOW_ID"});
    const bool any_alerts = std::any_of(flows.begin(), flows.end(), [](const FlowRecord& f) { return !f.alerts.empty(); });
    if (any_alerts) cols.push_back({"ALERTS"});
    TextTable t(std::move(cols));
    for (const FlowRecord& f : flows) {
      std::string state = TcpFlowStateName(f.tcp);
      if (f.midstream) state += "*";
      std::vector<std::string> row = {TimeCell(f.first_ns, multi_day || flows.size() == 1), Seconds(f.duration_ns()),
                                      ProtoCell(f), Endpoint(f.key, true), Endpoint(f.key, false),
                                      std::to_string(f.pkts[0]), std::to_string(f.bytes[0]),
                                      std::to_string(f.pkts[1]), std::to_string(f.bytes[1]), state};
      if (joined) row.insert(row.end(), {f.honeypot, VerdictCell(f, colour)});
      row.push_back(FlowIdCell(f));
      if (any_alerts) {
        std::string al;
        for (const std::string& a : f.alerts) al += (al.empty() ? "" : "; ") + a;
        row.push_back(al);
      }
      t.Add(std::move(row));
    }
    t.Print(stdout, colour);
    std::fprintf(stdout, "\n%s\n", TotalsLine(sum.totals(), flows.size()).c_str());
    if (std::any_of(flows.begin(), flows.end(), [](const FlowRecord& f) { return f.midstream; }))
      std::fprintf(stdout, "(* picked up without its SYN)\n");
  }
  int status = 0;
  if (std::fflush(stdout) != 0) {
    Err(cmd, std::string("cannot write the output: ") + std::strerror(errno));
    status = kExitDamaged;
  }
  for (const Status& e : set.errors()) {
    Err(cmd, e.message());
    status = kExitDamaged;
  }
  return status;
}

// ---- report ----------------------------------------------------------------

void Section(const std::string& title, bool colour) {
  std::fprintf(stdout, "\n%s\n", Paint(title, Colour::kBold, colour).c_str());
}

std::string Joined(const std::vector<std::pair<std::string, uint64_t>>& v, uint64_t distinct) {
  std::string s;
  for (const auto& [k, n] : v) s += (s.empty() ? "" : ", ") + k + " (" + std::to_string(n) + ")";
  if (distinct > v.size()) s += ", +" + std::to_string(distinct - v.size()) + " more";
  return s.empty() ? "-" : s;
}

void PrintFlowTable(const std::vector<FlowRecord>& flows, bool colour) {
  TextTable t({{"FIRST (UTC)"}, {"PROTO"}, {"INITIATOR"}, {"RESPONDER"}, {"PKTS", true}, {"BYTES", true},
               {"STATE"}, {"HONEYPOT"}, {"VERDICT"}, {"FLOW_ID"}});
  for (const FlowRecord& f : flows) {
    t.Add({TimeCell(f.first_ns, true), ProtoCell(f), Endpoint(f.key, true), Endpoint(f.key, false),
           std::to_string(f.total_pkts()), std::to_string(f.total_bytes()), TcpFlowStateName(f.tcp), f.honeypot,
           VerdictCell(f, colour), FlowIdCell(f)});
  }
  t.Print(stdout, colour);
}

void PrintReport(const Report& r, bool colour) {
  std::string where = r.inputs.empty() ? "" : r.inputs[0];
  for (size_t i = 1; i < r.inputs.size(); i++) where += " " + r.inputs[i];
  std::fprintf(stdout, "%s\n", Paint("Capture report: " + where, Colour::kBold, colour).c_str());
  if (r.first_ns != 0)
    std::fprintf(stdout, "%s .. %s (%s s)\n", IsoTimeUtc(r.first_ns).c_str(), IsoTimeUtc(r.last_ns).c_str(),
                 Seconds(r.last_ns - r.first_ns).c_str());
  std::fprintf(stdout, "%zu pcap file%s, %llu frames, %s, %llu flows; events: %s (%llu verdicts)\n", r.files.size(),
               r.files.size() == 1 ? "" : "s", static_cast<unsigned long long>(r.totals.frames),
               HumanBytes(r.totals.bytes).c_str(), static_cast<unsigned long long>(r.totals.flows),
               r.events_path.empty() ? "none" : r.events_path.c_str(), static_cast<unsigned long long>(r.events));

  for (const HoneypotSummary& h : r.honeypots) {
    std::string addrs;
    for (const std::string& s : h.addresses) addrs += (addrs.empty() ? "" : ", ") + s;
    Section("Honeypot " + h.name + (addrs.empty() ? "" : " (" + addrs + ")"), colour);
    std::fprintf(stdout, "  inbound flows: %llu from %llu source%s\n", static_cast<unsigned long long>(h.inbound_flows),
                 static_cast<unsigned long long>(h.distinct_sources), h.distinct_sources == 1 ? "" : "s");
    std::fprintf(stdout, "    sources: %s\n", Joined(h.sources, h.distinct_sources).c_str());
    std::fprintf(stdout, "    ports:   %s\n", Joined(h.ports, h.distinct_ports).c_str());
    if (h.outbound.empty()) {
      std::fprintf(stdout, "  outbound attempts: none\n");
    } else {
      std::fprintf(stdout, "  outbound attempts:\n");
      TextTable t({{"PROTO"}, {"ALLOWED", true}, {"DROPPED", true}, {"WHY DROPPED"}});
      for (const auto& [proto, c] : h.outbound) {
        std::string why;
        for (const auto& [reason, n] : c.drop_reasons) why += (why.empty() ? "" : ", ") + reason + " " + std::to_string(n);
        t.Add({proto, std::to_string(c.allowed),
               c.dropped > 0 ? Paint(std::to_string(c.dropped), Colour::kRed, colour) : "0", why});
      }
      t.Print(stdout, colour, 4);
    }
    if (h.budget_hits.empty()) {
      std::fprintf(stdout, "  budget hits: none\n");
    } else {
      std::fprintf(stdout, "  budget hits:\n");
      for (const BudgetHit& b : h.budget_hits)
        std::fprintf(stdout, "    %s  %s budget of %u used up\n", IsoTimeUtc(b.ts_ns).c_str(),
                     Paint(b.cls, Colour::kYellow, colour).c_str(), b.limit);
    }
  }
  if (r.honeypots.empty())
    std::fprintf(stdout, "\n(no honeypot verdicts%s)\n",
                 r.events_path.empty() ? ": no events.json beside the captures" : " in events.json");

  Section("Alerts of the inline rules (" + std::to_string(r.alerts.size()) + " signatures)", colour);
  if (r.alerts.empty()) {
    std::fprintf(stdout, "  none\n");
  } else {
    TextTable t({{"SID", true}, {"SIGNATURE"}, {"ALERTS", true}, {"BLOCKED", true}, {"REPLACED", true}, {"HONEYPOTS"},
                 {"LAST (UTC)"}});
    for (const Report::AlertSummary& a : r.alerts) {
      std::string hps;
      for (const std::string& h : a.honeypots) hps += (hps.empty() ? "" : ",") + h;
      t.Add({std::to_string(a.sid), a.signature, std::to_string(a.alerts),
             a.blocked ? Paint(std::to_string(a.blocked), Colour::kRed, colour) : "0", std::to_string(a.replaced), hps,
             IsoTimeUtc(a.last_ns)});
    }
    t.Print(stdout, colour, 2);
  }

  Section("Busiest flows", colour);
  if (r.busiest.empty()) std::fprintf(stdout, "  none\n");
  else PrintFlowTable(r.busiest, colour);

  Section("Sessions with interactive text (" + std::to_string(r.interactive_total) + ")", colour);
  if (r.interactive.empty()) {
    std::fprintf(stdout, "  none\n");
  } else {
    PrintFlowTable(r.interactive, colour);
    if (r.interactive_total > r.interactive.size())
      std::fprintf(stdout, "  (+%llu more; honeynet flows --json lists them: interactive_text)\n",
                   static_cast<unsigned long long>(r.interactive_total - r.interactive.size()));
    std::fprintf(stdout, "  read one: honeynet session FLOW_ID\n");
  }
  if (!r.errors.empty()) {
    Section("Damaged files", colour);
    for (const std::string& e : r.errors) std::fprintf(stdout, "  %s\n", e.c_str());
  }
}

int RunReport() {
  const ReportArgs& a = g_report;
  const char* cmd = "report";
  const std::string dir = a.dir.empty() ? Config{}.capture.dir : a.dir;
  if (!PathsExist(cmd, {dir})) return kExitUsage;
  ReportOptions ro;
  ro.port = a.port;
  ro.top_flows = a.top;
  std::unique_ptr<Progress> progress;
  ro.progress = [&](uint64_t done, uint64_t total) {
    if (!progress) progress = std::make_unique<Progress>("report", total);
    progress->Update(done);
  };
  auto rep = BuildReport({dir}, ro);
  if (progress) progress->Done();
  if (!rep.ok()) return Err(cmd, rep.status().message()), kExitDamaged;
  if (!isatty(STDOUT_FILENO)) std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20);
  if (a.json) {
    const std::string s =
        JsonC1Escape(ReportToJson(*rep).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
  } else {
    PrintReport(*rep, UseColour(stdout));
  }
  int status = 0;
  if (std::fflush(stdout) != 0) {
    Err(cmd, std::string("cannot write the output: ") + std::strerror(errno));
    status = kExitDamaged;
  }
  for (const std::string& e : rep->errors) {
    Err(cmd, e);
    status = kExitDamaged;
  }
  return status;
}

}  // namespace

void AddFlowsCommands(CLI::App& app) {
  CLI::App* flows = app.add_subcommand(
      "flows",
      "One row per bidirectional flow of capture files or honeywall capture directories: times, endpoints, "
      "packets and bytes each way, TCP state, Community ID, and the honeypot and Data Control verdict from events.json");
  flows->add_option("paths", g_flows.paths, "pcap/pcapng files or capture directories");
  flows->add_option("--sort", g_flows.sort, "row order: first (default), bytes, packets, duration (most first)")
      ->check(CLI::IsMember({"first", "bytes", "packets", "duration"}));
  flows->add_flag("--json", g_flows.json, "JSON lines: one object per flow per line (totals on stderr)");
  flows->add_option("--port", g_flows.port, "for honeywall capture directories: inside (default), outside or all")
      ->check(CLI::IsMember({"inside", "outside", "all"}));
  flows->add_option("-f,--filter", g_flows.filter,
                    "BPF filter expression (pcap-filter(7)): only matching packets are counted");
  flows->add_option("--honeypot", g_flows.honeypot,
                    "only flows of this honeypot (its verdicts and addresses from events.json)");
  flows->add_option("-n,--limit", g_flows.limit, "print at most N flows (after sorting)");
  flows->add_option("--max-flows", g_flows.max_flows,
                    "flows tracked at once (default 1000000, ~384 bytes each); beyond it the longest idle ends early");
  flows->add_option("--idle-timeout", g_flows.idle_timeout_s,
                    "seconds of capture time without a packet after which a flow ends (default 3600)");
  flows->callback([] { SetRun(RunFlows); });

  CLI::App* report = app.add_subcommand(
      "report",
      "One-screen summary of a capture directory: per honeypot the inbound sources and ports, outbound attempts "
      "allowed and dropped per protocol, budget hits; the busiest flows and the sessions with interactive text");
  report->add_option("dir", g_report.dir, "the capture directory (default: capture.dir of the default config, "
                                          "/var/lib/honeynet)");
  report->add_flag("--json", g_report.json, "one JSON object");
  report->add_option("--port", g_report.port, "which pcap series: inside (default), outside or all")
      ->check(CLI::IsMember({"inside", "outside", "all"}));
  report->add_option("--top", g_report.top, "busiest flows shown (default 10)");
  report->callback([] { SetRun(RunReport); });
}

}  // namespace hn
