// `honeynet audit`: facts from the host, findings from the facts (audit.h).
#include "lab/audit.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "common/fs.h"
#include "common/term_safe.h"
#include "lab/containment.h"
#include "lab/kernel.h"
#include "lab/lab.h"

namespace hn {

using json = nlohmann::json;

const char* AuditSeverityName(AuditSeverity s) {
  switch (s) {
    case AuditSeverity::kRisk: return "risk";
    case AuditSeverity::kTell: return "tell";
    case AuditSeverity::kOk: return "ok";
  }
  return "?";
}

int AuditSection::Count(AuditSeverity s) const {
  return int(std::count_if(findings.begin(), findings.end(), [&](const AuditFinding& f) { return f.severity == s; }));
}

int AuditCount(const std::vector<AuditSection>& sections, AuditSeverity s) {
  int n = 0;
  for (const auto& sec : sections) n += sec.Count(s);
  return n;
}

// ---------------------------------------------------------------- parsers

AuditProc ParseProcStatus(const std::string& text) {
  AuditProc p;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    const size_t b = line.find_first_not_of(" \t", colon + 1);
    const std::string val = b == std::string::npos ? "" : line.substr(b);
    if (key == "Uid") p.uid = std::atoll(val.c_str());
    else if (key == "Seccomp") p.seccomp = std::atoi(val.c_str());
    else if (key == "NoNewPrivs") p.no_new_privs = val == "1";
    else if (key == "CapEff") p.cap_eff = std::strtoull(val.c_str(), nullptr, 16);
    else if (key == "CapBnd") p.cap_bnd = std::strtoull(val.c_str(), nullptr, 16);
  }
  p.readable = !text.empty();
  return p;
}

bool MountinfoProcSysReadOnly(const std::string& mountinfo) {
  // "36 35 0:5 /sys /proc/sys ro,nosuid ... - proc proc rw": field 5 is the
  // mount point, field 6 the per-mount options. The last mount wins.
  bool ro = false;
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point, opts;
    if (!(f >> id >> parent >> dev >> root >> point >> opts)) continue;
    if (point != "/proc/sys") continue;
    std::set<std::string> o;
    std::stringstream os(opts);
    for (std::string x; std::getline(os, x, ',');) o.insert(x);
    ro = o.count("ro") > 0;
  }
  return ro;
}

std::map<std::string, std::string> ParseKernelConfig(const std::string& text) {
  std::map<std::string, std::string> m;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# CONFIG_", 0) == 0) {
      const size_t end = line.find(" is not set");
      if (end != std::string::npos) m[line.substr(2, end - 2)] = "n";
    } else if (line.rfind("CONFIG_", 0) == 0) {
      const size_t eq = line.find('=');
      if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return m;
}

bool UidMapRootIsHostRoot(const std::string& uid_map) {
  std::istringstream lines(uid_map);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    int64_t inside = -1, outside = -1, count = 0;
    if (!(f >> inside >> outside >> count)) continue;
    if (inside <= 0 && inside + count > 0 && outside - inside == 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------- findings

namespace {

std::string MacOuiTellFix(const std::string& name) {
  return "set `mac = \"00:1b:21:..:..:..\"` (a NIC vendor's OUI, here Intel's) in the [[honeypot]] block of " + name +
         " (the honeywall follows it)";
}

std::string JoinPids(const std::vector<int>& pids) {
  std::string s;
  for (size_t i = 0; i < pids.size() && i < 8; i++) s += (s.empty() ? "" : ", ") + std::to_string(pids[i]);
  if (pids.size() > 8) s += fmt::format(" (+{} more)", pids.size() - 8);
  return s;
}

void Add(std::vector<AuditFinding>* out, AuditSeverity s, std::string check, std::string what, std::string fix = "") {
  out->push_back({s, std::move(check), std::move(what), std::move(fix)});
}

void CgroupFindings(const AuditGuest& g, std::vector<AuditFinding>* out) {
  if (g.cgroup.empty()) {
    Add(out, AuditSeverity::kRisk, "cgroup",
        "no cgroup honeynet/" + g.name + ": no limit on its processes, memory, CPU or I/O (a fork bomb or memory hog "
        "in the guest reaches the host)",
        g.unsafe ? "remove `unsafe = true`, then `honeynet reset " + g.name + "`"
                 : "`honeynet reset " + g.name + "` (the lab makes the cgroup at start); check `honeynet status --json`");
    return;
  }
  std::string parts;
  bool unlimited = false;
  for (const char* key : {"pids.max", "memory.max", "memory.limit_in_bytes", "cpu.max"}) {
    auto it = g.cgroup.find(key);
    if (it == g.cgroup.end()) continue;
    parts += (parts.empty() ? "" : ", ") + std::string(key) + " " + it->second;
    const std::string k = key;
    if ((k == "pids.max" || k == "memory.max") && it->second == "max") unlimited = true;
    // cgroup v1: no limit is PAGE_COUNTER_MAX pages (9223372036854771712 bytes).
    if (k == "memory.limit_in_bytes" && std::strtoll(it->second.c_str(), nullptr, 10) >= (int64_t(1) << 62)) unlimited = true;
  }
  if (unlimited) {
    Add(out, AuditSeverity::kRisk, "cgroup", "cgroup without a limit: " + parts,
        "set pids_max / memory_max in the [[honeypot]] block, then `honeynet reset " + g.name + "`");
  } else {
    Add(out, AuditSeverity::kOk, "cgroup", "cgroup limits: " + (parts.empty() ? std::string("set") : parts));
  }
}

void MacFinding(const AuditGuest& g, std::vector<AuditFinding>* out) {
  std::string mac = g.mac;
  std::transform(mac.begin(), mac.end(), mac.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (mac.rfind("52:54:00", 0) == 0) {
    Add(out, AuditSeverity::kTell, "mac_oui",
        "eth0's MAC " + mac + " is from 52:54:00, QEMU/KVM's range: any scanner on the LAN and `ip link` inside "
        "name a virtual machine",
        MacOuiTellFix(g.name));
  } else if (!mac.empty()) {
    Add(out, AuditSeverity::kOk, "mac_oui", "eth0's MAC " + mac + " is not from a virtual machine's range");
  }
}

void NetnsFindings(const AuditGuest& g, std::vector<AuditFinding>* out) {
  if (g.unsafe) {
    Add(out, AuditSeverity::kRisk, "unsafe",
        "unsafe = true: root in the guest is real root on the host kernel (all capabilities, no user namespace, "
        "no seccomp, no limits): it can load modules, mount host disks and leave its namespaces",
        "remove `unsafe = true` from the [[honeypot]] block of " + g.name + ", then `honeynet reset " + g.name + "`");
  } else {
    Add(out, AuditSeverity::kOk, "unsafe", "contained (unsafe is not set)");
  }
  if (!g.running) {
    Add(out, AuditSeverity::kRisk, "running", "not running: its processes could not be checked",
        "`honeynet reset " + g.name + "`");
    return;
  }
  if (g.uid_map.empty()) {
    Add(out, AuditSeverity::kRisk, "uid_map", "the uid map of its pid 1 could not be read", "run `honeynet audit` as root");
  } else if (UidMapRootIsHostRoot(g.uid_map)) {
    Add(out, AuditSeverity::kRisk, "uid_map", "root in the guest is uid 0 on the host (uid_map maps 0 to 0)",
        "remove `unsafe = true`, then `honeynet reset " + g.name + "`");
  } else {
    std::istringstream f(g.uid_map);
    std::string a, b;
    f >> a >> b;
    Add(out, AuditSeverity::kOk, "uid_map", "root in the guest is host uid " + b + " (a user namespace)");
  }
  std::vector<int> no_seccomp, caps;
  for (const auto& p : g.procs) {
    if (!p.readable) continue;
    if (p.seccomp != 2) no_seccomp.push_back(p.pid);
    if (p.cap_bnd & ((1ull << kCapSysAdmin) | (1ull << kCapNetAdmin) | (1ull << kCapSysModule))) caps.push_back(p.pid);
  }
  if (!no_seccomp.empty()) {
    Add(out, AuditSeverity::kRisk, "seccomp",
        "processes without the guest's seccomp filter (pid " + JoinPids(no_seccomp) + "): every system call of the "
        "host kernel is open to them",
        "remove `unsafe = true`, then `honeynet reset " + g.name + "`; a process entered from the host (nsenter) has none");
  } else {
    Add(out, AuditSeverity::kOk, "seccomp", fmt::format("all {} processes run under seccomp (Seccomp: 2)", g.procs.size()));
  }
  if (!caps.empty()) {
    Add(out, AuditSeverity::kRisk, "capabilities",
        "processes whose bounding set keeps CAP_SYS_ADMIN, CAP_NET_ADMIN or CAP_SYS_MODULE (pid " + JoinPids(caps) + ")",
        "remove `unsafe = true`, then `honeynet reset " + g.name + "`");
  } else {
    Add(out, AuditSeverity::kOk, "capabilities", "no process keeps CAP_SYS_ADMIN, CAP_NET_ADMIN or CAP_SYS_MODULE");
  }
  CgroupFindings(g, out);
  if (!g.disk_image) {
    Add(out, AuditSeverity::kRisk, "disk",
        "no disk limit: what the guest writes goes to the host's file system (DATA/guests/" + g.name + "/upper), "
        "a full guest disk is the host's",
        "remove `unsafe = true`, then `honeynet reset " + g.name + "` (the writable layer becomes a disk_max file)");
  } else {
    Add(out, AuditSeverity::kOk, "disk", fmt::format("writable layer limited to {} MiB (upper.img)", g.disk_bytes >> 20));
  }
  if (g.mountinfo_read && !g.proc_sys_ro) {
    Add(out, AuditSeverity::kRisk, "proc_masks", "/proc/sys is writable in the guest's mount namespace",
        "remove `unsafe = true`, then `honeynet reset " + g.name + "`");
  } else if (g.mountinfo_read) {
    Add(out, AuditSeverity::kOk, "proc_masks", "/proc/sys is read-only (and the other /proc masks with it)");
  }
  MacFinding(g, out);
  Add(out, AuditSeverity::kTell, "netns_host_kernel",
      "it runs on the host's kernel: /proc/mounts shows an overlay root and /etc/inittab bound over, /proc shows the "
      "host's kernel version, CPUs and memory, /sys is read-only",
      "none for a namespace honeypot: use kind = \"uml\" where the guest must look like a machine of its own");
}

bool On(const std::map<std::string, std::string>& config, const std::string& key) {
  auto it = config.find(key);
  return it != config.end() && (it->second == "y" || it->second == "m");
}

bool Has(const std::vector<std::string>& v, const char* x) { return std::find(v.begin(), v.end(), x) != v.end(); }

void UmlFindings(const AuditGuest& g, std::vector<AuditFinding>* out) {
  const AuditKernel& k = g.kernel;
  if (!g.running) {
    Add(out, AuditSeverity::kRisk, "running", "not running: its processes could not be checked",
        "`honeynet reset " + g.name + "`");
  } else {
    std::vector<int> root, in_wall, caps, no_nnp, no_seccomp;
    int read = 0;
    for (const auto& p : g.procs) {
      if (!p.readable) continue;
      read++;
      if (p.uid == 0) root.push_back(p.pid);
      if (g.wall_netns != 0 && p.netns == g.wall_netns) in_wall.push_back(p.pid);
      if (p.cap_eff != 0) caps.push_back(p.pid);
      if (!p.no_new_privs) no_nnp.push_back(p.pid);
      if (p.seccomp != 2) no_seccomp.push_back(p.pid);
    }
    const std::string restart = "`honeynet down` and `honeynet up` with a honeynet that runs UML guests "
                                "unprivileged in hn-u-" + g.name + " (docs/security.md)";
    if (!root.empty()) {
      Add(out, AuditSeverity::kRisk, "uid",
          "the UML kernel runs as root on the host (pid " + JoinPids(root) + "): a guest that takes the UML kernel "
          "is host root",
          restart);
    } else if (read > 0) {
      Add(out, AuditSeverity::kOk, "uid", fmt::format("the {} UML processes run as an unprivileged user", read));
    }
    if (!in_wall.empty()) {
      Add(out, AuditSeverity::kRisk, "netns",
          "the UML processes run in the honeywall's network namespace hn-wall (pid " + JoinPids(in_wall) + "): a guest "
          "that takes the UML kernel reaches the honeywall's outside port",
          restart);
    } else if (read > 0 && g.wall_netns != 0) {
      Add(out, AuditSeverity::kOk, "netns", "the UML processes are not in the honeywall's network namespace");
    }
    if (!caps.empty() || !no_nnp.empty()) {
      Add(out, AuditSeverity::kRisk, "privileges",
          std::string("UML processes ") +
              (caps.empty() ? "" : "with capabilities (pid " + JoinPids(caps) + ")") +
              (!caps.empty() && !no_nnp.empty() ? " and " : "") +
              (no_nnp.empty() ? "" : "without no_new_privs (pid " + JoinPids(no_nnp) + ")"),
          restart);
    } else if (read > 0) {
      Add(out, AuditSeverity::kOk, "privileges", "no capabilities, no_new_privs set");
    }
    if (!no_seccomp.empty()) {
      Add(out, AuditSeverity::kRisk, "seccomp",
          "the UML processes run without a seccomp filter (pid " + JoinPids(no_seccomp) + "): a guest that takes the "
          "UML kernel can make every system call of the host kernel an ordinary user may",
          "none in honeynet yet (an allow-list for UML is to do: docs/security.md, \"Left to do\")");
    } else if (read > 0) {
      Add(out, AuditSeverity::kOk, "seccomp", "seccomp filter on the UML processes");
    }
    CgroupFindings(g, out);
  }

  // The kernel in use.
  if (k.stock) {
    Add(out, AuditSeverity::kRisk, "kernel",
        "Debian's stock UML kernel (" + k.path + "): loadable modules, hostfs in the kernel (defused only by a "
        "missing hostfs= directory), /proc/kcore and SysRq; TTY capture is off (what the attacker types is not "
        "recorded)",
        "`honeynet kernel build`, then `honeynet down` and `honeynet up` (or `honeynet reset " + g.name + "`)");
    Add(out, AuditSeverity::kTell, "cpuinfo", "/proc/cpuinfo says `User Mode Linux` / `UML` and shows the host's uname",
        "the project kernel (its hide patch): `honeynet kernel build`");
    Add(out, AuditSeverity::kTell, "cmdline",
        "/proc/cmdline and dmesg show the UML options with the host's paths (ubd0=DATA/guests/..., uml_dir=, eth0=tuntap)",
        "the project kernel (its hide patch): `honeynet kernel build`");
  } else {
    std::vector<std::string> on;
    for (const char* key : {"CONFIG_MODULES", "CONFIG_PROC_KCORE", "CONFIG_IKCONFIG_PROC", "CONFIG_MAGIC_SYSRQ",
                            "CONFIG_HOSTFS"}) {
      if (On(k.config, key)) on.push_back(key);
    }
    if (!k.config_read) {
      Add(out, AuditSeverity::kRisk, "kernel_config",
          "the project kernel " + k.hash + " has no config file beside it: cannot tell whether modules, hostfs, "
          "/proc/kcore, /proc/config.gz and SysRq are off",
          "`honeynet kernel build --force`");
    } else if (!on.empty()) {
      std::string list;
      for (const auto& x : on) list += (list.empty() ? "" : ", ") + x;
      Add(out, AuditSeverity::kRisk, "kernel_config", "the kernel has " + list + " on",
          "turn them off in kernel/config-fragment, `honeynet kernel build`, then restart the guest");
    } else {
      Add(out, AuditSeverity::kOk, "kernel_config",
          "project kernel " + k.hash + ": modules, hostfs, /proc/kcore, /proc/config.gz and SysRq are off");
    }
    if (!Has(k.features, "tty_log")) {
      Add(out, AuditSeverity::kRisk, "tty_capture", "the kernel has no TTY capture: what the attacker types is not recorded",
          "`honeynet kernel build` (kernel/patches/0001-tty-log.patch)");
    } else {
      Add(out, AuditSeverity::kOk, "tty_capture", "TTY capture in the kernel");
    }
    if (!Has(k.features, "hide_uml")) {
      Add(out, AuditSeverity::kTell, "cpuinfo", "/proc/cpuinfo says `User Mode Linux` / `UML`",
          "`honeynet kernel build` (kernel/patches/0002-hide-uml.patch)");
      Add(out, AuditSeverity::kTell, "cmdline", "/proc/cmdline shows the UML options with the host's paths",
          "`honeynet kernel build` (kernel/patches/0002-hide-uml.patch)");
    } else {
      Add(out, AuditSeverity::kOk, "cpuinfo", "/proc/cpuinfo, /proc/cmdline, dmesg and init's environment hide UML");
    }
  }

  // Tells of every UML kernel (the project kernel's hide patch fixes some).
  if (k.shows_uml_blkdev || k.shows_uml_netdev) {
    std::string which;
    if (k.shows_uml_blkdev) which += "/sys/devices/platform/uml-blkdev.0";
    if (k.shows_uml_netdev) which += std::string(which.empty() ? "" : ", ") + "uml-netdev.0 (and eth0's driver uml-netdev)";
    Add(out, AuditSeverity::kTell, "platform_devices", which + " in /sys",
        "a project kernel built with the current hide patch: `honeynet kernel build`, then restart the guest");
  } else {
    Add(out, AuditSeverity::kOk, "platform_devices", "no uml-blkdev / uml-netdev device or driver in /sys");
  }
  if (k.shows_ubd_disks) {
    Add(out, AuditSeverity::kTell, "disk_names",
        "disks are /dev/ubda, /dev/ubdb (/proc/partitions, mount, `EXT4-fs (ubda)` in dmesg)",
        "not fixed yet: renaming them (e.g. to vda) means changing the ubd driver, the images' init and settings "
        "scripts and the guest's root= together (docs/kernel.md)");
  }
  if (k.shows_signal_irqs) {
    Add(out, AuditSeverity::kTell, "irq_chips", "/proc/interrupts names the interrupt chips SIGALRM and SIGIO",
        "a project kernel built with the current hide patch (IO-APIC): `honeynet kernel build`, then restart the guest");
  } else {
    Add(out, AuditSeverity::kOk, "irq_chips", "/proc/interrupts names no SIGIO/SIGALRM chip");
  }
  Add(out, AuditSeverity::kTell, "interrupts",
      "/proc/interrupts lists UML's interrupts (ubd, write sigio, mconsole, random); 64 ttyS and 16 tty nodes in "
      "/dev; no PCI, DMI or ACPI",
      "none in a UML guest (UML's devices are host file descriptors); a full VM where this matters");
  Add(out, AuditSeverity::kTell, "timing",
      "system calls ~10x slower than on hardware (ptrace), UML's stub pages at the top of /proc/self/maps",
      "none in a UML guest");
  MacFinding(g, out);
}

}  // namespace

std::vector<AuditSection> AuditFindings(const AuditFacts& facts) {
  std::vector<AuditSection> out;
  if (!facts.up) return out;
  for (const AuditGuest& g : facts.guests) {
    AuditSection s;
    s.subject = g.name;
    s.kind = g.kind;
    if (g.kind == "netns") NetnsFindings(g, &s.findings);
    else UmlFindings(g, &s.findings);
    out.push_back(std::move(s));
  }
  AuditSection w;
  w.subject = "honeywall";
  w.kind = "wall";
  if (!facts.wall_running || !facts.wall.readable) {
    Add(&w.findings, AuditSeverity::kRisk, "running", "the honeywall is not running: nothing contains the honeypots' traffic",
        "`honeynet down`, then `honeynet up`");
  } else {
    const uint64_t allowed = (1ull << kCapNetRaw) | (1ull << kCapNetAdmin);
    if (facts.wall.cap_eff & ~allowed) {
      Add(&w.findings, AuditSeverity::kRisk, "capabilities",
          fmt::format("the honeywall holds capabilities beyond NET_RAW and NET_ADMIN (CapEff {:016x})", facts.wall.cap_eff),
          "a honeywall that drops its privileges at start (update honeynet), then restart the lab");
    } else {
      Add(&w.findings, AuditSeverity::kOk, "capabilities",
          fmt::format("capabilities: at most NET_RAW and NET_ADMIN (CapEff {:016x})", facts.wall.cap_eff));
    }
    if (facts.wall.seccomp != 2) {
      Add(&w.findings, AuditSeverity::kRisk, "seccomp", "the honeywall runs without a seccomp filter",
          "a honeywall that installs its seccomp allow-list (update honeynet), then restart the lab");
    } else {
      Add(&w.findings, AuditSeverity::kOk, "seccomp", "seccomp filter (Seccomp: 2)");
    }
    if (!facts.wall.no_new_privs) {
      Add(&w.findings, AuditSeverity::kRisk, "no_new_privs", "no_new_privs is not set: an exec could gain privileges",
          "a honeywall that sets no_new_privs (update honeynet), then restart the lab");
    } else {
      Add(&w.findings, AuditSeverity::kOk, "no_new_privs", "no_new_privs set");
    }
  }
  out.push_back(std::move(w));
  return out;
}

// ---------------------------------------------------------------- gathering

namespace {

uint64_t Inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_ino) : 0;
}

AuditProc ReadProc(int pid) {
  AuditProc p = ParseProcStatus(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  p.pid = pid;
  p.netns = Inode("/proc/" + std::to_string(pid) + "/ns/net");
  return p;
}

std::vector<int> AllPids() {
  std::vector<int> pids;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] >= '1' && e->d_name[0] <= '9') pids.push_back(std::atoi(e->d_name));
    }
    ::closedir(d);
  }
  return pids;
}

// Parent pid from /proc/PID/stat (after the command's closing parenthesis).
int ParentOf(int pid) {
  const std::string s = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream f(s.substr(close + 1));
  std::string state;
  int ppid = 0;
  f >> state >> ppid;
  return (state == "Z" || state == "X") ? -1 : ppid;
}

// pid and all its live descendants.
std::vector<int> Tree(int root) {
  std::map<int, int> parent;
  for (int p : AllPids()) parent[p] = ParentOf(p);
  std::vector<int> out;
  if (parent.count(root) == 0 || parent[root] < 0) return out;
  out.push_back(root);
  for (size_t i = 0; i < out.size(); i++) {
    for (const auto& [p, pp] : parent) {
      if (pp == out[i]) out.push_back(p);
    }
  }
  return out;
}

std::vector<int> InPidns(uint64_t inode) {
  std::vector<int> out;
  if (inode == 0) return out;
  for (int p : AllPids()) {
    if (Inode("/proc/" + std::to_string(p) + "/ns/pid") == inode && ParentOf(p) >= 0) out.push_back(p);
  }
  return out;
}

bool FileContains(const std::string& path, const std::string& needle) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::string buf(1 << 20, '\0'), carry;
  while (f) {
    f.read(buf.data(), std::streamsize(buf.size()));
    std::string chunk = carry + buf.substr(0, size_t(f.gcount()));
    if (chunk.find(needle) != std::string::npos) return true;
    carry = chunk.size() >= needle.size() ? chunk.substr(chunk.size() - needle.size() + 1) : chunk;
  }
  return false;
}

AuditKernel KernelFacts(const std::string& path) {
  AuditKernel k;
  k.path = path.empty() ? kStockUmlKernel : path;
  if (auto info = KernelInfoFor(k.path)) {
    k.stock = false;
    k.hash = info->hash;
    k.features = info->features;
    const std::string dir = k.path.substr(0, k.path.rfind('/'));
    const std::string cfg = ReadFileOrEmpty(dir + "/config");
    k.config_read = !cfg.empty();
    k.config = ParseKernelConfig(cfg);
    // A probe of the binary: the platform device, driver and interrupt
    // chip names are string constants in it, each a C string of its own
    // (NUL before and after); a patched kernel has none of them.
    auto cstring = [](const char* s) { return std::string(1, '\0') + s + std::string(1, '\0'); };
    k.shows_uml_blkdev = FileContains(k.path, cstring("uml-blkdev"));
    k.shows_uml_netdev = FileContains(k.path, cstring("uml-netdev"));
    k.shows_signal_irqs = FileContains(k.path, cstring("SIGALRM")) || FileContains(k.path, cstring("SIGIO"));
  }
  return k;
}

}  // namespace

Result<AuditFacts> GatherAuditFacts(const std::string& data_dir) {
  auto st = LabStatus(data_dir);
  if (!st.ok()) return st.status();
  AuditFacts f;
  f.data_dir = data_dir;
  f.up = st->value("up", false);
  if (!f.up) return f;
  // The raw state for what status does not show (the kernel of each UML
  // guest, the pid namespace of each namespace honeypot).
  json state;
  try {
    state = json::parse(ReadFileOrEmpty(data_dir + "/lab/state.json"));
  } catch (const json::exception&) {
    state = json::object();
  }
  std::map<std::string, json> raw;
  for (const auto& gj : state.value("guests", json::array())) {
    raw[gj.value("spec", json::object()).value("name", "")] = gj;
  }
  const uint64_t wall_netns = Inode(std::string("/run/netns/") + kWallNs);

  for (const auto& h : st->value("honeypots", json::array())) {
    AuditGuest g;
    g.name = h.value("name", "");
    g.kind = h.value("kind", "uml");
    g.running = h.value("running", false);
    g.mac = h.value("mac", "");
    const int pid = h.value("pid", 0);
    const json r = raw.count(g.name) ? raw[g.name] : json::object();
    if (h.contains("cgroup") && h["cgroup"].is_object()) {
      for (const auto& [k, v] : h["cgroup"].items()) g.cgroup[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    if (g.kind == "netns") {
      g.unsafe = h.value("unsafe", false);
      if (g.running && pid > 0) {
        g.uid_map = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/uid_map");
        const std::string mi = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/mountinfo");
        g.mountinfo_read = !mi.empty();
        g.proc_sys_ro = MountinfoProcSysReadOnly(mi);
        uint64_t pidns = r.value("pidns", uint64_t(0));
        if (pidns == 0) pidns = Inode("/proc/" + std::to_string(pid) + "/ns/pid");
        for (int p : InPidns(pidns)) g.procs.push_back(ReadProc(p));
      }
      const std::string dir = r.value("spec", json::object()).value("dir", data_dir + "/guests/" + g.name);
      struct stat sb {};
      if (!g.unsafe && ::stat((dir + "/upper.img").c_str(), &sb) == 0 && S_ISREG(sb.st_mode)) {
        g.disk_image = true;
        g.disk_bytes = int64_t(sb.st_size);
      }
    } else {
      g.wall_netns = wall_netns;
      if (g.running && pid > 0) {
        for (int p : Tree(pid)) g.procs.push_back(ReadProc(p));
      }
      g.kernel = KernelFacts(r.value("spec", json::object()).value("kernel", std::string(kStockUmlKernel)));
    }
    f.guests.push_back(std::move(g));
  }
  const json w = st->value("wall", json::object());
  f.wall_running = w.value("running", false);
  if (f.wall_running) f.wall = ReadProc(w.value("pid", 0));
  return f;
}

// ---------------------------------------------------------------- output

json AuditJson(const AuditFacts& facts, const std::vector<AuditSection>& sections) {
  json j;
  j["up"] = facts.up;
  j["data_dir"] = facts.data_dir;
  j["risks"] = AuditCount(sections, AuditSeverity::kRisk);
  j["tells"] = AuditCount(sections, AuditSeverity::kTell);
  json secs = json::array();
  for (const auto& s : sections) {
    json fs = json::array();
    for (const auto& f : s.findings) {
      fs.push_back({{"severity", AuditSeverityName(f.severity)}, {"check", f.check}, {"what", f.what}, {"fix", f.fix}});
    }
    secs.push_back({{"subject", s.subject},
                    {"kind", s.kind},
                    {"risks", s.Count(AuditSeverity::kRisk)},
                    {"tells", s.Count(AuditSeverity::kTell)},
                    {"findings", fs}});
  }
  j["sections"] = secs;
  return j;
}

std::string FormatAudit(const AuditFacts& facts, const std::vector<AuditSection>& sections, bool colour) {
  if (!facts.up) return "no lab is up in " + EscapeControls(facts.data_dir) + "\n";
  auto paint = [&](const std::string& text, const char* code) {
    return colour ? std::string("\x1b[") + code + "m" + text + "\x1b[0m" : text;
  };
  std::string o;
  const int risks = AuditCount(sections, AuditSeverity::kRisk);
  const int tells = AuditCount(sections, AuditSeverity::kTell);
  o += fmt::format("audit of the lab in {}: {} risk{}, {} tell{}\n", EscapeControls(facts.data_dir), risks,
                   risks == 1 ? "" : "s", tells, tells == 1 ? "" : "s");
  for (const auto& s : sections) {
    o += "\n" + paint(EscapeControls(s.subject) + " (" + s.kind + ")", "1") +
         fmt::format(": {} risk{}, {} tell{}\n", s.Count(AuditSeverity::kRisk), s.Count(AuditSeverity::kRisk) == 1 ? "" : "s",
                     s.Count(AuditSeverity::kTell), s.Count(AuditSeverity::kTell) == 1 ? "" : "s");
    size_t wcheck = 5;
    for (const auto& f : s.findings) wcheck = std::max(wcheck, f.check.size());
    // Risks first, then tells, then what passed.
    for (AuditSeverity sev : {AuditSeverity::kRisk, AuditSeverity::kTell, AuditSeverity::kOk}) {
      for (const auto& f : s.findings) {
        if (f.severity != sev) continue;
        const char* code = sev == AuditSeverity::kRisk ? "31;1" : sev == AuditSeverity::kTell ? "33" : "32";
        const std::string sevtext = fmt::format("{:<4}", AuditSeverityName(sev));
        o += fmt::format("  {}  {:<{}}  {}\n", paint(sevtext, code), f.check, wcheck, EscapeControls(f.what));
        if (!f.fix.empty()) o += fmt::format("  {:<4}  {:<{}}  fix: {}\n", "", "", wcheck, EscapeControls(f.fix));
      }
    }
  }
  return o;
}

std::vector<std::string> AuditSummaryLines(const std::vector<AuditSection>& sections) {
  std::vector<std::string> lines;
  for (const auto& s : sections) {
    for (const auto& f : s.findings) {
      if (f.severity != AuditSeverity::kRisk) continue;
      lines.push_back("WARNING: " + EscapeControls(s.subject) + ": " + EscapeControls(f.what));
      lines.push_back("         fix: " + EscapeControls(f.fix));
    }
  }
  const int risks = AuditCount(sections, AuditSeverity::kRisk);
  const int tells = AuditCount(sections, AuditSeverity::kTell);
  lines.push_back(fmt::format("audit: {} risk{}, {} tell{} (what an attacker inside can see); run `honeynet audit` for details",
                              risks, risks == 1 ? "" : "s", tells, tells == 1 ? "" : "s"));
  return lines;
}

}  // namespace hn
