// TTY logs: reading what a honeypot's terminals carried (docs/tty-log.md for
// the record format, docs/tty.md for the commands built on this).
//
//   TtyLogReader        streaming reader of one file (or of a growing file:
//                       call Read() again after kEnd/kTruncated to get what was
//                       appended since). Tolerant: a truncated last record is
//                       reported (kTruncated), not an error; a header with
//                       len > 65536, an unknown `what`, or a data record whose
//                       direction is neither READ nor WRITE is corrupt: an
//                       error naming the file and the offset, and the reader
//                       stops there.
//   TtySessionTracker   records -> sessions (one tty from OPEN to CLOSE), with
//                       parent/children, bytes in/out, commands from EXEC.
//   ScanTtyLog          a whole file through both, for `honeynet tty list/play`.
//   TtyPlayer           renders a session's records as a replay (output bytes,
//                       optionally the typed input, marked), with pauses.
//   TtyLogBuilder       writes records (tests, tools).
//
// Session ids: "<honeypot>:<tty id>" for the first session of a tty id in a
// file, "<honeypot>:<tty id>.<n>" for the n-th (n >= 2) when the kernel reused
// the id after a CLOSE. Ids are stable as the file grows (the EventWriter's tty
// events carry the same ids). "<honeypot>:<tty id>.1" is accepted for the first.
//
// Who may call: anyone; nothing here is thread-safe per object.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hn {

// ---- the record ------------------------------------------------------------

inline constexpr uint64_t kTtyOpen = 1;
inline constexpr uint64_t kTtyClose = 2;
inline constexpr uint64_t kTtyWrite = 3;  // data, in either direction
inline constexpr uint64_t kTtyExec = 4;
inline constexpr uint64_t kTtyDirRead = 1;   // input: what the user typed
inline constexpr uint64_t kTtyDirWrite = 2;  // output: what the user saw
inline constexpr size_t kTtyHeaderBytes = 48;
inline constexpr uint64_t kTtyMaxData = 65536;

struct TtyRecord {
  uint64_t what = 0;
  uint64_t tty = 0;
  uint64_t len = 0;
  uint64_t direction = 0;  // WRITE: kTtyDirRead/kTtyDirWrite; OPEN: parent tty id
  uint64_t sec = 0;
  uint64_t usec = 0;
  uint64_t offset = 0;     // of the header in the file
  std::string data;        // len bytes

  // sec/usec as microseconds since 1970 (saturating: absurd times stay ordered).
  int64_t TimeUs() const;
  // EXEC: the arguments (each NUL-terminated in data; a last one without NUL is kept).
  std::vector<std::string> Argv() const;
};

// "OPEN", "CLOSE", "WRITE", "EXEC" or the number.
std::string TtyWhatName(uint64_t what);

// Encodes one record (header + data). time_us: microseconds since 1970.
std::string EncodeTtyRecord(uint64_t what, uint64_t tty, uint64_t direction, int64_t time_us,
                            std::string_view data);

// Builds a log in memory, record by record, for tests and tools.
class TtyLogBuilder {
 public:
  TtyLogBuilder& Open(uint64_t tty, uint64_t parent, std::string_view name, int64_t time_us);
  TtyLogBuilder& Close(uint64_t tty, int64_t time_us);
  TtyLogBuilder& Input(uint64_t tty, std::string_view bytes, int64_t time_us);   // READ
  TtyLogBuilder& Output(uint64_t tty, std::string_view bytes, int64_t time_us);  // WRITE
  TtyLogBuilder& Exec(uint64_t tty, const std::vector<std::string>& argv, int64_t time_us);
  // Appends raw bytes (e.g. a deliberately broken record).
  TtyLogBuilder& Raw(std::string_view bytes);
  const std::string& bytes() const { return bytes_; }
  // Appends the bytes to path (made 0640 if missing).
  Status AppendTo(const std::string& path) const;

 private:
  std::string bytes_;
};

// ---- reading ---------------------------------------------------------------

class TtyLogReader {
 public:
  enum class Next {
    kRecord,     // *rec filled
    kEnd,        // no more bytes (yet)
    kTruncated,  // the file ends inside a record (at offset()); a growing
                 // file may complete it later
  };

  // Opens path for reading from byte offset (a record boundary).
  static Result<std::unique_ptr<TtyLogReader>> Open(const std::string& path, uint64_t offset = 0);
  ~TtyLogReader();
  TtyLogReader(const TtyLogReader&) = delete;
  TtyLogReader& operator=(const TtyLogReader&) = delete;

  // The next record. Error: corrupt header (the message names the file and
  // the offset) or an I/O error; the reader stays stopped at that record.
  Result<Next> Read(TtyRecord* rec);

  // End of the last complete record read: where the next one starts.
  uint64_t offset() const { return offset_; }
  // Bytes after offset() seen at the last read (the partial record's size on kTruncated).
  uint64_t pending() const { return buf_len_ - buf_pos_; }
  const std::string& path() const { return path_; }

 private:
  TtyLogReader(int fd, std::string path, uint64_t offset);
  bool Fill(size_t need, Status* err);  // buffer holds >= need bytes from buf_pos_; false: not (yet)
  int fd_ = -1;
  std::string path_;
  uint64_t offset_ = 0;
  std::vector<uint8_t> buf_;
  size_t buf_pos_ = 0, buf_len_ = 0;
  std::string error_;  // sticky
};

// ---- sessions --------------------------------------------------------------

struct TtyCommand {
  int64_t time_us = 0;
  std::vector<std::string> argv;
  std::string Text() const;  // argv joined with spaces
};

struct TtySession {
  std::string id;            // "hp1:3" / "hp1:3.2" (see the top of this file)
  std::string honeypot;
  uint64_t tty = 0;
  uint32_t ordinal = 1;      // n-th session of this tty id in the file
  uint64_t seq = 0;          // order of starting in the file (0, 1, ...)
  std::string name;          // from OPEN, e.g. "pts/0"; "" without OPEN
  bool opened = false;       // started by an OPEN (false: the file began mid-session)
  bool closed = false;       // ended by a CLOSE (false: still open at the end of the file)
  uint64_t parent_tty = 0;   // from OPEN (0: none)
  std::string parent;        // the parent's session id ("" when unknown or none)
  std::vector<std::string> children;  // session ids, in start order
  int64_t start_us = 0;
  int64_t end_us = 0;        // CLOSE, or the session's last record
  uint64_t bytes_in = 0;     // READ bytes (typed)
  uint64_t bytes_out = 0;    // WRITE bytes (shown)
  uint64_t records = 0;
  std::vector<TtyCommand> commands;

  int64_t DurationUs() const { return end_us > start_us ? end_us - start_us : 0; }
};

// Turns records into sessions. A record of a tty with no open session (the
// file began mid-session, or data after a CLOSE) starts a session without
// OPEN. An OPEN of a tty that is open already ends that session (unclosed)
// and starts a new one.
class TtySessionTracker {
 public:
  struct Step {
    TtySession* session = nullptr;  // the record's session; valid until the next Feed/TakeFinished
    bool started = false;           // this record started it
    bool ended = false;             // a CLOSE ended it (it is now in finished())
    TtySession* replaced = nullptr; // an OPEN ended this still-open session of the same tty (now in finished())
  };

  // keep_commands: record EXEC argv and children in the sessions (the
  // EventWriter, which only needs ids and counts, passes false).
  explicit TtySessionTracker(std::string honeypot, bool keep_commands = true);

  Step Feed(const TtyRecord& rec);
  // Moves every open session to finished() (unclosed): the end of the file.
  void Finish();

  // Sessions that ended, in the order they ended.
  std::vector<TtySession>& finished() { return finished_; }
  // Sessions still open, by tty id.
  const std::map<uint64_t, TtySession>& live() const { return live_; }
  const std::string& honeypot() const { return honeypot_; }

 private:
  TtySession* Start(const TtyRecord& rec, bool opened);
  std::string honeypot_;
  bool keep_commands_;
  std::map<uint64_t, TtySession> live_;
  std::map<uint64_t, uint32_t> ordinals_;  // sessions seen per tty id
  std::vector<TtySession> finished_;
  uint64_t next_seq_ = 0;
};

// "hp1" from ".../hp1.ttylog" (the file name without .ttylog).
std::string HoneypotOfTtyLog(const std::string& path);

// One file read through: its sessions in start order.
struct TtyLogScan {
  std::string path;
  std::string honeypot;
  std::vector<TtySession> sessions;  // by seq
  bool truncated = false;            // the last record was incomplete
  uint64_t truncated_at = 0;         // its offset
  uint64_t truncated_bytes = 0;      // bytes of it present
  Status error;                      // corrupt or unreadable: sessions hold what came before
};

// Reads path whole; on_record (optional) sees every record with its session
// (as of that record) in file order.
TtyLogScan ScanTtyLog(const std::string& path,
                      const std::function<void(const TtyRecord&, const TtySession&)>& on_record = nullptr);

// The *.ttylog files named: a directory stands for its *.ttylog files (sorted),
// a file for itself. Error: a path that does not exist.
Result<std::vector<std::string>> FindTtyLogs(const std::vector<std::string>& paths);

// Splits "hp1:3" / "hp1:3.2" into honeypot, tty id and ordinal (1 when absent).
bool ParseTtySessionId(std::string_view id, std::string* honeypot, uint64_t* tty, uint32_t* ordinal);

// ---- replay ----------------------------------------------------------------

struct TtyPlayOptions {
  double speed = 1.0;        // pauses are divided by this (after the cap)
  bool wait = true;          // false: no pauses at all
  int64_t max_gap_us = 5'000'000;  // cap on the time between two records (0: no cap)
  bool input = false;        // also show what was typed (READ), marked
  bool color = false;        // mark input with colour (terminal) instead of a text prefix
  bool children = true;      // splice in the sessions opened from this one
};

// Turns a session's records (fed in file order) into output text and pauses.
// Output records are passed through byte for byte. Typed input is collected
// per line (up to Enter, or 256 bytes) and shown as its own line at the moment
// Enter was pressed: "[input] root" (control characters as ^X, other
// non-ASCII bytes as \xNN), coloured when options.color.
class TtyPlayer {
 public:
  using Write = std::function<void(std::string_view)>;
  using Sleep = std::function<void(int64_t us)>;
  TtyPlayer(TtyPlayOptions opt, Write write, Sleep sleep);

  // One record of the session (or of a spliced child). Data records are shown
  // after a pause: the time since the previous shown record, capped at
  // max_gap_us, divided by speed (none when the clock went back). Other
  // records show nothing.
  void Feed(const TtyRecord& rec);
  // Shows input typed but not ended by Enter.
  void Finish();

  static constexpr const char* kInputPrefix = "[input] ";

 private:
  void Pause(int64_t time_us);
  void FlushInput();
  TtyPlayOptions opt_;
  Write write_;
  Sleep sleep_;
  int64_t last_us_ = -1;
  bool at_line_start_ = true;
  std::string input_;
  bool last_was_cr_ = false;
};

// Finds session `id` in files and replays it (with its children when
// opt.children) through a TtyPlayer. Error: no such session (the message says
// which ids exist nearby), or the file is unreadable/corrupt before the
// session ended (what came before is still played).
Status PlayTtySession(const std::vector<std::string>& files, const std::string& id, const TtyPlayOptions& opt,
                      const TtyPlayer::Write& write, const TtyPlayer::Sleep& sleep);

}  // namespace hn
