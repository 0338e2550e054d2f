// PcapInput: see pcap_input.h.
#include "analysis/pcap_input.h"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace hn {

namespace {

pcap_t* Pcap(void* p) { return static_cast<pcap_t*>(p); }

// sec.frac (frac in ns, as libpcap gives it with nanosecond precision) as ns,
// saturated: a pcapng timestamp can be any 64-bit count of any unit.
int64_t ToNs(int64_t sec, int64_t frac_ns) {
  const __int128 ns = __int128(sec) * 1'000'000'000 + frac_ns;
  if (ns > INT64_MAX) return INT64_MAX;
  if (ns < INT64_MIN) return INT64_MIN;
  return int64_t(ns);
}

// What a libpcap read error means for the person reading the file.
const char* Hint(const std::string& what) {
  if (what.find("truncated") != std::string::npos)
    return "the file ends inside a packet: it was probably still being written, or was cut short";
  return "the file is damaged from here on";
}

}  // namespace

Result<std::unique_ptr<PcapInput>> PcapInput::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return Status::Error("cannot open " + path + ": " + std::strerror(errno) +
                         " (check the path and that you may read it)");
  struct stat st {};
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::fclose(f);
    return Status::Error(path + " is a directory: give a capture file (.pcap or .pcapng) inside it");
  }
  return FromStream(f, path);
}

Result<std::unique_ptr<PcapInput>> PcapInput::OpenStream(FILE* f, const std::string& name) {
  if (f == nullptr) return Status::Error(name + ": no stream to read (it could not be opened)");
  return FromStream(f, name);
}

Result<std::unique_ptr<PcapInput>> PcapInput::FromStream(FILE* f, const std::string& name) {
  // libpcap calls an empty file a "truncated dump file"; say what it is.
  const int first = std::getc(f);
  if (first == EOF) {
    const bool failed = std::ferror(f);
    const int err = errno;
    std::fclose(f);
    if (failed) return Status::Error(name + ": byte 0: read error: " + std::strerror(err));
    return Status::Error(name + ": byte 0: empty file (0 bytes): not a pcap or pcapng capture");
  }
  std::ungetc(first, f);

  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) {
    std::fclose(f);  // pcap_fopen_offline leaves it open when it fails
    return Status::Error(name + ": byte 0 (file header): " + errbuf +
                         " (not a pcap or pcapng capture, or its header is damaged)");
  }
  std::unique_ptr<PcapInput> in(new PcapInput());
  in->pcap_ = p;
  in->file_ = f;
  in->name_ = name;
  in->linktype_ = pcap_datalink(p);
  const int snap = pcap_snapshot(p);
  in->snaplen_ = snap > 0 ? uint32_t(snap) : 0;
  return in;
}

PcapInput::~PcapInput() {
  if (pcap_ != nullptr) pcap_close(Pcap(pcap_));  // closes file_ too
}

bool PcapInput::Next(PcapRecord* rec) {
  if (done_) return false;
  // Where this record starts: stdio's position, which counts what libpcap has
  // consumed (not what stdio has buffered). -1 for streams without one (pipes).
  const long at = std::ftell(file_);
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  const int r = pcap_next_ex(Pcap(pcap_), &h, &d);
  if (r == 1) {
    rec->ts_ns = ToNs(int64_t(h->ts.tv_sec), int64_t(h->ts.tv_usec));
    rec->caplen = h->caplen;
    rec->len = h->len;
    rec->data = d;
    rec->offset = at < 0 ? 0 : uint64_t(at);
    packets_++;
    return true;
  }
  done_ = true;
  if (r == PCAP_ERROR_BREAK) return false;  // the clean end of the file
  const std::string what = r == PCAP_ERROR ? pcap_geterr(Pcap(pcap_)) : "libpcap returned no packet and no error";
  const std::string where = at < 0 ? std::string("at an unknown byte") : "byte " + std::to_string(at);
  status_ = Status::Error(name_ + ": " + where + " (after " + std::to_string(packets_) + " packets): " + what +
                          " (" + Hint(what) + "; the packets before it were read)");
  return false;
}

}  // namespace hn
