// CaptureSet: see capture_set.h.
#include "analysis/capture_set.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

namespace hn {

namespace fs = std::filesystem;

// One series: files read one after the other; holds its next packet (the
// head), which points into its open reader's buffer.
struct CaptureSet::Series {
  std::vector<size_t> files;          // indexes into CaptureSet::files_, in read order
  std::vector<uint64_t> sizes;        // their sizes
  size_t at = 0;                      // index into files of the open one
  std::unique_ptr<PcapInput> in;      // the open file, or null
  uint64_t done_bytes = 0;            // sizes of the files finished
  bool has_head = false;
  SetRecord head;
  size_t order = 0;                   // tie-break: position among the series
  bool opened_any = false;            // some file of it opened
  int ts_digits = 9;                  // of the open file
};

namespace {

// A honeywall rotation file name: PREFIX-YYYYmmddTHHMMSSZ-NNNN.pcap with
// PREFIX "inside" or "outside". Returns the prefix, or "" when it is not one.
std::string SeriesPrefix(const std::string& name) {
  for (const char* p : {"inside", "outside"}) {
    const std::string pre = std::string(p) + "-";
    if (name.rfind(pre, 0) != 0) continue;
    // YYYYmmddTHHMMSSZ-N+.pcap
    std::string rest = name.substr(pre.size());
    if (rest.size() < 16 + 1 + 1 + 5) return "";
    for (int i = 0; i < 16; i++) {
      const char c = rest[size_t(i)];
      const bool ok = i == 8 ? c == 'T' : i == 15 ? c == 'Z' : (c >= '0' && c <= '9');
      if (!ok) return "";
    }
    if (rest[16] != '-') return "";
    const std::string tail = rest.substr(17);
    const size_t dot = tail.find('.');
    if (dot == 0 || dot == std::string::npos || tail.substr(dot) != ".pcap") return "";
    for (size_t i = 0; i < dot; i++)
      if (tail[i] < '0' || tail[i] > '9') return "";
    return p;
  }
  return "";
}

bool IsCaptureName(const std::string& name) {
  for (const char* ext : {".pcap", ".pcapng", ".cap"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return uint64_t(st.st_size);
}

// Rotation files sort by name = by time; a sequence number that outgrew its
// 4 digits still sorts after the shorter ones of the same second.
bool RotationLess(const std::string& a, const std::string& b) {
  const std::string fa = fs::path(a).filename().string(), fb = fs::path(b).filename().string();
  if (fa.size() != fb.size() && fa.substr(0, 24) == fb.substr(0, 24)) return fa.size() < fb.size();
  return a < b;
}

uint32_t Get32(const uint8_t* p, bool swap) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swap ? __builtin_bswap32(v) : v;
}
uint16_t Get16(const uint8_t* p, bool swap) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return swap ? __builtin_bswap16(v) : v;
}

// Digits of the timestamp fraction a capture file holds: 9 for a nanosecond
// pcap, 6 for a microsecond one; for pcapng what its first interface's
// if_tsresol says (default microseconds). 9 when the file cannot be read
// (PcapInput reports why).
int TimestampDigits(const std::string& path) {
  uint8_t b[4096];
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return 9;
  const size_t n = std::fread(b, 1, sizeof b, f);
  std::fclose(f);
  if (n < 4) return 9;
  uint32_t magic;
  std::memcpy(&magic, b, 4);
  if (magic == 0xa1b2c3d4 || magic == 0xd4c3b2a1) return 6;
  if (magic != 0x0a0d0d0a || n < 12) return 9;
  // pcapng: section header block, then (usually) the interface description.
  const bool swap = Get32(b + 8, false) != 0x1a2b3c4d;
  size_t at = Get32(b + 4, swap);
  if (at < 28 || at + 20 > n) return 6;
  if (Get32(b + at, swap) != 1) return 6;  // not an IDB
  const size_t end = at + Get32(b + at + 4, swap);
  size_t opt = at + 16;
  while (opt + 4 <= n && opt + 4 <= end) {
    const uint16_t code = Get16(b + opt, swap), olen = Get16(b + opt + 2, swap);
    if (code == 0) break;
    if (code == 9 && olen >= 1 && opt + 5 <= n) {
      const uint8_t r = b[opt + 4];
      // 10^-r, or 2^-r when the top bit is set (2^-r needs r*log10(2) digits).
      const int digits = (r & 0x80) ? int(((r & 0x7f) * 30103 + 99999) / 100000) : int(r);
      return std::clamp(digits, 0, 9);
    }
    opt += 4 + ((olen + 3u) & ~3u);
  }
  return 6;
}

// The directory of a file, spelled one way whichever way the user named it.
std::string CanonDir(const std::string& file) {
  fs::path dir = fs::path(file).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(dir, ec);
  return ec ? dir.string() : c.string();
}

}  // namespace

Result<std::unique_ptr<CaptureSet>> CaptureSet::Open(const std::vector<std::string>& paths,
                                                     const CaptureSetOptions& opts) {
  if (paths.empty()) return Status::Error("no capture given: name one or more pcap/pcapng files or capture directories");
  if (opts.port != "inside" && opts.port != "outside" && opts.port != "all")
    return Status::Error("port \"" + opts.port + "\" is not one of inside, outside, all");

  // Series being built, keyed so that files of one honeywall series (by
  // directory and prefix) named on their own still form one series.
  std::vector<std::vector<std::string>> groups;
  std::map<std::pair<std::string, std::string>, size_t> series_of;  // (dir, prefix) -> group
  auto add_series_file = [&](const std::string& dir, const std::string& prefix, const std::string& path) {
    auto [it, fresh] = series_of.emplace(std::make_pair(dir, prefix), groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(path);
  };

  for (const std::string& path : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st))
      return Status::Error("cannot read " + path + ": no such file or directory (check the path)");
    if (fs::is_directory(st)) {
      std::vector<std::string> names;
      for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code fec;
        if (!it->is_regular_file(fec)) continue;
        const std::string name = it->path().filename().string();
        if (IsCaptureName(name)) names.push_back(name);
      }
      if (ec) return Status::Error("cannot list " + path + ": " + ec.message() + " (check that you may read it)");
      std::sort(names.begin(), names.end());
      const bool honeywall = std::any_of(names.begin(), names.end(),
                                         [](const std::string& n) { return !SeriesPrefix(n).empty(); });
      size_t taken = 0;
      for (const std::string& name : names) {
        const std::string full = (fs::path(path) / name).string();
        if (!honeywall) {
          groups.push_back({full});
          taken++;
          continue;
        }
        const std::string prefix = SeriesPrefix(name);
        if (prefix.empty() || (opts.port != "all" && prefix != opts.port)) continue;
        add_series_file(CanonDir(full), prefix, full);
        taken++;
      }
      if (taken == 0) {
        if (honeywall)
          return Status::Error(path + ": a honeywall capture directory without " + opts.port +
                               "-*.pcap files (try --port outside or --port all)");
        return Status::Error(path + ": no capture files (*.pcap, *.pcapng, *.cap) in this directory");
      }
      continue;
    }
    const std::string name = fs::path(path).filename().string();
    const std::string prefix = SeriesPrefix(name);
    if (prefix.empty()) {
      groups.push_back({path});
    } else {
      add_series_file(CanonDir(path), prefix, path);
    }
  }

  std::unique_ptr<CaptureSet> set(new CaptureSet());
  for (auto& g : groups) {
    // Explicitly named files of a series may come in any order (a shell glob
    // sorts them anyway); rotation order is name order. Drop duplicates.
    if (g.size() > 1) {
      std::sort(g.begin(), g.end(), RotationLess);
      g.erase(std::unique(g.begin(), g.end()), g.end());
    }
    auto s = std::make_unique<Series>();
    s->order = set->series_.size();
    for (const std::string& f : g) {
      s->files.push_back(set->files_.size());
      s->sizes.push_back(FileSize(f));
      set->total_bytes_ += s->sizes.back();
      set->files_.push_back(f);
    }
    set->series_.push_back(std::move(s));
  }

  // Prime every series with its first packet. A set in which no file opens
  // is an error (the first reason why); damage after a file opened is not.
  bool opened = false;
  for (auto& s : set->series_) {
    set->Advance(s.get());
    opened = opened || s->opened_any;
  }
  if (!opened) {
    std::string msg = set->errors_.empty() ? "no capture files to read" : set->errors_.front().message();
    if (set->errors_.size() > 1)
      msg += " (and " + std::to_string(set->errors_.size() - 1) + " more file(s) could not be read)";
    return Status::Error(msg);
  }
  set->heap_.reserve(set->series_.size());
  for (auto& s : set->series_)
    if (s->has_head) set->heap_.push_back(s.get());
  std::make_heap(set->heap_.begin(), set->heap_.end(), Later);
  return set;
}

CaptureSet::~CaptureSet() = default;

bool CaptureSet::Later(const Series* a, const Series* b) {
  if (a->head.rec.ts_ns != b->head.rec.ts_ns) return a->head.rec.ts_ns > b->head.rec.ts_ns;
  return a->order > b->order;
}

void CaptureSet::Advance(Series* s) {
  s->has_head = false;
  while (true) {
    if (s->in == nullptr) {
      if (s->at >= s->files.size()) return;
      const std::string& path = files_[s->files[s->at]];
      auto in = PcapInput::Open(path);
      if (!in.ok()) {
        errors_.push_back(in.status());
        s->done_bytes += s->sizes[s->at];
        s->at++;
        continue;
      }
      s->in = std::move(in.value());
      s->opened_any = true;
      s->ts_digits = TimestampDigits(path);
    }
    if (s->in->Next(&s->head.rec)) {
      s->head.linktype = s->in->linktype();
      s->head.ts_digits = s->ts_digits;
      s->head.file = &files_[s->files[s->at]];
      s->has_head = true;
      return;
    }
    if (!s->in->status().ok()) errors_.push_back(s->in->status());
    s->in.reset();
    s->done_bytes += s->sizes[s->at];
    s->at++;
  }
}

bool CaptureSet::Next(SetRecord* out) {
  // The series whose packet went out last time moves on now (its data was
  // valid until this call).
  if (pending_ != nullptr) {
    Series* s = pending_;
    pending_ = nullptr;
    Advance(s);
    if (s->has_head) {
      heap_.push_back(s);
      std::push_heap(heap_.begin(), heap_.end(), Later);
    }
  }
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), Later);
  Series* s = heap_.back();
  heap_.pop_back();
  *out = s->head;
  out->index = ++index_;
  pending_ = s;
  return true;
}

uint64_t CaptureSet::bytes_read() const {
  uint64_t n = 0;
  for (const auto& s : series_) {
    n += s->done_bytes;
    if (s->has_head) n += s->head.rec.offset;
  }
  return n;
}

}  // namespace hn
