// Lab: the guests, either kind (UML guest, namespace honeypot) behind one
// set of questions: their plan from the config, start (and a namespace
// honeypot's TTY capture), waiting until they answer telnet, reset, console.
#include "lab/lab_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include <algorithm>
#include <set>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/sd_notify.h"
#include "common/fs.h"
#include "common/time_format.h"
#include "lab/containment.h"
#include "lab/guest.h"
#include "lab/nsguest.h"
#include "lab/run.h"

namespace hn::lab_detail {
namespace {

constexpr int kGuestStopMs = 10000;      // mconsole halt, then SIGKILL
constexpr int kTtyCaptureReadyMs = 20000;  // `honeynet tty capture` writes its ready file (BPF load: ~1 s, more when busy)

}  // namespace

// ---------------------------------------------------------------------------
// The two kinds of guest, behind one set of questions.

bool IsNetns(const GuestRec& g) { return g.kind == kKindNetns; }

bool GuestRecRunning(const GuestRec& g) { return IsNetns(g) ? NsGuestRunning(g.nst) : GuestRunning(g.spec, g.st); }

// Any process of the guest left (also after a crash that lost the main one).
bool GuestRecAnyProcess(const GuestRec& g) {
  return IsNetns(g) ? !NsGuestProcesses(g.nst).empty() : !GuestProcesses(g.spec).empty();
}

int GuestRecPid(const GuestRec& g) { return IsNetns(g) ? g.nst.pid : g.st.pid; }

int64_t GuestRecStarted(const GuestRec& g) { return IsNetns(g) ? g.nst.started_unix : g.st.started_unix; }

std::string GuestRecLog(const GuestRec& g) { return IsNetns(g) ? NsGuestConsoleLog(g.ns) : GuestConsoleLog(g.spec); }

// Stops a guest (a namespace honeypot's TTY capture too).
Status StopGuestRec(const GuestRec& g) {
  if (!IsNetns(g)) return StopGuest(g.spec, g.st, kGuestStopMs);
  Status s = StopNsGuest(g.ns, g.nst);
  StopProc(g.tty, kTtyCaptureStopMs);  // it ends by itself once the pid namespace is gone
  return s;
}

// ---------------------------------------------------------------------------
// Telnet readiness

// Waits until every guest in idx answers telnet; fails when one stops, on a
// signal, or at the deadline.
namespace {

Status StartGuestRec(LabState& st, GuestRec& g, const std::string& self_exe, const Say& say);

// How long a booting UML guest's console may stay silent, not answering
// telnet, before it counts as hung (kill, boot again). A boot writes a line
// every few hundred ms even on a busy machine; $HONEYNET_BOOT_STALL_MS
// shortens it for tests.
int64_t BootStallMs() {
  if (const char* e = std::getenv("HONEYNET_BOOT_STALL_MS"); e && *e) {
    const long long v = std::atoll(e);
    if (v >= 500) return v;
  }
  return 20000;
}
constexpr int kBootAttempts = 3;

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// The console's last non-empty line, for the log.
std::string LastConsoleLine(const std::string& path) {
  const std::string tail = ConsoleTail(path);
  size_t end = tail.find_last_not_of(" \n\r\t");
  if (end == std::string::npos) return "";
  size_t start = tail.rfind('\n', end);
  return tail.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

// Boot watchdog: a UML guest whose console stays silent for BootStallMs()
// without answering telnet is hung (seen on a busy machine: a guest stopped
// right after its "TUN/TAP backend" line and never came up). It is killed
// and booted again, at most kBootAttempts boots in all, each attempt said.
Status WaitGuestsAnswer(LabState& st, const std::vector<size_t>& idx, int timeout_ms, const Say& say,
                        int64_t t0_ms) {
  std::set<size_t> waiting(idx.begin(), idx.end());
  int64_t end = MonoMs() + timeout_ms;
  const int64_t stall_ms = BootStallMs();
  struct Watch {
    uint64_t console_bytes = 0;
    int64_t changed_ms = 0;
    int boots = 1;
  };
  std::map<size_t, Watch> watch;
  for (size_t i : idx) watch[i] = Watch{FileSize(GuestRecLog(st.guests[i])), MonoMs(), 1};
  // A UML guest is probed every 200 ms. A namespace honeypot only once its
  // telnetd listens (a cheap look, every 20 ms): a probe into a network that
  // is not up yet would wait out its connect timeout.
  int64_t next_uml_probe = 0;
  const bool systemd_watchdog = SdWatchdogUsec() > 0;
  int64_t next_watchdog_ms = 0;
  while (!waiting.empty()) {
    // Under systemd (a scheduled reset in the service) waiting is progress:
    // the watchdog hears from us every second while guests boot.
    if (systemd_watchdog && MonoMs() >= next_watchdog_ms) {
      SdNotify("WATCHDOG=1");
      next_watchdog_ms = MonoMs() + 1000;
    }
    const bool uml_turn = MonoMs() >= next_uml_probe;
    if (uml_turn) next_uml_probe = MonoMs() + 200;
    for (auto it = waiting.begin(); it != waiting.end();) {
      GuestRec& g = st.guests[*it];
      const bool probe = IsNetns(g) ? NsGuestListening(g.nst, kTelnetPort) : uml_turn;
      // A dedicated uplink NIC belongs to the honeywall: nothing on this
      // host reaches the guests, so ready means its telnetd listens (netns)
      // or its init said "ready" on the console (UML).
      if (probe && st.uplink && !st.uplink->nic.empty() &&
          (IsNetns(g) || ReadFileOrEmpty(GuestRecLog(g)).find("hn-init: ready") != std::string::npos)) {
        say(fmt::format("  {} is ready ({} after start)", g.spec.name, Seconds(double(MonoMs() - t0_ms) / 1000)));
        it = waiting.erase(it);
        continue;
      }
      if (probe && TelnetAnswers(ProbeNs(st), g.target)) {
        say(fmt::format("  {} answers telnet at {}:23 ({} after start)", g.spec.name, g.target.ToString(),
                        Seconds(double(MonoMs() - t0_ms) / 1000)));
        it = waiting.erase(it);
        continue;
      }
      if (!GuestRecRunning(g)) {
        return Status::Error("guest " + g.spec.name + " stopped while booting; its console (" + GuestRecLog(g) +
                             "):" + ConsoleTail(GuestRecLog(g)));
      }
      if (!IsNetns(g) && uml_turn) {
        Watch& w = watch[*it];
        const uint64_t now_bytes = FileSize(GuestRecLog(g));
        if (now_bytes != w.console_bytes) {
          w.console_bytes = now_bytes;
          w.changed_ms = MonoMs();
        } else if (MonoMs() - w.changed_ms >= stall_ms) {
          const std::string last = LastConsoleLine(GuestRecLog(g));
          if (w.boots >= kBootAttempts) {
            return Status::Error(fmt::format("guest {} hung while booting {} times (console silent for {} after "
                                             "\"{}\"); console ({}):{}",
                                             g.spec.name, w.boots, Seconds(double(stall_ms) / 1000), last,
                                             GuestRecLog(g), ConsoleTail(GuestRecLog(g))));
          }
          say(fmt::format("  {} hung while booting (console silent for {} after \"{}\"): killed, booting it again "
                          "(attempt {} of {})",
                          g.spec.name, Seconds(double(stall_ms) / 1000), last, w.boots + 1, kBootAttempts));
          if (Status s = StopGuestRec(g); !s.ok()) return s;
          if (Status s = StartGuestRec(st, g, SelfExe(""), say); !s.ok()) return s;
          if (Status s = SaveState(st); !s.ok()) return s;
          w.boots++;
          w.console_bytes = FileSize(GuestRecLog(g));
          w.changed_ms = MonoMs();
          end = std::max(end, MonoMs() + int64_t(timeout_ms) / 2);
        }
      }
      ++it;
    }
    if (waiting.empty()) break;
    if (g_signal.load()) return Status::Error("interrupted");
    if (MonoMs() >= end) {
      std::vector<std::string> names;
      for (size_t i : waiting) names.push_back(st.guests[i].spec.name);
      const GuestRec& g = st.guests[*waiting.begin()];
      return Status::Error("guest" + std::string(names.size() > 1 ? "s " : " ") + Join(names, ", ") +
                           " did not answer telnet within " + std::to_string(timeout_ms / 1000) + " s; console of " +
                           g.spec.name + " (" + GuestRecLog(g) + "):" + ConsoleTail(GuestRecLog(g)));
    }
    SleepMs(20);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Up

namespace {

// Starts `honeynet tty capture` for namespace honeypot g, whose pid 1 (ns)
// is held before its init: recorded in the state before it runs, in hn-wall
// (so `down` also finds it by namespace), appending to CAPTURE/tty/NAME.ttylog
// like a UML guest's kernel. Waits for its ready file (it has attached to the
// pid namespace) so init's first process is already seen. When it fails or
// this binary has no such command, says loudly that TTY capture is off for g
// and goes on: only a failure to save the state is an error.
Status StartTtyCapture(LabState& st, GuestRec& g, const NsGuestState& ns, const std::string& self_exe,
                       const Say& say) {
  StopProc(g.tty, kTtyCaptureStopMs);  // the previous run's (reset), if it is still there
  const std::string ready = g.spec.dir + "/tty-capture.ready";
  const std::string log = g.spec.dir + "/tty-capture.log";
  const std::string out = TtyLogPath(st.data_dir, g.spec.name);
  ::unlink(ready.c_str());
  auto off = [&](const std::string& why) {
    say("  WARNING: TTY capture is OFF for honeypot " + g.spec.name + ": `honeynet tty capture` " + why +
        ". What is typed in " + g.spec.name + " is not recorded (its network traffic still is).");
    return Status::Ok();
  };
  if (Status s = MakeDirs(CaptureDir(st.data_dir) + "/tty", 0750); !s.ok()) return off(s.message());
  auto ref = SpawnInNetns(kWallNs,
                          {self_exe, "tty", "capture", "--pid", std::to_string(ns.pid), "--out", out, "--name",
                           g.spec.name, "--ready-file", ready},
                          log, [&](const ProcRef& r) {
                            g.tty = r;
                            return SaveState(st);
                          });
  if (!ref.ok()) {
    if (!Alive(g.tty)) g.tty = ProcRef{};
    if (Status s = SaveState(st); !s.ok()) return s;
    return off("could not start: " + ref.status().message());
  }
  const int64_t end = MonoMs() + kTtyCaptureReadyMs;
  for (;;) {
    if (FileExists(ready)) return Status::Ok();
    ReapChildren();
    if (!Alive(g.tty)) return off("exited while starting; its output (" + log + "):" + Tail(log, 6));
    if (MonoMs() >= end || g_signal.load()) {
      StopProc(g.tty, kTtyCaptureStopMs);
      return off("was not ready within " + std::to_string(kTtyCaptureReadyMs / 1000) + " s (stopped it); its output (" +
                 log + "):" + Tail(log, 6));
    }
    SleepMs(10);
  }
}

// Starts guest g of the lab (either kind); a namespace honeypot's network
// namespace is in the state before it is made, its pid 1 before init runs.
Status StartGuestRec(LabState& st, GuestRec& g, const std::string& self_exe, const Say& say) {
  if (!IsNetns(g)) {
    auto gs = StartGuest(g.spec);
    if (!gs.ok()) return gs.status();
    g.st = gs.value();
    return SaveState(st);
  }
  if (std::find(st.namespaces.begin(), st.namespaces.end(), g.ns.netns) == st.namespaces.end()) {
    st.namespaces.push_back(g.ns.netns);
    st.links.emplace_back(g.ns.bridge_netns, g.ns.veth);
    if (Status s = SaveState(st); !s.ok()) return s;
  }
  auto before_init = [&](const NsGuestState& ns) -> Status {
    g.nst = ns;
    if (Status s = SaveState(st); !s.ok()) return s;
    return StartTtyCapture(st, g, ns, self_exe, say);
  };
  auto ns = StartNsGuest(g.ns, before_init);
  if (!ns.ok()) return ns.status();
  g.nst = ns.value();
  return SaveState(st);
}

}  // namespace

Status Builder::Guests() {
  for (GuestRec& g : st.guests) {
    if (Status s = CheckInterrupt(); !s.ok()) return s;
    if (Status s = StartGuestRec(st, g, opt.self_exe, say); !s.ok()) return s;
  }
  return Status::Ok();
}

// The guests' records (specs) for the lab's wall config.
// Every UML guest boots `kernel`; with TTY capture, each logs to
// CAPTURE/tty/NAME.ttylog. A namespace honeypot runs over rootfs[image] and
// joins the bridge by its veth hn-vethI (I: its index, as hn-tapI for UML);
// its TTY capture writes the same file.
std::vector<GuestRec> PlanGuests(const Config& wc, const std::string& dd,
                                 const std::map<std::string, std::string>& images,
                                 const std::map<std::string, std::string>& rootfs, const LabKernel& kernel) {
  std::vector<GuestRec> out;
  const bool nat = wc.mode == Mode::kNat;
  for (size_t i = 0; i < wc.honeypots.size(); i++) {
    const HoneypotConfig& hp = wc.honeypots[i];
    GuestRec g;
    g.image_kind = hp.image;
    g.spec.name = hp.name;
    g.spec.image = images.at(hp.image);
    g.spec.dir = GuestDir(dd, hp.name);
    g.spec.netns = GuestNetnsName(hp.name);
    g.spec.tap = TapName(i);
    // Containment: its own uid (containment.h) and cgroup; memory_max by
    // default also holds the guest's RAM file and UML's own (mem + 256M).
    g.spec.uid = GuestIdsFor(i).base;
    g.spec.cgroup = hp.name;
    g.spec.limits = GuestLimitsFrom(hp);
    g.spec.mac = hp.mac.value_or(LabGuestMac(i));
    if (nat) {
      g.spec.ip = Ip4Prefix{hp.ip, wc.inside_gateway_ip->len};
      g.spec.gateway = wc.inside_gateway_ip->addr;
      g.public_ip = hp.public_ip;
      g.target = *hp.public_ip;
    } else {
      g.spec.ip = Ip4Prefix{hp.ip, 24};
      g.spec.gateway = UpstreamGateway(wc);
      g.target = hp.ip;
    }
    g.spec.hostname = hp.hostname.empty() ? hp.name : hp.hostname;
    g.spec.dns = wc.dns_servers;
    g.spec.mem_mb = hp.mem_mb;
    g.spec.kernel = kernel.path;
    if (kernel.tty_log) g.spec.tty_log = TtyLogPath(dd, hp.name);
    if (hp.kind == kKindNetns) {
      g.kind = kKindNetns;
      g.spec.tap.clear();
      g.spec.netns.clear();
      g.spec.kernel.clear();
      g.spec.tty_log = TtyLogPath(dd, hp.name);
      NsGuestSpec& n = g.ns;
      n.name = g.spec.name;
      n.image = g.spec.image;
      n.dir = g.spec.dir;
      n.netns = NsGuestNetnsName(hp.name);
      n.bridge_netns = kWallNs;
      n.bridge = kLabBridge;
      n.veth = VethName(i);
      n.mac = g.spec.mac;
      n.ip = g.spec.ip;
      n.gateway = g.spec.gateway;
      n.hostname = g.spec.hostname;
      n.dns = g.spec.dns;
      n.unsafe = hp.unsafe;
      n.limits = GuestLimitsFrom(hp);
      const std::string key = hp.image + (hp.unsafe ? "/unsafe" : "");
      n.rootfs = rootfs.count(key) ? rootfs.at(key) : std::string();
    }
    out.push_back(g);
  }
  return out;
}

}  // namespace hn::lab_detail

namespace hn {

using namespace lab_detail;

namespace {

// Stops the guest and moves what it changed (UML: its COW file; netns: its
// upper image or directory) and a copy of its TTY log to
// DATA/lab/archive/NAME-<UTC>/; returns that directory. The reset that
// follows boots it pristine.
Result<std::string> ArchiveGuest(const std::string& dd, const GuestRec& g, const Say& say) {
  char stamp[32];
  const time_t now = ::time(nullptr);
  struct tm tm {};
  ::gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  const std::string dir = LabDir(dd) + "/archive/" + g.spec.name + "-" + stamp;
  if (Status s = MakeDirs(dir, 0750); !s.ok()) return s;
  if (Status s = StopGuestRec(g); !s.ok()) return s;
  std::vector<std::string> moved;
  auto move = [&](const std::string& from) -> Status {
    if (!PathExists(from)) return Status::Ok();
    const std::string to = dir + "/" + from.substr(from.rfind('/') + 1);
    if (::rename(from.c_str(), to.c_str()) != 0) {
      RunResult r = RunCommand({"mv", from, to});  // another file system
      if (r.exit_code != 0) return Status::Error("cannot archive " + from + " to " + dir + ": " + r.out);
    }
    moved.push_back(to);
    return Status::Ok();
  };
  if (IsNetns(g)) {
    if (Status s = move(g.ns.unsafe ? NsGuestUpperDir(g.ns) : NsGuestUpperImage(g.ns)); !s.ok()) return s;
  } else if (Status s = move(GuestCowPath(g.spec)); !s.ok()) {
    return s;
  }
  const std::string tty = TtyLogPath(dd, g.spec.name);
  if (PathExists(tty)) {
    RunResult r = RunCommand({"cp", "--sparse=always", tty, dir + "/"});
    if (r.exit_code == 0) moved.push_back(dir + "/" + tty.substr(tty.rfind('/') + 1));
  }
  say("  archived " + g.spec.name + ": " + (moved.empty() ? std::string("nothing had changed") : Join(moved, ", ")));
  return dir;
}

// One `reset` line appended to events.json (one write with O_APPEND: whole
// beside the honeywall's own lines).
void AppendResetEvent(const std::string& dd, const std::string& name, const std::string& reason,
                      const std::string& archive, const Status& result) {
  json j;
  j["timestamp"] = IsoTimeLocal(WallNowNs());
  j["event_type"] = "reset";
  j["honeypot"] = name;
  j["reset"] = {{"reason", reason},
                {"archive", archive.empty() ? json(nullptr) : json(archive)},
                {"ok", result.ok()}};
  if (!result.ok()) j["reset"]["error"] = result.message();
  const std::string line = j.dump() + "\n";
  const std::string path = CaptureDir(dd) + "/events.json";
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return;
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}

}  // namespace

Status LabReset(const std::string& dd, const std::string& name, const Say& say, const std::string& reason,
                bool archive) {
  if (::geteuid() != 0) return Status::Error("honeynet reset needs root");
  SignalScope signals;
  auto lock = LabLock::Take(dd, say);
  if (!lock.ok()) return lock.status();
  auto state = LoadState(dd);
  if (!state.ok()) return state.status();
  if (!state.value()) return Status::Error("no lab is up in " + dd + ": start one with `honeynet up`");
  LabState st = *state.value();
  auto it = std::find_if(st.guests.begin(), st.guests.end(), [&](const GuestRec& g) { return g.spec.name == name; });
  if (it == st.guests.end()) {
    std::vector<std::string> names;
    for (const GuestRec& g : st.guests) names.push_back(g.spec.name);
    return Status::Error("no honeypot named " + name + " in the lab (it has " + Join(names, ", ") + ")");
  }
  const int64_t t0 = MonoMs();
  std::string archived;
  if (archive) {
    auto a = ArchiveGuest(dd, *it, say);
    if (!a.ok()) return a.status();
    archived = a.value();
  }
  if (IsNetns(*it)) {
    GuestRec& g = *it;
    say("resetting " + name + ": stopping it, dropping its changes (" + NsGuestUpperDir(g.ns) +
        "), starting it pristine");
    const std::string exe = SelfExe("");
    auto before_init = [&](const NsGuestState& ns) -> Status {
      g.nst = ns;
      if (Status s = SaveState(st); !s.ok()) return s;
      return StartTtyCapture(st, g, ns, exe, say);
    };
    auto ns = ResetNsGuest(g.ns, g.nst, before_init);
    if (!ns.ok()) return ns.status();
    g.nst = ns.value();
  } else {
    say("resetting " + name + ": halting it, dropping its disk changes (" + GuestCowPath(it->spec) +
        "), booting it pristine");
    auto gs = ResetGuest(it->spec, it->st);
    if (!gs.ok()) return gs.status();
    it->st = gs.value();
  }
  if (Status s = SaveState(st); !s.ok()) return s;
  size_t idx = size_t(it - st.guests.begin());
  Status answered = WaitGuestsAnswer(st, {idx}, 120000, say, t0);
  AppendResetEvent(dd, name, reason, archived, answered);
  if (!answered.ok()) return answered;
  say(fmt::format("{} is pristine again ({})", name, Seconds(double(MonoMs() - t0) / 1000)));
  return Status::Ok();
}

Status LabConsole(const std::string& dd, const std::string& name, bool raw) {
  auto state = LoadState(dd);
  if (!state.ok()) return state.status();
  if (!state.value()) return Status::Error("no lab is up in " + dd + ": start one with `honeynet up`");
  for (const GuestRec& g : state.value()->guests) {
    if (g.spec.name != name) continue;
    if (!GuestRecRunning(g)) return Status::Error("honeypot " + name + " is not running");
    if (IsNetns(g)) {
      const std::string dd_opt = dd == kLabDefaultDataDir ? "" : " --data-dir " + dd;
      return Status::Error(
          "honeypot " + name + " is a namespace honeypot (kind = \"netns\"): it has no console.\n"
          "  Log in as the attacker does:  ip netns exec " + std::string(kInetNs) + " telnet " + g.target.ToString() +
          "   (root / root)\n"
          "  Or, as root here, a shell in all its namespaces:  nsenter -t " + std::to_string(g.nst.pid) +
          " -a /bin/sh\n"
          "  (that shell is one of its processes: the guest's ps shows it and its TTY capture records it;\n"
          "  `honeynet reset " + name + dd_opt + "` gives a pristine guest)");
    }
    return AttachConsole(g.spec, raw);
  }
  return Status::Error("no honeypot named " + name + " in the lab");
}

}  // namespace hn
