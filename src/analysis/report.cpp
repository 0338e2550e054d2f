// Report: see report.h.
#include "analysis/report.h"

#include <algorithm>
#include <ctime>
#include <unordered_map>

#include "analysis/capture_set.h"
#include "common/clock.h"
#include "common/time_format.h"

namespace hn {

namespace {

using ojson = nlohmann::ordered_json;

constexpr uint64_t kProgressEvery = 4096;  // packets between progress calls

bool HasPorts(uint8_t proto) { return proto == kProtoTcp || proto == kProtoUdp || proto == 132; }
bool IsIcmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmpv6; }

std::string ProtoText(uint8_t proto) {
  char buf[8];
  return ProtoName(proto, buf);
}

// The n largest counts, most first (ties by name).
std::vector<std::pair<std::string, uint64_t>> Top(const std::unordered_map<std::string, uint64_t>& m, size_t n) {
  std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > n) v.resize(n);
  return v;
}

// "busier" first: more bytes, then more packets, then earlier.
bool Busier(const FlowRecord& a, const FlowRecord& b) {
  if (a.total_bytes() != b.total_bytes()) return a.total_bytes() > b.total_bytes();
  if (a.total_pkts() != b.total_pkts()) return a.total_pkts() > b.total_pkts();
  return a.seq_no < b.seq_no;
}

// The events half: honeypots, inbound, outbound, budget hits.
void SummarizeEvents(const EventIndex& idx, const ReportOptions& opts, Report* r) {
  struct Acc {
    HoneypotSummary s;
    std::unordered_map<std::string, uint64_t> sources, ports;
  };
  std::map<std::string, Acc> hps;
  for (const auto& [name, addrs] : idx.honeypot_addresses()) {
    hps[name].s.addresses.assign(addrs.begin(), addrs.end());
  }
  for (const FlowVerdict& v : idx.verdicts()) {
    if (v.honeypot.empty()) continue;
    Acc& a = hps[v.honeypot];
    if (v.direction == "inbound") {
      a.s.inbound_flows++;
      if (!v.src_ip.empty()) a.sources[v.src_ip]++;
      std::string port = v.proto.empty() ? "?" : v.proto;
      if (v.dest_port != 0 || v.proto == "TCP" || v.proto == "UDP") port += "/" + std::to_string(v.dest_port);
      a.ports[port]++;
    } else if (v.direction == "outbound") {
      OutboundCount& c = a.s.outbound[v.proto.empty() ? "OTHER" : v.proto];
      if (v.action == "dropped") {
        c.dropped++;
        c.drop_reasons[v.reason]++;
      } else {
        c.allowed++;
      }
    }
  }
  for (const BudgetHit& h : idx.budget_hits()) hps[h.honeypot].s.budget_hits.push_back(h);
  // Alerts by signature, most first.
  std::map<std::pair<uint32_t, std::string>, Report::AlertSummary> by_sig;
  for (const AlertRecord& al : idx.alerts()) {
    Report::AlertSummary& s = by_sig[{al.sid, al.signature}];
    s.sid = al.sid;
    s.signature = al.signature;
    s.alerts++;
    s.blocked += al.action == "blocked";
    s.replaced += al.replaced;
    if (!al.honeypot.empty()) s.honeypots.insert(al.honeypot);
    if (s.first_ns == 0 || al.ts_ns < s.first_ns) s.first_ns = al.ts_ns;
    s.last_ns = std::max(s.last_ns, al.ts_ns);
  }
  for (auto& [k, s] : by_sig) r->alerts.push_back(std::move(s));
  std::stable_sort(r->alerts.begin(), r->alerts.end(),
                   [](const Report::AlertSummary& a, const Report::AlertSummary& b) { return a.alerts > b.alerts; });
  for (auto& [name, a] : hps) {
    a.s.name = name;
    a.s.distinct_sources = a.sources.size();
    a.s.distinct_ports = a.ports.size();
    a.s.sources = Top(a.sources, opts.top_sources);
    a.s.ports = Top(a.ports, opts.top_sources);
    r->honeypots.push_back(std::move(a.s));
  }
}

}  // namespace

ojson FlowToJson(const FlowRecord& f) {
  ojson j;
  j["community_id"] = f.community_id;
  if (f.flow_id != 0) j["flow_id"] = f.flow_id;
  j["first"] = IsoTimeUtc(f.first_ns);
  j["last"] = IsoTimeUtc(f.last_ns);
  j["duration"] = double(f.duration_ns()) / 1e9;
  j["proto"] = ProtoText(f.key.proto);
  j["src_ip"] = f.key.SrcString();
  if (HasPorts(f.key.proto)) j["src_port"] = f.key.sport;
  j["dest_ip"] = f.key.DstString();
  if (HasPorts(f.key.proto)) j["dest_port"] = f.key.dport;
  if (IsIcmp(f.key.proto)) {
    j["icmp_type"] = f.icmp_type;
    j["icmp_code"] = f.icmp_code;
  }
  if (f.vlan_id != 0) j["vlan"] = f.vlan_id;
  j["pkts_toserver"] = f.pkts[0];
  j["pkts_toclient"] = f.pkts[1];
  j["bytes_toserver"] = f.bytes[0];
  j["bytes_toclient"] = f.bytes[1];
  j["payload_toserver"] = f.payload[0];
  j["payload_toclient"] = f.payload[1];
  if (f.key.proto == kProtoTcp) {
    j["state"] = TcpFlowStateName(f.tcp);
    j["midstream"] = f.midstream;
    j["interactive_text"] = f.interactive_text();
  }
  if (f.evicted) j["evicted"] = true;
  if (f.has_verdict) {
    if (!f.honeypot.empty()) j["honeypot"] = f.honeypot;
    j["action"] = f.action;
    j["direction"] = f.direction;
    j["reason"] = f.reason;
  }
  if (!f.alerts.empty()) j["alerts"] = f.alerts;
  return j;
}

Result<Report> BuildReport(const std::vector<std::string>& paths, const ReportOptions& opts) {
  Report r;
  r.inputs = paths;
  r.events_path = EventIndex::FindFor(paths);
  auto idx = EventIndex::Load(r.events_path);
  if (!idx.ok()) return idx.status();
  r.events = idx->verdicts().size();
  r.bad_event_lines = idx->bad_lines();
  SummarizeEvents(*idx, opts, &r);

  CaptureSetOptions copts;
  copts.port = opts.port;
  auto set = CaptureSet::Open(paths, copts);
  if (!set.ok()) {
    // A directory holding only events.json still has a report to give.
    if (r.events_path.empty()) return set.status();
    r.errors.push_back(set.status().message());
  } else {
    FlowSummaryOptions fo = opts.flows;
    fo.events = &*idx;
    std::vector<FlowRecord>& top = r.busiest;  // a min-heap by Busier while reading
    auto heap_less = [](const FlowRecord& a, const FlowRecord& b) { return Busier(a, b); };
    FlowSummarizer sum(fo, [&](FlowRecord&& f) {
      if (f.interactive_text()) {
        r.interactive_total++;
        if (r.interactive.size() < opts.max_interactive) r.interactive.push_back(f);
      }
      if (opts.top_flows == 0) return;
      if (top.size() < opts.top_flows) {
        top.push_back(std::move(f));
        std::push_heap(top.begin(), top.end(), heap_less);
      } else if (Busier(f, top.front())) {
        std::pop_heap(top.begin(), top.end(), heap_less);
        top.back() = std::move(f);
        std::push_heap(top.begin(), top.end(), heap_less);
      }
    });
    CaptureSet& cs = **set;
    SetRecord rec;
    uint64_t n = 0;
    if (opts.progress) opts.progress(0, cs.total_bytes());
    while (cs.Next(&rec)) {
      if (r.first_ns == 0 || rec.rec.ts_ns < r.first_ns) r.first_ns = rec.rec.ts_ns;
      r.last_ns = std::max(r.last_ns, rec.rec.ts_ns);
      sum.Add(rec.rec.ts_ns, rec.linktype, rec.rec.data, rec.rec.caplen, rec.rec.len);
      if (opts.progress && ++n % kProgressEvery == 0) opts.progress(cs.bytes_read(), cs.total_bytes());
    }
    sum.Finish();
    r.totals = sum.totals();
    r.files = cs.files();
    for (const Status& e : cs.errors()) r.errors.push_back(e.message());
    std::sort(top.begin(), top.end(), Busier);
    std::sort(r.interactive.begin(), r.interactive.end(), [](const FlowRecord& a, const FlowRecord& b) {
      return a.first_ns != b.first_ns ? a.first_ns < b.first_ns : a.seq_no < b.seq_no;
    });
  }
  return r;
}

ojson ReportToJson(const Report& r) {
  ojson j;
  j["inputs"] = r.inputs;
  j["files"] = r.files;
  j["events_file"] = r.events_path;
  j["events"] = r.events;
  if (r.bad_event_lines > 0) j["bad_event_lines"] = r.bad_event_lines;
  if (r.first_ns != 0) {
    j["first"] = IsoTimeUtc(r.first_ns);
    j["last"] = IsoTimeUtc(r.last_ns);
  }
  ojson t;
  t["frames"] = r.totals.frames;
  t["bytes"] = r.totals.bytes;
  t["flows"] = r.totals.flows;
  t["non_ip"] = r.totals.non_ip;
  t["undecodable"] = r.totals.undecodable;
  t["orphan_fragments"] = r.totals.orphan_fragments;
  if (r.totals.evicted > 0) t["evicted"] = r.totals.evicted;
  j["totals"] = std::move(t);
  ojson hps = ojson::array();
  for (const HoneypotSummary& h : r.honeypots) {
    ojson o;
    o["name"] = h.name;
    o["addresses"] = h.addresses;
    ojson in;
    in["flows"] = h.inbound_flows;
    in["distinct_sources"] = h.distinct_sources;
    ojson srcs = ojson::array(), ports = ojson::array();
    for (const auto& [s, n] : h.sources) srcs.push_back({{"src_ip", s}, {"flows", n}});
    for (const auto& [p, n] : h.ports) ports.push_back({{"port", p}, {"flows", n}});
    in["sources"] = std::move(srcs);
    in["distinct_ports"] = h.distinct_ports;
    in["ports"] = std::move(ports);
    o["inbound"] = std::move(in);
    ojson out = ojson::object();
    for (const auto& [proto, c] : h.outbound) {
      ojson oc;
      oc["allowed"] = c.allowed;
      oc["dropped"] = c.dropped;
      if (!c.drop_reasons.empty()) oc["drop_reasons"] = c.drop_reasons;
      out[proto] = std::move(oc);
    }
    o["outbound"] = std::move(out);
    ojson hits = ojson::array();
    for (const BudgetHit& b : h.budget_hits)
      hits.push_back({{"time", IsoTimeUtc(b.ts_ns)}, {"class", b.cls}, {"limit", b.limit}});
    o["budget_hits"] = std::move(hits);
    hps.push_back(std::move(o));
  }
  j["honeypots"] = std::move(hps);
  ojson al = ojson::array();
  for (const Report::AlertSummary& a : r.alerts) {
    al.push_back({{"signature_id", a.sid}, {"signature", a.signature}, {"alerts", a.alerts}, {"blocked", a.blocked},
                  {"replaced", a.replaced}, {"honeypots", std::vector<std::string>(a.honeypots.begin(), a.honeypots.end())},
                  {"first", IsoTimeUtc(a.first_ns)}, {"last", IsoTimeUtc(a.last_ns)}});
  }
  j["alerts"] = std::move(al);
  ojson busy = ojson::array();
  for (const FlowRecord& f : r.busiest) busy.push_back(FlowToJson(f));
  j["busiest_flows"] = std::move(busy);
  ojson inter = ojson::array();
  for (const FlowRecord& f : r.interactive) inter.push_back(FlowToJson(f));
  j["interactive_sessions"] = std::move(inter);
  j["interactive_sessions_total"] = r.interactive_total;
  j["errors"] = r.errors;
  return j;
}

}  // namespace hn
