// Lab: the virtual honeynet as a whole (see lab.h): up (the Builder's steps
// in order), down, status, and the lab's config. The parts live beside it:
// lab_state.cpp (state file, lock), lab_topology.cpp (namespaces,
// interfaces, teardown), lab_internet.cpp (hn-inet), lab_guests.cpp (guests,
// reset, console), lab_util.cpp (helpers, processes, signals); lab_internal.h
// declares what they share.
#include "common/fs.h"
#include "common/sd_notify.h"
#include "lab/lab.h"
#include "rules/rule_parser.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "lab/audit.h"
#include "lab/containment.h"
#include "lab/guest.h"
#include "lab/image.h"
#include "lab/kernel.h"
#include "lab/lab_health.h"
#include "lab/lab_internal.h"
#include "lab/nsguest.h"
#include "lab/run.h"

namespace hn {

using namespace lab_detail;

namespace {

constexpr int kMaxGuests = 64;          // hn-tap0..hn-tap63, MACs ..:00:02..:41
constexpr int64_t kLabStatsIntervalNs = 1'000'000'000;  // stats.json every second (status, the live line)
constexpr int kWallReadyMs = 30000;      // `honeynet wall` prints "ready" (waits up to 3 s for ARP)

// The honeynet command as a user would type it: "honeynet" when that is on
// PATH and the same binary, else the path it was started by.
std::string CommandName(const std::string& self_exe) {
  std::string on_path = FindProgram("honeynet");
  char a[4096], b[4096];
  if (!on_path.empty() && ::realpath(on_path.c_str(), a) && ::realpath(self_exe.c_str(), b) && std::string(a) == b)
    return "honeynet";
  return self_exe;
}

// How to use the lab, printed once it is ready.
std::string HowTo(const LabState& st, const LabOptions& opt) {
  const std::string hn = CommandName(opt.self_exe);
  const std::string dd = st.data_dir == kLabDefaultDataDir ? "" : " --data-dir " + st.data_dir;
  const GuestRec& g = st.guests.front();
  const std::string telnet = HaveProgram("telnet") ? "telnet" : "busybox telnet";
  std::vector<std::pair<std::string, std::string>> lines = {
      st.uplink ? std::pair<std::string, std::string>{
                      fmt::format("{} {}", telnet, st.uplink_addrs.empty() ? "" : st.uplink_addrs.front().second),
                      fmt::format("from another machine on the internet: {} answers (root / root)", g.spec.name)}
                : std::pair<std::string, std::string>{
                      fmt::format("ip netns exec {} {} {}", kInetNs, telnet, g.target.ToString()),
                      fmt::format("the attacker ({}) logs into {}: root / root", kAttackerIp, g.spec.name)},
      {hn + " status" + dd, "honeypots, budgets, counters, capture files"},
      IsNetns(g) ? std::pair<std::string, std::string>{hn + " console " + g.spec.name + dd,
                                                       "a namespace honeypot has no console: says how to get a shell"}
                 : std::pair<std::string, std::string>{hn + " console " + g.spec.name + dd,
                                                       "the guest's console (Ctrl-] leaves it)"},
      {hn + " selftest" + dd, "the paper's Part V, automated (spends budget)"},
      {hn + " reset " + g.spec.name + dd, "a pristine guest again"},
  };
  size_t w = 0;
  for (const auto& l : lines) w = std::max(w, l.first.size());
  std::string o = "\nTry it (as root):\n";
  for (const auto& l : lines) o += fmt::format("  {:<{}}  # {}\n", l.first, w, l.second);
  o += "Capture: " + st.capture_dir + " (pcap files, events.json, honeywall.log)\n";
  o += opt.detach ? "Stop it with: " + hn + " down" + dd + "\n"
                  : "Ctrl-C here (or " + hn + " down" + dd + ") stops it and removes everything it made.\n";
  return o;
}

// The live status line of a foreground `up`.
std::string StatusLine(const json& s, int64_t since_ms) {
  int up = 0, total = 0;
  for (const auto& h : s.value("honeypots", json::array())) {
    total++;
    if (h.value("running", false)) up++;
  }
  const json w = s.value("wall", json::object());
  const json frames = w.value("frames", json::object());
  uint64_t fr = frames.value("inside_rx", uint64_t(0)) + frames.value("outside_rx", uint64_t(0));
  return fmt::format("[{}] guests {}/{} up | wall {} | frames {} | drops {} | capture drops {} | Ctrl-C stops",
                     Duration((MonoMs() - since_ms) / 1000), up, total, w.value("running", false) ? "up" : "DOWN",
                     fr, w.value("drops", uint64_t(0)), w.value("capture_drops", uint64_t(0)));
}

// Foreground: the live status line until a signal, the wall's end or a `down`
// from elsewhere; then down.
Status RunForeground(const LabOptions& opt, const Say& say, int64_t t0_ms) {
  const bool tty = ::isatty(1);
  std::string reason;
  ResetSchedule schedule(opt.data_dir);
  const bool watchdog = SdWatchdogUsec() > 0;  // WatchdogSec= of the unit (docs/service.md)
  while (!g_signal.load()) {
    ReapChildren();
    auto st = LabStatus(opt.data_dir);
    if (!st.ok() || !st->value("up", false)) {
      if (tty) std::printf("\n");
      SdNotify("STOPPING=1");
      say("the lab was taken down by another command");
      return Status::Ok();
    }
    if (!(*st)["wall"].value("running", false)) {
      reason = "the honeywall stopped (see " + WallLogPath(opt.data_dir) + "):" + Tail(WallLogPath(opt.data_dir), 10);
      break;
    }
    // Scheduled resets of idle or old honeypots (lab_schedule.cpp).
    schedule.Tick(*st, say);
    if (tty) {
      std::printf("\r%s\033[K", StatusLine(*st, t0_ms).c_str());
      std::fflush(stdout);
    }
    if (watchdog) SdNotify("WATCHDOG=1");
    for (int i = 0; i < 10 && !g_signal.load(); i++) SleepMs(100);
  }
  if (tty) std::printf("\n");
  SdNotify("STOPPING=1");
  if (reason.empty()) say(std::string("stopping (") + strsignal(g_signal.load()) + ") ...");
  auto lock = LabLock::Take(opt.data_dir, say);
  if (!lock.ok()) return lock.status();
  auto state = LoadState(opt.data_dir);
  if (!state.ok()) return state.status();
  Status d = DownLocked(opt.data_dir, state.value(), {}, say);
  if (d.ok()) NoteLabStopped(opt.data_dir);
  if (!reason.empty()) return Status::Error(reason);
  return d;
}

}  // namespace

namespace lab_detail {

// Reads "/proc/self/exe" when the caller gave no binary.
std::string SelfExe(const std::string& given) {
  if (!given.empty()) return given;
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string("honeynet");
}

// Up: the Builder's step that starts the honeywall.
Status Builder::Wall() {
  auto ref = SpawnInNetns(kWallNs, {opt.self_exe, "wall", "--config", WallConfigPath(st.data_dir)},
                          WallLogPath(st.data_dir), [&](const ProcRef& r) {
                            st.wall = r;
                            return Save();
                          });
  if (!ref.ok()) return ref.status();
  return WaitForLogLine(WallLogPath(st.data_dir), "ready", st.wall, kWallReadyMs, "the honeywall (honeynet wall)");
}

// Up: [alerts] (docs/alerts.md). Not in the honeywall (confined, and it must
// never wait on a sink): its own process in the host's network namespace
// (webhooks and syslog are the host's), following the capture's events.json.
Status Builder::Alerts() {
  if (!wc.alerts) return Status::Ok();
  auto ref = SpawnInNetns("", {opt.self_exe, "alerts", "--data-dir", st.data_dir}, AlertsLogPath(st.data_dir),
                          [&](const ProcRef& r) {
                            st.alerts = r;
                            return Save();
                          });
  if (!ref.ok()) return ref.status();
  return WaitForLogLine(AlertsLogPath(st.data_dir), "ready", st.alerts, 10000, "the alerts (honeynet alerts)");
}

}  // namespace lab_detail

// ---------------------------------------------------------------------------
// Public API

Mac LabGuestMac(size_t index) {
  Mac m;
  m.b = {0x52, 0x54, 0x00, 0x4e, uint8_t((index + 2) >> 8), uint8_t(index + 2)};
  return m;
}

Config BuiltinLabConfig(const std::string& data_dir) {
  Config c;
  c.source = "<built-in lab>";
  c.mode = Mode::kNat;
  c.inside_gateway_ip = Ip4Prefix{*Ip4::Parse("10.0.0.1"), 24};
  c.outside_gateway = *Ip4::Parse("192.0.2.1");
  HoneypotConfig hp;
  hp.name = "hp1";
  hp.ip = *Ip4::Parse("10.0.0.2");
  hp.public_ip = *Ip4::Parse("192.0.2.10");
  hp.limits = c.limits;
  hp.image = "busybox";
  hp.mem_mb = 64;
  hp.hostname = "hp1";
  c.honeypots.push_back(hp);
  c.capture.dir = CaptureDir(data_dir);
  c.capture.stats_interval_ns = kLabStatsIntervalNs;
  return c;
}

Result<Config> LabWallConfig(const Config& cfg, const std::string& data_dir) {
  Config c = cfg;
  std::vector<std::string> errs;
  if (c.honeypots.empty()) errs.push_back("the lab needs at least one [[honeypot]]");
  if (c.honeypots.size() > size_t(kMaxGuests)) {
    errs.push_back(fmt::format("the lab runs at most {} honeypots, the config has {}", kMaxGuests, c.honeypots.size()));
  }
  // Interface names the lab uses itself in hn-wall.
  for (const PortConfig* p : {&c.inside, &c.outside}) {
    const std::string& n = p->interface;
    if (n == kLabBridge || n == kLabBridgeUplink || n.rfind("hn-tap", 0) == 0 || n.rfind("hn-veth", 0) == 0) {
      errs.push_back("interface name " + n +
                     " is one the lab uses itself (hn-br, hn-in-br, hn-tapN, hn-vethN): pick another");
    }
  }
  const std::vector<std::string> kinds = ImageKinds();
  const Ip4 gw = UpstreamGateway(c);
  for (size_t i = 0; i < c.honeypots.size(); i++) {
    HoneypotConfig& hp = c.honeypots[i];
    if (std::find(kinds.begin(), kinds.end(), hp.image) == kinds.end()) {
      errs.push_back("honeypot " + hp.name + ": image \"" + hp.image + "\" is not one the lab can build (" +
                     Join(kinds, ", ") + ")");
    }
    if (hp.kind == kKindNetns && hp.image != "busybox") {
      errs.push_back("honeypot " + hp.name + ": kind = \"netns\" runs the busybox image only, got image \"" +
                     hp.image + "\" (use kind = \"uml\" for it)");
    }
    if (!hp.mac) hp.mac = LabGuestMac(i);  // the honeywall knows each guest by its fixed MAC
    if (hp.hostname.empty()) hp.hostname = hp.name;
    Ip4 target = c.mode == Mode::kNat ? hp.public_ip.value_or(Ip4{}) : hp.ip;
    if (c.uplink) continue;  // real addresses: PlanUplink checks them against the host
    if (target.ToString() == kAttackerIp ||
        (Ip4Prefix{*Ip4::Parse(kInetNet), 24}.Contains(target) &&
         ((target.v & 0xff) >= uint32_t(kOutsideHostFirst) && (target.v & 0xff) <= uint32_t(kOutsideHostLast)))) {
      errs.push_back("honeypot " + hp.name + ": address " + target.ToString() +
                     " is taken by the lab's internet (attacker 192.0.2.66, outside hosts 192.0.2.20-31)");
    }
    if (c.mode == Mode::kBridge && !Ip4Prefix{gw, 24}.Contains(hp.ip)) {
      errs.push_back("honeypot " + hp.name + ": in bridge mode the lab puts honeypots in the upstream gateway's "
                     "network " + gw.ToString() + "/24; ip " + hp.ip.ToString() + " is not in it");
    }
  }
  if (!errs.empty()) return Status::Error(c.source + ": " + Join(errs, "\n" + c.source + ": "));
  c.capture.dir = CaptureDir(data_dir);
  c.capture.stats_interval_ns = kLabStatsIntervalNs;
  return c;
}

Status LabUp(const LabOptions& opt_in, const Say& say_out) {
  // Under systemd (Type=notify) each progress line is also the unit's STATUS=.
  const Say say = [&say_out](const std::string& l) {
    say_out(l);
    if (const std::string t = SdStatusText(l); !t.empty()) SdNotify("STATUS=" + t);
  };
  // `honeynet up | tee up.log` and Ctrl-C: tee dies first, and the next status
  // line would kill us with SIGPIPE before the teardown. Ignored, a broken
  // stdout only makes writes fail (children reset it to the default).
  std::signal(SIGPIPE, SIG_IGN);
  LabOptions opt = opt_in;
  opt.self_exe = SelfExe(opt.self_exe);
  const std::string& dd = opt.data_dir;
  if (::geteuid() != 0) {
    return Status::Error("honeynet up needs root: it makes network namespaces, veths, taps and a bridge");
  }
  for (const char* prog : {"ip", "sysctl"}) {
    if (!HaveProgram(prog)) {
      return Status::Error(std::string("`") + prog + "` not found: apt-get install " +
                           (std::string(prog) == "ip" ? "iproute2" : "procps"));
    }
  }
  Config cfg;
  if (opt.config_path.empty()) {
    cfg = BuiltinLabConfig(dd);
  } else {
    auto c = LoadConfig(opt.config_path);
    if (!c.ok()) return c.status();
    cfg = c.value();
  }
  auto wc = LabWallConfig(cfg, dd);
  if (!wc.ok()) return wc.status();
  // Broken rule files stop `up` before anything is made (the honeywall would refuse them anyway).
  if (!cfg.rules.files.empty()) {
    RuleLoad rules = LoadRules(cfg);
    for (const std::string& w : rules.warnings) say("warning: " + w);
    if (!rules.ok()) {
      std::string m = std::to_string(rules.errors.size()) + " error" + (rules.errors.size() == 1 ? "" : "s") +
                      " in the rules; nothing started:";
      for (const std::string& e : rules.errors) m += "\n  " + e;
      return Status::Error(m);
    }
    say(rules.Coverage());
  }

  SignalScope signals;
  auto lock = LabLock::Take(dd, say);
  if (!lock.ok()) return lock.status();

  // A lab already here? Up, or left behind by a crash?
  auto old = LoadState(dd);
  if (!old.ok()) return old.status();
  const bool left_behind = old.value().has_value();
  if (old.value()) {
    if (AnythingAlive(*old.value())) {
      return Status::Error("a lab is already up in " + dd + " (state " + StatePath(dd) +
                           "): see `honeynet status`, or stop it with `honeynet down` first");
    }
    say("a previous lab in " + dd + " did not stop cleanly: removing what is left of it");
    if (Status s = DownLocked(dd, old.value(), {}, say); !s.ok()) return s;
  }
  for (const char* ns : {kWallNs, kInetNs}) {
    if (NetnsExists(ns)) {
      return Status::Error(std::string("network namespace ") + ns + " exists, but " + dd +
                           " has no lab state: it belongs to a lab of another --data-dir (stop that one with "
                           "`honeynet down --data-dir DIR`) or was left behind (`honeynet down --force` removes it)");
    }
  }

  // [uplink]: the host's real network (uplink.h). Checked before anything is
  // made: the shapes, and that the operator keeps the host.
  std::optional<UplinkPlan> uplink;
  std::vector<std::pair<std::string, std::string>> uplink_addrs;
  if (wc->uplink) {
    if (!HaveProgram("nft")) return Status::Error("[uplink] needs nftables: apt-get install nftables");
    if (RunCommand({"ip", "link", "show", kUplinkHostVeth}).exit_code == 0) {
      return Status::Error(std::string("interface ") + kUplinkHostVeth + " exists, but " + dd +
                           " has no lab state: an uplink lab of another --data-dir is up (`honeynet down --data-dir "
                           "DIR`), or one was left behind (`honeynet down --force` removes it)");
    }
    auto host = ReadUplinkHost(wc->uplink->interface);
    if (!host.ok()) return host.status();
    auto plan = PlanUplink(wc.value(), host.value());
    if (!plan.ok()) return plan.status();
    const char* ssh = std::getenv("SSH_CONNECTION");
    if (!plan->dedicated) {
      if (Status s = CheckOperatorKeepsAccess(plan.value(), ListeningTcpPorts(), ssh ? ssh : ""); !s.ok()) return s;
    }
    uplink = plan.value();
    if (uplink->dedicated) {
      // The honeywall owns the NIC: its outside port, the real addresses.
      wc->outside.interface = uplink->iface;
    } else {
      // The honeywall answers for the transit addresses; hn-up0 is its gateway.
      for (size_t i = 0; i < wc->honeypots.size() && i < uplink->honeypots.size(); i++) {
        uplink_addrs.emplace_back(wc->honeypots[i].name, uplink->honeypots[i].public_ip.ToString());
        wc->honeypots[i].public_ip = uplink->honeypots[i].transit_ip;
      }
      wc->outside_gateway = uplink->host_transit;
    }
    wc->uplink.reset();
    // Real NICs have offloads on: the honeywall carries super-frames whole
    // (docs/deploy.md#offloads).
    wc->gso = true;
    say(UplinkSummary(*uplink, *wc));
  }

  // Images first: building one may take minutes, and nothing is made yet.
  std::map<std::string, std::string> images;
  for (const HoneypotConfig& hp : wc->honeypots) {
    if (images.count(hp.image)) continue;
    auto img = BuildImage(dd, hp.image, false, [&](const std::string& l) { say("  " + l); });
    if (!img.ok()) return img.status();
    images[hp.image] = img->path;
    if (Status s = CheckInterrupt(); !s.ok()) return s;
  }
  // Namespace honeypots run over the image's tree (extracted once per image build).
  std::map<std::string, std::string> rootfs;
  bool any_uml = false;
  for (const HoneypotConfig& hp : wc->honeypots) {
    if (hp.kind != kKindNetns) {
      any_uml = true;
      continue;
    }
    const std::string key = hp.image + (hp.unsafe ? "/unsafe" : "");
    if (rootfs.count(key)) continue;
    auto tree = NsRootfs(dd, hp.image, images.at(hp.image), hp.unsafe ? 0 : kNsGuestIdBase);
    if (!tree.ok()) return tree.status();
    rootfs[key] = tree.value();
  }
  for (const auto& [key, tree] : rootfs) {  // nothing of this data dir runs now
    const std::string image = key.substr(0, key.find('/'));
    std::vector<std::string> keep;
    for (const auto& [k2, t2] : rootfs)
      if (k2.substr(0, k2.find('/')) == image) keep.push_back(t2);
    PruneNsRootfs(dd, image, keep);
  }
  if (Status s = MakeDirs(CaptureDir(dd), 0750); !s.ok()) return s;
  if (Status s = WriteFileAtomic(WallConfigPath(dd), DumpConfig(wc.value()), 0640); !s.ok()) return s;

  const int64_t t0 = MonoMs();
  LabState st;
  st.data_dir = dd;
  st.config_source = opt.config_path.empty() ? "built-in" : opt.config_path;
  st.mode = wc->mode == Mode::kNat ? "nat" : "bridge";
  st.started_unix = ::time(nullptr);
  st.up = RefOf(::getpid());
  st.capture_dir = CaptureDir(dd);
  LabKernel kernel = ChooseLabKernel(dd);
  if (uplink && any_uml && kernel.path == kStockUmlKernel && dd != kLabDefaultDataDir) {
    // A data dir of its own still uses the machine's kernel cache: the same
    // build, 12 minutes saved (only on an uplink, where the stock kernel is refused).
    LabKernel shared = ChooseLabKernel(kLabDefaultDataDir);
    if (shared.path != kStockUmlKernel) {
      kernel = shared;
      kernel.note += std::string(" (from the cache in ") + kLabDefaultDataDir + ")";
    }
  }
  if (uplink && any_uml && kernel.path == kStockUmlKernel && !cfg.uplink->accept_stock_kernel) {
    // Never Debian's stock kernel on the internet: it tells the attacker it is
    // UML and where the host keeps the guest, and cannot log the terminals.
    say("  [uplink] guests boot the project kernel, and none is built yet: building it now (about 12 minutes on 2 "
        "cores; set [uplink] accept_stock_kernel = true to boot Debian's instead)");
    KernelBuildOptions ko;
    ko.data_dir = dd;
    auto built = BuildKernel(ko, [&](const std::string& l) { say("    " + l); });
    if (!built.ok()) {
      return Status::Error("[uplink] needs the project UML kernel and building it failed: " +
                           built.status().message() +
                           "\n(`honeynet kernel build` retries it; [uplink] accept_stock_kernel = true boots "
                           "Debian's kernel instead, which shows `model name : UML` and host paths to the attacker)");
    }
    kernel = ChooseLabKernel(dd);
  }
  if (any_uml) say(std::string(kernel.tty_log ? "  kernel: " : "  warning: ") + kernel.note);
  st.guests = PlanGuests(wc.value(), dd, images, rootfs, kernel);
  if (uplink) {
    st.uplink = UplinkUndo{};
    st.uplink_iface = uplink->iface;
    st.uplink_addrs = uplink_addrs;
  }
  for (const GuestRec& g : st.guests) {
    if (IsNetns(g) && g.ns.unsafe) {
      say("  warning: " + g.spec.name + " has unsafe = true: root in it is root on the host kernel (no user "
          "namespace, seccomp filter, cgroup or disk limit); docs/security.md");
    }
  }
  NoteLabStarting(dd, left_behind, opt.detach);  // restarts after an unclean end (lab_health.h)
  if (Status s = SaveState(st); !s.ok()) return s;

  say(fmt::format("bringing up the lab ({} mode, {} honeypot{}) in {}", st.mode, st.guests.size(),
                  st.guests.size() == 1 ? "" : "s", dd));
  Builder b{st, wc.value(), opt, images, say, uplink ? &*uplink : nullptr};
  Status s = b.Namespaces();
  if (s.ok()) s = CheckInterrupt();
  if (s.ok()) s = b.Interfaces();
  if (s.ok()) s = b.PortLock();
  if (s.ok()) s = b.Internet();
  if (s.ok()) s = CheckInterrupt();
  if (s.ok()) s = b.Services();
  if (s.ok()) s = b.Wall();
  if (s.ok()) s = b.Alerts();
  if (s.ok()) say(fmt::format("  honeywall ready ({} after start); booting {} guest{}", Seconds((MonoMs() - t0) / 1000.0),
                              st.guests.size(), st.guests.size() == 1 ? "" : "s"));
  if (s.ok()) s = b.Guests();
  if (s.ok()) {
    std::vector<size_t> all(st.guests.size());
    for (size_t i = 0; i < all.size(); i++) all[i] = i;
    s = WaitGuestsAnswer(st, all, opt.ready_timeout_s * 1000, say, t0);
  }
  if (s.ok()) {
    st.ready = true;
    st.ready_seconds = double(MonoMs() - t0) / 1000;
    s = SaveState(st);
  }
  if (!s.ok()) {
    say("up failed; taking down what it made ...");
    Status d = DownLocked(dd, st, {}, say);
    if (d.ok()) NoteLabStopped(dd);
    return Status::Error(s.message() + (d.ok() ? "" : "\nand the clean-up failed too: " + d.message()));
  }
  std::vector<std::string> names;
  for (const GuestRec& g : st.guests) {
    std::string pub = g.public_ip ? g.public_ip->ToString() : "";
    for (const auto& [name, ip] : st.uplink_addrs)
      if (name == g.spec.name) pub = ip;
    names.push_back(g.spec.name + " " + PrefixText(g.spec.ip) + (pub.empty() ? "" : " = " + pub));
  }
  say(fmt::format("lab ready in {}: {}", Seconds(st.ready_seconds), Join(names, ", ")));
  say(HowTo(st, opt));
  // What still contains less than it could, and the tells (audit.h).
  if (auto facts = GatherAuditFacts(dd); facts.ok()) {
    for (const std::string& line : AuditSummaryLines(AuditFindings(facts.value()))) say(line);
  }
  SdNotify("READY=1\nSTATUS=" + SdStatusText("lab ready: " + Join(names, ", ")));
  if (opt.detach) return Status::Ok();
  // Later signals stop the foreground lab; the lock is for up/down/reset only.
  { auto release = std::move(lock.value()); }
  return RunForeground(opt, say, t0);
}

Status LabDown(const std::string& data_dir, const Say& say, bool force) {
  if (::geteuid() != 0) return Status::Error("honeynet down needs root (it deletes network namespaces)");
  auto lock = LabLock::Take(data_dir, say);
  if (!lock.ok()) return lock.status();
  NoteLabDown(data_dir);  // a clean end unless its foreground `up` crashed (lab_health.h)
  auto state = LoadState(data_dir);
  if (!state.ok() && !force) return state.status();
  std::optional<LabState> s = state.ok() ? state.value() : std::nullopt;
  std::vector<std::string> extra;
  const std::vector<std::string> lab_ns = LabNamespacesOnHost();
  if (force) extra = lab_ns;
  if (!s) {
    std::vector<std::string> present;
    for (const std::string& ns : lab_ns) {
      if (NetnsExists(ns)) present.push_back(ns);
    }
    if (!force) {
      if (present.empty()) {
        say("no lab is up in " + data_dir + " (no " + StatePath(data_dir) + "): nothing to do");
      } else {
        say("no lab state in " + data_dir + ", but namespace" + (present.size() > 1 ? "s " : " ") +
            Join(present, " and ") + " exist: a lab of another --data-dir, or left behind; " +
            "`honeynet down --force` removes them");
      }
      return Status::Ok();
    }
    if (present.empty()) {
      say("no lab is up in " + data_dir + " and no hn-wall/hn-inet/hn-g-* namespace exists: nothing to do");
      return Status::Ok();
    }
  }
  return DownLocked(data_dir, s, extra, say);
}

Result<json> LabStatus(const std::string& dd) {
  auto state = LoadState(dd);
  if (!state.ok()) return state.status();
  if (!state.value()) return json{{"up", false}, {"data_dir", dd}};
  const LabState& s = *state.value();
  const int64_t now = ::time(nullptr);
  json j;
  j["up"] = true;
  j["ready"] = s.ready;
  j["data_dir"] = dd;
  j["config"] = s.config_source;
  j["mode"] = s.mode;
  if (s.uplink) j["uplink"] = {{"interface", s.uplink_iface}};
  j["started_unix"] = s.started_unix;
  j["uptime_s"] = now - s.started_unix;
  j["ready_seconds"] = s.ready_seconds;
  json ns = json::object();
  for (const std::string& n : s.namespaces) ns[n] = NetnsExists(n);
  j["namespaces"] = ns;

  // The honeywall's latest counters (stats.json, rewritten every second).
  json stats;
  if (auto text = ReadFile(s.capture_dir + "/stats.json")) {
    try {
      stats = json::parse(*text);
    } catch (const json::exception&) {
      stats = json();
    }
  }
  json w;
  w["pid"] = s.wall.pid;
  w["running"] = Alive(s.wall);
  w["log"] = WallLogPath(dd);
  // What the running wall kept after start (docs/security.md), as the kernel shows it.
  if (w["running"].get<bool>()) {
    if (auto text = ReadFile("/proc/" + std::to_string(s.wall.pid) + "/status")) {
      const AuditProc p = ParseProcStatus(*text);
      w["privileges"] = {{"cap_eff", fmt::format("{:016x}", p.cap_eff)},
                         {"seccomp", p.seccomp},
                         {"no_new_privs", p.no_new_privs},
                         {"uid", p.uid}};
    }
  }
  if (stats.is_object()) {
    auto port = [&](const char* name, const char* key) { return stats.value(name, json::object()).value(key, uint64_t(0)); };
    w["frames"] = {{"inside_rx", port("inside", "rx_frames")},
                   {"inside_tx", port("inside", "tx_frames")},
                   {"outside_rx", port("outside", "rx_frames")},
                   {"outside_tx", port("outside", "tx_frames")}};
    w["drops"] = stats.value("drops_total", uint64_t(0));
    w["drops_by_reason"] = stats.value("drops", json::object());
    const json cap = stats.value("capture", json::object());
    w["capture_frames"] = cap.value("frames", uint64_t(0));
    w["capture_drops"] = cap.value("kernel_drops", uint64_t(0)) + cap.value("write_drops", uint64_t(0));
    w["events_dropped"] = stats.value("events", json::object()).value("dropped", uint64_t(0));
    w["flows_active"] = stats.value("flows", json::object()).value("active", uint64_t(0));
    if (stats.contains("time_unix")) w["stats_age_s"] = double(now) - stats["time_unix"].get<double>();
  }
  j["wall"] = w;
  j["services"] = {{"pid", s.services.pid}, {"running", Alive(s.services)}, {"log", ServicesLogPath(dd)}};
  if (s.alerts.pid) {
    json al = {{"pid", s.alerts.pid}, {"running", Alive(s.alerts)}, {"log", AlertsLogPath(dd)}};
    if (auto text = ReadFile(LabDir(dd) + "/alerts-stats.json")) {
      try {
        const json a = json::parse(*text);
        al["raised"] = a.value("raised", json::object());
        al["suppressed"] = a.value("suppressed", json::object());
        al["sinks"] = a.value("sinks", json::object());
      } catch (const json::exception&) {
      }
    }
    j["alerts"] = al;
  }

  json hps = json::array();
  const json stat_hps = stats.is_object() ? stats.value("honeypots", json::object()) : json::object();
  for (const GuestRec& g : s.guests) {
    json h;
    h["name"] = g.spec.name;
    h["kind"] = g.kind;
    const bool running = GuestRecRunning(g);
    h["running"] = running;
    h["pid"] = GuestRecPid(g);
    h["address"] = PrefixText(g.spec.ip);
    h["public_address"] = g.public_ip ? json(g.public_ip->ToString()) : json(nullptr);
    for (const auto& [name, ip] : s.uplink_addrs) {
      if (name != g.spec.name) continue;
      h["public_address"] = ip;  // the world's; the honeywall answers for transit_address
      h["transit_address"] = g.public_ip ? json(g.public_ip->ToString()) : json(nullptr);
    }
    h["telnet"] = g.target.ToString() + ":23";
    h["mac"] = g.spec.mac.ToString();
    h["image"] = g.image_kind;
    h["mem_mb"] = IsNetns(g) ? json(nullptr) : json(g.spec.mem_mb);  // a namespace honeypot has no RAM of its own
    h["hostname"] = g.spec.hostname;
    h["uptime_s"] = running ? json(now - GuestRecStarted(g)) : json(nullptr);
    h["console_log"] = GuestRecLog(g);
    // TTY capture: a UML guest's kernel writes the log (project kernel); a
    // namespace honeypot's `honeynet tty capture` process does.
    h["tty_capture"] = IsNetns(g) ? Alive(g.tty) : !g.spec.tty_log.empty();
    h["tty_log"] = g.spec.tty_log.empty() ? json(nullptr) : json(g.spec.tty_log);
    if (!IsNetns(g)) {  // a UML guest: the host uid its processes run as, its namespace
      h["uid"] = g.spec.uid;
      h["netns"] = g.spec.netns;
    }
    if (IsNetns(g)) {
      h["netns"] = g.ns.netns;
      h["upper_dir"] = g.ns.unsafe ? NsGuestUpperDir(g.ns) : NsGuestUpperImage(g.ns);
      h["unsafe"] = g.ns.unsafe;
      if (g.nst.pid > 0) {
        std::string map = ReadFileOrEmpty("/proc/" + std::to_string(g.nst.pid) + "/uid_map");
        h["uid_map"] = map;
      }
    }
    {
      json cg = json::object();
      for (const auto& [file, value] : GuestCgroup::Existing(g.spec.name).Read()) cg[file] = value;
      h["cgroup"] = cg;
    }
    json budgets = nullptr;
    if (stat_hps.contains(g.spec.name)) {
      budgets = json::object();
      const json per_class = stat_hps[g.spec.name].value("budget", json::object());
      for (const auto& [cls, b] : per_class.items()) {
        std::string key = cls;
        std::transform(key.begin(), key.end(), key.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
        budgets[key] = b;
      }
    }
    h["budgets"] = budgets;
    // Outbound bandwidth (limits.bandwidth), as the honeywall counts it.
    h["bandwidth"] = stat_hps.contains(g.spec.name) ? stat_hps[g.spec.name].value("bandwidth", json(nullptr)) : json(nullptr);
    hps.push_back(h);
  }
  j["honeypots"] = hps;

  json files = json::array();
  if (DIR* d = ::opendir(s.capture_dir.c_str())) {
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n.size() > 4 && n.substr(n.size() - 4) != ".tmp") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      struct stat st {};
      if (::stat((s.capture_dir + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        files.push_back({{"name", n}, {"bytes", uint64_t(st.st_size)}});
      }
    }
  }
  j["capture"] = {{"dir", s.capture_dir}, {"files", files}};
  AddLabHealth(&j, dd, s.capture_dir);  // restarts, disk (lab_health.h)
  return j;
}

std::string FormatLabStatus(const json& s) {
  if (!s.value("up", false)) return "no lab is up in " + s.value("data_dir", std::string("?")) + "\n";
  std::string o;
  o += fmt::format("lab in {} ({} mode, config {}): {}, up {}\n", s.value("data_dir", ""), s.value("mode", ""),
                   s.value("config", ""), s.value("ready", false) ? "ready" : "NOT READY (starting, or `up` failed)",
                   UptimeText(s.value("uptime_s", int64_t(0))));
  o += FormatLabHealth(s);
  o += "\nhoneypots:\n";
  o += fmt::format("  {:<10} {:<5} {:<8} {:<14} {:<14} {:>8}  {}\n", "name", "kind", "state", "address", "public",
                   "uptime", "budgets used/limit (left): tcp udp icmp other broadcast");
  for (const auto& h : s.value("honeypots", json::array())) {
    std::string budgets = "(no counters yet)";
    if (h["budgets"].is_object()) {
      std::vector<std::string> parts;
      for (const char* cls : {"tcp", "udp", "icmp", "other", "broadcast"}) {
        const json b = h["budgets"].value(cls, json::object());
        parts.push_back(fmt::format("{} {}/{} ({})", cls, b.value("used", 0), b.value("limit", 0), b.value("left", 0)));
      }
      budgets = Join(parts, ", ");
    }
    const bool running = h.value("running", false);
    o += fmt::format("  {:<10} {:<5} {:<8} {:<14} {:<14} {:>8}  {}\n", h.value("name", ""),
                     h.value("kind", std::string(kKindUml)), running ? "running" : "STOPPED",
                     h.value("address", ""), h["public_address"].is_string() ? h["public_address"].get<std::string>() : "-",
                     running ? Duration(h.value("uptime_s", int64_t(0))) : "-", budgets);
  }
  // Outbound bandwidth of the honeypots that have a limit.
  for (const auto& h : s.value("honeypots", json::array())) {
    if (!h.contains("bandwidth") || !h["bandwidth"].is_object()) continue;
    const json& b = h["bandwidth"];
    o += fmt::format("  {:<10} bandwidth out {}: sent {} bytes, queued {} frames (now {}), dropped {} frames, "
                     "longest wait {:.1f} ms\n",
                     h.value("name", ""), FormatRate(b.value("rate_bps", uint64_t(0))), b.value("sent_bytes", uint64_t(0)),
                     b.value("queued_frames", uint64_t(0)), b.value("queue_frames", uint64_t(0)),
                     b.value("dropped_frames", uint64_t(0)), b.value("max_queue_delay_ms", 0.0));
  }
  const json w = s.value("wall", json::object());
  o += fmt::format("\nhoneywall: {} (pid {})", w.value("running", false) ? "running" : "NOT RUNNING", w.value("pid", 0));
  if (w.contains("frames")) {
    const json f = w["frames"];
    o += fmt::format("; frames inside rx {} tx {}, outside rx {} tx {}; drops {}; capture drops {}; events dropped {}",
                     f.value("inside_rx", 0), f.value("inside_tx", 0), f.value("outside_rx", 0),
                     f.value("outside_tx", 0), w.value("drops", 0), w.value("capture_drops", 0),
                     w.value("events_dropped", 0));
    if (w.contains("stats_age_s") && w["stats_age_s"].get<double>() > 5) {
      o += fmt::format(" (counters {:.0f} s old)", w["stats_age_s"].get<double>());
    }
  } else {
    o += "; no counters yet";
  }
  o += "\n";
  if (s.contains("alerts")) {
    const json al = s["alerts"];
    uint64_t raised = 0, suppressed = 0;
    const json r = al.value("raised", json::object()), sup = al.value("suppressed", json::object());
    const json sk = al.value("sinks", json::object());
    for (const auto& [k, v] : r.items()) raised += v.is_number_unsigned() ? v.get<uint64_t>() : 0;
    for (const auto& [k, v] : sup.items()) suppressed += v.is_number_unsigned() ? v.get<uint64_t>() : 0;
    std::string sinks;
    for (const auto& [name, c] : sk.items()) {
      sinks += fmt::format("; {} sent {} failed {} dropped {}", name, c.value("sent", uint64_t(0)),
                           c.value("failed", uint64_t(0)), c.value("dropped", uint64_t(0)));
    }
    o += fmt::format("alerts: {} (pid {}); {} raised, {} suppressed{}\n",
                     al.value("running", false) ? "running" : "NOT RUNNING", al.value("pid", 0), raised, suppressed,
                     sinks);
  }
  const json svc = s.value("services", json::object());
  if (s.contains("uplink")) {
    o += "internet: the real one, through uplink " + s["uplink"].value("interface", std::string()) +
         " (docs/deploy.md)\n";
  } else {
    o += fmt::format("internet ({}): attacker {}, outside hosts 192.0.2.{}-{}, services {}\n", kInetNs, kAttackerIp,
                     kOutsideHostFirst, kOutsideHostLast, svc.value("running", false) ? "running" : "NOT RUNNING");
  }
  const json cap = s.value("capture", json::object());
  o += "\ncapture in " + cap.value("dir", std::string()) + ":\n";
  for (const auto& f : cap.value("files", json::array())) {
    o += fmt::format("  {:>12}  {}\n", f.value("bytes", uint64_t(0)), f.value("name", ""));
  }
  return o;
}

}  // namespace hn
