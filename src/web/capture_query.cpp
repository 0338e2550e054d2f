#include "web/capture_query.h"

#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>

#include "analysis/bpf_filter.h"
#include "analysis/capture_set.h"
#include "analysis/tcp_reassembly.h"
#include "analysis/telnet.h"

namespace hn::web {

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;

// "inside-20261206T001621Z-0003.pcap" -> its start time in ns (0: not such a name).
int64_t StartOf(const std::string& name) {
  if (name.rfind("inside-", 0) != 0 || name.size() < 7 + 16) return 0;
  tm t{};
  if (!strptime(name.c_str() + 7, "%Y%m%dT%H%M%SZ", &t)) return 0;
  return int64_t(timegm(&t)) * kNsPerSec;
}

std::string Endpoint(const std::string& ip, uint16_t port) {
  return ip.find(':') != std::string::npos ? "[" + ip + "]:" + std::to_string(port) : ip + ":" + std::to_string(port);
}

class TranscriptSink : public TcpStreamSink {
 public:
  TranscriptSink(const std::string& ip, int64_t from_ns, int64_t to_ns, TranscriptLimits limits)
      : ip_(ip), from_(from_ns), to_(to_ns), limits_(limits) {}

  bool OnStart(const TcpStreamInfo& s) override {
    if (s.key.SrcString() != ip_ && s.key.DstString() != ip_) return false;
    if (to_ && s.first_ns > to_) return false;
    if (live_.size() + done_.size() >= limits_.max_sessions * 4) return false;
    State& st = live_[s.serial];
    st.t.client = Endpoint(s.key.SrcString(), s.key.sport);
    st.t.server = Endpoint(s.key.DstString(), s.key.dport);
    st.t.community_id = s.community_id;
    st.t.first_ns = s.first_ns;
    return true;
  }

  void OnData(const TcpStreamInfo& s, TcpSide side, int64_t ts_ns, const uint8_t* data, size_t len) override {
    auto it = live_.find(s.serial);
    if (it == live_.end()) return;
    State& st = it->second;
    const int k = SideIndex(side);
    if (!st.decided) {
      st.decided = true;
      st.t.telnet = IsTelnet(s.key.sport, s.key.dport, k == 0 ? data[0] : -1, k == 1 ? data[0] : -1);
      st.text[0] = TelnetText(st.t.telnet);
      st.text[1] = TelnetText(st.t.telnet);
    }
    st.t.bytes[k] += len;
    if (st.used >= limits_.max_text) {
      st.t.truncated = true;
      return;
    }
    std::string piece;
    st.text[k].Feed(data, std::min(len, limits_.max_text - st.used), &piece);
    if (len > limits_.max_text - st.used) st.t.truncated = true;
    st.used += piece.size();
    if (piece.empty()) return;
    if (st.t.chunks.empty() || st.t.chunks.back().side != k) st.t.chunks.push_back({k, ts_ns, {}});
    st.t.chunks.back().text += piece;
  }

  void OnGap(const TcpStreamInfo& s, TcpSide, int64_t, uint64_t len) override {
    if (auto it = live_.find(s.serial); it != live_.end()) it->second.t.gap_bytes += len;
  }

  void OnEnd(const TcpStreamInfo& s, TcpEnd) override {
    auto it = live_.find(s.serial);
    if (it == live_.end()) return;
    it->second.t.last_ns = s.last_ns;
    const bool in_range = !from_ || s.last_ns >= from_;
    if (in_range && (it->second.t.bytes[0] || it->second.t.bytes[1])) done_.push_back(std::move(it->second.t));
    live_.erase(it);
  }

  std::vector<Transcript> Take() {
    std::sort(done_.begin(), done_.end(), [](const Transcript& a, const Transcript& b) { return a.first_ns < b.first_ns; });
    if (done_.size() > limits_.max_sessions) done_.erase(done_.begin(), done_.end() - long(limits_.max_sessions));
    return std::move(done_);
  }

 private:
  struct State {
    Transcript t;
    TelnetText text[2];
    bool decided = false;
    size_t used = 0;
  };
  std::string ip_;
  int64_t from_, to_;
  TranscriptLimits limits_;
  std::map<uint64_t, State> live_;
  std::vector<Transcript> done_;
};

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

}  // namespace

std::vector<std::string> InsideFiles(const std::string& capture_dir, int64_t from_ns, int64_t to_ns) {
  std::vector<std::pair<std::string, int64_t>> files;
  if (DIR* d = opendir(capture_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".pcap") == 0)
        if (const int64_t t = StartOf(n)) files.emplace_back(n, t);
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < files.size(); i++) {
    // A file starts at the second in its name; the next one starts after it ends.
    const int64_t start = files[i].second - kNsPerSec;
    const int64_t end = i + 1 < files.size() ? files[i + 1].second + kNsPerSec : INT64_MAX;
    if (to_ns && start > to_ns) continue;
    if (from_ns && end < from_ns) continue;
    out.push_back(capture_dir + "/" + files[i].first);
  }
  return out;
}

Result<std::vector<Transcript>> AttackerTranscripts(const std::string& capture_dir, const std::string& ip,
                                                    int64_t from_ns, int64_t to_ns, TranscriptLimits limits) {
  const std::vector<std::string> files = InsideFiles(capture_dir, from_ns, to_ns);
  if (files.empty()) return std::vector<Transcript>{};
  auto set = CaptureSet::Open(files);
  if (!set.ok()) return set.status();
  BpfFilter filter("tcp and host " + ip);
  TranscriptSink sink(ip, from_ns, to_ns, limits);
  TcpReassembler r(&sink);
  SetRecord rec;
  std::string err;
  while ((*set)->Next(&rec)) {
    if (to_ns && rec.rec.ts_ns > to_ns + 60 * kNsPerSec) break;
    const int m = filter.Matches(rec.linktype, rec.rec.data, rec.rec.caplen, rec.rec.len, &err);
    if (m < 0) return Status::Error(err);
    if (m == 1) r.FeedFrame(rec.linktype, rec.rec.data, rec.rec.caplen, rec.rec.ts_ns);
  }
  r.Finish();
  return sink.Take();
}

struct PcapExtract::Impl {
  std::unique_ptr<CaptureSet> set;
  std::unique_ptr<BpfFilter> filter;
  int64_t from = 0, to = 0;
  bool header_done = false, done = false;
  SetRecord pending;
  bool has_pending = false;
};

PcapExtract::PcapExtract() : impl_(new Impl) {}
PcapExtract::~PcapExtract() = default;

Result<std::unique_ptr<PcapExtract>> PcapExtract::Open(const std::string& capture_dir, const std::string& filter,
                                                       int64_t from_ns, int64_t to_ns) {
  std::unique_ptr<PcapExtract> x(new PcapExtract());
  x->impl_->from = from_ns;
  x->impl_->to = to_ns;
  x->impl_->filter = std::make_unique<BpfFilter>(filter);
  std::string err;
  if (!x->impl_->filter->For(1, &err)) return Status::Error(err);
  const std::vector<std::string> files = InsideFiles(capture_dir, from_ns, to_ns);
  if (files.empty()) {
    x->impl_->done = true;  // an empty pcap: header only
    return x;
  }
  auto set = CaptureSet::Open(files);
  if (!set.ok()) return set.status();
  x->impl_->set = std::move(*set);
  return x;
}

bool PcapExtract::Next(std::string* out, size_t max) {
  Impl& im = *impl_;
  if (!im.header_done) {
    im.header_done = true;
    PutU32(out, 0xa1b23c4d);  // nanosecond pcap
    const uint16_t ver[2] = {2, 4};
    out->append(reinterpret_cast<const char*>(ver), 4);
    PutU32(out, 0);
    PutU32(out, 0);
    PutU32(out, 262144);
    PutU32(out, 1);  // Ethernet: the honeywall writes nothing else
    return true;
  }
  if (im.done || !im.set) return false;
  const size_t start = out->size();
  SetRecord rec;
  std::string err;
  while (out->size() - start < max) {
    if (!im.set->Next(&rec)) {
      im.done = true;
      break;
    }
    if (im.to && rec.rec.ts_ns > im.to) {
      im.done = true;
      break;
    }
    if (im.from && rec.rec.ts_ns < im.from) continue;
    if (rec.linktype != 1) continue;
    if (im.filter->Matches(rec.linktype, rec.rec.data, rec.rec.caplen, rec.rec.len, &err) != 1) continue;
    PutU32(out, uint32_t(rec.rec.ts_ns / kNsPerSec));
    PutU32(out, uint32_t(rec.rec.ts_ns % kNsPerSec));
    PutU32(out, rec.rec.caplen);
    PutU32(out, rec.rec.len);
    out->append(reinterpret_cast<const char*>(rec.rec.data), rec.rec.caplen);
    packets_++;
  }
  return out->size() > start || !im.done;
}

}  // namespace hn::web
