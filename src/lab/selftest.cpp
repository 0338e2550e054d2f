// Selftest: see selftest.h.
#include "lab/selftest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lab/services.h"

namespace hn {
namespace {

using json = nlohmann::json;

constexpr unsigned char kIac = 255, kDont = 254, kDo = 253, kWont = 252, kWill = 251, kSb = 250, kSe = 240;
constexpr int kNcTimeoutS = 2;

int64_t MonoMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t WallNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

uint64_t FileSize(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// The bytes of a file from offset on.
std::string ReadFrom(const std::string& path, uint64_t offset) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  f.seekg(std::streamoff(offset));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

// Printable version of guest output for messages (last n characters).
std::string Shown(const std::string& s, size_t n = 200) {
  std::string t = s.size() > n ? s.substr(s.size() - n) : s;
  std::string out;
  for (unsigned char c : t) {
    if (c == '\r') continue;
    if (c == '\n') {
      out += " | ";
    } else if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    }
  }
  return out;
}

// A telnet session from the attacker host that refuses every option.
class TelnetSession {
 public:
  ~TelnetSession() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Connect(const std::string& dst, int timeout_ms) {
    auto fd = ConnectInNetns(kInetNs, kAttackerIp, dst, 23, timeout_ms);
    if (!fd.ok()) return fd.status();
    fd_ = fd.value();
    return Status::Ok();
  }
  // Waits for one of words in the data received since the last Clear(). The
  // word found goes to *which (its index).
  Status Expect(const std::vector<std::string>& words, int timeout_ms, size_t* which = nullptr) {
    const int64_t end = MonoMs() + timeout_ms;
    for (;;) {
      for (size_t i = 0; i < words.size(); i++) {
        if (data_.find(words[i]) != std::string::npos) {
          if (which) *which = i;
          return Status::Ok();
        }
      }
      int left = int(end - MonoMs());
      if (left <= 0) {
        return Status::Error("waited " + std::to_string(timeout_ms / 1000) + " s for '" + words[0] +
                             "'; got: " + Shown(data_));
      }
      pollfd p{fd_, POLLIN, 0};
      int n = ::poll(&p, 1, std::min(left, 200));
      if (n < 0 && errno != EINTR) return Status::Error(std::string("poll: ") + std::strerror(errno));
      if (n <= 0) continue;
      unsigned char buf[4096];
      ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) return Status::Error("the guest closed the telnet connection; last output: " + Shown(data_));
      std::string replies;
      parser_.Feed(buf, size_t(r), &data_, &replies);
      if (!replies.empty()) {
        if (Status s = SendRaw(replies); !s.ok()) return s;
      }
    }
  }
  // Sends a line as a telnet client does (CR LF).
  Status SendLine(const std::string& line) { return SendRaw(line + "\r\n"); }
  void Clear() { data_.clear(); }
  const std::string& data() const { return data_; }

 private:
  Status SendRaw(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t w = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return Status::Error(std::string("telnet send: ") + std::strerror(errno));
      off += size_t(w);
    }
    return Status::Ok();
  }
  int fd_ = -1;
  TelnetParser parser_;
  std::string data_;
};

// Runs a command in the guest's shell; returns true when it printed ok_word.
// The words are written split by '' in the command line, so the terminal's
// echo of the line never matches, only the output does.
Result<bool> RunMarked(TelnetSession& t, const std::string& cmd, const std::string& ok_word,
                       const std::string& fail_word, int timeout_ms) {
  auto split = [](const std::string& w) { return w.substr(0, 2) + "''" + w.substr(2); };
  t.Clear();
  if (Status s = t.SendLine(cmd + " && echo " + split(ok_word) + " || echo " + split(fail_word)); !s.ok()) return s;
  size_t which = 0;
  if (Status s = t.Expect({ok_word, fail_word}, timeout_ms, &which); !s.ok()) return s;
  return which == 0;
}

struct Attempt {
  std::string addr;
  uint16_t port = 0;
  bool connected = false;
  bool ran = false;
};

// The pcap files of one side ("inside"/"outside") in the capture dir.
std::vector<std::string> PcapFiles(const std::string& dir, const std::string& side) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(side + "-", 0) == 0 && n.size() > 5 && n.substr(n.size() - 5) == ".pcap") out.push_back(dir + "/" + n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Longest run of byte b in p[0..n).
size_t LongestRun(const unsigned char* p, size_t n, unsigned char b) {
  size_t best = 0, cur = 0;
  for (size_t i = 0; i < n; i++) {
    cur = p[i] == b ? cur + 1 : 0;
    best = std::max(best, cur);
  }
  return best;
}

// Polls fn() (returns a "missing" description, empty when satisfied) until it
// is satisfied or the deadline passes; returns the last description.
std::string PollUntil(int timeout_ms, const std::function<std::string()>& fn) {
  const int64_t end = MonoMs() + timeout_ms;
  for (;;) {
    std::string missing = fn();
    if (missing.empty() || MonoMs() >= end) return missing;
    SleepMs(100);
  }
}

}  // namespace

void TelnetParser::Feed(const unsigned char* p, size_t n, std::string* data, std::string* replies) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    switch (state) {
      case 0:
        if (c == kIac) {
          state = 1;
        } else {
          data->push_back(char(c));
        }
        break;
      case 1:
        if (c == kIac) {
          data->push_back(char(c));  // escaped 255
          state = 0;
        } else if (c == kDo || c == kDont || c == kWill || c == kWont) {
          cmd = c;
          state = 2;
        } else if (c == kSb) {
          state = 3;
        } else {
          state = 0;  // NOP, GA, ...: nothing to do
        }
        break;
      case 2:
        // Refuse everything: we do nothing, and want the server to do nothing.
        if (cmd == kDo) *replies += std::string{char(kIac), char(kWont), char(c)};
        if (cmd == kWill) *replies += std::string{char(kIac), char(kDont), char(c)};
        state = 0;
        break;
      case 3:
        if (c == kIac) state = 4;
        break;
      case 4:
        state = c == kSe ? 0 : 3;
        break;
    }
  }
}

int CountPingPayloads(const std::vector<std::string>& pcaps, const std::string& src, const std::string& dst,
                      bool request, unsigned char pattern, size_t min_run, int64_t since_ns) {
  int count = 0;
  uint32_t want_src = 0, want_dst = 0;
  if (!src.empty()) inet_pton(AF_INET, src.c_str(), &want_src);
  if (!dst.empty()) inet_pton(AF_INET, dst.c_str(), &want_dst);
  for (const std::string& path : pcaps) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* pc = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    if (!pc) continue;
    if (pcap_datalink(pc) != DLT_EN10MB) {
      pcap_close(pc);
      continue;
    }
    pcap_pkthdr* h;
    const u_char* d;
    while (pcap_next_ex(pc, &h, &d) == 1) {
      int64_t ts = int64_t(h->ts.tv_sec) * 1'000'000'000 + h->ts.tv_usec;  // nanosecond precision
      if (ts < since_ns) continue;
      size_t len = h->caplen, off = 12;
      if (len < 14) continue;
      uint16_t type = uint16_t(d[off] << 8 | d[off + 1]);
      off += 2;
      while ((type == 0x8100 || type == 0x88a8) && len >= off + 4) {
        type = uint16_t(d[off + 2] << 8 | d[off + 3]);
        off += 4;
      }
      if (type != 0x0800 || len < off + 20) continue;
      const u_char* ip = d + off;
      size_t ihl = size_t(ip[0] & 0x0f) * 4;
      if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 1 || len < off + ihl + 8) continue;
      if ((ip[6] & 0x1f) != 0 || ip[7] != 0) continue;  // a later fragment: no ICMP header
      uint32_t s, t;
      std::memcpy(&s, ip + 12, 4);
      std::memcpy(&t, ip + 16, 4);
      if ((want_src && s != want_src) || (want_dst && t != want_dst)) continue;
      const u_char* icmp = ip + ihl;
      if (icmp[0] != (request ? 8 : 0)) continue;
      if (LongestRun(icmp + 8, len - off - ihl - 8, pattern) >= min_run) count++;
    }
    pcap_close(pc);
  }
  return count;
}

Result<std::vector<SelftestCheck>> RunSelftest(const SelftestOptions& opt, const Say& say) {
  auto progress = [&](const std::string& s) {
    if (say) say(s);
  };
  auto status = LabStatus(opt.data_dir);
  if (!status.ok()) return status.status();
  const json& st = status.value();
  if (!st.value("up", false)) {
    return Status::Error("no lab is up in " + opt.data_dir + ": start one with `honeynet up --detach` first");
  }
  if (!st.value("ready", false)) return Status::Error("the lab in " + opt.data_dir + " is not ready yet (see `honeynet status`)");
  if (!st["wall"].value("running", false)) return Status::Error("the honeywall of the lab is not running (see `honeynet status`)");
  json hp;
  for (const auto& h : st["honeypots"]) {
    if (opt.honeypot.empty() || h.value("name", "") == opt.honeypot) {
      hp = h;
      break;
    }
  }
  if (hp.is_null()) return Status::Error("no honeypot named " + opt.honeypot + " in the lab");
  const std::string name = hp.value("name", "");
  if (!hp.value("running", false)) return Status::Error("honeypot " + name + " is not running");
  const std::string private_ip = hp.value("address", "").substr(0, hp.value("address", "").find('/'));
  const std::string target = hp.value("telnet", "").substr(0, hp.value("telnet", "").find(':'));
  const std::string public_ip = hp["public_address"].is_string() ? hp["public_address"].get<std::string>() : private_ip;
  const std::string cap_dir = st["capture"].value("dir", "");
  const std::string events_path = cap_dir + "/events.json", log_path = cap_dir + "/honeywall.log";

  // Budgets left before we start (stats.json is rewritten every second).
  int tcp_left = -1, icmp_left = -1, tcp_limit = -1;
  for (int i = 0; i < 30 && tcp_left < 0; i++) {
    auto s2 = LabStatus(opt.data_dir);
    if (s2.ok()) {
      for (const auto& h : (*s2)["honeypots"]) {
        if (h.value("name", "") != name || !h["budgets"].is_object()) continue;
        tcp_left = h["budgets"].value("tcp", json::object()).value("left", -1);
        tcp_limit = h["budgets"].value("tcp", json::object()).value("limit", -1);
        icmp_left = h["budgets"].value("icmp", json::object()).value("left", -1);
      }
    }
    if (tcp_left < 0) SleepMs(100);
  }
  if (tcp_left < 0) {
    return Status::Error("no budget counters for " + name + " in " + cap_dir +
                         "/stats.json after 3 s: is the honeywall writing stats?");
  }
  const uint64_t events_off = FileSize(events_path), log_off = FileSize(log_path);

  std::vector<SelftestCheck> checks;
  // 1. Inbound telnet login from the attacker host.
  progress("telnet from the attacker " + std::string(kAttackerIp) + " to " + name + " at " + target + ":23 ...");
  TelnetSession t;
  SelftestCheck login{"inbound telnet login", false, ""};
  Status ls = t.Connect(target, 5000);
  if (ls.ok()) ls = t.Expect({"login:"}, 20000);
  if (ls.ok()) ls = t.SendLine(opt.user);
  if (ls.ok()) ls = t.Expect({"assword:"}, 10000);
  if (ls.ok()) {
    t.Clear();
    ls = t.SendLine(opt.password);
  }
  if (ls.ok()) {
    // A shell answers this; a refused login says so (busybox: "Login incorrect").
    SleepMs(100);
    ls = t.SendLine("echo HN''SHELL");
    size_t which = 0;
    if (ls.ok()) ls = t.Expect({"HNSHELL", "incorrect", "login:"}, 15000, &which);
    if (ls.ok() && which != 0) ls = Status::Error("login as " + opt.user + " refused: " + Shown(t.data()));
  }
  login.pass = ls.ok();
  login.detail = ls.ok() ? fmt::format("{} -> {}:23 ({}), logged in as {}", kAttackerIp, target, name, opt.user)
                         : ls.message();
  checks.push_back(login);
  if (!login.pass) {
    for (const char* n : {"outbound TCP budget", "attempts in events.json", "attempts in honeywall.log",
                          "ping payload in capture"}) {
      checks.push_back({n, false, "not run: no shell on " + name});
    }
    return checks;
  }

  // 2. Outbound TCP attempts from inside the guest.
  std::vector<Attempt> attempts;
  for (int i = 0; i < opt.attempts; i++) {
    Attempt a;
    a.addr = "192.0.2." + std::to_string(kOutsideHostFirst + i % (kOutsideHostLast - kOutsideHostFirst + 1));
    a.port = kLabTcpPorts[size_t(i) % kLabTcpPorts.size()];
    attempts.push_back(a);
  }
  const int expect_ok = std::min(opt.attempts, tcp_left);
  progress(fmt::format("{} outbound TCP connections from inside {} (TCP budget left: {} of {}; expecting {} to connect) ...",
                       opt.attempts, name, tcp_left, tcp_limit, expect_ok));
  std::string run_error;
  for (size_t i = 0; i < attempts.size(); i++) {
    Attempt& a = attempts[i];
    auto r = RunMarked(t,
                       fmt::format("nc -w {} {} {} </dev/null >/dev/null 2>&1", kNcTimeoutS, a.addr, a.port),
                       fmt::format("OK_{}_", i + 1), fmt::format("FAIL_{}_", i + 1), (kNcTimeoutS + 10) * 1000);
    if (!r.ok()) {
      run_error = fmt::format("attempt {} ({}:{}): {}", i + 1, a.addr, a.port, r.status().message());
      break;
    }
    a.ran = true;
    a.connected = r.value();
  }
  int n_ok = 0, n_fail = 0;
  bool order_ok = true;
  std::string got;
  for (size_t i = 0; i < attempts.size(); i++) {
    if (!attempts[i].ran) continue;
    got += attempts[i].connected ? "+" : "-";
    if (attempts[i].connected) {
      n_ok++;
    } else {
      n_fail++;
    }
    if (attempts[i].connected != (int(i) < expect_ok)) order_ok = false;
  }
  SelftestCheck budget{"outbound TCP budget", false, ""};
  budget.pass = run_error.empty() && n_ok == expect_ok && order_ok;
  budget.detail = fmt::format("{} attempts to 192.0.2.{}-{}: {} connected, {} blocked [{}]; expected the first {} "
                              "(TCP budget left {} of {})",
                              n_ok + n_fail, kOutsideHostFirst, kOutsideHostLast, n_ok, n_fail, got, expect_ok,
                              tcp_left, tcp_limit);
  if (!run_error.empty()) budget.detail += "; " + run_error;
  checks.push_back(budget);

  // 5 (run now, checked later). Three pings with a payload pattern.
  std::mt19937 rng{static_cast<uint32_t>(WallNs())};
  const unsigned char pattern = static_cast<unsigned char>(0x11 + rng() % 0xdd);
  const std::string ping_dst = "192.0.2." + std::to_string(kOutsideHostFirst);
  const int64_t ping_since = WallNs() - 1'000'000'000;
  progress(fmt::format("3 pings from {} to {} with payload pattern 0x{:02x} ...", name, ping_dst, pattern));
  auto ping = RunMarked(t, fmt::format("ping -c 3 -W 3 -s 56 -p {:02x} {} >/dev/null 2>&1", pattern, ping_dst),
                        "PING_OK_", "PING_FAIL_", 20000);
  t.SendLine("exit");

  // 3 and 4. Every attempt logged.
  progress("checking events.json and honeywall.log ...");
  std::string ev_detail, log_detail;
  std::string ev_missing = PollUntil(5000, [&] {
    std::vector<json> evs;
    for (const std::string& l : Lines(ReadFrom(events_path, events_off))) {
      try {
        json e = json::parse(l);
        if (e.value("event_type", "") == "honeywall" && e.value("honeypot", "") == name && e.value("proto", "") == "TCP")
          evs.push_back(e);
      } catch (const json::exception&) {
      }
    }
    std::vector<std::string> missing;
    int allowed = 0, dropped = 0;
    for (const Attempt& a : attempts) {
      if (!a.ran) continue;
      bool found = false;
      for (const json& e : evs) {
        if (e.value("dest_ip", "") != a.addr || e.value("dest_port", 0) != a.port) continue;
        const json h = e.value("honeywall", json::object());
        if (a.connected && h.value("action", "") == "allowed" && h.value("direction", "") == "outbound") found = true;
        if (!a.connected && h.value("action", "") == "dropped" && h.value("reason", "") == "budget_exhausted")
          found = true;
      }
      if (found) {
        (a.connected ? allowed : dropped)++;
      } else {
        missing.push_back(fmt::format("{}:{} ({})", a.addr, a.port, a.connected ? "allowed" : "dropped"));
      }
    }
    ev_detail = fmt::format("{} allowed outbound + {} dropped budget_exhausted events for {}", allowed, dropped, name);
    return missing.empty() ? std::string() : "missing: " + fmt::format("{}", fmt::join(missing, ", "));
  });
  checks.push_back({"attempts in events.json", ev_missing.empty() && run_error.empty(),
                    ev_detail + (ev_missing.empty() ? "" : "; " + ev_missing)});

  std::string log_missing = PollUntil(5000, [&] {
    std::vector<std::string> lines = Lines(ReadFrom(log_path, log_off));
    std::vector<std::string> missing;
    int out = 0, drop = 0;
    for (const Attempt& a : attempts) {
      if (!a.ran) continue;
      const std::string dst = " DST=" + a.addr + " ", dpt = " DPT=" + std::to_string(a.port) + " ";
      bool found = false;
      for (const std::string& l : lines) {
        if (l.find(dst) == std::string::npos || l.find(dpt) == std::string::npos) continue;
        if (a.connected && l.find("OUTBOUND TCP:") != std::string::npos) found = true;
        if (!a.connected && l.find("Drop TCP > ") != std::string::npos) found = true;
      }
      if (found) {
        (a.connected ? out : drop)++;
      } else {
        missing.push_back(fmt::format("{}:{}", a.addr, a.port));
      }
    }
    bool inbound = false;
    for (const std::string& l : lines) {
      if (l.find("INBOUND TCP:") != std::string::npos && l.find(std::string("SRC=") + kAttackerIp + " ") != std::string::npos &&
          l.find(" DPT=23 ") != std::string::npos)
        inbound = true;
    }
    if (!inbound) missing.push_back("the inbound telnet login (INBOUND TCP: SRC=" + std::string(kAttackerIp) + " DPT=23)");
    log_detail = fmt::format("{} 'OUTBOUND TCP:' + {} 'Drop TCP > {} attempts:' lines{}", out, drop, tcp_limit,
                             inbound ? ", and the inbound login" : "");
    return missing.empty() ? std::string() : "missing: " + fmt::format("{}", fmt::join(missing, ", "));
  });
  checks.push_back({"attempts in honeywall.log", log_missing.empty() && run_error.empty(),
                    log_detail + (log_missing.empty() ? "" : "; " + log_missing)});

  // 5. The ping payloads in the capture.
  progress("looking for the ping payloads in the pcap files ...");
  constexpr size_t kMinRun = 40;  // of 56 payload bytes (busybox puts a timestamp first)
  const bool icmp_allowed = icmp_left > 0;
  int in_req = 0, out_req = 0, out_rep = 0;
  std::string cap_missing = PollUntil(5000, [&] {
    in_req = CountPingPayloads(PcapFiles(cap_dir, "inside"), private_ip, ping_dst, true, pattern, kMinRun, ping_since);
    out_req = CountPingPayloads(PcapFiles(cap_dir, "outside"), public_ip, ping_dst, true, pattern, kMinRun, ping_since);
    out_rep = CountPingPayloads(PcapFiles(cap_dir, "outside"), ping_dst, public_ip, false, pattern, kMinRun, ping_since);
    if (in_req < 3) return std::string("fewer than 3 requests in the inside pcaps");
    if (icmp_allowed && (out_req < 3 || out_rep < 3)) return std::string("fewer than 3 requests/replies in the outside pcaps");
    return std::string();
  });
  SelftestCheck cap{"ping payload in capture", false, ""};
  const bool ping_ok = ping.ok() && ping.value();
  cap.pass = cap_missing.empty() && in_req == 3 && (!icmp_allowed || ping_ok);
  cap.detail = fmt::format("pattern 0x{:02x}: {} echo requests {} -> {} in inside-*.pcap, {} requests and {} replies "
                           "({}) in outside-*.pcap; ping {}",
                           pattern, in_req, private_ip, ping_dst, out_req, out_rep, public_ip,
                           !ping.ok() ? "did not finish: " + ping.status().message()
                                      : ping.value() ? "got replies" : (icmp_allowed ? "got NO replies" : "blocked (ICMP budget spent)"));
  if (!cap_missing.empty()) cap.detail += "; " + cap_missing;
  checks.push_back(cap);
  return checks;
}

std::string FormatSelftest(const std::vector<SelftestCheck>& checks) {
  size_t w = 5;
  for (const auto& c : checks) w = std::max(w, c.name.size());
  std::string o = fmt::format("{:<{}} | {:<6} | {}\n", "check", w, "result", "detail");
  o += std::string(w, '-') + "-+--------+-" + std::string(40, '-') + "\n";
  int fails = 0;
  for (const auto& c : checks) {
    o += fmt::format("{:<{}} | {:<6} | {}\n", c.name, w, c.pass ? "pass" : "FAIL", c.detail);
    if (!c.pass) fails++;
  }
  o += fails ? fmt::format("\nselftest: {} of {} checks FAILED\n", fails, checks.size())
             : fmt::format("\nselftest: all {} checks passed\n", checks.size());
  return o;
}

}  // namespace hn
