// `honeynet read PATH...`: the packets of capture files and honeywall capture
// directories, one block each (like `snort -vdr` / `tcpdump -X -r`), or one
// JSON object per line, or written to a pcap (--write). Filters: a BPF
// expression compiled by libpcap, a time window, a flow, a honeypot.
//
// Exit status: 0 all read; 1 a file was damaged or unreadable (the packets
// before the damage were still printed; the errors name file and byte on
// stderr) or the output could not be written; 2 the command line was wrong
// (missing path, bad filter expression, bad time, unknown honeypot or flow).
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analysis/bpf_filter.h"
#include "analysis/capture_set.h"
#include "analysis/event_index.h"
#include "analysis/packet_print.h"
#include "analysis/pcap_input.h"
#include "analysis/offline_rules.h"
#include "cli/commands.h"
#include "config/config.h"
#include "rules/rule_parser.h"
#include "cli/term.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

constexpr int kExitDamaged = 1;
constexpr int kExitUsage = 2;
constexpr int kFilterSnaplen = 262144;

struct ReadArgs {
  std::vector<std::string> paths;
  std::string filter;
  std::string since, until;
  std::string flow;
  std::string honeypot;
  std::string port = "inside";
  uint64_t count = 0;
  bool json = false;
  bool frame_hex = false;
  std::string write;
  std::vector<std::string> rules;  // --rules: print the alerts these rules would raise
  std::string config;              // --config: $HOME_NET and [rules.vars] (and its [rules] files)
} g_read;

void Err(const std::string& msg) { std::fprintf(stderr, "honeynet read: %s\n", msg.c_str()); }

// One address to match, as the 16 bytes Dissection keeps.
struct Addr {
  bool v6 = false;
  uint8_t b[16] = {};
};

bool ParseAddr(const std::string& s, Addr* a) {
  *a = Addr();
  if (inet_pton(AF_INET, s.c_str(), a->b) == 1) return true;
  a->v6 = true;
  return inet_pton(AF_INET6, s.c_str(), a->b) == 1;
}

bool SameAddr(const Addr& a, const uint8_t* ip, bool v6) {
  return a.v6 == v6 && std::memcmp(a.b, ip, v6 ? 16 : 4) == 0;
}

// The --write output: a nanosecond pcap written to a temporary name and
// renamed at the end, so a failed run leaves no half file under OUT.
class PcapOut {
 public:
  explicit PcapOut(std::string path) : path_(std::move(path)), tmp_(path_ + ".part") {}
  ~PcapOut() {
    if (dumper_ != nullptr) {
      pcap_dump_close(dumper_);
      std::remove(tmp_.c_str());
    }
    if (dead_ != nullptr) pcap_close(dead_);
  }

  Status Open(int linktype) {
    linktype_ = linktype;
    dead_ = pcap_open_dead_with_tstamp_precision(linktype, kFilterSnaplen, PCAP_TSTAMP_PRECISION_NANO);
    if (dead_ == nullptr) return Status::Error("cannot make a pcap of link type " + std::to_string(linktype));
    dumper_ = pcap_dump_open(dead_, tmp_.c_str());
    if (dumper_ == nullptr)
      return Status::Error("cannot write " + tmp_ + ": " + pcap_geterr(dead_) +
                           " (check the directory exists and you may write there)");
    return Status::Ok();
  }
  bool is_open() const { return dumper_ != nullptr; }
  int linktype() const { return linktype_; }

  void Write(const SetRecord& r) {
    pcap_pkthdr h{};
    int64_t sec = r.rec.ts_ns / 1'000'000'000, frac = r.rec.ts_ns % 1'000'000'000;
    if (frac < 0) {
      frac += 1'000'000'000;
      sec -= 1;
    }
    h.ts.tv_sec = time_t(sec);
    h.ts.tv_usec = suseconds_t(frac);  // nanoseconds: the dumper was opened with nano precision
    h.caplen = r.rec.caplen;
    h.len = r.rec.len;
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, r.rec.data);
    written_++;
  }
  uint64_t written() const { return written_; }

  // Flushes, closes and renames into place.
  Status Finish() {
    const bool flushed = pcap_dump_flush(dumper_) == 0;
    FILE* f = pcap_dump_file(dumper_);
    const bool ok = flushed && !std::ferror(f);
    pcap_dump_close(dumper_);
    dumper_ = nullptr;
    if (!ok) {
      std::remove(tmp_.c_str());
      return Status::Error("writing " + path_ + " failed (disk full?): nothing was written");
    }
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      std::remove(tmp_.c_str());
      return Status::Error("cannot rename " + tmp_ + " to " + path_ + ": " + why);
    }
    return Status::Ok();
  }

 private:
  std::string path_, tmp_;
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  int linktype_ = 1;
  uint64_t written_ = 0;
};

// True when OUT is one of the inputs (or would be read as one).
bool IsInput(const std::string& out, const CaptureSet& set) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return false;
  for (const std::string& f : set.files())
    if (fs::equivalent(out, f, ec)) return true;
  return false;
}

// The selection criteria besides BPF, checked on the dissected packet.
struct Select {
  bool time = false;
  int64_t since = INT64_MIN, until = INT64_MAX;
  std::string flow_cid;  // "" = any
  std::vector<Addr> addrs;  // empty = any

  bool NeedsDissection() const { return !flow_cid.empty() || !addrs.empty(); }
};

int RunRead() {
  const ReadArgs& a = g_read;
  if (a.paths.empty()) {
    Err("name at least one capture file or directory, e.g. `honeynet read /var/lib/honeynet` "
        "(the honeywall's capture directory) or `honeynet read attack.pcap`");
    return kExitUsage;
  }
  for (const std::string& p : a.paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      Err("cannot read " + p + ": no such file or directory (check the path)");
      return kExitUsage;
    }
  }

  Select sel;
  if (!a.since.empty()) {
    auto t = ParseTimeArg(a.since);
    if (!t.ok()) return Err("--since: " + t.status().message()), kExitUsage;
    sel.since = *t;
  }
  if (!a.until.empty()) {
    auto t = ParseTimeArg(a.until);
    if (!t.ok()) return Err("--until: " + t.status().message()), kExitUsage;
    sel.until = *t;
  }
  if (sel.since > sel.until) return Err("--since is after --until: nothing could match"), kExitUsage;

  // events.json for --flow (a numeric flow_id) and --honeypot.
  if (!a.flow.empty() || !a.honeypot.empty()) {
    EventIndex events;
    const std::string ev = EventIndex::FindFor(a.paths);
    if (!ev.empty()) {
      auto loaded = EventIndex::Load(ev);
      if (!loaded.ok()) return Err(loaded.status().message()), kExitDamaged;
      events = std::move(*loaded);
    }
    if (!a.flow.empty()) {
      auto cid = events.ResolveFlowArg(a.flow);
      if (!cid.ok()) return Err("--flow: " + cid.status().message()), kExitUsage;
      sel.flow_cid = *cid;
    }
    if (!a.honeypot.empty()) {
      const auto& hp = events.honeypot_addresses();
      auto it = hp.find(a.honeypot);
      if (it == hp.end()) {
        if (ev.empty())
          return Err("--honeypot needs the honeywall's events.json beside the captures (none found); "
                     "filter by address instead, e.g. -f 'host 10.0.0.2'"),
                 kExitUsage;
        std::string known;
        for (const auto& [name, addrs] : hp) known += (known.empty() ? "" : ", ") + name;
        return Err("--honeypot: no honeypot '" + a.honeypot + "' in " + ev + " (known: " +
                   (known.empty() ? "none" : known) + ")"),
               kExitUsage;
      }
      for (const std::string& s : it->second) {
        Addr ad;
        if (ParseAddr(s, &ad)) sel.addrs.push_back(ad);
      }
      if (sel.addrs.empty()) return Err("--honeypot: " + a.honeypot + " has no usable addresses in events.json"), kExitUsage;
    }
  }

  CaptureSetOptions copts;
  copts.port = a.port;
  auto opened = CaptureSet::Open(a.paths, copts);
  if (!opened.ok()) return Err(opened.status().message()), kExitDamaged;
  CaptureSet& set = **opened;

  std::unique_ptr<PcapOut> out;
  if (!a.write.empty()) {
    if (IsInput(a.write, set))
      return Err("--write " + a.write + " is one of the inputs: refusing to overwrite it; name another file"),
             kExitUsage;
    std::error_code ec;
    if (fs::is_directory(a.write, ec)) return Err("--write " + a.write + " is a directory: name a file"), kExitUsage;
    out = std::make_unique<PcapOut>(a.write);
  }

  BpfFilter bpf(a.filter);
  PrintOptions popts;
  popts.colour = !a.json && out == nullptr && UseColour(stdout);
  popts.frame_hex = a.frame_hex;
  popts.show_file = set.files().size() > 1;
  if (out == nullptr && !isatty(STDOUT_FILENO)) std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20);

  // --rules: alerts instead of packets.
  std::unique_ptr<OfflineRules> offline;
  if (!a.rules.empty() || !a.config.empty()) {
    Config cfg;
    if (!a.config.empty()) {
      auto c = LoadConfig(a.config);
      if (!c.ok()) return Err(c.status().message()), kExitUsage;
      cfg = c.value();
    }
    for (const std::string& f : a.rules) cfg.rules.files.push_back({f, false, 0});
    RuleLoad load = LoadRules(cfg);
    for (const std::string& w : load.warnings) Err("warning: " + w);
    if (!load.ok()) {
      for (const std::string& e : load.errors) std::fprintf(stderr, "%s\n", e.c_str());
      return kExitUsage;
    }
    std::fprintf(stderr, "honeynet read: %s\n", load.Coverage().c_str());
    SortForDetection(&load.rules);
    auto det = Detector::Build(std::move(load.rules));
    if (!det.ok()) return Err(det.status().message()), kExitUsage;
    offline = std::make_unique<OfflineRules>(std::move(det.value()));
  }

  Progress progress("reading", set.total_bytes());
  std::string text;
  text.reserve(1 << 16);
  Dissection d;
  SetRecord r;
  uint64_t shown = 0, seen = 0;
  int status = 0;
  // The last flow key and whether it matched --flow: a flow's packets come in runs.
  FlowKey last_key;
  bool last_key_valid = false, last_match = false;

  while ((a.count == 0 || shown < a.count) && set.Next(&r)) {
    if ((++seen & 1023) == 0) progress.Update(set.bytes_read());
    if (r.rec.ts_ns < sel.since || r.rec.ts_ns > sel.until) continue;
    std::string error;
    const int match = bpf.Matches(r.linktype, r.rec.data, r.rec.caplen, r.rec.len, &error);
    if (match < 0) {
      progress.Done();
      std::fflush(stdout);
      Err(error);
      return kExitUsage;
    }
    if (match == 0) continue;
    const bool dissected = sel.NeedsDissection() || out == nullptr;
    if (dissected) Dissect(r.rec.data, r.rec.caplen, r.rec.len, r.linktype, &d);
    if (!sel.flow_cid.empty()) {
      FlowKey k;
      if (!DissectionFlowKey(d, &k)) continue;
      if (!last_key_valid || !(k == last_key || k.Reversed() == last_key)) {
        last_key = k;
        last_key_valid = true;
        last_match = DissectionCommunityId(d) == sel.flow_cid;
      }
      // ICMP Community IDs depend on type/code, not on the key's ports alone.
      if (d.transport == Dissection::Transport::kIcmp || d.transport == Dissection::Transport::kIcmp6)
        last_match = DissectionCommunityId(d) == sel.flow_cid;
      if (!last_match) continue;
    }
    if (!sel.addrs.empty()) {
      if (!d.has_ip_addrs) continue;
      const bool v6 = d.net == Dissection::Net::kIpv6;
      bool hit = false;
      for (const Addr& ad : sel.addrs) hit = hit || SameAddr(ad, d.ip_src, v6) || SameAddr(ad, d.ip_dst, v6);
      if (!hit) continue;
    }
    if (offline) {
      if (r.linktype != 1) continue;  // Ethernet only
      text.clear();
      offline->OnFrame(r.rec.data, r.rec.caplen, r.rec.ts_ns, &text);
      if (!text.empty() && std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
        Err(std::string("cannot write the output: ") + std::strerror(errno));
        return kExitDamaged;
      }
      continue;
    }
    shown++;
    if (out != nullptr) {
      if (!out->is_open()) {
        const Status s = out->Open(r.linktype);
        if (!s.ok()) return Err(s.message()), kExitDamaged;
      } else if (r.linktype != out->linktype()) {
        Err(*r.file + " has link type " + std::to_string(r.linktype) + ", the packets before " +
            std::to_string(out->linktype()) + ": one pcap cannot hold both; write them separately "
            "(name the files of one link type)");
        return kExitDamaged;
      }
      out->Write(r);
      continue;
    }
    text.clear();
    if (a.json) FormatJson(r, d, popts, &text);
    else FormatText(r, d, popts, &text);
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
      Err(std::string("cannot write the output: ") + std::strerror(errno));
      return kExitDamaged;
    }
  }
  progress.Done();

  if (!bpf.empty() && shown == 0) {
    // No packet reached the filter: still say when the expression is bad.
    std::string error;
    if (bpf.For(1, &error) == nullptr) return Err(error), kExitUsage;
  }
  if (out != nullptr) {
    if (!out->is_open()) {
      // An empty selection is an empty pcap, of the first file's link type.
      int lt = 1;
      for (const std::string& f : set.files()) {
        auto in = PcapInput::Open(f);
        if (in.ok()) {
          lt = (*in)->linktype();
          break;
        }
      }
      const Status s = out->Open(lt);
      if (!s.ok()) return Err(s.message()), kExitDamaged;
    }
    const uint64_t n = out->written();
    const Status s = out->Finish();
    if (!s.ok()) return Err(s.message()), kExitDamaged;
    std::fprintf(stderr, "honeynet read: wrote %llu packet%s to %s\n", static_cast<unsigned long long>(n),
                 n == 1 ? "" : "s", a.write.c_str());
  }
  if (std::fflush(stdout) != 0) {
    Err(std::string("cannot write the output: ") + std::strerror(errno));
    status = kExitDamaged;
  }
  for (const Status& e : set.errors()) {
    Err(e.message());
    status = kExitDamaged;
  }
  return status;
}

}  // namespace

void AddReadCommand(CLI::App& app) {
  CLI::App* read = app.add_subcommand(
      "read",
      "Print the packets of capture files or honeywall capture directories, one block each "
      "(time, Ethernet/ARP/IP/TCP/UDP/ICMP headers, payload as hex and text), like snort -vdr / tcpdump -X -r");
  read->add_option("paths", g_read.paths,
                   "pcap/pcapng files or capture directories (a directory's rotated files are read in time order)");
  read->add_option("-f,--filter", g_read.filter, "BPF filter expression (pcap-filter(7)), e.g. 'tcp port 23'");
  read->add_option("--since", g_read.since,
                   "only packets at or after this time: 2026-11-26T19:08:03Z (UTC, fraction allowed) or epoch seconds");
  read->add_option("--until", g_read.until, "only packets at or before this time (same forms as --since)");
  read->add_option("--flow", g_read.flow,
                   "only the packets of this flow: its Community ID (1:...) or the honeywall's flow_id from events.json");
  read->add_option("--honeypot", g_read.honeypot,
                   "only packets to or from this honeypot's addresses (from events.json beside the captures)");
  read->add_option("--port", g_read.port, "for honeywall capture directories: inside (default), outside or all")
      ->check(CLI::IsMember({"inside", "outside", "all"}));
  read->add_option("-c,--count", g_read.count, "stop after N packets (after the filters)");
  read->add_flag("--json", g_read.json, "one JSON object per packet per line");
  read->add_flag("-X,--hex-frame", g_read.frame_hex, "hex dump of the whole frame, not only the payload");
  read->add_option("-w,--write", g_read.write,
                   "write the selected packets to this pcap (nanosecond timestamps) instead of printing them");
  read->add_option("--rules", g_read.rules,
                   "run these rule files over the packets (as the honeywall would, per flow) and print the alerts "
                   "they raise as EVE JSON lines, instead of the packets");
  read->add_option("--config", g_read.config,
                   "with --rules: $HOME_NET from this config's honeypots and its [rules.vars]; its [rules] files too");
  read->callback([] { SetRun(RunRead); });
}

}  // namespace hn
