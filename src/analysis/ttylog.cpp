// TTY logs: see ttylog.h.
#include "analysis/ttylog.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <set>

namespace hn {

namespace {

constexpr size_t kReadChunk = 128 * 1024;  // bytes asked of the kernel per read
constexpr size_t kInputLineMax = 256;      // typed bytes shown per marked line at most

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

void StoreLe64(uint64_t v, char* p) {
  for (int i = 0; i < 8; i++) {
    p[i] = char(uint8_t(v & 0xff));
    v >>= 8;
  }
}

std::string Errno() { return strerror(errno); }

}  // namespace

// ---- the record ------------------------------------------------------------

int64_t TtyRecord::TimeUs() const {
  constexpr uint64_t kMaxSec = uint64_t(INT64_MAX / 1'000'000) - 1;
  const uint64_t s = std::min(sec, kMaxSec);
  const uint64_t u = std::min<uint64_t>(usec, 999'999);
  return int64_t(s) * 1'000'000 + int64_t(u);
}

std::vector<std::string> TtyRecord::Argv() const {
  std::vector<std::string> argv;
  size_t start = 0;
  while (start < data.size()) {
    size_t nul = data.find('\0', start);
    if (nul == std::string::npos) nul = data.size();
    argv.emplace_back(data, start, nul - start);
    start = nul + 1;
  }
  return argv;
}

std::string TtyWhatName(uint64_t what) {
  switch (what) {
    case kTtyOpen: return "OPEN";
    case kTtyClose: return "CLOSE";
    case kTtyWrite: return "WRITE";
    case kTtyExec: return "EXEC";
    default: return std::to_string(what);
  }
}

std::string EncodeTtyRecord(uint64_t what, uint64_t tty, uint64_t direction, int64_t time_us,
                            std::string_view data) {
  std::string out(kTtyHeaderBytes, '\0');
  const int64_t t = std::max<int64_t>(time_us, 0);
  StoreLe64(what, &out[0]);
  StoreLe64(tty, &out[8]);
  StoreLe64(data.size(), &out[16]);
  StoreLe64(direction, &out[24]);
  StoreLe64(uint64_t(t / 1'000'000), &out[32]);
  StoreLe64(uint64_t(t % 1'000'000), &out[40]);
  out.append(data);
  return out;
}

TtyLogBuilder& TtyLogBuilder::Open(uint64_t tty, uint64_t parent, std::string_view name, int64_t time_us) {
  bytes_ += EncodeTtyRecord(kTtyOpen, tty, parent, time_us, name);
  return *this;
}

TtyLogBuilder& TtyLogBuilder::Close(uint64_t tty, int64_t time_us) {
  bytes_ += EncodeTtyRecord(kTtyClose, tty, 0, time_us, {});
  return *this;
}

TtyLogBuilder& TtyLogBuilder::Input(uint64_t tty, std::string_view bytes, int64_t time_us) {
  bytes_ += EncodeTtyRecord(kTtyWrite, tty, kTtyDirRead, time_us, bytes);
  return *this;
}

TtyLogBuilder& TtyLogBuilder::Output(uint64_t tty, std::string_view bytes, int64_t time_us) {
  bytes_ += EncodeTtyRecord(kTtyWrite, tty, kTtyDirWrite, time_us, bytes);
  return *this;
}

TtyLogBuilder& TtyLogBuilder::Exec(uint64_t tty, const std::vector<std::string>& argv, int64_t time_us) {
  std::string data;
  for (const std::string& a : argv) {
    data += a;
    data += '\0';
  }
  bytes_ += EncodeTtyRecord(kTtyExec, tty, 0, time_us, data);
  return *this;
}

TtyLogBuilder& TtyLogBuilder::Raw(std::string_view bytes) {
  bytes_.append(bytes);
  return *this;
}

Status TtyLogBuilder::AppendTo(const std::string& path) const {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Error("cannot open " + path + " for appending: " + Errno());
  size_t off = 0;
  while (off < bytes_.size()) {
    ssize_t n = write(fd, bytes_.data() + off, bytes_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status st = Status::Error("cannot write " + path + ": " + Errno());
      close(fd);
      return st;
    }
    off += size_t(n);
  }
  close(fd);
  return Status::Ok();
}

// ---- reading ---------------------------------------------------------------

TtyLogReader::TtyLogReader(int fd, std::string path, uint64_t offset)
    : fd_(fd), path_(std::move(path)), offset_(offset), buf_(kReadChunk + kTtyHeaderBytes + kTtyMaxData) {}

TtyLogReader::~TtyLogReader() {
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<TtyLogReader>> TtyLogReader::Open(const std::string& path, uint64_t offset) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Error("cannot open " + path + ": " + Errno());
  return std::unique_ptr<TtyLogReader>(new TtyLogReader(fd, path, offset));
}

bool TtyLogReader::Fill(size_t need, Status* err) {
  if (buf_len_ - buf_pos_ >= need) return true;
  if (buf_pos_ > 0) {  // keep the partial record at the front
    std::memmove(buf_.data(), buf_.data() + buf_pos_, buf_len_ - buf_pos_);
    buf_len_ -= buf_pos_;
    buf_pos_ = 0;
  }
  while (buf_len_ < need) {
    const uint64_t at = offset_ + buf_len_;
    ssize_t n = pread(fd_, buf_.data() + buf_len_, buf_.size() - buf_len_, off_t(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = Status::Error("cannot read " + path_ + " at offset " + std::to_string(at) + ": " + Errno());
      return false;
    }
    if (n == 0) return false;  // end of the file (for now)
    buf_len_ += size_t(n);
  }
  return true;
}

Result<TtyLogReader::Next> TtyLogReader::Read(TtyRecord* rec) {
  if (!error_.empty()) return Status::Error(error_);
  Status err;
  if (!Fill(kTtyHeaderBytes, &err)) {
    if (!err.ok()) return err;
    return pending() == 0 ? Next::kEnd : Next::kTruncated;
  }
  const uint8_t* h = buf_.data() + buf_pos_;
  const uint64_t what = LoadLe64(h), len = LoadLe64(h + 16), dir = LoadLe64(h + 24);
  std::string bad;
  if (what < kTtyOpen || what > kTtyExec) {
    bad = "unknown record type (what) " + std::to_string(what);
  } else if (len > kTtyMaxData) {
    bad = "length " + std::to_string(len) + " is over " + std::to_string(kTtyMaxData);
  } else if (what == kTtyWrite && dir != kTtyDirRead && dir != kTtyDirWrite) {
    bad = "data record with direction " + std::to_string(dir) + " (neither 1 READ nor 2 WRITE)";
  }
  if (!bad.empty()) {
    error_ = path_ + ": corrupt record at offset " + std::to_string(offset_) + ": " + bad +
             " (the file is damaged or not a tty log; what comes before it is usable)";
    return Status::Error(error_);
  }
  if (!Fill(kTtyHeaderBytes + len, &err)) {
    if (!err.ok()) return err;
    return Next::kTruncated;
  }
  h = buf_.data() + buf_pos_;  // Fill may have moved the bytes
  rec->what = what;
  rec->tty = LoadLe64(h + 8);
  rec->len = len;
  rec->direction = dir;
  rec->sec = LoadLe64(h + 32);
  rec->usec = LoadLe64(h + 40);
  rec->offset = offset_;
  rec->data.assign(reinterpret_cast<const char*>(h + kTtyHeaderBytes), len);
  buf_pos_ += kTtyHeaderBytes + len;
  offset_ += kTtyHeaderBytes + len;
  return Next::kRecord;
}

// ---- sessions --------------------------------------------------------------

std::string TtyCommand::Text() const {
  std::string s;
  for (const std::string& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

TtySessionTracker::TtySessionTracker(std::string honeypot, bool keep_commands)
    : honeypot_(std::move(honeypot)), keep_commands_(keep_commands) {}

TtySession* TtySessionTracker::Start(const TtyRecord& rec, bool opened) {
  TtySession s;
  s.honeypot = honeypot_;
  s.tty = rec.tty;
  s.ordinal = ++ordinals_[rec.tty];
  s.id = honeypot_ + ":" + std::to_string(rec.tty);
  if (s.ordinal > 1) s.id += "." + std::to_string(s.ordinal);
  s.seq = next_seq_++;
  s.opened = opened;
  s.start_us = s.end_us = rec.TimeUs();
  return &live_.insert_or_assign(rec.tty, std::move(s)).first->second;
}

TtySessionTracker::Step TtySessionTracker::Feed(const TtyRecord& rec) {
  Step step;
  auto it = live_.find(rec.tty);
  TtySession* s = nullptr;
  if (rec.what == kTtyOpen) {
    if (it != live_.end()) {  // reopened without a CLOSE: the old one ends here
      finished_.push_back(std::move(it->second));
      live_.erase(it);
      step.replaced = &finished_.back();
    }
    s = Start(rec, true);
    s->name = rec.data;
    if (rec.direction != 0 && rec.direction != rec.tty) {
      s->parent_tty = rec.direction;
      auto p = live_.find(rec.direction);
      if (p != live_.end()) {
        s->parent = p->second.id;
        if (keep_commands_) p->second.children.push_back(s->id);
      }
    }
    step.started = true;
  } else if (it == live_.end()) {
    s = Start(rec, false);
    step.started = true;
  } else {
    s = &it->second;
  }
  s->records++;
  s->end_us = std::max(s->end_us, rec.TimeUs());
  switch (rec.what) {
    case kTtyWrite:
      (rec.direction == kTtyDirRead ? s->bytes_in : s->bytes_out) += rec.len;
      break;
    case kTtyExec:
      if (keep_commands_) s->commands.push_back(TtyCommand{rec.TimeUs(), rec.Argv()});
      break;
    case kTtyClose: {
      s->closed = true;
      auto live = live_.find(rec.tty);
      finished_.push_back(std::move(live->second));
      live_.erase(live);
      s = &finished_.back();
      step.ended = true;
      break;
    }
    default: break;
  }
  step.session = s;
  return step;
}

void TtySessionTracker::Finish() {
  for (auto& [tty, s] : live_) finished_.push_back(std::move(s));
  live_.clear();
}

std::string HoneypotOfTtyLog(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  constexpr std::string_view kExt = ".ttylog";
  if (name.size() > kExt.size() && name.compare(name.size() - kExt.size(), kExt.size(), kExt) == 0)
    name.resize(name.size() - kExt.size());
  return name;
}

TtyLogScan ScanTtyLog(const std::string& path,
                      const std::function<void(const TtyRecord&, const TtySession&)>& on_record) {
  TtyLogScan scan;
  scan.path = path;
  scan.honeypot = HoneypotOfTtyLog(path);
  auto reader = TtyLogReader::Open(path);
  if (!reader.ok()) {
    scan.error = reader.status();
    return scan;
  }
  TtySessionTracker tracker(scan.honeypot);
  TtyRecord rec;
  for (;;) {
    auto next = (*reader)->Read(&rec);
    if (!next.ok()) {
      scan.error = next.status();
      break;
    }
    if (*next == TtyLogReader::Next::kEnd) break;
    if (*next == TtyLogReader::Next::kTruncated) {
      scan.truncated = true;
      scan.truncated_at = (*reader)->offset();
      scan.truncated_bytes = (*reader)->pending();
      break;
    }
    TtySessionTracker::Step step = tracker.Feed(rec);
    if (on_record) on_record(rec, *step.session);
  }
  tracker.Finish();
  scan.sessions = std::move(tracker.finished());
  std::sort(scan.sessions.begin(), scan.sessions.end(),
            [](const TtySession& a, const TtySession& b) { return a.seq < b.seq; });
  return scan;
}

Result<std::vector<std::string>> FindTtyLogs(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0)
      return Status::Error(p + ": " + Errno() + " (give a directory of *.ttylog files or a .ttylog file)");
    if (!S_ISDIR(st.st_mode)) {
      files.push_back(p);
      continue;
    }
    DIR* d = opendir(p.c_str());
    if (d == nullptr) return Status::Error("cannot list " + p + ": " + Errno());
    std::vector<std::string> found;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.empty() || name[0] == '.' || name.size() <= 7 || name.substr(name.size() - 7) != ".ttylog") continue;
      const std::string path = p + (p.back() == '/' ? "" : "/") + name;
      struct stat fst {};
      if (stat(path.c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) found.push_back(path);
    }
    closedir(d);
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

namespace {

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseTtySessionId(std::string_view id, std::string* honeypot, uint64_t* tty, uint32_t* ordinal) {
  const size_t colon = id.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view rest = id.substr(colon + 1);
  uint64_t ord = 1;
  const size_t dot = rest.find('.');
  if (dot != std::string_view::npos) {
    if (!ParseDecimal(rest.substr(dot + 1), &ord) || ord == 0 || ord > UINT32_MAX) return false;
    rest = rest.substr(0, dot);
  }
  if (!ParseDecimal(rest, tty)) return false;
  *honeypot = std::string(id.substr(0, colon));
  *ordinal = uint32_t(ord);
  return true;
}

// ---- replay ----------------------------------------------------------------

TtyPlayer::TtyPlayer(TtyPlayOptions opt, Write write, Sleep sleep)
    : opt_(opt), write_(std::move(write)), sleep_(std::move(sleep)) {
  if (!(opt_.speed > 0)) opt_.speed = 1.0;
}

void TtyPlayer::Pause(int64_t time_us) {
  if (opt_.wait && last_us_ >= 0 && time_us > last_us_) {
    double gap = double(time_us - last_us_);
    if (opt_.max_gap_us > 0) gap = std::min(gap, double(opt_.max_gap_us));
    gap /= opt_.speed;
    if (gap >= 1.0) sleep_(int64_t(gap));
  }
  if (time_us > last_us_) last_us_ = time_us;
}

void TtyPlayer::FlushInput() {
  std::string line;
  if (!at_line_start_) line += '\n';
  if (opt_.color) line += "\x1b[1;33m";
  line += kInputPrefix;
  for (unsigned char c : input_) {
    if (c >= 0x20 && c < 0x7f) {
      line += char(c);
    } else if (c == 0x7f) {
      line += "^?";
    } else if (c < 0x20) {
      line += '^';
      line += char(c + 0x40);
    } else {
      static const char kHex[] = "0123456789abcdef";
      line += "\\x";
      line += kHex[c >> 4];
      line += kHex[c & 15];
    }
  }
  if (opt_.color) line += "\x1b[0m";
  line += '\n';
  input_.clear();
  at_line_start_ = true;
  write_(line);
}

void TtyPlayer::Feed(const TtyRecord& rec) {
  if (rec.what != kTtyWrite || rec.data.empty()) return;
  const bool output = rec.direction == kTtyDirWrite;
  if (!output && !opt_.input) return;
  Pause(rec.TimeUs());
  if (output) {
    write_(rec.data);
    at_line_start_ = rec.data.back() == '\n';
    return;
  }
  for (char c : rec.data) {
    if (c == '\r' || c == '\n') {
      const bool crlf = c == '\n' && last_was_cr_ && input_.empty();
      last_was_cr_ = c == '\r';
      if (!crlf) FlushInput();  // Enter (a "\r\n" pair is one Enter)
      continue;
    }
    last_was_cr_ = false;
    input_ += c;
    if (input_.size() >= kInputLineMax) FlushInput();
  }
}

void TtyPlayer::Finish() {
  if (!input_.empty()) FlushInput();
}

Status PlayTtySession(const std::vector<std::string>& files, const std::string& id, const TtyPlayOptions& opt,
                      const TtyPlayer::Write& write, const TtyPlayer::Sleep& sleep) {
  std::string honeypot;
  uint64_t tty = 0;
  uint32_t ordinal = 1;
  if (!ParseTtySessionId(id, &honeypot, &tty, &ordinal))
    return Status::Error("\"" + id + "\" is not a session id: they look like hp1:3 or hp1:3.2 (see `honeynet tty list`)");
  std::vector<std::string> known;
  Status last_error;
  bool had_file = false;
  for (const std::string& file : files) {
    if (HoneypotOfTtyLog(file) != honeypot) continue;
    had_file = true;
    bool found = false;
    std::vector<char> decided;             // by session seq: 0 not yet, 1 played, 2 not
    std::set<std::string> played;          // session ids played (the target and its descendants)
    TtyPlayer player(opt, write, sleep);
    TtyLogScan scan = ScanTtyLog(file, [&](const TtyRecord& rec, const TtySession& s) {
      if (s.seq >= decided.size()) decided.resize(s.seq + 1, 0);
      if (decided[s.seq] == 0) {
        bool play = s.tty == tty && s.ordinal == ordinal;
        if (play) found = true;
        if (!play && opt.children && !s.parent.empty() && played.count(s.parent)) play = true;
        if (play) played.insert(s.id);
        decided[s.seq] = play ? 1 : 2;
      }
      if (decided[s.seq] == 1) player.Feed(rec);
    });
    player.Finish();
    if (found) return scan.error;
    if (!scan.error.ok()) last_error = scan.error;
    for (const TtySession& s : scan.sessions)
      if (known.size() < 12) known.push_back(s.id);
  }
  if (!had_file) return Status::Error("no tty log of honeypot \"" + honeypot + "\" (" + honeypot + ".ttylog) found");
  std::string msg = "no session " + id;
  if (!last_error.ok()) msg += " before the log became unreadable (" + last_error.message() + ")";
  if (known.empty()) {
    msg += ": " + honeypot + "'s log holds no sessions";
  } else {
    msg += "; " + honeypot + " has ";
    for (size_t i = 0; i < known.size(); i++) msg += (i ? ", " : "") + known[i];
    msg += " (`honeynet tty list` shows them all)";
  }
  return Status::Error(msg);
}

}  // namespace hn
