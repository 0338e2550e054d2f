// The lab as a systemd service (see service.h, docs/service.md).
#include "lab/service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/fs.h"
#include "config/config.h"
#include "lab/lab.h"
#include "lab/run.h"

namespace hn {
namespace {

std::string Absolute(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return p;
  std::string a = std::string(cwd) + "/" + p;
  // "./x" and trailing "/." read better without.
  while (a.find("/./") != std::string::npos) a.replace(a.find("/./"), 3, "/");
  if (a.size() > 2 && a.compare(a.size() - 2, 2, "/.") == 0) a.resize(a.size() - 2);
  return a;
}

std::string UnitPath(const ServiceOptions& o) { return o.unit_dir + "/" + o.name + ".service"; }

bool SystemdUnitDir(const ServiceOptions& o) {
  char a[PATH_MAX];
  const std::string dir = ::realpath(o.unit_dir.c_str(), a) ? std::string(a) : o.unit_dir;
  return dir == kSystemdUnitDir;
}

// sd_booted(3): systemd is the init system of this machine.
bool SystemdRuns() {
  struct stat st {};
  return ::lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Cmd(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& ServiceCapabilities() {
  static const std::vector<std::pair<std::string, std::string>> kCaps = {
      {"CAP_NET_ADMIN", "interfaces, addresses, routes, the bridge, taps and net sysctls of the lab's namespaces; "
                        "nftables for [uplink]; the honeywall keeps it"},
      {"CAP_NET_RAW", "the honeywall's AF_PACKET rings (it keeps only this and CAP_NET_ADMIN)"},
      {"CAP_NET_BIND_SERVICE", "the simulated internet's services on ports below 1024 in hn-inet"},
      {"CAP_SYS_ADMIN", "network, mount, pid, uts and ipc namespaces (ip netns add, setns), mounts (overlay, "
                        "proc, sysfs), loop devices, cgroups, the eBPF TTY capture"},
      {"CAP_SYS_CHROOT", "debootstrap's chroot when a guest image is built (image = \"debian\"); setns() into "
                         "a mount namespace"},
      {"CAP_DAC_OVERRIDE", "cgroup files and files of the capture user and the guests' users (guest disks, TTY "
                           "logs)"},
      {"CAP_FOWNER", "chmod/chown of guests' files owned by their users (guest dirs, namespace honeypot trees)"},
      {"CAP_FSETID", "set-uid and set-gid bits kept on the guests' programs (else chmod drops them silently)"},
      {"CAP_CHOWN", "files handed to the capture user and to the guests' uids"},
      {"CAP_SETUID", "the honeywall and UML guests switch to their users; namespace honeypots' uid maps"},
      {"CAP_SETGID", "the same for groups (setgroups, gid maps)"},
      {"CAP_SETPCAP", "the honeywall, the guests and the TTY capture empty their own bounding sets"},
      {"CAP_KILL", "stopping guests and the honeywall when they run as other users (user honeynet)"},
      {"CAP_MKNOD", "device nodes for guests (/dev/net/tun of a UML guest, a namespace honeypot's /dev) and "
                    "loop devices"},
  };
  return kCaps;
}

std::string SystemdQuote(const std::string& arg) {
  std::string body;
  bool quote = arg.empty();
  for (char c : arg) {
    switch (c) {
      case '%': body += "%%"; break;
      case '$': body += "$$"; break;
      case '\\': body += "\\\\"; quote = true; break;
      case '"': body += "\\\""; quote = true; break;
      case '\'': body += "\\'"; quote = true; break;
      case ' ': case '\t': body += c; quote = true; break;
      case ';': body += c; quote = true; break;
      default: body += c;
    }
  }
  return quote ? "\"" + body + "\"" : body;
}

std::string ServiceUnitText(const ServiceOptions& o) {
  const std::string bin = SystemdQuote(o.binary);
  const std::string dd = SystemdQuote(o.data_dir);
  const std::string what = o.config.empty() ? "the built-in lab" : o.config;
  std::string u;
  u += fmt::format("# {}.service: the honeynet lab ({}) in {}, unattended.\n", o.name, what, o.data_dir);
  u += "# Written by `honeynet service install`; `honeynet service uninstall` removes it. See docs/service.md.\n";
  u += "[Unit]\n";
  u += fmt::format("Description=honeynet lab: honeywall and honeypots ({})\n", what);
  u += "After=network-online.target\n";
  u += "Wants=network-online.target\n";
  u += "\n[Service]\n";
  u += "# `honeynet up` in the foreground: READY=1 once every honeypot answers, WATCHDOG=1 every second,\n";
  u += "# STOPPING=1 when it takes the lab down (SIGTERM does that; KillMode=mixed signals only it, so it\n";
  u += "# stops the guests and the honeywall itself, in order).\n";
  u += "Type=notify\n";
  u += "NotifyAccess=main\n";
  u += fmt::format("ExecStart={} up{} --data-dir {}\n", bin, o.config.empty() ? "" : " " + SystemdQuote(o.config), dd);
  u += "# After any end, also a crash or a watchdog kill: remove whatever is left (namespaces, guests, uplink rules).\n";
  u += fmt::format("ExecStopPost={} down --data-dir {}\n", bin, dd);
  u += "Restart=on-failure\n";
  u += "RestartSec=5\n";
  u += "# A first start may build guest images and the UML kernel (about 12 minutes on 2 cores).\n";
  u += "TimeoutStartSec=30min\n";
  u += "TimeoutStopSec=120\n";
  u += "WatchdogSec=60\n";
  u += "KillMode=mixed\n";
  u += "\n# Least privilege that still runs the lab. Capabilities kept, and why:\n";
  std::string caps;
  for (const auto& [cap, why] : ServiceCapabilities()) {
    u += fmt::format("#   {:<21} {}\n", cap, why);
    caps += (caps.empty() ? "" : " ") + cap;
  }
  u += "# Everything else is gone, for the lab and everything it starts: no kernel modules (CAP_SYS_MODULE),\n";
  u += "# clock (CAP_SYS_TIME), raw I/O (CAP_SYS_RAWIO), reboot, syslog, audit, MAC, immutable files, nice,\n";
  u += "# IPC locks. Also not needed: CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN covers the TTY capture),\n";
  u += "# CAP_SYS_PTRACE (the TTY capture uses pidfds, Linux 5.3+), CAP_SETFCAP (no map names host uid 0),\n";
  u += "# CAP_SYS_RESOURCE (eBPF memory is charged to the cgroup since Linux 5.11).\n";
  u += "CapabilityBoundingSet=" + caps + "\n";
  u += "# Seccomp filters inherited by every process of the lab (harmless to it and its guests).\n";
  u += "LockPersonality=yes\n";
  u += "RestrictRealtime=yes\n";
  u += "SystemCallArchitectures=native\n";
  u += "# Left out on purpose (each breaks the lab):\n";
  u += "#   NoNewPrivileges=yes  set-uid programs inside namespace honeypots (su, passwd, ping) would stop\n";
  u += "#                        working: a tell. The honeywall and UML guests set no_new_privs themselves.\n";
  u += "#   ProtectSystem=, ProtectHome=, PrivateTmp=, ReadWritePaths=, ProtectKernelModules=,\n";
  u += "#   ProtectKernelTunables=, ProtectKernelLogs=, ProtectControlGroups=, PrivateDevices=\n";
  u += "#                        each gives the service a mount namespace of its own whose mounts never reach\n";
  u += "#                        the host: the lab's network namespaces (bind mounts in /run/netns) would be\n";
  u += "#                        invisible to `honeynet status/console/down` and `ip netns exec`. The lab also\n";
  u += "#                        writes /proc/sys and /sys/fs/cgroup.\n";
  u += "#   ProtectHostname=yes  its seccomp filter refuses sethostname() to namespace honeypots too.\n";
  u += "#   ProtectClock=yes     implies a device allow-list on older systemd (no /dev/net/tun, loop devices);\n";
  u += "#                        the clock is safe anyway: CAP_SYS_TIME is not in the bounding set.\n";
  u += "#   RestrictSUIDSGID=, MemoryDenyWriteExecute=, RestrictNamespaces=, RestrictAddressFamilies=\n";
  u += "#                        guests keep set-uid files, UML maps executable memory, the lab makes\n";
  u += "#                        namespaces, and the guests' own system calls stay as a real machine's.\n";
  u += "\n[Install]\n";
  u += "WantedBy=multi-user.target\n";
  return u;
}

Result<ServiceOptions> ResolveServiceOptions(ServiceOptions o) {
  if (o.binary.empty()) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return Status::Error("cannot find this honeynet binary (/proc/self/exe): " + ErrnoText());
    o.binary.assign(buf, size_t(n));
  }
  o.binary = Absolute(o.binary);
  if (o.name.size() > 8 && o.name.compare(o.name.size() - 8, 8, ".service") == 0) o.name.resize(o.name.size() - 8);
  if (o.name.empty() || o.name.size() > 200 ||
      o.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") !=
          std::string::npos) {
    return Status::Error("--name \"" + o.name + "\": a unit name is letters, digits and -_.: (like honeynet or "
                         "honeynet-lab2)");
  }
  if (o.data_dir.empty()) return Status::Error("--data-dir is empty");
  o.data_dir = Absolute(o.data_dir);
  o.unit_dir = Absolute(o.unit_dir);
  if (!o.config.empty()) {
    o.config = Absolute(o.config);
    struct stat st {};
    if (::stat(o.config.c_str(), &st) != 0) {
      return Status::Error("config " + o.config + ": " + ErrnoText() +
                           " (give the lab's TOML config, or none for the built-in lab)");
    }
    if (!S_ISREG(st.st_mode)) return Status::Error("config " + o.config + ": not a regular file");
    auto cfg = LoadConfig(o.config);
    if (!cfg.ok()) return Status::Error("config " + o.config + " does not load: " + cfg.status().message());
    auto wc = LabWallConfig(cfg.value(), o.data_dir);
    if (!wc.ok()) return Status::Error("config " + o.config + " is not a lab `up` can build: " + wc.status().message());
  }
  for (const std::string* p : {&o.binary, &o.config, &o.data_dir}) {
    if (p->find('\n') != std::string::npos) return Status::Error("a path with a newline cannot go into a unit file");
  }
  return o;
}

Status InstallService(const ServiceOptions& o, bool enable, const ServiceSay& say) {
  struct stat st {};
  if (::stat(o.unit_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Error("unit directory " + o.unit_dir + " does not exist" +
                         (SystemdUnitDir(o) ? " (is systemd installed? apt-get install systemd)" : ""));
  }
  const std::string path = UnitPath(o);
  if (Status s = WriteFileAtomic(path, ServiceUnitText(o), 0644, Sync::kFileAndDir); !s.ok()) return s;
  say("wrote " + path + " (ExecStart=" + o.binary + " up" + (o.config.empty() ? "" : " " + o.config) +
      " --data-dir " + o.data_dir + ")");
  const bool systemd_dir = SystemdUnitDir(o);
  const bool have_systemctl = HaveProgram("systemctl");
  if (!enable || !systemd_dir || !have_systemctl) {
    const char* why = !enable ? "--no-enable"
                      : !systemd_dir ? "the unit dir is not /etc/systemd/system"
                                     : "systemctl not found";
    say(std::string("not enabled (") + why + "); to use it: copy it to /etc/systemd/system, then `systemctl "
        "daemon-reload && systemctl enable --now " + o.name + "`");
    return Status::Ok();
  }
  if (SystemdRuns()) {
    if (Status s = RunChecked({"systemctl", "daemon-reload"}); !s.ok()) return s;
    say("ran: systemctl daemon-reload");
  }
  if (Status s = RunChecked({"systemctl", "enable", o.name + ".service"}); !s.ok()) return s;
  say("ran: systemctl enable " + o.name + " (starts at boot)");
  say("start it now with: systemctl start " + o.name + "   (logs: journalctl -u " + o.name + " -f)");
  return Status::Ok();
}

Status UninstallService(const ServiceOptions& o, const ServiceSay& say) {
  const std::string path = UnitPath(o);
  const bool exists = PathExists(path);
  if (SystemdUnitDir(o) && HaveProgram("systemctl")) {
    std::vector<std::string> argv = {"systemctl", "disable", o.name + ".service"};
    if (SystemdRuns()) argv.insert(argv.begin() + 2, "--now");
    if (exists) {
      RunResult r = RunCommand(argv);
      if (r.exit_code != 0) {
        return Status::Error(Cmd(argv) + " failed (" + std::to_string(r.exit_code) + "): " + r.out);
      }
      say("ran: " + Cmd(argv) + (SystemdRuns() ? " (the lab is stopped and taken down)" : ""));
    }
  }
  if (!exists) {
    say("no " + path + ": nothing to remove");
    return Status::Ok();
  }
  if (::unlink(path.c_str()) != 0) return Status::Error("removing " + path + ": " + ErrnoText());
  say("removed " + path);
  if (SystemdUnitDir(o) && HaveProgram("systemctl") && SystemdRuns()) {
    if (Status s = RunChecked({"systemctl", "daemon-reload"}); !s.ok()) return s;
    say("ran: systemctl daemon-reload");
  }
  return Status::Ok();
}

void AddServiceRestarts(nlohmann::json* status) {
  if (!status->contains("systemd_unit") || !(*status)["systemd_unit"].is_string()) return;
  const std::string unit = (*status)["systemd_unit"].get<std::string>();
  nlohmann::json sd = {{"unit", unit}, {"n_restarts", nullptr}};
  if (SystemdRuns() && HaveProgram("systemctl")) {
    RunResult r = RunCommand({"systemctl", "show", "-p", "NRestarts", "--value", unit + ".service"});
    char* end = nullptr;
    const long long n = std::strtoll(r.out.c_str(), &end, 10);
    if (r.exit_code == 0 && end != r.out.c_str()) sd["n_restarts"] = n;
  }
  (*status)["systemd"] = sd;
}

}  // namespace hn
