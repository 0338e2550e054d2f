// Declarations shared by the files that make up the lab (lab.h): lab.cpp
// (up/down/status orchestration), lab_util.cpp (small helpers, processes,
// signals), lab_state.cpp (state file, lock; lab_state.h), lab_topology.cpp
// (namespaces, veths/taps, port lock, teardown), lab_internet.cpp (the
// simulated internet hn-inet) and lab_guests.cpp (guests: plan, start, wait,
// reset). Internal: only src/lab/*.cpp may include it; everything here is in
// hn::lab_detail and may change with them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <signal.h>
#include <string>
#include <utility>
#include <vector>

#include "common/addr.h"
#include "common/status.h"
#include "config/config.h"
#include "lab/guest.h"
#include "lab/kernel.h"
#include "lab/lab.h"
#include "lab/lab_state.h"

namespace hn::lab_detail {

inline constexpr int kTelnetPort = 23;
inline constexpr int kTtyCaptureStopMs = 3000;
inline const char* const kInetNet = "192.0.2.0";  // the lab's "internet" /24 (TEST-NET-1)

// ---------------------------------------------------------------------------
// Signals (lab_util.cpp)

// Set by the signal handlers while `up` runs.
extern std::atomic<int> g_signal;

// Signal handlers for the time `up` runs; restored when it returns.
class SignalScope {
 public:
  SignalScope();
  ~SignalScope();

 private:
  static constexpr int kSigs[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3] {};
};

Status CheckInterrupt();

// ---------------------------------------------------------------------------
// Small helpers (lab_util.cpp)

std::string Errno();
int64_t MonoMs();
void SleepMs(int ms);
bool FileExists(const std::string& p);
std::optional<std::string> ReadFile(const std::string& p);
// The last n lines of a file, for error messages (control characters as \xNN).
std::string Tail(const std::string& path, size_t n);
// The end of a guest's console log without kernel stack-trace lines.
std::string ConsoleTail(const std::string& path);

std::string LabDir(const std::string& dd);
std::string StatePath(const std::string& dd);
std::string WallConfigPath(const std::string& dd);
std::string WallLogPath(const std::string& dd);
std::string ServicesLogPath(const std::string& dd);
std::string AlertsLogPath(const std::string& dd);
std::string CaptureDir(const std::string& dd);
std::string GuestDir(const std::string& dd, const std::string& name);
std::string TapName(size_t i);
std::string VethName(size_t i);  // a namespace honeypot's host end
std::string TtyLogPath(const std::string& dd, const std::string& name);

std::string PrefixText(const Ip4Prefix& p);
std::string Join(const std::vector<std::string>& v, const std::string& sep);
std::string Seconds(double s);
// "1:02:03" / "2:03" for an uptime in seconds.
std::string Duration(int64_t s);

// ---------------------------------------------------------------------------
// Processes (lab_util.cpp)

ProcRef RefOf(int pid);
bool Alive(const ProcRef& p);
// Reaps children of this process that ended (the wall and services of a
// foreground `up`), so they do not linger as zombies.
void ReapChildren();
// SIGTERM, wait, SIGKILL. Returns how it ended ("" when it was not running).
std::string StopProc(const ProcRef& p, int term_ms);
// Starts argv detached (own session) inside network namespace ns with stdout
// and stderr to log_path (truncated), once record(ref) has run.
Result<ProcRef> SpawnInNetns(const std::string& ns, const std::vector<std::string>& args,
                             const std::string& log_path, const std::function<Status(const ProcRef&)>& record);
// Waits until the log holds a line containing word, the process ends, the
// deadline passes or a signal arrives.
Status WaitForLogLine(const std::string& log, const std::string& word, const ProcRef& p, int timeout_ms,
                      const std::string& what);

// ---------------------------------------------------------------------------
// Topology: namespaces, interfaces, teardown (lab_topology.cpp)

bool NetnsExists(const std::string& ns);
// hn-wall, hn-inet and every namespace honeypot's hn-g-* and UML guest's
// hn-u-* on this machine (what `down --force` removes without a state file).
std::vector<std::string> LabNamespacesOnHost();
Status Ip(const std::vector<std::string>& args);
bool AnythingAlive(const LabState& s);
// Takes down everything the state names (and, with extra_ns, those namespaces
// too). Keeps going past errors and reports them all at the end.
Status DownLocked(const std::string& dd, const std::optional<LabState>& state,
                  const std::vector<std::string>& extra_ns, const Say& say);

// ---------------------------------------------------------------------------
// The simulated internet hn-inet (lab_internet.cpp)

// The upstream gateway in hn-inet: outside.gateway (nat), else 192.0.2.1.
Ip4 UpstreamGateway(const Config& c);
// True when target:23 accepts a connection from hn-inet and sends something.
bool TelnetAnswers(const std::string& ns, Ip4 target);
// Where readiness probes run: hn-inet, or the host's namespace ("") with [uplink].
inline std::string ProbeNs(const LabState& st) { return st.uplink ? std::string() : std::string(kInetNs); }

// ---------------------------------------------------------------------------
// Guests (lab_guests.cpp)

bool IsNetns(const GuestRec& g);
bool GuestRecRunning(const GuestRec& g);
// Any process of the guest left (also after a crash that lost the main one).
bool GuestRecAnyProcess(const GuestRec& g);
int GuestRecPid(const GuestRec& g);
int64_t GuestRecStarted(const GuestRec& g);
std::string GuestRecLog(const GuestRec& g);
// Stops a guest (a namespace honeypot's TTY capture too).
Status StopGuestRec(const GuestRec& g);
// Waits until every guest in idx answers telnet; fails when one stops, on a
// signal, or at the deadline.
Status WaitGuestsAnswer(LabState& st, const std::vector<size_t>& idx, int timeout_ms, const Say& say,
                        int64_t t0_ms);
// The guests' records (specs) for the lab's wall config.
std::vector<GuestRec> PlanGuests(const Config& wc, const std::string& dd,
                                 const std::map<std::string, std::string>& images,
                                 const std::map<std::string, std::string>& rootfs, const LabKernel& kernel);

// ---------------------------------------------------------------------------
// Reset schedule (lab_schedule.cpp): a foreground `up` (the service) resets
// each honeypot that has been idle for its reset_idle, or is older than its
// reset_max_age (plus jitter), archiving its changes first when asked.

class ResetSchedule {
 public:
  explicit ResetSchedule(std::string data_dir);
  // Called about once a second with LabStatus(); resets what is due.
  void Tick(const nlohmann::json& status, const Say& say);

 private:
  struct Boot {
    int64_t booted = 0;    // unix time the guest booted (as status shows it)
    int64_t jitter_s = 0;  // drawn once per boot
  };
  std::string dd_;
  bool loaded_ = false;
  int64_t next_look_ = 0;
  std::map<std::string, HoneypotConfig> cfg_;  // honeypots with a schedule
  std::map<std::string, Boot> boots_;
};

// ---------------------------------------------------------------------------
// lab.cpp

// Reads "/proc/self/exe" when the caller gave no binary.
std::string SelfExe(const std::string& given);

// The steps of `up`; each records what it makes in the state before making it.
// Defined by concern: lab_topology.cpp (AddNamespace, AddLinks,
// UmlGuestNetwork, PortLock, Namespaces, Interfaces), lab_internet.cpp
// (Internet, Services), lab.cpp (Wall), lab_guests.cpp (Guests).
struct Builder {
  LabState& st;
  const Config& wc;
  const LabOptions& opt;
  const std::map<std::string, std::string>& images;  // kind -> image path
  const Say& say;
  const UplinkPlan* uplink = nullptr;  // [uplink]: no hn-inet, the host's network (uplink.h)

  Status Save() { return SaveState(st); }

  Status AddNamespace(const std::string& ns);
  // Records the interfaces, then runs the ip command that makes them.
  Status AddLinks(const std::vector<std::pair<std::string, std::string>>& links, const std::vector<std::string>& cmd);
  Status UmlGuestNetwork(size_t i, const GuestSpec& g);
  Status PortLock();
  Status Namespaces();
  Status Interfaces();
  Status Internet();
  Status Services();
  Status Wall();
  Status Alerts();  // [alerts]: `honeynet alerts --data-dir DATA` in the host's namespace (lab.cpp)
  Status Guests();
};

}  // namespace hn::lab_detail
